//! Recovering: what a device holds after a restart, and the rollback of a halted rollout.

use super::*;

/// After a restart: asks a device whose delivery was in flight what it holds.
pub(super) async fn verify(rollouts: Rollouts, held: Arc<Held>, bridge: Lwm2mBridge, at: usize) {
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
pub(super) async fn read_slot(
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
pub(super) async fn roll_back(rollouts: &Rollouts, held: &Arc<Held>, bridge: &Lwm2mBridge) {
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
