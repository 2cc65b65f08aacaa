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

mod error;
mod plan;
mod record;
mod run;
pub mod spec;
mod state;
#[cfg(test)]
mod tests;

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use tokio::sync::{broadcast, watch};

pub use error::RolloutError;
pub use plan::compatible_devices;
pub use spec::{NamedQueryRequest, RolloutRequest, RolloutSpec, Selection};
pub use state::{Build, Counts, GroupSummary, Rollout, RolloutEvent, RolloutState, Target, TargetState, Timings};

use crate::data_dir::DataDir;
use crate::graph::Registry;
use crate::live::Lwm2mBridge;
use crate::matching::FleetIndex;

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
        let drivers = match rollouts.inner.registry.instance() {
            Some(_) => record::drivers(&rollouts.inner.registry).map_err(|e| RolloutError::Graph(e.to_string()))?,
            None => std::collections::HashMap::new(),
        };
        let mut resumed = 0;
        for mut rollout in kept {
            // Another service on the same store drives it: it is that one's to resume, and this
            // one reads it from the graph when asked (`find`).
            let other = match (drivers.get(&rollout.iri), rollouts.inner.registry.instance()) {
                (Some(driver), Some(me)) => driver != me,
                _ => false,
            };
            if other {
                continue;
            }
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
                .change(|t| record::write_new(t, r, this.inner.registry.instance()))
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

    /// The rollout `id` as it stands, if this service drives it.
    pub fn get(&self, id: &str) -> Option<Rollout> {
        let held = lock(&self.inner.held).get(id).cloned()?;
        let rollout = lock(&held.rollout).clone();
        Some(rollout)
    }

    /// The rollout `id`: as this service drives it, else as the graph records it (a rollout
    /// another instance on the same store drives, or one started after this service). Reads the
    /// store: call it off the async workers.
    pub fn find(&self, id: &str) -> Result<Option<Rollout>, RolloutError> {
        if let Some(rollout) = self.get(id) {
            return Ok(Some(rollout));
        }
        if id.is_empty() || !id.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_') {
            return Ok(None);
        }
        record::read_one(&self.inner.registry, &record::rollout_iri(id)).map_err(|e| RolloutError::Graph(e.to_string()))
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
