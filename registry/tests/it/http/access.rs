//! Every route of the service and every GraphQL mutation, walked without a token, with a wrong
//! one and with each scope: refusals are exact, and a refused client changes nothing.

use reqwest::blocking::Response;
use reqwest::{Method, StatusCode};
use seam_registry::access::{Access, Reads, Scope, TokenFile};
use seam_registry::http::ServiceConfig;
use serde_json::{json, Value};

use crate::helpers::{spawn_app, TestApp as App};

/// A concrete path for a route pattern.
fn concrete(pattern: &str) -> String {
    pattern
        .replace("{file}", "app.js")
        .replace("{id:.*}", "urn:uuid:0b5a2d8e-0000-4000-8000-000000000001")
        .replace("{kind}", "thing_created")
        .replace("{name}", "compatible-models")
        .replace("{device}", "line3-acoustic-02")
        .replace("{action}", "pause")
        .replace("{endpoint}", "no-such-device")
        .replace("{id}", "r-none")
}

/// An answer, read to its end.
struct Answer {
    status: StatusCode,
    challenge: String,
    body: String,
}

impl Answer {
    fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("{e}: {}", self.body))
    }
}

fn send(app: &App, method: &str, path: &str, token: Option<&str>) -> Answer {
    let method = Method::from_bytes(method.as_bytes()).unwrap();
    let mut request = app.client.request(method.clone(), app.url(path));
    if method != Method::GET && method != Method::HEAD {
        request = request.header("content-type", "application/json").body("{}");
    }
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    let resp: Response = request.send().unwrap();
    let status = resp.status();
    let challenge = resp
        .headers()
        .get("www-authenticate")
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default();
    // An event stream never ends: its first bytes are enough.
    let body = if resp
        .headers()
        .get("content-type")
        .is_some_and(|v| v.to_str().unwrap().starts_with("text/event-stream"))
    {
        String::new()
    } else {
        resp.text().unwrap()
    };
    Answer {
        status,
        challenge,
        body,
    }
}

fn triples(app: &App) -> u64 {
    let health: Value = app.client.get(app.url("/health")).send().unwrap().json().unwrap();
    health["triples"].as_u64().unwrap()
}

struct Fleet {
    app: App,
    /// One token per scope, in `Scope::ALL` order.
    tokens: Vec<(Scope, String)>,
    _dir: tempfile::TempDir,
}

fn fleet(reads: Reads) -> Fleet {
    let dir = tempfile::tempdir().unwrap();
    let file = TokenFile::at(dir.path().join("tokens.json"));
    let tokens = Scope::ALL
        .into_iter()
        .map(|scope| (scope, file.create(&format!("only-{scope}"), &[scope]).unwrap().secret))
        .collect();
    let app = spawn_app(ServiceConfig {
        token: None,
        tokens_file: Some(file.path().to_owned()),
        reads,
        ..ServiceConfig::default()
    });
    Fleet { app, tokens, _dir: dir }
}

fn refused(status: StatusCode) -> bool {
    status == StatusCode::UNAUTHORIZED || status == StatusCode::FORBIDDEN
}

#[test]
fn every_route_refuses_a_missing_wrong_or_underscoped_token() {
    let Fleet { app, tokens, _dir } = fleet(Reads::Closed);
    let before = triples(&app);
    let routes: Vec<_> = seam_registry::http::routes::surface().collect();
    assert!(routes.len() > 40, "the table lists every route");
    // The table itself: every method that changes something needs a scope, but for the POSTs
    // that only carry a read (a query too long for a URL); GraphQL checks mutations itself.
    const READING_POSTS: [&str; 4] = ["/sparql", "/search/sparql", "/queries/{name}", "/graphql"];
    for (method, pattern, access) in &routes {
        let reads = matches!(*method, "GET" | "HEAD") || (*method == "POST" && READING_POSTS.contains(pattern));
        assert_eq!(
            reads,
            !matches!(access, Access::Scoped(_)),
            "{method} {pattern} is {access:?}"
        );
    }
    let scope_of = |m: &str, p: &str| routes.iter().find(|r| r.0 == m && r.1 == p).map(|r| r.2);
    assert_eq!(scope_of("POST", "/update"), Some(Access::Scoped(Scope::Write)));
    assert_eq!(scope_of("POST", "/rollouts"), Some(Access::Scoped(Scope::Deploy)));
    assert_eq!(scope_of("POST", "/deployments"), Some(Access::Scoped(Scope::Deploy)));
    for (method, pattern, access) in &routes {
        let path = concrete(pattern);
        let needed = match access {
            Access::Public => None,
            Access::Read => Some(Scope::Read),
            Access::Scoped(scope) => Some(*scope),
        };
        // Without a token, and with one nobody issued.
        for token in [
            None,
            Some("seam_0000000000000000000000000000000000000000000000000000000000000000"),
        ] {
            let resp = send(&app, method, &path, token);
            let status = resp.status;
            match needed {
                None => assert!(!refused(status), "{method} {pattern} is public, got {status}"),
                Some(scope) => {
                    assert_eq!(
                        status,
                        StatusCode::UNAUTHORIZED,
                        "{method} {pattern} without a valid token"
                    );
                    let challenge = &resp.challenge;
                    assert!(challenge.starts_with("Bearer realm=\"seam\""), "{challenge}");
                    if token.is_some() {
                        assert!(challenge.contains("invalid_token"), "{method} {pattern}: {challenge}");
                    } else if *method != "HEAD" {
                        let body = resp.json();
                        assert_eq!(body["scope"], scope.as_str(), "{method} {pattern}: {body}");
                    }
                }
            }
        }
        // Each scope alone: admin may do everything, every token may read.
        for (scope, token) in &tokens {
            let resp = send(&app, method, &path, Some(token));
            let status = resp.status;
            let allowed = match needed {
                None | Some(Scope::Read) => true,
                Some(needed) => *scope == needed || *scope == Scope::Admin,
            };
            if allowed {
                assert!(
                    !refused(status),
                    "{method} {pattern} with {scope}: {status} {}",
                    resp.body
                );
            } else {
                assert_eq!(status, StatusCode::FORBIDDEN, "{method} {pattern} with {scope}");
                assert!(resp.challenge.contains("insufficient_scope"), "{}", resp.challenge);
                if *method != "HEAD" {
                    let body = resp.json();
                    assert_eq!(body["type"], "https://w3id.org/seam/problems/insufficient-scope");
                }
            }
        }
    }
    // The walk with tokens sent empty bodies: whatever the handlers refused, nothing changed
    // the graph, and the refused calls before them certainly did not.
    assert_eq!(triples(&app), before);
}

#[test]
fn open_reads_need_no_token_and_writes_still_do() {
    let Fleet { app, _dir, .. } = fleet(Reads::Open);
    for (method, pattern, access) in seam_registry::http::routes::surface() {
        let status = send(&app, method, &concrete(pattern), None).status;
        match access {
            Access::Public | Access::Read => assert!(!refused(status), "{method} {pattern}: {status}"),
            Access::Scoped(_) => assert_eq!(status, StatusCode::UNAUTHORIZED, "{method} {pattern}"),
        }
    }
}

#[test]
fn a_service_without_tokens_refuses_every_write_and_says_why() {
    let app = spawn_app(ServiceConfig::default());
    for token in [Some("anything"), None] {
        let resp = send(&app, "POST", "/update", token);
        assert_eq!(resp.status, StatusCode::FORBIDDEN);
        let body = resp.json();
        assert_eq!(body["type"], "https://w3id.org/seam/problems/writes-disabled");
        assert!(
            body["detail"].as_str().unwrap().contains("seam tokens create"),
            "{body}"
        );
    }
}

/// One call of every mutation, with arguments the schema accepts (what they do is not the
/// point: the scope is checked before anything runs).
const MUTATIONS: &[(&str, &str, Scope)] = &[
    (
        "registerDevice",
        r#"registerDevice(input: {shortName: "walk-1", board: "arduino-nano-33-ble-sense"}) { id }"#,
        Scope::Write,
    ),
    (
        "registerModel",
        r#"registerModel(input: {id: "https://example.org/walk-m", name: "walk-m", task: "keyword-spotting", dtype: "seam:int8", params: 1, macs: 1, weightBytes: 1, peakActivationBytes: 1}) { id }"#,
        Scope::Write,
    ),
    ("putThing", r#"putThing(td: "{}") { id }"#, Scope::Write),
    (
        "deleteThing",
        r#"deleteThing(id: "urn:uuid:0b5a2d8e-0000-4000-8000-000000000001")"#,
        Scope::Write,
    ),
    (
        "startRollout",
        r#"startRollout(input: {model: "urn:none", compatible: true}) { id }"#,
        Scope::Deploy,
    ),
    ("pauseRollout", r#"pauseRollout(id: "r-none") { id }"#, Scope::Deploy),
    ("resumeRollout", r#"resumeRollout(id: "r-none") { id }"#, Scope::Deploy),
    ("cancelRollout", r#"cancelRollout(id: "r-none") { id }"#, Scope::Deploy),
    (
        "retryFailedRollout",
        r#"retryFailedRollout(id: "r-none") { id }"#,
        Scope::Deploy,
    ),
];

fn graphql(app: &App, query: &str, token: Option<&str>) -> Value {
    let mut request = app.client.post(app.url("/graphql")).json(&json!({ "query": query }));
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    let resp = request.send().unwrap();
    assert_eq!(resp.status(), StatusCode::OK, "{query}");
    resp.json().unwrap()
}

fn codes(answer: &Value) -> Vec<String> {
    answer["errors"]
        .as_array()
        .map(|errors| {
            errors
                .iter()
                .filter_map(|e| e["extensions"]["code"].as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

#[test]
fn every_mutation_checks_its_scope() {
    let Fleet { app, tokens, _dir } = fleet(Reads::Open);
    // The list above covers the schema: a new mutation must join it.
    let schema = graphql(&app, "{ __schema { mutationType { fields { name } } } }", None);
    let mut fields: Vec<&str> = schema["data"]["__schema"]["mutationType"]["fields"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["name"].as_str().unwrap())
        .collect();
    fields.sort_unstable();
    let mut listed: Vec<&str> = MUTATIONS.iter().map(|(name, _, _)| *name).collect();
    listed.sort_unstable();
    assert_eq!(fields, listed);

    let before = triples(&app);
    for (name, call, needed) in MUTATIONS {
        let query = format!("mutation {{ {call} }}");
        let validation = graphql(&app, &query, Some(&tokens[3].1));
        let unknown = validation["errors"].as_array().into_iter().flatten().any(|e| {
            e["message"].as_str().unwrap_or_default().contains("Unknown")
                || e["locations"].is_array() && e["path"].is_null()
        });
        assert!(!unknown, "{name}: the walk's call must be valid GraphQL: {validation}");
        assert_eq!(
            codes(&graphql(&app, &query, None)),
            ["UNAUTHENTICATED"],
            "{name} without a token"
        );
        for (scope, token) in &tokens {
            let answer = graphql(&app, &query, Some(token));
            let allowed = *scope == *needed || *scope == Scope::Admin;
            if allowed {
                assert!(
                    !codes(&answer)
                        .iter()
                        .any(|c| c == "FORBIDDEN" || c == "UNAUTHENTICATED"),
                    "{name} with {scope}: {answer}"
                );
            } else {
                assert_eq!(codes(&answer), ["FORBIDDEN"], "{name} with {scope}: {answer}");
            }
        }
    }
    // Only the admin's and writer's calls may have written (registerDevice, registerModel).
    assert!(triples(&app) >= before);
}

#[test]
fn graphql_over_http_refuses_a_wrong_token_before_anything_runs() {
    let Fleet { app, _dir, .. } = fleet(Reads::Open);
    let resp = app
        .client
        .post(app.url("/graphql"))
        .bearer_auth("seam_wrong")
        .json(&json!({ "query": "{ __typename }" }))
        .send()
        .unwrap();
    assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);
}

#[test]
fn openapi_describes_every_route_with_its_scope() {
    let Fleet { app, _dir, .. } = fleet(Reads::Open);
    let resp = app.client.get(app.url("/openapi.json")).send().unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    let doc: Value = resp.json().unwrap();
    assert_eq!(doc["openapi"], "3.1.0");
    for (method, pattern, access) in seam_registry::http::routes::surface() {
        let path = pattern.replace("{id:.*}", "{id}");
        let op = &doc["paths"][&path][method.to_ascii_lowercase()];
        assert!(op.is_object(), "{method} {pattern} is described");
        if let Access::Scoped(scope) = access {
            assert_eq!(op["x-seam-scope"], scope.as_str(), "{method} {pattern}");
            assert_eq!(op["security"], json!([{ "bearer": [] }]));
        }
    }
}
