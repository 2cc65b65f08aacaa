//! `seam match`: the models ranked for a device or a board type, from the store or a service.

use std::io::Write as _;
use std::path::PathBuf;

use anyhow::Context as _;
use seam_registry::client::Service;
use seam_registry::matching::{self, MatchOptions, MatchReport};

use crate::failure::{runtime, Failure};

/// The arguments of `seam match`.
#[derive(clap::Args)]
pub(crate) struct MatchArgs {
    /// The device (its IRI, a prefixed name such as dev:line3-vibration-01, or its short name), or a
    /// board type (its IRI or catalog name, such as arduino-nano-33-ble-sense).
    #[arg(value_name = "DEVICE|BOARD")]
    device: String,
    /// Also list every rejected model with its reasons.
    #[arg(long)]
    explain: bool,
    /// Print the JSON report (stdout only).
    #[arg(long)]
    json: bool,
    /// Latency budget in milliseconds; models estimated slower are rejected.
    #[arg(long)]
    latency_budget: Option<f64>,
    /// RAM headroom over activations and runtime overhead, in percent.
    #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u64).range(0..=1000))]
    headroom: u64,
    /// Store directory.
    #[arg(long, default_value = "./seam-data", conflicts_with = "endpoint")]
    data: PathBuf,
    /// Where the graph is kept (default: the data folder).
    #[command(flatten)]
    store: super::StoreArgs,
    /// A running SEAM server (e.g. http://127.0.0.1:8080) instead of a store directory.
    #[arg(long)]
    endpoint: Option<String>,
}

/// Runs `seam match`.
pub(crate) fn run(args: MatchArgs) -> Result<(), Failure> {
    if args.latency_budget.is_some_and(|b| !(b.is_finite() && b > 0.0)) {
        return Err(Failure::Invalid(anyhow::anyhow!(
            "--latency-budget must be a positive number of milliseconds"
        )));
    }
    let opts = MatchOptions {
        headroom_pct: args.headroom,
        latency_budget_s: args.latency_budget.map(|ms| ms / 1e3),
    };
    let report: MatchReport = match &args.endpoint {
        Some(base) => {
            let service = Service::new(base, "").map_err(runtime)?;
            let runtime_ = super::client_runtime()?;
            runtime_
                .block_on(service.match_device(&args.device, &opts, args.explain))
                .map_err(runtime)?
        }
        None => {
            if args.store.store.is_none() && !args.data.exists() {
                return Err(Failure::Runtime(anyhow::anyhow!(
                    "no store at {} (start `seam serve` once, or pass --data / --store / --endpoint)",
                    args.data.display()
                )));
            }
            let registry = args.store.open(&args.data)?;
            let fleet = matching::load_fleet(&registry).map_err(runtime)?;
            let key = seam_registry::vocab::expand(&args.device);
            matching::match_device(&fleet, &key, &opts, args.explain).ok_or_else(|| {
                Failure::Invalid(anyhow::anyhow!(
                    "no device or board {} in the registry (give a device's IRI or short name, or a board's IRI or catalog name)",
                    args.device
                ))
            })?
        }
    };
    let mut out = std::io::stdout().lock();
    if args.json {
        serde_json::to_writer_pretty(&mut out, &report).context("cannot write JSON")?;
        writeln!(out).context("cannot write")?;
    } else {
        out.write_all(crate::render::match_report(&report).as_bytes())
            .context("cannot write")?;
    }
    Ok(())
}
