//! Running a rollout: build once per distinct target, then deliver group after group under the
//! thresholds, then (after a halt) roll back. Every device's change of state is written to the
//! graph before the next step, so that a restart can resume (see [`prepare_resume`]).

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use oxigraph::model::NamedNode;
use seam_lwm2m::server::DeliveryMethod;
use tokio::sync::Semaphore;
use tokio::task::JoinSet;

use super::record::{self, now};
use super::{lock, Build, Control, Held, Rollout, RolloutEvent, RolloutState, Rollouts, TargetState};
use crate::live::Lwm2mBridge;
use crate::matching::evaluate::MatchOptions;
use crate::packaging::{self, Needs, Packager};

/// How long a device's package slot may take to be read after a restart.
const VERIFY_WITHIN: Duration = Duration::from_secs(60);
/// How often a device offline at its turn is looked for.
const OFFLINE_POLL: Duration = Duration::from_millis(250);

/// Readies a rollout a stopped service left active: a delivery that was in flight is verified
/// with the device (never repeated), a device that was waiting for its turn waits again.
pub(super) fn prepare_resume(rollout: &mut Rollout) {
    for t in &mut rollout.targets {
        match t.state {
            TargetState::Delivering => {
                t.state = TargetState::Verifying;
                t.reason = "the service stopped during its delivery: the device is asked what it holds".into();
            }
            TargetState::Waiting => t.state = TargetState::Pending,
            _ => {}
        }
    }
}

fn event(rollout: &Rollout, device: Option<(&str, TargetState)>, reason: &str) -> RolloutEvent {
    RolloutEvent {
        rollout: rollout.id.clone(),
        state: rollout.state,
        device: device.map(|(d, _)| d.to_owned()),
        device_state: device.map(|(_, s)| s),
        reason: reason.to_owned(),
        counts: rollout.counts(),
    }
}

/// Changes the rollout's state, in memory and in the graph, and tells the subscribers.
pub(super) async fn set_rollout_state(rollouts: &Rollouts, held: &Arc<Held>, state: RolloutState, reason: &str) {
    let snapshot = {
        let mut r = lock(&held.rollout);
        r.state = state;
        r.reason = reason.to_owned();
        r.ended = (!state.is_active()).then(now);
        r.clone()
    };
    let registry = rollouts.inner.registry.clone();
    let written = {
        let snapshot = snapshot.clone();
        tokio::task::spawn_blocking(move || registry.change(|t| record::write_state(t, &snapshot))).await
    };
    if !matches!(written, Ok(Ok(()))) {
        tracing::error!(target: "seam", rollout = %snapshot.id, "the rollout's state could not be written to the graph");
    }
    let _ = rollouts.inner.events.send(event(&snapshot, None, reason));
}

/// Changes one device's state, in memory and in the graph (and, when `runs` is given, what the
/// device runs), and tells the subscribers. `Err` when the graph could not be written.
async fn set_target(
    rollouts: &Rollouts,
    held: &Arc<Held>,
    at: usize,
    state: TargetState,
    reason: String,
    runs: Option<String>,
) -> Result<(), String> {
    // Only the target is copied out: a rollout of many devices is not cloned per change.
    let (iri, target) = {
        let mut r = lock(&held.rollout);
        let Some(t) = r.targets.get_mut(at) else {
            return Err("no such target".into());
        };
        t.state = state;
        t.reason = reason.clone();
        let target = t.clone();
        (r.iri.clone(), target)
    };
    let registry = rollouts.inner.registry.clone();
    let writing = Instant::now();
    let device = target.device.clone();
    let written = tokio::task::spawn_blocking(move || {
        registry.change(|t| {
            record::write_target(t, &iri, &target);
            if let (Some(sha), Ok(device)) = (runs, NamedNode::new(target.device_iri.clone())) {
                t.set(
                    &device,
                    &NamedNode::new_unchecked(format!("{}runs", crate::vocab::SEAM)),
                    crate::iri::artifact(&sha),
                );
            }
        })
    })
    .await;
    let told = {
        let mut r = lock(&held.rollout);
        r.timings.graph_writes_ms_total += writing.elapsed().as_secs_f64() * 1e3;
        r.timings.graph_writes += 1;
        event(&r, Some((&device, state)), &reason)
    };
    let _ = rollouts.inner.events.send(told);
    match written {
        Ok(Ok(())) => Ok(()),
        Ok(Err(e)) => Err(e.to_string()),
        Err(e) => Err(e.to_string()),
    }
}

/// Runs a rollout to its end (or until the service stops).
pub(super) async fn drive(rollouts: Rollouts, held: Arc<Held>) {
    let Some(bridge) = rollouts.inner.bridge.clone() else {
        return;
    };
    let needs_build = {
        let r = lock(&held.rollout);
        r.targets
            .iter()
            .any(|t| t.state == TargetState::Pending && t.artifact.is_none())
    };
    if needs_build {
        let building = Instant::now();
        build(&rollouts, &held, &bridge).await;
        lock(&held.rollout).timings.building_ms = building.elapsed().as_secs_f64() * 1e3;
    }
    let state = lock(&held.rollout).state;
    if state == RolloutState::Building {
        let next = if *held.control.borrow() == Control::Pause {
            RolloutState::Paused
        } else {
            RolloutState::Running
        };
        set_rollout_state(&rollouts, &held, next, "").await;
    }
    let delivering = Instant::now();
    let halted = deliver_groups(&rollouts, &held, &bridge).await;
    lock(&held.rollout).timings.delivering_ms = delivering.elapsed().as_secs_f64() * 1e3;
    let (rollback, cancelled) = {
        let r = lock(&held.rollout);
        (r.spec.rollback, *held.control.borrow() == Control::Cancel)
    };
    if let Some(reason) = halted {
        if rollback {
            roll_back(&rollouts, &held, &bridge).await;
        }
        set_rollout_state(&rollouts, &held, RolloutState::Halted, &reason).await;
    } else if cancelled {
        set_rollout_state(&rollouts, &held, RolloutState::Cancelled, "cancelled").await;
    } else {
        let counts = lock(&held.rollout).counts();
        let summary = counts
            .iter()
            .map(|(s, n)| format!("{n} {s}"))
            .collect::<Vec<_>>()
            .join(", ");
        set_rollout_state(&rollouts, &held, RolloutState::Completed, &summary).await;
    }
}

/// Builds one package per distinct (board, runtime, backend, via) and judges it on every device
/// it is for; a device it does not fit, or whose package could not be built, is skipped.
async fn build(rollouts: &Rollouts, held: &Arc<Held>, bridge: &Lwm2mBridge) {
    let rollout = lock(&held.rollout).clone();
    let inner = rollouts.inner.clone();
    let bridge = bridge.clone();
    let outcome = tokio::task::spawn_blocking(move || build_blocking(&inner, &bridge, &rollout)).await;
    let (builds, decided) = match outcome {
        Ok(Ok(done)) => done,
        Ok(Err(reason)) => {
            let r = lock(&held.rollout).clone();
            let all = r
                .targets
                .iter()
                .enumerate()
                .filter(|(_, t)| t.state == TargetState::Pending)
                .map(|(i, _)| (i, Err(reason.clone())))
                .collect();
            (Vec::new(), all)
        }
        Err(e) => {
            tracing::error!(target: "seam", error = %e, "the rollout's build task failed");
            return;
        }
    };
    let snapshot = {
        let mut r = lock(&held.rollout);
        r.builds = builds.clone();
        for (i, decision) in decided {
            let Some(t) = r.targets.get_mut(i) else { continue };
            match decision {
                Ok(sha) if t.previous_artifact.as_deref() == Some(sha.as_str()) => {
                    // Flashing a device with what it runs already would only risk it.
                    t.state = TargetState::Installed;
                    t.reason = "already runs this artifact: nothing delivered".into();
                    t.artifact = Some(sha);
                }
                Ok(sha) => t.artifact = Some(sha),
                Err(reason) => {
                    t.state = TargetState::Skipped;
                    t.group = None;
                    t.reason = reason;
                }
            }
        }
        r.clone()
    };
    let registry = rollouts.inner.registry.clone();
    let written = {
        let snapshot = snapshot.clone();
        tokio::task::spawn_blocking(move || {
            registry.change(|t| {
                for b in &snapshot.builds {
                    record::write_build(t, &snapshot, b);
                }
                for target in &snapshot.targets {
                    record::write_target(t, &snapshot.iri, target);
                }
            })
        })
        .await
    };
    if !matches!(written, Ok(Ok(()))) {
        tracing::error!(target: "seam", rollout = %snapshot.id, "the rollout's builds could not be written to the graph");
    }
    let _ = rollouts
        .inner
        .events
        .send(event(&snapshot, None, &format!("{} package(s) built", builds.len())));
}

/// Per target index: the package's SHA-256, or why the device is skipped.
type Decisions = Vec<(usize, Result<String, String>)>;

fn build_blocking(
    inner: &super::Inner,
    bridge: &Lwm2mBridge,
    rollout: &Rollout,
) -> Result<(Vec<Build>, Decisions), String> {
    use seam_compiler_bridge::compile::safe_stem;

    let path = super::plan::model_file(&inner.registry, &inner.data, &rollout.spec.model).map_err(|e| e.to_string())?;
    let (bytes, analysis) = super::plan::measure(&path)?;
    let compilers = inner.data.compilers();
    let declarations: Vec<std::path::PathBuf> = compilers.is_file().then_some(compilers).into_iter().collect();
    let packager = Packager::open(&inner.data, &declarations).map_err(|e| e.to_string())?;
    let indexed = inner.fleet.fleet().map_err(|e| e.to_string())?;
    let fleet = super::plan::buildable(&indexed);
    let declared = fleet
        .models
        .get(&rollout.spec.model)
        .ok_or_else(|| format!("the model {} is no longer in the graph", rollout.spec.model))?;
    let built = super::plan::as_built(declared, &analysis);
    let model = &built;
    let opts = MatchOptions {
        headroom_pct: rollout.spec.headroom_pct,
        ..MatchOptions::default()
    };
    let stem = safe_stem(&rollout.model_name);

    // Devices by what their package is built for.
    type Key = (Option<String>, String, Option<String>, String);
    let mut by_key: BTreeMap<Key, Vec<usize>> = BTreeMap::new();
    let mut decided: Decisions = Vec::new();
    for (i, t) in rollout.targets.iter().enumerate() {
        if t.state != TargetState::Pending || t.artifact.is_some() {
            continue;
        }
        let (Some(runtime), Some(via)) = (t.runtime.clone(), t.via.clone()) else {
            decided.push((i, Err("no runtime was planned for the device".into())));
            continue;
        };
        by_key
            .entry((t.board.clone(), runtime, t.backend.clone(), via))
            .or_default()
            .push(i);
    }
    let mut builds = Vec::new();
    for ((board, runtime, backend, via), members) in by_key {
        let mut build = Build {
            board: board.clone(),
            runtime: runtime.clone(),
            backend: backend.clone(),
            via: via.clone(),
            devices: members.len(),
            artifact: None,
            cache_hit: false,
            error: None,
        };
        // The first device's plan stands for the key; each device is judged on its own below.
        let plans: Vec<(usize, Result<packaging::Plan, String>)> = members
            .iter()
            .map(|&i| {
                let plan =
                    packaging::plan(&fleet, model, &rollout.targets[i].device_iri, &opts).map_err(|e| e.to_string());
                (i, plan)
            })
            .collect();
        let Some(first) = plans.iter().find_map(|(_, p)| p.as_ref().ok()) else {
            for (i, p) in plans {
                decided.push((i, Err(p.err().unwrap_or_default())));
            }
            builds.push(build);
            continue;
        };
        let compiled = packaging::compile_for_board(&inner.registry, &packager, &bytes, &model.iri, &stem, first)
            .map_err(|e| format!("the package could not be built: {e}"))
            .and_then(|c| {
                bridge
                    .add_package(c.package.clone())
                    .map(|sha| (c, sha))
                    .map_err(|e| format!("the package could not be stored: {e}"))
            });
        match compiled {
            Err(reason) => {
                build.error = Some(reason.clone());
                for (i, _) in plans {
                    decided.push((i, Err(reason.clone())));
                }
            }
            Ok((compiled, sha)) => {
                build.artifact = Some(sha.clone());
                build.cache_hit = compiled.cache_hit;
                let mut operators = crate::ingest::onnx::onnx_operator_names(&analysis);
                if via == "int8" {
                    operators.insert("DequantizeLinear".into());
                }
                let size = |k: &str| compiled.manifest.sizes.get(k).copied().unwrap_or(0);
                let needs = Needs {
                    arena_bytes: size("arenaBytes"),
                    device_bytes: size("deviceBytes"),
                    operators: &operators,
                };
                for (i, p) in plans {
                    let decision = match p {
                        Err(reason) => Err(reason),
                        Ok(plan) => {
                            let fit = packaging::judge(&fleet, &plan, &needs, &opts);
                            if fit.fits {
                                Ok(sha.clone())
                            } else {
                                Err(format!(
                                    "the built package does not fit: RAM {} of {} free, flash {} of {} free{}",
                                    fit.ram_needed_bytes,
                                    fit.ram_free_bytes,
                                    fit.flash_needed_bytes,
                                    fit.flash_free_bytes,
                                    if fit.missing_operators.is_empty() {
                                        String::new()
                                    } else {
                                        format!(", operators the runtime lacks: {}", fit.missing_operators.join(", "))
                                    }
                                ))
                            }
                        }
                    };
                    decided.push((i, decision));
                }
            }
        }
        builds.push(build);
    }
    Ok((builds, decided))
}

/// Delivers group after group; `Some(reason)` when the error threshold halted the rollout.
async fn deliver_groups(rollouts: &Rollouts, held: &Arc<Held>, bridge: &Lwm2mBridge) -> Option<String> {
    let (concurrency, groups, verifying) = {
        let r = lock(&held.rollout);
        let mut groups: Vec<u32> = r
            .targets
            .iter()
            .filter(|t| t.state == TargetState::Pending)
            .filter_map(|t| t.group)
            .collect();
        groups.sort_unstable();
        groups.dedup();
        let verifying: Vec<usize> = r
            .targets
            .iter()
            .enumerate()
            .filter(|(_, t)| t.state == TargetState::Verifying)
            .map(|(i, _)| i)
            .collect();
        (r.spec.concurrency, groups, verifying)
    };
    let slots = Arc::new(Semaphore::new(concurrency));
    let mut tasks: JoinSet<()> = JoinSet::new();
    for at in verifying {
        tasks.spawn(verify(rollouts.clone(), held.clone(), bridge.clone(), at));
    }
    let mut control = held.control.subscribe();
    let mut next = 0;
    let mut halted = None;
    loop {
        // The error threshold, over every group started so far.
        if halted.is_none() {
            halted = over_threshold(&lock(&held.rollout), groups.get(..next).unwrap_or(&[]));
            if let Some(reason) = &halted {
                tracing::warn!(target: "seam", rollout = %lock(&held.rollout).id, %reason, "rollout halted");
                held.halting.store(true, std::sync::atomic::Ordering::SeqCst);
                held.control.send_replace(Control::Cancel);
            }
        }
        let steering = *held.control.borrow();
        let previous_ready = next == 0 || group_ready(&lock(&held.rollout), groups[next - 1]);
        if halted.is_none() && steering == Control::Run && next < groups.len() && previous_ready {
            let group = groups[next];
            let members: Vec<usize> = {
                let r = lock(&held.rollout);
                r.targets
                    .iter()
                    .enumerate()
                    .filter(|(_, t)| t.group == Some(group) && t.state == TargetState::Pending)
                    .map(|(i, _)| i)
                    .collect()
            };
            for at in members {
                tasks.spawn(deliver(
                    rollouts.clone(),
                    held.clone(),
                    bridge.clone(),
                    slots.clone(),
                    at,
                ));
            }
            next += 1;
            continue;
        }
        if tasks.is_empty() && (next >= groups.len() || steering == Control::Cancel || halted.is_some()) {
            break;
        }
        tokio::select! {
            joined = tasks.join_next(), if !tasks.is_empty() => {
                if let Some(Err(e)) = joined {
                    tracing::error!(target: "seam", error = %e, "a rollout delivery task failed");
                }
            }
            changed = control.changed() => {
                if changed.is_err() {
                    break;
                }
            }
        }
    }
    // Groups never started: their devices were never touched.
    let never: Vec<usize> = {
        let r = lock(&held.rollout);
        r.targets
            .iter()
            .enumerate()
            .filter(|(_, t)| t.state == TargetState::Pending)
            .map(|(i, _)| i)
            .collect()
    };
    let why = match &halted {
        Some(reason) => format!("never touched: the rollout halted ({reason})"),
        None => "never touched: the rollout was cancelled".to_owned(),
    };
    for at in never {
        let _ = set_target(rollouts, held, at, TargetState::Cancelled, why.clone(), None).await;
    }
    halted
}

/// Why the rollout must halt: a started group whose failures pass the error threshold.
fn over_threshold(rollout: &Rollout, started: &[u32]) -> Option<String> {
    let limit = rollout.spec.error_threshold_pct;
    for &g in started {
        let members: Vec<_> = rollout.targets.iter().filter(|t| t.group == Some(g)).collect();
        let failed = members.iter().filter(|t| t.state == TargetState::Failed).count();
        if members.is_empty() || failed == 0 {
            continue;
        }
        let share = failed as f64 * 100.0 / members.len() as f64;
        if share > limit {
            let name = if g == 0 {
                "the canary group".to_owned()
            } else {
                format!("group {g}")
            };
            return Some(format!(
                "{failed} of {} devices of {name} failed ({share:.0}%, above the error threshold of {limit}%)",
                members.len()
            ));
        }
    }
    None
}

/// Whether a group lets the next one start: its installs reached the success threshold, or every
/// device of it is final.
fn group_ready(rollout: &Rollout, group: u32) -> bool {
    let members: Vec<_> = rollout.targets.iter().filter(|t| t.group == Some(group)).collect();
    let installed = members.iter().filter(|t| t.state == TargetState::Installed).count();
    let enough = installed as f64 * 100.0 >= rollout.spec.success_threshold_pct * members.len() as f64;
    enough || members.iter().all(|t| t.state.is_final())
}

/// Waits until the device is registered, the rollout is told to stop, or the deadline passes.
/// `Ok(())` when it may go on; `Err(state, reason)` otherwise.
async fn await_turn(
    held: &Arc<Held>,
    bridge: &Lwm2mBridge,
    device: &str,
    deadline: Instant,
) -> Result<(), (TargetState, String)> {
    let mut control = held.control.subscribe();
    loop {
        let steering = *control.borrow_and_update();
        match steering {
            Control::Cancel => {
                let why = if held.halting.load(std::sync::atomic::Ordering::SeqCst) {
                    "never touched: the rollout halted before its turn"
                } else {
                    "never touched: the rollout was cancelled before its turn"
                };
                return Err((TargetState::Cancelled, why.to_owned()));
            }
            Control::Pause => {
                if control.changed().await.is_err() {
                    return Err((TargetState::Cancelled, "the service stopped".into()));
                }
                continue;
            }
            Control::Run => {}
        }
        if bridge.server().registration(device).is_some() {
            return Ok(());
        }
        let now = Instant::now();
        if now >= deadline {
            return Err((
                TargetState::Failed,
                "offline: the device did not register before its deadline".to_owned(),
            ));
        }
        tokio::select! {
            _ = tokio::time::sleep(OFFLINE_POLL.min(deadline - now)) => {}
            _ = control.changed() => {}
        }
    }
}

/// One device's turn: wait for it (offline) and for a slot, then deliver.
async fn deliver(rollouts: Rollouts, held: Arc<Held>, bridge: Lwm2mBridge, slots: Arc<Semaphore>, at: usize) {
    let (device, sha, method, deadline_s, iri) = {
        let r = lock(&held.rollout);
        let t = &r.targets[at];
        (
            t.device.clone(),
            t.artifact.clone().unwrap_or_default(),
            if r.spec.method == "push" {
                DeliveryMethod::Push
            } else {
                DeliveryMethod::Pull
            },
            r.spec.offline_deadline_s,
            r.iri.clone(),
        )
    };
    let deadline = Instant::now() + Duration::from_secs(deadline_s);
    if bridge.server().registration(&device).is_none() && *held.control.borrow() == Control::Run {
        let reason = format!("offline at its turn: waited for up to {deadline_s} s");
        let _ = set_target(&rollouts, &held, at, TargetState::Waiting, reason, None).await;
    }
    let turn = await_turn(&held, &bridge, &device, deadline).await;
    if let Err((state, reason)) = turn {
        let reason = if state == TargetState::Failed {
            format!("{reason} ({deadline_s} s after its turn came)")
        } else {
            reason
        };
        let _ = set_target(&rollouts, &held, at, state, reason, None).await;
        return;
    }
    let Ok(_slot) = slots.acquire().await else {
        return;
    };
    // A pause or a halt may have come while it waited for a slot.
    if let Err((state, reason)) = await_turn(&held, &bridge, &device, deadline).await {
        let _ = set_target(&rollouts, &held, at, state, reason, None).await;
        return;
    }
    // Recorded before the first datagram: a restart finds it in flight, never pending.
    if let Err(e) = set_target(&rollouts, &held, at, TargetState::Delivering, String::new(), None).await {
        let _ = set_target(
            &rollouts,
            &held,
            at,
            TargetState::Failed,
            format!("not delivered: the graph could not record its start ({e})"),
            None,
        )
        .await;
        return;
    }
    let rollout = NamedNode::new(iri).ok();
    let delivering = Instant::now();
    let result = bridge.deliver_one(&device, &sha, method, rollout).await;
    lock(&held.rollout).timings.delivery_ms_total += delivering.elapsed().as_secs_f64() * 1e3;
    let (state, reason) = if result.installed {
        (TargetState::Installed, String::new())
    } else {
        (TargetState::Failed, result.detail)
    };
    let _ = set_target(&rollouts, &held, at, state, reason, None).await;
}

/// After a restart: asks a device whose delivery was in flight what it holds.
async fn verify(rollouts: Rollouts, held: Arc<Held>, bridge: Lwm2mBridge, at: usize) {
    let (device, sha, deadline_s) = {
        let r = lock(&held.rollout);
        let t = &r.targets[at];
        (
            t.device.clone(),
            t.artifact.clone().unwrap_or_default(),
            r.spec.offline_deadline_s,
        )
    };
    let (state, reason, runs) = read_slot(&bridge, &device, &sha, deadline_s).await;
    let _ = set_target(&rollouts, &held, at, state, reason, runs).await;
}

/// Reads what a device holds once it is registered: installed (`runs` the package), or failed
/// with what it says.
async fn read_slot(
    bridge: &Lwm2mBridge,
    device: &str,
    sha: &str,
    deadline_s: u64,
) -> (TargetState, String, Option<String>) {
    let deadline = Instant::now() + Duration::from_secs(deadline_s);
    while bridge.server().registration(device).is_none() {
        if Instant::now() >= deadline {
            return (
                TargetState::Failed,
                format!(
                    "interrupted: the service stopped during its delivery and the device did not register again within {deadline_s} s to say what it holds"
                ),
                None,
            );
        }
        tokio::time::sleep(OFFLINE_POLL).await;
    }
    match tokio::time::timeout(VERIFY_WITHIN, bridge.server().read_package_slot(device)).await {
        Ok(Ok(slot)) if slot.holds_installed(sha) => (
            TargetState::Installed,
            "installed (the device confirmed it after the service restarted)".into(),
            Some(sha.to_owned()),
        ),
        Ok(Ok(slot)) => (
            TargetState::Failed,
            format!(
                "interrupted: the service stopped during its delivery; the device reports: {}",
                slot.describe()
            ),
            None,
        ),
        Ok(Err(e)) => (
            TargetState::Failed,
            format!("interrupted: the service stopped during its delivery; the device could not be read: {e}"),
            None,
        ),
        Err(_) => (
            TargetState::Failed,
            format!(
                "interrupted: the service stopped during its delivery; the device did not answer within {} s",
                VERIFY_WITHIN.as_secs()
            ),
            None,
        ),
    }
}

/// Returns every device this rollout installed to the package it ran before.
async fn roll_back(rollouts: &Rollouts, held: &Arc<Held>, bridge: &Lwm2mBridge) {
    let (todo, concurrency, method, iri) = {
        let r = lock(&held.rollout);
        let todo: Vec<usize> = r
            .targets
            .iter()
            .enumerate()
            .filter(|(_, t)| matches!(t.state, TargetState::Installed | TargetState::RollingBack))
            .map(|(i, _)| i)
            .collect();
        let method = if r.spec.method == "push" {
            DeliveryMethod::Push
        } else {
            DeliveryMethod::Pull
        };
        (todo, r.spec.concurrency, method, r.iri.clone())
    };
    let slots = Arc::new(Semaphore::new(concurrency));
    let mut tasks = JoinSet::new();
    for at in todo {
        let (rollouts, held, bridge, slots, iri) = (
            rollouts.clone(),
            held.clone(),
            bridge.clone(),
            slots.clone(),
            iri.clone(),
        );
        tasks.spawn(async move {
            let Ok(_slot) = slots.acquire().await else { return };
            let (device, artifact, previous, resumed, deadline_s) = {
                let r = lock(&held.rollout);
                let t = &r.targets[at];
                (
                    t.device.clone(),
                    t.artifact.clone(),
                    t.previous_artifact.clone(),
                    t.state == TargetState::RollingBack,
                    r.spec.offline_deadline_s,
                )
            };
            let Some(previous) = previous.filter(|p| Some(p) != artifact.as_ref()) else {
                let _ = set_target(
                    &rollouts,
                    &held,
                    at,
                    TargetState::Installed,
                    "kept: the device ran no other SEAM artifact before this rollout, there is nothing to roll back to"
                        .into(),
                    None,
                )
                .await;
                return;
            };
            if resumed {
                // A rollback in flight when the service stopped: ask the device.
                let (state, reason, runs) = read_slot(&bridge, &device, &previous, deadline_s).await;
                let (state, reason) = if state == TargetState::Installed {
                    (
                        TargetState::RolledBack,
                        format!("rolled back to {previous} (confirmed after a restart)"),
                    )
                } else {
                    (TargetState::RollbackFailed, reason)
                };
                let _ = set_target(&rollouts, &held, at, state, reason, runs).await;
                return;
            }
            if !bridge.has_package(&previous) {
                let _ = set_target(
                    &rollouts,
                    &held,
                    at,
                    TargetState::RollbackFailed,
                    format!("the package it ran before ({previous}) is not held by this service"),
                    None,
                )
                .await;
                return;
            }
            if set_target(
                &rollouts,
                &held,
                at,
                TargetState::RollingBack,
                format!("returning to {previous}"),
                None,
            )
            .await
            .is_err()
            {
                return;
            }
            let result = bridge
                .deliver_one(&device, &previous, method, NamedNode::new(iri).ok())
                .await;
            let (state, reason) = if result.installed {
                (TargetState::RolledBack, format!("rolled back to {previous}"))
            } else {
                (TargetState::RollbackFailed, result.detail)
            };
            let _ = set_target(&rollouts, &held, at, state, reason, None).await;
        });
    }
    while tasks.join_next().await.is_some() {}
}
