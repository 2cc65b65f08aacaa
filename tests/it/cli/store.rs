//! `--store URL`: the commands on a SPARQL store SEAM does not embed (a private Oxigraph server,
//! `SEAM_OXIGRAPH_SERVER`, installed by scripts/interop-peers.sh), and one that cannot be reached.

use std::process::{Child, Stdio};

use super::*;

/// Every triple but the one a remote store keeps for other instances to see writes
/// (`<urn:seam:store> <urn:seam:lastWrite> …`, in its own graph).
const GRAPH_TRIPLES: &str = "SELECT (COUNT(*) AS ?n) WHERE { ?s ?p ?o FILTER(?s != <urn:seam:store>) }";

struct OxigraphServer {
    child: Child,
    url: String,
}

impl Drop for OxigraphServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn oxigraph_server() -> OxigraphServer {
    let binary = std::env::var("SEAM_OXIGRAPH_SERVER").unwrap_or_else(|_| "oxigraph".into());
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let child = Command::new(&binary)
        .args(["serve", "--bind", &format!("127.0.0.1:{port}")])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap_or_else(|e| panic!("{binary}: {e} (set SEAM_OXIGRAPH_SERVER, or run scripts/interop-peers.sh)"));
    crate::common::wait_for("oxigraph serve", Duration::from_secs(30), || {
        std::net::TcpStream::connect(("127.0.0.1", port)).is_ok()
    });
    OxigraphServer {
        child,
        url: format!("http://127.0.0.1:{port}/query"),
    }
}

#[test]
fn load_and_match_on_a_remote_store_answer_as_on_the_embedded_one() {
    let server = oxigraph_server();
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("files");
    let local = dir.path().join("local");
    let extra = dir.path().join("extra.ttl");
    std::fs::write(
        &extra,
        "@prefix seam: <https://w3id.org/seam/ontology#> .\n\
         <https://w3id.org/seam/device/bench-mic-1> a seam:Device ; seam:shortName \"bench-mic-1\" ;\n\
           seam:board <https://w3id.org/seam/catalog/arduino-nano-33-ble-sense> .\n",
    )
    .unwrap();
    let extra = extra.to_str().unwrap();
    let loaded = seam(&["load", extra, "--store", &server.url, "--data", data.to_str().unwrap()]);
    assert!(loaded.status.success(), "{}", stderr(&loaded));
    let loaded = seam(&["load", extra, "--data", local.to_str().unwrap()]);
    assert!(loaded.status.success(), "{}", stderr(&loaded));
    for device in ["bench-mic-1", "line3-acoustic-02"] {
        let remote = match_json(&["match", device, "--json", "--store", &server.url]);
        let embedded = match_json(&["match", device, "--json", "--data", local.to_str().unwrap()]);
        assert_eq!(remote, embedded, "{device}");
        assert!(!remote["compatible"].as_array().unwrap().is_empty(), "{remote:#}");
    }
    let counted = seam(&["query", GRAPH_TRIPLES, "--store", &server.url, "--format", "csv"]);
    let local_count = seam(&[
        "query",
        GRAPH_TRIPLES,
        "--data",
        local.to_str().unwrap(),
        "--format",
        "csv",
    ]);
    assert!(counted.status.success(), "{}", stderr(&counted));
    assert_eq!(stdout(&counted), stdout(&local_count));
    // Invalid input is refused before anything is sent: the store keeps its count.
    let bad = dir.path().join("bad.ttl");
    std::fs::write(&bad, "<a> <b> .\n").unwrap();
    let refused = seam(&["load", bad.to_str().unwrap(), "--store", &server.url]);
    assert_eq!(refused.status.code(), Some(3), "{}", stderr(&refused));
    let after = seam(&["query", GRAPH_TRIPLES, "--store", &server.url, "--format", "csv"]);
    assert_eq!(stdout(&after), stdout(&counted));
}

#[test]
fn a_store_that_cannot_be_reached_is_a_clear_error_and_exit_1() {
    let dir = tempfile::tempdir().unwrap();
    // A port nothing listens on.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let url = format!("http://127.0.0.1:{port}/query");
    let out = seam(&[
        "serve",
        "--store",
        &url,
        "--data",
        dir.path().to_str().unwrap(),
        "--http",
        "127.0.0.1:0",
        "--coap",
        "off",
        "--coaps",
        "off",
    ]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(stderr(&out).contains("cannot be reached"), "{}", stderr(&out));
    let out = seam(&["match", "line3-acoustic-02", "--store", &url]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let out = seam(&["query", TRIPLES, "--store", "ftp://example.org/sparql"]);
    assert_ne!(out.status.code(), Some(0));
    assert!(stderr(&out).contains("only http and https"), "{}", stderr(&out));
}

/// `seam demo --store`: the whole story on an Oxigraph server, and the graph it leaves there says
/// what the rollouts installed.
#[test]
fn the_demo_runs_on_a_remote_store_and_leaves_its_facts_there() {
    let server = oxigraph_server();
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("files");
    let (story, report) = super::demo::run_demo(10, &data, &["--store", &server.url]);
    assert!(story.contains("SEAM is up on the store at"), "{story}");
    let count = |k: &str| report[k].as_u64().unwrap_or_else(|| panic!("{k} missing: {report}"));
    // The embedded store was never made: the graph is on the server.
    assert!(!data.join("CURRENT").exists());
    let names = |query: &str| -> std::collections::BTreeSet<String> {
        let out = seam(&["query", query, "--store", &server.url, "--format", "csv"]);
        assert!(out.status.success(), "{}", stderr(&out));
        stdout(&out).lines().skip(1).map(str::to_owned).collect()
    };
    let installed = names(
        "SELECT DISTINCT ?name WHERE { ?r a seam:Rollout ; seam:hasTarget ?t . ?t seam:deviceName ?name ; seam:state \"installed\" }",
    );
    let running = names("SELECT DISTINCT ?name WHERE { ?d seam:runs ?a ; seam:shortName ?name }");
    assert_eq!(installed.len() as u64, count("deployed"), "{installed:?}");
    assert_eq!(running, installed);
}
