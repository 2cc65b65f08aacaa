//! The fleet matrix: every compatible (device, model) pair, judged by groups.
//!
//! A matrix of a 10,000-device fleet against 1,000 models holds millions of pairs, so how it is
//! stored is most of what it costs: a pair is two indices and a [`Via`] (12 bytes, against 40
//! for two shared IRIs), and the pairs are written into blocks of a fixed size that never move.
//! A vector that grows by doubling copies everything it holds at each step; whether the copy is
//! cheap depends on the allocator (glibc remaps a large block's pages, jemalloc copies them into
//! fresh ones that fault in one by one), and the matrix's time should not.

use serde::Serialize;

use super::evaluate::{self, DeviceView, MatchOptions, Via};
use super::facts::{self, Fleet};

/// Pairs a block holds: 384 KiB of pairs, written in place and never moved.
const BLOCK: usize = 1 << 15;

/// One pair as the matrix stores it: indices into its device and model IRIs.
#[derive(Debug, Clone, Copy)]
struct Pair {
    device: u32,
    model: u32,
    via: Via,
}

/// Every compatible (device, model) pair of a fleet, in the fleet's device order and, for each
/// device, its model order. Made by [`fleet_matrix`]; read by [`FleetMatrix::iter`].
#[derive(Debug, Default)]
pub struct FleetMatrix {
    devices: Vec<Box<str>>,
    models: Vec<Box<str>>,
    blocks: Vec<Vec<Pair>>,
    len: usize,
}

/// One compatible pair of the fleet matrix, borrowed from it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct MatrixCell<'a> {
    /// Device IRI.
    pub device: &'a str,
    /// Model IRI.
    pub model: &'a str,
    /// How the model runs there.
    pub via: Via,
}

impl FleetMatrix {
    /// How many compatible pairs.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether no model runs on any device.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The pairs, in order.
    pub fn iter(&self) -> impl Iterator<Item = MatrixCell<'_>> + '_ {
        self.blocks.iter().flatten().map(|p| MatrixCell {
            device: &self.devices[p.device as usize],
            model: &self.models[p.model as usize],
            via: p.via,
        })
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
///
/// A fleet of more than `u32::MAX` devices or models is not one this registry can hold (its
/// store and its facts would not fit first); the indices are checked all the same.
pub fn fleet_matrix(fleet: &Fleet, opts: &MatchOptions) -> FleetMatrix {
    let devices: Vec<&facts::DeviceFacts> = fleet.devices.values().collect();
    let models: Vec<&facts::ModelFacts> = fleet.models.values().collect();
    if u32::try_from(devices.len()).is_err() || u32::try_from(models.len()).is_err() {
        tracing::error!(
            devices = devices.len(),
            models = models.len(),
            "fleet too large for a matrix"
        );
        return FleetMatrix::default();
    }
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
    // The pairs, a run of devices per thread, each written into blocks of its own.
    let numbered: Vec<(u32, &facts::DeviceFacts)> = (0..).zip(devices.iter().copied()).collect();
    let chunk = numbered.len().div_ceil(threads).max(1);
    let chunks: Vec<&[(u32, &facts::DeviceFacts)]> = numbered.chunks(chunk).collect();
    let parts = in_parallel(&chunks, threads, |part| {
        let mut blocks: Vec<Vec<Pair>> = Vec::new();
        let mut block: Vec<Pair> = Vec::with_capacity(BLOCK);
        for &(n, device) in part.iter() {
            let view = DeviceView::new(fleet, device);
            let (free_ram, free_flash) = (view.free_ram(), view.free_flash());
            let group = group_of[n as usize];
            let kind = kind_of[group];
            for ((m, &(ram, flash)), model_index) in floors[kind].iter().enumerate().zip(0u32..) {
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
                    if block.len() == BLOCK {
                        blocks.push(std::mem::replace(&mut block, Vec::with_capacity(BLOCK)));
                    }
                    block.push(Pair {
                        device: n,
                        model: model_index,
                        via,
                    });
                }
            }
        }
        if !block.is_empty() {
            blocks.push(block);
        }
        blocks
    });
    let blocks: Vec<Vec<Pair>> = parts.into_iter().flatten().collect();
    FleetMatrix {
        devices: devices.iter().map(|d| Box::from(d.iri.as_str())).collect(),
        models: models.iter().map(|m| Box::from(m.iri.as_str())).collect(),
        len: blocks.iter().map(Vec::len).sum(),
        blocks,
    }
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
