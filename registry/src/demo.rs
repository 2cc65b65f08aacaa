//! The demo's story as a use case: three jobs, a fleet of simulated LwM2M devices of mixed
//! boards with injected faults, real model files registered, and for each job the registered
//! model that runs on most of its devices. `seam demo` prints it; `seam-bench rollout` reuses the
//! wait for devices to describe themselves.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::Path;
use std::time::{Duration, Instant};

use seam_lwm2m::client::{boards, ClientConfig, Lwm2mClient};
use seam_lwm2m::coap::TransmissionParams;

use crate::data_dir::DataDir;
use crate::graph::Registry;
use crate::matching::FleetIndex;
use crate::rollout::{RolloutSpec, Selection};

/// Why the demo could not go on.
#[derive(Debug, thiserror::Error)]
pub enum DemoError {
    /// A model file could not be measured or registered.
    #[error(transparent)]
    Model(#[from] crate::models::ModelError),
    /// A SeLoC-ML model file could not be read.
    #[error("cannot read {path}: {source}")]
    Read {
        /// The file.
        path: String,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// A simulated device could not start or register.
    #[error(transparent)]
    Lwm2m(#[from] seam_lwm2m::Lwm2mError),
    /// Matching a model against the fleet failed.
    #[error(transparent)]
    Rollout(#[from] crate::rollout::RolloutError),
    /// The graph could not be read.
    #[error(transparent)]
    Query(#[from] crate::error::QueryError),
    /// Devices did not describe themselves in time.
    #[error("only {described} of {expected} devices described themselves within {} s", .within.as_secs())]
    NotDescribed {
        /// How many did.
        described: usize,
        /// How many should have.
        expected: usize,
        /// How long they had.
        within: Duration,
    },
    /// A background task failed.
    #[error("a task failed: {0}")]
    Task(String),
}

fn task_error(e: tokio::task::JoinError) -> DemoError {
    DemoError::Task(e.to_string())
}

/// A job: a task, the sensor its input comes from, and the models registered for it.
#[derive(Debug)]
pub struct Job {
    /// What people call it.
    pub name: &'static str,
    /// Its task in the catalog.
    pub task: &'static str,
    /// The sensor kind its input comes from.
    pub sensor: &'static str,
}

/// Keyword spotting, on a microphone.
pub const KWS: Job = Job {
    name: "keyword spotting",
    task: "keyword-spotting",
    sensor: "microphone",
};
/// Person detection (visual wake words), on a camera.
pub const PERSON: Job = Job {
    name: "person detection",
    task: "visual-wake-words",
    sensor: "camera",
};
/// Anomaly detection on a machine's sound, on a microphone.
pub const ANOMALY: Job = Job {
    name: "anomaly detection",
    task: "anomaly-detection",
    sensor: "microphone",
};
/// Every job, in the order the demo rolls them out.
pub const JOBS: [&Job; 3] = [&KWS, &PERSON, &ANOMALY];

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
pub const LOSS: f64 = 0.02;

/// What a simulated device does wrong.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// Behaves.
    None,
    /// Drops [`LOSS`] of its datagrams both ways.
    Lossy,
    /// Fails every installation.
    RefusesInstalls,
}

impl Fault {
    /// The fault, for a person (empty when there is none).
    pub fn label(self) -> &'static str {
        match self {
            Fault::None => "",
            Fault::Lossy => "2% loss",
            Fault::RefusesInstalls => "refuses installs",
        }
    }
}

/// One simulated device, running as long as this value lives.
pub struct SimDevice {
    /// Its endpoint name.
    pub name: String,
    /// Its board (the simulator's name for it).
    pub board: &'static str,
    /// The jobs it is wanted for, first choice first.
    pub jobs: &'static [&'static Job],
    /// What it does wrong.
    pub fault: Fault,
    _client: Lwm2mClient,
}

/// A registered model.
#[derive(Debug, Clone)]
pub struct DemoModel {
    /// Its IRI.
    pub iri: String,
    /// Its name.
    pub name: String,
    /// Its job's task.
    pub task: &'static str,
    /// Parameters, measured.
    pub params: u64,
    /// MACs of one inference, measured.
    pub macs: u64,
}

/// Registers the demo's models in one load: the MLPerf Tiny architectures the bridge builds
/// (with generated weights: measured and shipped for real; what they would score after training
/// is not claimed) and, given SeLoC-ML's `models/` folder, its keyword-spotting and person
/// detection TFLite models.
pub async fn register_models(
    registry: &Registry,
    data: &DataDir,
    seloc: Option<&Path>,
) -> Result<Vec<DemoModel>, DemoError> {
    use crate::ingest::onnx::ModelFacts;
    use crate::models::ModelFile;
    use seam_compiler_bridge::onnx_build;

    let facts = |job: &Job| ModelFacts {
        task: Some(job.task.to_owned()),
        input_sensors: vec![job.sensor.to_owned()],
        ..ModelFacts::default()
    };
    let mut files: Vec<(ModelFile, String, &'static str)> = Vec::new();
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
            let bytes = std::fs::read(&path).map_err(|source| DemoError::Read {
                path: path.display().to_string(),
                source,
            })?;
            let name = file.trim_end_matches(".tflite");
            files.push((
                ModelFile::from_bytes(name, bytes, &facts(job))?,
                name.to_owned(),
                job.task,
            ));
        }
    }
    let listed: Vec<DemoModel> = files
        .iter()
        .map(|(m, name, task)| DemoModel {
            iri: m.iri(),
            name: name.clone(),
            task,
            params: m.analysis.params,
            macs: m.analysis.macs,
        })
        .collect();
    let models: Vec<ModelFile> = files.into_iter().map(|(m, _, _)| m).collect();
    let (registry, data) = (registry.clone(), data.clone());
    tokio::task::spawn_blocking(move || crate::models::register(&registry, &data, &models, Vec::new()))
        .await
        .map_err(task_error)??;
    Ok(listed)
}

/// Starts `n` simulated devices of [`PATTERN`] against the LwM2M server at `coap`, registered.
pub async fn start_devices(coap: SocketAddr, n: usize) -> Result<Vec<SimDevice>, DemoError> {
    let mut sims = Vec::with_capacity(n);
    for i in 0..n {
        let (board, short, attached, jobs, fault) = PATTERN[i % PATTERN.len()];
        let Some(roster) = boards::board(board) else {
            return Err(DemoError::Task(format!(
                "the board {board} of the pattern is not in the roster"
            )));
        };
        let mut profile = roster.profile(i);
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
        sims.push(SimDevice {
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
        task.await.map_err(task_error)??;
    }
    Ok(sims)
}

/// Waits until `n` devices that registered over LwM2M have described themselves (their Object 3
/// read: a board, or the unknown-board flag), for at most `within`. The catalog's own devices
/// never report a model number, so only registered ones count.
pub async fn wait_described(registry: &Registry, n: usize, within: Duration) -> Result<(), DemoError> {
    let deadline = Instant::now() + within;
    let query = "SELECT DISTINCT ?d WHERE { ?d seam:lwm2mEndpoint ?e ; seam:reportedModelNumber ?m }";
    loop {
        let r = registry.clone();
        let described = tokio::task::spawn_blocking(move || r.query(query, &Default::default()))
            .await
            .map_err(task_error)??
            .len();
        if described >= n {
            return Ok(());
        }
        if Instant::now() >= deadline {
            return Err(DemoError::NotDescribed {
                described,
                expected: n,
                within,
            });
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// What the demo rolls out for one job.
#[derive(Debug, Clone)]
pub struct JobPlan {
    /// The job.
    pub job: &'static Job,
    /// The model chosen (IRI, name): the one that runs on most of the job's devices, then the
    /// cheaper one (MACs); `None` when no device can run any of its models.
    pub model: Option<(String, String)>,
    /// The devices that want the job and can run the model.
    pub targets: Vec<String>,
}

impl JobPlan {
    /// The rollout the demo starts for the job: a 10% canary, halted above 50% failures, devices
    /// waited for a minute.
    pub fn spec(&self) -> Option<RolloutSpec> {
        let (iri, _) = self.model.as_ref()?;
        let mut spec = RolloutSpec::new(iri, Selection::Devices(self.targets.clone()));
        spec.canary_pct = Some(10.0);
        spec.error_threshold_pct = 50.0;
        spec.offline_deadline_s = 60;
        Some(spec)
    }
}

/// Every job's plan, and why each device no job takes is left out.
#[derive(Debug, Clone)]
pub struct Plans {
    /// One per job, in [`JOBS`] order.
    pub jobs: Vec<JobPlan>,
    /// Device → matching's reasons for the model of the job it wanted first.
    pub left_out: BTreeMap<String, String>,
}

/// Gives each device the first job it wants whose models one runs there (the verdict a rollout
/// would reach), and each job the model that runs on most of its devices.
pub async fn plan_jobs(
    registry: &Registry,
    fleet: &FleetIndex,
    data: &DataDir,
    sims: &[SimDevice],
    models: &[DemoModel],
) -> Result<Plans, DemoError> {
    let mut compatible: BTreeMap<String, BTreeMap<String, &'static str>> = BTreeMap::new();
    for model in models {
        let (registry, fleet, data, iri) = (registry.clone(), fleet.clone(), data.clone(), model.iri.clone());
        let devices =
            tokio::task::spawn_blocking(move || crate::rollout::compatible_devices(&registry, &fleet, &data, &iri, 10))
                .await
                .map_err(task_error)??;
        compatible.insert(model.iri.clone(), devices);
    }
    let runs = |model: &DemoModel, device: &str| compatible.get(&model.iri).is_some_and(|d| d.contains_key(device));
    let mut assigned: BTreeMap<&str, Vec<&SimDevice>> = BTreeMap::new();
    for sim in sims {
        let job = sim
            .jobs
            .iter()
            .find(|job| models.iter().filter(|m| m.task == job.task).any(|m| runs(m, &sim.name)));
        if let Some(job) = job {
            assigned.entry(job.name).or_default().push(sim);
        }
    }
    let mut jobs = Vec::new();
    for job in JOBS {
        let devices = assigned.get(job.name).cloned().unwrap_or_default();
        let best = (!devices.is_empty())
            .then(|| {
                models.iter().filter(|m| m.task == job.task).max_by_key(|m| {
                    let n = devices.iter().filter(|d| runs(m, &d.name)).count();
                    (n, std::cmp::Reverse(m.macs), std::cmp::Reverse(m.name.clone()))
                })
            })
            .flatten();
        let targets = best.map_or_else(Vec::new, |m| {
            devices
                .iter()
                .filter(|d| runs(m, &d.name))
                .map(|d| d.name.clone())
                .collect()
        });
        jobs.push(JobPlan {
            job,
            model: best.map(|m| (m.iri.clone(), m.name.clone())),
            targets,
        });
    }
    // Why the devices no job took: matching's reasons for the model of the job they want first.
    let facts = fleet.fleet()?;
    let mut left_out = BTreeMap::new();
    for sim in sims {
        if assigned.values().flatten().any(|d| d.name == sim.name) {
            continue;
        }
        let job = sim.jobs[0];
        let chosen = jobs
            .iter()
            .find(|p| p.job.task == job.task)
            .and_then(|p| p.model.as_ref())
            .and_then(|(iri, _)| models.iter().find(|m| &m.iri == iri));
        let model = chosen.or_else(|| models.iter().find(|m| m.task == job.task));
        let reason = model.and_then(|m| {
            let report = crate::matching::match_device(&facts, &sim.name, &Default::default(), true)?;
            let rejected = report.rejected?.into_iter().find(|r| r.model == m.iri)?;
            let reasons: Vec<String> = rejected.reasons.into_iter().map(|r| r.message).collect();
            Some(format!("{} ({}): {}", job.name, m.name, reasons.join(" ")))
        });
        left_out.insert(
            sim.name.clone(),
            reason.unwrap_or_else(|| "no job's model runs on it".to_owned()),
        );
    }
    Ok(Plans { jobs, left_out })
}
