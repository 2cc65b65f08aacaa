//! `seam-bench stores`: the same generated registry kept in the embedded store (RocksDB), an
//! Oxigraph server (on disk) and Virtuoso, side by side in one run: load throughput, the fleet
//! index rebuilt from the graph, a single-device match, and `compatible-models` over SPARQL.
//! Each engine is a private process on loopback with a folder of its own.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context as _};
use oxigraph::io::RdfFormat;
use seam_registry::ingest::parse_document;
use seam_registry::matching::{self, MatchOptions};
use seam_registry::store::{RemoteConfig, RemoteStore};
use seam_registry::synth::{fleet_turtle, FleetSpec, Rng};
use seam_registry::Registry;

use crate::{median, percentile};

/// An engine process, killed on drop.
struct Engine {
    child: Child,
    url: String,
    _dir: tempfile::TempDir,
}

impl Drop for Engine {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> anyhow::Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

fn wait_ready(url: &str, what: &str) -> anyhow::Result<()> {
    seam_registry::remote::install_tls_provider();
    let client = reqwest::blocking::Client::new();
    let deadline = Instant::now() + Duration::from_secs(90);
    while Instant::now() < deadline {
        let ok = client
            .post(url)
            .header("Content-Type", "application/x-www-form-urlencoded")
            .body("query=ASK%20%7B%7D")
            .timeout(Duration::from_secs(2))
            .send()
            .is_ok_and(|r| r.status().is_success());
        if ok {
            return Ok(());
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    bail!("{what} did not answer at {url}")
}

fn oxigraph_server(binary: &Path) -> anyhow::Result<Engine> {
    let dir = tempfile::tempdir()?;
    let port = free_port()?;
    let child = Command::new(binary)
        .args(["serve", "--location"])
        .arg(dir.path().join("db"))
        .args(["--bind", &format!("127.0.0.1:{port}")])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .with_context(|| format!("{} serve", binary.display()))?;
    let url = format!("http://127.0.0.1:{port}/query");
    wait_ready(&url, "oxigraph serve")?;
    Ok(Engine { child, url, _dir: dir })
}

fn virtuoso(binary: &Path, isql: &Path) -> anyhow::Result<Engine> {
    let dir = tempfile::tempdir()?;
    let (sql, http) = (free_port()?, free_port()?);
    let d = dir.path().display();
    // As Virtuoso's own sample configuration for a machine of a few GB: 170,000 buffers (1.3 GB).
    std::fs::write(
        dir.path().join("virtuoso.ini"),
        format!(
            "[Database]\nDatabaseFile = {d}/v.db\nErrorLogFile = {d}/v.log\nLockFile = {d}/v.lck\nTransactionFile = {d}/v.trx\n\
             xa_persistent_file = {d}/v.pxa\nMaxCheckpointRemap = 2000\nStriping = 0\nTempStorage = TempDatabase\n\n\
             [TempDatabase]\nDatabaseFile = {d}/t.db\nTransactionFile = {d}/t.trx\nMaxCheckpointRemap = 2000\nStriping = 0\n\n\
             [Parameters]\nServerPort = 127.0.0.1:{sql}\nDisableUnixSocket = 1\nServerThreads = 10\nCheckpointInterval = 60\n\
             NumberOfBuffers = 170000\nMaxDirtyBuffers = 130000\nDirsAllowed = .\nCaseMode = 2\n\n\
             [HTTPServer]\nServerPort = 127.0.0.1:{http}\nServerThreads = 10\nMaxClientConnections = 10\n\n\
             [SPARQL]\nResultSetMaxRows = 10000\nMaxQueryCostEstimationTime = 400\nMaxQueryExecutionTime = 60\n"
        ),
    )?;
    let child = Command::new(binary)
        .args(["+foreground", "+configfile", "virtuoso.ini"])
        .current_dir(dir.path())
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .with_context(|| format!("{}", binary.display()))?;
    // Requests while Virtuoso builds its database slow that down: wait for its log first.
    let log = dir.path().join("v.log");
    let deadline = Instant::now() + Duration::from_secs(90);
    while !std::fs::read_to_string(&log).is_ok_and(|l| l.contains("Server online")) && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(200));
    }
    let url = format!("http://127.0.0.1:{http}/sparql");
    wait_ready(&url, "virtuoso-t")?;
    let granted = Command::new(isql)
        .args([
            &sql.to_string(),
            "dba",
            "dba",
            "exec=GRANT SPARQL_UPDATE TO \"SPARQL\"; DB.DBA.RDF_DEFAULT_USER_PERMS_SET ('nobody', 7);",
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()?;
    if !granted.success() {
        bail!("granting SPARQL_UPDATE on Virtuoso failed");
    }
    Ok(Engine { child, url, _dir: dir })
}

/// What one store measured.
struct Measured {
    name: &'static str,
    load_s: f64,
    quads: usize,
    rebuild_s: f64,
    match_p50_s: f64,
    /// p50 and p95 (every answer equal to the fast path's rows).
    sparql: Result<(f64, f64), String>,
}

fn measure(
    name: &'static str,
    registry: &Registry,
    spec: FleetSpec,
    samples: usize,
    sparql_samples: usize,
) -> anyhow::Result<Measured> {
    registry.seed_if_empty()?;
    let synth = parse_document("synth.ttl", fleet_turtle(spec, 42), RdfFormat::Turtle, None)?;
    let before = registry.len()?;
    let started = Instant::now();
    registry.load(std::slice::from_ref(&synth))?;
    let load_s = started.elapsed().as_secs_f64();
    // The generated fleet's quads (the seeded catalog was there before).
    let quads = registry.len()? - before;
    let started = Instant::now();
    let fleet = matching::load_fleet(registry)?;
    let rebuild_s = started.elapsed().as_secs_f64();
    let keys: Vec<String> = fleet.devices.keys().cloned().collect();
    let mut rng = Rng::new(7);
    let picks: Vec<&String> = (0..samples.max(1))
        .map(|_| &keys[rng.below(keys.len() as u64) as usize])
        .collect();
    let opts = MatchOptions::default();
    let mut times = Vec::new();
    for d in &picks {
        let t = Instant::now();
        std::hint::black_box(matching::match_device(&fleet, d, &opts, false));
        times.push(t.elapsed().as_secs_f64());
    }
    let mut sparql_times = Vec::new();
    let mut failure = None;
    for d in picks.iter().take(sparql_samples) {
        let t = Instant::now();
        match matching::oracle::sparql_rows(registry, d, &[]) {
            Ok(rows) => {
                sparql_times.push(t.elapsed().as_secs_f64());
                let fast = matching::oracle::fast_rows(&fleet, d, &opts);
                // The rows (verdicts, ranking, runtime, memory, latency estimate, accuracy) must
                // be the fast path's on every engine.
                let differences = matching::oracle::differences(d, &rows, &fast);
                if !differences.is_empty() {
                    bail!(
                        "{name}: compatible-models differs from the fast path: {}",
                        differences.join("; ")
                    );
                }
            }
            Err(e) => {
                failure = Some(e);
                break;
            }
        }
    }
    let sparql = match failure {
        Some(e) => Err(e),
        None => Ok((median(sparql_times.clone()), percentile(sparql_times, 0.95))),
    };
    Ok(Measured {
        name,
        load_s,
        quads,
        rebuild_s,
        match_p50_s: median(times),
        sparql,
    })
}

fn remote(url: &str) -> anyhow::Result<Registry> {
    let store = RemoteStore::connect(RemoteConfig::new(url))?;
    Ok(Registry::new(Arc::new(store))?)
}

/// Runs the comparison and prints one table.
pub(crate) fn run(
    devices: usize,
    models: usize,
    samples: usize,
    sparql_samples: usize,
    oxigraph: &Path,
    virtuoso_bin: Option<(PathBuf, PathBuf)>,
) -> anyhow::Result<()> {
    let spec = FleetSpec {
        boards: (devices / 50).max(1),
        devices,
        runtimes: 8,
        models,
    };
    let mut rows = Vec::new();
    let dir = tempfile::tempdir()?;
    let embedded = Registry::open(&dir.path().join("store"))?;
    rows.push(measure("embedded (RocksDB)", &embedded, spec, samples, sparql_samples)?);
    drop(embedded);
    let server = oxigraph_server(oxigraph)?;
    rows.push(measure(
        "Oxigraph server 0.5.13 (on disk)",
        &remote(&server.url)?,
        spec,
        samples,
        sparql_samples,
    )?);
    drop(server);
    if let Some((binary, isql)) = virtuoso_bin {
        let engine = virtuoso(&binary, &isql)?;
        rows.push(measure(
            "Virtuoso 7.2.5",
            &remote(&engine.url)?,
            spec,
            samples,
            sparql_samples,
        )?);
    }
    let base = &rows[0];
    println!("{devices} devices × {models} models, one run; ratios against the embedded store");
    println!("| store | quads | load (quads/s) | fleet index rebuild | single-device match p50 | compatible-models SPARQL p50 / p95 |");
    println!("|---|---|---|---|---|---|");
    for m in &rows {
        let sparql = match &m.sparql {
            Ok((p50, p95)) => {
                let ratio = match &base.sparql {
                    Ok((b, _)) => format!(" ({:.2}×)", p50 / b),
                    Err(_) => String::new(),
                };
                format!("{:.1} / {:.1} ms{ratio}", p50 * 1e3, p95 * 1e3)
            }
            Err(e) => format!("refused: {}", e.chars().take(90).collect::<String>()),
        };
        println!(
            "| {} | {} | {:.0} ({:.2}×) | {:.0} ms ({:.2}×) | {:.3} ms | {} |",
            m.name,
            m.quads,
            m.quads as f64 / m.load_s,
            (m.quads as f64 / m.load_s) / (base.quads as f64 / base.load_s),
            m.rebuild_s * 1e3,
            m.rebuild_s / base.rebuild_s,
            m.match_p50_s * 1e3,
            sparql
        );
    }
    Ok(())
}
