//! One model rolled out to simulated devices of four boards, end to end in one process: the
//! application on an embedded (RocksDB) store in a temporary folder, real LwM2M clients on
//! loopback UDP, the real compiler bridge. Reports devices per second end to end, the compiles
//! performed against the distinct targets, and where the time went: planning (matching),
//! building (compiling), delivering, and the graph writes inside delivering.

use std::time::{Duration, Instant};

use seam_registry::app::{Application, Settings};
use seam_registry::http::ServiceConfig;
use seam_registry::lwm2m::client::{boards, ClientConfig, Lwm2mClient};
use seam_registry::lwm2m::coap::TransmissionParams;
use seam_registry::lwm2m::server::ServerConfig;
use seam_registry::rollout::{RolloutSpec, Selection};

/// The four boards, and the IPSO sensors attached beyond the board's own (the ESP32-S3 gets an
/// I2S microphone): every one has a microphone for the keyword-spotting model.
const FLEET: [(&str, &[u16]); 4] = [
    ("arduino-nano-33-ble-sense", &[]),
    ("b-l475e-iot01a", &[]),
    ("max78000fthr", &[]),
    ("esp32-s3-devkitc-1", &[3324]),
];

/// Runs the benchmark with `devices` devices and `concurrency` deliveries in flight.
pub fn run(devices: usize, concurrency: usize) -> anyhow::Result<()> {
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    runtime.block_on(measure(devices, concurrency))
}

async fn measure(n: usize, concurrency: usize) -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let fast = TransmissionParams::fast(Duration::from_millis(500));
    let settings = Settings {
        data: Some(dir.path().join("store")),
        lwm2m: ServerConfig {
            params: fast.clone(),
            state_poll: Duration::from_secs(1),
            ..ServerConfig::default()
        },
        service: ServiceConfig {
            token: Some("bench".into()),
            ..ServiceConfig::default()
        },
        ..Settings::ephemeral("bench")
    };
    let app = Application::build(settings).await?;
    let coap = app.coap_addr().ok_or_else(|| anyhow::anyhow!("no LwM2M server"))?;
    let registry = app.registry().clone();
    let data = app.data().clone();
    let rollouts = app.rollouts().clone();

    // The model, from its file: MLPerf Tiny's keyword-spotting DS-CNN.
    let bytes = seam_registry::bridge::onnx_build::to_bytes(&seam_registry::bridge::onnx_build::ds_cnn(1).model);
    let facts = seam_registry::ingest::onnx::ModelFacts {
        task: Some("keyword-spotting".into()),
        input_sensors: vec!["microphone".into()],
        ..Default::default()
    };
    let model = seam_registry::models::ModelFile::from_bytes("kws-ds-cnn", bytes, &facts)?;
    let iri = model.iri();
    {
        let (registry, data) = (registry.clone(), data.clone());
        tokio::task::spawn_blocking(move || seam_registry::models::register(&registry, &data, &[model], Vec::new()))
            .await??;
    }

    // The devices.
    let mut clients = Vec::with_capacity(n);
    for i in 0..n {
        let (board, attached) = FLEET[i % FLEET.len()];
        let mut profile = boards::board(board)
            .ok_or_else(|| anyhow::anyhow!("no board {board}"))?
            .profile(i);
        profile.sensors.extend_from_slice(attached);
        let mut config = ClientConfig::new(&format!("bench-{i:05}"), coap, profile);
        config.params = fast.clone();
        config.lifetime = 3600;
        clients.push(Lwm2mClient::start(config).await?);
    }
    let registering = Instant::now();
    let slots = std::sync::Arc::new(tokio::sync::Semaphore::new(256));
    let mut tasks = Vec::new();
    for c in &clients {
        let (c, slots) = (c.clone(), slots.clone());
        tasks.push(tokio::spawn(async move {
            let _slot = slots.acquire().await;
            c.register().await
        }));
    }
    for t in tasks {
        t.await??;
    }
    seam_registry::demo::wait_described(&registry, n, Duration::from_secs(600)).await?;
    println!(
        "{n} devices of {} boards registered and described in {:.1} s",
        FLEET.len(),
        registering.elapsed().as_secs_f64()
    );

    // The rollout: one model, every device, no canary (the figure is throughput).
    let names: Vec<String> = (0..n).map(|i| format!("bench-{i:05}")).collect();
    let mut spec = RolloutSpec::new(&iri, Selection::Devices(names));
    spec.concurrency = concurrency;
    spec.error_threshold_pct = 100.0;
    let started = Instant::now();
    let begun = rollouts.begin(spec).await?;
    let finished = loop {
        let r = rollouts
            .get(&begun.id)
            .ok_or_else(|| anyhow::anyhow!("the rollout vanished"))?;
        if !r.state.is_active() {
            break r;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    let wall = started.elapsed().as_secs_f64();
    let counts = finished.counts();
    let installed = counts.get("installed").copied().unwrap_or(0);
    let compiles = finished.builds.iter().filter(|b| !b.cache_hit).count();
    let t = &finished.timings;
    let wall_ms = wall * 1e3;
    println!(
        "rollout of {} to {n} devices, concurrency {concurrency}: {counts:?}",
        finished.model_name
    );
    println!(
        "end to end {wall:.2} s: {:.1} devices/s ({installed} installed)",
        n as f64 / wall
    );
    println!(
        "compiles performed {compiles}, distinct (board, runtime, backend, via) targets {}",
        finished.builds.len()
    );
    println!(
        "time: planning (matching) {:.0} ms = {:.1}%, building (compiling) {:.0} ms = {:.1}%, delivering {:.0} ms = {:.1}%",
        t.planning_ms,
        100.0 * t.planning_ms / wall_ms,
        t.building_ms,
        100.0 * t.building_ms / wall_ms,
        t.delivering_ms,
        100.0 * t.delivering_ms / wall_ms
    );
    println!(
        "inside delivering: {} graph writes, {:.0} ms in all ({:.2} ms each; {:.1}% of the delivering wall time if they had not overlapped), deliveries {:.0} ms in all ({:.1} ms each)",
        t.graph_writes,
        t.graph_writes_ms_total,
        t.graph_writes_ms_total / t.graph_writes.max(1) as f64,
        100.0 * t.graph_writes_ms_total / t.delivering_ms.max(1e-9),
        t.delivery_ms_total,
        t.delivery_ms_total / installed.max(1) as f64
    );
    drop(clients);
    Ok(())
}
