//! SEAM's LwM2M server against implementations written by others, run as separate processes:
//! libcoap's `coap-client-notls` (C), aiocoap (Python), and lwm2m-node-lib (Node.js), plus the
//! `seam deploy` CLI and the device simulator. `scripts/test.sh` installs the peers
//! (scripts/interop-peers.sh) and says where they are; a missing peer fails the test with
//! what to install, it is never skipped silently.

use std::path::PathBuf;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use crate::common::{KillOnDrop, Server, SEAM};

pub(crate) const TOKEN: &str = "interop-token";

pub(crate) fn tool(name: &str) -> String {
    let found = Command::new("sh")
        .args(["-c", &format!("command -v {name}")])
        .output()
        .unwrap();
    assert!(
        found.status.success(),
        "{name} is not installed: run ./scripts/test.sh, which installs the interop peers (scripts/interop-peers.sh)"
    );
    name.to_owned()
}

pub(crate) fn env_path(var: &str, default_under_cache: &str) -> PathBuf {
    let path = std::env::var_os(var).map(PathBuf::from).unwrap_or_else(|| {
        PathBuf::from(std::env::var_os("HOME").unwrap_or_default())
            .join(".cache")
            .join(default_under_cache)
    });
    assert!(
        path.exists(),
        "{} does not exist: run ./scripts/test.sh, which installs the interop peers (scripts/interop-peers.sh)",
        path.display()
    );
    path
}

pub(crate) fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// Stores `bytes` as a package and returns its SHA-256.
fn store_package(server: &Server, bytes: Vec<u8>) -> String {
    let response: serde_json::Value = reqwest::blocking::Client::new()
        .post(format!("{}/packages", server.base))
        .bearer_auth(TOKEN)
        .body(bytes)
        .send()
        .unwrap()
        .json()
        .unwrap();
    response["sha256"].as_str().unwrap().to_owned()
}

fn package(len: usize, seed: u64) -> Vec<u8> {
    let mut rng = fastrand::Rng::with_seed(seed);
    (0..len).map(|_| rng.u8(..)).collect()
}

fn sha256_of(path: &std::path::Path) -> String {
    let out = Command::new("sha256sum").arg(path).output().unwrap();
    String::from_utf8_lossy(&out.stdout).chars().take(64).collect()
}

/// Polls a SELECT until `done` holds for its rows.
pub(crate) fn eventually(server: &Server, query: &str, done: impl Fn(&[Vec<String>]) -> bool) -> Vec<Vec<String>> {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let rows = server.select(query);
        if done(&rows) {
            return rows;
        }
        assert!(Instant::now() < deadline, "{query}\n last rows: {rows:?}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

pub(crate) fn device_facts(name: &str) -> String {
    format!(
        "PREFIX seam: <https://w3id.org/seam/ontology#>
         SELECT ?p ?o WHERE {{ ?d seam:shortName \"{name}\" ; ?p ?o }} ORDER BY ?p ?o"
    )
}

/// The `running-models` named query's answer (SPARQL JSON results).
pub(crate) fn running_models(server: &Server) -> serde_json::Value {
    reqwest::blocking::Client::new()
        .get(format!("{}/queries/running-models", server.base))
        .header("Accept", "application/sparql-results+json")
        .send()
        .unwrap()
        .json()
        .unwrap()
}

pub(crate) fn has(rows: &[Vec<String>], p: &str, o: &str) -> bool {
    rows.iter().any(|r| r[0].ends_with(p) && r[1].ends_with(o))
}

#[test]
fn libcoap_registers_by_hand_and_fetches_a_package_block_wise() {
    let client = tool("coap-client-notls");
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(&dir.path().join("store"), &["--token", TOKEN]);
    let rd = format!("coap://{}/rd?ep=by-hand&lt=60&lwm2m=1.1&b=U", server.coap);
    let out = Command::new(&client)
        .args(["-m", "post", "-t", "40", "-e", "</1/0>,</3/0>,</3303/0>,</3313/0>", &rd])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out));
    // coap-client cannot answer the server's read of /3/0: the device exists, not yet described.
    let rows = eventually(&server, &device_facts("by-hand"), |rows| {
        has(rows, "#flag", "#NotDescribed")
    });
    assert!(has(&rows, "#status", "#Online"), "{rows:?}");
    let sensors = server.select(
        "PREFIX seam: <https://w3id.org/seam/ontology#>
         SELECT ?kind WHERE { ?d seam:shortName \"by-hand\" ; seam:hasSensor/seam:sensorKind ?kind } ORDER BY ?kind",
    );
    assert_eq!(
        sensors,
        vec![
            vec![format!("https://w3id.org/seam/ontology#accelerometer")],
            vec![format!("https://w3id.org/seam/ontology#temperature")]
        ]
    );

    // Block-wise download at several block sizes, each checked against the digest.
    let sha = store_package(&server, package(150_000, 1));
    for size in ["16", "256", "1024"] {
        let file = dir.path().join(format!("pkg-{size}"));
        let out = Command::new(&client)
            .args([
                "-m",
                "get",
                "-b",
                size,
                "-o",
                file.to_str().unwrap(),
                &format!("coap://{}/pkg/{sha}", server.coap),
            ])
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", text(&out));
        assert_eq!(sha256_of(&file), sha, "block size {size}");
    }
    // A registration without an endpoint name is refused with 4.00.
    let out = Command::new(&client)
        .args([
            "-m",
            "post",
            "-t",
            "40",
            "-e",
            "</3/0>",
            &format!("coap://{}/rd?lt=60", server.coap),
        ])
        .output()
        .unwrap();
    assert!(text(&out).contains("4.00"), "{}", text(&out));
}

#[test]
fn aiocoap_scripted_registrations_and_malformed_options() {
    let python = env_path("SEAM_INTEROP_PYTHON", "seam-interop-venv/bin/python");
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(&dir.path().join("store"), &["--token", TOKEN]);
    let bytes = package(80_000, 2);
    let size = bytes.len().to_string();
    let sha = store_package(&server, bytes);
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/interop/aiocoap_peer.py");
    let out = Command::new(python)
        .args([script, &server.coap.to_string(), &sha, &size])
        .output()
        .unwrap();
    let report = text(&out);
    assert!(out.status.success(), "{report}");
    assert_eq!(
        report.lines().filter(|l| l.contains("\"ok\": true")).count(),
        13,
        "{report}"
    );
    // The scripted registration went offline when it de-registered.
    let rows = eventually(&server, &device_facts("aiocoap-1"), |rows| {
        has(rows, "#status", "#Offline")
    });
    assert!(has(&rows, "#lwm2mVersion", "1.1"), "{rows:?}");
}

#[test]
fn aiocoap_over_tinydtls_registers_with_its_key_only() {
    let python = env_path("SEAM_INTEROP_PYTHON", "seam-interop-venv/bin/python");
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("store");
    let key = "00112233445566778899aabbccddeeff";
    let add = Command::new(SEAM)
        .args([
            "devices",
            "add-psk",
            "aiocoap-dtls",
            "--identity",
            "aiocoap-id",
            "--key-hex",
            key,
        ])
        .args(["--data", data.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(add.status.success(), "{}", text(&add));
    let server = Server::start(&data, &["--token", TOKEN]);
    let coaps = server.coaps.expect("coaps://").to_string();
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/interop/aiocoap_dtls_peer.py");
    let out = Command::new(python)
        .args([script, &coaps, "aiocoap-dtls", "aiocoap-id", key])
        .output()
        .unwrap();
    let report = text(&out);
    assert!(out.status.success(), "{report}");
    let steps: Vec<serde_json::Value> = report.lines().filter_map(|l| serde_json::from_str(l).ok()).collect();
    assert_eq!(steps.len(), 2, "{report}");
    // tinydtls speaks TLS_PSK_WITH_AES_128_CCM_8 only: the interoperability floor.
    assert_eq!(steps[0]["code"], "2.01 Created", "{report}");
    assert_eq!(steps[0]["location"][0], "rd", "{report}");
    assert!(steps[1]["code"].as_str().unwrap().starts_with("error"), "{report}");
    let rows = eventually(&server, &device_facts("aiocoap-dtls"), |rows| {
        has(rows, "#status", "#Online")
    });
    assert!(has(&rows, "#lwm2mVersion", "1.1"), "{rows:?}");
    let wrong = server.select(
        "PREFIX seam: <https://w3id.org/seam/ontology#> SELECT ?d WHERE { ?d seam:lwm2mEndpoint \"aiocoap-dtls-wrong\" }",
    );
    assert!(wrong.is_empty(), "{wrong:?}");
}

#[test]
fn lwm2m_node_lib_client_registers_is_read_and_takes_a_package() {
    let modules = env_path("SEAM_NODE_MODULES", "seam-interop-node/node_modules");
    let node = tool("node");
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(&dir.path().join("store"), &["--token", TOKEN]);
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/interop/lwm2m-node-client.js");
    let client = Command::new(node)
        .args([
            script,
            "127.0.0.1",
            &server.coap.port().to_string(),
            "node-client",
            "40",
        ])
        .env("SEAM_NODE_MODULES", &modules)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let client = KillOnDrop(client);

    // Read resource by resource (this 1.0 client answers no instance read) and mapped to the
    // catalog board its model number names.
    let rows = eventually(&server, &device_facts("node-client"), |rows| {
        has(rows, "#board", "nordic-nrf52840-dk")
    });
    assert!(
        has(&rows, "#serialNumber", "NODE-0001") && has(&rows, "#freeFlashBytes", "307200"),
        "{rows:?}"
    );
    assert!(has(&rows, "#lwm2mVersion", "1.0"), "{rows:?}");

    // The package goes through Object 5; the client downloads it with the node `coap` agent.
    let file = dir.path().join("model.bin");
    std::fs::write(&file, package(60_000, 3)).unwrap();
    let out = Command::new(SEAM)
        .args([
            "deploy",
            file.to_str().unwrap(),
            "--to",
            "node-client",
            "--endpoint",
            &server.base,
            "--json",
        ])
        .env("SEAM_TOKEN", TOKEN)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["installed"], 1, "{report}");
    assert_eq!(report["results"][0]["object"], 5, "{report}");
    let sha = report["package"].as_str().unwrap().to_owned();
    // The bridge writes the outcome into the graph as it takes the device's report, after the
    // delivery has answered: waited for, not raced.
    let runs = eventually(
        &server,
        &format!(
            "PREFIX seam: <https://w3id.org/seam/ontology#>
             SELECT ?r WHERE {{ ?d seam:shortName \"node-client\" ; seam:runs/seam:sha256 \"{sha}\" .
                               ?dep seam:target ?d ; seam:result ?r }}"
        ),
        |rows| !rows.is_empty(),
    );
    assert_eq!(runs, vec![vec!["installed".to_owned()]]);
    drop(client);
}

#[test]
fn seam_deploy_reaches_simulated_devices_and_reports_failures() {
    let sim = PathBuf::from(SEAM).with_file_name("seam-device-sim");
    assert!(
        sim.exists(),
        "{} is missing: ./scripts/test.sh builds it (or `cargo build -p seam-device-sim`)",
        sim.display()
    );
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(&dir.path().join("store"), &["--token", TOKEN]);
    let server_uri = format!("coap://{}", server.coap);
    let start_sim = |prefix: &str, extra: &[&str]| {
        KillOnDrop(
            Command::new(&sim)
                .args(["--server", &server_uri, "--devices", "5", "--endpoint-prefix", prefix])
                .args(["--ack-timeout-ms", "200", "--duration", "60"])
                .args(extra)
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .unwrap(),
        )
    };
    let _good = start_sim("good", &["--loss", "5"]);
    let _bad = start_sim("bad", &["--corrupt-block"]);
    eventually(
        &server,
        "PREFIX seam: <https://w3id.org/seam/ontology#> SELECT ?d WHERE { ?d seam:status seam:Online ; seam:board ?b }",
        |rows| rows.len() == 10,
    );
    let file = dir.path().join("model.bin");
    std::fs::write(&file, package(30_000, 4)).unwrap();
    let names: Vec<String> = (0..5)
        .map(|i| format!("good-{i}"))
        .chain((0..2).map(|i| format!("bad-{i}")))
        .collect();
    let mut args = vec![
        "deploy".to_owned(),
        file.to_str().unwrap().to_owned(),
        "--endpoint".into(),
        server.base.clone(),
    ];
    args.push("--to".into());
    args.extend(names.iter().cloned());
    let out = Command::new(SEAM)
        .args(&args)
        .env("SEAM_TOKEN", TOKEN)
        .output()
        .unwrap();
    let report = text(&out);
    assert_eq!(out.status.code(), Some(1), "{report}");
    assert_eq!(report.matches(": installed (object 9)").count(), 5, "{report}");
    assert_eq!(report.matches("integrity check failed").count(), 2, "{report}");
    assert!(report.contains("2 of 7 deliveries failed"), "{report}");

    // Devices chosen by a query, in waves: a failing canary stops the rollout.
    let deploy_where = |query: &str, canary: &str| {
        Command::new(SEAM)
            .args(["deploy", file.to_str().unwrap(), "--endpoint", &server.base, "--json"])
            .args(["--where", query, "--canary", canary])
            .env("SEAM_TOKEN", TOKEN)
            .output()
            .unwrap()
    };
    let out = deploy_where(
        "SELECT ?d WHERE { ?d seam:lwm2mEndpoint ?e FILTER STRSTARTS(?e, \"bad-\") }",
        "40",
    );
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(
        text(&out).contains("the canary wave failed on 2 of 2 devices; the other 3 were not touched"),
        "{}",
        text(&out)
    );
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        (report["failed"].as_u64(), report["skipped"].as_u64()),
        (Some(2), Some(3)),
        "{report}"
    );
    // IRIs are turned into short names; a good canary lets the rest follow.
    let out = deploy_where(
        "SELECT ?d WHERE { ?d seam:lwm2mEndpoint ?e FILTER STRSTARTS(?e, \"good-\") }",
        "20",
    );
    assert!(out.status.success(), "{}", text(&out));
    assert!(
        text(&out).contains("canary wave: 1 devices") && text(&out).contains("rollout wave: 4 devices"),
        "{}",
        text(&out)
    );
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["installed"], 5, "{report}");

    // Unknown devices and malformed requests are problems, not hangs.
    let out = Command::new(SEAM)
        .args([
            "deploy",
            file.to_str().unwrap(),
            "--endpoint",
            &server.base,
            "--to",
            "nobody",
        ])
        .env("SEAM_TOKEN", TOKEN)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out).contains("not registered over LwM2M: nobody"),
        "{}",
        text(&out)
    );
    let http = reqwest::blocking::Client::new();
    for (body, status) in [
        ("{\"package\": 1}", 400),
        (
            "{\"package\": \"x\", \"devices\": [\"good-0\"], \"method\": \"carrier-pigeon\"}",
            400,
        ),
        ("{\"package\": \"x\", \"devices\": []}", 400),
        ("{\"package\": \"0000\", \"devices\": [\"good-0\"]}", 404),
        ("not json", 400),
    ] {
        let response = http
            .post(format!("{}/deployments", server.base))
            .bearer_auth(TOKEN)
            .body(body)
            .send()
            .unwrap();
        assert_eq!(response.status().as_u16(), status, "{body}");
        assert_eq!(
            response.headers()["content-type"].to_str().unwrap(),
            "application/problem+json",
            "{body}"
        );
    }
    let response = http.post(format!("{}/packages", server.base)).body("x").send().unwrap();
    assert_eq!(response.status().as_u16(), 401);
}

/// A package compiled and signed by `seam compile`, delivered by `seam deploy` to simulators that
/// trust the registry's key (installed) and to ones that trust another key (refused: the
/// signature check fails before the device reports the package delivered). The graph links the
/// deployment to the compiled artifact and its provenance.
#[test]
fn signed_packages_are_checked_by_the_devices_that_install_them() {
    let sim = PathBuf::from(SEAM).with_file_name("seam-device-sim");
    assert!(
        sim.exists(),
        "{} is missing: ./scripts/test.sh builds it",
        sim.display()
    );
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("store");
    let model = dir.path().join("kws.onnx");
    std::fs::write(
        &model,
        seam_registry::bridge::onnx_build::to_bytes(&seam_registry::bridge::onnx_build::ds_cnn(6).model),
    )
    .unwrap();
    let out_dir = dir.path().join("out");
    let compiled = Command::new(SEAM)
        .args(["compile", model.to_str().unwrap(), "--backend", "onnx-int8", "--json"])
        .args(["--data", data.to_str().unwrap(), "--out", out_dir.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(compiled.status.success(), "{}", text(&compiled));
    let report: serde_json::Value = serde_json::from_slice(&compiled.stdout).unwrap();
    let key = report["manifest"]["signer"]["publicKey"].as_str().unwrap().to_owned();
    let sha = report["sha256"].as_str().unwrap().to_owned();

    let server = Server::start(&data, &["--token", TOKEN]);
    let server_uri = format!("coap://{}", server.coap);
    let start_sim = |prefix: &str, trusted: &str| {
        KillOnDrop(
            Command::new(&sim)
                .args(["--server", &server_uri, "--devices", "2", "--endpoint-prefix", prefix])
                .args(["--ack-timeout-ms", "200", "--duration", "60", "--trust-key", trusted])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .unwrap(),
        )
    };
    let _trusting = start_sim("trusting", &key);
    let _wary = start_sim("wary", &"ab".repeat(32));
    eventually(
        &server,
        "PREFIX seam: <https://w3id.org/seam/ontology#> SELECT ?d WHERE { ?d seam:status seam:Online ; seam:board ?b }",
        |rows| rows.len() == 4,
    );
    let package = out_dir.join("kws.seampkg");
    let out = Command::new(SEAM)
        .args(["deploy", package.to_str().unwrap(), "--endpoint", &server.base])
        .args(["--to", "trusting-0", "trusting-1", "wary-0", "wary-1"])
        .env("SEAM_TOKEN", TOKEN)
        .output()
        .unwrap();
    let deployed = text(&out);
    assert_eq!(out.status.code(), Some(1), "{deployed}");
    assert_eq!(deployed.matches(": installed (object 9)").count(), 2, "{deployed}");
    assert_eq!(deployed.matches("integrity check failed").count(), 2, "{deployed}");
    // What runs where, and where it came from: device → artifact → compilation → model (the
    // bridge records it as it takes the devices' reports, after the deploy answered).
    let rows = eventually(
        &server,
        &format!(
            "PREFIX seam: <https://w3id.org/seam/ontology#> PREFIX prov: <http://www.w3.org/ns/prov#>
             SELECT ?e ?b WHERE {{ ?d seam:lwm2mEndpoint ?e ; seam:runs <https://w3id.org/seam/artifact/{sha}> .
               <https://w3id.org/seam/artifact/{sha}> prov:wasGeneratedBy ?c . ?c seam:backend ?b }}"
        ),
        |rows| rows.len() >= 2,
    );
    let mut endpoints: Vec<&str> = rows.iter().map(|r| r[0].as_str()).collect();
    endpoints.sort();
    assert_eq!(endpoints, ["trusting-0", "trusting-1"], "{rows:?}");
    assert!(rows.iter().all(|r| r[1] == "onnx-int8"), "{rows:?}");

    // Apps see the same through GraphQL: what a device runs, and where it came from.
    let answer: serde_json::Value = reqwest::blocking::Client::new()
        .post(format!("{}/graphql", server.base))
        .json(&serde_json::json!({ "query": format!(
            "{{ device(id: \"trusting-0\") {{ runs {{ sha256 backend signerPublicKey model top1Agreement }} }}
               wary: device(id: \"wary-0\") {{ runs {{ sha256 }} }}
               artifact(id: \"{sha}\") {{ backend backendVersion options compiledAt }} }}"
        ) }))
        .send()
        .unwrap()
        .json()
        .unwrap();
    let runs = &answer["data"]["device"]["runs"];
    assert_eq!(runs[0]["sha256"], sha.as_str(), "{answer}");
    assert_eq!(runs[0]["backend"], "onnx-int8", "{answer}");
    assert_eq!(runs[0]["signerPublicKey"], key.as_str(), "{answer}");
    assert!(
        runs[0]["model"]
            .as_str()
            .unwrap()
            .starts_with("https://w3id.org/seam/model/"),
        "{answer}"
    );
    assert!(runs[0]["top1Agreement"].as_f64().unwrap() >= 0.95, "{answer}");
    assert_eq!(answer["data"]["wary"]["runs"], serde_json::json!([]), "{answer}");
    assert!(
        answer["data"]["artifact"]["options"]
            .as_str()
            .unwrap()
            .contains("\"quantize\":\"int8\""),
        "{answer}"
    );
}

/// An independent LwM2M client (lwm2m-node-lib, Object 5) takes part in a rollout: the model is
/// registered from its file by `seam deploy`, compiled for the client's board, delivered, and the
/// `running-models` named query names it.
#[test]
fn lwm2m_node_lib_client_takes_part_in_a_rollout() {
    let modules = env_path("SEAM_NODE_MODULES", "seam-interop-node/node_modules");
    let node = tool("node");
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(&dir.path().join("store"), &["--token", TOKEN]);
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/interop/lwm2m-node-client.js");
    let client = Command::new(node)
        .args([script, "127.0.0.1", &server.coap.port().to_string(), "node-roll", "40"])
        .env("SEAM_NODE_MODULES", &modules)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let client = KillOnDrop(client);
    eventually(&server, &device_facts("node-roll"), |rows| {
        has(rows, "#board", "nordic-nrf52840-dk")
    });
    let model = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../shared/interop/seloc-ml/models/Hello_World.tflite"
    );
    let out = Command::new(SEAM)
        .args(["deploy", model, "--task", "anomaly-detection", "--to", "node-roll"])
        .args(["--endpoint", &server.base, "--json"])
        .env("SEAM_TOKEN", TOKEN)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["state"], "completed", "{report:#}");
    assert_eq!(report["summary"]["installed"], 1, "{report:#}");
    let sha = report["targets"][0]["artifact"].as_str().unwrap().to_owned();
    let id = report["id"].as_str().unwrap().to_owned();
    let running = running_models(&server);
    let rows = running["results"]["bindings"].as_array().unwrap();
    let row = rows
        .iter()
        .find(|r| r["shortName"]["value"] == "node-roll")
        .unwrap_or_else(|| panic!("{running:#}"));
    assert!(row["artifact"]["value"].as_str().unwrap().ends_with(&sha), "{row:#}");
    assert!(row["rollout"]["value"].as_str().unwrap().ends_with(&id), "{row:#}");
    // `seam rollouts ID` shows it device by device.
    let out = Command::new(SEAM)
        .args(["rollouts", &id, "--endpoint", &server.base])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out));
    assert!(
        text(&out).contains("node-roll") && text(&out).contains("installed"),
        "{}",
        text(&out)
    );
    drop(client);
}

/// The reference graphql-transport-ws client (graphql-ws, npm) starts a rollout with the
/// `startRollout` mutation over `/graphql/ws` and follows it with `rolloutEvents` to the end;
/// without the token the mutation is refused.
#[test]
fn graphql_ws_client_starts_a_rollout_and_follows_its_events() {
    let modules = env_path("SEAM_NODE_MODULES", "seam-interop-node/node_modules");
    let node = tool("node");
    let sim = PathBuf::from(SEAM).with_file_name("seam-device-sim");
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(&dir.path().join("store"), &["--token", TOKEN]);
    let bytes = seam_registry::bridge::onnx_build::to_bytes(&seam_registry::bridge::onnx_build::ds_cnn(5).model);
    let registered: serde_json::Value = reqwest::blocking::Client::new()
        .post(format!(
            "{}/models?task=keyword-spotting&input-sensor=microphone&name=kws.onnx",
            server.base
        ))
        .bearer_auth(TOKEN)
        .body(bytes)
        .send()
        .unwrap()
        .json()
        .unwrap();
    let model = registered["model"].as_str().unwrap().to_owned();
    let devices = Command::new(&sim)
        .args(["--server", &format!("coap://{}", server.coap), "--devices", "3"])
        .args(["--board", "arduino-nano-33-ble-sense", "--endpoint-prefix", "gql"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let devices = KillOnDrop(devices);
    for i in 0..3 {
        eventually(&server, &device_facts(&format!("gql-{i}")), |rows| {
            has(rows, "#board", "arduino-nano-33-ble-sense")
        });
    }
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/interop/graphql-ws-rollout.js");
    let url = format!("{}/graphql/ws", server.base.replacen("http://", "ws://", 1));
    let out = Command::new(node)
        .args([script, &url, TOKEN, &model, "gql-0", "gql-1", "gql-2"])
        .env("SEAM_NODE_MODULES", &modules)
        .output()
        .unwrap();
    let report = text(&out);
    assert!(out.status.success(), "{report}");
    let lines: Vec<serde_json::Value> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let id = lines[0]["started"].as_str().unwrap().to_owned();
    let events: Vec<&serde_json::Value> = lines[1..lines.len() - 1]
        .iter()
        .map(|l| &l["data"]["rolloutEvents"])
        .collect();
    assert!(events.iter().all(|e| e["rollout"] == id.as_str()), "{report}");
    let installed: Vec<&str> = events
        .iter()
        .filter(|e| e["deviceState"] == "installed")
        .filter_map(|e| e["device"].as_str())
        .collect();
    assert_eq!(installed.len(), 3, "{report}");
    let last = events.last().unwrap();
    assert_eq!(last["state"], "completed", "{report}");
    assert!(last["device"].is_null(), "{report}");
    let anonymous = &lines[lines.len() - 1]["anonymous"];
    assert!(
        anonymous["errors"][0]["message"]
            .as_str()
            .unwrap_or("")
            .contains("Authorization"),
        "{report}"
    );
    drop(devices);
}
