//! `seam deploy`: a package delivered to devices through a running service, in waves.

use std::path::PathBuf;

use anyhow::Context as _;
use seam_registry::client::Service;

use crate::failure::{runtime, Failure};

/// The arguments of `seam deploy`.
#[derive(clap::Args)]
pub(crate) struct DeployArgs {
    /// The package: a SEAM package from `seam compile` (`.seampkg`, verified before it is sent), or
    /// any file a device's Object 9 or 5 installs.
    package: PathBuf,
    /// Devices (short names = LwM2M endpoint names) to deliver to.
    #[arg(long = "to", num_args = 1.., required_unless_present = "select", conflicts_with = "select")]
    to: Vec<String>,
    /// A SPARQL SELECT whose first column names the devices (IRIs or short names), asked of the service.
    #[arg(long = "where", value_name = "QUERY")]
    select: Option<String>,
    /// Deliver to this percentage of the devices first, and to the rest only if all of those installed.
    #[arg(long, value_name = "PCT")]
    canary: Option<f64>,
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

/// Runs `seam deploy`.
pub(crate) fn run(args: DeployArgs) -> Result<(), Failure> {
    if let Some(pct) = args.canary {
        if !(pct > 0.0 && pct < 100.0) {
            return Err(Failure::Invalid(anyhow::anyhow!(
                "--canary must be a percentage between 0 and 100"
            )));
        }
    }
    let bytes = std::fs::read(&args.package).with_context(|| format!("cannot read {}", args.package.display()))?;
    // A SEAM package is checked before it leaves: a broken signature or digest is not shipped to
    // a fleet only for every device to refuse it. Other files (firmware images) go as they are.
    if args
        .package
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
    let service = Service::new(&args.endpoint, args.token.as_deref().unwrap_or_default()).map_err(runtime)?;
    let runtime_ = super::client_runtime()?;
    let devices = match &args.select {
        None => args.to.clone(),
        Some(query) => runtime_.block_on(service.devices_where(query)).map_err(runtime)?,
    };
    if devices.is_empty() {
        return Err(Failure::Invalid(anyhow::anyhow!(
            "the --where query selected no devices"
        )));
    }
    let delivered = runtime_
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
