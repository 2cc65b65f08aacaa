use super::*;

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
        // The allocator's own statistics reach `/metrics`: the seeded graph, RocksDB's memtables
        // and the replica are megabytes of live heap (0 would say they are not read).
        let metrics = reqwest::blocking::get(format!("{}/metrics", server.base))
            .unwrap()
            .text()
            .unwrap();
        let sample = |name: &str| -> Option<f64> {
            metrics
                .lines()
                .find_map(|l| l.strip_prefix(name))
                .and_then(|v| v.trim().parse().ok())
        };
        let heap = sample("seam_heap_in_use_bytes ");
        assert!(heap.is_some_and(|h| h > 1e6), "{metrics}");
        assert!(sample("seam_heap_kept_free_bytes ").is_some(), "{metrics}");
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
fn tokens_made_and_revoked_by_the_cli_take_effect_on_a_running_server() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("s");
    let tokens = |args: &[&str]| {
        Command::new(SEAM)
            .arg("tokens")
            .args(args)
            .args(["--data", data.to_str().unwrap()])
            .output()
            .unwrap()
    };
    let made = tokens(&["create", "deployer", "--scope", "deploy", "--json"]);
    assert!(made.status.success(), "{}", String::from_utf8_lossy(&made.stderr));
    let deployer: Value = serde_json::from_slice(&made.stdout).unwrap();
    let deployer = deployer["token"].as_str().unwrap().to_owned();
    let server = Server::start(&data, &["--reads", "closed"]);
    let client = reqwest::blocking::Client::new();
    let update = |token: &str| {
        client
            .post(format!("{}/update", server.base))
            .bearer_auth(token)
            .header("content-type", "application/sparql-update")
            .body("INSERT DATA { <urn:x> <urn:y> 1 }")
            .send()
            .unwrap()
            .status()
    };
    assert_eq!(update(&deployer), 403, "deploy does not grant write");
    assert_eq!(
        client
            .get(server.sparql())
            .query(&[("query", "ASK {}")])
            .send()
            .unwrap()
            .status(),
        401
    );
    // A token made while the server runs is accepted at once; a revoked one is refused at once.
    let made = tokens(&["create", "writer", "--scope", "write"]);
    assert!(made.status.success());
    let writer = String::from_utf8(made.stdout).unwrap().trim().to_owned();
    assert!(writer.starts_with("seam_"));
    assert_eq!(update(&writer), 204);
    let listed = tokens(&["list", "--json"]);
    let listed: Value = serde_json::from_slice(&listed.stdout).unwrap();
    assert_eq!(listed.as_array().unwrap().len(), 2);
    assert!(!listed.to_string().contains(&writer[5..]), "list never shows a secret");
    assert!(tokens(&["revoke", "writer"]).status.success());
    assert_eq!(update(&writer), 401);
    let again = tokens(&["revoke", "writer"]);
    assert_eq!(
        again.status.code(),
        Some(3),
        "{}",
        String::from_utf8_lossy(&again.stderr)
    );
    let bad = tokens(&["create", "x", "--scope", "root"]);
    assert_eq!(bad.status.code(), Some(2), "an unknown scope is a usage error");
}

#[test]
fn a_config_file_sets_what_flags_leave_and_logs_can_be_json() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("seam.toml");
    // `coaps = "off"` is overridden by the flag the test harness passes; `reads` is not.
    std::fs::write(&config, "reads = \"closed\"\nquery-timeout = 5\ncoaps = \"off\"\n").unwrap();
    let server = Server::start(
        &dir.path().join("s"),
        &[
            "--config",
            config.to_str().unwrap(),
            "--log-format",
            "json",
            "--token",
            "t0k",
        ],
    );
    let client = reqwest::blocking::Client::new();
    let ask = |token: Option<&str>| {
        let mut request = client.get(server.sparql()).query(&[("query", "ASK {}")]);
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        request.send().unwrap().status()
    };
    assert_eq!(ask(None), 401, "reads closed by the file");
    assert_eq!(ask(Some("t0k")), 200);
    assert!(server.coaps.is_some(), "the flag wins over the file");
    let log = server.log.lock().unwrap().clone();
    assert!(!log.is_empty());
    for line in &log {
        let entry: Value = serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line}"));
        assert!(entry["level"].is_string() && entry["fields"].is_object(), "{line}");
    }

    // A bad file: its line and column, exit 3, nothing started.
    std::fs::write(&config, "reads = \"closed\"\nquery-timout = 5\n").unwrap();
    let out = seam(&[
        "serve",
        "--config",
        config.to_str().unwrap(),
        "--data",
        dir.path().join("t").to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    assert!(stderr(&out).contains("seam.toml:2:1"), "{}", stderr(&out));
    assert!(stderr(&out).contains("query-timout"), "{}", stderr(&out));
    std::fs::write(&config, "token = \"in a file\"\n").unwrap();
    let out = seam(&[
        "serve",
        "--config",
        config.to_str().unwrap(),
        "--data",
        dir.path().join("t").to_str().unwrap(),
    ]);
    assert_eq!(
        out.status.code(),
        Some(3),
        "a token is not a file setting: {}",
        stderr(&out)
    );
}
