//! `seam demo`: the whole story in one process. The service on an embedded store (seeded
//! catalog, HTTP, CoAP), real model files registered (the MLPerf Tiny architectures the bridge
//! builds; SeLoC-ML's TFLite models when given), simulated devices of mixed boards (some too
//! small for anything, one in ten losing datagrams, one in ten refusing installs), then per job the best
//! compatible model rolled out, printed as it goes, and a summary.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use seam_registry::app::{Application, Settings};
use seam_registry::http::ServiceConfig;
use seam_registry::lwm2m::client::{boards, ClientConfig, Lwm2mClient};
use seam_registry::lwm2m::coap::TransmissionParams;
use seam_registry::rollout::{Rollout, RolloutSpec, RolloutState, Rollouts, Selection, TargetState};

use crate::failure::Failure;

/// The arguments of `seam demo`.
#[derive(clap::Args)]
pub(crate) struct DemoArgs {
    /// Simulated devices (boards mixed in a fixed pattern of ten).
    #[arg(long, default_value_t = 50, value_parser = clap::value_parser!(u16).range(1..=5000))]
    devices: u16,
    /// Exit once the rollouts have finished (otherwise keep serving until Ctrl-C).
    #[arg(long)]
    until_done: bool,
    /// Print the outcome as one JSON object on stdout (the story goes to stderr).
    #[arg(long)]
    json: bool,
    /// HTTP address.
    #[arg(long, default_value = "127.0.0.1:8080")]
    http: String,
    /// LwM2M/CoAP address.
    #[arg(long, default_value = "127.0.0.1:5683")]
    coap: SocketAddr,
    /// The data folder (default: a temporary one, removed when the demo ends).
    #[arg(long)]
    data: Option<PathBuf>,
    /// A folder of SeLoC-ML's TFLite models (its `models/`): the keyword-spotting and person
    /// detection ones are registered too.
    #[arg(long, value_name = "DIR")]
    seloc_models: Option<PathBuf>,
}

/// A job: a task, the sensor its input comes from, and the models registered for it.
struct Job {
    name: &'static str,
    task: &'static str,
    sensor: &'static str,
}

const KWS: Job = Job {
    name: "keyword spotting",
    task: "keyword-spotting",
    sensor: "microphone",
};
const PERSON: Job = Job {
    name: "person detection",
    task: "visual-wake-words",
    sensor: "camera",
};
const ANOMALY: Job = Job {
    name: "anomaly detection",
    task: "anomaly-detection",
    sensor: "microphone",
};
const JOBS: [&Job; 3] = [&KWS, &PERSON, &ANOMALY];

/// The fleet's pattern, ten devices at a time: board, short name, extra IPSO sensors (attached
/// to the board), the jobs it is wanted for (the first whose model runs there), and what it
/// does wrong.
type Role = (
    &'static str,
    &'static str,
    &'static [u16],
    &'static [&'static Job],
    Fault,
);
const PATTERN: [Role; 10] = [
    (
        "arduino-nano-33-ble-sense",
        "nano33",
        &[],
        &[&KWS, &ANOMALY],
        Fault::None,
    ),
    ("b-l475e-iot01a", "l475", &[], &[&KWS, &ANOMALY], Fault::None),
    ("sony-spresense", "spresense", &[], &[&PERSON], Fault::None),
    (
        "arduino-nano-33-ble-sense",
        "nano33",
        &[],
        &[&KWS, &ANOMALY],
        Fault::None,
    ),
    ("max78000fthr", "max78000", &[], &[&KWS], Fault::None),
    ("b-l475e-iot01a", "l475", &[], &[&KWS, &ANOMALY], Fault::Lossy),
    // A node with a microphone attached but 48 KiB of flash left: too small for any model here.
    ("nrf52840-dk", "nrf52840", &[3324], &[&KWS, &ANOMALY], Fault::None),
    (
        "arduino-nano-33-ble-sense",
        "nano33",
        &[],
        &[&KWS, &ANOMALY],
        Fault::RefusesInstalls,
    ),
    // An ESP32-S3 with an I2S microphone attached (IPSO 3324), listening to a machine.
    ("esp32-s3-devkitc-1", "esp32s3", &[3324], &[&ANOMALY, &KWS], Fault::None),
    // A board no catalog knows: it is flagged, and nothing is planned for it.
    ("unknown", "acme", &[], &[&KWS, &ANOMALY], Fault::None),
];

/// The datagrams a lossy device drops, both ways.
const LOSS: f64 = 0.02;

/// What a simulated device does wrong.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Fault {
    None,
    /// Drops [`LOSS`] of its datagrams both ways.
    Lossy,
    /// Fails every installation.
    RefusesInstalls,
}

impl Fault {
    fn label(self) -> &'static str {
        match self {
            Fault::None => "",
            Fault::Lossy => "2% loss",
            Fault::RefusesInstalls => "refuses installs",
        }
    }
}

/// One simulated device.
struct Sim {
    name: String,
    board: &'static str,
    jobs: &'static [&'static Job],
    fault: Fault,
    _client: Lwm2mClient,
}

/// The outcome, as `--json` prints it.
struct Outcome {
    devices: usize,
    matched: usize,
    deployed: usize,
    failed: usize,
    skipped: usize,
    rolled_back: usize,
    cancelled: usize,
    seconds: f64,
}

impl Outcome {
    /// `{"devices","matched","deployed","failed","skipped","seconds"}`, and the devices rolled
    /// back or cancelled when there are any (a halted rollout), so that the counts always add up.
    fn to_json(&self) -> serde_json::Value {
        let mut v = serde_json::json!({
            "devices": self.devices,
            "matched": self.matched,
            "deployed": self.deployed,
            "failed": self.failed,
            "skipped": self.skipped,
            "seconds": self.seconds,
        });
        if let Some(map) = v.as_object_mut() {
            if self.rolled_back > 0 {
                map.insert("rolledBack".into(), self.rolled_back.into());
            }
            if self.cancelled > 0 {
                map.insert("cancelled".into(), self.cancelled.into());
            }
        }
        v
    }
}

/// Runs `seam demo`.
pub(crate) fn run(args: DemoArgs) -> Result<(), Failure> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    runtime.block_on(demo(args)).map_err(Failure::Runtime)
}

/// A story line: to stderr with `--json` (stdout is the JSON's), else to stdout.
fn say(json: bool, line: &str) {
    if json {
        eprintln!("{line}");
    } else {
        println!("{line}");
    }
}

fn random_token() -> String {
    use std::hash::{BuildHasher as _, Hasher as _};
    let mut token = String::new();
    for _ in 0..2 {
        let mut h = std::collections::hash_map::RandomState::new().build_hasher();
        h.write_u128(
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_nanos())
                .unwrap_or(0),
        );
        token.push_str(&format!("{:016x}", h.finish()));
    }
    token
}

async fn demo(args: DemoArgs) -> anyhow::Result<()> {
    let started = Instant::now();
    let json = args.json;
    let scratch = match &args.data {
        Some(_) => None,
        None => Some(tempfile::Builder::new().prefix("seam-demo-").tempdir()?),
    };
    let data = match (&args.data, &scratch) {
        (Some(d), _) => d.clone(),
        (None, Some(t)) => t.path().to_owned(),
        (None, None) => anyhow::bail!("no data folder"),
    };
    let token = random_token();
    let settings = Settings {
        data: Some(data.clone()),
        http: args.http.clone(),
        coap: Some(args.coap),
        // Loopback: CoAP's timers at a quarter of RFC 7252's (an ACK within 500 ms, not 2 s), and
        // a device's update state read every second when it cannot be observed.
        lwm2m: seam_registry::lwm2m::server::ServerConfig {
            params: TransmissionParams::fast(Duration::from_millis(500)),
            state_poll: Duration::from_secs(1),
            ..Default::default()
        },
        service: ServiceConfig {
            token: Some(token.clone()),
            ..ServiceConfig::default()
        },
    };
    let app = Application::build(settings).await?;
    let http = app.http_addr();
    let coap = app.coap_addr().context("the demo runs its LwM2M server")?;
    say(
        json,
        &format!(
            "SEAM is up on an embedded store in {}: http://{http} (token {token}), LwM2M on coap://{coap}",
            data.display()
        ),
    );
    let registry = app.registry().clone();
    let fleet = app.fleet().clone();
    let data_dir = app.data().clone();
    let rollouts = app.rollouts().clone();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let serving = tokio::spawn(app.run_until_stopped(async move {
        let _ = stopped.await;
    }));

    // 1. Models, from their files.
    let models = register_models(&registry, &data_dir, args.seloc_models.as_deref(), json).await?;

    // 2. Devices.
    let sims = start_devices(coap, usize::from(args.devices)).await?;
    say(
        json,
        &format!(
            "{} simulated devices registering over LwM2M (a pattern of ten: Arduino Nano 33 BLE Sense, \
             B-L475E-IOT01A, Spresense, MAX78000FTHR, nRF52840-DK, ESP32-S3, an unknown board; one in ten losing 2% \
             of its datagrams, one in ten refusing installs)",
            sims.len()
        ),
    );
    wait_described(&registry, sims.len()).await?;
    say(
        json,
        "every device registered and described itself (Object 3: board, memory)",
    );

    // 3. Per job, the best model, rolled out to the devices that want it and can run it.
    let mut compatible: BTreeMap<String, BTreeMap<String, &'static str>> = BTreeMap::new();
    for (iri, _, _, _) in &models {
        let (registry, fleet, data_dir, iri_owned) = (registry.clone(), fleet.clone(), data_dir.clone(), iri.clone());
        let devices = tokio::task::spawn_blocking(move || {
            seam_registry::rollout::compatible_devices(&registry, &fleet, &data_dir, &iri_owned, 10)
        })
        .await??;
        compatible.insert(iri.clone(), devices);
    }
    let macs: BTreeMap<String, u64> = models.iter().map(|(iri, _, _, m)| (iri.clone(), *m)).collect();
    let models: Vec<(String, String, &'static str)> = models.into_iter().map(|(i, n, t, _)| (i, n, t)).collect();
    let mut assigned: BTreeMap<&str, Vec<&Sim>> = BTreeMap::new();
    for sim in &sims {
        let job = sim.jobs.iter().find(|job| {
            models
                .iter()
                .filter(|(_, _, task)| *task == job.task)
                .any(|(iri, _, _)| compatible[iri].contains_key(&sim.name))
        });
        if let Some(job) = job {
            assigned.entry(job.name).or_default().push(sim);
        }
    }
    let mut started_rollouts: Vec<(&'static Job, String, String)> = Vec::new();
    for job in JOBS {
        let Some(devices) = assigned.get(job.name) else {
            say(json, &format!("{}: no device can run any of its models", job.name));
            continue;
        };
        // The candidate that runs on most of the job's devices; then the cheaper one (MACs).
        let best = models
            .iter()
            .filter(|(_, _, task)| *task == job.task)
            .max_by_key(|(iri, name, _)| {
                let n = devices.iter().filter(|d| compatible[iri].contains_key(&d.name)).count();
                let macs = macs.get(iri).copied().unwrap_or(u64::MAX);
                (n, std::cmp::Reverse(macs), std::cmp::Reverse(name.clone()))
            });
        let Some((iri, name, _)) = best else { continue };
        let targets: Vec<String> = devices
            .iter()
            .filter(|d| compatible[iri].contains_key(&d.name))
            .map(|d| d.name.clone())
            .collect();
        let mut spec = RolloutSpec::new(iri, Selection::Devices(targets.clone()));
        spec.canary_pct = Some(10.0);
        spec.error_threshold_pct = 50.0;
        spec.offline_deadline_s = 60;
        let rollout = rollouts.begin(spec).await?;
        say(
            json,
            &format!(
                "{}: rolling out {name} to {} devices (canary first, halt above 50% failures), rollout {}",
                job.name,
                targets.len(),
                rollout.id
            ),
        );
        started_rollouts.push((job, rollout.id, name.clone()));
    }

    // Why the devices no job took: matching's reasons for the first model of the job they want.
    let mut why_not: BTreeMap<String, String> = BTreeMap::new();
    let facts = fleet.fleet()?;
    for sim in &sims {
        if assigned.values().flatten().any(|d| d.name == sim.name) {
            continue;
        }
        let job = sim.jobs[0];
        let model = started_rollouts
            .iter()
            .find(|(j, _, _)| j.task == job.task)
            .and_then(|(_, _, name)| models.iter().find(|(_, n, _)| n == name))
            .or_else(|| models.iter().find(|(_, _, task)| *task == job.task));
        let reason = model.and_then(|(iri, name, _)| {
            let options = seam_registry::matching::MatchOptions::default();
            let report = seam_registry::matching::match_device(&facts, &sim.name, &options, true)?;
            let rejected = report.rejected?.into_iter().find(|r| &r.model == iri)?;
            let reasons: Vec<String> = rejected.reasons.into_iter().map(|r| r.message).collect();
            Some(format!("{} ({name}): {}", job.name, reasons.join(" ")))
        });
        why_not.insert(
            sim.name.clone(),
            reason.unwrap_or_else(|| "no job's model runs on it".to_owned()),
        );
    }

    // 4. Follow them.
    let finished = follow(&rollouts, &started_rollouts, json).await;

    // 5. The summary.
    let outcome = summarise(&sims, &started_rollouts, &finished, &why_not, json, started.elapsed());
    say(
        json,
        &format!(
            "open http://{http}/graphql (GraphiQL: try `{{ rollouts {{ modelName state counts {{ state devices }} }} }}`), \
             http://{http}/rollouts, http://{http}/queries/running-models, http://{http}/queries/inventory"
        ),
    );
    if json {
        println!("{}", outcome.to_json());
    }
    if !args.until_done {
        say(json, "serving until Ctrl-C");
        let _ = tokio::signal::ctrl_c().await;
    }
    let _ = stop.send(());
    serving.await??;
    drop(sims);
    drop(scratch);
    Ok(())
}

/// Registers the models (one load): their IRI, name, task and MACs.
async fn register_models(
    registry: &seam_registry::Registry,
    data: &seam_registry::data_dir::DataDir,
    seloc: Option<&std::path::Path>,
    json: bool,
) -> anyhow::Result<Vec<(String, String, &'static str, u64)>> {
    use seam_registry::bridge::onnx_build;
    use seam_registry::ingest::onnx::ModelFacts;
    use seam_registry::models::ModelFile;

    let facts = |job: &Job| ModelFacts {
        task: Some(job.task.to_owned()),
        input_sensors: vec![job.sensor.to_owned()],
        ..ModelFacts::default()
    };
    let mut files: Vec<(ModelFile, String, &'static str)> = Vec::new();
    // The MLPerf Tiny architectures, with generated weights: measured and shipped for real; what
    // they would score after training is not claimed.
    for (name, model, job) in [
        ("kws-ds-cnn", onnx_build::ds_cnn(1).model, &KWS),
        ("vww-mobilenet-v1-025", onnx_build::mobilenet_v1_025(1).model, &PERSON),
        ("ad-fc-autoencoder", onnx_build::fc_autoencoder(1).model, &ANOMALY),
    ] {
        let bytes = onnx_build::to_bytes(&model);
        files.push((
            ModelFile::from_bytes(name, bytes, &facts(job))?,
            name.to_owned(),
            job.task,
        ));
    }
    if let Some(dir) = seloc {
        for (file, job) in [
            ("Micro_Speech_Yes_No_1.tflite", &KWS),
            ("Person_Detection.tflite", &PERSON),
        ] {
            let path = dir.join(file);
            let bytes = std::fs::read(&path).with_context(|| format!("cannot read {}", path.display()))?;
            let name = file.trim_end_matches(".tflite");
            files.push((
                ModelFile::from_bytes(name, bytes, &facts(job))?,
                name.to_owned(),
                job.task,
            ));
        }
    }
    let registry = registry.clone();
    let data = data.clone();
    let listed: Vec<(String, String, &'static str, u64, u64)> = files
        .iter()
        .map(|(m, name, task)| (m.iri(), name.clone(), *task, m.analysis.params, m.analysis.macs))
        .collect();
    let files: Vec<(ModelFile, &'static str)> = files.into_iter().map(|(m, _, t)| (m, t)).collect();
    let models: Vec<ModelFile> = files.into_iter().map(|(m, _)| m).collect();
    tokio::task::spawn_blocking(move || seam_registry::models::register(&registry, &data, &models, Vec::new()))
        .await??;
    for (_, name, task, params, macs) in &listed {
        say(
            json,
            &format!("registered {name} ({task}): {params} parameters, {macs} MACs, measured from its file"),
        );
    }
    Ok(listed
        .into_iter()
        .map(|(iri, name, task, _, macs)| (iri, name, task, macs))
        .collect())
}

async fn start_devices(coap: SocketAddr, n: usize) -> anyhow::Result<Vec<Sim>> {
    let mut sims = Vec::with_capacity(n);
    for i in 0..n {
        let (board, short, attached, jobs, fault) = PATTERN[i % PATTERN.len()];
        let mut profile = boards::board(board)
            .context("a board of the pattern is not in the roster")?
            .profile(i);
        profile.sensors.extend_from_slice(attached);
        if board == "nrf52840-dk" {
            profile.memory_free_kib = 48;
        }
        let name = format!("{short}-{i:03}");
        let mut config = ClientConfig::new(&name, coap, profile);
        let mut params = TransmissionParams::fast(Duration::from_millis(500));
        if fault == Fault::Lossy {
            params.loss = LOSS;
        }
        config.params = params;
        config.reject_install = fault == Fault::RefusesInstalls;
        config.lifetime = 120;
        let client = Lwm2mClient::start(config).await?;
        sims.push(Sim {
            name,
            board,
            jobs,
            fault,
            _client: client,
        });
    }
    let mut tasks = Vec::new();
    for sim in &sims {
        let client = sim._client.clone();
        tasks.push(tokio::spawn(async move {
            let registered = client.register().await;
            let _keep_alive = client.keep_alive();
            registered
        }));
    }
    for task in tasks {
        task.await??;
    }
    Ok(sims)
}

/// Waits until every simulated device has described itself (a board, or the unknown-board flag).
async fn wait_described(registry: &seam_registry::Registry, n: usize) -> anyhow::Result<()> {
    let deadline = Instant::now() + Duration::from_secs(120);
    // The catalog's own devices never report a model number: only the simulated ones count.
    let query = "SELECT DISTINCT ?d WHERE { ?d seam:lwm2mEndpoint ?e ; seam:reportedModelNumber ?m }";
    loop {
        let registry = registry.clone();
        let described = tokio::task::spawn_blocking(move || registry.query(query, &Default::default()))
            .await??
            .len();
        if described >= n {
            return Ok(());
        }
        anyhow::ensure!(
            Instant::now() < deadline,
            "only {described} of {n} devices described themselves within two minutes"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Prints the rollouts' device events as they happen; answers each rollout once it ended.
async fn follow(rollouts: &Rollouts, started: &[(&'static Job, String, String)], json: bool) -> Vec<Rollout> {
    let mut events = rollouts.subscribe();
    let job_of: BTreeMap<&str, &str> = started.iter().map(|(job, id, _)| (id.as_str(), job.name)).collect();
    loop {
        let done: Vec<Rollout> = started.iter().filter_map(|(_, id, _)| rollouts.get(id)).collect();
        if done.iter().all(|r| !r.state.is_active()) {
            return done;
        }
        match tokio::time::timeout(Duration::from_millis(500), events.recv()).await {
            Ok(Ok(e)) => {
                let Some(job) = job_of.get(e.rollout.as_str()) else {
                    continue;
                };
                match (&e.device, e.device_state) {
                    (Some(device), Some(state))
                        if state != TargetState::Delivering && state != TargetState::Pending =>
                    {
                        let why = if e.reason.is_empty() {
                            String::new()
                        } else {
                            format!(": {}", e.reason)
                        };
                        say(json, &format!("  {job}: {device} {}{why}", state.as_str()));
                    }
                    (None, _) if e.state == RolloutState::Building => say(json, &format!("  {job}: {}", e.reason)),
                    (None, _) if !e.state.is_active() => {
                        say(json, &format!("  {job}: rollout {}: {}", e.state.as_str(), e.reason));
                    }
                    _ => {}
                }
            }
            Ok(Err(tokio::sync::broadcast::error::RecvError::Closed)) => return Vec::new(),
            _ => {}
        }
    }
}

fn summarise(
    sims: &[Sim],
    started: &[(&'static Job, String, String)],
    finished: &[Rollout],
    why_not: &BTreeMap<String, String>,
    json: bool,
    took: Duration,
) -> Outcome {
    let mut rows = Vec::new();
    let mut outcome = Outcome {
        devices: sims.len(),
        matched: 0,
        deployed: 0,
        failed: 0,
        skipped: 0,
        rolled_back: 0,
        cancelled: 0,
        seconds: (took.as_secs_f64() * 10.0).round() / 10.0,
    };
    for sim in sims {
        let found = finished.iter().find_map(|r| {
            let t = r.targets.iter().find(|t| t.device == sim.name)?;
            let (job, _, model) = started.iter().find(|(_, id, _)| id == &r.id)?;
            Some((job.name, model.clone(), t))
        });
        let (job, model, via, artifact, result) = match found {
            Some((job, model, t)) => {
                outcome.matched += 1;
                match t.state {
                    TargetState::Installed => outcome.deployed += 1,
                    TargetState::Failed | TargetState::RollbackFailed => outcome.failed += 1,
                    TargetState::RolledBack => outcome.rolled_back += 1,
                    TargetState::Cancelled => outcome.cancelled += 1,
                    _ => outcome.skipped += 1,
                }
                let result = if t.reason.is_empty() || t.state == TargetState::Installed {
                    t.state.as_str().to_owned()
                } else {
                    format!("{}: {}", t.state.as_str(), t.reason)
                };
                (
                    job.to_owned(),
                    model,
                    t.via.clone().unwrap_or_default(),
                    t.artifact
                        .as_deref()
                        .map_or(String::new(), |a| a[..a.len().min(12)].to_owned()),
                    result,
                )
            }
            None => {
                outcome.skipped += 1;
                (
                    "-".into(),
                    "-".into(),
                    String::new(),
                    String::new(),
                    format!(
                        "skipped: {}",
                        why_not
                            .get(&sim.name)
                            .map_or("no job's model runs on it", String::as_str)
                    ),
                )
            }
        };
        let fault = sim.fault.label();
        rows.push(vec![
            sim.name.clone(),
            sim.board.to_owned(),
            job,
            model,
            via,
            artifact,
            if fault.is_empty() {
                result
            } else {
                format!("{result} [injected: {fault}]")
            },
        ]);
    }
    let table = crate::render::table(
        &["device", "board", "job", "chosen model", "via", "artifact", "result"],
        &rows,
    );
    say(json, &table);
    say(
        json,
        &format!(
            "{} devices: {} matched a job, {} deployed, {} failed, {} skipped{}{} in {:.1} s",
            outcome.devices,
            outcome.matched,
            outcome.deployed,
            outcome.failed,
            outcome.skipped,
            if outcome.rolled_back > 0 {
                format!(", {} rolled back", outcome.rolled_back)
            } else {
                String::new()
            },
            if outcome.cancelled > 0 {
                format!(", {} cancelled", outcome.cancelled)
            } else {
                String::new()
            },
            outcome.seconds
        ),
    );
    outcome
}
