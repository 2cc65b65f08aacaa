//! A model to devices: groups, builds per board, the graph's record, a canary's halt and its
//! rollback, a device offline at its turn.

use serde_json::json;

use super::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_model_rolls_out_to_every_compatible_device_in_groups_and_the_graph_says_what_runs_where() {
    let service = Service::start().await;
    let model = service.register_kws(7).await;
    let names: Vec<String> = (0..5).map(|i| format!("mic-{i}")).collect();
    let mut clients = Vec::new();
    for name in &names {
        clients.push(arduino(service.coap, name, false).await);
    }
    service.described(&names).await;
    // Matching and the rollout agree: the model's batch normalisations, which every backend
    // folds, are no requirement on the runtime.
    let report = service.get("/match/mic-0").await;
    assert!(
        report["compatible"]
            .as_array()
            .unwrap()
            .iter()
            .any(|c| c["model"] == model.as_str()),
        "{report:#}"
    );

    let (status, started) = service
        .post(
            "/rollouts",
            json!({ "model": model, "devices": names, "canaryPct": 20, "errorThresholdPct": 0 }),
        )
        .await;
    assert_eq!(status, 202, "{started:#}");
    let id = started["id"].as_str().unwrap().to_owned();
    assert_eq!(started["groups"].as_array().unwrap().len(), 2, "{started:#}");
    let done = service.finished(&id).await;
    assert_eq!(done["state"], "completed", "{done:#}");
    assert_eq!(done["summary"]["installed"], 5, "{done:#}");
    // One board, one runtime: one build serves every device.
    let builds = done["builds"].as_array().unwrap();
    assert_eq!(builds.len(), 1, "{builds:#?}");
    let sha = builds[0]["artifact"].as_str().unwrap().to_owned();
    for client in &clients {
        assert_eq!(client.installed(), std::slice::from_ref(&sha), "{}", client.name());
    }
    // The graph: each device runs the artifact, by a deployment that is part of the rollout.
    let rows = service
        .sparql(&format!(
            "SELECT ?d WHERE {{ ?d seam:runs <https://w3id.org/seam/artifact/{sha}> .
               ?dep seam:partOf <https://w3id.org/seam/rollout/{id}> ; seam:target ?d ; prov:used ?a }}"
        ))
        .await;
    assert_eq!(rows.len(), 5, "{rows:#?}");
    // The named queries say the same, device by device.
    let running = service.named("running-models", &[("model", &model)]).await;
    assert_eq!(running.len(), 5, "{running:#?}");
    for row in &running {
        assert!(row["artifact"]["value"].as_str().unwrap().ends_with(&sha), "{row:#}");
        assert!(row["rollout"]["value"].as_str().unwrap().ends_with(&id), "{row:#}");
        assert!(row["since"]["value"].as_str().is_some(), "{row:#}");
    }
    let status = service
        .named(
            "rollout-status",
            &[("rollout", &format!("https://w3id.org/seam/rollout/{id}"))],
        )
        .await;
    assert_eq!(status.len(), 1, "{status:#?}");
    assert_eq!(status[0]["deviceState"]["value"], "installed");
    assert_eq!(status[0]["devices"]["value"], "5");
    let history = service.named("device-history", &[("device", "mic-0")]).await;
    assert_eq!(history.len(), 1, "{history:#?}");
    assert_eq!(history[0]["result"]["value"], "installed");
    // GraphQL answers the same rollout.
    let (status, answer) = service
        .post(
            "/graphql",
            json!({ "query": format!("{{ rollout(id: \"{id}\") {{ state counts {{ state devices }} devices {{ device state artifact }} }} rollouts {{ id }} }}") }),
        )
        .await;
    assert_eq!(status, 200, "{answer:#}");
    let r = &answer["data"]["rollout"];
    assert_eq!(r["state"], "completed", "{answer:#}");
    assert_eq!(
        r["counts"],
        json!([{ "state": "installed", "devices": 5 }]),
        "{answer:#}"
    );
    assert_eq!(r["devices"][0]["artifact"], sha.as_str(), "{answer:#}");
    assert_eq!(answer["data"]["rollouts"][0]["id"], id.as_str());
    let listed = service.get("/rollouts").await;
    assert!(listed["rollouts"]
        .as_array()
        .unwrap()
        .iter()
        .any(|r| r["id"] == id.as_str()));

    // Again, to every compatible device: the build is a cache hit, the devices that run it
    // already are not flashed again, and the catalog's devices (offline) fail at their deadline.
    let (status, again) = service
        .post(
            "/rollouts",
            json!({ "model": model, "compatible": true, "errorThresholdPct": 100, "offlineDeadlineS": 1 }),
        )
        .await;
    assert_eq!(status, 202, "{again:#}");
    let again = service.finished(again["id"].as_str().unwrap()).await;
    // One build per board: the Arduino's comes from the cache, with the six devices it serves.
    let arduino_build = again["builds"]
        .as_array()
        .unwrap()
        .iter()
        .find(|b| b["board"].as_str().unwrap_or("").ends_with("arduino-nano-33-ble-sense"))
        .unwrap();
    assert_eq!(arduino_build["cacheHit"], true, "{again:#}");
    assert_eq!(arduino_build["devices"], 6, "{again:#}");
    for name in &names {
        assert_eq!(state_of(&again, name), "installed");
    }
    for client in &clients {
        assert_eq!(client.installed().len(), 1, "{} was flashed again", client.name());
    }
    assert!(again["summary"]["failed"].as_u64().unwrap_or(0) >= 1, "{again:#}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_canary_that_fails_halts_the_rollout_rolls_the_canary_back_and_never_touches_the_rest() {
    let service = Service::start().await;
    let first = service.register_kws(1).await;
    let second = service.register_kws(2).await;
    let refusing = arduino(service.coap, "node-0", true).await;
    let mut healthy = Vec::new();
    for i in 1..5 {
        healthy.push(arduino(service.coap, &format!("node-{i}"), false).await);
    }
    let all: Vec<String> = (0..5).map(|i| format!("node-{i}")).collect();
    service.described(&all).await;

    // Every healthy device runs the first model.
    let (status, r) = service
        .post("/rollouts", json!({ "model": first, "devices": &all[1..] }))
        .await;
    assert_eq!(status, 202, "{r:#}");
    let r = service.finished(r["id"].as_str().unwrap()).await;
    assert_eq!(r["summary"]["installed"], 4, "{r:#}");
    let previous = r["builds"][0]["artifact"].as_str().unwrap().to_owned();

    // The second: a canary of two (node-0 refuses installs, node-1 takes it), 40% error threshold.
    let (status, r) = service
        .post(
            "/rollouts",
            json!({ "model": second, "devices": all, "canarySize": 2, "errorThresholdPct": 40 }),
        )
        .await;
    assert_eq!(status, 202, "{r:#}");
    let id = r["id"].as_str().unwrap().to_owned();
    let r = service.finished(&id).await;
    assert_eq!(r["state"], "halted", "{r:#}");
    assert!(r["reason"].as_str().unwrap().contains("canary"), "{r:#}");
    assert_eq!(state_of(&r, "node-0"), "failed");
    assert_eq!(state_of(&r, "node-1"), "rolled-back", "{r:#}");
    for i in 2..5 {
        assert_eq!(state_of(&r, &format!("node-{i}")), "cancelled");
    }
    let new = r["builds"][0]["artifact"].as_str().unwrap().to_owned();
    assert!(refusing.installed().is_empty());
    assert_eq!(healthy[0].installed(), [previous.clone(), new, previous.clone()]);
    for other in &healthy[1..] {
        assert_eq!(
            other.installed(),
            std::slice::from_ref(&previous),
            "{} was touched",
            other.name()
        );
    }
    // The graph says so: the rollout halted, node-1 runs its earlier artifact again.
    let rows = service
        .sparql(&format!(
            "SELECT ?s WHERE {{ <https://w3id.org/seam/rollout/{id}> seam:state ?s .
               ?n seam:shortName \"node-1\" ; seam:runs <https://w3id.org/seam/artifact/{previous}> }}"
        ))
        .await;
    assert_eq!(rows.len(), 1, "{rows:#?}");
    assert_eq!(rows[0]["s"]["value"], "halted");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_device_offline_at_its_turn_is_waited_for_until_its_deadline_then_fails_with_that_reason() {
    let service = Service::start().await;
    let model = service.register_kws(4).await;
    let _online = arduino(service.coap, "here", false).await;
    // Registered once, then gone: in the graph, offline.
    let gone = arduino(service.coap, "gone", false).await;
    service.described(&["here".to_owned(), "gone".to_owned()]).await;
    gone.deregister().await.unwrap();
    drop(gone);
    let (status, r) = service
        .post(
            "/rollouts",
            json!({ "model": model, "devices": ["gone", "here"], "offlineDeadlineS": 1, "errorThresholdPct": 100 }),
        )
        .await;
    assert_eq!(status, 202, "{r:#}");
    let r = service.finished(r["id"].as_str().unwrap()).await;
    assert_eq!(state_of(&r, "here"), "installed", "{r:#}");
    assert_eq!(state_of(&r, "gone"), "failed", "{r:#}");
    let reason = r["targets"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["device"] == "gone")
        .unwrap()["reason"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(reason.contains("offline"), "{reason}");
}
