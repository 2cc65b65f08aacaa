//! The web page in a real browser: headless Chromium (Debian's `chromium`) driven by Playwright's
//! library (`playwright-core`, npm, no browser download) against a `seam serve` with simulated
//! devices: fleet, device, rejection reasons, matrix, a rollout started from the page and
//! followed live to the end, the device's new model, the query editor; axe-core checks every
//! page. `scripts/test.sh` installs Chromium, Playwright and axe-core (scripts/interop-peers.sh).
//! Screenshots are kept in the test target's scratch folder (`browser-shots/`).

use std::path::PathBuf;
use std::process::{Command, Stdio};

use crate::common::KillOnDrop;
use crate::common::{Server, SEAM};
use crate::interop::{device_facts, env_path, eventually, has, running_models, text, tool, TOKEN};

/// Where the screenshots stay after the run.
fn shots_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("browser-shots")
}

#[test]
fn a_person_follows_the_fleet_a_device_and_a_rollout_in_chromium() {
    let modules = env_path("SEAM_NODE_MODULES", "seam-interop-node/node_modules");
    let node = tool("node");
    let chromium = std::env::var("SEAM_CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".into());
    assert!(
        std::path::Path::new(&chromium).exists(),
        "{chromium} is missing: run ./scripts/test.sh, which installs Debian's chromium (scripts/interop-peers.sh)"
    );
    let sim = PathBuf::from(SEAM).with_file_name("seam-device-sim");
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(&dir.path().join("store"), &["--token", TOKEN]);
    // A keyword-spotting model measured from its file: it needs a microphone, which the Nano 33
    // BLE Sense has and the nRF52840 DK has not.
    let bytes = seam_registry::bridge::onnx_build::to_bytes(&seam_registry::bridge::onnx_build::ds_cnn(5).model);
    let response = reqwest::blocking::Client::new()
        .post(format!(
            "{}/models?task=keyword-spotting&input-sensor=microphone&name=web-kws.onnx",
            server.base
        ))
        .bearer_auth(TOKEN)
        .body(bytes)
        .send()
        .unwrap();
    assert!(response.status().is_success(), "{}", response.text().unwrap());
    let mut sims = Vec::new();
    for (board, prefix) in [("arduino-nano-33-ble-sense", "web-nano"), ("nrf52840-dk", "web-nrf")] {
        let child = Command::new(&sim)
            .args(["--server", &format!("coap://{}", server.coap), "--devices", "2"])
            .args(["--board", board, "--endpoint-prefix", prefix])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        sims.push(KillOnDrop(child));
    }
    for name in ["web-nano-0", "web-nano-1", "web-nrf-0", "web-nrf-1"] {
        eventually(&server, &device_facts(name), |rows| has(rows, "#board", ""));
    }
    let shots = shots_dir();
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/browser/e2e.mjs");
    let out = Command::new(node)
        .args([script, &server.base, TOKEN, "web-kws", "web-nano-0", "web-nrf-0"])
        .arg(&shots)
        .env("SEAM_NODE_MODULES", &modules)
        .env("SEAM_CHROMIUM", &chromium)
        .output()
        .unwrap();
    let report = text(&out);
    assert!(out.status.success(), "{report}\n(screenshots in {})", shots.display());
    let steps: Vec<serde_json::Value> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect();
    let done: Vec<&str> = steps.iter().filter_map(|s| s["step"].as_str()).collect();
    for expected in [
        "fleet",
        "search",
        "device",
        "rejection",
        "matrix",
        "rollout",
        "runs",
        "query",
        "done",
    ] {
        assert!(done.contains(&expected), "step {expected} missing:\n{report}");
    }
    // What the page showed is what the graph holds: the device runs an artifact of the model.
    let running = running_models(&server);
    let rows = running["results"]["bindings"].as_array().unwrap();
    assert!(
        rows.iter()
            .any(|r| r["shortName"]["value"] == "web-nano-0" && r["modelName"]["value"] == "web-kws"),
        "{running:#}"
    );
    for name in ["1-fleet", "2-device", "4-rollout", "7-query"] {
        assert!(shots.join(format!("{name}.png")).exists(), "no screenshot {name}");
    }
    drop(sims);
}
