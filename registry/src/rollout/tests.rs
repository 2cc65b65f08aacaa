//! The rollout manager on the real (in-memory) store and a real LwM2M server on loopback: what
//! a restart finds in the graph is what it resumes.

use std::time::Duration;

use seam_lwm2m::server::{Lwm2mServer, ServerConfig};

use super::record;
use super::*;

async fn manager_over(registry: Registry) -> Rollouts {
    let (server, events) = Lwm2mServer::bind("127.0.0.1:0".parse().unwrap(), ServerConfig::default())
        .await
        .unwrap();
    let bridge = Lwm2mBridge::start(registry.clone(), server, events, None).unwrap();
    let fleet = FleetIndex::new(registry.clone());
    Rollouts::start(registry, fleet, Some(bridge), DataDir::scratch().unwrap()).unwrap()
}

fn target(name: &str, group: u32, state: TargetState, previous: Option<&str>) -> Target {
    Target {
        device: name.into(),
        device_iri: format!("urn:example:device:{name}"),
        board: None,
        group: Some(group),
        state,
        reason: String::new(),
        runtime: None,
        backend: None,
        via: Some("as-is".into()),
        artifact: Some("ab".repeat(32)),
        previous_artifact: previous.map(str::to_owned),
    }
}

async fn until_final(rollouts: &Rollouts, id: &str) -> Rollout {
    for _ in 0..200 {
        let r = rollouts.get(id).unwrap();
        if !r.state.is_active() {
            return r;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("rollout {id} did not end: {:?}", rollouts.get(id));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rollout_stopped_while_halting_resumes_its_halt_and_touches_nothing_more() {
    let registry = Registry::in_memory().unwrap();
    registry.seed_if_empty().unwrap();
    // As the graph kept it: the canary failed past a 0% threshold, one device of it installed
    // (nothing to roll back to), the next group still pending.
    let mut spec = RolloutSpec::new("urn:example:model", Selection::Compatible);
    spec.error_threshold_pct = 0.0;
    let rollout = Rollout {
        id: "halting".into(),
        iri: record::rollout_iri("halting").into_string(),
        spec,
        model_name: "m".into(),
        state: RolloutState::Running,
        reason: String::new(),
        started: record::now(),
        ended: None,
        builds: Vec::new(),
        targets: vec![
            target("a", 0, TargetState::Failed, None),
            target("b", 0, TargetState::Installed, None),
            target("c", 1, TargetState::Pending, None),
        ],
        timings: Timings::default(),
    };
    registry.change(|t| record::write_new(t, &rollout, None)).unwrap();

    let rollouts = manager_over(registry.clone()).await;
    let ended = until_final(&rollouts, "halting").await;
    assert_eq!(ended.state, RolloutState::Halted, "{ended:#?}");
    let state = |name: &str| ended.targets.iter().find(|t| t.device == name).unwrap().state;
    assert_eq!(state("c"), TargetState::Cancelled);
    assert_eq!(state("b"), TargetState::Installed);
    // And the graph says so, for the next restart.
    let kept = record::read_all(&registry).unwrap();
    let kept = kept.iter().find(|r| r.id == "halting").unwrap();
    assert_eq!(kept.state, RolloutState::Halted);
    assert!(kept.targets.iter().all(|t| t.state.is_final()), "{kept:#?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_rollout_in_the_graph_is_read_back_with_its_devices_in_delivery_order() {
    let registry = Registry::in_memory().unwrap();
    registry.seed_if_empty().unwrap();
    let rollout = Rollout {
        id: "done".into(),
        iri: record::rollout_iri("done").into_string(),
        spec: RolloutSpec::new("urn:example:model", Selection::Devices(vec!["z".into(), "y".into()])),
        model_name: "m".into(),
        state: RolloutState::Completed,
        reason: "2 installed".into(),
        started: record::now(),
        ended: Some(record::now()),
        builds: Vec::new(),
        targets: vec![
            target("y", 0, TargetState::Installed, Some(&"cd".repeat(32))),
            target("z", 1, TargetState::Installed, None),
        ],
        timings: Timings::default(),
    };
    registry.change(|t| record::write_new(t, &rollout, None)).unwrap();
    let rollouts = manager_over(registry).await;
    let read = rollouts.get("done").unwrap();
    assert_eq!(read.spec, rollout.spec);
    assert_eq!(read.targets, rollout.targets);
    assert_eq!(read.state, RolloutState::Completed);
    assert_eq!(read.reason, "2 installed");
    assert!(read.ended.is_some());
}
