//! `seam deploy`: a model rolled out through a running service (compiled per board, delivered in
//! groups, followed to the end), or a ready package delivered as it is.

use std::io::IsTerminal as _;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Context as _;
use seam_registry::client::Service;

use crate::failure::{client_failure, runtime, Failure};

/// The arguments of `seam deploy`.
#[derive(clap::Args)]
#[command(group(clap::ArgGroup::new("selection").required(true).args(["to", "select", "compatible"])))]
pub(crate) struct DeployArgs {
    /// What to deploy. A model: its IRI or name in the graph, or an ONNX/TFLite file (registered
    /// first) — rolled out: compiled per board and runtime, delivered in groups, followed to the
    /// end. Or a ready package: a `.seampkg` from `seam compile` (verified before it is sent) or
    /// any file a device's Object 9 or 5 installs — delivered as it is.
    what: String,
    /// Devices (short names = LwM2M endpoint names, or IRIs).
    #[arg(long = "to", num_args = 1..)]
    to: Vec<String>,
    /// A SPARQL SELECT whose first column names the devices (IRIs or short names).
    #[arg(long = "where", value_name = "QUERY")]
    select: Option<String>,
    /// Every device the model is compatible with (a model only).
    #[arg(long)]
    compatible: bool,
    /// The first group (canary) as a percentage of the devices; the next starts when it succeeds.
    #[arg(long, value_name = "PCT")]
    canary: Option<f64>,
    /// The first group as a number of devices (a model only).
    #[arg(long, value_name = "N", conflicts_with = "canary")]
    canary_size: Option<usize>,
    /// Devices per group after the canary (a model only; default: the rest at once).
    #[arg(long, value_name = "N")]
    wave_size: Option<usize>,
    /// Halt when a group's failures pass this percentage of it (a model only; default 20).
    #[arg(long, value_name = "PCT")]
    error_threshold: Option<f64>,
    /// Start the next group when this percentage of a group installed (a model only; default 100).
    #[arg(long, value_name = "PCT")]
    success_threshold: Option<f64>,
    /// Deliveries in flight at once (a model only; default 16).
    #[arg(long, value_name = "N")]
    concurrency: Option<usize>,
    /// On a halt, leave the devices with the new model instead of returning them to what they ran.
    #[arg(long)]
    no_rollback: bool,
    /// How long a device offline at its turn is waited for, seconds (a model only; default 600).
    #[arg(long, value_name = "S")]
    offline_deadline: Option<u64>,
    /// The task of a model file registered first (a catalog name such as keyword-spotting, or an IRI).
    #[arg(long, value_name = "TASK")]
    task: Option<String>,
    /// A sensor kind the model file's input comes from (repeatable).
    #[arg(long, value_name = "KIND")]
    input_sensor: Vec<String>,
    /// The model file's top-1 accuracy (a fraction or a percentage).
    #[arg(long, value_name = "ACC")]
    accuracy: Option<f64>,
    /// Start the rollout and print its id without following it.
    #[arg(long)]
    detach: bool,
    /// Write the package into the device (Block1) instead of letting it pull the Package URI.
    #[arg(long)]
    push: bool,
    /// The running SEAM service.
    #[arg(long, default_value = "http://127.0.0.1:8080")]
    endpoint: String,
    /// Bearer token of the service.
    #[arg(long, env = "SEAM_TOKEN", hide_env_values = true)]
    token: Option<String>,
    /// Print the JSON report (stdout only).
    #[arg(long)]
    json: bool,
}

/// What the first argument names.
enum Target {
    /// A model file to register, then roll out.
    ModelFile(PathBuf),
    /// A model in the graph.
    Model(String),
    /// A ready package.
    Package(PathBuf),
}

fn classify(what: &str) -> Target {
    let path = Path::new(what);
    if path.is_file() {
        if seam_registry::models::model_format(path).is_some() {
            Target::ModelFile(path.to_owned())
        } else {
            Target::Package(path.to_owned())
        }
    } else if path
        .extension()
        .is_some_and(|e| e == seam_registry::bridge::package::EXTENSION)
    {
        // A package path that does not exist: say so, rather than look for a model of that name.
        Target::Package(path.to_owned())
    } else {
        Target::Model(what.to_owned())
    }
}

/// Runs `seam deploy`.
pub(crate) fn run(args: DeployArgs) -> Result<(), Failure> {
    if let Some(pct) = args.canary {
        if !(pct > 0.0 && pct < 100.0) {
            return Err(Failure::Invalid(anyhow::anyhow!(
                "--canary must be a percentage between 0 and 100"
            )));
        }
    }
    let service = Service::new(&args.endpoint, args.token.as_deref().unwrap_or_default()).map_err(runtime)?;
    let runtime_ = super::client_runtime()?;
    match classify(&args.what) {
        Target::Package(path) => deliver_package(&args, &path, &service, &runtime_),
        Target::ModelFile(path) => {
            let bytes = std::fs::read(&path).with_context(|| format!("cannot read {}", path.display()))?;
            let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("model");
            let mut facts: Vec<(&str, String)> = Vec::new();
            let task = args.task.clone().ok_or_else(|| {
                Failure::Invalid(anyhow::anyhow!(
                    "a model file is registered before it is rolled out: give its --task (e.g. keyword-spotting)"
                ))
            })?;
            facts.push(("task", task));
            if let Some(a) = args.accuracy {
                facts.push(("accuracy", a.to_string()));
            }
            facts.extend(args.input_sensor.iter().map(|k| ("input-sensor", k.clone())));
            let model = runtime_
                .block_on(service.register_model(name, bytes, &facts))
                .map_err(client_failure)?;
            eprintln!("registered {} as {model}", path.display());
            roll_out(&args, &model, &service, &runtime_)
        }
        Target::Model(model) => roll_out(&args, &model, &service, &runtime_),
    }
}

/// The body of `POST /rollouts` from the arguments.
fn rollout_body(args: &DeployArgs, model: &str) -> serde_json::Value {
    let mut map = serde_json::Map::new();
    map.insert("model".into(), model.into());
    if !args.to.is_empty() {
        map.insert("devices".into(), serde_json::json!(args.to));
    }
    if let Some(q) = &args.select {
        map.insert("where".into(), q.clone().into());
    }
    if args.compatible {
        map.insert("compatible".into(), true.into());
    }
    for (key, value) in [
        ("canaryPct", args.canary.map(serde_json::Value::from)),
        ("canarySize", args.canary_size.map(serde_json::Value::from)),
        ("waveSize", args.wave_size.map(serde_json::Value::from)),
        ("errorThresholdPct", args.error_threshold.map(serde_json::Value::from)),
        (
            "successThresholdPct",
            args.success_threshold.map(serde_json::Value::from),
        ),
        ("concurrency", args.concurrency.map(serde_json::Value::from)),
        ("offlineDeadlineS", args.offline_deadline.map(serde_json::Value::from)),
    ] {
        if let Some(v) = value {
            map.insert(key.into(), v);
        }
    }
    if args.no_rollback {
        map.insert("rollback".into(), false.into());
    }
    if args.push {
        map.insert("method".into(), "push".into());
    }
    serde_json::Value::Object(map)
}

fn roll_out(args: &DeployArgs, model: &str, service: &Service, rt: &tokio::runtime::Runtime) -> Result<(), Failure> {
    let started = rt
        .block_on(service.start_rollout(&rollout_body(args, model)))
        .map_err(client_failure)?;
    let id = started["id"].as_str().unwrap_or_default().to_owned();
    let counts = super::rollouts::state_line(&started["summary"]);
    eprintln!(
        "rollout {id} started: {} devices ({counts}), {} group(s)",
        started["devices"],
        started["groups"].as_array().map_or(0, Vec::len)
    );
    if args.detach {
        if args.json {
            println!("{started}");
        } else {
            println!("{id}");
        }
        return Ok(());
    }
    let finished = follow(service, rt, &id, &started)?;
    if args.json {
        println!("{finished}");
    } else {
        super::rollouts::print_targets(&finished);
    }
    super::rollouts::outcome(&finished)
}

/// Follows a rollout to its end: a progress bar on a terminal, a line per change otherwise.
fn follow(
    service: &Service,
    rt: &tokio::runtime::Runtime,
    id: &str,
    started: &serde_json::Value,
) -> Result<serde_json::Value, Failure> {
    let deliverable = started["targets"]
        .as_array()
        .map_or(0, |t| t.iter().filter(|t| !t["group"].is_null()).count());
    let bar = std::io::stderr().is_terminal().then(|| {
        let bar = indicatif::ProgressBar::new(deliverable as u64);
        bar.set_style(
            indicatif::ProgressStyle::with_template("{spinner} [{bar:30}] {pos}/{len} {msg}")
                .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar())
                .progress_chars("=> "),
        );
        bar.enable_steady_tick(Duration::from_millis(200));
        bar
    });
    let mut last = String::new();
    loop {
        let now = rt.block_on(service.rollout(Some(id))).map_err(client_failure)?;
        let state = now["state"].as_str().unwrap_or("").to_owned();
        let line = format!(
            "{state}: {}{}",
            super::rollouts::state_line(&now["summary"]),
            super::rollouts::group_line(&now["groups"])
        );
        match &bar {
            Some(bar) => {
                bar.set_position(super::rollouts::settled(&now["targets"]) as u64);
                bar.set_message(line.clone());
            }
            None if line != last => eprintln!("{line}"),
            None => {}
        }
        last = line;
        if !["building", "running", "paused"].contains(&state.as_str()) {
            if let Some(bar) = bar {
                bar.finish_with_message(last);
            }
            return Ok(now);
        }
        std::thread::sleep(Duration::from_millis(300));
    }
}

fn deliver_package(
    args: &DeployArgs,
    path: &Path,
    service: &Service,
    rt: &tokio::runtime::Runtime,
) -> Result<(), Failure> {
    if args.compatible {
        return Err(Failure::Invalid(anyhow::anyhow!(
            "--compatible needs a model (a package is already built for one target): name the devices with --to or --where"
        )));
    }
    let bytes = std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
    // A SEAM package is checked before it leaves: a broken signature or digest is not shipped to
    // a fleet only for every device to refuse it. Other files (firmware images) go as they are.
    if path
        .extension()
        .is_some_and(|e| e == seam_registry::bridge::package::EXTENSION)
    {
        let package = seam_registry::bridge::package::verify(&bytes, None).map_err(runtime)?;
        tracing::info!(
            model = %package.manifest.model.name,
            backend = %package.manifest.backend.name,
            signer = %package.manifest.signer.public_key,
            "package signature and digests verified"
        );
    }
    let devices = match &args.select {
        None => args.to.clone(),
        Some(query) => rt.block_on(service.devices_where(query)).map_err(runtime)?,
    };
    if devices.is_empty() {
        return Err(Failure::Invalid(anyhow::anyhow!(
            "the --where query selected no devices"
        )));
    }
    let delivered = rt
        .block_on(service.deliver(bytes, &devices, args.canary, args.push, |line| eprintln!("{line}")))
        .map_err(runtime)?;
    if args.json {
        println!(
            "{}",
            serde_json::to_value(&delivered).context("cannot serialise the report")?
        );
    } else {
        for result in &delivered.results {
            let device = result["device"].as_str().unwrap_or("?");
            if result["installed"].as_bool() == Some(true) {
                println!("{device}: installed (object {})", result["object"]);
            } else {
                println!("{device}: FAILED: {}", result["detail"].as_str().unwrap_or(""));
            }
        }
    }
    if delivered.stopped_after_canary {
        return Err(Failure::Runtime(anyhow::anyhow!(
            "the canary wave failed on {} of {} devices; the other {} were not touched",
            delivered.failed,
            delivered.results.len(),
            delivered.skipped
        )));
    }
    if delivered.failed > 0 {
        return Err(Failure::Runtime(anyhow::anyhow!(
            "{} of {} deliveries failed",
            delivered.failed,
            devices.len()
        )));
    }
    Ok(())
}
