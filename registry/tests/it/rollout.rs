//! Rollouts end to end: the whole application (real store, HTTP on an ephemeral port, the LwM2M
//! server on loopback UDP), real model files compiled by the bridge, and real LwM2M clients
//! that download, verify and install what they are sent.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use seam_lwm2m::client::{ClientConfig, DeviceProfile, Lwm2mClient};
use seam_lwm2m::coap::TransmissionParams;
use seam_lwm2m::server::ServerConfig;
use seam_registry::app::{Application, Settings};
use seam_registry::bridge::onnx_build;
use serde_json::{json, Value};

const TOKEN: &str = "rollout-token";

fn fast() -> TransmissionParams {
    TransmissionParams::fast(Duration::from_millis(100))
}

struct Service {
    http: String,
    coap: SocketAddr,
    client: reqwest::Client,
}

impl Service {
    async fn start() -> Self {
        let mut settings = Settings::ephemeral(TOKEN);
        settings.lwm2m = ServerConfig {
            params: fast(),
            expiry_check: Duration::from_millis(200),
            delivery_timeout: Duration::from_secs(60),
            state_poll: Duration::from_secs(1),
            ..ServerConfig::default()
        };
        settings.service.workers = 1;
        let app = Application::build(settings).await.unwrap();
        let (http, coap) = (app.http_addr(), app.coap_addr().unwrap());
        tokio::spawn(app.run_until_stopped(std::future::pending()));
        seam_registry::remote::install_tls_provider();
        Self {
            http: format!("http://{http}"),
            coap,
            client: reqwest::Client::builder()
                .timeout(Duration::from_secs(120))
                .build()
                .unwrap(),
        }
    }

    async fn post(&self, path: &str, body: Value) -> (u16, Value) {
        let response = self
            .client
            .post(format!("{}{path}", self.http))
            .bearer_auth(TOKEN)
            .json(&body)
            .send()
            .await
            .unwrap();
        let status = response.status().as_u16();
        (status, response.json().await.unwrap_or(Value::Null))
    }

    async fn get(&self, path: &str) -> Value {
        self.client
            .get(format!("{}{path}", self.http))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap()
    }

    /// Registers a keyword-spotting model (DS-CNN, from the bridge's MLPerf Tiny builders) from
    /// its file; answers its IRI.
    async fn register_kws(&self, seed: u64) -> String {
        let bytes = onnx_build::to_bytes(&onnx_build::ds_cnn(seed).model);
        let response = self
            .client
            .post(format!(
                "{}/models?task=keyword-spotting&input-sensor=microphone&name=kws-{seed}.onnx",
                self.http
            ))
            .bearer_auth(TOKEN)
            .body(bytes)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status().as_u16(), 201);
        let body: Value = response.json().await.unwrap();
        body["model"].as_str().unwrap().to_owned()
    }

    async fn sparql(&self, query: &str) -> Vec<Value> {
        let body: Value = self
            .client
            .get(format!("{}/sparql", self.http))
            .query(&[("query", query)])
            .header("Accept", "application/sparql-results+json")
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        body["results"]["bindings"].as_array().cloned().unwrap_or_default()
    }

    /// The rows of a named query.
    async fn named(&self, name: &str, params: &[(&str, &str)]) -> Vec<Value> {
        let response = self
            .client
            .get(format!("{}/queries/{name}", self.http))
            .query(params)
            .header("Accept", "application/sparql-results+json")
            .send()
            .await
            .unwrap();
        assert_eq!(response.status().as_u16(), 200, "{name}");
        let body: Value = response.json().await.unwrap();
        body["results"]["bindings"].as_array().cloned().unwrap_or_default()
    }

    /// Polls the rollout until it is no longer active.
    async fn finished(&self, id: &str) -> Value {
        let deadline = Instant::now() + Duration::from_secs(120);
        loop {
            let r = self.get(&format!("/rollouts/{id}")).await;
            if ["completed", "halted", "cancelled"].contains(&r["state"].as_str().unwrap_or("")) {
                return r;
            }
            assert!(Instant::now() < deadline, "the rollout did not finish: {r:#}");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Waits until every device named is described with a board.
    async fn described(&self, names: &[String]) {
        let deadline = Instant::now() + Duration::from_secs(30);
        for name in names {
            loop {
                let answer: Value = self
                    .client
                    .get(format!("{}/sparql", self.http))
                    .query(&[(
                        "query",
                        format!("ASK {{ ?d seam:shortName \"{name}\" ; seam:board ?b ; seam:status seam:Online }}"),
                    )])
                    .header("Accept", "application/sparql-results+json")
                    .send()
                    .await
                    .unwrap()
                    .json()
                    .await
                    .unwrap();
                if answer["boolean"] == true {
                    break;
                }
                assert!(Instant::now() < deadline, "{name} was not described");
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
    }
}

/// An Arduino Nano 33 BLE Sense (it has a microphone), registered.
async fn arduino(coap: SocketAddr, name: &str, reject_install: bool) -> Lwm2mClient {
    let mut profile = DeviceProfile::new("Arduino", "ABX00031", &format!("SN-{name}"));
    profile.memory_free_kib = 832;
    profile.memory_total_kib = 1024;
    profile.sensors = vec![3303, 3324];
    let mut config = ClientConfig::new(name, coap, profile);
    config.params = fast();
    config.reject_install = reject_install;
    let client = Lwm2mClient::start(config).await.unwrap();
    client.register().await.unwrap();
    client
}

fn state_of<'a>(rollout: &'a Value, device: &str) -> &'a str {
    rollout["targets"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["device"] == device)
        .and_then(|t| t["state"].as_str())
        .unwrap_or("absent")
}

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

/// Runs futures concurrently (all polled together, on this task) and collects their outputs in
/// order.
async fn futures_join_all<F: std::future::Future>(futures: impl Iterator<Item = F>) -> Vec<F::Output> {
    let mut pinned: Vec<std::pin::Pin<Box<F>>> = futures.map(Box::pin).collect();
    let mut done: Vec<Option<F::Output>> = pinned.iter().map(|_| None).collect();
    std::future::poll_fn(|cx| {
        let mut pending = false;
        for (f, slot) in pinned.iter_mut().zip(done.iter_mut()) {
            if slot.is_none() {
                match f.as_mut().poll(cx) {
                    std::task::Poll::Ready(v) => *slot = Some(v),
                    std::task::Poll::Pending => pending = true,
                }
            }
        }
        if pending {
            std::task::Poll::Pending
        } else {
            std::task::Poll::Ready(())
        }
    })
    .await;
    done.into_iter().flatten().collect()
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

    // Cancelled at once: the devices not yet started are never touched.
    let (status, r) = service
        .post(
            "/rollouts",
            json!({ "model": second, "devices": names, "concurrency": 1 }),
        )
        .await;
    assert_eq!(status, 202, "{r:#}");
    let id = r["id"].as_str().unwrap().to_owned();
    let (status, _) = service.post(&format!("/rollouts/{id}/cancel"), json!({})).await;
    assert_eq!(status, 200);
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
