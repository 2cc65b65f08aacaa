//! Rollouts: a model put on every device that can run it, safely, with a record of what runs
//! where.
//!
//! A rollout is a resource kept in the graph (`seam:Rollout`, a `prov:Activity` that used the
//! model, with one `seam:RolloutTarget` per device and the `seam:Deployment`s `seam:partOf` it).
//! It goes through:
//! 1. **planning** ([`plan`]), before anything is started: the model and its file, the devices
//!    selected, each device's matching verdict (an incompatible device is skipped with its
//!    reasons and never flashed), its runtime and backend from the graph, and the groups (a
//!    canary, then waves);
//! 2. **building** ([`run`]): one compile per distinct (board, runtime, backend, as-is or int8),
//!    each package judged again on every device it is meant for;
//! 3. **delivering** ([`run`]): group after group over LwM2M, a group started when the previous
//!    one reaches its success threshold, the rollout halted when a group passes its error
//!    threshold (and what it installed rolled back to what each device ran before), bounded
//!    concurrency, devices offline at their turn waited for until a deadline.
//!
//! Every change of a device's state is written to the graph before the next step is taken
//! ([`record`]): a service killed mid-rollout resumes from there, re-reading over LwM2M the
//! devices whose delivery was in flight instead of delivering to them again.

mod plan;
mod record;
mod run;
pub mod spec;

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use serde::Serialize;
use tokio::sync::{broadcast, watch};

pub use plan::compatible_devices;
pub use spec::{RolloutSpec, Selection};

use crate::data_dir::DataDir;
use crate::graph::Registry;
use crate::live::Lwm2mBridge;
use crate::matching::FleetIndex;

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

/// Why a rollout could not be started or changed; nothing was started or changed.
#[derive(Debug, thiserror::Error)]
pub enum RolloutError {
    /// The spec breaks a rule.
    #[error("{0}")]
    Invalid(String),
    /// No model of that IRI.
    #[error("no model {0:?} in the graph")]
    UnknownModel(String),
    /// The graph describes the model but SEAM holds no file for it.
    #[error("the model {0} has no file in this registry (register it from its ONNX or TFLite file first: seam load FILE, or POST /models); a model without a file cannot be compiled")]
    NoModelFile(String),
    /// Devices named that the graph does not know.
    #[error("unknown devices: {}", listed(.0.iter()))]
    UnknownDevices(Vec<String>),
    /// The selection query failed or is not a SELECT.
    #[error(transparent)]
    Selection(#[from] crate::selection::SelectionError),
    /// The selection names a named query that does not exist, or its parameters are wrong.
    #[error("{0}")]
    NamedQuery(String),
    /// The selection picks no device.
    #[error("the selection picks no device")]
    NoDevices,
    /// The model runs on none of the devices; why, device by device.
    #[error("the model runs on none of the {} selected devices: {}", .0.len(), listed(.0.iter().map(|(d, r)| format!("{d}: {r}"))))]
    RunsNowhere(Vec<(String, String)>),
    /// Devices already in an active rollout.
    #[error("already in an active rollout: {}", listed(.0.iter().map(|(d, r)| format!("{d} (rollout {r})"))))]
    Busy(Vec<(String, String)>),
    /// No rollout of that id.
    #[error("no rollout {0:?}")]
    NotFound(String),
    /// The rollout is not in a state that allows the action.
    #[error("rollout {id} is {state}: {action} is not possible")]
    WrongState {
        /// The rollout.
        id: String,
        /// Its state.
        state: &'static str,
        /// What was asked.
        action: &'static str,
    },
    /// The service runs no LwM2M server.
    #[error("this service was started without its LwM2M server: nothing can be delivered")]
    NoLwm2m,
    /// The graph could not be read or written.
    #[error("the graph: {0}")]
    Graph(String),
}

/// The first twenty items, and how many more: an error names what is wrong without becoming
/// as long as a hostile request.
fn listed<T: std::fmt::Display>(items: impl ExactSizeIterator<Item = T>) -> String {
    const SHOWN: usize = 20;
    let total = items.len();
    let mut text = items.take(SHOWN).map(|i| i.to_string()).collect::<Vec<_>>().join("; ");
    if total > SHOWN {
        text.push_str(&format!("; … and {} more", total - SHOWN));
    }
    text
}

impl RolloutError {
    /// Whether the request was at fault (as opposed to the service).
    pub fn is_client_error(&self) -> bool {
        !matches!(self, Self::Graph(_) | Self::NoLwm2m)
    }
}

/// What the runner of one rollout is told.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Control {
    Run,
    Pause,
    Cancel,
}

/// One rollout held by the service: its state and the handle that steers its runner.
struct Held {
    rollout: Mutex<Rollout>,
    control: watch::Sender<Control>,
    /// Set when the error threshold stops the rollout: the state says halted only once the
    /// rollback is done, but devices waiting for their turn must know at once.
    halting: std::sync::atomic::AtomicBool,
}

/// The rollouts of a service. Cloning shares them.
#[derive(Clone)]
pub struct Rollouts {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for Rollouts {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Rollouts").finish_non_exhaustive()
    }
}

struct Inner {
    registry: Registry,
    fleet: FleetIndex,
    bridge: Option<Lwm2mBridge>,
    data: DataDir,
    held: Mutex<BTreeMap<String, Arc<Held>>>,
    events: broadcast::Sender<RolloutEvent>,
    /// Serialises starts: two rollouts asked at once never both take a device.
    starting: tokio::sync::Mutex<()>,
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl Rollouts {
    /// The rollouts of a service, read back from the graph; those a stopped service left
    /// active are resumed (in-flight deliveries verified, never repeated). Must run inside a
    /// Tokio runtime.
    pub fn start(
        registry: Registry,
        fleet: FleetIndex,
        bridge: Option<Lwm2mBridge>,
        data: DataDir,
    ) -> Result<Self, RolloutError> {
        let (events, _) = broadcast::channel(4096);
        let rollouts = Self {
            inner: Arc::new(Inner {
                registry,
                fleet,
                bridge,
                data,
                held: Mutex::new(BTreeMap::new()),
                events,
                starting: tokio::sync::Mutex::new(()),
            }),
        };
        let kept = record::read_all(&rollouts.inner.registry).map_err(|e| RolloutError::Graph(e.to_string()))?;
        let mut resumed = 0;
        for mut rollout in kept {
            let active = rollout.state.is_active();
            if active {
                run::prepare_resume(&mut rollout);
                resumed += 1;
            }
            let paused = rollout.state == RolloutState::Paused;
            let held = rollouts.hold(rollout, if paused { Control::Pause } else { Control::Run });
            if active {
                if rollouts.inner.bridge.is_some() {
                    tokio::spawn(run::drive(rollouts.clone(), held));
                } else {
                    tracing::warn!(target: "seam", "an active rollout waits: this service runs no LwM2M server");
                }
            }
        }
        if resumed > 0 {
            tracing::info!(target: "seam", resumed, "rollouts left active by the last run resume where the graph says they were");
        }
        Ok(rollouts)
    }

    fn hold(&self, rollout: Rollout, control: Control) -> Arc<Held> {
        let id = rollout.id.clone();
        let held = Arc::new(Held {
            rollout: Mutex::new(rollout),
            control: watch::channel(control).0,
            halting: std::sync::atomic::AtomicBool::new(false),
        });
        lock(&self.inner.held).insert(id, held.clone());
        held
    }

    /// Plans a rollout, records it and starts it; answers it as planned. An error starts
    /// nothing.
    pub async fn begin(&self, spec: RolloutSpec) -> Result<Rollout, RolloutError> {
        spec.check().map_err(RolloutError::Invalid)?;
        if self.inner.bridge.is_none() {
            return Err(RolloutError::NoLwm2m);
        }
        let _one_at_a_time = self.inner.starting.lock().await;
        let busy = self.busy_devices();
        let this = self.clone();
        let rollout = tokio::task::spawn_blocking(move || -> Result<Rollout, RolloutError> {
            let planning = std::time::Instant::now();
            let mut rollout = plan::plan(&this.inner.registry, &this.inner.fleet, &this.inner.data, spec, &busy)?;
            rollout.timings.planning_ms = planning.elapsed().as_secs_f64() * 1e3;
            let r = &rollout;
            this.inner
                .registry
                .change(|t| record::write_new(t, r))
                .map_err(|e| RolloutError::Graph(e.to_string()))?;
            Ok(rollout)
        })
        .await
        .map_err(|e| RolloutError::Graph(e.to_string()))??;
        tracing::info!(
            target: "seam",
            rollout = %rollout.id, model = %rollout.model_name, devices = rollout.targets.len(),
            "rollout started"
        );
        let held = self.hold(rollout.clone(), Control::Run);
        tokio::spawn(run::drive(self.clone(), held));
        Ok(rollout)
    }

    /// Devices in a non-final state of an active rollout, with that rollout's id.
    fn busy_devices(&self) -> BTreeMap<String, String> {
        let held: Vec<Arc<Held>> = lock(&self.inner.held).values().cloned().collect();
        let mut busy = BTreeMap::new();
        for h in held {
            let r = lock(&h.rollout);
            if !r.state.is_active() {
                continue;
            }
            for t in &r.targets {
                if !t.state.is_final() {
                    busy.insert(t.device.clone(), r.id.clone());
                }
            }
        }
        busy
    }

    /// The rollout `id` as it stands.
    pub fn get(&self, id: &str) -> Option<Rollout> {
        let held = lock(&self.inner.held).get(id).cloned()?;
        let rollout = lock(&held.rollout).clone();
        Some(rollout)
    }

    /// Every rollout, oldest first.
    pub fn list(&self) -> Vec<Rollout> {
        let held: Vec<Arc<Held>> = lock(&self.inner.held).values().cloned().collect();
        let mut all: Vec<Rollout> = held.iter().map(|h| lock(&h.rollout).clone()).collect();
        all.sort_by(|a, b| a.started.cmp(&b.started).then_with(|| a.id.cmp(&b.id)));
        all
    }

    /// Every rollout in short (`Rollout::summary_json`), oldest first: what `GET /rollouts`
    /// lists, without copying any rollout's devices.
    pub fn summaries(&self) -> Vec<serde_json::Value> {
        let held: Vec<Arc<Held>> = lock(&self.inner.held).values().cloned().collect();
        let mut all: Vec<(String, String, serde_json::Value)> = held
            .iter()
            .map(|h| {
                let r = lock(&h.rollout);
                (r.started.clone(), r.id.clone(), r.summary_json())
            })
            .collect();
        all.sort_by(|a, b| (&a.0, &a.1).cmp(&(&b.0, &b.1)));
        all.into_iter().map(|(_, _, s)| s).collect()
    }

    /// Events of every rollout from now on.
    pub fn subscribe(&self) -> broadcast::Receiver<RolloutEvent> {
        self.inner.events.subscribe()
    }

    fn held(&self, id: &str) -> Result<Arc<Held>, RolloutError> {
        lock(&self.inner.held)
            .get(id)
            .cloned()
            .ok_or_else(|| RolloutError::NotFound(id.to_owned()))
    }

    /// Pauses a running rollout: deliveries in flight finish, no other starts.
    pub async fn pause(&self, id: &str) -> Result<Rollout, RolloutError> {
        self.steer(
            id,
            "pause",
            &[RolloutState::Building, RolloutState::Running],
            Control::Pause,
            RolloutState::Paused,
        )
        .await
    }

    /// Resumes a paused rollout.
    pub async fn resume(&self, id: &str) -> Result<Rollout, RolloutError> {
        self.steer(
            id,
            "resume",
            &[RolloutState::Paused],
            Control::Run,
            RolloutState::Running,
        )
        .await
    }

    /// Cancels an active rollout: deliveries in flight finish, devices not yet started are
    /// cancelled, nothing is rolled back.
    pub async fn cancel(&self, id: &str) -> Result<Rollout, RolloutError> {
        let held = self.held(id)?;
        {
            let r = lock(&held.rollout);
            if !r.state.is_active() {
                return Err(RolloutError::WrongState {
                    id: id.to_owned(),
                    state: r.state.as_str(),
                    action: "cancel",
                });
            }
        }
        held.control.send_replace(Control::Cancel);
        let rollout = lock(&held.rollout).clone();
        Ok(rollout)
    }

    async fn steer(
        &self,
        id: &str,
        action: &'static str,
        from: &[RolloutState],
        control: Control,
        to: RolloutState,
    ) -> Result<Rollout, RolloutError> {
        let held = self.held(id)?;
        {
            let r = lock(&held.rollout);
            if !from.contains(&r.state) {
                return Err(RolloutError::WrongState {
                    id: id.to_owned(),
                    state: r.state.as_str(),
                    action,
                });
            }
        }
        held.control.send_replace(control);
        // A rollout still building keeps building when paused; it shows paused from now on.
        run::set_rollout_state(self, &held, to, "").await;
        let rollout = lock(&held.rollout).clone();
        Ok(rollout)
    }

    /// Gives the failed devices of a finished rollout another turn, as a last group.
    pub async fn retry_failed(&self, id: &str) -> Result<Rollout, RolloutError> {
        let _one_at_a_time = self.inner.starting.lock().await;
        let held = self.held(id)?;
        let busy = self.busy_devices();
        let retried = {
            let mut r = lock(&held.rollout);
            if r.state.is_active() {
                return Err(RolloutError::WrongState {
                    id: id.to_owned(),
                    state: r.state.as_str(),
                    action: "retry-failed",
                });
            }
            let taken: Vec<(String, String)> = r
                .targets
                .iter()
                .filter(|t| t.state == TargetState::Failed)
                .filter_map(|t| busy.get(&t.device).map(|other| (t.device.clone(), other.clone())))
                .collect();
            if !taken.is_empty() {
                return Err(RolloutError::Busy(taken));
            }
            let group = r.targets.iter().filter_map(|t| t.group).max().map_or(0, |g| g + 1);
            let mut retried = Vec::new();
            for t in r.targets.iter_mut().filter(|t| t.state == TargetState::Failed) {
                t.state = TargetState::Pending;
                t.reason = format!("retried after: {}", t.reason);
                t.group = Some(group);
                retried.push(t.clone());
            }
            if retried.is_empty() {
                return Err(RolloutError::Invalid(format!(
                    "rollout {id} has no failed device to retry"
                )));
            }
            r.state = RolloutState::Running;
            r.reason = String::new();
            r.ended = None;
            retried
        };
        let snapshot = lock(&held.rollout).clone();
        let registry = self.inner.registry.clone();
        tokio::task::spawn_blocking(move || {
            registry.change(|t| {
                record::write_state(t, &snapshot);
                for target in &retried {
                    record::write_target(t, &snapshot.iri, target);
                }
            })
        })
        .await
        .map_err(|e| RolloutError::Graph(e.to_string()))?
        .map_err(|e| RolloutError::Graph(e.to_string()))?;
        held.control.send_replace(Control::Run);
        tokio::spawn(run::drive(self.clone(), held.clone()));
        let rollout = lock(&held.rollout).clone();
        Ok(rollout)
    }
}
