//! What is refused, and that a refusal starts nothing.

use serde_json::{json, Value};

use super::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_rollouts_are_precise_problems_and_start_nothing() {
    let service = Service::start().await;
    let model = service.register_kws(3).await;
    let _device = arduino(service.coap, "solo", false).await;
    service.described(&["solo".to_owned()]).await;
    let cases = [
        (
            json!({ "model": "https://example.org/nope", "compatible": true }),
            422,
            "unknown-model",
        ),
        (json!({ "model": model, "devices": ["ghost"] }), 422, "unknown-devices"),
        (
            json!({ "model": model, "where": "ASK { ?s ?p ?o }" }),
            400,
            "invalid-selection",
        ),
        (
            json!({ "model": model, "where": "SELECT ?d WHERE {" }),
            400,
            "invalid-selection",
        ),
        (json!({ "model": model }), 400, "invalid-rollout"),
        (
            json!({ "model": model, "devices": ["solo"], "compatible": true }),
            400,
            "invalid-rollout",
        ),
        (
            json!({ "model": model, "devices": ["solo"], "concurrency": 1e12 }),
            400,
            "invalid-json",
        ),
        (
            json!({ "model": model, "devices": ["solo"], "canaryPct": 150 }),
            400,
            "invalid-rollout",
        ),
        (
            json!({ "model": model, "devices": ["solo"], "bogus": 1 }),
            400,
            "invalid-json",
        ),
        // A catalog model the graph describes but holds no file for.
        (
            json!({ "model": "https://w3id.org/seam/catalog/kws-dscnn-int8", "compatible": true }),
            422,
            "no-model-file",
        ),
        // A device with no microphone: the model runs nowhere, with the reason.
        (
            json!({ "model": model, "devices": ["hvac-monitor-07"] }),
            422,
            "runs-nowhere",
        ),
    ];
    for (body, status, kind) in cases {
        let (got, problem) = service.post("/rollouts", body.clone()).await;
        assert_eq!(got, status, "{body} → {problem:#}");
        assert!(
            problem["type"].as_str().unwrap_or("").ends_with(kind),
            "{body} → {problem:#}"
        );
        assert!(!problem["detail"].as_str().unwrap_or("").is_empty());
    }
    // Without the token: 401.
    let response = service
        .client
        .post(format!("{}/rollouts", service.http))
        .json(&json!({ "model": model, "devices": ["solo"] }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 401);
    assert_eq!(service.get("/rollouts").await["rollouts"], json!([]));

    // A second rollout to a device already in one is refused while the first is active.
    let (status, first) = service
        .post("/rollouts", json!({ "model": model, "devices": ["solo"] }))
        .await;
    assert_eq!(status, 202);
    let (status, problem) = service
        .post("/rollouts", json!({ "model": model, "devices": ["solo"] }))
        .await;
    assert_eq!(status, 409, "{problem:#}");
    assert!(problem["detail"].as_str().unwrap().contains("solo"));
    service.finished(first["id"].as_str().unwrap()).await;
    let unknown = service.post("/rollouts/nope/pause", json!({})).await;
    assert_eq!(unknown.0, 404);
    let unknown = service
        .post(
            &format!("/rollouts/{}/explode", first["id"].as_str().unwrap()),
            json!({}),
        )
        .await;
    assert_eq!(unknown.0, 404);

    // /graphql/ws is a WebSocket for graphql-transport-ws: anything else is a problem.
    for headers in [vec![], vec![("Sec-WebSocket-Protocol", "graphql-transport-ws")]] {
        let mut request = service.client.get(format!("{}/graphql/ws", service.http));
        for (k, v) in headers {
            request = request.header(k, v);
        }
        let response = request.send().await.unwrap();
        assert_eq!(response.status().as_u16(), 400);
        let problem: Value = response.json().await.unwrap();
        assert!(!problem["detail"].as_str().unwrap_or("").is_empty(), "{problem:#}");
    }

    // Hostile but well-formed: 200,000 device names. Refused at once, the detail bounded.
    let many: Vec<String> = (0..200_000).map(|i| format!("ghost-{i}")).collect();
    let (status, problem) = service
        .post("/rollouts", json!({ "model": model, "devices": many }))
        .await;
    assert_eq!(status, 422, "{}", problem["title"]);
    let detail = problem["detail"].as_str().unwrap();
    assert!(detail.len() < 2_000 && detail.contains("and 199980 more"), "{detail}");

    // Concurrent starts for one device: exactly one is started, the others are refused. The
    // device is offline, so the one started stays active (waiting for it) until cancelled.
    let away = arduino(service.coap, "away", false).await;
    service.described(&["away".to_owned()]).await;
    away.deregister().await.unwrap();
    drop(away);
    let starts = (0..8).map(|_| service.post("/rollouts", json!({ "model": model, "devices": ["away"] })));
    let answers = futures_join_all(starts).await;
    let started: Vec<&Value> = answers.iter().filter(|(s, _)| *s == 202).map(|(_, b)| b).collect();
    assert_eq!(started.len(), 1, "{answers:?}");
    assert!(answers.iter().all(|(s, _)| *s == 202 || *s == 409), "{answers:?}");
    let id = started[0]["id"].as_str().unwrap().to_owned();
    let (status, _) = service.post(&format!("/rollouts/{id}/cancel"), json!({})).await;
    assert_eq!(status, 200);
    let done = service.finished(&id).await;
    assert_eq!(done["state"], "cancelled", "{done:#}");
    assert_eq!(state_of(&done, "away"), "cancelled", "{done:#}");
}
