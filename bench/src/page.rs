//! The web page at fleet scale: `seam serve`'s application on an embedded (RocksDB) store holding
//! a generated fleet, and each view of the page opened in headless Chromium with an empty cache
//! (`bench/peers/page-load.mjs`, Playwright's library). Reports, per view, the median and p95
//! time from navigation to the view's content, the slowest GraphQL request of the load (the
//! server's share), and the ratio to the floor measured in the same run: the page's own files
//! and a view that asks the server nothing.

use std::process::Command;

use oxigraph::io::RdfFormat;
use seam_registry::app::{Application, Settings};
use seam_registry::synth::{fleet_turtle, FleetSpec};

/// Runs the benchmark on `devices` devices and `models` models, `runs` loads per view.
pub fn run(devices: usize, models: usize, runs: usize) -> anyhow::Result<()> {
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    runtime.block_on(measure(devices, models, runs))
}

async fn measure(devices: usize, models: usize, runs: usize) -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let settings = Settings {
        data: Some(dir.path().join("store")),
        coap: None,
        ..Settings::ephemeral("bench")
    };
    let app = Application::build(settings).await?;
    let registry = app.registry().clone();
    let app_fleet = app.fleet().clone();
    let spec = FleetSpec {
        boards: 40,
        devices,
        runtimes: 6,
        models,
    };
    let text = fleet_turtle(spec, 42);
    tokio::task::spawn_blocking(move || -> anyhow::Result<()> {
        let document = seam_registry::ingest::parse_document("fleet.ttl", text, RdfFormat::Turtle, None)?;
        registry.load(&[document])?;
        Ok(())
    })
    .await??;
    let base = format!("http://{}", app.http_addr());
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let serving = tokio::spawn(app.run_until_stopped(async move {
        let _ = stopped.await;
    }));
    // A device of the generated fleet, for the device view.
    let index = app_fleet.clone();
    let device = tokio::task::spawn_blocking(move || index.fleet())
        .await??
        .devices
        .keys()
        .next()
        .cloned()
        .unwrap_or_default();

    let modules = std::env::var("SEAM_NODE_MODULES").unwrap_or_else(|_| {
        format!(
            "{}/.cache/seam-interop-node/node_modules",
            std::env::var("HOME").unwrap_or_default()
        )
    });
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/peers/page-load.mjs");
    let base_for_node = base.clone();
    let output = tokio::task::spawn_blocking(move || {
        Command::new("node")
            .args([script, &base_for_node, &runs.to_string(), &device])
            .env("SEAM_NODE_MODULES", modules)
            .output()
    })
    .await??;
    let _ = stop.send(());
    let _ = serving.await;
    if !output.status.success() {
        anyhow::bail!(
            "the browser run failed (scripts/interop-peers.sh installs chromium and playwright-core):\n{}",
            String::from_utf8_lossy(&output.stderr)
        );
    }
    println!("web page, {devices} devices × {models} models on the embedded store, {runs} cold loads per view (Chromium, empty cache):");
    println!(
        "{:<18} {:>10} {:>10} {:>17} {:>9}",
        "view", "median ms", "p95 ms", "GraphQL ms (med)", "÷ floor"
    );
    let mut floor = None;
    for line in String::from_utf8_lossy(&output.stdout).lines() {
        let v: serde_json::Value = serde_json::from_str(line)?;
        let median = v["medianMs"].as_f64().unwrap_or_default();
        let floor = *floor.get_or_insert(median.max(1.0));
        println!(
            "{:<18} {:>10} {:>10} {:>17} {:>8.2}x",
            v["view"].as_str().unwrap_or_default(),
            median,
            v["p95Ms"].as_f64().unwrap_or_default(),
            v["graphqlMedianMs"].as_f64().unwrap_or_default(),
            median / floor
        );
    }
    Ok(())
}
