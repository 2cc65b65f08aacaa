//! The registry's side of compilation: which backend suits a device, whether the result fits it,
//! and the provenance of every package.
//!
//! - [`Packager`] holds this installation's signing key (`DATA/keys/package-signing.ed25519`,
//!   created on first use), the package cache (`DATA/compile-cache/`) and the backends (built-in
//!   ones plus those declared in TOML files).
//! - [`plan`] asks the matchmaking engine how the measured model runs on the target device — the
//!   same verdict and reasons `seam match` gives — and reads the chosen runtime's
//!   `seam:compilerBackend` from the graph.
//! - [`judge`] checks the compiled package's own figures against the device.
//! - [`record`] writes the provenance: artifact ← compilation (backend + options) ← model, and
//!   the signing key's public key.

use std::path::PathBuf;

use oxigraph::model::vocab::{rdf, rdfs, xsd};
use oxigraph::model::{Literal, NamedNode, Term};
use oxsdatatypes::DateTime;
use seam_compiler_bridge::analysis::Analysis;
use seam_compiler_bridge::backends::Backends;
use seam_compiler_bridge::compile::Compiled;
use seam_compiler_bridge::package::{Cache, Signer};
use serde::Serialize;

use crate::data_dir::DataDir;
use crate::ingest::onnx::{measured_dtype, onnx_operator_names, stored_weight_bytes};
use crate::iri;
use crate::matching::estimate;
use crate::matching::evaluate::{ram_required, DeviceView, MatchOptions, Reason, Via};
use crate::matching::facts::{Fleet, ModelFacts};
use crate::matching::FleetIndex;
use crate::vocab::{PROV, SEAM};
use crate::{Registry, StoreError};

/// The signing key, the package cache and the backends of one installation.
pub struct Packager {
    /// Every backend a compilation may use.
    pub backends: Backends,
    /// The signing key.
    pub signer: Signer,
    /// The package cache.
    pub cache: Cache,
}

impl Packager {
    /// Opens the packager of the data folder `data` (creating the key on first use), with the
    /// backends declared in `declarations` added to the built-in ones.
    pub fn open(data: &DataDir, declarations: &[PathBuf]) -> Result<Self, seam_compiler_bridge::BridgeError> {
        Ok(Self {
            backends: Backends::with_declarations(declarations)?,
            signer: Signer::open_or_create(&data.signing_key())?,
            cache: Cache::new(&data.compile_cache()),
        })
    }
}

impl Packager {
    /// The backend named `name`, or why there is none (with the names there are).
    fn backend(&self, name: &str) -> Result<&dyn seam_compiler_bridge::backend::Backend, CompileError> {
        self.backends.get(name).ok_or_else(|| CompileError::UnknownBackend {
            name: name.to_owned(),
            known: self.backends.names().join(", "),
        })
    }
}

/// How a model is to be built for a device.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Plan {
    /// The device's IRI.
    pub device: String,
    /// Its short name, when it has one.
    pub device_name: Option<String>,
    /// Its board's IRI.
    pub board: Option<String>,
    /// The runtime the model will run on.
    pub runtime: String,
    /// The backend the runtime declares (`seam:compilerBackend`), if any.
    pub backend: Option<String>,
    /// Whether the model runs as it is or quantised to int8.
    pub via: Via,
    /// The matchmaking engine's estimate, before compiling: RAM and flash needed.
    pub estimated_ram_bytes: u64,
    /// Flash needed, estimated.
    pub estimated_flash_bytes: u64,
    /// The device's free RAM and flash, as matching saw them (for judging what gets built).
    #[serde(skip)]
    free: (u64, u64),
}

/// Why there is no plan.
#[derive(Debug, thiserror::Error)]
pub enum PlanError {
    /// No device of that name or IRI.
    #[error("no device {0:?} in the graph")]
    UnknownDevice(String),
    /// The model does not run on the device in any way; every reason is given.
    #[error("the model does not run on {device}: {}", reasons.iter().map(|r| r.message.as_str()).collect::<Vec<_>>().join(" "))]
    DoesNotRun {
        /// The device.
        device: String,
        /// Why.
        reasons: Vec<Reason>,
    },
}

/// The model as the matchmaking engine sees it, from its measurement.
pub fn model_facts(analysis: &Analysis, iri: &str, name: &str) -> ModelFacts {
    ModelFacts {
        iri: iri.to_owned(),
        name: name.to_owned(),
        dtype: Some(format!("{SEAM}{}", measured_dtype(analysis))),
        macs: Some(analysis.macs),
        peak_activation_bytes: Some(analysis.peak_activation_bytes),
        weight_bytes: Some(stored_weight_bytes(analysis)),
        operators: onnx_operator_names(analysis),
        ..ModelFacts::default()
    }
}

/// How `model` should be built for the device `device_key` (IRI or short name): the runtime the
/// matchmaking engine picks, as-is or through int8, and the backend that runtime declares.
pub fn plan(fleet: &Fleet, model: &ModelFacts, device_key: &str, opts: &MatchOptions) -> Result<Plan, PlanError> {
    let device = fleet
        .device(device_key)
        .ok_or_else(|| PlanError::UnknownDevice(device_key.to_owned()))?;
    let view = DeviceView::new(fleet, device);
    let Some((via, fit)) = view.verdict(fleet, model, opts) else {
        return Err(PlanError::DoesNotRun {
            device: device.short_name.clone().unwrap_or_else(|| device.iri.clone()),
            reasons: view.reasons(model, opts),
        });
    };
    Ok(Plan {
        device: device.iri.clone(),
        device_name: device.short_name.clone(),
        board: device.board.clone(),
        backend: fleet
            .runtimes
            .get(&fit.runtime)
            .and_then(|r| r.compiler_backend.clone()),
        runtime: fit.runtime,
        via,
        estimated_ram_bytes: fit.ram_bytes,
        estimated_flash_bytes: fit.flash_bytes,
        free: (view.free_ram(), view.free_flash()),
    })
}

/// Whether a compiled package fits its device, with the figures.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Fit {
    /// RAM and flash both suffice and every operator is supported.
    pub fits: bool,
    /// Arena + runtime overhead + headroom, bytes.
    pub ram_needed_bytes: u64,
    /// What the device has free.
    pub ram_free_bytes: u64,
    /// The artifact + the runtime's code, bytes.
    pub flash_needed_bytes: u64,
    /// What the device has free.
    pub flash_free_bytes: u64,
    /// Operators of the compiled model the runtime does not list.
    pub missing_operators: Vec<String>,
}

/// What a compiled model needs on a device, from its manifest.
#[derive(Debug, Clone)]
pub struct Needs<'a> {
    /// Activation arena, bytes.
    pub arena_bytes: u64,
    /// What the artifact occupies in flash, bytes.
    pub device_bytes: u64,
    /// Operators it runs (ONNX names).
    pub operators: &'a std::collections::BTreeSet<String>,
}

/// Judges a compiled model on the planned device and runtime.
pub fn judge(fleet: &Fleet, plan: &Plan, needs: &Needs<'_>, opts: &MatchOptions) -> Fit {
    let runtime = fleet.runtimes.get(&plan.runtime);
    let (ram_free, flash_free) = plan.free;
    let ram_needed = ram_required(
        needs.arena_bytes,
        runtime.map_or(0, |r| r.ram_overhead_bytes),
        opts.headroom_pct,
    );
    let flash_needed = match runtime {
        Some(r) => estimate::flash_required(needs.device_bytes, r),
        None => needs.device_bytes,
    };
    let missing_operators: Vec<String> = match runtime {
        Some(r) => estimate::missing_operators(needs.operators, r)
            .into_iter()
            .map(str::to_owned)
            .collect(),
        None => Vec::new(),
    };
    Fit {
        fits: ram_needed <= ram_free && flash_needed <= flash_free && missing_operators.is_empty(),
        ram_needed_bytes: ram_needed,
        ram_free_bytes: ram_free,
        flash_needed_bytes: flash_needed,
        flash_free_bytes: flash_free,
        missing_operators,
    }
}

fn seam(local: &str) -> NamedNode {
    NamedNode::new_unchecked(format!("{SEAM}{local}"))
}

fn prov(local: &str) -> NamedNode {
    NamedNode::new_unchecked(format!("{PROV}{local}"))
}

/// Writes the provenance of `compiled` in one transaction:
/// the artifact (`seam:Artifact`, `prov:wasGeneratedBy` the compilation, `prov:wasDerivedFrom`
/// the model, `seam:signedWith` the key), the compilation (`seam:Compilation`, `prov:used` the
/// model, `prov:wasAssociatedWith` the backend, `seam:options`, times, target), the backend and
/// the key with its public key. Writing the same package again changes nothing but the times.
pub fn record(
    registry: &Registry,
    compiled: &Compiled,
    started: DateTime,
    ended: DateTime,
    target: Option<&str>,
) -> Result<String, StoreError> {
    let m = &compiled.manifest;
    let artifact = iri::artifact(&compiled.sha256);
    let compilation = iri::compilation(&compiled.sha256);
    let model = NamedNode::new(m.model.iri.clone()).unwrap_or_else(|_| iri::model(&m.model.sha256));
    let backend = iri::backend(&m.backend.name);
    let key = iri::signing_key(&m.signer.public_key);
    let options = serde_json::to_string(&m.backend.options).unwrap_or_default();
    let target = target.and_then(|t| NamedNode::new(t).ok());
    let mut quads: Vec<(NamedNode, NamedNode, Term)> = vec![
        (artifact.clone(), rdf::TYPE.into_owned(), seam("Artifact").into()),
        (
            artifact.clone(),
            rdfs::LABEL.into_owned(),
            Literal::new_simple_literal(format!("{} ({})", m.model.name, m.backend.name)).into(),
        ),
        (
            artifact.clone(),
            seam("sha256"),
            Literal::new_simple_literal(&compiled.sha256).into(),
        ),
        (
            artifact.clone(),
            seam("sizeBytes"),
            Literal::from(compiled.package.len() as i64).into(),
        ),
        (artifact.clone(), prov("wasGeneratedBy"), compilation.clone().into()),
        (artifact.clone(), prov("wasDerivedFrom"), model.clone().into()),
        (artifact.clone(), seam("signedWith"), key.clone().into()),
        (
            artifact.clone(),
            seam("backend"),
            Literal::new_simple_literal(&m.backend.name).into(),
        ),
        (compilation.clone(), rdf::TYPE.into_owned(), seam("Compilation").into()),
        (compilation.clone(), prov("used"), model.into()),
        (compilation.clone(), prov("wasAssociatedWith"), backend.clone().into()),
        (
            compilation.clone(),
            seam("backend"),
            Literal::new_simple_literal(&m.backend.name).into(),
        ),
        (
            compilation.clone(),
            seam("backendVersion"),
            Literal::new_simple_literal(&m.backend.version).into(),
        ),
        (
            compilation.clone(),
            seam("options"),
            Literal::new_simple_literal(options).into(),
        ),
        (
            compilation.clone(),
            prov("startedAtTime"),
            Literal::from(started).into(),
        ),
        (compilation.clone(), prov("endedAtTime"), Literal::from(ended).into()),
        (backend.clone(), rdf::TYPE.into_owned(), prov("SoftwareAgent").into()),
        (
            backend,
            rdfs::LABEL.into_owned(),
            Literal::new_simple_literal(&m.backend.name).into(),
        ),
        (key.clone(), rdf::TYPE.into_owned(), seam("SigningKey").into()),
        (
            key.clone(),
            seam("publicKey"),
            Literal::new_simple_literal(&m.signer.public_key).into(),
        ),
        (
            key,
            seam("signatureAlgorithm"),
            Literal::new_simple_literal(&m.signer.algorithm).into(),
        ),
    ];
    if let Some(v) = &m.validation {
        let decimal = |x: f32| Literal::new_typed_literal(format!("{x}"), xsd::DECIMAL);
        quads.push((
            artifact.clone(),
            seam("top1Agreement"),
            decimal(v.top1_agreement).into(),
        ));
        quads.push((
            artifact.clone(),
            seam("relativeError"),
            decimal(v.relative_error).into(),
        ));
    }
    if let Some(target) = target {
        quads.push((artifact.clone(), seam("target"), target.clone().into()));
        quads.push((compilation.clone(), seam("target"), target.into()));
    }
    registry.change(|t| {
        // Times of an earlier compilation of the same package are replaced, not accumulated.
        for p in [prov("startedAtTime"), prov("endedAtTime")] {
            t.remove_all(&compilation, &p);
        }
        for (s, p, o) in quads {
            t.add(&s, &p, o);
        }
    })?;
    Ok(artifact.into_string())
}

/// One compilation asked of the registry: the model, and how to build it.
#[derive(Debug, Clone)]
pub struct CompileOrder<'a> {
    /// The model file's bytes (ONNX or TFLite).
    pub model: &'a [u8],
    /// The name outputs are derived from.
    pub stem: String,
    /// The device to build for (IRI or short name).
    pub target: Option<String>,
    /// The backend; required without a target, overrides the graph's choice with one.
    pub backend: Option<String>,
    /// Quantise the weights to int8 (also done when the plan needs it).
    pub quantize_int8: bool,
    /// Prune to this sparsity first.
    pub prune: Option<f64>,
    /// What the compiled model must meet.
    pub thresholds: seam_compiler_bridge::validate::Thresholds,
    /// RAM headroom on the target, percent.
    pub headroom_pct: u64,
    /// Use the package cache.
    pub use_cache: bool,
}

/// What a compilation produced and decided.
#[derive(Debug, Clone)]
pub struct CompileReport {
    /// The signed package, its files and manifest.
    pub compiled: Compiled,
    /// The artifact's IRI in the graph.
    pub artifact: String,
    /// The plan, when there was a target.
    pub plan: Option<Plan>,
    /// Whether the result fits the target, when there was one.
    pub fit: Option<Fit>,
    /// The backend that ran.
    pub backend: String,
    /// Whether the weights were quantised.
    pub quantized: bool,
}

/// Why a compilation did not happen.
#[derive(Debug, thiserror::Error)]
pub enum CompileError {
    /// The model, a transform, the validation or the backend failed.
    #[error(transparent)]
    Bridge(#[from] seam_compiler_bridge::BridgeError),
    /// No plan for the target: an unknown device, or a model that cannot run there.
    #[error(transparent)]
    Plan(#[from] PlanError),
    /// Neither a backend nor a target to choose one.
    #[error("name a backend, or a target device to choose one from the graph")]
    NoBackendAsked,
    /// The runtime the graph chose declares no backend.
    #[error("the runtime {0} declares no seam:compilerBackend in the graph; name a backend")]
    NoBackendDeclared(String),
    /// No backend of that name.
    #[error("no backend {name:?}; there are {known}")]
    UnknownBackend {
        /// The name asked for.
        name: String,
        /// The names there are.
        known: String,
    },
    /// The graph could not be read or written.
    #[error("the graph: {0}")]
    Graph(String),
}

/// Plans (with a target), compiles, signs, caches, records the provenance and judges the fit:
/// what `seam compile` and `POST /compilations` both do.
pub fn compile_model(
    index: &FleetIndex,
    packager: &Packager,
    order: &CompileOrder<'_>,
) -> Result<CompileReport, CompileError> {
    use seam_compiler_bridge::analysis::{analyze_bytes, sha256_hex};
    use seam_compiler_bridge::compile::{compile, folded, Request};
    use seam_compiler_bridge::package::TargetRef;

    if order.target.is_none() && order.backend.is_none() {
        return Err(CompileError::NoBackendAsked);
    }
    let iri = crate::ingest::onnx::model_iri(&sha256_hex(order.model));
    let opts = MatchOptions {
        headroom_pct: order.headroom_pct,
        ..MatchOptions::default()
    };
    // Only a target needs the model measured here; without one the pipeline checks it.
    let planned = match &order.target {
        None => None,
        Some(device) => {
            // Checked first (a hostile file never reaches the folding), then measured as the
            // backends will receive it: batch norms folded.
            let original = analyze_bytes(order.model, None)?;
            let analysis = if original.format == "tflite" {
                original
            } else {
                analyze_bytes(&folded(order.model)?, None)?
            };
            let fleet = index.fleet().map_err(|e| CompileError::Graph(e.to_string()))?;
            let plan = plan(&fleet, &model_facts(&analysis, &iri, &order.stem), device, &opts)?;
            Some((plan, analysis, fleet))
        }
    };
    let plan = planned.as_ref().map(|(plan, _, _)| plan);
    let backend_name = match (&order.backend, plan.and_then(|p| p.backend.clone())) {
        (Some(name), _) => name.clone(),
        (None, Some(name)) => name,
        (None, None) => {
            return Err(CompileError::NoBackendDeclared(
                plan.map(|p| p.runtime.clone()).unwrap_or_default(),
            ))
        }
    };
    let backend = packager.backend(&backend_name)?;
    let quantized = order.quantize_int8 || plan.is_some_and(|p| p.via == Via::Int8);
    let request = Request {
        prune: order.prune,
        quantize_int8: quantized,
        thresholds: order.thresholds,
        target: plan
            .map(|p| TargetRef {
                device: Some(p.device.clone()),
                board: p.board.clone(),
                runtime: Some(p.runtime.clone()),
            })
            .unwrap_or_default(),
        target_name: plan.and_then(|p| p.device_name.clone()),
        ..Request::new(order.model, &iri, &order.stem)
    };
    let started = DateTime::now();
    let cache = order.use_cache.then_some(&packager.cache);
    let compiled = compile(&request, backend, &packager.signer, cache)?;
    let artifact = record(
        index.registry(),
        &compiled,
        started,
        DateTime::now(),
        plan.map(|p| p.device.as_str()),
    )
    .map_err(|e| CompileError::Graph(e.to_string()))?;
    let fit = planned.as_ref().map(|(p, analysis, fleet)| {
        let mut operators = onnx_operator_names(analysis);
        if quantized {
            operators.insert("DequantizeLinear".into());
        }
        let size = |k: &str| compiled.manifest.sizes.get(k).copied().unwrap_or(0);
        judge(
            fleet,
            p,
            &Needs {
                arena_bytes: size("arenaBytes"),
                device_bytes: size("deviceBytes"),
                operators: &operators,
            },
            &opts,
        )
    });
    Ok(CompileReport {
        compiled,
        artifact,
        plan: planned.map(|(plan, _, _)| plan),
        fit,
        backend: backend_name,
        quantized,
    })
}

/// One build of `model` for every device that shares a board, runtime, backend and path (as
/// is or int8): the target names the board and runtime, not a device, so the package (and its
/// cache entry) serves them all. What rollouts compile; the provenance's target is the board.
pub fn compile_for_board(
    registry: &Registry,
    packager: &Packager,
    model: &[u8],
    model_iri: &str,
    stem: &str,
    plan: &Plan,
) -> Result<Compiled, CompileError> {
    use seam_compiler_bridge::compile::{compile, Request};
    use seam_compiler_bridge::package::TargetRef;

    let backend_name = plan
        .backend
        .clone()
        .ok_or_else(|| CompileError::NoBackendDeclared(plan.runtime.clone()))?;
    let backend = packager.backend(&backend_name)?;
    let request = Request {
        quantize_int8: plan.via == Via::Int8,
        target: TargetRef {
            device: None,
            board: plan.board.clone(),
            runtime: Some(plan.runtime.clone()),
        },
        ..Request::new(model, model_iri, stem)
    };
    let started = DateTime::now();
    let compiled = compile(&request, backend, &packager.signer, Some(&packager.cache))?;
    record(registry, &compiled, started, DateTime::now(), plan.board.as_deref())
        .map_err(|e| CompileError::Graph(e.to_string()))?;
    Ok(compiled)
}

impl CompileReport {
    /// The report as JSON (the package itself aside): what `seam compile --json` prints and
    /// `POST /compilations` answers.
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::json!({
            "sha256": self.compiled.sha256,
            "artifact": self.artifact,
            "cacheHit": self.compiled.cache_hit,
            "backend": self.backend,
            "quantized": self.quantized,
            "manifest": self.compiled.manifest,
            "plan": self.plan,
            "fit": self.fit,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::matching::fixture::{fleet, model};

    #[test]
    fn a_plan_names_the_runtime_its_backend_and_the_estimates() {
        let mut f = fleet();
        if let Some(r) = f.runtimes.get_mut("urn:rt") {
            r.compiler_backend = Some("tflite-micro".into());
            r.dtypes.insert(format!("{}float32", crate::vocab::SEAM));
        }
        let m = model("float32", 80_000, 400_000, &["Conv"]);
        let plan = plan(&f, &m, "d", &MatchOptions::default()).unwrap();
        assert_eq!(
            (plan.runtime.as_str(), plan.backend.as_deref()),
            ("urn:rt", Some("tflite-micro"))
        );
        assert_eq!(plan.via, Via::Int8);
        assert_eq!(plan.free, (61_440, 262_144));
        assert!(matches!(
            super::plan(&f, &m, "nobody", &MatchOptions::default()),
            Err(PlanError::UnknownDevice(_))
        ));
    }

    #[test]
    fn a_model_that_cannot_run_is_refused_with_every_reason() {
        let f = fleet();
        let m = model("int8", 70_000, 300_000, &["Conv", "LSTM"]);
        match plan(&f, &m, "d", &MatchOptions::default()) {
            Err(PlanError::DoesNotRun { device, reasons }) => {
                assert_eq!(device, "d");
                assert!(reasons.len() >= 3, "{reasons:?}");
            }
            other => panic!("expected DoesNotRun, got {other:?}"),
        }
    }

    #[test]
    fn what_was_built_is_judged_on_its_own_figures() {
        let f = fleet();
        let m = model("int8", 20_000, 100_000, &["Conv"]);
        let plan = plan(&f, &m, "d", &MatchOptions::default()).unwrap();
        let ops: std::collections::BTreeSet<String> = ["Conv".to_owned(), "Softmax".to_owned()].into();
        let built = Needs {
            arena_bytes: 20_000,
            device_bytes: 100_000,
            operators: &ops,
        };
        let fit = judge(&f, &plan, &built, &MatchOptions::default());
        assert!(!fit.fits, "Softmax is not a kernel of the runtime");
        assert_eq!(fit.missing_operators, ["Softmax"]);
        assert_eq!(fit.flash_needed_bytes, 132_768);
        let ops: std::collections::BTreeSet<String> = ["Conv".to_owned()].into();
        let bigger = Needs {
            arena_bytes: 60_000,
            device_bytes: 100_000,
            operators: &ops,
        };
        let fit = judge(&f, &plan, &bigger, &MatchOptions::default());
        assert!(!fit.fits && fit.ram_needed_bytes > fit.ram_free_bytes, "{fit:?}");
    }
}
