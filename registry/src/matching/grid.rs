//! The compatibility matrix as people read it: a window of rows (boards, or the devices of the
//! fleet or of one board) by a window of models, each cell counting the devices that run the
//! model as it is, through its int8 variant, or not at all.
//!
//! A fleet of 10,000 devices and 1,000 models is ten million verdicts; a page shows a few
//! thousand. Board rows count every device of each board (the fleet matrix over the window's
//! models only); device rows judge only the devices of the window.

use std::collections::HashMap;

use serde::Serialize;

use super::evaluate::{DeviceView, MatchOptions, Via};
use super::facts::{DeviceFacts, Fleet};

/// What the rows of a grid are.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GridRows {
    /// One row per board (devices that name no board share a row whose key is empty).
    Boards,
    /// One row per device, by board label then name; only `board`'s devices when given.
    Devices {
        /// Only this board's devices (IRI).
        board: Option<String>,
    },
}

/// A window: `offset`, then at most `limit` items.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Window {
    /// Items skipped.
    pub offset: usize,
    /// Items at most.
    pub limit: usize,
}

/// A model column.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct GridModel {
    /// Model IRI.
    pub iri: String,
    /// Model name.
    pub name: String,
}

/// One cell: how many of the row's devices run the model, and how.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct GridCell {
    /// Devices that run it as it is.
    pub as_is: u32,
    /// Devices that run it through its int8 variant.
    pub int8: u32,
    /// Devices it does not run on.
    pub no: u32,
}

/// One row.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct GridRow {
    /// The device's or board's IRI (empty: devices with no board).
    pub key: String,
    /// What people call it: the device's short name or the board's label.
    pub label: String,
    /// The board (IRI) of a device row; the row's own key for a board row.
    pub board: Option<String>,
    /// Devices the row counts.
    pub devices: u32,
    /// One cell per model of the window, in the window's order.
    pub cells: Vec<GridCell>,
}

/// A window of the matrix.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Grid {
    /// Rows in all (before the row window).
    pub total_rows: usize,
    /// Models in all (before the model window).
    pub total_models: usize,
    /// The window's models, by name.
    pub models: Vec<GridModel>,
    /// The window's rows.
    pub rows: Vec<GridRow>,
}

fn board_label(fleet: &Fleet, board: Option<&str>) -> String {
    match board {
        Some(iri) => fleet
            .boards
            .get(iri)
            .map_or_else(|| iri.to_owned(), |b| b.label.clone()),
        None => "(no board)".to_owned(),
    }
}

fn device_label(device: &DeviceFacts) -> String {
    device.short_name.clone().unwrap_or_else(|| device.iri.clone())
}

fn count(cell: &mut GridCell, via: Option<Via>) {
    match via {
        Some(Via::AsIs) => cell.as_is += 1,
        Some(Via::Int8) => cell.int8 += 1,
        None => cell.no += 1,
    }
}

/// The window `rows` × `models` of the matrix of `fleet` under `opts`.
pub fn grid(fleet: &Fleet, opts: &MatchOptions, rows: &GridRows, row_window: Window, model_window: Window) -> Grid {
    let mut models: Vec<&super::facts::ModelFacts> = fleet.models.values().collect();
    models.sort_by(|a, b| a.name.cmp(&b.name).then_with(|| a.iri.cmp(&b.iri)));
    let total_models = models.len();
    let models: Vec<&super::facts::ModelFacts> = models
        .into_iter()
        .skip(model_window.offset)
        .take(model_window.limit)
        .collect();
    let columns: Vec<GridModel> = models
        .iter()
        .map(|m| GridModel {
            iri: m.iri.clone(),
            name: m.name.clone(),
        })
        .collect();

    match rows {
        GridRows::Boards => {
            // Every device counts towards its board's row: the fleet matrix over the window's
            // models (a fleet that shares the devices' facts but holds only those models).
            let mut per_board: HashMap<Option<&str>, (u32, Vec<GridCell>)> = HashMap::new();
            for device in fleet.devices.values() {
                per_board
                    .entry(device.board.as_deref())
                    .or_insert_with(|| (0, vec![GridCell::default(); models.len()]))
                    .0 += 1;
            }
            let column_of: HashMap<&str, usize> = models.iter().enumerate().map(|(i, m)| (m.iri.as_str(), i)).collect();
            let windowed = Fleet {
                devices: fleet.devices.clone(),
                boards: fleet.boards.clone(),
                runtimes: fleet.runtimes.clone(),
                models: models.iter().map(|m| (m.iri.clone(), (*m).clone())).collect(),
            };
            for cell in super::fleet_matrix(&windowed, opts).iter() {
                let Some(device) = fleet.devices.get(cell.device) else {
                    continue;
                };
                let Some(&column) = column_of.get(cell.model) else {
                    continue;
                };
                if let Some((_, cells)) = per_board.get_mut(&device.board.as_deref()) {
                    count(&mut cells[column], Some(cell.via));
                }
            }
            let mut rows: Vec<GridRow> = per_board
                .into_iter()
                .map(|(board, (devices, mut cells))| {
                    for cell in &mut cells {
                        cell.no = devices - cell.as_is - cell.int8;
                    }
                    GridRow {
                        key: board.unwrap_or_default().to_owned(),
                        label: board_label(fleet, board),
                        board: board.map(str::to_owned),
                        devices,
                        cells,
                    }
                })
                .collect();
            rows.sort_by(|a, b| b.devices.cmp(&a.devices).then_with(|| a.label.cmp(&b.label)));
            let total_rows = rows.len();
            Grid {
                total_rows,
                total_models,
                models: columns,
                rows: rows
                    .into_iter()
                    .skip(row_window.offset)
                    .take(row_window.limit)
                    .collect(),
            }
        }
        GridRows::Devices { board } => {
            let mut devices: Vec<(String, &DeviceFacts)> = fleet
                .devices
                .values()
                .filter(|d| board.is_none() || d.board == *board)
                .map(|d| (board_label(fleet, d.board.as_deref()), d))
                .collect();
            devices.sort_by(|(la, a), (lb, b)| {
                la.cmp(lb)
                    .then_with(|| device_label(a).cmp(&device_label(b)))
                    .then_with(|| a.iri.cmp(&b.iri))
            });
            let total_rows = devices.len();
            let rows = devices
                .into_iter()
                .skip(row_window.offset)
                .take(row_window.limit)
                .map(|(_, device)| {
                    let view = DeviceView::new(fleet, device);
                    let cells = models
                        .iter()
                        .map(|m| {
                            let mut cell = GridCell::default();
                            count(&mut cell, view.fit(fleet, m, opts).map(|fit| fit.via));
                            cell
                        })
                        .collect();
                    GridRow {
                        key: device.iri.clone(),
                        label: device_label(device),
                        board: device.board.clone(),
                        devices: 1,
                        cells,
                    }
                })
                .collect();
            Grid {
                total_rows,
                total_models,
                models: columns,
                rows,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::matching::fixture;

    /// The fixture's board with three devices (one short of RAM, one with no board) and three
    /// models: one that fits everywhere, one only with the RAM the fixture's device has free,
    /// one that fits nowhere.
    fn fleet() -> Fleet {
        let mut f = fixture::fleet();
        for (iri, ram, board) in [("urn:d2", 20_000, Some("urn:b")), ("urn:d3", 61_440, None)] {
            f.devices.insert(
                iri.into(),
                DeviceFacts {
                    iri: iri.into(),
                    short_name: Some(iri.trim_start_matches("urn:").into()),
                    board: board.map(str::to_owned),
                    free_ram_bytes: Some(ram),
                    ..DeviceFacts::default()
                },
            );
        }
        for (peak, name) in [(4_000, "small"), (40_000, "medium"), (400_000, "huge")] {
            let mut m = fixture::model("int8", peak, 10_000, &["Conv"]);
            m.name = name.into();
            f.models.insert(m.iri.clone(), m);
        }
        f
    }

    #[test]
    fn board_rows_count_what_device_rows_judge() {
        let fleet = fleet();
        let opts = MatchOptions::default();
        let all = Window {
            offset: 0,
            limit: usize::MAX,
        };
        let boards = grid(&fleet, &opts, &GridRows::Boards, all, all);
        let devices = grid(&fleet, &opts, &GridRows::Devices { board: None }, all, all);
        assert_eq!(boards.total_models, fleet.models.len());
        assert_eq!(devices.total_rows, fleet.devices.len());
        assert!(devices
            .rows
            .iter()
            .any(|r| r.cells.iter().any(|c| c.as_is + c.int8 == 1)));
        assert!(devices.rows.iter().any(|r| r.cells.iter().any(|c| c.no == 1)));
        for row in &boards.rows {
            let mine: Vec<&GridRow> = devices
                .rows
                .iter()
                .filter(|d| d.board.as_deref().unwrap_or_default() == row.key)
                .collect();
            assert_eq!(row.devices as usize, mine.len());
            for (m, cell) in row.cells.iter().enumerate() {
                let sum = |f: fn(&GridCell) -> u32| mine.iter().map(|d| f(&d.cells[m])).sum::<u32>();
                assert_eq!(
                    (cell.as_is, cell.int8, cell.no),
                    (sum(|c| c.as_is), sum(|c| c.int8), sum(|c| c.no))
                );
            }
        }
    }

    #[test]
    fn windows_cut_rows_and_columns() {
        let fleet = fleet();
        let opts = MatchOptions::default();
        let one = Window { offset: 1, limit: 1 };
        let g = grid(&fleet, &opts, &GridRows::Devices { board: None }, one, one);
        assert_eq!((g.total_rows, g.total_models), (3, 3));
        assert_eq!(g.rows.len(), 1);
        assert_eq!(g.rows[0].label, "d");
        assert_eq!(g.models.len(), 1);
        assert_eq!(g.models[0].name, "medium");
        assert_eq!(
            g.rows[0].cells,
            [GridCell {
                as_is: 1,
                int8: 0,
                no: 0
            }]
        );
        let only = GridRows::Devices {
            board: Some("urn:b".into()),
        };
        let all = Window {
            offset: 0,
            limit: usize::MAX,
        };
        assert_eq!(grid(&fleet, &opts, &only, all, all).total_rows, 2);
        let far = Window {
            offset: 10_000,
            limit: 5,
        };
        let g = grid(&fleet, &opts, &GridRows::Boards, far, far);
        assert!(g.rows.is_empty() && g.models.is_empty());
        assert!(g.total_rows > 0);
    }
}
