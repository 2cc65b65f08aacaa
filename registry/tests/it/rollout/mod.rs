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
use serde_json::Value;

mod delivery;
mod refusals;
mod remote;
mod steering;

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
        Self::start_on(None).await
    }

    /// The service with its graph in `store` (a remote SPARQL store), or in memory.
    async fn start_on(store: Option<seam_registry::store::RemoteConfig>) -> Self {
        let mut settings = Settings::ephemeral(TOKEN);
        settings.store = store;
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

    /// `method` on `path` with the token and a body of `content_type`: the status and the body
    /// as JSON (`Null` when there is none).
    async fn send(&self, method: reqwest::Method, path: &str, content_type: &str, body: String) -> (u16, Value) {
        let response = self
            .client
            .request(method, format!("{}{path}", self.http))
            .bearer_auth(TOKEN)
            .header("Content-Type", content_type)
            .body(body)
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

    /// A query's answer from `/sparql`, as SPARQL results JSON.
    async fn sparql_json(&self, query: &str) -> Value {
        self.client
            .get(format!("{}/sparql", self.http))
            .query(&[("query", query)])
            .header("Accept", "application/sparql-results+json")
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap()
    }

    /// The rows of a SELECT.
    async fn sparql(&self, query: &str) -> Vec<Value> {
        let body = self.sparql_json(query).await;
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

    /// The answer to an ASK.
    async fn ask(&self, query: &str) -> bool {
        self.sparql_json(query).await["boolean"] == true
    }

    /// Waits until every device named is described with a board.
    async fn described(&self, names: &[String]) {
        let deadline = Instant::now() + Duration::from_secs(30);
        for name in names {
            let described = format!("ASK {{ ?d seam:shortName \"{name}\" ; seam:board ?b ; seam:status seam:Online }}");
            while !self.ask(&described).await {
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
