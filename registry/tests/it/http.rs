//! The HTTP service on a real socket (port 0) over a seeded in-memory store, spoken to with a
//! real HTTP client: the SPARQL 1.1 Protocol, update authorisation, limits, and problem details.

use std::time::Duration;

use reqwest::StatusCode;
use seam_registry::http::ServiceConfig;
use seam_registry::QueryLimits;
use serde_json::Value;

use crate::helpers::{spawn_app, TestApp as App};

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
fn named_queries_are_listed_and_each_example_runs() {
    let app = spawn_app(ServiceConfig::default());
    let list: Value = app.client.get(app.url("/queries")).send().unwrap().json().unwrap();
    let list = list.as_array().unwrap();
    for name in [
        "compatible-models",
        "compatible-devices",
        "explain",
        "fleet-matrix",
        "inventory",
        "models-by-task",
        "seloc-q1",
        "seloc-q2",
        "seloc-q3",
        "seloc-q4",
    ] {
        let q = list
            .iter()
            .find(|q| q["name"] == name)
            .unwrap_or_else(|| panic!("{name} is not listed"));
        assert!(!q["purpose"].as_str().unwrap().is_empty());
        let example = q["example"].as_str().unwrap_or_else(|| panic!("{name} has no example"));
        let path = example.strip_prefix("GET ").unwrap();
        let r = app.client.get(app.url(path)).send().unwrap();
        assert_eq!(r.status(), StatusCode::OK, "{example}: {}", r.text().unwrap());
        let body: Value = r.json().unwrap();
        assert!(body["results"]["bindings"].is_array(), "{example}");
    }
}

#[test]
fn named_query_parameters_are_typed_and_checked() {
    let app = spawn_app(ServiceConfig::default());
    let get = |q: &str| {
        app.client
            .get(app.url(&format!("/queries/compatible-models{q}")))
            .send()
            .unwrap()
    };
    let ok: Value = get("?device=line3-acoustic-02").json().unwrap();
    let by_iri: Value = get("?device=https%3A%2F%2Fw3id.org%2Fseam%2Fdevice%2Fline3-acoustic-02")
        .json()
        .unwrap();
    assert_eq!(ok, by_iri);
    assert!(ok["results"]["bindings"].as_array().unwrap().len() >= 5);
    problem(get(""), StatusCode::BAD_REQUEST);
    problem(get("?device=line3-acoustic-02&nonsense=1"), StatusCode::BAD_REQUEST);
    problem(
        get("?device=line3-acoustic-02&headroomPct=ten"),
        StatusCode::BAD_REQUEST,
    );
    problem(get("?device=no-such-device"), StatusCode::BAD_REQUEST);
    let injected = get("?device=%22%3E%20%7D%20%3B%20DROP%20ALL%20%3B%20%23");
    assert_eq!(injected.status(), StatusCode::BAD_REQUEST);
    problem(
        app.client.get(app.url("/queries/nope")).send().unwrap(),
        StatusCode::NOT_FOUND,
    );
    // POST with JSON and with a form give the same answer as GET.
    let json: Value = app
        .client
        .post(app.url("/queries/compatible-models"))
        .json(&serde_json::json!({"device": "line3-acoustic-02", "headroomPct": 10}))
        .send()
        .unwrap()
        .json()
        .unwrap();
    assert_eq!(json, ok);
    let form: Value = app
        .client
        .post(app.url("/queries/compatible-models"))
        .form(&[("device", "line3-acoustic-02")])
        .send()
        .unwrap()
        .json()
        .unwrap();
    assert_eq!(form, ok);
    let bad_json = app
        .client
        .post(app.url("/queries/compatible-models"))
        .header("content-type", "application/json")
        .body("[1,2")
        .send()
        .unwrap();
    problem(bad_json, StatusCode::BAD_REQUEST);
    // A string parameter carrying SPARQL is only a string.
    let evil = app
        .client
        .get(app.url("/queries/seloc-q3"))
        .query(&[("descriptionPattern", "\"> } ; DROP ALL ; #")])
        .send()
        .unwrap();
    assert_eq!(evil.status(), StatusCode::OK);
    let health: Value = app.client.get(app.url("/health")).send().unwrap().json().unwrap();
    assert!(health["triples"].as_u64().unwrap() > 1000);
}

#[test]
fn match_endpoint_agrees_with_the_named_query() {
    let app = spawn_app(ServiceConfig::default());
    let report: Value = app
        .client
        .get(app.url("/match/line3-acoustic-02"))
        .send()
        .unwrap()
        .json()
        .unwrap();
    let sparql: Value = app
        .client
        .get(app.url("/queries/compatible-models?device=dev:line3-acoustic-02"))
        .send()
        .unwrap()
        .json()
        .unwrap();
    let fast: Vec<(String, String)> = report["compatible"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            (
                c["model"].as_str().unwrap().to_owned(),
                c["via"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    let rules: Vec<(String, String)> = sparql["results"]["bindings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| {
            (
                b["model"]["value"].as_str().unwrap().to_owned(),
                b["via"]["value"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    assert_eq!(fast, rules);
    assert!(report.get("rejected").is_none());
    let explained: Value = app
        .client
        .get(app.url("/match/line3-acoustic-02?explain=true&latencyBudgetMs=50"))
        .send()
        .unwrap()
        .json()
        .unwrap();
    assert!(!explained["rejected"].as_array().unwrap().is_empty());
    problem(
        app.client.get(app.url("/match/nobody")).send().unwrap(),
        StatusCode::NOT_FOUND,
    );
    problem(
        app.client
            .get(app.url("/match/line3-acoustic-02?latencyBudgetMs=-3"))
            .send()
            .unwrap(),
        StatusCode::BAD_REQUEST,
    );
    problem(
        app.client
            .get(app.url("/match/line3-acoustic-02?explain=maybe"))
            .send()
            .unwrap(),
        StatusCode::BAD_REQUEST,
    );
}

#[test]
fn models_register_from_their_file_and_bad_files_are_problems() {
    let app = spawn_app(with_token());
    let bytes = seam_registry::bridge::onnx_build::to_bytes(&seam_registry::bridge::onnx_build::resnet8(2).model);
    let post = |query: &str, body: Vec<u8>, token: Option<&str>| {
        let mut request = app.client.post(app.url(&format!("/models{query}"))).body(body);
        if let Some(t) = token {
            request = request.bearer_auth(t);
        }
        request.send().unwrap()
    };
    let response = post(
        "?task=image-classification&accuracy=87&input-sensor=camera",
        bytes.clone(),
        Some("s3cret"),
    );
    assert_eq!(response.status().as_u16(), 201);
    let body: Value = response.json().unwrap();
    assert_eq!(body["analysis"]["macs"], 12_501_632);
    let iri = body["model"].as_str().unwrap().to_owned();
    // The model is in the graph, with its measured facts.
    let answer: Value = app
        .client
        .get(app.url("/sparql"))
        .query(&[(
            "query",
            format!("SELECT (COUNT(*) AS ?n) WHERE {{ <{iri}> seam:macs 12501632 ; seam:method seam:Measured }}"),
        )])
        .send()
        .unwrap()
        .json()
        .unwrap();
    assert_eq!(count_json(&answer), 1);

    // A TFLite file registers the same way.
    let tflite = std::fs::read(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../shared/interop/seloc-ml/models/Hello_World.tflite"),
    )
    .unwrap();
    let response = post(
        "?task=anomaly-detection&name=Hello_World.tflite",
        tflite,
        Some("s3cret"),
    );
    assert_eq!(response.status().as_u16(), 201);
    let body: Value = response.json().unwrap();
    assert_eq!(body["analysis"]["format"], "tflite");
    assert_eq!(body["analysis"]["macs"], 288);
    // It is named as the client said, not "upload".
    let named: Value = app
        .client
        .get(app.url("/sparql"))
        .query(&[(
            "query",
            format!(
                "SELECT ?name WHERE {{ <{}> schema:name ?name }}",
                body["model"].as_str().unwrap()
            ),
        )])
        .send()
        .unwrap()
        .json()
        .unwrap();
    assert_eq!(named["results"]["bindings"][0]["name"]["value"], "Hello_World");

    // Refusals are problems: no token, not a model, no task, an unknown parameter.
    assert_eq!(
        post("?task=image-classification", bytes.clone(), None)
            .status()
            .as_u16(),
        401
    );
    for (query, body, status) in [
        ("?task=image-classification", b"garbage".to_vec(), 422),
        // A model not yet in the graph needs its task (the same file again would already have one).
        (
            "",
            seam_registry::bridge::onnx_build::to_bytes(&seam_registry::bridge::onnx_build::fc_autoencoder(2).model),
            400,
        ),
        ("?task=image-classification&colour=blue", bytes.clone(), 400),
        ("?task=image-classification&accuracy=high", bytes.clone(), 400),
        ("?task=image-classification&name=../../x", bytes, 400),
    ] {
        let response = post(query, body, Some("s3cret"));
        assert_eq!(response.status().as_u16(), status, "{query}");
        assert_eq!(
            response.headers()["content-type"],
            "application/problem+json",
            "{query}"
        );
    }
}

/// The remote backend against a real service: the same trait, the artifact validated and signed
/// locally, refusals as problems.
#[test]
fn the_remote_backend_compiles_through_the_service() {
    use seam_registry::bridge::backend::Backend as _;
    use seam_registry::bridge::compile::{compile, Request};
    use seam_registry::bridge::package::{self, Signer};
    use seam_registry::bridge::remote::RemoteBackend;

    let app = spawn_app(with_token());
    let base = app.url("");
    let model = seam_registry::bridge::onnx_build::to_bytes(&seam_registry::bridge::onnx_build::ds_cnn(4).model);
    let remote = RemoteBackend::new(
        "farm-nnef",
        &base,
        "tract-nnef",
        Some("s3cret".into()),
        Duration::from_secs(60),
    );
    assert!(remote.version().starts_with("tract-nnef@"), "{}", remote.version());
    assert!(remote.list().unwrap().iter().any(|b| b.name == "tflite-micro"));

    let dir = tempfile::tempdir().unwrap();
    let signer = Signer::open_or_create(&dir.path().join("key")).unwrap();
    let request = Request::new(&model, "https://w3id.org/seam/model/x", "kws");
    let compiled = compile(&request, &remote, &signer, None).unwrap();
    assert_eq!(compiled.files[0].name, "kws.nnef.tar");
    // The NNEF archive made remotely ran in tract here against the original.
    let validation = compiled.manifest.validation.as_ref().unwrap();
    assert!(
        validation.top1_agreement >= 0.95 && validation.relative_error < 0.01,
        "{validation:?}"
    );
    assert_eq!(compiled.manifest.backend.name, "farm-nnef");
    package::verify(&compiled.package, Some(&signer.public_key_hex())).unwrap();

    // Refusals: no token, an unknown backend, a file that is not a model, an unknown parameter.
    let post = |query: &str, body: Vec<u8>, token: Option<&str>| {
        let mut r = app.client.post(app.url(&format!("/compile{query}"))).body(body);
        if let Some(t) = token {
            r = r.bearer_auth(t);
        }
        r.send().unwrap()
    };
    assert_eq!(post("?backend=c-array", model.clone(), None).status().as_u16(), 401);
    problem(
        post("?backend=tvm", model.clone(), Some("s3cret")),
        StatusCode::NOT_FOUND,
    );
    problem(
        post("?backend=c-array", b"garbage".to_vec(), Some("s3cret")),
        StatusCode::UNPROCESSABLE_ENTITY,
    );
    problem(
        post("?backend=c-array&colour=1", model.clone(), Some("s3cret")),
        StatusCode::BAD_REQUEST,
    );
    problem(post("", model.clone(), Some("s3cret")), StatusCode::BAD_REQUEST);
    // The remote backend reports the service's problem in its error.
    let unknown = RemoteBackend::new("x", &base, "tvm", Some("s3cret".into()), Duration::from_secs(10));
    let job = seam_registry::bridge::backend::Job {
        model: &model,
        stem: "kws",
        target: None,
    };
    let err = unknown.compile(&job).unwrap_err().to_string();
    assert!(err.contains("offers no backend \"tvm\""), "{err}");
    let unauthorised = RemoteBackend::new("y", &base, "c-array", None, Duration::from_secs(10));
    let err = unauthorised.compile(&job).unwrap_err().to_string();
    assert!(err.contains("401"), "{err}");
}

/// `POST /compilations`: the whole compile by the service, and every refusal as a problem.
#[test]
fn compilations_plan_compile_sign_and_refuse_with_problems() {
    let app = spawn_app(with_token());
    let model = seam_registry::bridge::onnx_build::to_bytes(&seam_registry::bridge::onnx_build::ds_cnn(2).model);
    let post = |query: &str, body: Vec<u8>| {
        app.client
            .post(app.url(&format!("/compilations{query}")))
            .bearer_auth("s3cret")
            .body(body)
            .send()
            .unwrap()
    };
    let response = post("?target=edge-gateway-01&stem=kws", model.clone());
    assert_eq!(response.status().as_u16(), 201);
    let body: Value = response.json().unwrap();
    assert_eq!(body["backend"], "tract-nnef", "{body}");
    assert_eq!(body["fit"]["fits"], true, "{body}");
    use base64::Engine as _;
    let package = base64::engine::general_purpose::STANDARD
        .decode(body["package"].as_str().unwrap())
        .unwrap();
    let opened = seam_registry::bridge::package::verify(&package, None).unwrap();
    assert_eq!(opened.files[0].name, "kws.nnef.tar");

    // A compile whose result does not fit its target is refused like `seam compile --target`
    // exits 4: a 409 with the whole report, the figures that do not fit among it.
    let big = seam_registry::bridge::onnx_build::to_bytes(&seam_registry::bridge::onnx_build::resnet8(2).model);
    let answer = problem(post("?target=line3-vibration-01&stem=ic", big), StatusCode::CONFLICT);
    assert_eq!(
        answer["type"], "https://w3id.org/seam/problems/does-not-fit",
        "{answer}"
    );
    assert_eq!(answer["report"]["fit"]["fits"], false, "{answer}");
    assert!(
        answer["report"]["fit"]["ramNeededBytes"].as_u64() > answer["report"]["fit"]["ramFreeBytes"].as_u64(),
        "{answer}"
    );
    assert!(answer["report"]["package"].is_string(), "{answer}");
    assert!(
        answer["report"]["packageUri"].is_null(),
        "a package that does not fit is not shelved"
    );

    for (query, body, status) in [
        ("?backend=c-array&prune=lots", model.clone(), StatusCode::BAD_REQUEST),
        ("?backend=c-array&colour=red", model.clone(), StatusCode::BAD_REQUEST),
        ("?backend=c-array&quantize=int4", model.clone(), StatusCode::BAD_REQUEST),
        ("", model.clone(), StatusCode::BAD_REQUEST),
        ("?backend=tvm", model.clone(), StatusCode::BAD_REQUEST),
        (
            "?backend=c-array",
            b"garbage".to_vec(),
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        ("?target=nobody", model.clone(), StatusCode::NOT_FOUND),
        (
            "?backend=c-array&prune=0.99",
            model.clone(),
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
    ] {
        let answer = problem(post(query, body), status);
        assert!(!answer["detail"].as_str().unwrap().is_empty(), "{query}");
    }
    assert_eq!(
        app.client
            .post(app.url("/compilations?backend=c-array"))
            .body(model)
            .send()
            .unwrap()
            .status()
            .as_u16(),
        401
    );
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
fn many_aliases_of_the_fleet_matrix_exceed_the_complexity_limit() {
    let app = spawn_app(with_token());
    let aliases: String = (0..5000).map(|i| format!("m{i}: fleetMatrix {{ device }} ")).collect();
    let r = app
        .client
        .post(app.url("/graphql"))
        .json(&serde_json::json!({ "query": format!("{{ {aliases} }}") }))
        .send()
        .unwrap();
    let body: Value = r.json().unwrap();
    assert!(
        body["errors"][0]["message"].as_str().unwrap().contains("complex"),
        "{body}"
    );
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
