//! The scenario on a remote store: catalog, 50 simulated devices registered over LwM2M,
//! matching, a model compiled and delivered to all of them, on Oxigraph server and on Virtuoso;
//! and two instances on one store, which agree on what runs where.

use std::time::Duration;

use serde_json::json;

use super::*;
use crate::peers;

fn on(peer: &peers::Peer) -> seam_registry::store::RemoteConfig {
    let mut config = seam_registry::store::RemoteConfig::new(peer.query_url.clone());
    config.staleness = Duration::from_millis(300);
    config
}

/// Registers `n` Arduinos named `{prefix}-{i}` with `service` and waits until they are described.
async fn fleet(service: &Service, prefix: &str, n: usize) -> (Vec<String>, Vec<Lwm2mClient>) {
    let names: Vec<String> = (0..n).map(|i| format!("{prefix}-{i}")).collect();
    let clients = futures_join_all(names.iter().map(|name| arduino(service.coap, name, false))).await;
    service.described(&names).await;
    (names, clients)
}

async fn scenario(store: Option<seam_registry::store::RemoteConfig>) {
    let service = Service::start_on(store).await;
    let model = service.register_kws(11).await;
    let (names, clients) = fleet(&service, "field", 50).await;
    let report = service.get("/match/field-7").await;
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
            json!({ "model": model, "devices": names, "canaryPct": 10, "errorThresholdPct": 0 }),
        )
        .await;
    assert_eq!(status, 202, "{started:#}");
    let done = service.finished(started["id"].as_str().unwrap()).await;
    assert_eq!(done["state"], "completed", "{done:#}");
    assert_eq!(done["summary"]["installed"], 50, "{done:#}");
    let sha = done["builds"][0]["artifact"].as_str().unwrap().to_owned();
    for client in &clients {
        assert_eq!(client.installed(), std::slice::from_ref(&sha), "{}", client.name());
    }
    let running = service.named("running-models", &[("model", &model)]).await;
    assert_eq!(running.len(), 50, "{running:#?}");
    graphql_answers_as_match(&service, "field-7").await;
    a_thing_description_is_kept_exactly(&service).await;
}

/// GraphQL's `compatibleModels` names the models `/match` names, in its order, each the same way.
async fn graphql_answers_as_match(service: &Service, device: &str) {
    let by_match = service.get(&format!("/match/{device}")).await;
    let by_match: Vec<(Value, Value)> = by_match["compatible"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| (c["model"].clone(), c["via"].clone()))
        .collect();
    let query = format!("{{ compatibleModels(device: \"{device}\") {{ compatible {{ model via }} }} }}");
    let (status, answer) = service
        .send(
            reqwest::Method::POST,
            "/graphql",
            "application/json",
            json!({ "query": query }).to_string(),
        )
        .await;
    assert_eq!(status, 200, "{answer:#}");
    let by_graphql: Vec<(Value, Value)> = answer["data"]["compatibleModels"]["compatible"]
        .as_array()
        .unwrap_or_else(|| panic!("{answer:#}"))
        .iter()
        .map(|c| (c["model"].clone(), c["via"].clone()))
        .collect();
    assert!(!by_match.is_empty());
    assert_eq!(by_graphql, by_match);
}

/// The Thing Description Directory on the store: a TD put twice is kept once, in its own graph,
/// and deleting it removes exactly that graph.
async fn a_thing_description_is_kept_exactly(service: &Service) {
    let id = "urn:example:remote-lamp";
    let td = json!({
        "@context": "https://www.w3.org/2022/wot/td/v1.1",
        "id": id,
        "title": "Remote lamp",
        "securityDefinitions": {"nosec_sc": {"scheme": "nosec"}},
        "security": "nosec_sc",
        "properties": {"status": {"type": "object",
            "properties": {"on": {"type": "boolean"}},
            "forms": [{"href": "https://lamp.example.com/status"}]}}
    });
    let in_graph = || async {
        let rows = service
            .sparql(&format!(
                "SELECT (COUNT(*) AS ?n) WHERE {{ GRAPH <{id}> {{ ?s ?p ?o }} }}"
            ))
            .await;
        rows[0]["n"]["value"].as_str().unwrap().parse::<u64>().unwrap()
    };
    let path = format!("/things/{id}");
    let (status, body) = service
        .send(reqwest::Method::PUT, &path, "application/td+json", td.to_string())
        .await;
    assert_eq!(status, 201, "{body:#}");
    let once = in_graph().await;
    assert!(once > 10, "{once}");
    let (status, body) = service
        .send(reqwest::Method::PUT, &path, "application/td+json", td.to_string())
        .await;
    assert_eq!(status, 204, "{body:#}");
    assert_eq!(in_graph().await, once);
    let served = service.get(&path).await;
    assert_eq!(served["title"], "Remote lamp", "{served:#}");
    let (status, body) = service
        .send(reqwest::Method::DELETE, &path, "application/td+json", String::new())
        .await;
    assert_eq!(status, 204, "{body:#}");
    assert_eq!(in_graph().await, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fifty_devices_get_a_model_with_the_graph_on_oxigraph_server() {
    let peer = peers::oxigraph();
    scenario(Some(on(&peer))).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fifty_devices_get_a_model_with_the_graph_embedded() {
    scenario(None).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fifty_devices_get_a_model_with_the_graph_on_virtuoso() {
    let peer = peers::virtuoso();
    scenario(Some(on(&peer))).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_instances_on_one_store_see_each_others_devices_and_rollouts() {
    let peer = peers::oxigraph();
    let a = Service::start_on(Some(on(&peer))).await;
    let b = Service::start_on(Some(on(&peer))).await;
    let model = a.register_kws(12).await;
    // Devices talk to A's LwM2M server; B matches them, from its own fleet index.
    let (names, _clients) = fleet(&a, "shared", 4).await;
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let response = b.client.get(format!("{}/match/shared-3", b.http)).send().await.unwrap();
        if response.status().as_u16() == 200 {
            let report: Value = response.json().await.unwrap();
            assert!(
                report["compatible"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .any(|c| c["model"] == model.as_str()),
                "{report:#}"
            );
            break;
        }
        assert!(Instant::now() < deadline, "B never saw the device A registered");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // A rollout started on A is B's to read, and both say the same about what runs where.
    let (status, started) = a
        .post(
            "/rollouts",
            json!({ "model": model, "devices": names, "errorThresholdPct": 0 }),
        )
        .await;
    assert_eq!(status, 202, "{started:#}");
    let id = started["id"].as_str().unwrap().to_owned();
    let seen_on_b = b.get(&format!("/rollouts/{id}")).await;
    assert_eq!(seen_on_b["id"], id.as_str(), "{seen_on_b:#}");
    let done = a.finished(&id).await;
    assert_eq!(done["state"], "completed", "{done:#}");
    let on_a = a.named("running-models", &[("model", &model)]).await;
    let on_b = b.named("running-models", &[("model", &model)]).await;
    assert_eq!(on_a.len(), 4, "{on_a:#?}");
    assert_eq!(on_a, on_b);
    let finished_on_b = b.finished(&id).await;
    assert_eq!(finished_on_b["summary"]["installed"], 4, "{finished_on_b:#}");
    // A third service starting on the store recovers only what it served itself: the devices
    // online with A stay online.
    let online = "ASK { ?d seam:shortName \"shared-0\" ; seam:status seam:Online }";
    assert!(a.ask(online).await, "shared-0 is online with A");
    let c = Service::start_on(Some(on(&peer))).await;
    assert!(c.ask(online).await, "C's start marked A's device offline");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lost_store_answers_503_and_the_service_recovers_when_it_is_back() {
    let mut peer = peers::oxigraph();
    let port = reqwest::Url::parse(&peer.query_url).unwrap().port().unwrap();
    let service = Service::start_on(Some(on(&peer))).await;
    let ask = || async {
        service
            .client
            .get(format!("{}/sparql", service.http))
            .query(&[("query", "ASK { ?s ?p ?o }")])
            .header("Accept", "application/sparql-results+json")
            .send()
            .await
            .unwrap()
    };
    assert_eq!(ask().await.status().as_u16(), 200);
    peer.kill();
    let lost = ask().await;
    assert_eq!(lost.status().as_u16(), 503);
    assert_eq!(lost.headers()["retry-after"], "5");
    assert_eq!(lost.headers()["content-type"], "application/problem+json");
    let problem: Value = lost.json().await.unwrap();
    assert!(
        problem["type"].as_str().unwrap().ends_with("store-unavailable"),
        "{problem:#}"
    );
    let (status, refused) = service
        .post("/rollouts", json!({ "model": "nothing", "devices": ["x"] }))
        .await;
    assert!(status >= 400, "{refused:#}");
    // Back where it was (empty: an in-memory server): the same service reaches it again.
    let _back = tokio::task::spawn_blocking(move || peers::oxigraph_on(port))
        .await
        .unwrap();
    let again = ask().await;
    assert_eq!(again.status().as_u16(), 200);
}
