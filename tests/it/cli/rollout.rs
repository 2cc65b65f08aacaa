//! A rollout survives the service being killed: 100 simulated devices (separate process), the
//! server SIGKILLed mid-rollout and started again on the same store and CoAP port.

use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::Duration;

use serde_json::{json, Value};

use super::*;
use crate::common::{wait_for, KillOnDrop};

const TOKEN: &str = "rollout-kill";

fn free_udp_port() -> u16 {
    std::net::UdpSocket::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn get(server: &Server, path: &str) -> Value {
    let answer = reqwest::blocking::Client::new()
        .get(format!("{}{path}", server.base))
        .send()
        .and_then(reqwest::blocking::Response::json);
    match answer {
        Ok(v) => v,
        // The server's own account of why it no longer answers.
        Err(e) => panic!("{path}: {e}; the server's log ends:\n{}", server.log_tail(40)),
    }
}

#[test]
fn a_rollout_killed_mid_way_resumes_and_every_device_ends_in_exactly_one_final_state() {
    let sim = PathBuf::from(SEAM).with_file_name("seam-device-sim");
    assert!(
        sim.exists(),
        "{} is missing: the workspace build makes it",
        sim.display()
    );
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("store");
    let coap = format!("127.0.0.1:{}", free_udp_port());
    let mut server = Server::start_at(&data, &coap, &["--token", TOKEN]);

    let model = seam_registry::bridge::onnx_build::to_bytes(&seam_registry::bridge::onnx_build::ds_cnn(11).model);
    let registered: Value = reqwest::blocking::Client::new()
        .post(format!(
            "{}/models?task=keyword-spotting&input-sensor=microphone&name=kws.onnx",
            server.base
        ))
        .bearer_auth(TOKEN)
        .body(model)
        .send()
        .unwrap()
        .json()
        .unwrap();
    let model = registered["model"].as_str().unwrap().to_owned();

    let devices = KillOnDrop(
        Command::new(&sim)
            .args(["--server", &format!("coap://{coap}"), "--devices", "100"])
            .args(["--board", "arduino-nano-33-ble-sense", "--endpoint-prefix", "k"])
            .args(["--lifetime", "6", "--ack-timeout-ms", "300"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let described =
        "SELECT (COUNT(?d) AS ?n) WHERE { ?d seam:lwm2mEndpoint ?e ; seam:board ?b FILTER(STRSTARTS(?e, \"k-\")) }";
    wait_for("100 devices described", Duration::from_secs(60), || {
        http_count(&server, described) == 100
    });

    let names: Vec<String> = (0..100).map(|i| format!("k-{i}")).collect();
    let started: Value = reqwest::blocking::Client::new()
        .post(format!("{}/rollouts", server.base))
        .bearer_auth(TOKEN)
        .json(&json!({ "model": model, "devices": names, "concurrency": 4, "errorThresholdPct": 100 }))
        .send()
        .unwrap()
        .json()
        .unwrap();
    let id = started["id"].as_str().unwrap().to_owned();
    let mut at_kill = Value::Null;
    wait_for("a fifth of the devices installed", Duration::from_secs(120), || {
        at_kill = get(&server, &format!("/rollouts/{id}"));
        at_kill["summary"]["installed"].as_u64().unwrap_or(0) >= 20
    });
    // SIGKILL: no shutdown, no flush beyond what each write already made durable.
    server.child.kill().unwrap();
    server.child.wait().unwrap();
    assert!(
        at_kill["summary"]["installed"].as_u64().unwrap_or(0) < 100,
        "the rollout ended before the kill: {}",
        at_kill["summary"]
    );
    let server = Server::start_at(&data, &coap, &["--token", TOKEN]);
    let mut last = Value::Null;
    wait_for("the resumed rollout to finish", Duration::from_secs(240), || {
        last = get(&server, &format!("/rollouts/{id}"));
        !["building", "running", "paused"].contains(&last["state"].as_str().unwrap_or(""))
    });
    assert_eq!(last["state"], "completed", "{last:#}");
    eprintln!("at the kill: {}; at the end: {}", at_kill["summary"], last["summary"]);
    let targets = last["targets"].as_array().unwrap();
    assert_eq!(targets.len(), 100);
    for t in targets {
        let state = t["state"].as_str().unwrap();
        assert!(
            ["installed", "failed"].contains(&state),
            "{} ended {state}: {}",
            t["device"],
            t["reason"]
        );
        if state == "failed" {
            // Only a delivery the kill interrupted may fail, and it says so.
            assert!(t["reason"].as_str().unwrap().contains("interrupted"), "{t:#}");
        }
    }
    // No device was delivered to twice: one deployment of this rollout per device at most.
    let twice = server.select(&format!(
        "SELECT ?d (COUNT(?dep) AS ?n) WHERE {{ ?dep seam:partOf <https://w3id.org/seam/rollout/{id}> ; seam:target ?d }}
         GROUP BY ?d HAVING (COUNT(?dep) > 1)"
    ));
    assert!(twice.is_empty(), "{twice:?}");
    // The graph's record agrees with the service's answer.
    let recorded = server.select(&format!(
        "SELECT (COUNT(?t) AS ?n) WHERE {{ <https://w3id.org/seam/rollout/{id}> seam:hasTarget ?t .
           ?t seam:state ?s FILTER(?s IN (\"installed\", \"failed\")) }}"
    ));
    assert_eq!(recorded[0][0], "100");
    drop(devices);
}

#[test]
fn refused_rollouts_exit_3_with_the_reason_and_start_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(&dir.path().join("store"), &["--token", TOKEN]);
    let run = |args: &[&str]| {
        Command::new(SEAM)
            .args(args)
            .args(["--endpoint", &server.base])
            .env("SEAM_TOKEN", TOKEN)
            .output()
            .unwrap()
    };
    let out = run(&["deploy", "https://example.org/no-such-model", "--compatible"]);
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    assert!(stderr(&out).contains("no model"), "{}", stderr(&out));

    // A model file is registered first, which needs its task.
    let model = dir.path().join("kws.onnx");
    std::fs::write(
        &model,
        seam_registry::bridge::onnx_build::to_bytes(&seam_registry::bridge::onnx_build::ds_cnn(3).model),
    )
    .unwrap();
    let out = run(&["deploy", model.to_str().unwrap(), "--to", "line3-acoustic-02"]);
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    assert!(stderr(&out).contains("--task"), "{}", stderr(&out));

    // Registered, then refused: the device named is not in the graph.
    let out = run(&[
        "deploy",
        model.to_str().unwrap(),
        "--task",
        "keyword-spotting",
        "--to",
        "nobody-here",
    ]);
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    assert!(stderr(&out).contains("nobody-here"), "{}", stderr(&out));
    // A package needs devices named, not --compatible.
    let package = dir.path().join("x.seampkg");
    std::fs::write(&package, b"not a package").unwrap();
    let out = run(&["deploy", package.to_str().unwrap(), "--compatible"]);
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));

    // Nothing was started.
    let out = run(&["rollouts", "--json"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let listed: Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(listed["rollouts"], json!([]));
    let out = run(&["rollouts", "no-such-rollout"]);
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
}
