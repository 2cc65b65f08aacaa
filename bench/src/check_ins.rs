//! `match-under-check-ins`: what a fleet checking in does to matching. A real `seam serve` holds a
//! generated registry; `GET /match/{device}` is timed while the fleet is quiet, then while
//! simulated LwM2M devices send their registration Updates at a steady rate (the "still here"
//! every device sends within its lifetime), in the same run. With `--soak-s`, the check-ins then
//! go on while the server's resident memory is read every ten seconds: what a check-in leaves
//! behind (each replaces a device's `seam:lastSeen`).

use std::net::SocketAddr;
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use oxigraph::io::RdfFormat;
use seam_registry::ingest::parse_document;
use seam_registry::synth::{fleet_turtle, FleetSpec};
use seam_registry::Registry;

use crate::lwm2m::{count_described, free_tcp_port, free_udp_port, rss, simulated_devices, start_serve, storm};
use crate::{median, percentile};

/// What to run: the registry's size, the devices that check in and how often, the requests.
pub struct Plan {
    /// Generated devices in the registry.
    pub devices: usize,
    /// Generated models.
    pub models: usize,
    /// LwM2M clients registered, then checking in.
    pub clients: usize,
    /// Check-ins per second, all clients together.
    pub rate: f64,
    /// `GET /match` requests timed in each phase.
    pub requests: usize,
    /// How long the check-ins go on after the timed phases, the server's memory read every ten
    /// seconds (zero: not at all).
    pub soak: Duration,
}

/// Runs the plan against the `seam` binary.
pub fn run(seam: &Path, plan: &Plan) -> anyhow::Result<()> {
    seam_registry::remote::install_tls_provider();
    let dir = tempfile::tempdir()?;
    let data = dir.path().join("store");
    {
        let registry = Registry::open(&data)?;
        registry.seed_if_empty()?;
        let spec = FleetSpec {
            boards: (plan.devices / 50).max(1),
            devices: plan.devices,
            runtimes: 8,
            models: plan.models,
        };
        let synth = parse_document("synth.ttl", fleet_turtle(spec, 42), RdfFormat::Turtle, None)?;
        registry.load(std::slice::from_ref(&synth))?;
        println!(
            "registry: {} generated devices, {} generated models ({} quads)",
            plan.devices,
            plan.models,
            registry.len()?
        );
    }
    let http_port = free_tcp_port()?;
    let coap_port = free_udp_port()?;
    let (serve, pid) = start_serve(seam, &data, http_port, coap_port)?;
    let http = format!("http://127.0.0.1:{http_port}");
    let agent = reqwest::blocking::Client::new();
    let time_matches = |offset: usize| -> anyhow::Result<Vec<f64>> {
        let mut times = Vec::with_capacity(plan.requests);
        for i in 0..plan.requests {
            let device = (offset + i * 7) % plan.devices.max(1);
            let url = format!("{http}/match/https%3A%2F%2Fw3id.org%2Fseam%2Fsynth%2Fdevice{device}");
            let started = Instant::now();
            let response = agent.get(&url).send()?;
            anyhow::ensure!(response.status().is_success(), "{url}: {}", response.status());
            response.bytes()?;
            times.push(started.elapsed().as_secs_f64());
            // Paced, as people and dashboards ask: the check-ins are what loads the server.
            std::thread::sleep(Duration::from_millis(20));
        }
        Ok(times)
    };
    time_matches(0)?; // the fleet index read once
    let quiet = time_matches(1)?;

    let server: SocketAddr = ([127, 0, 0, 1], coap_port).into();
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    let clients = runtime.block_on(simulated_devices(server, "check-in", plan.clients))?;
    let (registered, _) = runtime.block_on(storm(&clients, 256));
    anyhow::ensure!(
        registered == clients.len(),
        "{registered} of {} devices registered",
        clients.len()
    );
    // Registered and described first: a description is a change matching must see.
    let deadline = Instant::now() + Duration::from_secs(120);
    while (count_described(&http)? as usize) < plan.clients {
        anyhow::ensure!(Instant::now() < deadline, "the clients were not described in 120 s");
        std::thread::sleep(Duration::from_millis(200));
    }
    let stop = Arc::new(AtomicBool::new(false));
    let sent = Arc::new(AtomicUsize::new(0));
    let check_ins = {
        let (stop, sent) = (stop.clone(), sent.clone());
        let every = Duration::from_secs_f64(1.0 / plan.rate.max(0.1));
        runtime.spawn(async move {
            let mut tick = tokio::time::interval(every);
            let mut next = 0usize;
            while !stop.load(Ordering::Relaxed) {
                tick.tick().await;
                let client = clients[next % clients.len().max(1)].clone();
                next += 1;
                let sent = sent.clone();
                tokio::spawn(async move {
                    if client.update().await.is_ok() {
                        sent.fetch_add(1, Ordering::Relaxed);
                    }
                });
            }
        })
    };
    std::thread::sleep(Duration::from_secs(2));
    let started = Instant::now();
    let before = sent.load(Ordering::Relaxed);
    let busy = time_matches(2)?;
    let rate = (sent.load(Ordering::Relaxed) - before) as f64 / started.elapsed().as_secs_f64();
    let soaked = soak(pid, plan.soak, &sent)?;
    stop.store(true, Ordering::Relaxed);
    runtime.block_on(check_ins)?;
    drop(serve);

    println!(
        "GET /match/{{device}} ({} requests each): quiet p50 {:.2} ms, p95 {:.2} ms; while {} devices check in ({rate:.0} Updates/s answered) p50 {:.2} ms, p95 {:.2} ms; ratio of the p50s {:.2}×",
        plan.requests,
        median(quiet.clone()) * 1e3,
        percentile(quiet.clone(), 0.95) * 1e3,
        plan.clients,
        median(busy.clone()) * 1e3,
        percentile(busy.clone(), 0.95) * 1e3,
        median(busy) / median(quiet)
    );
    if let Some(soaked) = soaked {
        println!("{soaked}");
    }
    Ok(())
}

/// Lets the check-ins go on for `how_long`, reading the server's resident memory every ten
/// seconds (it gives freed memory back to the system as often); `None` when not asked.
fn soak(pid: u32, how_long: Duration, sent: &AtomicUsize) -> anyhow::Result<Option<String>> {
    if how_long.is_zero() {
        return Ok(None);
    }
    let every = Duration::from_secs(10);
    let (first, answered) = (rss(pid)?, sent.load(Ordering::Relaxed));
    let started = Instant::now();
    let mut readings = vec![first];
    while started.elapsed() < how_long {
        std::thread::sleep(every);
        readings.push(rss(pid)?);
    }
    let answered = sent.load(Ordering::Relaxed) - answered;
    let last = readings.last().copied().unwrap_or(first);
    let peak = readings.iter().copied().max().unwrap_or(first);
    let mib = |b: u64| b as f64 / (1024.0 * 1024.0);
    Ok(Some(format!(
        "soak: {answered} check-ins answered in {:.0} s; resident {:.1} MiB at the start, {:.1} MiB at the end (peak {:.1} MiB): {:+.0} bytes a check-in; every ten seconds: {}",
        started.elapsed().as_secs_f64(),
        mib(first),
        mib(last),
        mib(peak),
        (last as f64 - first as f64) / answered.max(1) as f64,
        readings.iter().map(|b| format!("{:.0}", mib(*b))).collect::<Vec<_>>().join(" ")
    )))
}
