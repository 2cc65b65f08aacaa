use super::*;

#[test]
fn bodies_and_results_are_bounded() {
    let app = spawn_app(ServiceConfig {
        max_body_bytes: 1024,
        limits: QueryLimits {
            timeout: Duration::from_millis(200),
            max_rows: 10,
            ..QueryLimits::default()
        },
        ..with_token()
    });
    let big = format!("ASK {{ }} # {}", "x".repeat(4096));
    let r = app
        .client
        .post(app.url("/sparql"))
        .header("content-type", "application/sparql-query")
        .body(big.clone())
        .send()
        .unwrap();
    let p = problem(r, StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(p["limit"], 1024);
    let r = app
        .client
        .post(app.url("/update"))
        .bearer_auth("s3cret")
        .header("content-type", "application/sparql-update")
        .body(big)
        .send()
        .unwrap();
    problem(r, StatusCode::PAYLOAD_TOO_LARGE);

    let r = app
        .client
        .get(app.url("/sparql"))
        .query(&[("query", "SELECT * WHERE { ?s ?p ?o }")])
        .send()
        .unwrap();
    problem(r, StatusCode::UNPROCESSABLE_ENTITY);
    let slow = "SELECT (COUNT(*) AS ?n) WHERE { ?a ?b ?c . ?d ?e ?f . ?g ?h ?i }";
    let r = app
        .client
        .get(app.url("/sparql"))
        .query(&[("query", slow)])
        .send()
        .unwrap();
    problem(r, StatusCode::SERVICE_UNAVAILABLE);
    // The server is still healthy after a cancelled query.
    assert_eq!(
        app.client.get(app.url("/health")).send().unwrap().status(),
        StatusCode::OK
    );
}

#[test]
fn deeply_nested_queries_are_refused_and_the_service_lives_on() {
    let app = spawn_app(with_token());
    let n = 1000;
    let chain = |item: &str, op: &str| vec![item; n].join(op);
    let hostile = [
        format!("SELECT * WHERE {{ FILTER({}1{}) }}", "(".repeat(n), ")".repeat(n)),
        format!("SELECT * WHERE {}{}", "{".repeat(n), "}".repeat(n)),
        format!("SELECT * WHERE {{ ?s ?p ?o FILTER({}) }}", chain("?o", " && ")),
        format!("SELECT * WHERE {{ ?s ?p ?o FILTER({} > 0) }}", chain("1", "+")),
        format!("SELECT * WHERE {{ ?s ?p ?o FILTER({} > 0) }}", chain("1", "-1")),
        format!("SELECT * WHERE {{ ?s {} ?o }}", chain("seam:board", "/")),
        format!("SELECT * WHERE {{ ?s ({}) ?o }}", chain("seam:board", "|")),
        format!("SELECT * WHERE {{ {} }}", chain("{ ?s ?p ?o }", " UNION ")),
        format!("SELECT * WHERE {{ ?s ?p ?o {} }}", chain("OPTIONAL { ?s ?p ?o }", " ")),
        format!("SELECT * WHERE {{ ?s ?p ?o {} }}", chain("FILTER(?o)", " ")),
        format!(
            "SELECT * WHERE {{ {}?s ?p ?o{} }}",
            "{ SELECT * WHERE { ".repeat(n),
            " } }".repeat(n)
        ),
    ];
    for query in &hostile {
        let body = problem(post_query(&app, query), StatusCode::BAD_REQUEST);
        assert_eq!(
            body["type"], "https://w3id.org/seam/problems/query-too-complex",
            "{body}"
        );
        health_is_ok(&app);
    }
    // By GET, no token, the same.
    let r = app
        .client
        .get(app.url("/sparql"))
        .query(&[("query", &hostile[0])])
        .send()
        .unwrap();
    problem(r, StatusCode::BAD_REQUEST);
    // Updates are bounded the same way.
    let update = format!("DELETE {{ ?s ?p ?o }} WHERE {{ {} }}", chain("{ ?s ?p ?o }", " UNION "));
    let r = app
        .client
        .post(app.url("/update"))
        .header("Authorization", "Bearer s3cret")
        .header("Content-Type", "application/sparql-update")
        .body(update)
        .send()
        .unwrap();
    problem(r, StatusCode::BAD_REQUEST);
    health_is_ok(&app);
    // Ordinary depth still works.
    let r = post_query(
        &app,
        "SELECT * WHERE { ?s ?p ?o FILTER(((?o = 1) || (?o = 2)) && ?o != 3) } LIMIT 1",
    );
    assert_eq!(r.status(), StatusCode::OK);
}

#[test]
fn order_by_over_mixed_values_answers() {
    let app = spawn_app(with_token());
    // Every term of the seeded graph, ordered: IRIs, blank nodes and literals of many types.
    let r = post_query(&app, "SELECT ?o WHERE { ?s ?p ?o } ORDER BY ?o");
    assert_eq!(r.status(), StatusCode::OK);
    // Values that cannot all be compared by value, in an order that upsets a partial comparison.
    let r = post_query(
        &app,
        r#"SELECT ?v WHERE { VALUES ?v { 10 "9.5" 9.5 "abc" "NaN"^^xsd:double 1e3 "x"@en true
             "2026-01-01T00:00:00Z"^^xsd:dateTime "2026-01-01T00:00:00"^^xsd:dateTime <urn:a> "P1M"^^xsd:duration
             "P30D"^^xsd:duration "11" 2 "z"^^<urn:t> } } ORDER BY ?v"#,
    );
    assert_eq!(r.status(), StatusCode::OK);
    let body: Value = r.json().unwrap();
    let values: Vec<&str> = body["results"]["bindings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| b["v"]["value"].as_str().unwrap())
        .collect();
    // Numbers keep their numeric order among themselves.
    let numbers: Vec<&str> = values
        .iter()
        .copied()
        .filter(|v| ["2", "9.5", "10", "1e3", "1.0E3"].contains(v))
        .collect();
    assert_eq!(numbers.first(), Some(&"2"), "{values:?}");
    health_is_ok(&app);
}

#[test]
fn absurd_match_options_are_refused_and_the_next_request_is_served() {
    let app = spawn_app(with_token());
    for headroom in ["18446744073709551615", "1000001", "99999999999999999999"] {
        let r = app
            .client
            .get(app.url(&format!("/match/line3-acoustic-02?headroomPct={headroom}")))
            .send()
            .unwrap();
        problem(r, StatusCode::BAD_REQUEST);
    }
    let r = app
        .client
        .get(app.url("/match/line3-acoustic-02?latencyBudgetMs=1e300"))
        .send()
        .unwrap();
    problem(r, StatusCode::BAD_REQUEST);
    let r = app.client.get(app.url("/match/line3-acoustic-02")).send().unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    // A model with figures no device could hold is rejected with its reasons, not an overflow.
    let huge = u64::MAX;
    let r = app
        .client
        .post(app.url("/update"))
        .header("Authorization", "Bearer s3cret")
        .header("Content-Type", "application/sparql-update")
        .body(format!(
            "INSERT DATA {{ <urn:model:huge> a seam:Model ; schema:name \"huge\" ; seam:task cat:keyword-spotting ;
               seam:dtype seam:int8 ; seam:params {huge} ; seam:macs {huge} ; seam:weightBytes {huge} ;
               seam:peakActivationBytes {huge} ; seam:method seam:Published }}"
        ))
        .send()
        .unwrap();
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    let r = app
        .client
        .get(app.url("/match/line3-acoustic-02?explain=true&headroomPct=1000"))
        .send()
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let report: Value = r.json().unwrap();
    let rejected = report["rejected"].as_array().unwrap();
    assert!(rejected.iter().any(|m| m["model"] == "urn:model:huge"), "{report}");
    let graphql = app
        .client
        .post(app.url("/graphql"))
        .json(&serde_json::json!({
            "query": "{ fleetMatrix(headroomPct: 2147483647) { device } }"
        }))
        .send()
        .unwrap();
    let body: Value = graphql.json().unwrap();
    assert!(
        body["errors"][0]["message"].as_str().unwrap().contains("out of range"),
        "{body}"
    );
    health_is_ok(&app);
}

#[test]
fn alias_floods_long_documents_and_costly_queries_are_refused() {
    let app = spawn_app(with_token());
    let ask = |query: String| -> Value {
        let r = app
            .client
            .post(app.url("/graphql"))
            .json(&serde_json::json!({ "query": query }))
            .send()
            .unwrap();
        r.json().unwrap()
    };
    let message = |body: &Value| body["errors"][0]["message"].as_str().unwrap_or_default().to_owned();
    // Cheap fields under many aliases: the alias limit.
    let aliases: String = (0..65).map(|i| format!("a{i}: __typename ")).collect();
    let body = ask(format!("{{ {aliases} }}"));
    assert!(message(&body).contains("65 aliases"), "{body}");
    // Sent again, its parse is kept: the limit still holds.
    let body = ask(format!("{{ {aliases} }}"));
    assert!(message(&body).contains("65 aliases"), "sent twice: {body}");
    let aliases: String = (0..64).map(|i| format!("a{i}: __typename ")).collect();
    let body = ask(format!("{{ {aliases} }}"));
    assert!(body["errors"].is_null(), "64 aliases are allowed: {body}");
    // A document of megabytes is not parsed.
    let body = ask(format!("{{ __typename }} # {}", "x".repeat(100_000)));
    assert!(message(&body).contains("bytes"), "{body}");
    // A few aliases of the most expensive field: the complexity limit.
    let aliases: String = (0..8).map(|i| format!("m{i}: fleetMatrix {{ device }} ")).collect();
    let body = ask(format!("{{ {aliases} }}"));
    assert!(message(&body).contains("complex"), "{body}");
    let body = ask(format!("{{ {aliases} }}"));
    assert!(message(&body).contains("complex"), "sent twice: {body}");
    // A flood of distinct documents: each parsed, none refused for it, the process unharmed.
    for n in 0..2 * seam_registry::graphql::documents::MAX_KEPT {
        let body = ask(format!("{{ a{n}: __typename }}"));
        assert_eq!(body["data"][format!("a{n}")], "QueryRoot", "{body}");
    }
    health_is_ok(&app);
}

#[test]
fn declared_oversized_bodies_are_refused_before_they_arrive() {
    use std::io::{Read, Write};
    let app = spawn_app(ServiceConfig {
        max_body_bytes: 1024,
        ..with_token()
    });
    let mut stream = std::net::TcpStream::connect(app.addr).unwrap();
    stream.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    stream
        .write_all(
            b"POST /update HTTP/1.1\r\nHost: seam\r\nAuthorization: Bearer s3cret\r\n\
              Content-Type: application/sparql-update\r\nContent-Length: 100000000000\r\n\r\nINSERT",
        )
        .unwrap();
    let mut answer = vec![0u8; 4096];
    let n = stream.read(&mut answer).unwrap();
    let answer = String::from_utf8_lossy(&answer[..n]);
    assert!(answer.starts_with("HTTP/1.1 413"), "{answer}");
    assert!(answer.contains("application/problem+json"), "{answer}");
}

#[test]
fn a_runaway_update_is_cancelled_at_the_time_limit_and_writes_nothing() {
    let app = spawn_app(ServiceConfig {
        limits: QueryLimits {
            timeout: Duration::from_millis(500),
            ..QueryLimits::default()
        },
        ..with_token()
    });
    let count = "SELECT (COUNT(*) AS ?n) WHERE { ?s ?p ?o }";
    let before = count_json(&post_query(&app, count).json().unwrap());
    let started = std::time::Instant::now();
    let r = app
        .client
        .post(app.url("/update"))
        .header("Authorization", "Bearer s3cret")
        .header("Content-Type", "application/sparql-update")
        .body("INSERT { <urn:x> <urn:p> ?a } WHERE { ?a ?b ?c . ?d ?e ?f . ?g ?h ?i FILTER(?c = ?f && ?f = ?i && ?a != ?d) }")
        .send()
        .unwrap();
    let body = problem(r, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(body["type"], "https://w3id.org/seam/problems/query-timeout");
    assert!(started.elapsed() < Duration::from_secs(2), "{:?}", started.elapsed());
    // The same for a query whose ORDER BY sorts a product.
    let started = std::time::Instant::now();
    let r = post_query(
        &app,
        "SELECT * WHERE { ?a ?b ?c . ?d ?e ?f . ?g ?h ?i } ORDER BY ?c ?f ?i LIMIT 1",
    );
    assert!(r.status().is_client_error() || r.status().is_server_error());
    assert!(started.elapsed() < Duration::from_secs(2), "{:?}", started.elapsed());
    let after = count_json(&post_query(&app, count).json().unwrap());
    assert_eq!(before, after);
    health_is_ok(&app);
}

#[test]
fn order_by_and_distinct_hold_a_bounded_number_of_solutions() {
    use seam_registry::executor::ExecutorLimits;
    let registry = seam_registry::Registry::in_memory()
        .unwrap()
        .with_executor(ExecutorLimits {
            max_sorted_solutions: 1_000,
            ..ExecutorLimits::default()
        });
    registry.seed_if_empty().unwrap();
    let limits = QueryLimits::default();
    // About 1,700 triples: a product of two is about 2.9 million solutions.
    for query in [
        "SELECT ?c ?f WHERE { ?a ?b ?c . ?d ?e ?f } ORDER BY ?c ?f LIMIT 1",
        "SELECT DISTINCT ?a ?d WHERE { ?a ?b ?c . ?d ?e ?f } LIMIT 5000",
    ] {
        let err = registry.query(query, &limits).unwrap_err().to_string();
        assert!(err.contains("more than 1000 solutions"), "{query}: {err}");
    }
    // Within the bound, both work.
    assert!(registry.query("SELECT DISTINCT ?p WHERE { ?s ?p ?o }", &limits).is_ok());
    assert!(registry
        .query("SELECT ?b WHERE { ?b a seam:Board } ORDER BY ?b", &limits)
        .is_ok());
}

#[test]
fn service_and_load_never_reach_other_addresses_or_files() {
    let app = spawn_app(with_token());
    for query in [
        "SELECT * WHERE { SERVICE <http://169.254.169.254/latest/meta-data> { ?s ?p ?o } }",
        "SELECT * WHERE { SERVICE SILENT <file:///etc/passwd> { ?s ?p ?o } }",
    ] {
        let body = problem(post_query(&app, query), StatusCode::FORBIDDEN);
        assert_eq!(body["type"], "https://w3id.org/seam/problems/operation-refused");
    }
    let before = app
        .client
        .get(app.url("/health"))
        .send()
        .unwrap()
        .json::<Value>()
        .unwrap()["triples"]
        .clone();
    let r = app
        .client
        .post(app.url("/update"))
        .bearer_auth("s3cret")
        .header("content-type", "application/sparql-update")
        .body("LOAD <file:///etc/hostname> INTO GRAPH <urn:stolen>")
        .send()
        .unwrap();
    let body = problem(r, StatusCode::FORBIDDEN);
    assert!(body["detail"].as_str().unwrap().contains("LOAD"), "{body}");
    let after = app
        .client
        .get(app.url("/health"))
        .send()
        .unwrap()
        .json::<Value>()
        .unwrap()["triples"]
        .clone();
    assert_eq!(before, after);
}

#[test]
fn service_calls_reach_allowed_endpoints_only() {
    use seam_registry::app::Settings;
    // B: an ordinary registry; A: allowed to call B's SPARQL endpoint, nothing else.
    let (b, _) = crate::helpers::start_application(Settings {
        coap: None,
        ..Settings::ephemeral("")
    });
    let (a, _) = crate::helpers::start_application(Settings {
        coap: None,
        allowed_services: vec![format!("http://{b}/")],
        ..Settings::ephemeral("")
    });
    let client = reqwest::blocking::Client::new();
    let ask = |query: &str| {
        client
            .post(format!("http://{a}/sparql"))
            .header("accept", "application/sparql-results+json")
            .form(&[("query", query)])
            .send()
            .unwrap()
    };
    let federated = format!(
        "SELECT (COUNT(DISTINCT ?b) AS ?n) WHERE {{ SERVICE <http://{b}/sparql> {{ ?b a seam:Board ; seam:ramBytes ?ram }} }}"
    );
    let r = ask(&federated);
    assert_eq!(r.status(), StatusCode::OK);
    let body: Value = r.json().unwrap();
    assert!(count_json(&body) >= 12, "{body}");
    // Another port of the same host, a file: IRI, a variable endpoint: refused before anything runs.
    for query in [
        "SELECT * WHERE { SERVICE <http://127.0.0.1:9/sparql> { ?s ?p ?o } }".to_owned(),
        "SELECT * WHERE { SERVICE <file:///etc/passwd> { ?s ?p ?o } }".to_owned(),
        "SELECT * WHERE { SERVICE ?e { ?s ?p ?o } }".to_owned(),
    ] {
        let body = problem(ask(&query), StatusCode::FORBIDDEN);
        assert_eq!(
            body["type"], "https://w3id.org/seam/problems/operation-refused",
            "{query}"
        );
    }
}
