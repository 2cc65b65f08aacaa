use super::*;

#[test]
fn health_reports_ok() {
    let app = spawn_app(ServiceConfig::default());
    let body: Value = app.client.get(app.url("/health")).send().unwrap().json().unwrap();
    assert_eq!(body["status"], "ok");
    assert!(body["triples"].as_u64().unwrap() > 1000);
}

#[test]
fn query_by_get_form_and_direct_post_agree() {
    let app = spawn_app(ServiceConfig::default());
    let get: Value = app
        .client
        .get(app.url("/sparql"))
        .query(&[("query", BOARDS)])
        .send()
        .unwrap()
        .json()
        .unwrap();
    let form: Value = app
        .client
        .post(app.url("/sparql"))
        .form(&[("query", BOARDS)])
        .send()
        .unwrap()
        .json()
        .unwrap();
    let direct = app
        .client
        .post(app.url("/sparql"))
        .header("content-type", "application/sparql-query")
        .body(BOARDS)
        .send()
        .unwrap();
    assert_eq!(direct.headers()["content-type"], "application/sparql-results+json");
    let direct: Value = direct.json().unwrap();
    assert!(count_json(&get) >= 12, "{get}");
    assert_eq!(count_json(&get), count_json(&form));
    assert_eq!(count_json(&get), count_json(&direct));
}

#[test]
fn results_formats_follow_accept() {
    let app = spawn_app(ServiceConfig::default());
    let ask = |accept: &str, q: &str| {
        let r = app
            .client
            .get(app.url("/sparql"))
            .query(&[("query", q)])
            .header("accept", accept)
            .send()
            .unwrap();
        let ct = r.headers()["content-type"].to_str().unwrap().to_owned();
        (r.status(), ct, r.text().unwrap())
    };
    let q = "SELECT ?name WHERE { cat:raspberrypi-pico rdfs:label ?name }";
    let (_, ct, xml) = ask("application/sparql-results+xml", q);
    assert!(
        ct.starts_with("application/sparql-results+xml") && xml.contains("<literal>Raspberry Pi Pico</literal>"),
        "{xml}"
    );
    let (_, ct, csv) = ask("text/csv", q);
    assert!(
        ct.starts_with("text/csv") && csv.starts_with("name\r\nRaspberry Pi Pico"),
        "{csv:?}"
    );
    let (_, ct, tsv) = ask("text/tab-separated-values", q);
    assert!(
        ct.starts_with("text/tab-separated-values") && tsv.contains("\"Raspberry Pi Pico\""),
        "{tsv:?}"
    );
    let (_, _, boolean) = ask(
        "application/sparql-results+json",
        "ASK { cat:raspberrypi-pico a seam:Board }",
    );
    assert!(boolean.contains("\"boolean\":true"), "{boolean}");

    let c = "CONSTRUCT { cat:raspberrypi-pico seam:ramBytes ?r } WHERE { cat:raspberrypi-pico seam:ramBytes ?r }";
    let (_, ct, ttl) = ask("text/turtle", c);
    assert!(ct.starts_with("text/turtle") && ttl.contains("270336"), "{ttl}");
    let (_, ct, nt) = ask("application/n-triples", c);
    assert!(
        ct.starts_with("application/n-triples") && nt.contains("<https://w3id.org/seam/catalog/raspberrypi-pico>"),
        "{nt}"
    );
    let (_, ct, jsonld) = ask("application/ld+json", c);
    assert!(ct.starts_with("application/ld+json"), "{ct}");
    let parsed: Value = serde_json::from_str(&jsonld).unwrap();
    assert!(parsed.to_string().contains("270336"), "{jsonld}");

    let (status, ct, _) = ask("image/png", q);
    assert_eq!(status, StatusCode::NOT_ACCEPTABLE);
    assert_eq!(ct, "application/problem+json");
}

#[test]
fn malformed_query_is_a_400_problem_with_position() {
    let app = spawn_app(ServiceConfig::default());
    let r = app
        .client
        .get(app.url("/sparql"))
        .query(&[("query", "SELECT ?x\nWHERE { ?x a }")])
        .send()
        .unwrap();
    let p = problem(r, StatusCode::BAD_REQUEST);
    assert_eq!(p["line"], 2, "{p}");
    assert!(p["column"].as_u64().is_some(), "{p}");

    let missing = app.client.get(app.url("/sparql")).send().unwrap();
    problem(missing, StatusCode::BAD_REQUEST);
    let twice = app
        .client
        .get(app.url("/sparql?query=ASK%7B%7D&query=ASK%7B%7D"))
        .send()
        .unwrap();
    problem(twice, StatusCode::BAD_REQUEST);
    let bad_encoding = app.client.get(app.url("/sparql?query=%FF%FE")).send().unwrap();
    assert_eq!(bad_encoding.status(), StatusCode::BAD_REQUEST);
    let wrong_type = app
        .client
        .post(app.url("/sparql"))
        .header("content-type", "text/plain")
        .body("ASK {}")
        .send()
        .unwrap();
    problem(wrong_type, StatusCode::UNSUPPORTED_MEDIA_TYPE);
    let dataset = app
        .client
        .get(app.url("/sparql"))
        .query(&[("query", "ASK {}"), ("default-graph-uri", "urn:g")])
        .send()
        .unwrap();
    problem(dataset, StatusCode::BAD_REQUEST);
    let unknown = app.client.get(app.url("/nope")).send().unwrap();
    problem(unknown, StatusCode::NOT_FOUND);
}

#[test]
fn updates_need_the_bearer_token() {
    let app = spawn_app(with_token());
    let insert = "INSERT DATA { <urn:seam:test> rdfs:label \"t\" }";
    let send = |auth: Option<&str>| {
        let mut r = app
            .client
            .post(app.url("/update"))
            .header("content-type", "application/sparql-update")
            .body(insert);
        if let Some(a) = auth {
            r = r.header("authorization", a);
        }
        r.send().unwrap()
    };
    let none = send(None);
    assert!(none.headers().contains_key("www-authenticate"));
    problem(none, StatusCode::UNAUTHORIZED);
    problem(send(Some("Bearer wrong")), StatusCode::UNAUTHORIZED);
    problem(send(Some("Basic czNjcmV0")), StatusCode::UNAUTHORIZED);
    let ask = || -> Value {
        app.client
            .get(app.url("/sparql"))
            .query(&[("query", "ASK { <urn:seam:test> ?p ?o }")])
            .send()
            .unwrap()
            .json()
            .unwrap()
    };
    assert_eq!(ask()["boolean"], false, "nothing may be written without the token");
    assert_eq!(send(Some("Bearer s3cret")).status(), StatusCode::NO_CONTENT);
    assert_eq!(ask()["boolean"], true);

    let form = app
        .client
        .post(app.url("/update"))
        .bearer_auth("s3cret")
        .form(&[("update", "DELETE WHERE { <urn:seam:test> ?p ?o }")])
        .send()
        .unwrap();
    assert_eq!(form.status(), StatusCode::NO_CONTENT);
    assert_eq!(ask()["boolean"], false);

    let broken = app
        .client
        .post(app.url("/update"))
        .bearer_auth("s3cret")
        .header("content-type", "application/sparql-update")
        .body("INSERT DATA { <a> ")
        .send()
        .unwrap();
    problem(broken, StatusCode::BAD_REQUEST);
}

#[test]
fn without_a_configured_token_updates_are_refused() {
    let app = spawn_app(ServiceConfig::default());
    let r = app
        .client
        .post(app.url("/update"))
        .bearer_auth("anything")
        .header("content-type", "application/sparql-update")
        .body("CLEAR ALL")
        .send()
        .unwrap();
    problem(r, StatusCode::FORBIDDEN);
    let body: Value = app
        .client
        .get(app.url("/sparql"))
        .query(&[("query", BOARDS)])
        .send()
        .unwrap()
        .json()
        .unwrap();
    assert!(count_json(&body) >= 12);
}

#[test]
fn methods_a_path_does_not_take_get_problems() {
    let app = spawn_app(with_token());
    let r = app.client.delete(app.url("/sparql")).send().unwrap();
    problem(r, StatusCode::METHOD_NOT_ALLOWED);
    let r = app.client.put(app.url("/update")).send().unwrap();
    problem(r, StatusCode::METHOD_NOT_ALLOWED);
}

#[test]
fn the_bearer_scheme_is_matched_without_regard_to_case() {
    let app = spawn_app(with_token());
    for scheme in ["bearer", "BEARER", "Bearer"] {
        let r = app
            .client
            .post(app.url("/update"))
            .header("Authorization", format!("{scheme} s3cret"))
            .header("Content-Type", "application/sparql-update")
            .body("INSERT DATA { <urn:x> <urn:p> 1 }")
            .send()
            .unwrap();
        assert_eq!(r.status(), StatusCode::NO_CONTENT, "{scheme}");
    }
}
