//! What a rollout is made of: its state and its devices' states, the packages it built, where
//! its time went, and the events it tells subscribers.

use std::collections::BTreeMap;

use serde::Serialize;

use super::RolloutSpec;

/// Where a rollout is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum RolloutState {
    /// Compiling the packages.
    Building,
    /// Delivering.
    Running,
    /// Paused by a person: deliveries in flight finish, none start.
    Paused,
    /// Stopped by the error threshold (and rolled back, unless told not to).
    Halted,
    /// Stopped by a person.
    Cancelled,
    /// Every device reached a final state.
    Completed,
}

impl RolloutState {
    /// Its name, as the graph and the API write it.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Building => "building",
            Self::Running => "running",
            Self::Paused => "paused",
            Self::Halted => "halted",
            Self::Cancelled => "cancelled",
            Self::Completed => "completed",
        }
    }

    /// The state named `name`.
    pub fn parse(name: &str) -> Option<Self> {
        [
            Self::Building,
            Self::Running,
            Self::Paused,
            Self::Halted,
            Self::Cancelled,
            Self::Completed,
        ]
        .into_iter()
        .find(|s| s.as_str() == name)
    }

    /// Whether the rollout still has work to do.
    pub fn is_active(self) -> bool {
        matches!(self, Self::Building | Self::Running | Self::Paused)
    }
}

/// Where one device of a rollout is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum TargetState {
    /// Waiting for its group.
    Pending,
    /// Its turn came while it was offline: waited for until the deadline.
    Waiting,
    /// Its package is being delivered.
    Delivering,
    /// A delivery was in flight when the service stopped: the device is asked what it holds.
    Verifying,
    /// Installed (final, unless the rollout halts and rolls it back).
    Installed,
    /// The delivery or the install failed (final); the reason says why.
    Failed,
    /// Never delivered: the model does not run there, or its package could not be built (final).
    Skipped,
    /// Never delivered: the rollout halted or was cancelled before its turn (final).
    Cancelled,
    /// Being returned to the artifact it ran before.
    RollingBack,
    /// Returned to the artifact it ran before (final).
    RolledBack,
    /// The return to its earlier artifact failed (final); the reason says why.
    RollbackFailed,
}

impl TargetState {
    /// Every state, in the order summaries list them.
    pub const ALL: [Self; 11] = [
        Self::Pending,
        Self::Waiting,
        Self::Delivering,
        Self::Verifying,
        Self::Installed,
        Self::Failed,
        Self::Skipped,
        Self::Cancelled,
        Self::RollingBack,
        Self::RolledBack,
        Self::RollbackFailed,
    ];

    /// Its name, as the graph and the API write it.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Waiting => "waiting",
            Self::Delivering => "delivering",
            Self::Verifying => "verifying",
            Self::Installed => "installed",
            Self::Failed => "failed",
            Self::Skipped => "skipped",
            Self::Cancelled => "cancelled",
            Self::RollingBack => "rolling-back",
            Self::RolledBack => "rolled-back",
            Self::RollbackFailed => "rollback-failed",
        }
    }

    /// The state named `name`.
    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|s| s.as_str() == name)
    }

    /// Whether nothing more will happen to the device in this rollout (an installed device may
    /// still be rolled back if the rollout halts).
    pub fn is_final(self) -> bool {
        matches!(
            self,
            Self::Installed | Self::Failed | Self::Skipped | Self::Cancelled | Self::RolledBack | Self::RollbackFailed
        )
    }
}

/// One device of a rollout.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Target {
    /// Its LwM2M endpoint name (short name).
    pub device: String,
    /// Its IRI.
    pub device_iri: String,
    /// Its board.
    pub board: Option<String>,
    /// The group it is delivered in (0 is the canary); `None` when it is skipped.
    pub group: Option<u32>,
    /// Where it is.
    pub state: TargetState,
    /// Why it is where it is (the matching reasons of a skip, a failure's detail).
    pub reason: String,
    /// The runtime the model runs on there.
    pub runtime: Option<String>,
    /// The backend that builds for that runtime.
    pub backend: Option<String>,
    /// `as-is` or `int8`.
    pub via: Option<String>,
    /// SHA-256 of the package built for it.
    pub artifact: Option<String>,
    /// SHA-256 of the package it ran before (what a rollback returns it to).
    pub previous_artifact: Option<String>,
}

/// One package built by a rollout, for every device sharing its key.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Build {
    /// The board.
    pub board: Option<String>,
    /// The runtime.
    pub runtime: String,
    /// The backend.
    pub backend: Option<String>,
    /// `as-is` or `int8`.
    pub via: String,
    /// Devices it is for.
    pub devices: usize,
    /// The package's SHA-256, when it was built.
    pub artifact: Option<String>,
    /// Whether the package cache already held it.
    pub cache_hit: bool,
    /// Why it could not be built.
    pub error: Option<String>,
}

/// Where a rollout's time went, in this process (not kept in the graph): what the benchmark
/// reports and operators ask when a rollout is slow.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Timings {
    /// Planning: the model measured, the selection, every device's verdict (wall).
    pub planning_ms: f64,
    /// Building: one compile per distinct target, each package judged on its devices (wall).
    pub building_ms: f64,
    /// Delivering: from the first group's start to the last device's end (wall).
    pub delivering_ms: f64,
    /// The deliveries themselves, added up over devices (they overlap).
    pub delivery_ms_total: f64,
    /// Graph writes of device and rollout states, added up.
    pub graph_writes_ms_total: f64,
    /// How many graph writes.
    pub graph_writes: u64,
}

/// A rollout as it stands.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Rollout {
    /// Its id (the last segment of its IRI).
    pub id: String,
    /// Its IRI in the graph.
    pub iri: String,
    /// What it was asked to do.
    pub spec: RolloutSpec,
    /// The model's name.
    pub model_name: String,
    /// Where it is.
    pub state: RolloutState,
    /// Why it halted or ended as it did.
    pub reason: String,
    /// When it started (xsd:dateTime).
    pub started: String,
    /// When it ended.
    pub ended: Option<String>,
    /// The packages built.
    pub builds: Vec<Build>,
    /// Every device, in delivery order (skipped devices last).
    pub targets: Vec<Target>,
    /// Where its time went in this process.
    pub timings: Timings,
}

/// Counts of devices per state.
pub type Counts = BTreeMap<&'static str, usize>;

/// One group's devices and their states.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct GroupSummary {
    /// The group (0 is the canary).
    pub group: u32,
    /// Its devices.
    pub devices: usize,
    /// Devices per state.
    #[serde(rename = "byState")]
    pub by_state: Counts,
}

impl Rollout {
    fn count<'a>(targets: impl Iterator<Item = &'a Target>) -> Counts {
        let mut counts = Counts::new();
        for t in targets {
            *counts.entry(t.state.as_str()).or_default() += 1;
        }
        counts
    }

    /// Devices per state, over the whole rollout.
    pub fn counts(&self) -> Counts {
        Self::count(self.targets.iter())
    }

    /// Devices per state, group by group.
    pub fn groups(&self) -> Vec<GroupSummary> {
        let last = self.targets.iter().filter_map(|t| t.group).max();
        (0..last.map_or(0, |g| g + 1))
            .map(|g| {
                let members: Vec<&Target> = self.targets.iter().filter(|t| t.group == Some(g)).collect();
                GroupSummary {
                    group: g,
                    devices: members.len(),
                    by_state: Self::count(members.into_iter()),
                }
            })
            .collect()
    }

    /// The rollout as `GET /rollouts/{id}` answers it: the record, the counts, the groups.
    pub fn to_json(&self) -> serde_json::Value {
        let mut value = serde_json::to_value(self).unwrap_or_default();
        if let Some(map) = value.as_object_mut() {
            map.insert("summary".into(), serde_json::json!(self.counts()));
            map.insert("groups".into(), serde_json::json!(self.groups()));
            map.insert("devices".into(), serde_json::json!(self.targets.len()));
        }
        value
    }

    /// The short form `GET /rollouts` lists.
    pub fn summary_json(&self) -> serde_json::Value {
        serde_json::json!({
            "id": self.id,
            "iri": self.iri,
            "model": self.spec.model,
            "modelName": self.model_name,
            "state": self.state,
            "reason": self.reason,
            "started": self.started,
            "ended": self.ended,
            "devices": self.targets.len(),
            "summary": self.counts(),
        })
    }
}

/// Something that happened in a rollout: a device changed state, or the rollout did.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RolloutEvent {
    /// The rollout's id.
    pub rollout: String,
    /// The rollout's state after the event.
    pub state: RolloutState,
    /// The device, when a device changed.
    pub device: Option<String>,
    /// The device's new state.
    pub device_state: Option<TargetState>,
    /// Why.
    pub reason: String,
    /// Devices per state after the event.
    pub counts: Counts,
}
