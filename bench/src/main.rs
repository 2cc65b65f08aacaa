//! `seam-bench`: SEAM's measurements, each reported as a ratio to a peer measured in the same
//! run (these machines are shared and noisy; ratios survive that, absolute figures less so).
//!
//! - `load`: `seam load`'s path (parse, validate against the shapes, atomic bulk load) on a
//!   generated registry, against Oxigraph's own bulk loader on the same file.
//! - `cold-start`: time from spawning `seam serve` on a seeded store to its first `/health` 200.
//! - `lwm2m-register`, `lwm2m-throughput`: see [`lwm2m`].
//! - `match-under-check-ins`: matching while the fleet checks in, see [`check_ins`].
//! - `analyze`: see [`bridge`].
//! - `page`: the web page at fleet scale in headless Chromium, see [`page`].
//! - `directory`: the Thing Description Directory under load, see [`directory`].

mod bridge;
mod check_ins;
mod crash;
mod directory;
mod explain;
mod lwm2m;
mod matching;
mod page;
mod rollout;
mod stores;

use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context as _};
use clap::{Parser, Subcommand};
use oxigraph::io::RdfFormat;
use oxigraph::store::Store;
use seam_registry::{ingest, Registry};

#[derive(Parser)]
#[command(name = "seam-bench", about = "SEAM benchmarks (ratios against peers in one run)")]
struct Cli {
    #[command(subcommand)]
    command: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// One model rolled out to simulated devices of four boards, end to end: devices per second,
    /// compiles against distinct targets, and the share of planning, building, delivering and
    /// graph writes.
    Rollout {
        /// Devices.
        #[arg(long, default_value_t = 1000)]
        devices: usize,
        /// Deliveries in flight at once.
        #[arg(long, default_value_t = 64)]
        concurrency: usize,
    },
    /// The web page at fleet scale in headless Chromium: time to each view's content, cold.
    Page {
        /// Devices.
        #[arg(long, default_value_t = 10_000)]
        devices: usize,
        /// Models.
        #[arg(long, default_value_t = 100)]
        models: usize,
        /// Loads per view (medians and p95 are reported).
        #[arg(long, default_value_t = 9)]
        runs: usize,
    },
    /// The Thing Description Directory: TDs registered per second over HTTP, and search.
    Directory {
        /// TDs.
        #[arg(long, default_value_t = 1000)]
        tds: usize,
        /// Concurrent HTTP clients.
        #[arg(long, default_value_t = 8)]
        clients: usize,
        /// Searches (p50 and p95 reported).
        #[arg(long, default_value_t = 50)]
        searches: usize,
        /// SEAM's store: a remote SPARQL query endpoint instead of the embedded store.
        #[arg(long)]
        store: Option<String>,
        /// The remote store's update endpoint (default: beside the query endpoint).
        #[arg(long, requires = "store")]
        update_url: Option<String>,
        /// Another Thing Description Directory's base URL, measured beside SEAM with the same
        /// TDs and search (bench/peers/domus-tdd.sh runs Eclipse Thingweb's domus-tdd-api).
        #[arg(long)]
        peer: Option<String>,
        /// Register anonymous TDs through `POST /things` instead of `PUT /things/{id}`.
        #[arg(long)]
        anonymous: bool,
    },
    /// The same registry in the embedded store, an Oxigraph server and Virtuoso: load
    /// throughput, fleet index rebuild, single-device match, `compatible-models` over SPARQL.
    Stores {
        /// Devices in the generated registry.
        #[arg(long, default_value_t = 10_000)]
        devices: usize,
        /// Models in the generated registry.
        #[arg(long, default_value_t = 1_000)]
        models: usize,
        /// Devices sampled for the single-device match.
        #[arg(long, default_value_t = 300)]
        samples: usize,
        /// Devices `compatible-models` is timed on (rows checked against the fast path).
        #[arg(long, default_value_t = 20)]
        sparql_samples: usize,
        /// The Oxigraph server binary (PyPI `oxigraph`).
        #[arg(long, env = "SEAM_OXIGRAPH_SERVER", default_value = "oxigraph")]
        oxigraph: PathBuf,
        /// Virtuoso's `virtuoso-t` (Debian `virtuoso-opensource-7-bin`); without it, no Virtuoso.
        #[arg(long, env = "SEAM_VIRTUOSO")]
        virtuoso: Option<PathBuf>,
        /// Virtuoso's `isql-vt`.
        #[arg(long, env = "SEAM_VIRTUOSO_ISQL", default_value = "isql-vt")]
        isql: PathBuf,
    },
    /// Bulk-load throughput of `seam load` vs Oxigraph's bulk loader.
    Load {
        /// Approximate size of the generated file, in triples.
        #[arg(long, default_value_t = 1_000_000)]
        triples: usize,
        /// Repetitions (medians are reported).
        #[arg(long, default_value_t = 3)]
        runs: usize,
    },
    /// Cold start of `seam serve` on a seeded store.
    ColdStart {
        /// The seam binary to start (a release build).
        #[arg(long)]
        seam: PathBuf,
        /// Repetitions (medians are reported).
        #[arg(long, default_value_t = 5)]
        runs: usize,
    },
    /// Matchmaking on a generated registry: single-device match vs a plain scan, the fleet matrix,
    /// GraphQL vs the direct call.
    Match {
        /// Devices in the generated registry.
        #[arg(long, default_value_t = 10_000)]
        devices: usize,
        /// Models in the generated registry.
        #[arg(long, default_value_t = 1_000)]
        models: usize,
        /// Devices sampled for the per-device figures.
        #[arg(long, default_value_t = 300)]
        samples: usize,
        /// Also time the SPARQL rules (queries/compatible-models.rq) per device, on this many devices.
        #[arg(long, default_value_t = 20)]
        sparql_samples: usize,
        /// A Python with pyoxigraph and rdflib (see bench/peers/run.sh): run the same query there.
        #[arg(long)]
        peers: Option<PathBuf>,
        /// Devices rdflib is timed on (it is slow).
        #[arg(long, default_value_t = 3)]
        rdflib_samples: usize,
        /// Also the whole fleet matrix through SPARQL (`queries/fleet-matrix.rq`, minutes at
        /// fleet scale), with at most this many seconds.
        #[arg(long)]
        sparql_matrix_s: Option<u64>,
    },
    /// The compiler bridge on the MLPerf Tiny reference models (analyze; quantise + validate).
    Analyze {
        /// Repetitions (medians are reported).
        #[arg(long, default_value_t = 5)]
        runs: usize,
        /// A Python with onnxruntime (see bench/peers/run.sh): time its loading of the same files.
        #[arg(long)]
        peers: Option<PathBuf>,
    },
    /// SEAM's analysis of SeLoC-ML's 23 TFLite models next to the figures SeLoC-ML's graph records.
    SelocTflite {
        /// SeLoC-ML's folder (models/ and description/).
        #[arg(long, default_value = "../shared/interop/seloc-ml")]
        dir: PathBuf,
    },
    /// A registration storm of simulated LwM2M devices against `seam serve`.
    Lwm2mRegister {
        /// The seam binary to start (a release build).
        #[arg(long)]
        seam: PathBuf,
        /// Simulated devices.
        #[arg(long, default_value_t = 10_000)]
        devices: usize,
        /// Registrations in flight at once.
        #[arg(long, default_value_t = 256)]
        concurrency: usize,
        /// Measure memory again this many seconds after the storm (250: past EXCHANGE_LIFETIME).
        #[arg(long, default_value_t = 0)]
        settle_s: u64,
        /// Register the devices in this many equal storms, each described and settled before
        /// the next: the growth between settled waves is the memory of one more device.
        #[arg(long, default_value_t = 1)]
        waves: usize,
        /// First run a server of its own with this many devices (one wave, settled likewise):
        /// one more device is then the difference of the two settled servers.
        #[arg(long)]
        baseline_devices: Option<usize>,
    },
    /// `GET /match` on a generated registry while the fleet is quiet, then while simulated
    /// LwM2M devices check in (registration Updates) at a steady rate.
    MatchUnderCheckIns {
        /// The seam binary to start (a release build).
        #[arg(long)]
        seam: PathBuf,
        /// Generated devices in the registry.
        #[arg(long, default_value_t = 10_000)]
        devices: usize,
        /// Generated models.
        #[arg(long, default_value_t = 1_000)]
        models: usize,
        /// LwM2M devices that register, then check in.
        #[arg(long, default_value_t = 1_000)]
        clients: usize,
        /// Check-ins per second, all devices together.
        #[arg(long, default_value_t = 50.0)]
        rate: f64,
        /// Requests timed in each phase.
        #[arg(long, default_value_t = 200)]
        requests: usize,
        /// Then keep the check-ins going this many seconds, reading the server's resident
        /// memory every ten: what a check-in leaves behind.
        #[arg(long, default_value_t = 0)]
        soak_s: u64,
    },
    /// Concurrent block-wise package downloads vs a raw UDP request/response loop.
    Lwm2mThroughput {
        /// Concurrent downloads (comma-separated list).
        #[arg(long, value_delimiter = ',', default_value = "100,1000")]
        downloads: Vec<usize>,
        /// Package size in bytes.
        #[arg(long, default_value_t = 65_536)]
        size: usize,
        /// Block size in bytes (16..=1024).
        #[arg(long, default_value_t = 1024)]
        block: usize,
        /// Repetitions (medians are reported).
        #[arg(long, default_value_t = 3)]
        runs: usize,
    },
    /// What isolating evaluation costs: the same queries through `Registry::query` (shape checks,
    /// the hand-off to an evaluation thread and back) and straight through Oxigraph's evaluator on
    /// the same store, on the seeded catalog.
    /// How Oxigraph plans and evaluates a query on a store directory (SEAM's prefixes
    /// predeclared, `$name` replaced by the IRI given with `--bind name=IRI`): the evaluation
    /// tree with rows and time per node, as JSON. For finding where a named query spends.
    Explain {
        /// Store directory (made by `seam load --data DIR`; no service may hold it).
        #[arg(long)]
        data: PathBuf,
        /// The query file.
        file: PathBuf,
        /// `name=IRI` or `name=integer`: `?name` bound as the service binds a named query's
        /// parameter (a constant in the algebra).
        #[arg(long)]
        bind: Vec<String>,
        /// Rows and time per node (slows evaluation several times over).
        #[arg(long)]
        stats: bool,
        /// Evaluations timed (the median is printed).
        #[arg(long, default_value_t = 1)]
        runs: usize,
        /// Evaluate on a copy of the store in memory, the compact replica `seam serve` answers
        /// from.
        #[arg(long)]
        memory: bool,
        /// Evaluate on a copy in Oxigraph's own in-memory store instead (the replica before the
        /// compact one), for comparing the two in one binary.
        #[arg(long, conflicts_with = "memory")]
        oxigraph_memory: bool,
    },
    QueryOverhead {
        /// Queries of each kind per side.
        #[arg(long, default_value_t = 2_000)]
        queries: usize,
    },
    /// Write the MLPerf Tiny reference architectures as float32 ONNX files (seeded weights, the
    /// published layer structure, params and MACs): the models the README's tour compiles.
    ReferenceModels {
        /// Folder to write them into.
        #[arg(default_value = ".")]
        dir: PathBuf,
        /// Seed of the weights (the same seed gives the same files).
        #[arg(long, default_value_t = 1)]
        seed: u64,
    },
    /// Crash safety: SIGKILL `seam` at random moments of loads, registration storms and
    /// rollouts, restart it, and check the invariants (the store opens, loads are all or
    /// nothing, no device in two states, no deployment duplicated or lost).
    Crash {
        /// The `seam` binary (seam-device-sim must be beside it).
        #[arg(long, default_value = "target/debug/seam")]
        seam: PathBuf,
        /// How many kills.
        #[arg(long, default_value_t = 50)]
        kills: usize,
        /// Seed of the kill times.
        #[arg(long, default_value_t = 1)]
        seed: u64,
    },
    /// Write the generated registry to a file (for other tools).
    Generate {
        /// Output Turtle file.
        out: PathBuf,
        /// Approximate size, in triples.
        #[arg(long, default_value_t = 1_000_000)]
        triples: usize,
    },
}

/// A generated registry of about `triples` triples (the synthetic fleet generator, sized so that
/// a device, its share of boards and runtimes, and a tenth of a model make ~16 triples).
fn registry_turtle(triples: usize) -> String {
    // Measured: the generator writes ~7.3 triples per device (devices, their share of boards,
    // sensors and models).
    let devices = (triples * 10 / 73).max(10);
    seam_registry::synth::fleet_turtle(
        seam_registry::synth::FleetSpec {
            boards: (devices / 50).max(1),
            devices,
            runtimes: 8,
            models: (devices / 10).max(1),
        },
        42,
    )
}

/// The median of `v` (the upper one for an even count).
/// The `p` quantile of `v` (nearest rank); NaN when `v` is empty.
pub(crate) fn percentile(mut v: Vec<f64>, p: f64) -> f64 {
    if v.is_empty() {
        return f64::NAN;
    }
    v.sort_by(f64::total_cmp);
    v[((v.len() - 1) as f64 * p).round() as usize]
}

/// This process's resident memory, in bytes, after the allocator has returned every free page
/// (so that what a structure takes shows as the difference between two readings); 0 where
/// unknown.
pub(crate) fn rss_bytes() -> u64 {
    purge_freed_pages();
    seam_registry::metrics::resident_bytes().unwrap_or(0)
}

/// Asks jemalloc to return now the free pages of every arena, instead of after their decay.
#[cfg(not(target_env = "msvc"))]
#[allow(unsafe_code)]
fn purge_freed_pages() {
    // `arena.<MALLCTL_ARENAS_ALL>.purge`: a command that takes and returns nothing; jemalloc
    // refuses it (EPERM) unless both the old and the new value are null.
    const PURGE_ALL: &std::ffi::CStr = c"arena.4096.purge";
    // SAFETY: the name is a NUL-terminated string that outlives the call, and every pointer
    // passed for a value is null with a zero length, as a command without values wants.
    let failed = unsafe {
        tikv_jemalloc_sys::mallctl(
            PURGE_ALL.as_ptr(),
            std::ptr::null_mut(),
            std::ptr::null_mut(),
            std::ptr::null_mut(),
            0,
        )
    };
    if failed != 0 {
        eprintln!("note: jemalloc did not purge its free pages (error {failed}); resident readings include them");
    }
}

/// Elsewhere: the system allocator keeps what it keeps.
#[cfg(target_env = "msvc")]
fn purge_freed_pages() {}

pub(crate) fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

#[cfg(not(target_env = "msvc"))]
#[global_allocator]
static GLOBAL: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

fn main() -> anyhow::Result<()> {
    match Cli::parse().command {
        Cmd::Rollout { devices, concurrency } => rollout::run(devices, concurrency)?,
        Cmd::Page { devices, models, runs } => page::run(devices, models, runs.max(1))?,
        Cmd::Crash { seam, kills, seed } => crash::run(&seam, kills.max(1), seed)?,
        Cmd::Directory {
            tds,
            clients,
            searches,
            store,
            update_url,
            peer,
            anonymous,
        } => directory::run(
            tds,
            clients,
            searches,
            directory::Setup {
                store: store.map(|url| (url, update_url)),
                peer,
                anonymous,
            },
        )?,
        Cmd::ReferenceModels { dir, seed } => {
            use seam_registry::bridge::onnx_build;
            std::fs::create_dir_all(&dir)?;
            for (file, reference) in [
                ("kws-dscnn.onnx", onnx_build::ds_cnn(seed)),
                ("ic-resnet8.onnx", onnx_build::resnet8(seed)),
                ("mobilenet-v1-0.25.onnx", onnx_build::mobilenet_v1_025(seed)),
                ("ad-fc-autoencoder.onnx", onnx_build::fc_autoencoder(seed)),
            ] {
                let path = dir.join(file);
                std::fs::write(&path, onnx_build::to_bytes(&reference.model))?;
                println!(
                    "{}: {} params, {} MACs (MLPerf Tiny)",
                    path.display(),
                    reference.params,
                    reference.published_macs
                );
            }
        }
        Cmd::QueryOverhead { queries } => query_overhead(queries)?,
        Cmd::Explain {
            data,
            file,
            bind,
            stats,
            runs,
            memory,
            oxigraph_memory,
        } => {
            let on = if memory {
                explain::On::Compact
            } else if oxigraph_memory {
                explain::On::OxigraphMemory
            } else {
                explain::On::RocksDb
            };
            explain::run(&data, &file, &bind, stats, runs.max(1), on)?
        }
        Cmd::Generate { out, triples } => {
            let text = registry_turtle(triples);
            std::fs::write(&out, text)?;
            println!("wrote about {triples} triples to {}", out.display());
        }
        Cmd::Match {
            devices,
            models,
            samples,
            sparql_samples,
            peers,
            rdflib_samples,
            sparql_matrix_s,
        } => matching::run(
            devices,
            models,
            samples,
            sparql_samples,
            peers.as_deref(),
            rdflib_samples,
            sparql_matrix_s,
        )?,
        Cmd::Stores {
            devices,
            models,
            samples,
            sparql_samples,
            oxigraph,
            virtuoso,
            isql,
        } => stores::run(
            devices,
            models,
            samples,
            sparql_samples,
            &oxigraph,
            virtuoso.map(|v| (v, isql)),
        )?,
        Cmd::Load { triples, runs } => load(triples, runs.max(1))?,
        Cmd::ColdStart { seam, runs } => cold_start(&seam, runs.max(1))?,
        Cmd::Analyze { runs, peers } => bridge::run(runs.max(1), peers.as_deref())?,
        Cmd::SelocTflite { dir } => bridge::seloc_tflite(&dir)?,
        Cmd::MatchUnderCheckIns {
            seam,
            devices,
            models,
            clients,
            rate,
            requests,
            soak_s,
        } => check_ins::run(
            &seam,
            &check_ins::Plan {
                devices,
                models,
                clients,
                rate,
                requests: requests.max(1),
                soak: Duration::from_secs(soak_s),
            },
        )?,
        Cmd::Lwm2mRegister {
            seam,
            devices,
            concurrency,
            settle_s,
            waves,
            baseline_devices,
        } => lwm2m::register(
            &seam,
            devices,
            concurrency,
            Duration::from_secs(settle_s),
            waves,
            baseline_devices,
        )?,
        Cmd::Lwm2mThroughput {
            downloads,
            size,
            block,
            runs,
        } => lwm2m::throughput(&downloads, size, block, runs.max(1))?,
    }
    Ok(())
}

fn load(triples: usize, runs: usize) -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let text = registry_turtle(triples);
    let file = dir.path().join("registry.ttl");
    std::fs::write(&file, &text)?;
    // Distinct triples, as a store holds them.
    let n = ingest::read_file(&file)?
        .quads
        .into_iter()
        .collect::<std::collections::HashSet<_>>()
        .len();
    println!("generated {n} triples ({:.1} MB Turtle)", text.len() as f64 / 1e6);
    let (mut seam, mut oxigraph, mut split) = (Vec::new(), Vec::new(), Vec::new());
    for run in 0..runs {
        // Rotate the order so that no side always runs on a warmer page cache.
        for side in [[0, 1, 2], [1, 2, 0], [2, 0, 1]][run % 3] {
            let store_dir = dir.path().join(format!("store-{run}-{side}"));
            // Both stores start seeded with the ontology and catalog, as a real registry is.
            let registry = Registry::open(&store_dir)?;
            registry.seed_if_empty()?;
            let seeded = registry.len()?;
            if side == 0 {
                let started = Instant::now();
                let doc = ingest::read_file(&file)?;
                let report = registry.load(&[doc])?;
                seam.push(started.elapsed().as_secs_f64());
                if report.store_size != seeded + n {
                    bail!("seam load stored {} quads, expected {}", report.store_size - seeded, n);
                }
                // Closed before its folder goes: RocksDB compacts the ingested files behind.
                drop(registry);
            } else {
                drop(registry);
                let store = Store::open(&store_dir)?;
                let started = Instant::now();
                let mut loader = store.bulk_loader();
                if side == 2 {
                    // Oxigraph's loader told to split the load per core, as `seam load` does.
                    let (threads, megabytes) = seam_registry::store::bulk_load_split(n);
                    loader = loader
                        .with_num_threads(threads)
                        .with_max_memory_size_in_megabytes(megabytes);
                }
                loader.load_from_slice(RdfFormat::Turtle, std::fs::read(&file)?.as_slice())?;
                loader.commit()?;
                if side == 1 { &mut oxigraph } else { &mut split }.push(started.elapsed().as_secs_f64());
                if store.len()? != seeded + n {
                    bail!("oxigraph stored {} quads, expected {n}", store.len()? - seeded);
                }
                drop(store);
            }
            std::fs::remove_dir_all(&store_dir)?;
        }
    }
    let (s, o) = (median(seam), median(oxigraph));
    println!(
        "seam load (parse + validate + atomic bulk load): {s:.2} s, {:.0} triples/s",
        n as f64 / s
    );
    println!(
        "oxigraph bulk loader (parse + load):             {o:.2} s, {:.0} triples/s",
        n as f64 / o
    );
    println!("ratio seam/oxigraph throughput: {:.2}", o / s);
    let t = median(split);
    println!(
        "oxigraph bulk loader split per core as seam load splits it: {t:.2} s, {:.0} triples/s (seam load at {:.2}x of it)",
        n as f64 / t,
        t / s
    );
    // Where seam load's time goes, on one more run.
    let store_dir = dir.path().join("phases");
    let registry = Registry::open(&store_dir)?;
    registry.seed_if_empty()?;
    let t = Instant::now();
    let doc = ingest::read_file(&file)?;
    let parse = t.elapsed().as_secs_f64();
    // Validation alone, against the same seeded store (the load repeats it).
    let shapes = seam_registry::validate::Shapes::parse(seam_registry::bundled::shapes())?;
    let t = Instant::now();
    let violations = shapes.validate(std::slice::from_ref(&doc), registry.store())?;
    let validate = t.elapsed().as_secs_f64();
    anyhow::ensure!(violations.is_empty(), "the generated registry breaks the shapes");
    let t = Instant::now();
    let report = registry.load(&[doc])?;
    let rest = t.elapsed().as_secs_f64();
    let t = Instant::now();
    let counted = registry.len()?;
    let count = t.elapsed().as_secs_f64();
    println!(
        "phases: parse {parse:.2} s, validate + bulk load + count {rest:.2} s ({} quads stored); apart: validate {validate:.2} s, the count after the load {count:.2} s ({counted} quads)",
        report.store_size
    );
    Ok(())
}

fn cold_start(seam: &PathBuf, runs: usize) -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let data = dir.path().join("store");
    // Seed once (first start), so that the measured starts open an existing, seeded store.
    {
        let registry = Registry::open(&data)?;
        registry.seed_if_empty()?;
    }
    seam_registry::remote::install_tls_provider();
    let client = reqwest::blocking::Client::builder()
        .timeout(Duration::from_millis(500))
        .build()?;
    let mut times = Vec::new();
    for run in 0..runs {
        let port = 18_000 + run as u16;
        let started = Instant::now();
        let mut child = Command::new(seam)
            .args(["serve", "--data"])
            .arg(&data)
            .args(["--http", &format!("127.0.0.1:{port}"), "--coaps", "off"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .with_context(|| format!("cannot start {}", seam.display()))?;
        let url = format!("http://127.0.0.1:{port}/health");
        let deadline = started + Duration::from_secs(60);
        loop {
            if client.get(&url).send().is_ok_and(|r| r.status().is_success()) {
                break;
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                bail!("seam serve did not answer /health within 60 s");
            }
            std::thread::sleep(Duration::from_millis(2));
        }
        times.push(started.elapsed().as_secs_f64());
        child.kill()?;
        child.wait()?;
    }
    println!(
        "cold start of seam serve on a seeded store (spawn → first /health 200): median {:.0} ms over {runs} runs",
        median(times) * 1e3
    );
    Ok(())
}

/// `seam-bench query-overhead`: per-query medians through the registry and straight through
/// Oxigraph, for a trivial query (where the hand-off is all there is) and a typical one.
fn query_overhead(queries: usize) -> anyhow::Result<()> {
    use oxigraph::sparql::{QueryResults, SparqlEvaluator};
    let registry = Registry::in_memory()?;
    registry.seed_if_empty()?;
    let store = Store::new()?;
    let mut loader = store.bulk_loader();
    for doc in seam_registry::graph::bundled_documents()? {
        loader.load_quads(doc.quads)?;
    }
    loader.commit()?;
    let limits = seam_registry::QueryLimits::default();
    let typical = "PREFIX seam: <https://w3id.org/seam/ontology#> SELECT ?b ?ram WHERE { ?b a seam:Board ; seam:ramBytes ?ram } ORDER BY ?ram";
    println!("| query | through Registry::query | straight through Oxigraph | ratio |");
    println!("|---|---:|---:|---:|");
    for (name, text) in [("ASK {}", "ASK {}"), ("boards by RAM (12 rows, ORDER BY)", typical)] {
        let mut registry_us = Vec::with_capacity(queries);
        let mut direct_us = Vec::with_capacity(queries);
        for _ in 0..queries {
            let started = Instant::now();
            std::hint::black_box(registry.query(text, &limits)?);
            registry_us.push(started.elapsed().as_secs_f64() * 1e6);
            let started = Instant::now();
            let rows = match SparqlEvaluator::new().parse_query(text)?.on_store(&store).execute()? {
                QueryResults::Solutions(s) => s.filter_map(Result::ok).count(),
                QueryResults::Boolean(_) => 1,
                QueryResults::Graph(g) => g.count(),
            };
            std::hint::black_box(rows);
            direct_us.push(started.elapsed().as_secs_f64() * 1e6);
        }
        let median = |v: &mut Vec<f64>| {
            v.sort_by(f64::total_cmp);
            v[v.len() / 2]
        };
        let (r, d) = (median(&mut registry_us), median(&mut direct_us));
        println!("| {name} | {r:.1} µs | {d:.1} µs | {:.2}× |", r / d);
    }
    Ok(())
}
