//! `seam demo`: the whole story in one process, checked from the outside: the JSON it prints,
//! then its store read back by `seam query` (the `running-models` named query against the
//! rollouts' own record), device by device.

use std::collections::BTreeSet;

use super::*;

fn rows(out: &Output) -> Vec<serde_json::Map<String, Value>> {
    assert!(out.status.success(), "{}", stderr(out));
    let body: Value = serde_json::from_str(&stdout(out)).unwrap();
    body["results"]["bindings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r.as_object().unwrap().clone())
        .collect()
}

fn value(row: &serde_json::Map<String, Value>, key: &str) -> String {
    row.get(key)
        .and_then(|v| v["value"].as_str())
        .unwrap_or_default()
        .to_owned()
}

/// Runs `seam demo --until-done --json` with `devices` devices on ephemeral ports, its files in
/// `data`, and `extra` arguments; checks the counts add up and at least half were deployed.
/// Answers the story (stderr) and the JSON report.
pub(super) fn run_demo(devices: u64, data: &std::path::Path, extra: &[&str]) -> (String, Value) {
    let n = devices.to_string();
    let mut args = vec![
        "demo",
        "--devices",
        &n,
        "--until-done",
        "--json",
        "--http",
        "127.0.0.1:0",
        "--coap",
        "127.0.0.1:0",
        "--data",
        data.to_str().unwrap(),
    ];
    args.extend_from_slice(extra);
    let out = seam(&args);
    assert!(out.status.success(), "{}", stderr(&out));
    let report: Value = serde_json::from_str(stdout(&out).trim()).unwrap();
    // The story (stderr) says why each device was skipped or failed: part of every message.
    let story = stderr(&out);
    let count = |k: &str| {
        report[k]
            .as_u64()
            .unwrap_or_else(|| panic!("{k} missing: {report}\n{story}"))
    };
    assert_eq!(count("devices"), devices, "{report}\n{story}");
    assert_eq!(
        count("deployed") + count("skipped") + count("failed"),
        devices,
        "{report}\n{story}"
    );
    assert!(count("deployed") >= devices / 2, "{report}\n{story}");
    (story, report)
}

#[test]
fn the_demo_deploys_where_models_run_fails_only_where_it_injected_a_fault_and_the_graph_agrees() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("demo");
    let (story, report) = run_demo(20, &data, &[]);
    let count = |k: &str| report[k].as_u64().unwrap_or_else(|| panic!("{k} missing: {report}"));
    assert!(count("matched") >= count("deployed") + count("failed"), "{report}");
    assert!(report["seconds"].as_f64().is_some(), "{report}");
    // The story went to stderr: the table names every device.
    assert!(story.contains("nano33-007"), "{story}");

    let store = data.to_str().unwrap();
    // Failed: only the devices made to refuse installs (one in ten, at 7 and 17).
    let failed = rows(&seam(&[
        "query",
        "--data",
        store,
        "--format",
        "json",
        "SELECT ?name ?why WHERE { ?r a seam:Rollout ; seam:hasTarget ?t . ?t seam:deviceName ?name ; seam:state \"failed\" ; seam:reason ?why }",
    ]));
    let failed: BTreeSet<String> = failed.iter().map(|r| value(r, "name")).collect();
    assert_eq!(failed.len() as u64, count("failed"));
    assert!(
        failed.iter().all(|n| n == "nano33-007" || n == "nano33-017"),
        "{failed:?}"
    );

    // running-models agrees with what the rollouts recorded as installed, device by device.
    let query = concat!(env!("CARGO_MANIFEST_DIR"), "/queries/running-models.rq");
    let running: BTreeSet<(String, String)> = rows(&seam(&["query", "--data", store, "--format", "json", "-f", query]))
        .iter()
        .map(|r| (value(r, "shortName"), value(r, "artifact")))
        .collect();
    let installed: BTreeSet<(String, String)> = rows(&seam(&[
        "query",
        "--data",
        store,
        "--format",
        "json",
        "SELECT ?name ?artifact WHERE { ?r a seam:Rollout ; seam:hasTarget ?t .
           ?t seam:deviceName ?name ; seam:state \"installed\" ; seam:artifact ?artifact }",
    ]))
    .iter()
    .map(|r| (value(r, "name"), value(r, "artifact")))
    .collect();
    assert_eq!(installed.len() as u64, count("deployed"));
    assert_eq!(running, installed);
}
