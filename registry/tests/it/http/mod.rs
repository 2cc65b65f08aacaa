//! The HTTP service on a real socket (port 0) over a seeded in-memory store, spoken to with a
//! real HTTP client: the SPARQL 1.1 Protocol, update authorisation, limits, and problem details.

use std::time::Duration;

use reqwest::StatusCode;
use seam_registry::http::ServiceConfig;
use seam_registry::QueryLimits;
use serde_json::Value;

use crate::helpers::{spawn_app, TestApp as App};

mod access;
mod hostile;
mod metrics;
mod models;
mod named;
mod page;
mod protocol;
mod store;
mod things;

fn with_token() -> ServiceConfig {
    ServiceConfig {
        token: Some("s3cret".into()),
        ..ServiceConfig::default()
    }
}

const BOARDS: &str = "SELECT (COUNT(DISTINCT ?b) AS ?n) WHERE { ?b a/rdfs:subClassOf* s3n:SmartSensor }";

fn count_json(body: &Value) -> u64 {
    body["results"]["bindings"][0]["n"]["value"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap()
}

fn problem(resp: reqwest::blocking::Response, status: StatusCode) -> Value {
    assert_eq!(resp.status(), status);
    assert_eq!(resp.headers()["content-type"], "application/problem+json");
    let body: Value = resp.json().unwrap();
    assert_eq!(body["status"], status.as_u16());
    assert!(body["type"]
        .as_str()
        .unwrap()
        .starts_with("https://w3id.org/seam/problems/"));
    assert!(!body["detail"].as_str().unwrap().is_empty());
    body
}

/// POSTs a query as a form (deep queries are too long for a URL).
fn post_query(app: &App, query: &str) -> reqwest::blocking::Response {
    app.client
        .post(app.url("/sparql"))
        .form(&[("query", query)])
        .send()
        .unwrap()
}

fn health_is_ok(app: &App) {
    let r = app.client.get(app.url("/health")).send().unwrap();
    assert_eq!(
        r.status(),
        StatusCode::OK,
        "the service must outlive every hostile request"
    );
}
