//! `seam compile`: measure, transform, compile, validate, sign and cache a model; with a target,
//! the backend comes from the graph and the result is judged against the device.

use std::collections::BTreeSet;
use std::io::Write as _;
use std::path::PathBuf;

use anyhow::Context as _;
use oxsdatatypes::DateTime;
use seam_registry::bridge::analysis::analyze_bytes;
use seam_registry::bridge::compile::{compile as run_pipeline, folded, safe_stem, Request};
use seam_registry::bridge::package::TargetRef;
use seam_registry::bridge::validate::Thresholds;
use seam_registry::ingest::onnx::model_iri;
use seam_registry::matching::{MatchOptions, Via};
use seam_registry::packaging::{self, Needs, Packager, PlanError};

use crate::Failure;

/// The arguments of `seam compile`.
#[derive(clap::Args)]
pub struct CompileArgs {
    /// The model file (ONNX).
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
    #[arg(long, default_value_t = 10)]
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
}

/// Exit code when the compiled result does not fit the target (or cannot run there at all).
pub const DOES_NOT_FIT: u8 = 4;

/// Runs `seam compile`.
pub fn compile(args: CompileArgs) -> Result<u8, Failure> {
    let mut declarations = args.compilers.clone();
    let default_declarations = args.data.join("compilers.toml");
    if default_declarations.is_file() {
        declarations.push(default_declarations);
    }
    if args.list_backends {
        // Listing needs no key or store: only the declarations.
        let mut backends = seam_registry::bridge::backend::Backends::builtin();
        for file in &declarations {
            for b in seam_registry::bridge::external::load(file).map_err(anyhow::Error::from)? {
                backends.add(b).map_err(anyhow::Error::from)?;
            }
        }
        let mut out = std::io::stdout().lock();
        for b in backends.iter() {
            let _ = writeln!(out, "{:16} {}", b.name(), b.description());
        }
        return Ok(0);
    }
    let Some(model_path) = args.model.as_ref() else {
        return Err(Failure::Invalid(anyhow::anyhow!("a model is required")));
    };
    if args.target.is_none() && args.backend.is_none() {
        return Err(Failure::Invalid(anyhow::anyhow!(
            "name a --backend, or a --target device to choose one from the graph"
        )));
    }
    let bytes = std::fs::read(model_path).with_context(|| format!("cannot read {}", model_path.display()))?;
    let stem = safe_stem(model_path.file_stem().and_then(|s| s.to_str()).unwrap_or("model"));
    let original = analyze_bytes(&bytes, model_path.parent()).map_err(anyhow::Error::from)?;
    let iri = model_iri(&original.sha256);
    // Plans are made on the model as the backends will receive it: batch norms folded.
    let analysis = if seam_registry::bridge::tflite::is_tflite(&bytes) {
        original
    } else {
        let (prepared, _) = folded(&bytes).map_err(anyhow::Error::from)?;
        analyze_bytes(&prepared, None).map_err(anyhow::Error::from)?
    };

    let registry = crate::open(&args.data)?;
    registry.seed_if_empty().context("seeding the empty store failed")?;
    let packager = Packager::open(&args.data, &declarations).map_err(anyhow::Error::from)?;
    let opts = MatchOptions {
        headroom_pct: args.headroom,
        ..MatchOptions::default()
    };

    // With a target: the graph says which runtime, which backend, and whether int8 is needed.
    let fleet = registry.fleet().context("cannot read the fleet")?;
    let plan = match &args.target {
        None => None,
        Some(device) => {
            let facts = packaging::model_facts(&analysis, &iri, &stem);
            match packaging::plan(&fleet, &facts, device, &opts) {
                Ok(plan) => Some(plan),
                Err(PlanError::UnknownDevice(d)) => {
                    return Err(Failure::Invalid(anyhow::anyhow!("no device {d:?} in the graph")));
                }
                Err(e @ PlanError::DoesNotRun { .. }) => {
                    let mut err = std::io::stderr().lock();
                    let _ = writeln!(err, "error: {e}");
                    return Ok(DOES_NOT_FIT);
                }
            }
        }
    };
    let backend_name = match (&args.backend, plan.as_ref().and_then(|p| p.backend.clone())) {
        (Some(name), _) => name.clone(),
        (None, Some(name)) => name,
        (None, None) => {
            let runtime = plan.as_ref().map(|p| p.runtime.as_str()).unwrap_or_default();
            return Err(Failure::Invalid(anyhow::anyhow!(
                "the runtime {runtime} declares no seam:compilerBackend in the graph; name one with --backend"
            )));
        }
    };
    let Some(backend) = packager.backends.get(&backend_name) else {
        return Err(Failure::Invalid(anyhow::anyhow!(
            "no backend {backend_name:?}; there are {}",
            packager.backends.names().join(", ")
        )));
    };
    let quantize = args.quantize.is_some() || plan.as_ref().is_some_and(|p| p.via == Via::Int8);
    let target = match &plan {
        Some(p) => TargetRef {
            device: Some(p.device.clone()),
            board: p.board.clone(),
            runtime: Some(p.runtime.clone()),
        },
        None => TargetRef::default(),
    };
    let request = Request {
        model: &bytes,
        model_iri: iri.clone(),
        stem: stem.clone(),
        fold_batch_norms: true,
        prune: args.prune,
        quantize_int8: quantize,
        thresholds: Thresholds {
            max_relative_error: args.max_relative_error,
            min_top1_agreement: args.min_top1,
        },
        target,
        target_name: plan.as_ref().and_then(|p| p.device_name.clone()),
    };
    let started = DateTime::now();
    let cache = (!args.no_cache).then_some(&packager.cache);
    let compiled = run_pipeline(&request, backend, &packager.signer, cache).map_err(anyhow::Error::from)?;
    let ended = DateTime::now();
    let artifact = packaging::record(
        &registry,
        &compiled,
        started,
        ended,
        plan.as_ref().map(|p| p.device.as_str()),
    )
    .context("cannot record the compilation in the graph")?;

    std::fs::create_dir_all(&args.out).with_context(|| format!("cannot create {}", args.out.display()))?;
    let package_path = args
        .out
        .join(format!("{stem}.{}", seam_registry::bridge::package::EXTENSION));
    let mut written = vec![(package_path.clone(), compiled.package.clone())];
    for file in &compiled.files {
        written.push((args.out.join(&file.name), file.bytes.clone()));
    }
    let manifest_json = serde_json::to_vec_pretty(&compiled.manifest).context("cannot serialise the manifest")?;
    written.push((args.out.join("manifest.json"), manifest_json));
    for (path, content) in &written {
        std::fs::write(path, content).with_context(|| format!("cannot write {}", path.display()))?;
    }

    let fit = plan.as_ref().map(|p| {
        let mut operators: BTreeSet<String> = seam_registry::ingest::onnx::onnx_operator_names(&analysis);
        if quantize {
            operators.insert("DequantizeLinear".into());
        }
        let size = |k: &str| compiled.manifest.sizes.get(k).copied().unwrap_or(0);
        packaging::judge(
            &fleet,
            p,
            &Needs {
                arena_bytes: size("arenaBytes"),
                device_bytes: size("deviceBytes"),
                operators: &operators,
            },
            &opts,
        )
    });

    if args.json {
        let report = serde_json::json!({
            "package": package_path,
            "sha256": compiled.sha256,
            "artifact": artifact,
            "cacheHit": compiled.cache_hit,
            "manifest": compiled.manifest,
            "plan": plan,
            "fit": fit,
        });
        println!("{report}");
    } else {
        let mut out = std::io::stdout().lock();
        if let Some(p) = &plan {
            let _ = writeln!(
                out,
                "target {} on {} → backend {}{}",
                p.device_name.as_deref().unwrap_or(&p.device),
                seam_registry::answer::compact_iri(&p.runtime),
                backend_name,
                if quantize { ", int8 weights" } else { "" }
            );
        }
        let _ = writeln!(
            out,
            "{} {} ({} bytes, sha256 {}){}",
            if compiled.cache_hit { "cached" } else { "built" },
            package_path.display(),
            compiled.package.len(),
            compiled.sha256,
            if compiled.cache_hit {
                " — the same compilation was cached"
            } else {
                ""
            }
        );
        for f in &compiled.manifest.outputs {
            let _ = writeln!(out, "  {} ({} bytes)", f.file, f.size_bytes);
        }
        if let Some(v) = &compiled.manifest.validation {
            let _ = writeln!(
                out,
                "validated on {} samples ({}): top-1 agreement {:.1}%, relative error {:.2}%",
                v.samples,
                v.compared,
                v.top1_agreement * 100.0,
                v.relative_error * 100.0
            );
        }
        let _ = writeln!(
            out,
            "signed with Ed25519 key {}; provenance recorded as {artifact}",
            compiled.manifest.signer.public_key
        );
        if let Some(f) = &fit {
            let _ = writeln!(
                out,
                "{}: RAM {} of {} B free, flash {} of {} B free{}",
                if f.fits { "fits" } else { "does not fit" },
                f.ram_needed_bytes,
                f.ram_free_bytes,
                f.flash_needed_bytes,
                f.flash_free_bytes,
                if f.missing_operators.is_empty() {
                    String::new()
                } else {
                    format!(", unsupported operators: {}", f.missing_operators.join(", "))
                }
            );
            if !f.fits && plan.as_ref().is_some_and(|p| p.via == Via::Int8) {
                let _ = writeln!(
                    out,
                    "  the graph's estimate assumed a fully int8 model (activations too); SEAM's int8 \
                     transform quantises weights only, and {backend_name}'s activations stay float32"
                );
            }
        }
    }
    Ok(match fit {
        Some(f) if !f.fits => DOES_NOT_FIT,
        _ => 0,
    })
}
