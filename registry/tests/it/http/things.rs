//! The Thing Description Directory over real HTTP: create, replace, read, patch, list, delete,
//! with the token for writes, `validationErrors` for invalid TDs, and exact graphs.

use reqwest::StatusCode;
use serde_json::{json, Value};

use super::{problem, with_token};
use crate::helpers::{spawn_app, TestApp as App};

const TD: &str = "application/td+json";

fn lamp(id: &str, title: &str) -> Value {
    json!({
        "@context": "https://www.w3.org/2022/wot/td/v1.1",
        "id": id,
        "title": title,
        "securityDefinitions": {"nosec_sc": {"scheme": "nosec"}},
        "security": "nosec_sc",
        "properties": {"status": {"type": "object",
            "properties": {"on": {"type": "boolean"}},
            "forms": [{"href": "https://lamp.example.com/status"}]}}
    })
}

fn write(app: &App, method: reqwest::Method, path: &str, body: &Value, token: bool) -> reqwest::blocking::Response {
    let mut request = app
        .client
        .request(method, app.url(path))
        .header("Content-Type", TD)
        .body(body.to_string());
    if token {
        request = request.bearer_auth("s3cret");
    }
    request.send().unwrap()
}

/// Triples in the named graph of `id`.
fn in_graph(app: &App, id: &str) -> u64 {
    let query = format!("SELECT (COUNT(*) AS ?n) WHERE {{ GRAPH <{id}> {{ ?s ?p ?o }} }}");
    let body: Value = app
        .client
        .get(app.url("/search/sparql"))
        .query(&[("query", query.as_str())])
        .header("Accept", "application/sparql-results+json")
        .send()
        .unwrap()
        .json()
        .unwrap();
    super::count_json(&body)
}

#[test]
fn a_td_is_created_replaced_patched_read_and_deleted_exactly() {
    let app = spawn_app(with_token());
    let id = "urn:example:lamp";
    let r = write(
        &app,
        reqwest::Method::PUT,
        &format!("/things/{id}"),
        &lamp(id, "Lamp"),
        true,
    );
    assert_eq!(r.status(), StatusCode::CREATED);
    assert_eq!(r.headers()["location"], id);
    let triples = in_graph(&app, id);
    assert!(triples > 10, "{triples}");
    // The same TD again: replaced, not duplicated (its blank nodes included).
    let r = write(
        &app,
        reqwest::Method::PUT,
        &format!("/things/{id}"),
        &lamp(id, "Lamp"),
        true,
    );
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    assert_eq!(in_graph(&app, id), triples);

    let read = app.client.get(app.url(&format!("/things/{id}"))).send().unwrap();
    assert_eq!(read.status(), StatusCode::OK);
    assert_eq!(read.headers()["content-type"], TD);
    let served: Value = read.json().unwrap();
    // What was put, member for member, enriched with the registration and the Discovery context.
    for (name, value) in lamp(id, "Lamp").as_object().unwrap() {
        if name != "@context" {
            assert_eq!(&served[name], value, "{name}");
        }
    }
    assert_eq!(
        served["@context"],
        json!([
            "https://www.w3.org/2022/wot/td/v1.1",
            "https://www.w3.org/2022/wot/discovery"
        ])
    );
    let created = served["registration"]["created"].as_str().unwrap().to_owned();
    let head = app.client.head(app.url(&format!("/things/{id}"))).send().unwrap();
    assert_eq!(head.status(), StatusCode::OK);
    assert!(head.bytes().unwrap().is_empty());

    // A merge patch changes the title, keeps the creation date, moves the modification date.
    let r = app
        .client
        .patch(app.url(&format!("/things/{id}")))
        .bearer_auth("s3cret")
        .header("Content-Type", "application/merge-patch+json")
        .body(r#"{"title": "Lamp 2", "description": "patched"}"#)
        .send()
        .unwrap();
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    let served: Value = app
        .client
        .get(app.url(&format!("/things/{id}")))
        .send()
        .unwrap()
        .json()
        .unwrap();
    assert_eq!(served["title"], "Lamp 2");
    assert_eq!(served["description"], "patched");
    assert_eq!(served["registration"]["created"], created.as_str());
    assert_ne!(served["registration"]["modified"], served["registration"]["created"]);
    // A patch that breaks the TD is refused and changes nothing.
    let r = app
        .client
        .patch(app.url(&format!("/things/{id}")))
        .bearer_auth("s3cret")
        .header("Content-Type", "application/merge-patch+json")
        .body(r#"{"title": null}"#)
        .send()
        .unwrap();
    let body = problem(r, StatusCode::BAD_REQUEST);
    assert_eq!(body["validationErrors"][0]["constraint"], "required", "{body}");
    let served: Value = app
        .client
        .get(app.url(&format!("/things/{id}")))
        .send()
        .unwrap()
        .json()
        .unwrap();
    assert_eq!(served["title"], "Lamp 2");

    let r = app
        .client
        .delete(app.url(&format!("/things/{id}")))
        .bearer_auth("s3cret")
        .send()
        .unwrap();
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    assert_eq!(in_graph(&app, id), 0);
    problem(
        app.client.get(app.url(&format!("/things/{id}"))).send().unwrap(),
        StatusCode::NOT_FOUND,
    );
    problem(
        app.client
            .delete(app.url(&format!("/things/{id}")))
            .bearer_auth("s3cret")
            .send()
            .unwrap(),
        StatusCode::NOT_FOUND,
    );
}

#[test]
fn anonymous_tds_get_an_id_and_invalid_ones_are_refused_with_their_errors() {
    let app = spawn_app(with_token());
    let mut anonymous = lamp("x", "Anonymous lamp");
    anonymous.as_object_mut().unwrap().remove("id");
    let r = write(&app, reqwest::Method::POST, "/things", &anonymous, true);
    assert_eq!(r.status(), StatusCode::CREATED);
    let location = r.headers()["location"].to_str().unwrap().to_owned();
    assert!(location.starts_with("urn:uuid:"), "{location}");
    let served: Value = app
        .client
        .get(app.url(&format!("/things/{location}")))
        .send()
        .unwrap()
        .json()
        .unwrap();
    assert_eq!(served["id"].as_str().unwrap(), location);
    // POST is for anonymous TDs.
    problem(
        write(
            &app,
            reqwest::Method::POST,
            "/things",
            &lamp("urn:example:x", "X"),
            true,
        ),
        StatusCode::BAD_REQUEST,
    );
    // An id in the path and another in the TD.
    problem(
        write(
            &app,
            reqwest::Method::PUT,
            "/things/urn:example:a",
            &lamp("urn:example:b", "B"),
            true,
        ),
        StatusCode::BAD_REQUEST,
    );
    // No title, no security, a minimum that is not a number: every error, nothing stored.
    let bad = json!({
        "@context": "https://www.w3.org/2022/wot/td/v1.1",
        "securityDefinitions": {"nosec_sc": {"scheme": "nosec"}},
        "properties": {"level": {"type": "integer", "minimum": "ten", "forms": [{"href": "https://x.example/level"}]}}
    });
    let body = problem(
        write(&app, reqwest::Method::PUT, "/things/urn:example:bad", &bad, true),
        StatusCode::BAD_REQUEST,
    );
    let errors = body["validationErrors"].as_array().unwrap();
    let fields: Vec<&str> = errors.iter().map(|e| e["field"].as_str().unwrap()).collect();
    assert!(fields.contains(&"/properties/level/minimum"), "{body}");
    assert!(
        errors
            .iter()
            .any(|e| e["description"].as_str().unwrap().contains("title")),
        "{body}"
    );
    assert_eq!(in_graph(&app, "urn:example:bad"), 0);
    // Not JSON, not an object, nested beyond reason: refused, and the service lives on.
    for text in ["{\"title\": ", "[1, 2]", &"[".repeat(100_000)] {
        let r = app
            .client
            .put(app.url("/things/urn:example:broken"))
            .bearer_auth("s3cret")
            .header("Content-Type", TD)
            .body(text.to_owned())
            .send()
            .unwrap();
        problem(r, StatusCode::BAD_REQUEST);
    }
    super::health_is_ok(&app);
}

#[test]
fn writes_need_the_token_and_reads_do_not() {
    let app = spawn_app(with_token());
    let id = "urn:example:guarded";
    assert_eq!(
        write(
            &app,
            reqwest::Method::PUT,
            &format!("/things/{id}"),
            &lamp(id, "G"),
            true
        )
        .status(),
        StatusCode::CREATED
    );
    problem(
        write(
            &app,
            reqwest::Method::PUT,
            &format!("/things/{id}"),
            &lamp(id, "Changed"),
            false,
        ),
        StatusCode::UNAUTHORIZED,
    );
    problem(
        write(&app, reqwest::Method::POST, "/things", &lamp(id, "x"), false),
        StatusCode::UNAUTHORIZED,
    );
    problem(
        app.client.delete(app.url(&format!("/things/{id}"))).send().unwrap(),
        StatusCode::UNAUTHORIZED,
    );
    problem(
        app.client
            .patch(app.url(&format!("/things/{id}")))
            .header("Content-Type", "application/merge-patch+json")
            .body("{\"title\": \"x\"}")
            .send()
            .unwrap(),
        StatusCode::UNAUTHORIZED,
    );
    let served: Value = app
        .client
        .get(app.url(&format!("/things/{id}")))
        .send()
        .unwrap()
        .json()
        .unwrap();
    assert_eq!(served["title"], "G");
}

#[test]
fn the_listing_pages_with_links_and_the_directory_describes_itself() {
    let app = spawn_app(with_token());
    for n in 0..3 {
        let id = format!("urn:example:lamp-{n}");
        assert_eq!(
            write(
                &app,
                reqwest::Method::PUT,
                &format!("/things/{id}"),
                &lamp(&id, "L"),
                true
            )
            .status(),
            StatusCode::CREATED
        );
    }
    let first = app.client.get(app.url("/things?limit=2")).send().unwrap();
    assert_eq!(first.status(), StatusCode::OK);
    assert_eq!(first.headers()["x-total-count"], "3");
    let link = first.headers()["link"].to_str().unwrap().to_owned();
    assert!(link.contains("</things?offset=2&limit=2>; rel=\"next\""), "{link}");
    let page: Vec<Value> = first.json().unwrap();
    let ids: Vec<&str> = page.iter().map(|t| t["id"].as_str().unwrap()).collect();
    assert_eq!(ids, ["urn:example:lamp-0", "urn:example:lamp-1"]);
    let last = app.client.get(app.url("/things?offset=2&limit=2")).send().unwrap();
    assert!(!last.headers()["link"].to_str().unwrap().contains("next"));
    assert_eq!(last.json::<Vec<Value>>().unwrap().len(), 1);
    problem(
        app.client.get(app.url("/things?limit=-1")).send().unwrap(),
        StatusCode::BAD_REQUEST,
    );
    problem(
        app.client.get(app.url("/things?sort=x")).send().unwrap(),
        StatusCode::BAD_REQUEST,
    );

    // The directory's own TD is a valid TD by the directory's own checks.
    let own: Value = app
        .client
        .get(app.url("/.well-known/wot"))
        .send()
        .unwrap()
        .json()
        .unwrap();
    let violations = seam_registry::ingest::td::violations(&own).unwrap();
    assert!(violations.is_empty(), "{violations:?}");
    assert_eq!(own["@type"], "ThingDirectory");
}

/// Reads Server-Sent Events from `response` until `n` events have come (comments skipped):
/// (id, event type, data).
fn read_events(response: reqwest::blocking::Response, n: usize) -> Vec<(u64, String, Value)> {
    use std::io::BufRead as _;
    let mut lines = std::io::BufReader::new(response).lines();
    let mut events = Vec::new();
    let (mut id, mut kind, mut data) = (0, String::new(), Value::Null);
    while events.len() < n {
        let line = lines.next().expect("the stream ended").unwrap();
        if let Some(v) = line.strip_prefix("id: ") {
            id = v.parse().unwrap();
        } else if let Some(v) = line.strip_prefix("event: ") {
            kind = v.to_owned();
        } else if let Some(v) = line.strip_prefix("data: ") {
            data = serde_json::from_str(v).unwrap();
        } else if line.is_empty() && !kind.is_empty() {
            events.push((id, std::mem::take(&mut kind), std::mem::take(&mut data)));
        }
    }
    events
}

#[test]
fn subscribers_see_created_updated_and_deleted_in_order_and_can_resume() {
    let app = spawn_app(with_token());
    let all = app.client.get(app.url("/events?diff=true")).send().unwrap();
    assert_eq!(all.status(), StatusCode::OK);
    assert_eq!(all.headers()["content-type"], "text/event-stream");
    let deletions = app.client.get(app.url("/events/thing_deleted")).send().unwrap();
    let id = "urn:example:evented";
    write(
        &app,
        reqwest::Method::PUT,
        &format!("/things/{id}"),
        &lamp(id, "One"),
        true,
    );
    write(
        &app,
        reqwest::Method::PUT,
        &format!("/things/{id}"),
        &lamp(id, "Two"),
        true,
    );
    app.client
        .delete(app.url(&format!("/things/{id}")))
        .bearer_auth("s3cret")
        .send()
        .unwrap();
    let events = read_events(all, 3);
    let kinds: Vec<&str> = events.iter().map(|e| e.1.as_str()).collect();
    assert_eq!(kinds, ["thing_created", "thing_updated", "thing_deleted"]);
    assert!(events.iter().all(|e| e.2["id"] == id));
    assert_eq!(events[0].2["title"], "One", "the created TD with diff=true");
    // The update's diff is what changed (and the modification date), not the whole TD.
    assert_eq!(events[1].2["title"], "Two");
    assert!(events[1].2.get("securityDefinitions").is_none(), "{}", events[1].2);
    let numbers: Vec<u64> = events.iter().map(|e| e.0).collect();
    assert!(numbers.windows(2).all(|w| w[0] < w[1]), "{numbers:?}");
    let only = read_events(deletions, 1);
    assert_eq!(only[0].1, "thing_deleted");
    assert_eq!(only[0].2, json!({"id": id}));
    // A client that saw the first event resumes after it.
    let resumed = app
        .client
        .get(app.url("/events"))
        .header("Last-Event-ID", numbers[0].to_string())
        .send()
        .unwrap();
    let replayed = read_events(resumed, 2);
    assert_eq!(replayed.iter().map(|e| e.0).collect::<Vec<_>>(), numbers[1..]);
    assert_eq!(replayed[0].2, json!({"id": id}), "without diff=true, only the id");
    problem(
        app.client.get(app.url("/events/thing_exploded")).send().unwrap(),
        StatusCode::NOT_FOUND,
    );
    problem(
        app.client
            .get(app.url("/events"))
            .header("Last-Event-ID", "yesterday")
            .send()
            .unwrap(),
        StatusCode::BAD_REQUEST,
    );
}

/// A TD registered with a lifetime (`registration.ttl`, seconds) carries its expiry, is served
/// until then, and is gone after it (from reads, listings and its graph), with a deletion
/// event; a lifetime that is not one is refused.
#[test]
fn a_td_with_a_time_to_live_expires_and_is_purged() {
    let app = spawn_app(with_token());
    let id = "urn:example:brief";
    let mut td = lamp(id, "Brief");
    td["registration"] = json!({"ttl": 1, "created": "1999-01-01T00:00:00Z"});
    assert_eq!(
        write(&app, reqwest::Method::PUT, &format!("/things/{id}"), &td, true).status(),
        StatusCode::CREATED
    );
    let served: Value = app
        .client
        .get(app.url(&format!("/things/{id}")))
        .send()
        .unwrap()
        .json()
        .unwrap();
    assert_eq!(served["registration"]["ttl"], 1);
    assert!(served["registration"]["expires"].is_string(), "{served}");
    assert_ne!(
        served["registration"]["created"], "1999-01-01T00:00:00Z",
        "the directory says when"
    );
    let events = app.client.get(app.url("/events/thing_deleted")).send().unwrap();
    std::thread::sleep(std::time::Duration::from_millis(1_200));
    let listed: Vec<Value> = app.client.get(app.url("/things")).send().unwrap().json().unwrap();
    assert!(listed.iter().all(|t| t["id"] != id), "{listed:?}");
    problem(
        app.client.get(app.url(&format!("/things/{id}"))).send().unwrap(),
        StatusCode::NOT_FOUND,
    );
    assert_eq!(in_graph(&app, id), 0);
    assert_eq!(read_events(events, 1)[0].2, json!({"id": id}));

    for registration in [
        json!({"ttl": "soon"}),
        json!({"ttl": -5}),
        json!({"expires": "2001-01-01T00:00:00Z"}),
        json!({"expires": "tomorrow"}),
    ] {
        let mut td = lamp(id, "Bad lifetime");
        td["registration"] = registration.clone();
        problem(
            write(&app, reqwest::Method::PUT, &format!("/things/{id}"), &td, true),
            StatusCode::BAD_REQUEST,
        );
    }
}

/// GraphQL's `putThing` checks a TD as `PUT /things/{id}` does, with the same
/// `validationErrors`; what it puts is the directory's (read back by `thing` and over HTTP, told
/// to the event stream).
#[test]
fn graphql_puts_things_with_the_same_checks() {
    let app = spawn_app(with_token());
    let gql = |query: &str, variables: Value, token: bool| -> Value {
        let mut request = app
            .client
            .post(app.url("/graphql"))
            .json(&json!({"query": query, "variables": variables}));
        if token {
            request = request.bearer_auth("s3cret");
        }
        request.send().unwrap().json().unwrap()
    };
    let events = app.client.get(app.url("/events")).send().unwrap();
    let put = "mutation($td: String!) { putThing(td: $td) { id created } }";
    let id = "urn:example:graphql-lamp";
    let td = lamp(id, "Over GraphQL").to_string();
    let first = gql(put, json!({"td": td}), true);
    assert_eq!(first["data"]["putThing"], json!({"id": id, "created": true}), "{first}");
    let again = gql(put, json!({"td": td}), true);
    assert_eq!(again["data"]["putThing"]["created"], false, "{again}");
    let anonymous = gql(put, json!({"td": lamp("x", "x").to_string()}), false);
    assert!(anonymous["data"].is_null(), "{anonymous}");
    let mut bad = lamp(id, "x");
    bad.as_object_mut().unwrap().remove("title");
    let refused = gql(put, json!({"td": bad.to_string()}), true);
    let error = &refused["errors"][0];
    assert_eq!(error["extensions"]["code"], "BAD_USER_INPUT", "{refused}");
    assert_eq!(
        error["extensions"]["validationErrors"][0]["constraint"], "required",
        "{refused}"
    );
    let read = gql("query($id: String!) { thing(id: $id) }", json!({"id": id}), false);
    let served: Value = serde_json::from_str(read["data"]["thing"].as_str().unwrap()).unwrap();
    assert_eq!(served["title"], "Over GraphQL");
    let over_http: Value = app
        .client
        .get(app.url(&format!("/things/{id}")))
        .send()
        .unwrap()
        .json()
        .unwrap();
    assert_eq!(over_http, served);
    let deleted = gql(
        "mutation($id: String!) { deleteThing(id: $id) }",
        json!({"id": id}),
        true,
    );
    assert_eq!(deleted["data"]["deleteThing"], true, "{deleted}");
    let kinds: Vec<String> = read_events(events, 3).into_iter().map(|e| e.1).collect();
    assert_eq!(kinds, ["thing_created", "thing_updated", "thing_deleted"]);
}

/// The sweep the service runs every half minute purges expired TDs that nobody reads: before
/// it, a SPARQL search still finds them; after it, their graphs are gone.
#[test]
fn the_sweep_purges_expired_tds_nobody_read() {
    let registry = crate::helpers::seeded();
    let directory = seam_registry::directory::Directory::new(registry.clone(), std::sync::Arc::default());
    let mut td = lamp("urn:example:swept", "Swept");
    td["registration"] = json!({"ttl": 1});
    directory.put(None, &td.to_string(), false).unwrap();
    directory
        .put(None, &lamp("urn:example:kept", "Kept").to_string(), false)
        .unwrap();
    let things = || -> usize {
        let answer = registry
            .query(
                "SELECT ?t WHERE { GRAPH ?t { ?t a td:Thing } }",
                &seam_registry::QueryLimits::default(),
            )
            .unwrap();
        match answer {
            seam_registry::QueryAnswer::Solutions { rows, .. } => rows.len(),
            _ => panic!("solutions expected"),
        }
    };
    assert_eq!(things(), 2);
    std::thread::sleep(std::time::Duration::from_millis(1_200));
    assert_eq!(things(), 2, "nobody read it: still there");
    assert_eq!(directory.purge_expired().unwrap(), 1);
    assert_eq!(things(), 1);
    assert_eq!(directory.purge_expired().unwrap(), 0);
}
