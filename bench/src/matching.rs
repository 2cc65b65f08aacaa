//! Matchmaking benchmarks on a generated registry (DESIGN §3 targets in BENCHMARKS.md).

use std::time::Instant;

use oxigraph::io::RdfFormat;
use seam_registry::graphql::{prepare, schema};
use seam_registry::ingest::parse_document;
use seam_registry::matching::facts::Fleet;
use seam_registry::matching::{self, MatchOptions};
use seam_registry::named;
use seam_registry::synth::{fleet_turtle, FleetSpec, Rng};
use seam_registry::{QueryLimits, Registry};

use crate::{median, percentile};

/// The baseline: a plain in-memory scan over the same facts deciding "runs as-is" with no
/// explanation, no int8 fallback and no ranking — the least any matcher must do.
fn plain_scan(fleet: &Fleet, device: &str) -> usize {
    let Some(d) = fleet.devices.get(device) else { return 0 };
    let Some(b) = d.board.as_ref().and_then(|b| fleet.boards.get(b)) else {
        return 0;
    };
    let free_ram = d
        .free_ram_bytes
        .unwrap_or(b.ram_bytes.unwrap_or(0).saturating_sub(b.reserved_ram_bytes));
    let free_flash = d
        .free_flash_bytes
        .unwrap_or(b.flash_bytes.unwrap_or(0).saturating_sub(b.reserved_flash_bytes));
    let mut n = 0;
    for m in fleet.models.values() {
        let sensors_ok = m.sensors.iter().all(|req| {
            b.sensors.iter().chain(&d.sensors).any(|s| {
                s.kind == req.kind
                    && req
                        .min_sample_rate_hz
                        .is_none_or(|min| s.sample_rate_hz.is_some_and(|r| r >= min))
            })
        });
        if !sensors_ok {
            continue;
        }
        let fits = fleet.runtimes.values().any(|r| {
            b.isa.as_ref().is_some_and(|isa| r.isas.contains(isa))
                && m.dtype.as_ref().is_some_and(|dt| r.dtypes.contains(dt))
                && m.operators.iter().all(|op| r.operators.contains(op))
                && (m.peak_activation_bytes.unwrap_or(0) + r.ram_overhead_bytes) * 110 / 100 <= free_ram
                && m.weight_bytes.unwrap_or(0) + r.flash_overhead_bytes <= free_flash
        });
        n += usize::from(fits);
    }
    n
}

pub fn run(
    devices: usize,
    models: usize,
    samples: usize,
    sparql_samples: usize,
    peers: Option<&std::path::Path>,
    rdflib_samples: usize,
    sparql_matrix_s: Option<u64>,
) -> anyhow::Result<()> {
    // On RocksDB, as a deployment keeps it: the named queries are timed read from RocksDB
    // directly, then, reopened as `seam serve` opens it, from the replica in memory.
    let dir = tempfile::tempdir()?;
    let path = dir.path().join("store");
    let registry = Registry::open(&path)?;
    registry.seed_if_empty()?;
    let spec = FleetSpec {
        boards: (devices / 50).max(1),
        devices,
        runtimes: 8,
        models,
    };
    let started = Instant::now();
    let text = fleet_turtle(spec, 42);
    let synth = parse_document("synth.ttl", text, RdfFormat::Turtle, None)?;
    registry.load(std::slice::from_ref(&synth))?;
    println!("registry: {devices} generated devices + 8 catalog devices, {models} generated + 13 catalog models ({} quads), loaded in {:.1} s", registry.len()?, started.elapsed().as_secs_f64());
    let started = Instant::now();
    let fleet = seam_registry::matching::load_fleet(&registry)?;
    println!(
        "fleet index built from the graph in {:.0} ms",
        started.elapsed().as_secs_f64() * 1e3
    );

    let keys: Vec<String> = fleet.devices.keys().cloned().collect();
    let mut rng = Rng::new(7);
    let picks: Vec<&String> = (0..samples)
        .map(|_| &keys[rng.below(keys.len() as u64) as usize])
        .collect();
    let opts = MatchOptions::default();
    let model_keys: Vec<&String> = fleet.models.keys().collect();
    let model_picks: Vec<&String> = (0..sparql_samples)
        .map(|_| model_keys[rng.below(model_keys.len() as u64) as usize])
        .collect();
    let mut per_model: std::collections::HashMap<&str, usize> = std::collections::HashMap::new();
    let expected = matching::fleet_matrix(&fleet, &opts);
    for cell in expected.iter() {
        *per_model.entry(cell.model).or_default() += 1;
    }
    let sparql_picks: Vec<&String> = picks.iter().take(sparql_samples).copied().collect();
    let from_rocksdb = if sparql_samples > 0 {
        Some(time_named(&registry, &fleet, &sparql_picks, &model_picks, &per_model)?)
    } else {
        None
    };
    // Reopened as `seam serve` opens it: queries answered from the replica in memory.
    if !registry.close(std::time::Duration::from_secs(10)) {
        anyhow::bail!("the store was still in use after the queries");
    }
    let rss_before = crate::rss_bytes();
    let started = Instant::now();
    let registry = Registry::open_with_replica(&path, seam_registry::app::DEFAULT_REPLICA_MAX_QUADS)?;
    println!(
        "reopened with a replica in memory in {:.0} ms ({:.0} bytes of memory a quad)",
        started.elapsed().as_secs_f64() * 1e3,
        crate::rss_bytes().saturating_sub(rss_before) as f64 / registry.len()?.max(1) as f64
    );
    let from_replica = if sparql_samples > 0 {
        Some(time_named(&registry, &fleet, &sparql_picks, &model_picks, &per_model)?)
    } else {
        None
    };

    let (mut ours, mut plain, mut explained) = (Vec::new(), Vec::new(), Vec::new());
    let mut compatible = 0;
    // Which side goes first alternates: the second finds the device's facts in the CPU cache.
    // The explained match runs in a loop of its own: its reasons (a few milliseconds of
    // allocations) evicted the next device's facts before the fast match, not before the scan.
    for (i, d) in picks.iter().enumerate() {
        let mut time_ours = || {
            let t = Instant::now();
            let r = matching::match_device(&fleet, d, &opts, false);
            ours.push(t.elapsed().as_secs_f64());
            compatible += r.map_or(0, |r| r.compatible.len());
        };
        let mut time_plain = || {
            let t = Instant::now();
            std::hint::black_box(plain_scan(&fleet, d));
            plain.push(t.elapsed().as_secs_f64());
        };
        if i % 2 == 0 {
            time_ours();
            time_plain();
        } else {
            time_plain();
            time_ours();
        }
    }
    for d in &picks {
        let t = Instant::now();
        std::hint::black_box(matching::match_device(&fleet, d, &opts, true));
        explained.push(t.elapsed().as_secs_f64());
    }
    let (p50, base) = (median(ours.clone()), median(plain));
    println!(
        "single-device match ({} models each, {samples} devices): p50 {:.3} ms, p95 {:.3} ms; with --explain p50 {:.3} ms; plain scan p50 {:.3} ms; ratio {:.2}× (avg {:.1} compatible)",
        fleet.models.len(),
        p50 * 1e3,
        percentile(ours, 0.95) * 1e3,
        median(explained) * 1e3,
        base * 1e3,
        p50 / base,
        compatible as f64 / samples as f64
    );

    // Five times: one run on a shared machine is a sample, not a figure.
    let mut times = Vec::new();
    let mut cells = matching::FleetMatrix::default();
    for _ in 0..5 {
        drop(cells);
        let t = Instant::now();
        cells = matching::fleet_matrix(&fleet, &opts);
        times.push(t.elapsed().as_secs_f64());
    }
    let elapsed = median(times.clone());
    let pairs = fleet.devices.len() * fleet.models.len();
    println!(
        "fleet matrix: {pairs} pairs in {elapsed:.3} s, median of 5 (fastest {:.3} s; {:.0} ns/pair), {} compatible",
        times.iter().copied().fold(f64::INFINITY, f64::min),
        elapsed * 1e9 / pairs as f64,
        cells.len()
    );

    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    let gql = schema(seam_registry::matching::FleetIndex::new(registry.clone()), None);
    // Two ways to ask: the device written into the document (a new document for every device,
    // parsed every time), and the document SEAM's web page sends, the device a variable (the
    // same document every time, its parse kept).
    const BY_VARIABLE: &str = "query($d: String!) { compatibleModels(device: $d) { device compatible { model name task accuracy estimatedLatencyMs ramBytes flashBytes via } } }";
    // Each side's time to its serialised answer, and (the second pair) until the answer and all
    // it was made from are freed again, as a server does before the next request.
    type Times = (Vec<f64>, Vec<f64>, Vec<f64>, Vec<f64>);
    let timed = |by_variable: bool| -> anyhow::Result<Times> {
        let (mut via_graphql, mut direct) = (Vec::new(), Vec::new());
        let (mut graphql_freed, mut direct_freed) = (Vec::new(), Vec::new());
        for (i, d) in picks.iter().enumerate() {
            let request = || {
                if by_variable {
                    async_graphql::Request::new(BY_VARIABLE)
                        .variables(async_graphql::Variables::from_json(serde_json::json!({ "d": d })))
                } else {
                    async_graphql::Request::new(format!("{{ compatibleModels(device: \"{d}\") {{ device compatible {{ model name task accuracy estimatedLatencyMs ramBytes flashBytes via }} }} }}"))
                }
            };
            // Alternate which side goes first: the second finds the device's facts in the cache.
            for side in if i % 2 == 0 { [0, 1] } else { [1, 0] } {
                // Made before the clock starts, as the direct call's input is.
                let graphql = (side == 0).then(request);
                let t = Instant::now();
                if let Some(request) = graphql {
                    let response = runtime.block_on(async {
                        gql.execute(prepare(request, &registry, seam_registry::access::Caller::Anonymous))
                            .await
                    });
                    let json = std::hint::black_box(serde_json::to_vec(&response)?);
                    via_graphql.push(t.elapsed().as_secs_f64());
                    drop((json, response));
                    graphql_freed.push(t.elapsed().as_secs_f64());
                } else {
                    let report = matching::match_device(&fleet, d, &opts, false);
                    let json = std::hint::black_box(serde_json::to_vec(&report)?);
                    direct.push(t.elapsed().as_secs_f64());
                    drop((json, report));
                    direct_freed.push(t.elapsed().as_secs_f64());
                }
            }
        }
        Ok((via_graphql, direct, graphql_freed, direct_freed))
    };
    let (via_graphql, direct, graphql_freed, direct_freed) = timed(false)?;
    let (by_variable, direct_too, _, _) = timed(true)?;
    let mut trivial = Vec::new();
    for _ in 0..100 {
        let t = Instant::now();
        let response = runtime.block_on(async {
            gql.execute(prepare(
                async_graphql::Request::new("{ __typename }"),
                &registry,
                seam_registry::access::Caller::Anonymous,
            ))
            .await
        });
        std::hint::black_box(serde_json::to_vec(&response)?);
        trivial.push(t.elapsed().as_secs_f64());
    }
    println!(
        "GraphQL fixed cost (`{{ __typename }}`) p50 {:.3} ms",
        median(trivial) * 1e3
    );
    // Each device is timed both ways back to back: the median of those pairs' ratios is steadier
    // on a shared machine than the ratio of two medians, whose samples drift apart with its load.
    let paired = median(via_graphql.iter().zip(&direct).map(|(g, d)| g / d).collect());
    let (g, dct) = (median(via_graphql), median(direct));
    println!(
        "GraphQL compatibleModels p50 {:.3} ms vs direct call + JSON p50 {:.3} ms: ratio {:.2}×; per device, median of the paired ratios {paired:.2}×",
        g * 1e3,
        dct * 1e3,
        g / dct
    );
    let paired = median(graphql_freed.iter().zip(&direct_freed).map(|(g, d)| g / d).collect());
    println!(
        "  the same requests until each answer is freed again: p50 {:.3} ms vs {:.3} ms; per device, median of the paired ratios {paired:.2}×",
        median(graphql_freed) * 1e3,
        median(direct_freed) * 1e3,
    );
    let paired = median(by_variable.iter().zip(&direct_too).map(|(g, d)| g / d).collect());
    println!(
        "GraphQL compatibleModels, the device a variable (the web page's document, parsed once): p50 {:.3} ms vs {:.3} ms; per device, median of the paired ratios {paired:.2}×",
        median(by_variable) * 1e3,
        median(direct_too) * 1e3,
    );

    if let (Some(direct), Some(replica)) = (&from_rocksdb, &from_replica) {
        let n = sparql_picks.len();
        println!(
            "SPARQL compatible-models (the readable rules) p50 {:.1} ms over {n} devices from the replica in memory ({:.0}× the fast path); read from RocksDB directly {:.1} ms ({:.2}×)",
            replica.models_p50 * 1e3,
            replica.models_p50 / p50,
            direct.models_p50 * 1e3,
            direct.models_p50 / replica.models_p50
        );
        println!(
            "SPARQL compatible-devices p50 {:.1} ms, p95 {:.1} ms over {n} models (avg {:.0} devices each) from the replica; from RocksDB p50 {:.1} ms, p95 {:.1} ms ({:.2}×)",
            replica.devices_p50 * 1e3,
            replica.devices_p95 * 1e3,
            replica.devices_avg,
            direct.devices_p50 * 1e3,
            direct.devices_p95 * 1e3,
            direct.devices_p50 / replica.devices_p50
        );
        println!(
            "SPARQL explain p50 {:.1} ms over {n} pairs from the replica; from RocksDB {:.1} ms ({:.2}×)",
            replica.explain_p50 * 1e3,
            direct.explain_p50 * 1e3,
            direct.explain_p50 / replica.explain_p50
        );
    }

    if sparql_samples > 0 {
        if let Some(seconds) = sparql_matrix_s {
            let q = &named("fleet-matrix")?;
            let bindings = q.bind(&[], &|_| None)?;
            let limits = QueryLimits {
                timeout: std::time::Duration::from_secs(seconds),
                max_rows: usize::MAX,
                max_result_bytes: usize::MAX,
                ..QueryLimits::default()
            };
            let t = Instant::now();
            match registry.query_named(q, bindings, &limits) {
                Ok(answer) => {
                    let n = rows(&answer);
                    println!(
                        "SPARQL fleet-matrix: {n} pairs in {:.1} s (the fast path: {} in {elapsed:.2} s)",
                        t.elapsed().as_secs_f64(),
                        cells.len()
                    );
                    if n != cells.len() {
                        anyhow::bail!("fleet-matrix: {n} rows, the fast path says {}", cells.len());
                    }
                }
                Err(e) => println!("SPARQL fleet-matrix: not done in {seconds} s ({e})"),
            }
        }

        if let Some(python) = peers {
            let q = &named("compatible-models")?;
            let sample: Vec<String> = picks.iter().take(sparql_samples).map(|d| (*d).clone()).collect();
            let s = from_replica.as_ref().map_or(0.0, |r| r.models_p50);
            peer_run(python, &q.text, &synth, &sample, rdflib_samples, s)?;
        }
    }
    Ok(())
}

/// Exports the same data and devices, runs bench/peers/compatible_models.py, prints the ratios.
fn peer_run(
    python: &std::path::Path,
    query: &str,
    synth: &seam_registry::ingest::Document,
    devices: &[String],
    rdflib_samples: usize,
    seam_p50: f64,
) -> anyhow::Result<()> {
    use oxigraph::io::RdfSerializer;
    let dir = tempfile::tempdir()?;
    let data = dir.path().join("data.nt");
    let mut writer = RdfSerializer::from_format(RdfFormat::NTriples)
        .for_writer(std::io::BufWriter::new(std::fs::File::create(&data)?));
    for doc in seam_registry::graph::bundled_documents()?
        .iter()
        .chain(std::iter::once(synth))
    {
        for q in &doc.quads {
            writer.serialize_triple(oxigraph::model::TripleRef::new(&q.subject, &q.predicate, &q.object))?;
        }
    }
    writer.finish()?;
    std::fs::write(dir.path().join("query.rq"), query)?;
    std::fs::write(dir.path().join("devices.txt"), devices.join("\n"))?;
    std::fs::write(dir.path().join("prefixes.rq"), seam_registry::vocab::sparql_prefixes())?;
    let script = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("peers/compatible_models.py");
    let out = std::process::Command::new(python)
        .arg(script)
        .arg(&data)
        .arg(dir.path().join("query.rq"))
        .arg(dir.path().join("devices.txt"))
        .args(["--rdflib-samples", &rdflib_samples.to_string()])
        .output()?;
    if !out.status.success() {
        anyhow::bail!("the peer script failed: {}", String::from_utf8_lossy(&out.stderr));
    }
    let v: serde_json::Value = serde_json::from_slice(&out.stdout)?;
    let ox = v["pyoxigraph_p50_s"].as_f64().unwrap_or(f64::NAN);
    let rdf = v["rdflib_p50_s"].as_f64().unwrap_or(f64::NAN);
    println!(
        "same compatible-models query: pyoxigraph p50 {:.1} ms ({} rows), rdflib p50 {:.0} ms over {} devices; SEAM's SPARQL path is {:.2}× pyoxigraph's time and {:.3}× rdflib's",
        ox * 1e3,
        v["pyoxigraph_rows"],
        rdf * 1e3,
        v["rdflib_samples"],
        seam_p50 / ox,
        seam_p50 / rdf
    );
    Ok(())
}

/// The three per-device and per-model named queries' times on one registry (seconds).
struct NamedTimes {
    models_p50: f64,
    devices_p50: f64,
    devices_p95: f64,
    devices_avg: f64,
    explain_p50: f64,
}

/// Times `compatible-models` per device, `compatible-devices` per model and `explain` per pair
/// on `registry`, each answer's rows checked against the fast path, so that a fast wrong
/// rewrite cannot pass.
fn time_named(
    registry: &Registry,
    fleet: &Fleet,
    picks: &[&String],
    model_picks: &[&String],
    per_model: &std::collections::HashMap<&str, usize>,
) -> anyhow::Result<NamedTimes> {
    let opts = MatchOptions::default();
    let sparql_samples = model_picks.len();
    let limits = QueryLimits::default();

    let q = &named("compatible-models")?;
    let mut times = Vec::new();
    for d in picks.iter().take(sparql_samples) {
        let bindings = q.bind(&[("device".into(), (*d).clone())], &|_| None)?;
        let t = Instant::now();
        let answer = registry.query_named(q, bindings, &limits)?;
        times.push(t.elapsed().as_secs_f64());
        let expected = matching::match_device(fleet, d, &opts, false).map_or(0, |r| r.compatible.len());
        if rows(&answer) != expected {
            anyhow::bail!(
                "compatible-models for {d}: {} rows, the fast path says {expected}",
                rows(&answer)
            );
        }
    }
    let models_p50 = median(times);

    let q = &named("compatible-devices")?;
    let mut times = Vec::new();
    let mut total = 0;
    for m in model_picks {
        let bindings = q.bind(&[("model".into(), (*m).clone())], &|_| None)?;
        let t = Instant::now();
        let answer = registry.query_named(q, bindings, &limits)?;
        times.push(t.elapsed().as_secs_f64());
        let expected = per_model.get(m.as_str()).copied().unwrap_or(0);
        if rows(&answer) != expected {
            anyhow::bail!(
                "compatible-devices for {m}: {} rows, the fast path says {expected}",
                rows(&answer)
            );
        }
        total += expected;
    }
    let devices = (
        median(times.clone()),
        percentile(times, 0.95),
        total as f64 / sparql_samples as f64,
    );

    let q = &named("explain")?;
    let mut times = Vec::new();
    for (d, m) in picks.iter().zip(model_picks) {
        let bindings = q.bind(
            &[("device".into(), (*d).clone()), ("model".into(), (*m).clone())],
            &|_| None,
        )?;
        let t = Instant::now();
        std::hint::black_box(registry.query_named(q, bindings, &limits)?);
        times.push(t.elapsed().as_secs_f64());
    }
    Ok(NamedTimes {
        models_p50,
        devices_p50: devices.0,
        devices_p95: devices.1,
        devices_avg: devices.2,
        explain_p50: median(times),
    })
}

/// The named query `name` of `queries/`.
fn named(name: &str) -> anyhow::Result<named::NamedQuery> {
    named::all()?
        .into_iter()
        .find(|q| q.name == name)
        .ok_or_else(|| anyhow::anyhow!("no named query {name}"))
}

/// The number of solutions in `answer` (0 for any other kind).
fn rows(answer: &seam_registry::answer::QueryAnswer) -> usize {
    match answer {
        seam_registry::answer::QueryAnswer::Solutions { rows, .. } => rows.len(),
        _ => 0,
    }
}
