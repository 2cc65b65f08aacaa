//! Crash safety, scripted: SIGKILL the real `seam` at random moments of a load, of a
//! registration storm with telemetry, and of a rollout; start it again; check what must hold.
//!
//! Invariants after every kill and restart:
//! - the store opens (the restarted process answers, or `seam query` runs);
//! - a load is all or nothing (its marker triples are all there or none are);
//! - no device is in two states (one `seam:status`), no endpoint name names two devices;
//! - no deployment record is duplicated (one per rollout target), and every target of a
//!   rollout ends in exactly one final state once the rollout resumes and finishes.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::Context as _;
use serde_json::{json, Value};

const TOKEN: &str = "crash";

/// A child process killed (SIGKILL) when dropped.
struct Killed(Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn free_port(udp: bool) -> anyhow::Result<u16> {
    Ok(if udp {
        std::net::UdpSocket::bind("127.0.0.1:0")?.local_addr()?.port()
    } else {
        std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?.port()
    })
}

struct Paths {
    seam: PathBuf,
    sim: PathBuf,
    loads: PathBuf,
    service: PathBuf,
    work: PathBuf,
}

/// A `seam serve` on the service store.
struct Service {
    child: Killed,
    base: String,
    coap: u16,
}

fn serve(paths: &Paths, http: u16, coap: u16) -> anyhow::Result<Service> {
    let child = Command::new(&paths.seam)
        .args(["serve", "--data"])
        .arg(&paths.service)
        .args([
            "--http",
            &format!("127.0.0.1:{http}"),
            "--coap",
            &format!("127.0.0.1:{coap}"),
        ])
        .args(["--coaps", "off", "--token", TOKEN, "--delivery-timeout", "60"])
        .env("SEAM_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .context("cannot start seam serve")?;
    let service = Service {
        child: Killed(child),
        base: format!("http://127.0.0.1:{http}"),
        coap,
    };
    let client = client()?;
    let deadline = Instant::now() + Duration::from_secs(120);
    while !client
        .get(format!("{}/health", service.base))
        .send()
        .is_ok_and(|r| r.status().is_success())
    {
        anyhow::ensure!(Instant::now() < deadline, "the store did not open again within 120 s");
        std::thread::sleep(Duration::from_millis(50));
    }
    Ok(service)
}

fn client() -> anyhow::Result<reqwest::blocking::Client> {
    Ok(reqwest::blocking::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()?)
}

/// The rows of a SELECT, each value as text (an IRI's, a literal's lexical form).
fn select(base: &str, query: &str) -> anyhow::Result<Vec<Vec<String>>> {
    use oxigraph::model::Term;
    use seam_registry::answer::ResultsFormat;
    let body = client()?
        .get(format!("{base}/sparql"))
        .query(&[("query", query)])
        .header("accept", "application/sparql-results+json")
        .send()?
        .error_for_status()?
        .bytes()?;
    let seam_registry::QueryAnswer::Solutions { rows, .. } =
        seam_registry::QueryAnswer::parse_results(ResultsFormat::Json, &body).map_err(anyhow::Error::msg)?
    else {
        anyhow::bail!("not a SELECT answer");
    };
    Ok(rows
        .into_iter()
        .map(|row| {
            row.into_iter()
                .map(|term| match term {
                    Some(Term::NamedNode(n)) => n.into_string(),
                    Some(Term::Literal(l)) => l.value().to_owned(),
                    Some(other) => other.to_string(),
                    None => String::new(),
                })
                .collect()
        })
        .collect())
}

fn simulator(paths: &Paths, coap: u16, prefix: &str, devices: usize) -> anyhow::Result<Killed> {
    Ok(Killed(
        Command::new(&paths.sim)
            .args([
                "--server",
                &format!("coap://127.0.0.1:{coap}"),
                "--devices",
                &devices.to_string(),
            ])
            .args([
                "--endpoint-prefix",
                prefix,
                "--lifetime",
                "5",
                "--ack-timeout-ms",
                "300",
            ])
            .args(["--board", "arduino-nano-33-ble-sense"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .context("cannot start seam-device-sim")?,
    ))
}

/// The device invariants, asked of a running service: a list of violations.
fn device_violations(base: &str) -> anyhow::Result<Vec<String>> {
    let mut found = Vec::new();
    for row in select(
        base,
        "SELECT ?d (COUNT(DISTINCT ?s) AS ?n) WHERE { ?d seam:status ?s } GROUP BY ?d HAVING (COUNT(DISTINCT ?s) > 1)",
    )? {
        found.push(format!("device {} is in {} states at once", row[0], row[1]));
    }
    for row in select(
        base,
        "SELECT ?e (COUNT(DISTINCT ?d) AS ?n) WHERE { ?d seam:lwm2mEndpoint ?e } GROUP BY ?e HAVING (COUNT(DISTINCT ?d) > 1)",
    )? {
        found.push(format!("endpoint {} names {} devices", row[0], row[1]));
    }
    for row in select(
        base,
        "SELECT ?t (COUNT(DISTINCT ?s) AS ?n) WHERE { ?r seam:hasTarget ?t . ?t seam:state ?s } GROUP BY ?t HAVING (COUNT(DISTINCT ?s) > 1)",
    )? {
        found.push(format!("rollout target {} is in {} states at once", row[0], row[1]));
    }
    for row in select(
        base,
        "SELECT ?r ?d (COUNT(?dep) AS ?n) WHERE { ?dep seam:partOf ?r ; seam:target ?d } GROUP BY ?r ?d HAVING (COUNT(?dep) > 1)",
    )? {
        found.push(format!("{} was delivered {} times by {}", row[1], row[2], row[0]));
    }
    Ok(found)
}

/// One load of `marks` marker triples into the load store, killed after `after`: the markers
/// are all there or none are, and the store opens.
fn load_round(paths: &Paths, round: usize, marks: usize, after: Duration) -> anyhow::Result<Vec<String>> {
    let file = paths.work.join(format!("round-{round}.nt"));
    let mut text = String::with_capacity(marks * 80);
    for j in 0..marks {
        text.push_str(&format!("<urn:crash:r{round}:s{j}> <urn:crash:mark> \"{j}\" .\n"));
    }
    std::fs::write(&file, text)?;
    let mut child = Killed(
        Command::new(&paths.seam)
            .args(["load", "--data"])
            .arg(&paths.loads)
            .arg(&file)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()?,
    );
    // Killed at `after`, unless it finished first.
    let deadline = Instant::now() + after;
    let mut finished = child.0.try_wait()?.is_some();
    while !finished && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(5));
        finished = child.0.try_wait()?.is_some();
    }
    drop(child);
    let out = Command::new(&paths.seam)
        .args(["query", "--data"])
        .arg(&paths.loads)
        .args(["--format", "csv"])
        .arg(format!(
            "SELECT (COUNT(*) AS ?n) WHERE {{ ?s <urn:crash:mark> ?o FILTER(STRSTARTS(STR(?s), \"urn:crash:r{round}:\")) }}"
        ))
        .output()?;
    if !out.status.success() {
        return Ok(vec![format!(
            "round {round}: the load store does not open after the kill: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        )]);
    }
    let count: usize = String::from_utf8_lossy(&out.stdout)
        .lines()
        .nth(1)
        .and_then(|l| l.trim().parse().ok())
        .unwrap_or(usize::MAX);
    let mut found = Vec::new();
    if count != 0 && count != marks {
        found.push(format!("round {round}: a partial load: {count} of {marks} triples"));
    }
    if finished && count != marks {
        found.push(format!("round {round}: the load finished but holds {count} of {marks}"));
    }
    Ok(found)
}

/// 200 devices registering (and updating: 5 s lifetimes) when the service is killed after
/// `pause`; then the device invariants on the restarted service.
fn storm_round(paths: &Paths, http: u16, coap: u16, round: usize, pause: Duration) -> anyhow::Result<Vec<String>> {
    let service = serve(paths, http, coap)?;
    let devices = simulator(paths, service.coap, &format!("storm{round}"), 200)?;
    std::thread::sleep(pause);
    drop(service.child);
    drop(devices);
    let service = serve(paths, http, coap)?;
    device_violations(&service.base)
}

/// A rollout of `model` to 20 devices, killed after `pause`; after the restart the rollout
/// resumes and every target must end in one final state, the device invariants holding before
/// and after.
fn rollout_round(
    paths: &Paths,
    http: u16,
    coap: u16,
    round: usize,
    model: &str,
    pause: Duration,
) -> anyhow::Result<Vec<String>> {
    let service = serve(paths, http, coap)?;
    let prefix = format!("roll{round}");
    let _devices = simulator(paths, service.coap, &prefix, 20)?;
    let described = format!(
        "SELECT (COUNT(?d) AS ?n) WHERE {{ ?d seam:lwm2mEndpoint ?e ; seam:board ?b FILTER(STRSTARTS(?e, \"{prefix}-\")) }}"
    );
    let deadline = Instant::now() + Duration::from_secs(60);
    while select(&service.base, &described)?
        .first()
        .and_then(|r| r.first())
        .map(String::as_str)
        != Some("20")
    {
        anyhow::ensure!(Instant::now() < deadline, "round {round}: devices did not register");
        std::thread::sleep(Duration::from_millis(200));
    }
    let names: Vec<String> = (0..20).map(|i| format!("{prefix}-{i}")).collect();
    let started: Value = client()?
        .post(format!("{}/rollouts", service.base))
        .bearer_auth(TOKEN)
        .json(&json!({ "model": model, "devices": names, "concurrency": 4, "errorThresholdPct": 100 }))
        .send()?
        .json()?;
    let id = started["id"].as_str().context("no rollout id")?.to_owned();
    std::thread::sleep(pause);
    drop(service.child);
    let service = serve(paths, http, coap)?;
    let mut found = device_violations(&service.base)?;
    let deadline = Instant::now() + Duration::from_secs(240);
    let last = loop {
        let now: Value = client()?
            .get(format!("{}/rollouts/{id}", service.base))
            .send()?
            .json()?;
        if !["building", "running", "paused"].contains(&now["state"].as_str().unwrap_or("")) {
            break now;
        }
        if Instant::now() > deadline {
            found.push(format!("round {round}: rollout {id} did not finish after the restart"));
            break now;
        }
        std::thread::sleep(Duration::from_millis(250));
    };
    for t in last["targets"].as_array().into_iter().flatten() {
        let state = t["state"].as_str().unwrap_or("");
        if !["installed", "failed", "skipped"].contains(&state) {
            found.push(format!("round {round}: {} ended {state:?}", t["device"]));
        }
    }
    found.extend(device_violations(&service.base)?);
    Ok(found)
}

/// Runs `kills` rounds and prints what each did; fails when any invariant failed.
pub fn run(seam: &Path, kills: usize, seed: u64) -> anyhow::Result<()> {
    seam_registry::remote::install_tls_provider();
    let sim = seam.with_file_name("seam-device-sim");
    anyhow::ensure!(
        sim.exists(),
        "{} is missing (cargo build -p seam-device-sim)",
        sim.display()
    );
    let dir = tempfile::tempdir()?;
    let paths = Paths {
        seam: seam.to_owned(),
        sim,
        loads: dir.path().join("loads"),
        service: dir.path().join("service"),
        work: dir.path().to_owned(),
    };
    let mut rng = fastrand::Rng::with_seed(seed);
    let marks = 50_000;
    // How long an uninterrupted load takes: kills land anywhere in it.
    let started = Instant::now();
    let warm = load_round(&paths, usize::MAX, marks, Duration::from_secs(600))?;
    let load_time = started.elapsed();
    anyhow::ensure!(warm.is_empty(), "an uninterrupted load failed its check: {warm:?}");

    let http = free_port(false)?;
    let coap = free_port(true)?;
    // The model every rollout ships, registered once.
    let model = {
        let service = serve(&paths, http, coap)?;
        let bytes = seam_registry::bridge::onnx_build::to_bytes(&seam_registry::bridge::onnx_build::ds_cnn(7).model);
        let registered: Value = client()?
            .post(format!(
                "{}/models?task=keyword-spotting&input-sensor=microphone&name=crash-kws.onnx",
                service.base
            ))
            .bearer_auth(TOKEN)
            .body(bytes)
            .send()?
            .error_for_status()?
            .json()?;
        registered["model"].as_str().context("no model IRI")?.to_owned()
    };

    let mut violations = Vec::new();
    let (mut loads, mut storms, mut rollouts) = (0, 0, 0);
    let whole = Instant::now();
    for round in 0..kills {
        let round_started = Instant::now();
        let (what, found) = match round % 3 {
            0 => {
                let after = load_time.mul_f64(rng.f64() * 1.1);
                loads += 1;
                ("load", load_round(&paths, round, marks, after)?)
            }
            1 => {
                storms += 1;
                let pause = Duration::from_millis(200 + rng.u64(0..3000));
                ("registration storm", storm_round(&paths, http, coap, round, pause)?)
            }
            _ => {
                rollouts += 1;
                let pause = Duration::from_millis(rng.u64(0..4000));
                ("rollout", rollout_round(&paths, http, coap, round, &model, pause)?)
            }
        };
        println!(
            "kill {:>2}/{kills}: {what:<18} {:>6.1} s  {}",
            round + 1,
            round_started.elapsed().as_secs_f64(),
            if found.is_empty() {
                "invariants hold".to_owned()
            } else {
                found.join("; ")
            }
        );
        violations.extend(found);
    }
    println!(
        "{kills} kills in {:.0} s ({loads} loads, {storms} registration storms, {rollouts} rollouts): {} invariant violations",
        whole.elapsed().as_secs_f64(),
        violations.len()
    );
    anyhow::ensure!(violations.is_empty(), "invariants failed: {violations:#?}");
    Ok(())
}
