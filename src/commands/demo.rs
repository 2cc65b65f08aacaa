//! `seam demo`: the whole story in one process, told as it happens. The service on an embedded
//! store (or on a SPARQL store with `--store`), then the story of `seam_registry::demo` (models, simulated devices, each job's model),
//! the rollouts followed, and a summary (a table, or JSON).

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use seam_registry::app::{Application, Settings};
use seam_registry::demo::{self, Job, SimDevice};
use seam_registry::http::ServiceConfig;
use seam_registry::lwm2m::coap::TransmissionParams;
use seam_registry::rollout::{Rollout, RolloutState, Rollouts, TargetState};

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
    /// The graph on a SPARQL store instead of the data folder's embedded one.
    #[command(flatten)]
    store: super::StoreArgs,
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
    let remote = args.store.remote()?;
    let (registry, scratch) = runtime.block_on(demo(args, remote)).map_err(Failure::Runtime)?;
    runtime.shutdown_timeout(seam_registry::app::SHUTDOWN_GRACE);
    // The store closes here, before the process exits, whoever held it last; then its folder goes.
    registry.close(seam_registry::app::SHUTDOWN_GRACE);
    drop(scratch);
    Ok(())
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

async fn demo(
    args: DemoArgs,
    remote: Option<seam_registry::store::RemoteConfig>,
) -> anyhow::Result<(seam_registry::Registry, Option<tempfile::TempDir>)> {
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
    let on = match &remote {
        Some(config) => format!("the store at {} (files in {})", config.query_url, data.display()),
        None => format!("an embedded store in {}", data.display()),
    };
    let settings = Settings {
        coaps: None,
        allowed_services: Vec::new(),
        replica_max_quads: seam_registry::app::DEFAULT_REPLICA_MAX_QUADS,
        data: Some(data.clone()),
        store: remote,
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
        &format!("SEAM is up on {on}: http://{http} (token {token}), LwM2M on coap://{coap}"),
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
    let models = demo::register_models(&registry, &data_dir, args.seloc_models.as_deref()).await?;
    for m in &models {
        say(
            json,
            &format!(
                "registered {} ({}): {} parameters, {} MACs, measured from its file",
                m.name, m.task, m.params, m.macs
            ),
        );
    }

    // 2. Devices.
    let sims = demo::start_devices(coap, usize::from(args.devices)).await?;
    say(
        json,
        &format!(
            "{} simulated devices registering over LwM2M (a pattern of ten: Arduino Nano 33 BLE Sense, \
             B-L475E-IOT01A, Spresense, MAX78000FTHR, nRF52840-DK, ESP32-S3, an unknown board; one in ten losing 2% \
             of its datagrams, one in ten refusing installs)",
            sims.len()
        ),
    );
    demo::wait_described(&registry, sims.len(), Duration::from_secs(120)).await?;
    say(
        json,
        "every device registered and described itself (Object 3: board, memory)",
    );

    // 3. Per job, the best model, rolled out to the devices that want it and can run it.
    let plans = demo::plan_jobs(&registry, &fleet, &data_dir, &sims, &models).await?;
    let mut started_rollouts: Vec<(&'static Job, String, String)> = Vec::new();
    for plan in &plans.jobs {
        let (Some(spec), Some((_, name))) = (plan.spec(), &plan.model) else {
            say(json, &format!("{}: no device can run any of its models", plan.job.name));
            continue;
        };
        let rollout = rollouts.begin(spec).await?;
        say(
            json,
            &format!(
                "{}: rolling out {name} to {} devices (canary first, halt above 50% failures), rollout {}",
                plan.job.name,
                plan.targets.len(),
                rollout.id
            ),
        );
        started_rollouts.push((plan.job, rollout.id, name.clone()));
    }

    // 4. Follow them.
    let finished = follow(&rollouts, &started_rollouts, json).await;

    // 5. The summary.
    let outcome = summarise(
        &sims,
        &started_rollouts,
        &finished,
        &plans.left_out,
        json,
        started.elapsed(),
    );
    say(
        json,
        &format!(
            "open http://{http}/#token={token} (the web page: the fleet, why each model runs or not, the rollouts live), \
             http://{http}/graphql (GraphiQL), http://{http}/queries/running-models"
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
    // The scratch folder goes once the store in it is closed (by the caller).
    Ok((registry, scratch))
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
    sims: &[SimDevice],
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
