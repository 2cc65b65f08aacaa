//! Delivering: group after group, each device waited for (offline) and given a slot, under
//! the success and error thresholds.

use super::*;

/// Delivers group after group; `Some(reason)` when the error threshold halted the rollout.
pub(super) async fn deliver_groups(rollouts: &Rollouts, held: &Arc<Held>, bridge: &Lwm2mBridge) -> Option<String> {
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
    let why = match &halted {
        Some(reason) => format!("never touched: the rollout halted ({reason})"),
        None => "never touched: the rollout was cancelled".to_owned(),
    };
    cancel_pending(rollouts, held, &why).await;
    halted
}

/// Marks every device still pending as cancelled, with `why`.
pub(super) async fn cancel_pending(rollouts: &Rollouts, held: &Arc<Held>, why: &str) {
    let never: Vec<usize> = {
        let r = lock(&held.rollout);
        r.targets
            .iter()
            .enumerate()
            .filter(|(_, t)| t.state == TargetState::Pending)
            .map(|(i, _)| i)
            .collect()
    };
    for at in never {
        let _ = set_target(rollouts, held, at, TargetState::Cancelled, why.to_owned(), None).await;
    }
}

/// Why the rollout must halt: a started group whose failures pass the error threshold.
pub(super) fn over_threshold(rollout: &Rollout, started: &[u32]) -> Option<String> {
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
