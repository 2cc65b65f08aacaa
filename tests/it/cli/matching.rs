use super::*;

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
