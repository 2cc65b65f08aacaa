//! LwM2M over DTLS end to end: keys provisioned with `seam devices add-psk` and `POST
//! /devices/credentials`, the simulator registering over coaps:// and taking a package, a wrong
//! key never reaching the graph, and no key in any answer.

use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::Duration;

use serde_json::{json, Value};

use super::*;
use crate::common::{wait_for, KillOnDrop};

const TOKEN: &str = "dtls-admin";
const KEY: &str = "000102030405060708090a0b0c0d0e0f";
const OTHER_KEY: &str = "f0e0d0c0b0a090807060504030201000";

fn simulator(server: &str, prefix: &str, devices: usize, key: &str) -> KillOnDrop {
    let sim = PathBuf::from(SEAM).with_file_name("seam-device-sim");
    assert!(
        sim.exists(),
        "{} is missing: the workspace build makes it",
        sim.display()
    );
    KillOnDrop(
        Command::new(&sim)
            .args([
                "--server",
                server,
                "--psk-key-hex",
                key,
                "--devices",
                &devices.to_string(),
            ])
            .args(["--endpoint-prefix", prefix, "--ack-timeout-ms", "300"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    )
}

fn described(server: &Server, prefix: &str) -> u64 {
    http_count(
        server,
        &format!(
            "SELECT (COUNT(?d) AS ?n) WHERE {{ ?d seam:lwm2mEndpoint ?e ; seam:board ?b FILTER(STRSTARTS(?e, \"{prefix}-\")) }}"
        ),
    )
}

#[test]
fn devices_with_their_keys_register_over_dtls_and_a_wrong_key_never_appears() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("store");
    let add = seam(&[
        "devices",
        "add-psk",
        "s-0",
        "--identity",
        "s-0",
        "--key-hex",
        KEY,
        "--data",
        data.to_str().unwrap(),
    ]);
    assert!(add.status.success(), "{}", stderr(&add));
    let short = seam(&[
        "devices",
        "add-psk",
        "s-9",
        "--identity",
        "s-9",
        "--key-hex",
        "0011",
        "--data",
        data.to_str().unwrap(),
    ]);
    assert_eq!(
        short.status.code(),
        Some(3),
        "a short key is refused: {}",
        stderr(&short)
    );
    let server = Server::start(&data, &["--token", TOKEN]);
    let coaps = server.coaps.expect("seam serve listens on coaps://");
    let client = reqwest::blocking::Client::new();
    // The second device through the HTTP API (admin only); the key never comes back.
    let provision = |endpoint: &str, key: &str, token: Option<&str>| {
        let mut request = client
            .post(format!("{}/devices/credentials", server.base))
            .json(&json!({ "endpoint": endpoint, "identity": endpoint, "keyHex": key }));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        request.send().unwrap()
    };
    assert_eq!(provision("s-1", KEY, None).status(), 401);
    let made = provision("s-1", KEY, Some(TOKEN));
    assert_eq!(made.status(), 201);
    let body = made.text().unwrap();
    assert!(!body.contains(KEY), "{body}");
    assert_eq!(provision("x-0", OTHER_KEY, Some(TOKEN)).status(), 201);

    let _good = simulator(&format!("coaps://{coaps}"), "s", 2, KEY);
    wait_for("2 devices described over DTLS", Duration::from_secs(60), || {
        described(&server, "s") == 2
    });
    // x-0 is provisioned with another key: its handshake fails, it never registers; nor does it
    // over plain CoAP, since it has credentials.
    let _wrong = simulator(&format!("coaps://{coaps}"), "x", 1, KEY);
    std::thread::sleep(Duration::from_secs(3));
    assert_eq!(described(&server, "x"), 0);

    // A package over DTLS: the Package URI is coaps://, fetched through the session.
    let package: Vec<u8> = (0..20_000u32).map(|i| (i % 253) as u8).collect();
    let shelved: Value = client
        .post(format!("{}/packages", server.base))
        .bearer_auth(TOKEN)
        .body(package)
        .send()
        .unwrap()
        .json()
        .unwrap();
    let uri = shelved["packageUri"].as_str().unwrap_or_default();
    assert!(uri.starts_with("coap://"), "{shelved}");
    let delivered: Value = client
        .post(format!("{}/deployments", server.base))
        .bearer_auth(TOKEN)
        .json(&json!({ "package": shelved["sha256"], "devices": ["s-0"], "method": "pull" }))
        .send()
        .unwrap()
        .json()
        .unwrap();
    assert_eq!(delivered["installed"], 1, "{delivered:#}");

    // No answer carries a key: not SPARQL over everything, not the device's facts.
    for key in [KEY, OTHER_KEY] {
        let found = http_count(
            &server,
            &format!("SELECT (COUNT(*) AS ?n) WHERE {{ GRAPH ?g {{ ?s ?p ?o FILTER(CONTAINS(LCASE(STR(?o)), \"{key}\")) }} }}"),
        );
        assert_eq!(found, 0);
    }
    let listed = seam(&["devices", "credentials", "--json", "--data", data.to_str().unwrap()]);
    assert!(!stdout(&listed).contains(KEY), "{}", stdout(&listed));
    assert_eq!(
        serde_json::from_str::<Value>(&stdout(&listed))
            .unwrap()
            .as_array()
            .unwrap()
            .len(),
        3
    );
}
