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

mod build;
mod deliver;
mod recover;

use build::build;
use deliver::{cancel_pending, deliver_groups, over_threshold};
use recover::{roll_back, verify};

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
    // The graph first, then memory: whoever sees the new state (the API, a test, the events)
    // finds the graph saying it too, and a crash in between leaves the old state in both.
    let snapshot = {
        let mut r = lock(&held.rollout).clone();
        r.state = state;
        r.reason = reason.to_owned();
        r.ended = (!state.is_active()).then(now);
        r
    };
    let registry = rollouts.inner.registry.clone();
    let written = {
        let snapshot = snapshot.clone();
        tokio::task::spawn_blocking(move || registry.change(|t| record::write_state(t, &snapshot))).await
    };
    if !matches!(written, Ok(Ok(()))) {
        tracing::error!(target: "seam", rollout = %snapshot.id, "the rollout's state could not be written to the graph");
    }
    {
        // Only the rollout's own fields: its devices may have moved on meanwhile.
        let mut r = lock(&held.rollout);
        r.state = snapshot.state;
        r.reason.clone_from(&snapshot.reason);
        r.ended = snapshot.ended.clone();
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
    // A rollout the service stopped while it was halting (its failures already past the
    // threshold, its rollback perhaps under way) resumes halting, not delivering.
    let halted_before = {
        let r = lock(&held.rollout);
        let groups: Vec<u32> = r.targets.iter().filter_map(|t| t.group).collect();
        over_threshold(&r, &groups)
    };
    if let Some(reason) = &halted_before {
        held.halting.store(true, std::sync::atomic::Ordering::SeqCst);
        held.control.send_replace(Control::Cancel);
        tracing::warn!(target: "seam", rollout = %lock(&held.rollout).id, %reason, "a halted rollout resumes its halt");
    }
    let delivering = Instant::now();
    let halted = match halted_before {
        Some(reason) => {
            cancel_pending(
                &rollouts,
                &held,
                &format!("never touched: the rollout halted ({reason})"),
            )
            .await;
            Some(reason)
        }
        None => deliver_groups(&rollouts, &held, &bridge).await,
    };
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
