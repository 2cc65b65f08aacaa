use super::*;

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
