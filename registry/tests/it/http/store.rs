//! `/store`: the SPARQL 1.1 Graph Store HTTP Protocol on named graphs, through the same ingest
//! and validation as `seam load`.

use reqwest::blocking::RequestBuilder;
use reqwest::StatusCode;

use super::*;

const GRAPH: &str = "https://example.org/graphs/line-3";

fn send(request: RequestBuilder, media: &str, body: &str) -> reqwest::blocking::Response {
    request
        .bearer_auth("s3cret")
        .header("content-type", media)
        .body(body.to_owned())
        .send()
        .unwrap()
}

fn read(app: &App, graph: &str) -> (StatusCode, String) {
    let r = app
        .client
        .get(app.url("/store"))
        .query(&[("graph", graph)])
        .header("accept", "application/n-triples")
        .send()
        .unwrap();
    (r.status(), r.text().unwrap())
}

#[test]
fn graphs_are_put_read_added_to_and_dropped_exactly() {
    let app = spawn_app(with_token());
    let url = format!("{}?graph={GRAPH}", app.url("/store"));
    let first = "<urn:line3:cell-1> <https://schema.org/name> \"Cell 1\" .";
    let r = send(app.client.put(&url), "text/turtle", first);
    assert_eq!(r.status(), StatusCode::CREATED);
    let (status, text) = read(&app, GRAPH);
    assert_eq!(status, StatusCode::OK);
    assert!(text.contains("Cell 1"), "{text}");
    // PUT replaces.
    let second = "<urn:line3:cell-2> <https://schema.org/name> \"Cell 2\" .";
    assert_eq!(
        send(app.client.put(&url), "text/turtle", second).status(),
        StatusCode::NO_CONTENT
    );
    let (_, text) = read(&app, GRAPH);
    assert!(text.contains("Cell 2") && !text.contains("Cell 1"), "{text}");
    // POST adds, JSON-LD included.
    let jsonld = r#"{"@id": "urn:line3:cell-3", "https://schema.org/name": "Cell 3"}"#;
    assert_eq!(
        send(app.client.post(&url), "application/ld+json", jsonld).status(),
        StatusCode::NO_CONTENT
    );
    let (_, text) = read(&app, GRAPH);
    assert!(text.contains("Cell 2") && text.contains("Cell 3"), "{text}");
    let body: Value = app
        .client
        .get(app.url("/sparql"))
        .query(&[(
            "query",
            format!("SELECT (COUNT(*) AS ?n) WHERE {{ GRAPH <{GRAPH}> {{ ?s ?p ?o }} }}"),
        )])
        .send()
        .unwrap()
        .json()
        .unwrap();
    assert_eq!(count_json(&body), 2);
    // DELETE drops it; a second DELETE finds nothing.
    let r = app.client.delete(&url).bearer_auth("s3cret").send().unwrap();
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    assert_eq!(read(&app, GRAPH).0, StatusCode::NOT_FOUND);
    let r = app.client.delete(&url).bearer_auth("s3cret").send().unwrap();
    problem(r, StatusCode::NOT_FOUND);
}

#[test]
fn bad_bodies_and_requests_are_problems_and_change_nothing() {
    let app = spawn_app(with_token());
    let url = format!("{}?graph={GRAPH}", app.url("/store"));
    let ok = "<urn:a> <urn:b> \"c\" .";
    assert_eq!(
        send(app.client.put(&url), "text/turtle", ok).status(),
        StatusCode::CREATED
    );
    let before = read(&app, GRAPH).1;
    // A syntax error: its line and column.
    let r = send(
        app.client.put(&url),
        "text/turtle",
        "<urn:a> <urn:b> \"c\" .\n<urn:d> <urn:e> .",
    );
    let body = problem(r, StatusCode::BAD_REQUEST);
    assert!(body["detail"].as_str().unwrap().contains("2:"), "{body}");
    // A shape violation: a device with two RAM figures.
    let invalid = "@prefix seam: <https://w3id.org/seam/ontology#> .\n<urn:dev:x> a seam:Board ; seam:ramBytes 1, 2 .";
    problem(
        send(app.client.post(&url), "text/turtle", invalid),
        StatusCode::BAD_REQUEST,
    );
    assert_eq!(read(&app, GRAPH).1, before, "nothing changed");
    // The default graph is not replaced wholesale; a graph must be named; bodies are RDF.
    let r = send(
        app.client.put(format!("{}?default", app.url("/store"))),
        "text/turtle",
        ok,
    );
    problem(r, StatusCode::METHOD_NOT_ALLOWED);
    problem(
        app.client.get(app.url("/store")).send().unwrap(),
        StatusCode::BAD_REQUEST,
    );
    let r = app
        .client
        .get(app.url("/store"))
        .query(&[("graph", "not an iri")])
        .send()
        .unwrap();
    problem(r, StatusCode::BAD_REQUEST);
    problem(
        send(app.client.put(&url), "text/csv", "a,b"),
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
    );
    // Without the token: 401, and still nothing changed.
    let r = app.client.delete(&url).send().unwrap();
    problem(r, StatusCode::UNAUTHORIZED);
    assert_eq!(read(&app, GRAPH).1, before);
    // The default graph reads (the catalog is there).
    let r = app
        .client
        .get(format!("{}?default", app.url("/store")))
        .header("accept", "text/turtle")
        .send()
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert!(r.text().unwrap().contains("seam:"), "Turtle with SEAM's prefixes");
}
