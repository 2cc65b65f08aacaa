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
mod matrix;
pub mod oracle;

use serde::{Deserialize, Serialize};

pub use evaluate::{Compatible, Constraint, Detail, LatencyAssumption, MatchOptions, Outcome, Reason, Rejected, Via};
pub use facts::Fleet;
pub use index::FleetIndex;
pub use load::load_fleet;
pub use matrix::{fleet_matrix, FleetMatrix, MatrixCell};

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
