//! Explainable matchmaking: which models run on which devices, and why not.
//!
//! [`facts`] holds the plain facts matching reads, [`evaluate`] the rules (pure, no I/O), and
//! [`load`] reads the facts from the graph. The named SPARQL queries in `queries/` state the same
//! rules; the service answers from the in-memory facts, which the one-truth test keeps honest.

pub mod estimate;
pub mod evaluate;
pub mod facts;
#[cfg(test)]
pub(crate) mod fixture;
pub mod grid;
mod index;
mod load;
pub mod oracle;

use serde::{Deserialize, Serialize};

pub use evaluate::{Compatible, Constraint, Detail, LatencyAssumption, MatchOptions, Outcome, Reason, Rejected, Via};
pub use facts::Fleet;
pub use index::FleetIndex;
pub use load::load_fleet;

use evaluate::DeviceView;

/// The answer to "which models run on this device" (the `seam match --json` shape).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MatchReport {
    /// Device IRI.
    pub device: String,
    /// Free RAM of the device, bytes: what the percentages of a report are of.
    #[serde(rename = "freeRamBytes", default, skip_serializing_if = "Option::is_none")]
    pub free_ram: Option<u64>,
    /// Free flash of the device, bytes.
    #[serde(rename = "freeFlashBytes", default, skip_serializing_if = "Option::is_none")]
    pub free_flash: Option<u64>,
    /// Whether the report is for a board type (its datasheet figures, nothing reserved) rather
    /// than a device.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub board: bool,
    /// Compatible models, ranked.
    pub compatible: Vec<Compatible>,
    /// Rejected models with reasons (only when asked for).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rejected: Option<Vec<Rejected>>,
}

/// Ranks every model of `fleet` for the device `device_key` (IRI or short name) or, when no
/// device has that key, for the board type it names (IRI or catalog name, e.g.
/// `arduino-nano-33-ble-sense`), judged on the board's datasheet figures with nothing reserved;
/// `None` when there is neither.
pub fn match_device(fleet: &Fleet, device_key: &str, opts: &MatchOptions, explain: bool) -> Option<MatchReport> {
    match_device_with(fleet, device_key, opts, explain, Detail::default())
}

/// [`match_device`], each compatible model spelled out as far as `detail` asks.
pub fn match_device_with(
    fleet: &Fleet,
    device_key: &str,
    opts: &MatchOptions,
    explain: bool,
    detail: Detail,
) -> Option<MatchReport> {
    let board_device;
    let (device, board) = match fleet.device(device_key) {
        Some(device) => (device, false),
        None => {
            let board = fleet.board(device_key)?;
            // A board as a device that reports all of its memory free: nothing reserved for a
            // base firmware, no sensors beyond the board's own.
            board_device = facts::DeviceFacts {
                iri: board.iri.clone(),
                short_name: None,
                board: Some(board.iri.clone()),
                free_ram_bytes: board.ram_bytes,
                free_flash_bytes: board.flash_bytes,
                sensors: Vec::new(),
            };
            (&board_device, true)
        }
    };
    let view = DeviceView::new(fleet, device);
    let mut compatible = Vec::new();
    let mut rejected = Vec::new();
    for model in fleet.models.values() {
        match view.fit(fleet, model, opts) {
            Some(fit) => compatible.push(fit.compatible(detail)),
            None if explain => rejected.push(view.rejected(model, opts, true)),
            None => {}
        }
    }
    evaluate::rank(&mut compatible);
    Some(MatchReport {
        device: device.iri.clone(),
        free_ram: Some(view.free_ram()),
        free_flash: Some(view.free_flash()),
        board,
        compatible,
        rejected: explain.then_some(rejected),
    })
}

/// A device a model runs on.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct DeviceMatch {
    /// Device IRI.
    pub device: String,
    /// Its short name.
    pub short_name: Option<String>,
    /// How the model runs there.
    #[serde(flatten)]
    pub fit: Compatible,
}

/// Every device the model `model_iri` runs on; `None` when there is no such model.
pub fn compatible_devices(fleet: &Fleet, model_iri: &str, opts: &MatchOptions) -> Option<Vec<DeviceMatch>> {
    let model = fleet.models.get(model_iri)?;
    let mut out = Vec::new();
    for device in fleet.devices.values() {
        if let Some((_, fit)) = DeviceView::new(fleet, device).verdict(fleet, model, opts) {
            out.push(DeviceMatch {
                device: device.iri.clone(),
                short_name: device.short_name.clone(),
                fit,
            });
        }
    }
    Some(out)
}

/// One compatible pair of the fleet matrix. The IRIs are shared (`Arc<str>`): a matrix of
/// millions of cells copies a pointer per IRI, not the IRI.
#[derive(Debug, Clone, PartialEq)]
pub struct MatrixCell {
    /// Device IRI.
    pub device: std::sync::Arc<str>,
    /// Model IRI.
    pub model: std::sync::Arc<str>,
    /// How the model runs there.
    pub via: Via,
}

impl Serialize for MatrixCell {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeStruct as _;
        let mut cell = serializer.serialize_struct("MatrixCell", 3)?;
        cell.serialize_field("device", &*self.device)?;
        cell.serialize_field("model", &*self.model)?;
        cell.serialize_field("via", &self.via)?;
        cell.end()
    }
}

/// Every compatible (device, model) pair of the fleet, using every core.
///
/// A verdict reads of a device only its board, its sensors and its free memory. What each model
/// needs of free memory on each runtime ([`evaluate::MemoryNeeds`]) is worked out once per kind
/// of board (the same runtimes), and whether the board's sensors give what it needs once per
/// board; each device then compares those needs with its free RAM and flash, and checks its own
/// sensors only where the board's do not suffice. The cells are those of judging every device on
/// its own (a test holds the two together, on fleets made to break the shortcuts).
pub fn fleet_matrix(fleet: &Fleet, opts: &MatchOptions) -> Vec<MatrixCell> {
    let devices: Vec<&facts::DeviceFacts> = fleet.devices.values().collect();
    let models: Vec<&facts::ModelFacts> = fleet.models.values().collect();
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get()).max(1);

    // The boards, each judged as a device with no sensors of its own.
    let mut group_of: Vec<usize> = Vec::with_capacity(devices.len());
    let mut boards: Vec<facts::DeviceFacts> = Vec::new();
    let mut index: std::collections::HashMap<Option<&str>, usize> = std::collections::HashMap::new();
    for device in &devices {
        let next = boards.len();
        let at = *index.entry(device.board.as_deref()).or_insert(next);
        if at == next {
            boards.push(facts::DeviceFacts {
                board: device.board.clone(),
                ..facts::DeviceFacts::default()
            });
        }
        group_of.push(at);
    }
    // What a model needs of free memory depends on the board only through the runtimes that
    // target it (and, under a latency budget, its clock and core): worked out once per kind of
    // board, with the model's sensors taken as present. Whether a board's own sensors give what
    // a model needs is asked per board.
    let views: Vec<DeviceView<'_>> = boards.iter().map(|b| DeviceView::new(fleet, b)).collect();
    let (kinds, kind_of) = kinds_of_board(&boards, &views, opts);
    let needs: Vec<Vec<evaluate::MemoryNeeds>> = in_parallel(&kinds, threads, |&b| {
        models.iter().map(|m| views[b].memory_needs(fleet, m, opts)).collect()
    });
    let sensed: Vec<Vec<bool>> = in_parallel(&views, threads, |view| models.iter().map(|m| view.senses(m)).collect());
    // Per kind of board, the least free RAM and flash a device needs for each model to have a
    // chance: most pairs fail there, reading a small array in order instead of each model's
    // needs.
    let floors: Vec<Vec<(u64, u64)>> = needs
        .iter()
        .map(|models| models.iter().map(evaluate::MemoryNeeds::floor).collect())
        .collect();
    // The cells, a chunk of devices per thread; each thread shares its own copy of every model
    // IRI among its cells (one thread's reference counts never bounce against another's).
    let numbered: Vec<(usize, &facts::DeviceFacts)> = devices.iter().copied().enumerate().collect();
    let chunk = numbered.len().div_ceil(threads).max(1);
    let chunks: Vec<&[(usize, &facts::DeviceFacts)]> = numbered.chunks(chunk).collect();
    let rows = in_parallel(&chunks, threads, |part| {
        let model_iris: Vec<std::sync::Arc<str>> =
            models.iter().map(|m| std::sync::Arc::from(m.iri.as_str())).collect();
        let mut cells = Vec::new();
        for (n, device) in part.iter() {
            let view = DeviceView::new(fleet, device);
            let (free_ram, free_flash) = (view.free_ram(), view.free_flash());
            let iri: std::sync::Arc<str> = std::sync::Arc::from(device.iri.as_str());
            let group = group_of[*n];
            let kind = kind_of[group];
            for (m, &(ram, flash)) in floors[kind].iter().enumerate() {
                if free_ram < ram || free_flash < flash {
                    continue;
                }
                let (need, model) = (&needs[kind][m], models[m]);
                let via = if need.needs_whole_verdict() {
                    view.fit(fleet, model, opts).map(|fit| fit.via)
                } else if sensed[group][m] || (!device.sensors.is_empty() && view.senses(model)) {
                    // The board's sensors give what the model needs, or the device's own make
                    // up the difference.
                    need.via(free_ram, free_flash)
                } else {
                    None
                };
                if let Some(via) = via {
                    cells.push(MatrixCell {
                        device: iri.clone(),
                        model: model_iris[m].clone(),
                        via,
                    });
                }
            }
        }
        cells
    });
    let mut cells = Vec::with_capacity(rows.iter().map(Vec::len).sum());
    for mut part in rows {
        cells.append(&mut part);
    }
    cells
}

/// The boards (`views` of `boards`) grouped by what memory needs read of them: their runtimes,
/// and under a latency budget the board itself (its clock, core and throughput). A device with
/// no board described needs what one no runtime targets: nothing runs on either. Returns one
/// board of each kind, and each board's kind.
fn kinds_of_board(
    boards: &[facts::DeviceFacts],
    views: &[DeviceView<'_>],
    opts: &MatchOptions,
) -> (Vec<usize>, Vec<usize>) {
    let mut kind_of = Vec::with_capacity(views.len());
    let mut kinds = Vec::new();
    let mut index: std::collections::HashMap<(Option<&str>, Vec<&str>), usize> = std::collections::HashMap::new();
    for (b, (board, view)) in boards.iter().zip(views).enumerate() {
        let itself = opts.latency_budget_s.and(board.board.as_deref());
        let next = kinds.len();
        let at = *index.entry((itself, view.runtime_iris())).or_insert(next);
        if at == next {
            kinds.push(b);
        }
        kind_of.push(at);
    }
    (kinds, kind_of)
}

/// `f` over `items` on up to `threads` scoped threads, results in the items' order. A panicking
/// worker is a bug in the rules; its part is recomputed on this thread rather than lost.
fn in_parallel<T: Sync, R: Send>(items: &[T], threads: usize, f: impl Fn(&T) -> R + Sync) -> Vec<R> {
    let chunk = items.len().div_ceil(threads.max(1)).max(1);
    let f = &f;
    std::thread::scope(|scope| {
        let handles: Vec<_> = items
            .chunks(chunk)
            .map(|part| scope.spawn(move || part.iter().map(f).collect::<Vec<R>>()))
            .collect();
        let mut out = Vec::with_capacity(items.len());
        for (handle, part) in handles.into_iter().zip(items.chunks(chunk)) {
            match handle.join() {
                Ok(results) => out.extend(results),
                Err(_) => out.extend(part.iter().map(f)),
            }
        }
        out
    })
}
