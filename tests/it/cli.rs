//! End-to-end tests of the `seam` binary: a real server process on an ephemeral port, real HTTP,
//! real RocksDB stores in temporary directories, and the exit codes of DESIGN §4.

use std::io::Write;
use std::path::Path;
use std::process::{Command, Output};
use std::time::Duration;

use serde_json::Value;

use crate::common::{Server, SEAM};
const BOARDS: &str = "SELECT (COUNT(DISTINCT ?b) AS ?n) WHERE { ?b a/rdfs:subClassOf* s3n:SmartSensor }";
const MODELS: &str = "SELECT (COUNT(DISTINCT ?m) AS ?n) WHERE { ?m a/rdfs:subClassOf* nnet:NeuralNetwork }";
const TRIPLES: &str = "SELECT (COUNT(*) AS ?n) WHERE { ?s ?p ?o }";

fn seam(args: &[&str]) -> Output {
    Command::new(SEAM)
        .args(args)
        .env_remove("SEAM_TOKEN")
        .output()
        .expect("run seam")
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn http_count(server: &Server, query: &str) -> u64 {
    server.select(query)[0][0].parse().unwrap()
}

fn cli_count(args: &[&str]) -> u64 {
    let out = seam(args);
    assert!(out.status.success(), "{}", stderr(&out));
    let body: Value = serde_json::from_str(&stdout(&out)).unwrap();
    body["results"]["bindings"][0]["n"]["value"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap()
}

#[test]
fn serve_seeds_an_empty_store_and_cli_agrees_with_http() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("store");
    let data_s = data.to_str().unwrap();
    let (boards, models);
    {
        let server = Server::start(&data, &[]);
        boards = http_count(&server, BOARDS);
        models = http_count(&server, MODELS);
        assert!(boards >= 12, "{boards} boards");
        assert!(models >= 8, "{models} models");
        let endpoint = server.sparql();
        assert_eq!(
            cli_count(&["query", BOARDS, "--endpoint", &endpoint, "--format", "json"]),
            boards
        );
        assert_eq!(
            cli_count(&["query", MODELS, "--endpoint", &endpoint, "--format", "json"]),
            models
        );
        // The service's base URL works as well, as for every other command.
        assert_eq!(
            cli_count(&["query", MODELS, "--endpoint", &server.base, "--format", "json"]),
            models
        );

        // The store is locked by the server: one sentence, and a pointer to --endpoint.
        let locked = seam(&["query", BOARDS, "--data", data_s]);
        assert_eq!(locked.status.code(), Some(1));
        let err = stderr(&locked);
        assert!(
            err.contains("in use by another process") && err.contains("--endpoint"),
            "{err}"
        );

        // A malformed query through the endpoint is invalid input.
        let bad = seam(&["query", "SELECT WHERE {", "--endpoint", &endpoint]);
        assert_eq!(bad.status.code(), Some(3), "{}", stderr(&bad));
    }
    // Server stopped: the CLI reads the same store directly, with the same counts.
    assert_eq!(
        cli_count(&["query", BOARDS, "--data", data_s, "--format", "json"]),
        boards
    );
    let table = seam(&[
        "query",
        "SELECT ?label WHERE { cat:raspberrypi-pico rdfs:label ?label }",
        "--data",
        data_s,
    ]);
    assert!(stdout(&table).contains("Raspberry Pi Pico"), "{}", stdout(&table));
    let csv = seam(&[
        "query",
        "SELECT ?label WHERE { cat:raspberrypi-pico rdfs:label ?label }",
        "--data",
        data_s,
        "--format",
        "csv",
    ]);
    assert_eq!(stdout(&csv), "label\r\nRaspberry Pi Pico\r\n");
    // A second start does not seed again.
    let before = cli_count(&["query", TRIPLES, "--data", data_s, "--format", "json"]);
    {
        let _server = Server::start(&data, &[]);
    }
    assert_eq!(
        cli_count(&["query", TRIPLES, "--data", data_s, "--format", "json"]),
        before
    );
}

#[test]
fn updates_over_http_need_the_token() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(&dir.path().join("s"), &["--token", "t0ken"]);
    let client = reqwest::blocking::Client::new();
    let insert = "INSERT DATA { <urn:x> <urn:y> 1 }";
    let r = client
        .post(format!("{}/update", server.base))
        .header("content-type", "application/sparql-update")
        .body(insert)
        .send()
        .unwrap();
    assert_eq!(r.status(), 401);
    assert_eq!(r.headers()["content-type"], "application/problem+json");
    let r = client
        .post(format!("{}/update", server.base))
        .bearer_auth("t0ken")
        .header("content-type", "application/sparql-update")
        .body(insert)
        .send()
        .unwrap();
    assert_eq!(r.status(), 204);
    let bad = client.get(server.sparql()).query(&[("query", "SELEC")]).send().unwrap();
    assert_eq!(bad.status(), 400);
    assert_eq!(bad.headers()["content-type"], "application/problem+json");
}

fn write(dir: &Path, name: &str, text: &str) -> String {
    let path = dir.join(name);
    std::fs::File::create(&path)
        .unwrap()
        .write_all(text.as_bytes())
        .unwrap();
    path.to_str().unwrap().to_owned()
}

#[test]
fn load_is_validated_and_all_or_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("store");
    let data_s = data.to_str().unwrap();
    let good = write(
        dir.path(),
        "good.ttl",
        "@prefix seam: <https://w3id.org/seam/ontology#> .\n@prefix rdfs: <http://www.w3.org/2000/01/rdf-schema#> .\n\
         <urn:seam:test:kit> a seam:Board ; rdfs:label \"Test kit\" ; seam:core \"Cortex-M4F\" ; seam:isa <urn:seam:test:isa> ;\n\
           seam:clockHz 64000000 ; seam:ramBytes 262144 ; seam:flashBytes 1048576 .\n",
    );
    // A refused load into a new store leaves it empty: not even the seed is written.
    let bad_first = write(
        dir.path(),
        "bad-first.ttl",
        "@prefix seam: <https://w3id.org/seam/ontology#> .\n<urn:x> a seam:Board .\n",
    );
    assert_eq!(seam(&["load", &bad_first, "--data", data_s]).status.code(), Some(3));
    assert_eq!(cli_count(&["query", TRIPLES, "--data", data_s, "--format", "json"]), 0);
    let out = seam(&["load", &good, "--data", data_s]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stderr(&out).contains("seeded the new store"), "{}", stderr(&out));
    let count = || cli_count(&["query", TRIPLES, "--data", data_s, "--format", "json"]);
    let before = count();
    // The new store was seeded with the ontology and catalog, then got the 7 triples.
    let kit = cli_count(&[
        "query",
        "SELECT (COUNT(*) AS ?n) WHERE { <urn:seam:test:kit> ?p ?o }",
        "--data",
        data_s,
        "--format",
        "json",
    ]);
    assert_eq!(kit, 7);
    assert!(before > 1000, "{before}");

    // A syntax error halfway through a file: exit 3, the line named, nothing written, even from
    // the valid file given before it.
    let mut broken = String::from("@prefix ex: <http://example.com/> .\n");
    for i in 0..20 {
        broken.push_str(&format!("ex:s{i} ex:p {i} .\n"));
    }
    broken.push_str("ex:s20 ex:p \"unterminated .\n");
    for i in 21..40 {
        broken.push_str(&format!("ex:s{i} ex:p {i} .\n"));
    }
    let other = write(
        dir.path(),
        "other.nt",
        "<http://example.com/a> <http://example.com/b> <http://example.com/c> .\n",
    );
    let broken = write(dir.path(), "broken.ttl", &broken);
    let out = seam(&["load", &other, &broken, "--data", data_s]);
    assert_eq!(out.status.code(), Some(3));
    let err = stderr(&out);
    assert!(err.contains("broken.ttl:22:"), "{err}");
    assert_eq!(count(), before);

    // Validation failures: every one listed with file:line:column; nothing written.
    let invalid = write(
        dir.path(),
        "invalid.ttl",
        "@prefix seam: <https://w3id.org/seam/ontology#> .\n\n<urn:seam:test:bad> a seam:Board ;\n  seam:ramBytes -5 .\n",
    );
    let out = seam(&["load", &invalid, "--data", data_s]);
    assert_eq!(out.status.code(), Some(3));
    let err = stderr(&out);
    assert!(
        err.contains("invalid.ttl:3:1:") && err.contains("below the minimum"),
        "{err}"
    );
    assert!(err.contains("seam:core") && err.contains("sh:minCount"), "{err}");
    assert_eq!(count(), before);

    // A device pointing at a board that exists (in the store) validates; at one that does not, fails.
    let device = write(
        dir.path(),
        "device.ttl",
        "@prefix seam: <https://w3id.org/seam/ontology#> .\n<urn:seam:test:dev> a seam:Device ; seam:board <urn:seam:test:kit> .\n",
    );
    assert!(seam(&["load", &device, "--data", data_s]).status.success());
    let orphan = write(
        dir.path(),
        "orphan.ttl",
        "@prefix seam: <https://w3id.org/seam/ontology#> .\n<urn:seam:test:dev2> a seam:Device ; seam:board <urn:seam:test:nothing> .\n",
    );
    let out = seam(&["load", &orphan, "--data", data_s]);
    assert_eq!(out.status.code(), Some(3));
    assert!(stderr(&out).contains("is not a known seam:Board"), "{}", stderr(&out));

    // Unknown extension and missing file.
    let unknown = write(dir.path(), "data.csv", "a,b\n");
    assert_eq!(seam(&["load", &unknown, "--data", data_s]).status.code(), Some(3));
    let missing = seam(&["load", "/nonexistent/file.ttl", "--data", data_s]);
    assert_eq!(missing.status.code(), Some(1));
    assert!(stderr(&missing).contains("/nonexistent/file.ttl"));
}

#[test]
fn seloc_ml_import_through_the_cli() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("store");
    let seloc = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/interop/seloc-ml");
    let out = seam(&[
        "load",
        "--from",
        "seloc-ml",
        seloc.to_str().unwrap(),
        "--data",
        data.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stderr(&out).contains("repaired"), "{}", stderr(&out));
    let n = cli_count(&[
        "query",
        "SELECT (COUNT(DISTINCT ?m) AS ?n) WHERE { ?m a nnet:NeuralNetwork ; seam:requiredRamBytes ?r }",
        "--data",
        data.to_str().unwrap(),
        "--format",
        "json",
    ]);
    assert_eq!(n, 23);
    // A second import replaces the first.
    let again = seam(&[
        "load",
        "--from",
        "seloc-ml",
        seloc.to_str().unwrap(),
        "--data",
        data.to_str().unwrap(),
    ]);
    assert!(again.status.success(), "{}", stderr(&again));
    let quads = |o: &Output| stdout(o).rsplit("holds ").next().unwrap_or_default().to_owned();
    assert_eq!(quads(&out), quads(&again));
}

#[test]
fn usage_and_input_errors_have_their_exit_codes() {
    assert_eq!(seam(&["frobnicate"]).status.code(), Some(2));
    assert_eq!(seam(&["query"]).status.code(), Some(2));
    assert_eq!(seam(&["query", "ASK {}", "--format", "yaml"]).status.code(), Some(2));
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("store");
    let empty = write(dir.path(), "empty.ttl", "");
    assert!(seam(&["load", &empty, "--data", data.to_str().unwrap()])
        .status
        .success());
    let bad = seam(&["query", "SELECT ?x WHERE {", "--data", data.to_str().unwrap()]);
    assert_eq!(bad.status.code(), Some(3));
    assert!(stderr(&bad).contains("line 1"), "{}", stderr(&bad));
    let nowhere = seam(&["query", "ASK {}", "--endpoint", "http://127.0.0.1:9/sparql"]);
    assert_eq!(nowhere.status.code(), Some(1));
    assert!(stderr(&nowhere).contains("cannot connect"), "{}", stderr(&nowhere));
    let not_a_url = seam(&["query", "ASK {}", "--endpoint", "not a url"]);
    assert_eq!(not_a_url.status.code(), Some(1));
}

fn match_json(args: &[&str]) -> Value {
    let out = seam(args);
    assert!(out.status.success(), "{}", stderr(&out));
    serde_json::from_str(&stdout(&out)).unwrap()
}

#[test]
fn match_cli_graphql_and_named_query_agree() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("store");
    let device = "line3-acoustic-02";
    let (cli_remote, graphql, sparql);
    {
        let server = Server::start(&data, &[]);
        cli_remote = match_json(&["match", device, "--json", "--endpoint", &server.base]);
        // The people's table from a remote match shows the share of free memory, as a local one does.
        let table = seam(&["match", device, "--endpoint", &server.base]);
        assert!(stdout(&table).contains("% of free)"), "{}", stdout(&table));
        let client = reqwest::blocking::Client::new();
        let q = format!("{{ compatibleModels(device: \"{device}\") {{ device compatible {{ model name task accuracy estimatedLatencyMs ramBytes flashBytes via }} }} }}");
        let v: Value = client
            .post(format!("{}/graphql", server.base))
            .json(&serde_json::json!({ "query": q }))
            .send()
            .unwrap()
            .json()
            .unwrap();
        graphql = v["data"]["compatibleModels"].clone();
        sparql = client
            .get(format!("{}/queries/compatible-models", server.base))
            .query(&[("device", device)])
            .send()
            .unwrap()
            .json::<Value>()
            .unwrap();
    }
    let cli_local = match_json(&["match", device, "--json", "--data", data.to_str().unwrap()]);
    assert_eq!(cli_local, cli_remote, "local and remote seam match differ");
    let models = |list: &Value| -> Vec<(String, String)> {
        list.as_array()
            .unwrap()
            .iter()
            .map(|c| {
                (
                    c["model"].as_str().unwrap().to_owned(),
                    c["via"].as_str().unwrap().to_owned(),
                )
            })
            .collect()
    };
    assert!(!models(&cli_local["compatible"]).is_empty());
    assert_eq!(models(&cli_local["compatible"]), models(&graphql["compatible"]));
    let rows: Vec<(String, String)> = sparql["results"]["bindings"]
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
    assert_eq!(models(&cli_local["compatible"]), rows);
    // The JSON shape of the issue: these keys, and no rejected list without --explain.
    let first = &cli_local["compatible"][0];
    for key in [
        "model",
        "name",
        "task",
        "accuracy",
        "estimatedLatencyMs",
        "ramBytes",
        "flashBytes",
        "via",
    ] {
        assert!(first.get(key).is_some(), "missing {key}");
    }
    assert!(cli_local.get("rejected").is_none());
}

#[test]
fn match_cli_for_people_and_its_errors() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("store");
    let empty = write(dir.path(), "empty.ttl", "");
    assert!(seam(&["load", &empty, "--data", data.to_str().unwrap()])
        .status
        .success());
    let d = data.to_str().unwrap();
    let table = seam(&["match", "dev:line3-acoustic-02", "--explain", "--data", d]);
    assert!(table.status.success(), "{}", stderr(&table));
    let text = stdout(&table);
    assert!(text.contains("kws-dscnn-int8") && text.contains("Rejected"), "{text}");
    assert!(text.contains("sensor   The model needs a camera"), "{text}");
    // "What runs on this board?" without registering a device first.
    let board = seam(&["match", "arduino-nano-33-ble-sense", "--data", d]);
    assert!(board.status.success(), "{}", stderr(&board));
    assert!(
        stdout(&board).contains("Models for the board cat:arduino-nano-33-ble-sense (its datasheet memory"),
        "{}",
        stdout(&board)
    );
    let board_json = match_json(&["match", "cat:arduino-nano-33-ble-sense", "--json", "--data", d]);
    assert_eq!(board_json["board"], true);
    assert_eq!(board_json["freeRamBytes"], 262_144);
    let explained = match_json(&[
        "match",
        "line3-acoustic-02",
        "--explain",
        "--json",
        "--latency-budget",
        "50",
        "--data",
        d,
    ]);
    let rejected = explained["rejected"].as_array().unwrap();
    assert!(rejected.iter().any(|r| r["reasons"]
        .as_array()
        .unwrap()
        .iter()
        .any(|x| x["constraint"] == "latency")));
    let unknown = seam(&["match", "nobody", "--data", d]);
    assert_eq!(unknown.status.code(), Some(3));
    assert!(stderr(&unknown).contains("no device"), "{}", stderr(&unknown));
    assert_eq!(
        seam(&["match", "line3-acoustic-02", "--latency-budget=-5", "--data", d])
            .status
            .code(),
        Some(3)
    );
    assert_eq!(
        seam(&["match", "line3-acoustic-02", "--latency-budget", "0", "--data", d])
            .status
            .code(),
        Some(3)
    );
    assert_eq!(
        seam(&["match", "line3-acoustic-02", "--headroom", "lots", "--data", d])
            .status
            .code(),
        Some(2)
    );
    let nowhere = seam(&["match", "line3-acoustic-02", "--endpoint", "http://127.0.0.1:9"]);
    assert_eq!(nowhere.status.code(), Some(1));
}

#[test]
fn serve_stops_cleanly_on_sigterm() {
    let dir = tempfile::tempdir().unwrap();
    let mut server = Server::start(&dir.path().join("store"), &[]);
    let pid = server.child.id().to_string();
    assert!(Command::new("kill").args(["-TERM", &pid]).status().unwrap().success());
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    let status = loop {
        if let Some(status) = server.child.try_wait().unwrap() {
            break status;
        }
        assert!(std::time::Instant::now() < deadline, "seam serve ignored SIGTERM");
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(status.success(), "{status:?}");
    // The store was closed properly: it opens again at once.
    assert_eq!(
        seam(&["query", "ASK {}", "--data", dir.path().join("store").to_str().unwrap()])
            .status
            .code(),
        Some(0)
    );
}

#[test]
fn help_never_prints_the_token_and_names_formats_with_an_example() {
    for command in ["serve", "deploy", "compile"] {
        let out = Command::new(SEAM)
            .args([command, "--help"])
            .env("SEAM_TOKEN", "do-not-print-me")
            .output()
            .unwrap();
        assert!(out.status.success());
        let help = stdout(&out);
        assert!(
            !help.contains("do-not-print-me"),
            "seam {command} --help printed the token"
        );
        assert!(help.contains("Example"), "seam {command} --help gives no example");
    }
    for (command, format) in [
        ("load", "RDF/XML"),
        ("analyze", "TFLite"),
        ("compile", "TFLite"),
        ("query", "csv"),
    ] {
        let help = stdout(&seam(&[command, "--help"]));
        assert!(help.contains(format), "seam {command} --help does not name {format}");
    }
}

#[test]
fn sigterm_stops_a_runaway_update_at_once_and_it_writes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("store");
    let mut server = Server::start(&store, &["--token", "t0k", "--query-timeout", "600"]);
    let before = http_count(&server, "SELECT (COUNT(*) AS ?n) WHERE { ?s ?p ?o }");
    // Billions of combinations, none of which passes the filter: it runs, and runs.
    let update =
        "INSERT { <urn:x> <urn:p> ?a } WHERE { ?a ?b ?c . ?d ?e ?f . ?g ?h ?i FILTER(?c = ?f && ?f = ?i && ?a != ?d) }";
    let base = server.base.clone();
    let sender = std::thread::spawn(move || {
        reqwest::blocking::Client::builder()
            .timeout(Duration::from_secs(120))
            .build()
            .unwrap()
            .post(format!("{base}/update"))
            .header("Authorization", "Bearer t0k")
            .header("Content-Type", "application/sparql-update")
            .body(update)
            .send()
            .map(|r| r.status().as_u16())
    });
    std::thread::sleep(Duration::from_secs(2));
    let pid = server.child.id().to_string();
    assert!(Command::new("kill").args(["-TERM", &pid]).status().unwrap().success());
    let signalled = std::time::Instant::now();
    let status = loop {
        if let Some(status) = server.child.try_wait().unwrap() {
            break status;
        }
        assert!(
            signalled.elapsed() < Duration::from_secs(20),
            "seam serve did not stop within 20 s of SIGTERM during an update"
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(status.success(), "{status:?}");
    // The update's request got an answer (503) or its connection closed; it never committed.
    let _ = sender.join().unwrap();
    let after = cli_count(&[
        "query",
        "SELECT (COUNT(*) AS ?n) WHERE { ?s ?p ?o }",
        "--data",
        store.to_str().unwrap(),
        "--format",
        "json",
    ]);
    assert_eq!(before, after);
}

#[test]
fn an_rdf_xml_entity_bomb_is_refused_and_loads_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("store");
    let mut dtd = String::from("<!ENTITY l0 \"lol\">\n");
    for i in 1..10 {
        dtd.push_str(&format!("<!ENTITY l{i} \"{}\">\n", format!("&l{};", i - 1).repeat(10)));
    }
    let bomb = format!(
        "<?xml version=\"1.0\"?>\n<!DOCTYPE rdf:RDF [\n{dtd}]>\n<rdf:RDF xmlns:rdf=\"http://www.w3.org/1999/02/22-rdf-syntax-ns#\" \
         xmlns:ex=\"urn:ex:\"><rdf:Description rdf:about=\"urn:x\"><ex:p>&l9;</ex:p></rdf:Description></rdf:RDF>\n"
    );
    let file = write(dir.path(), "bomb.rdf", &bomb);
    let out = seam(&["load", &file, "--data", store.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("bomb.rdf:") && stderr(&out).contains("expands to"),
        "{}",
        stderr(&out)
    );
    // Files are parsed before the store is opened: nothing was written, not even the seed.
    assert!(!store.exists());
}

#[test]
fn analyze_measures_an_onnx_model_and_refuses_what_is_not_one() {
    let dir = tempfile::tempdir().unwrap();
    let model = dir.path().join("resnet8.onnx");
    let reference = seam_registry::bridge::onnx_build::resnet8(11);
    std::fs::write(&model, seam_registry::bridge::onnx_build::to_bytes(&reference.model)).unwrap();

    let out = seam(&["analyze", model.to_str().unwrap(), "--json"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let report: Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(report["format"], "onnx");
    assert_eq!(report["params"], reference.params);
    assert_eq!(report["macs"], 12_501_632);
    assert_eq!(report["inputs"][0]["shape"], serde_json::json!([1, 3, 32, 32]));
    assert_eq!(report["operators"]["Conv"], 9);
    let estimates = report["estimates"].as_array().unwrap();
    assert_eq!(estimates.len(), 4, "one per catalog runtime");
    let tflm = estimates
        .iter()
        .find(|e| e["runtime"].as_str().unwrap().ends_with("tflite-micro-cmsis-nn"))
        .unwrap();
    assert!(tflm["ramBytes"].as_u64().unwrap() > report["arenaBytes"].as_u64().unwrap() / 4);

    let human = seam(&["analyze", model.to_str().unwrap()]);
    assert!(human.status.success());
    assert!(stdout(&human).contains("MACs        12501632"), "{}", stdout(&human));

    let garbage = dir.path().join("garbage.onnx");
    std::fs::write(&garbage, b"\x08\x07 this is not protobuf at all \xff\xff").unwrap();
    let out = seam(&["analyze", garbage.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    assert!(stderr(&out).contains("not an ONNX model"), "{}", stderr(&out));

    let tflite = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/interop/seloc-ml/models/Hello_World.tflite");
    let out = seam(&["analyze", "--json", tflite.to_str().unwrap()]);
    assert!(out.status.success(), "{}", stderr(&out));
    let json: serde_json::Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(json["format"], "tflite");
    assert_eq!(json["macs"], 288);
    assert_eq!(json["params"], 321);
    assert_eq!(json["inputs"][0]["shape"], serde_json::json!([1, 1]));
    // A TFLite file cut short keeps its magic and fails the flatbuffer verifier.
    let bytes = std::fs::read(&tflite).unwrap();
    let cut = dir.path().join("cut.tflite");
    std::fs::write(&cut, &bytes[..bytes.len() / 3]).unwrap();
    let out = seam(&["analyze", cut.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("not a valid TFLite flatbuffer"),
        "{}",
        stderr(&out)
    );
    let out = seam(&["analyze", dir.path().join("absent.onnx").to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(3));
}

#[test]
fn load_registers_an_onnx_model_from_its_measurements() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("store");
    let model = dir.path().join("ad-autoencoder.onnx");
    let reference = seam_registry::bridge::onnx_build::fc_autoencoder(5);
    std::fs::write(&model, seam_registry::bridge::onnx_build::to_bytes(&reference.model)).unwrap();
    let (data_s, model_s) = (data.to_str().unwrap(), model.to_str().unwrap());

    // The task is required by the shapes: without it nothing is written.
    let out = seam(&["load", model_s, "--data", data_s]);
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    assert!(stderr(&out).contains("seam:task"), "{}", stderr(&out));
    assert!(!data.join("models").exists());

    let out = seam(&[
        "load",
        model_s,
        "--data",
        data_s,
        "--task",
        "anomaly-detection",
        "--accuracy",
        "85",
        "--dataset",
        "https://zenodo.org/record/3678171",
        "--input-sensor",
        "microphone",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let digest = seam_registry::bridge::analysis::sha256_hex(&std::fs::read(&model).unwrap());
    assert!(data.join("models").join(format!("{digest}.onnx")).exists());

    let out = seam(&[
        "query",
        "--data",
        data_s,
        "--format",
        "csv",
        "SELECT ?params ?macs ?task ?acc ?kind WHERE { ?m seam:sha256 ?s ; seam:params ?params ; seam:macs ?macs ;
           seam:task ?task ; seam:method seam:Measured ; seam:accuracy/seam:value ?acc ;
           seam:requiresSensor/seam:sensorKind ?kind }",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let csv = stdout(&out);
    let row = csv.lines().nth(1).unwrap();
    assert_eq!(
        row,
        format!(
            "{},264192,https://w3id.org/seam/catalog/anomaly-detection,0.85,https://w3id.org/seam/ontology#microphone",
            reference.params
        )
    );
    // Loading the same file again is the same model (content-addressed), not a second one.
    let out = seam(&["load", model_s, "--data", data_s, "--task", "anomaly-detection"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let out = seam(&[
        "query",
        "--data",
        data_s,
        "--format",
        "csv",
        "SELECT (COUNT(DISTINCT ?m) AS ?n) WHERE { ?m seam:method seam:Measured ; a seam:Model }",
    ]);
    assert_eq!(stdout(&out).lines().nth(1), Some("1"));
}

#[test]
fn compile_produces_a_validated_int8_onnx_and_a_c_array_that_gcc_compiles() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("store");
    let data_s = data.to_str().unwrap();
    let model = dir.path().join("ds-cnn.onnx");
    let reference = seam_registry::bridge::onnx_build::ds_cnn(8);
    std::fs::write(&model, seam_registry::bridge::onnx_build::to_bytes(&reference.model)).unwrap();
    let model_s = model.to_str().unwrap();

    let listed = seam(&["compile", "--list-backends"]);
    for name in ["onnx-int8", "c-array", "tract-nnef", "tflite-micro"] {
        assert!(stdout(&listed).contains(name), "{}", stdout(&listed));
    }

    let out_int8 = dir.path().join("int8");
    let out = seam(&[
        "compile",
        model_s,
        "--backend",
        "onnx-int8",
        "--out",
        out_int8.to_str().unwrap(),
        "--data",
        data_s,
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let manifest: Value =
        serde_json::from_str(&std::fs::read_to_string(out_int8.join("manifest.json")).unwrap()).unwrap();
    assert_eq!(manifest["backend"]["options"]["quantize"], "int8");
    assert!(
        manifest["validation"]["top1Agreement"].as_f64().unwrap() >= 0.95,
        "{manifest}"
    );
    // The artifact is an ONNX model SEAM (tract) analyses, smaller than the original.
    let analysed = seam(&["analyze", out_int8.join("ds-cnn.onnx").to_str().unwrap(), "--json"]);
    assert!(analysed.status.success(), "{}", stderr(&analysed));
    assert!(
        std::fs::metadata(out_int8.join("ds-cnn.onnx")).unwrap().len() * 3 < std::fs::metadata(&model).unwrap().len()
    );

    let out_c = dir.path().join("c");
    let out = seam(&[
        "compile",
        model_s,
        "--backend",
        "c-array",
        "--quantize",
        "int8",
        "--out",
        out_c.to_str().unwrap(),
        "--data",
        data_s,
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let header = std::fs::read_to_string(out_c.join("ds_cnn_model.h")).unwrap();
    assert!(header.contains("#define DS_CNN_ARENA_SIZE"), "{header}");
    let object = dir.path().join("model.o");
    let gcc = Command::new("gcc")
        .args(["-std=c11", "-Wall", "-Werror", "-c", "-o", object.to_str().unwrap()])
        .arg(out_c.join("ds_cnn_model.c"))
        .output()
        .unwrap();
    assert!(gcc.status.success(), "{}", String::from_utf8_lossy(&gcc.stderr));

    // Pruning: within the thresholds it ships (and is an option of the manifest); past them it is
    // refused with the figures, and nothing is written.
    let pruned = dir.path().join("pruned");
    let out = seam(&[
        "compile",
        model_s,
        "--backend",
        "onnx-int8",
        "--prune",
        "0.2",
        "--max-relative-error",
        "0.5",
        "--data",
        data_s,
        "--out",
        pruned.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let manifest: Value =
        serde_json::from_str(&std::fs::read_to_string(pruned.join("manifest.json")).unwrap()).unwrap();
    assert_eq!(manifest["backend"]["options"]["prune"], "0.2");
    let over = dir.path().join("over");
    let out = seam(&[
        "compile",
        model_s,
        "--backend",
        "tract-nnef",
        "--prune",
        "0.95",
        "--data",
        data_s,
        "--out",
        over.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("validation failed: relative error"),
        "{}",
        stderr(&out)
    );
    assert!(!over.exists());

    // Unknown backends, no backend at all, and garbage models are invalid input.
    assert_eq!(
        seam(&["compile", model_s, "--backend", "tvm-magic", "--data", data_s])
            .status
            .code(),
        Some(3)
    );
    assert_eq!(seam(&["compile", model_s, "--data", data_s]).status.code(), Some(3));
    let garbage = dir.path().join("garbage.onnx");
    std::fs::write(&garbage, b"nope").unwrap();
    assert_eq!(
        seam(&[
            "compile",
            garbage.to_str().unwrap(),
            "--backend",
            "c-array",
            "--data",
            data_s
        ])
        .status
        .code(),
        Some(3)
    );
}

#[test]
fn compile_for_a_target_takes_the_backend_from_the_graph_signs_caches_and_records_provenance() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("store");
    let data_s = data.to_str().unwrap();
    let model = dir.path().join("ds-cnn.onnx");
    let reference = seam_registry::bridge::onnx_build::ds_cnn(3);
    std::fs::write(&model, seam_registry::bridge::onnx_build::to_bytes(&reference.model)).unwrap();
    let model_s = model.to_str().unwrap();
    let out_dir = dir.path().join("out");
    let out_s = out_dir.to_str().unwrap();

    // The Raspberry Pi gateway runs tract: the graph says tract-nnef.
    let first = seam(&[
        "compile",
        model_s,
        "--target",
        "edge-gateway-01",
        "--data",
        data_s,
        "--out",
        out_s,
        "--json",
    ]);
    assert!(first.status.success(), "{}", stderr(&first));
    let report: Value = serde_json::from_str(&stdout(&first)).unwrap();
    assert_eq!(report["manifest"]["backend"]["name"], "tract-nnef", "{report}");
    assert_eq!(report["cacheHit"], false);
    assert_eq!(report["fit"]["fits"], true, "{report}");
    assert!(report["fit"]["ramFreeBytes"].as_u64().unwrap() > report["fit"]["ramNeededBytes"].as_u64().unwrap());
    // What ships was validated: the NNEF archive itself ran in tract against the original.
    assert!(report["manifest"]["validation"]["top1Agreement"].as_f64().unwrap() >= 0.95);
    let package = std::fs::read(out_dir.join("ds-cnn.seampkg")).unwrap();
    let sha = report["sha256"].as_str().unwrap().to_owned();
    assert_eq!(seam_registry::bridge::analysis::sha256_hex(&package), sha);

    // Signed with this installation's key, which the graph publishes.
    let key = report["manifest"]["signer"]["publicKey"].as_str().unwrap().to_owned();
    let opened = seam_registry::bridge::package::verify(&package, Some(&key)).unwrap();
    assert_eq!(opened.files[0].name, "ds-cnn.nnef.tar");
    let published = cli_count(&[
        "query",
        &format!("SELECT (COUNT(*) AS ?n) WHERE {{ ?k a seam:SigningKey ; seam:publicKey \"{key}\" }}"),
        "--data",
        data_s,
        "--format",
        "json",
    ]);
    assert_eq!(published, 1);
    // Provenance: artifact ← compilation (backend, options) ← model.
    let provenance = cli_count(&[
        "query",
        &format!(
            "PREFIX prov: <http://www.w3.org/ns/prov#>
             SELECT (COUNT(*) AS ?n) WHERE {{
               <https://w3id.org/seam/artifact/{sha}> a seam:Artifact ; prov:wasGeneratedBy ?c ;
                   prov:wasDerivedFrom ?m ; seam:signedWith ?k ; seam:target ?d .
               ?c a seam:Compilation ; prov:used ?m ; prov:wasAssociatedWith ?b ; seam:options ?o ;
                  prov:startedAtTime ?t0 ; prov:endedAtTime ?t1 .
               ?b a prov:SoftwareAgent .
               ?d seam:shortName \"edge-gateway-01\" .
               FILTER(STRENDS(STR(?m), \"{}\")) }}",
            seam_registry::bridge::analysis::sha256_hex(&std::fs::read(&model).unwrap())
        ),
        "--data",
        data_s,
        "--format",
        "json",
    ]);
    assert_eq!(provenance, 1);

    // The same compilation again is a cache hit with the same bytes.
    let second = seam(&[
        "compile",
        model_s,
        "--target",
        "edge-gateway-01",
        "--data",
        data_s,
        "--out",
        out_s,
        "--json",
    ]);
    assert!(second.status.success(), "{}", stderr(&second));
    let again: Value = serde_json::from_str(&stdout(&second)).unwrap();
    assert_eq!(again["cacheHit"], true);
    assert_eq!(again["sha256"], sha);
    // Other options are another compilation.
    let third = seam(&[
        "compile",
        model_s,
        "--target",
        "edge-gateway-01",
        "--data",
        data_s,
        "--out",
        out_s,
        "--json",
        "--quantize",
        "int8",
    ]);
    let other: Value = serde_json::from_str(&stdout(&third)).unwrap();
    assert_eq!(other["cacheHit"], false);
    assert_ne!(other["sha256"], sha);

    // A microcontroller running TFLM gets a TFLite flatbuffer and its C array, validated in tract.
    let mcu = seam(&[
        "compile",
        model_s,
        "--target",
        "line3-acoustic-02",
        "--data",
        data_s,
        "--out",
        out_s,
    ]);
    assert!(mcu.status.success(), "{}", stderr(&mcu));
    assert!(stdout(&mcu).contains("backend tflite-micro"), "{}", stdout(&mcu));
    assert!(stdout(&mcu).contains("fits: RAM"), "{}", stdout(&mcu));
    let tflite = seam(&["analyze", "--json", out_dir.join("ds-cnn.tflite").to_str().unwrap()]);
    let tflite: Value = serde_json::from_str(&stdout(&tflite)).unwrap();
    assert_eq!(tflite["macs"], 2_656_768, "{tflite}");

    // Quantised weights are not enough for MobileNet on the STM32L475: the graph's int8
    // estimate let it through, the compiled package's own figures do not fit, and exit 4 says so.
    let big = dir.path().join("mobilenet.onnx");
    let mobilenet = seam_registry::bridge::onnx_build::mobilenet_v1_025(1);
    std::fs::write(&big, seam_registry::bridge::onnx_build::to_bytes(&mobilenet.model)).unwrap();
    let big_s = big.to_str().unwrap();
    let too_big = seam(&[
        "compile",
        big_s,
        "--target",
        "line3-vibration-01",
        "--data",
        data_s,
        "--out",
        out_s,
    ]);
    assert_eq!(too_big.status.code(), Some(4), "{}", stderr(&too_big));
    assert!(stdout(&too_big).contains("does not fit: RAM"), "{}", stdout(&too_big));

    // A runtime that declares no backend, a device far too small, an unknown device.
    let extra = write(
        dir.path(),
        "extra.ttl",
        r#"@prefix seam: <https://w3id.org/seam/ontology#> .
@prefix cat:  <https://w3id.org/seam/catalog/> .
@prefix dev:  <https://w3id.org/seam/device/> .
@prefix rdfs: <http://www.w3.org/2000/01/rdf-schema#> .
cat:test-npu-isa a seam:InstructionSet ; rdfs:label "test NPU ISA" .
cat:test-npu-board a seam:Board ; rdfs:label "NPU test board" ; rdfs:comment "Its only runtime declares no backend." ;
    seam:core "test NPU" ; seam:isa cat:test-npu-isa ; seam:clockHz 100000000 ;
    seam:ramBytes 4194304 ; seam:flashBytes 16777216 ; seam:reservedRamBytes 0 ; seam:reservedFlashBytes 0 ;
    seam:throughput [ seam:dtype seam:float32 ; seam:macsPerCycle 1.0 ] .
cat:test-npu-runtime a seam:Runtime ; rdfs:label "NPU runtime" ; seam:version "1.0" ;
    seam:targetsIsa cat:test-npu-isa ; seam:supportsDtype seam:float32 ; seam:ramOverheadBytes 0 ; seam:flashOverheadBytes 0 ;
    seam:supportsOperator "Conv", "Relu", "Gemm", "Softmax", "Reshape", "Flatten", "AveragePool", "GlobalAveragePool", "Add", "MatMul", "Clip", "Pad" .
dev:npu-01 a seam:Device ; rdfs:label "NPU test device" ; seam:shortName "npu-01" ; seam:board cat:test-npu-board .
cat:test-tiny-board a seam:Board ; rdfs:label "Tiny test board" ; rdfs:comment "16 KiB of RAM." ;
    seam:core "Cortex-M0+" ; seam:isa cat:armv6m ; seam:clockHz 48000000 ;
    seam:ramBytes 16384 ; seam:flashBytes 131072 ; seam:reservedRamBytes 4096 ; seam:reservedFlashBytes 32768 ;
    seam:throughput [ seam:dtype seam:int8 ; seam:macsPerCycle 0.25 ] .
dev:tiny-01 a seam:Device ; rdfs:label "Tiny test device" ; seam:shortName "tiny-01" ; seam:board cat:test-tiny-board .
"#,
    );
    let loaded = seam(&["load", &extra, "--data", data_s]);
    assert!(loaded.status.success(), "{}", stderr(&loaded));
    let npu = seam(&[
        "compile", model_s, "--target", "npu-01", "--data", data_s, "--out", out_s,
    ]);
    assert_eq!(npu.status.code(), Some(3), "{}", stderr(&npu));
    assert!(
        stderr(&npu).contains("declares no seam:compilerBackend"),
        "{}",
        stderr(&npu)
    );
    // Naming the backend is enough.
    let named = seam(&[
        "compile",
        model_s,
        "--target",
        "npu-01",
        "--backend",
        "onnx-int8",
        "--data",
        data_s,
        "--out",
        out_s,
    ]);
    assert!(named.status.success(), "{}", stderr(&named));
    let tiny = seam(&[
        "compile", big_s, "--target", "tiny-01", "--data", data_s, "--out", out_s,
    ]);
    assert_eq!(tiny.status.code(), Some(4), "{}", stderr(&tiny));
    assert!(stderr(&tiny).contains("does not run on tiny-01"), "{}", stderr(&tiny));
    assert!(stderr(&tiny).contains("bytes of RAM"), "{}", stderr(&tiny));
    let unknown = seam(&["compile", model_s, "--target", "no-such-device", "--data", data_s]);
    assert_eq!(unknown.status.code(), Some(3));
}

#[test]
fn deploy_refuses_a_tampered_package_before_sending_it() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("store");
    let model = dir.path().join("ae.onnx");
    std::fs::write(
        &model,
        seam_registry::bridge::onnx_build::to_bytes(&seam_registry::bridge::onnx_build::fc_autoencoder(2).model),
    )
    .unwrap();
    let out_dir = dir.path().join("out");
    let out = seam(&[
        "compile",
        model.to_str().unwrap(),
        "--backend",
        "onnx-int8",
        "--data",
        data.to_str().unwrap(),
        "--out",
        out_dir.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let package = out_dir.join("ae.seampkg");
    let mut bytes = std::fs::read(&package).unwrap();
    let middle = bytes.len() / 2; // inside the model file, past the manifest
    bytes[middle] ^= 0x55;
    std::fs::write(&package, bytes).unwrap();
    // No server is needed: the package is refused before any connection.
    let out = seam(&[
        "deploy",
        package.to_str().unwrap(),
        "--to",
        "somebody",
        "--endpoint",
        "http://127.0.0.1:9",
    ]);
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    assert!(stderr(&out).contains("package:"), "{}", stderr(&out));
}

#[test]
fn a_tflite_model_is_registered_from_its_file_and_matched() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("store");
    let data_s = data.to_str().unwrap();
    let tflite =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/interop/seloc-ml/models/Micro_Speech_Yes_No_1.tflite");
    let out = seam(&[
        "load",
        tflite.to_str().unwrap(),
        "--task",
        "keyword-spotting",
        "--input-sensor",
        "microphone",
        "--data",
        data_s,
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let sha = seam_registry::bridge::analysis::sha256_hex(&std::fs::read(&tflite).unwrap());
    assert!(data.join("models").join(format!("{sha}.tflite")).exists());
    // Its operators are recorded by their ONNX names, as runtimes list them; its flash is the file.
    let n = cli_count(&[
        "query",
        &format!(
            "SELECT (COUNT(*) AS ?n) WHERE {{ <https://w3id.org/seam/model/{sha}> seam:requiresOperator \"Conv\" ;
               seam:requiresOperator \"Gemm\" ; seam:dtype seam:int8 ; seam:weightBytes 18712 ; seam:macs 336000 }}"
        ),
        "--data",
        data_s,
        "--format",
        "json",
    ]);
    assert_eq!(n, 1);
    let matched = seam(&["match", "line3-acoustic-02", "--data", data_s, "--json"]);
    assert!(stdout(&matched).contains(&sha), "{}", stdout(&matched));

    // Compiled for a TFLM device, the third-party flatbuffer ships as it is, embedded for firmware.
    let out_dir = dir.path().join("out");
    let out = seam(&[
        "compile",
        tflite.to_str().unwrap(),
        "--target",
        "line3-acoustic-02",
        "--data",
        data_s,
        "--out",
        out_dir.to_str().unwrap(),
        "--json",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let report: Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(report["manifest"]["backend"]["name"], "tflite-micro");
    assert_eq!(report["fit"]["fits"], true, "{report}");
    assert_eq!(
        std::fs::read(out_dir.join("Micro_Speech_Yes_No_1.tflite")).unwrap(),
        std::fs::read(&tflite).unwrap()
    );
    let gcc = Command::new("gcc")
        .args(["-std=c11", "-Wall", "-Werror", "-c", "-o"])
        .arg(dir.path().join("m.o"))
        .arg(out_dir.join("micro_speech_yes_no_1_model.c"))
        .output()
        .unwrap();
    assert!(gcc.status.success(), "{}", String::from_utf8_lossy(&gcc.stderr));
    // Backends that need an ONNX graph, and transforms, refuse it with the reason.
    for extra in [
        &["--backend", "tract-nnef"][..],
        &["--backend", "c-array", "--quantize", "int8"][..],
    ] {
        let mut args = vec![
            "compile",
            tflite.to_str().unwrap(),
            "--data",
            data_s,
            "--out",
            out_dir.to_str().unwrap(),
        ];
        args.extend_from_slice(extra);
        let out = seam(&args);
        assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
        assert!(stderr(&out).contains("TFLite model"), "{}", stderr(&out));
    }
}

/// `seam compile --endpoint`: a running service plans from its graph, signs with its own key,
/// records the provenance and shelves the package for LwM2M; the CLI checks the package it gets.
#[test]
fn compile_through_a_running_service() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("store");
    let tiny = write(
        dir.path(),
        "tiny.ttl",
        r#"@prefix seam: <https://w3id.org/seam/ontology#> .
@prefix cat:  <https://w3id.org/seam/catalog/> .
@prefix dev:  <https://w3id.org/seam/device/> .
@prefix rdfs: <http://www.w3.org/2000/01/rdf-schema#> .
cat:test-tiny-board a seam:Board ; rdfs:label "Tiny test board" ; rdfs:comment "16 KiB of RAM." ;
    seam:core "Cortex-M0+" ; seam:isa cat:armv6m ; seam:clockHz 48000000 ;
    seam:ramBytes 16384 ; seam:flashBytes 131072 ; seam:reservedRamBytes 4096 ; seam:reservedFlashBytes 32768 ;
    seam:throughput [ seam:dtype seam:int8 ; seam:macsPerCycle 0.25 ] .
dev:tiny-01 a seam:Device ; rdfs:label "Tiny test device" ; seam:shortName "tiny-01" ; seam:board cat:test-tiny-board .
"#,
    );
    let loaded = seam(&["load", &tiny, "--data", data.to_str().unwrap()]);
    assert!(loaded.status.success(), "{}", stderr(&loaded));
    let server = Server::start(&data, &["--token", "t0ken"]);
    let model = dir.path().join("kws.onnx");
    std::fs::write(
        &model,
        seam_registry::bridge::onnx_build::to_bytes(&seam_registry::bridge::onnx_build::ds_cnn(7).model),
    )
    .unwrap();
    let out_dir = dir.path().join("out");
    let compile = |extra: &[&str]| {
        let mut args = vec![
            "compile",
            model.to_str().unwrap(),
            "--endpoint",
            server.base.as_str(),
            "--out",
            out_dir.to_str().unwrap(),
        ];
        args.extend_from_slice(extra);
        seam(&args)
    };
    let out = compile(&["--target", "edge-gateway-01", "--token", "t0ken", "--json"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let report: Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(report["backend"], "tract-nnef", "{report}");
    assert_eq!(report["fit"]["fits"], true, "{report}");
    let sha = report["sha256"].as_str().unwrap().to_owned();
    assert!(
        report["packageUri"].as_str().unwrap().ends_with(&format!("/pkg/{sha}")),
        "{report}"
    );
    // The package is the service's, signed with the key its graph publishes.
    let package = std::fs::read(out_dir.join("kws.seampkg")).unwrap();
    assert_eq!(seam_registry::bridge::analysis::sha256_hex(&package), sha);
    let key = report["manifest"]["signer"]["publicKey"].as_str().unwrap().to_owned();
    let rows = server.select(&format!(
        "PREFIX seam: <https://w3id.org/seam/ontology#>
         SELECT ?k WHERE {{ <https://w3id.org/seam/artifact/{sha}> seam:signedWith ?k . ?k seam:publicKey \"{key}\" }}"
    ));
    assert_eq!(rows.len(), 1, "{rows:?}");
    assert!(out_dir.join("kws.nnef.tar").exists() && out_dir.join("manifest.json").exists());
    // Human output, from the same report.
    let again = compile(&["--target", "edge-gateway-01", "--token", "t0ken"]);
    assert!(again.status.success(), "{}", stderr(&again));
    assert!(stdout(&again).contains("cached"), "{}", stdout(&again));
    assert!(stdout(&again).contains("fits: RAM"), "{}", stdout(&again));

    // Refusals: no token, an unknown device, a model that cannot run on the device.
    let no_token = compile(&["--target", "edge-gateway-01"]);
    assert_eq!(no_token.status.code(), Some(3), "{}", stderr(&no_token));
    assert!(stderr(&no_token).contains("401"), "{}", stderr(&no_token));
    let unknown = compile(&["--target", "nobody", "--token", "t0ken"]);
    assert_eq!(unknown.status.code(), Some(3), "{}", stderr(&unknown));
    assert!(stderr(&unknown).contains("no device"), "{}", stderr(&unknown));
    let big = dir.path().join("mobilenet.onnx");
    std::fs::write(
        &big,
        seam_registry::bridge::onnx_build::to_bytes(&seam_registry::bridge::onnx_build::mobilenet_v1_025(2).model),
    )
    .unwrap();
    let remote = |target: &str| {
        seam(&[
            "compile",
            big.to_str().unwrap(),
            "--endpoint",
            server.base.as_str(),
            "--target",
            target,
            "--token",
            "t0ken",
            "--out",
            out_dir.to_str().unwrap(),
        ])
    };
    // Cannot run there at all (the service answers 409 with every reason) ...
    let tiny = remote("tiny-01");
    assert_eq!(tiny.status.code(), Some(4), "{}", stderr(&tiny));
    assert!(stderr(&tiny).contains("does not run on tiny-01"), "{}", stderr(&tiny));
    // ... or built, and too big once built.
    let hvac = remote("hvac-monitor-07");
    assert_eq!(hvac.status.code(), Some(4), "{}", stderr(&hvac));
    assert!(stdout(&hvac).contains("does not fit: RAM"), "{}", stdout(&hvac));
}
