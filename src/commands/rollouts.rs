//! `seam rollouts [ID]`: the rollouts of a running service, one in detail, and steering one
//! (pause, resume, cancel, retry the failed). Also the rendering `seam deploy MODEL` shares.

use anyhow::Context as _;
use seam_registry::client::Service;
use serde_json::Value;

use crate::failure::{client_failure, runtime, Failure};

/// The arguments of `seam rollouts`.
#[derive(clap::Args)]
pub(crate) struct RolloutsArgs {
    /// A rollout's id: show it device by device (without: list every rollout).
    id: Option<String>,
    /// Pause it: deliveries in flight finish, none start.
    #[arg(long, requires = "id", group = "action")]
    pause: bool,
    /// Resume it.
    #[arg(long, requires = "id", group = "action")]
    resume: bool,
    /// Cancel it: devices not yet started are never touched.
    #[arg(long, requires = "id", group = "action")]
    cancel: bool,
    /// Give its failed devices another turn.
    #[arg(long, requires = "id", group = "action")]
    retry_failed: bool,
    /// The running SEAM service.
    #[arg(long, default_value = "http://127.0.0.1:8080")]
    endpoint: String,
    /// Bearer token of the service (to steer a rollout).
    #[arg(long, env = "SEAM_TOKEN", hide_env_values = true)]
    token: Option<String>,
    /// Print the service's JSON.
    #[arg(long)]
    json: bool,
}

/// Runs `seam rollouts`.
pub(crate) fn run(args: RolloutsArgs) -> Result<(), Failure> {
    let service = Service::new(&args.endpoint, args.token.as_deref().unwrap_or_default()).map_err(runtime)?;
    let rt = super::client_runtime()?;
    let action = [
        (args.pause, "pause"),
        (args.resume, "resume"),
        (args.cancel, "cancel"),
        (args.retry_failed, "retry-failed"),
    ]
    .into_iter()
    .find_map(|(on, name)| on.then_some(name));
    let answer = match (&args.id, action) {
        (Some(id), Some(action)) => rt.block_on(service.steer_rollout(id, action)).map_err(client_failure)?,
        (id, _) => rt.block_on(service.rollout(id.as_deref())).map_err(client_failure)?,
    };
    if args.json {
        println!("{answer}");
        return Ok(());
    }
    match &args.id {
        Some(_) => {
            println!(
                "rollout {} of {}: {} — {}",
                answer["id"].as_str().unwrap_or(""),
                answer["modelName"].as_str().unwrap_or(""),
                answer["state"].as_str().unwrap_or(""),
                state_line(&answer["summary"])
            );
            if let Some(reason) = answer["reason"].as_str().filter(|r| !r.is_empty()) {
                println!("  {reason}");
            }
            print_targets(&answer);
        }
        None => {
            let rows: Vec<Vec<String>> = answer["rollouts"]
                .as_array()
                .context("the service's list of rollouts is malformed")?
                .iter()
                .map(|r| {
                    vec![
                        text(&r["id"]),
                        text(&r["modelName"]),
                        text(&r["state"]),
                        r["devices"].to_string(),
                        state_line(&r["summary"]),
                        text(&r["started"]),
                    ]
                })
                .collect();
            println!(
                "{}",
                crate::render::table(
                    &["rollout", "model", "state", "devices", "devices by state", "started"],
                    &rows
                )
            );
        }
    }
    Ok(())
}

fn text(v: &Value) -> String {
    v.as_str().map_or_else(|| v.to_string(), str::to_owned)
}

/// `3 installed, 1 failed, 10 pending` from a rollout's summary.
pub(crate) fn state_line(summary: &Value) -> String {
    summary
        .as_object()
        .map(|m| {
            m.iter()
                .map(|(state, n)| format!("{n} {state}"))
                .collect::<Vec<_>>()
                .join(", ")
        })
        .unwrap_or_default()
}

/// ` · group 2 of 3` — the first group with devices not yet settled.
pub(crate) fn group_line(groups: &Value) -> String {
    let Some(groups) = groups.as_array() else {
        return String::new();
    };
    let busy = groups.iter().position(|g| {
        g["byState"].as_object().is_some_and(|m| {
            m.keys()
                .any(|s| ["pending", "waiting", "delivering", "verifying", "rolling-back"].contains(&s.as_str()))
        })
    });
    match busy {
        Some(at) if groups.len() > 1 => format!(" · group {} of {}", at + 1, groups.len()),
        _ => String::new(),
    }
}

/// Devices in a final state.
pub(crate) fn settled(targets: &Value) -> usize {
    targets.as_array().map_or(0, |t| {
        t.iter()
            .filter(|t| !t["group"].is_null())
            .filter(|t| {
                ["installed", "failed", "cancelled", "rolled-back", "rollback-failed"]
                    .contains(&t["state"].as_str().unwrap_or(""))
            })
            .count()
    })
}

/// The devices of a rollout as a table: device, group, state, board, via, why.
pub(crate) fn print_targets(rollout: &Value) {
    let rows: Vec<Vec<String>> = rollout["targets"]
        .as_array()
        .map(|targets| {
            targets
                .iter()
                .map(|t| {
                    let short = |v: &Value| {
                        v.as_str()
                            .map(|s| s.rsplit(['/', '#']).next().unwrap_or(s).to_owned())
                            .unwrap_or_default()
                    };
                    vec![
                        text(&t["device"]),
                        t["group"].as_u64().map_or("-".into(), |g| g.to_string()),
                        text(&t["state"]),
                        short(&t["board"]),
                        t["via"].as_str().unwrap_or("").to_owned(),
                        t["artifact"]
                            .as_str()
                            .map_or(String::new(), |a| a[..a.len().min(12)].to_owned()),
                        t["reason"].as_str().unwrap_or("").to_owned(),
                    ]
                })
                .collect()
        })
        .unwrap_or_default();
    println!(
        "{}",
        crate::render::table(&["device", "group", "state", "board", "via", "artifact", "why"], &rows)
    );
}

/// A finished rollout as an exit: completed without failures is success; a halt or failed
/// devices are a runtime failure that says how many.
pub(crate) fn outcome(rollout: &Value) -> Result<(), Failure> {
    let state = rollout["state"].as_str().unwrap_or("");
    let failed = rollout["summary"]["failed"].as_u64().unwrap_or(0)
        + rollout["summary"]["rollback-failed"].as_u64().unwrap_or(0);
    match state {
        "completed" if failed == 0 => Ok(()),
        "completed" => Err(Failure::Runtime(anyhow::anyhow!(
            "the rollout completed with {failed} failed device(s)"
        ))),
        other => Err(Failure::Runtime(anyhow::anyhow!(
            "the rollout ended {other}: {}",
            rollout["reason"].as_str().unwrap_or("")
        ))),
    }
}
