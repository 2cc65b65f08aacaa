//! Steering a rollout (pause, resume, cancel, retry-failed) and the ways of selecting devices.

use std::time::Duration;

use serde_json::{json, Value};

use super::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pause_resume_cancel_and_retry_failed_steer_a_rollout() {
    let service = Service::start().await;
    let first = service.register_kws(21).await;
    let second = service.register_kws(22).await;
    let names: Vec<String> = (0..4).map(|i| format!("s-{i}")).collect();
    let mut clients = Vec::new();
    for name in &names {
        clients.push(arduino(service.coap, name, false).await);
    }
    service.described(&names).await;

    // Paused at once: nothing more starts; resumed, it completes.
    let (status, r) = service
        .post(
            "/rollouts",
            json!({ "model": first, "devices": names, "concurrency": 1 }),
        )
        .await;
    assert_eq!(status, 202, "{r:#}");
    let id = r["id"].as_str().unwrap().to_owned();
    let (status, paused) = service.post(&format!("/rollouts/{id}/pause"), json!({})).await;
    assert_eq!(status, 200, "{paused:#}");
    assert_eq!(paused["state"], "paused");
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let held = service.get(&format!("/rollouts/{id}")).await;
    assert_eq!(held["state"], "paused", "{held:#}");
    let moved = |r: &Value| {
        r["targets"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|t| t["state"] != "pending")
            .count()
    };
    // At most the delivery that was already under way when the pause came.
    assert!(moved(&held) <= 1, "{held:#}");
    let (status, problem) = service.post(&format!("/rollouts/{id}/pause"), json!({})).await;
    assert_eq!(status, 409, "pausing a paused rollout: {problem:#}");
    let (status, _) = service.post(&format!("/rollouts/{id}/resume"), json!({})).await;
    assert_eq!(status, 200);
    let done = service.finished(&id).await;
    assert_eq!(done["state"], "completed", "{done:#}");
    assert_eq!(done["summary"]["installed"], 4, "{done:#}");

    // Cancelled at once (through GraphQL): the devices not yet started are never touched.
    let (status, answer) = service
        .post(
            "/graphql",
            json!({
                "query": "mutation ($input: RolloutInput!) { startRollout(input: $input) { id state } }",
                "variables": { "input": { "model": second, "devices": names, "concurrency": 1 } }
            }),
        )
        .await;
    assert_eq!(status, 200, "{answer:#}");
    let id = answer["data"]["startRollout"]["id"].as_str().unwrap().to_owned();
    let (status, answer) = service
        .post(
            "/graphql",
            json!({ "query": format!("mutation {{ cancelRollout(id: \"{id}\") {{ id }} }}") }),
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(answer["data"]["cancelRollout"]["id"], id.as_str(), "{answer:#}");
    let (_, refused) = service
        .post(
            "/graphql",
            json!({ "query": format!("mutation {{ pauseRollout(id: \"{id}x\") {{ id }} }}") }),
        )
        .await;
    assert_eq!(refused["errors"][0]["extensions"]["code"], "NOT_FOUND", "{refused:#}");
    let done = service.finished(&id).await;
    assert_eq!(done["state"], "cancelled", "{done:#}");
    let cancelled = done["summary"]["cancelled"].as_u64().unwrap_or(0);
    let installed = done["summary"]["installed"].as_u64().unwrap_or(0);
    assert_eq!(cancelled + installed, 4, "{done:#}");
    assert!(cancelled >= 3, "{done:#}");
    let touched = clients.iter().filter(|c| c.installed().len() > 1).count() as u64;
    assert_eq!(touched, installed, "only the devices it reached run the second model");
    let (status, _) = service.post(&format!("/rollouts/{id}/resume"), json!({})).await;
    assert_eq!(status, 409, "a cancelled rollout does not resume");

    // A device offline at its turn fails; once back, retry-failed gives it its turn.
    let late = arduino(service.coap, "late", false).await;
    service.described(&["late".to_owned()]).await;
    late.deregister().await.unwrap();
    drop(late);
    let (status, r) = service
        .post(
            "/rollouts",
            json!({ "model": first, "devices": ["late"], "offlineDeadlineS": 1 }),
        )
        .await;
    assert_eq!(status, 202, "{r:#}");
    let id = r["id"].as_str().unwrap().to_owned();
    let done = service.finished(&id).await;
    assert_eq!(state_of(&done, "late"), "failed", "{done:#}");
    let _back = arduino(service.coap, "late", false).await;
    service.described(&["late".to_owned()]).await;
    let (status, retried) = service.post(&format!("/rollouts/{id}/retry-failed"), json!({})).await;
    assert_eq!(status, 200, "{retried:#}");
    let done = service.finished(&id).await;
    assert_eq!(done["state"], "completed", "{done:#}");
    assert_eq!(state_of(&done, "late"), "installed", "{done:#}");
    let (status, problem) = service.post(&format!("/rollouts/{id}/retry-failed"), json!({})).await;
    assert_eq!(status, 400, "nothing left to retry: {problem:#}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn selections_by_query_and_named_query_and_a_halt_without_rollback() {
    let service = Service::start().await;
    let models = [
        service.register_kws(31).await,
        service.register_kws(32).await,
        service.register_kws(33).await,
    ];
    let _n0 = arduino(service.coap, "n-0", false).await;
    let _n1 = arduino(service.coap, "n-1", false).await;
    let _n2 = arduino(service.coap, "n-2", true).await;
    let names: Vec<String> = (0..3).map(|i| format!("n-{i}")).collect();
    service.described(&names).await;

    // A SELECT picks the devices.
    let (status, r) = service
        .post(
            "/rollouts",
            json!({
                "model": models[0],
                "where": "SELECT ?d WHERE { ?d seam:shortName ?n FILTER(STRSTARTS(?n, \"n-\")) }",
                "errorThresholdPct": 100
            }),
        )
        .await;
    assert_eq!(status, 202, "{r:#}");
    let done = service.finished(r["id"].as_str().unwrap()).await;
    assert_eq!(done["devices"], 3, "{done:#}");
    assert_eq!(done["summary"]["installed"], 2, "{done:#}");
    assert_eq!(state_of(&done, "n-2"), "failed");

    // A halt with rollback off: the devices that installed keep the new model.
    let (status, r) = service
        .post(
            "/rollouts",
            json!({ "model": models[1], "devices": names, "canarySize": 2, "errorThresholdPct": 50, "rollback": false }),
        )
        .await;
    assert_eq!(status, 202, "{r:#}");
    let done = service.finished(r["id"].as_str().unwrap()).await;
    assert_eq!(done["state"], "halted", "{done:#}");
    assert_eq!(state_of(&done, "n-0"), "installed", "{done:#}");
    assert_eq!(state_of(&done, "n-1"), "installed", "{done:#}");
    assert_eq!(state_of(&done, "n-2"), "failed", "{done:#}");

    // A named query picks them: compatible-devices, the SPARQL statement of the rules. The
    // catalog's devices it also names are offline: they fail at their deadline.
    let (status, r) = service
        .post(
            "/rollouts",
            json!({
                "model": models[2],
                "namedQuery": { "name": "compatible-devices", "params": { "model": models[2] } },
                "offlineDeadlineS": 1,
                "errorThresholdPct": 100
            }),
        )
        .await;
    assert_eq!(status, 202, "{r:#}");
    let done = service.finished(r["id"].as_str().unwrap()).await;
    for name in ["n-0", "n-1"] {
        assert_eq!(state_of(&done, name), "installed", "{done:#}");
    }
    assert!(
        done["targets"]
            .as_array()
            .unwrap()
            .iter()
            .any(|t| t["device"] == "line3-acoustic-02"),
        "{done:#}"
    );
    let (status, problem) = service
        .post(
            "/rollouts",
            json!({ "model": models[2], "namedQuery": { "name": "no-such-query" } }),
        )
        .await;
    assert_eq!(status, 400, "{problem:#}");
}
