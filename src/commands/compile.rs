//! `seam compile`: measure, transform, compile, validate, sign and cache a model; with a target,
//! the backend comes from the graph and the result is judged against the device.

use std::io::Write as _;
use std::path::PathBuf;

use anyhow::Context as _;
use seam_registry::bridge::backend::ArtifactFile;
use seam_registry::bridge::compile::safe_stem;
use seam_registry::bridge::validate::Thresholds;
use seam_registry::packaging::{self, CompileError, CompileOrder, Packager, PlanError};
use serde_json::Value;

use seam_registry::client::{ClientError, Service};
use seam_registry::data_dir::DataDir;
use seam_registry::matching::FleetIndex;

use crate::failure::Failure;

/// The arguments of `seam compile`.
#[derive(clap::Args)]
pub(crate) struct CompileArgs {
    /// The model file (ONNX, or TFLite for the backends that embed it).
    #[arg(required_unless_present = "list_backends")]
    model: Option<PathBuf>,
    /// The device to build for (IRI or short name): the backend comes from the runtime the graph
    /// matches it with, and the result is judged against the device's free memory.
    #[arg(long)]
    target: Option<String>,
    /// The backend (see --list-backends); required without --target, overrides the graph's choice
    /// with it.
    #[arg(long)]
    backend: Option<String>,
    /// Quantise the weights first (int8 is the only scheme).
    #[arg(long, value_parser = ["int8"])]
    quantize: Option<String>,
    /// Zero this fraction (0 to 1) of every weight tensor, smallest magnitudes first; the
    /// validation thresholds still apply.
    #[arg(long, value_name = "SPARSITY")]
    prune: Option<f64>,
    /// Where the package, its files and its manifest go.
    #[arg(long, default_value = "./seam-out")]
    out: PathBuf,
    /// The registry's data folder (graph, signing key, package cache).
    #[arg(long, default_value = "./seam-data")]
    data: PathBuf,
    /// Where the graph is kept (default: the data folder).
    #[command(flatten)]
    store: super::StoreArgs,
    /// TOML files declaring external compilers and compile services ([[compiler]], [[remote]]);
    /// DATA/compilers.toml is read too when it exists.
    #[arg(long = "compilers")]
    compilers: Vec<PathBuf>,
    /// Largest relative error of the compiled model against the original.
    #[arg(long, default_value_t = 0.1)]
    max_relative_error: f32,
    /// Smallest top-1 agreement with the original.
    #[arg(long, default_value_t = 0.95)]
    min_top1: f32,
    /// Extra RAM kept free on the target, percent.
    #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u64).range(0..=1000))]
    headroom: u64,
    /// Compile even when the cache holds the same compilation.
    #[arg(long)]
    no_cache: bool,
    /// Print a JSON report (stdout only).
    #[arg(long)]
    json: bool,
    /// List the backends and exit.
    #[arg(long)]
    list_backends: bool,
    /// Compile through a running service instead (`seam serve`'s base URL, e.g.
    /// http://127.0.0.1:8080): it plans from its graph, signs with its key and records the
    /// provenance; the package lands in --out as usual.
    #[arg(long)]
    endpoint: Option<String>,
    /// The service's write token (with --endpoint).
    #[arg(long, env = "SEAM_TOKEN", hide_env_values = true)]
    token: Option<String>,
}

/// Exit code when the compiled result does not fit the target (or cannot run there at all).
pub(crate) const DOES_NOT_FIT: u8 = 4;

/// Runs `seam compile`.
pub(crate) fn compile(args: CompileArgs) -> Result<u8, Failure> {
    let data = DataDir::at(&args.data);
    let mut declarations = args.compilers.clone();
    let default_declarations = data.compilers();
    if default_declarations.is_file() {
        declarations.push(default_declarations);
    }
    if args.list_backends {
        // Listing needs no key or store: only the declarations.
        let backends =
            seam_registry::bridge::backends::Backends::with_declarations(&declarations).map_err(anyhow::Error::from)?;
        let mut out = std::io::stdout().lock();
        for b in backends.iter() {
            let _ = writeln!(out, "{:16} {}", b.name(), b.description());
        }
        return Ok(0);
    }
    let Some(model_path) = args.model.as_ref() else {
        return Err(Failure::Invalid(anyhow::anyhow!("a model is required")));
    };
    let bytes = std::fs::read(model_path).with_context(|| format!("cannot read {}", model_path.display()))?;
    let stem = safe_stem(model_path.file_stem().and_then(|s| s.to_str()).unwrap_or("model"));
    let order = CompileOrder {
        model: &bytes,
        stem: stem.clone(),
        target: args.target.clone(),
        backend: args.backend.clone(),
        quantize_int8: args.quantize.is_some(),
        prune: args.prune,
        thresholds: Thresholds {
            max_relative_error: args.max_relative_error,
            min_top1_agreement: args.min_top1,
        },
        headroom_pct: args.headroom,
        use_cache: !args.no_cache,
    };
    let (report, package, files) = match &args.endpoint {
        Some(endpoint) => remote_compile(endpoint, &order, args.token.as_deref())?,
        None => {
            let registry = args.store.open(data.store())?;
            registry.seed_if_empty().context("seeding the empty store failed")?;
            let packager = Packager::open(&data, &declarations).map_err(anyhow::Error::from)?;
            let index = FleetIndex::new(registry);
            let done = packaging::compile_model(&index, &packager, &order).map_err(compile_failure)?;
            (done.to_json(), done.compiled.package, done.compiled.files)
        }
    };

    std::fs::create_dir_all(&args.out).with_context(|| format!("cannot create {}", args.out.display()))?;
    let package_path = args
        .out
        .join(format!("{stem}.{}", seam_registry::bridge::package::EXTENSION));
    let mut written = vec![(package_path.clone(), package.clone())];
    for file in &files {
        written.push((args.out.join(&file.name), file.bytes.clone()));
    }
    let manifest_json = serde_json::to_vec_pretty(&report["manifest"]).context("cannot serialise the manifest")?;
    written.push((args.out.join("manifest.json"), manifest_json));
    for (path, content) in &written {
        std::fs::write(path, content).with_context(|| format!("cannot write {}", path.display()))?;
    }
    let fits = report["fit"]["fits"].as_bool();

    if args.json {
        let mut report = report;
        report["package"] = serde_json::json!(package_path);
        println!("{report}");
    } else {
        print_report(&report, &package_path, package.len());
    }
    Ok(match fits {
        Some(false) => DOES_NOT_FIT,
        _ => 0,
    })
}

/// The people's form of a compile report (the JSON of `CompileReport::to_json`).
fn print_report(report: &Value, package_path: &std::path::Path, package_len: usize) {
    let mut out = std::io::stdout().lock();
    let text = |v: &Value| v.as_str().unwrap_or("").to_owned();
    let plan = &report["plan"];
    let backend = text(&report["backend"]);
    if !plan.is_null() {
        let device = plan["deviceName"]
            .as_str()
            .unwrap_or(plan["device"].as_str().unwrap_or(""));
        let _ = writeln!(
            out,
            "target {device} on {} → backend {backend}{}",
            seam_registry::answer::compact_iri(plan["runtime"].as_str().unwrap_or("")),
            if report["quantized"] == true {
                ", int8 weights"
            } else {
                ""
            }
        );
    }
    let cached = report["cacheHit"] == true;
    let _ = writeln!(
        out,
        "{} {} ({package_len} bytes, sha256 {}){}",
        if cached { "cached" } else { "built" },
        package_path.display(),
        text(&report["sha256"]),
        if cached {
            " — the same compilation was cached"
        } else {
            ""
        }
    );
    let manifest = &report["manifest"];
    for f in manifest["outputs"].as_array().into_iter().flatten() {
        let _ = writeln!(out, "  {} ({} bytes)", text(&f["file"]), f["sizeBytes"]);
    }
    let v = &manifest["validation"];
    if !v.is_null() {
        let _ = writeln!(
            out,
            "validated on {} samples ({}): top-1 agreement {:.1}%, relative error {:.2}%",
            v["samples"],
            text(&v["compared"]),
            v["top1Agreement"].as_f64().unwrap_or(0.0) * 100.0,
            v["relativeError"].as_f64().unwrap_or(0.0) * 100.0
        );
    }
    let _ = writeln!(
        out,
        "signed with Ed25519 key {}; provenance recorded as {}",
        text(&manifest["signer"]["publicKey"]),
        text(&report["artifact"])
    );
    let f = &report["fit"];
    if !f.is_null() {
        let missing: Vec<String> = f["missingOperators"]
            .as_array()
            .into_iter()
            .flatten()
            .map(text)
            .collect();
        let fits = f["fits"] == true;
        let _ = writeln!(
            out,
            "{}: RAM {} of {} B free, flash {} of {} B free{}",
            if fits { "fits" } else { "does not fit" },
            f["ramNeededBytes"],
            f["ramFreeBytes"],
            f["flashNeededBytes"],
            f["flashFreeBytes"],
            if missing.is_empty() {
                String::new()
            } else {
                format!(", unsupported operators: {}", missing.join(", "))
            }
        );
        if !fits && plan["via"] == "int8" {
            let _ = writeln!(
                out,
                "  the graph's estimate assumed a fully int8 model (activations too); SEAM's int8 \
                 transform quantises weights only, and {backend}'s activations stay float32"
            );
        }
    }
}

/// A compilation that did not happen, as the CLI reports it: the model cannot run on the target
/// (exit 4, every reason printed), the model or the request was at fault (exit 3), or the graph
/// could not be read or written (exit 1).
fn compile_failure(e: CompileError) -> Failure {
    match e {
        CompileError::Plan(e @ PlanError::DoesNotRun { .. }) => {
            let _ = writeln!(std::io::stderr().lock(), "error: {e}");
            Failure::DoesNotFit
        }
        // A backend whose tool is not installed is this machine's fault, not the model's.
        CompileError::Graph(_) | CompileError::Bridge(seam_registry::bridge::BridgeError::ToolUnavailable { .. }) => {
            Failure::Runtime(anyhow::Error::from(e))
        }
        other => Failure::Invalid(anyhow::Error::from(other)),
    }
}

/// `seam compile --endpoint`: the running service plans, compiles, signs and records.
fn remote_compile(
    endpoint: &str,
    order: &CompileOrder<'_>,
    token: Option<&str>,
) -> Result<(Value, Vec<u8>, Vec<ArtifactFile>), Failure> {
    let service = Service::new(endpoint, token.unwrap_or_default()).map_err(anyhow::Error::from)?;
    match super::client_runtime()?.block_on(service.compile(order)) {
        Ok(done) => Ok((done.report, done.package, done.files)),
        Err(ClientError::DoesNotRun(detail)) => {
            let _ = writeln!(std::io::stderr().lock(), "error: {detail}");
            Err(Failure::DoesNotFit)
        }
        Err(e) if e.is_client_error() => Err(Failure::Invalid(e.into())),
        Err(e) => Err(Failure::from(anyhow::Error::from(e))),
    }
}
