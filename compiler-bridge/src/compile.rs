//! The compile pipeline: transform, validate, compile, validate again, sign, cache.
//!
//! 1. The request's key — (model SHA-256, target, backend name and version, every option) — is
//!    looked up in the package cache; a hit that still verifies is returned as it is.
//! 2. Batch normalisations are folded (when asked), weights pruned and quantised when asked (or when the backend always does); the transformed model
//!    is compared with the original on seeded inputs.
//! 3. The backend compiles. When its output is something tract runs (ONNX, NNEF), that output is
//!    compared with the original too, so what is validated is what ships.
//! 4. The manifest (model, backend and options, target, files with digests, sizes, validation, the
//!    backend's log) is signed and packed with the files; the package is cached.

use std::collections::BTreeMap;

use prost::Message as _;
use tract_onnx::pb;

use crate::analysis::{analyze_bytes, sha256_hex};
use crate::backend::{ArtifactFile, Backend, Job};
use crate::package::{self, BackendRef, Cache, Manifest, ModelRef, OutputRef, Signer, TargetRef};
use crate::transform::{fold_batch_norms, prune, quantize_int8};
use crate::validate::{compare, compare_with, Thresholds, ValidationReport};
use crate::BridgeError;

/// Seeded samples each validation runs.
pub const VALIDATION_SAMPLES: usize = 20;

/// One compilation. [`Request::new`] gives the usual one: batch norms folded, nothing else
/// transformed, default thresholds, no target.
#[derive(Debug, Clone)]
pub struct Request<'a> {
    /// The model file (ONNX).
    pub model: &'a [u8],
    /// Its IRI in the registry.
    pub model_iri: String,
    /// The name outputs are derived from.
    pub stem: String,
    /// Fold batch normalisations into the convolutions before them first (exact, and what MCU
    /// runtimes need: none of them has a BatchNormalization kernel).
    pub fold_batch_norms: bool,
    /// Zero this fraction of every weight tensor, smallest magnitudes first (before quantising).
    pub prune: Option<f64>,
    /// Quantise the weights to int8 first.
    pub quantize_int8: bool,
    /// What the compiled model must meet against the original.
    pub thresholds: Thresholds,
    /// What it is built for.
    pub target: TargetRef,
    /// The target's short name, for backends that take one (`{target}`).
    pub target_name: Option<String>,
}

impl<'a> Request<'a> {
    /// `model`, known as `model_iri`, with outputs named after `stem`; change the fields for more.
    pub fn new(model: &'a [u8], model_iri: &str, stem: &str) -> Self {
        Self {
            model,
            model_iri: model_iri.to_owned(),
            stem: stem.to_owned(),
            fold_batch_norms: true,
            prune: None,
            quantize_int8: false,
            thresholds: Thresholds::default(),
            target: TargetRef::default(),
            target_name: None,
        }
    }
}

/// A compiled, signed package.
#[derive(Debug, Clone)]
pub struct Compiled {
    /// The package file's bytes.
    pub package: Vec<u8>,
    /// Its SHA-256 (the artifact's IRI is made from it).
    pub sha256: String,
    /// The manifest it carries.
    pub manifest: Manifest,
    /// The artifact's files.
    pub files: Vec<ArtifactFile>,
    /// Whether it came from the cache.
    pub cache_hit: bool,
}

/// A name that is safe as a file stem: letters, digits, `-`, `_` and `.` (not leading).
pub fn safe_stem(stem: &str) -> String {
    let cleaned: String = stem
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' || c == '.' {
                c
            } else {
                '_'
            }
        })
        .collect();
    let cleaned = cleaned.trim_start_matches('.');
    if cleaned.is_empty() {
        "model".into()
    } else {
        cleaned.chars().take(100).collect()
    }
}

/// The model with its batch normalisations folded (itself when it has none). Planning uses this
/// form, since it is what the backends receive.
pub fn folded(model: &[u8]) -> Result<Vec<u8>, BridgeError> {
    let mut proto = pb::ModelProto::decode(model).map_err(|e| BridgeError::InvalidModel {
        path: "<model>".into(),
        message: format!("not an ONNX model: {e}"),
    })?;
    Ok(if fold_batch_norms(&mut proto)? == 0 {
        model.to_vec()
    } else {
        proto.encode_to_vec()
    })
}

/// Runs the pipeline; see the module documentation.
pub fn compile(
    request: &Request<'_>,
    backend: &dyn Backend,
    signer: &Signer,
    cache: Option<&Cache>,
) -> Result<Compiled, BridgeError> {
    // A TFLite model is compiled as it is, by a backend that takes one: SEAM's transforms work
    // on ONNX graphs.
    let tflite = crate::tflite::is_tflite(request.model);
    if tflite {
        if !backend.accepts_tflite() {
            return Err(BridgeError::Unsupported(format!(
                "backend {} takes ONNX models; a TFLite model goes to tflite-micro or c-array",
                backend.name()
            )));
        }
        if request.quantize_int8 || request.prune.is_some() || backend.quantizes() {
            return Err(BridgeError::Unsupported(
                "a TFLite model is compiled as it is: quantise or prune it before converting it".into(),
            ));
        }
    }
    // The key needs only the file's digest: a hit costs a hash, a read and a signature check.
    let model_sha256 = sha256_hex(request.model);
    let quantize = request.quantize_int8 || backend.quantizes();
    let backend_ref = BackendRef {
        name: backend.name().to_owned(),
        version: backend.version(),
        options: BTreeMap::from([
            ("quantize".to_owned(), if quantize { "int8" } else { "none" }.to_owned()),
            (
                "foldBatchNorms".to_owned(),
                (request.fold_batch_norms && !tflite).to_string(),
            ),
            (
                "prune".to_owned(),
                request.prune.map_or_else(|| "none".to_owned(), |s| s.to_string()),
            ),
            (
                "maxRelativeError".to_owned(),
                request.thresholds.max_relative_error.to_string(),
            ),
            (
                "minTop1Agreement".to_owned(),
                request.thresholds.min_top1_agreement.to_string(),
            ),
        ]),
    };
    let key = Cache::key(&model_sha256, &request.target, &backend_ref);
    if let Some(cache) = cache {
        if let Some((bytes, package)) = cache.get(&key, &signer.public_key_hex()) {
            tracing::info!(key, "package cache hit");
            return Ok(Compiled {
                sha256: sha256_hex(&bytes),
                package: bytes,
                manifest: package.manifest,
                files: package.files,
                cache_hit: true,
            });
        }
    }

    // A miss: the model must be one SEAM can measure before anything is made from it.
    let original = analyze_bytes(request.model, None)?;
    let stem = safe_stem(&request.stem);
    let source = if request.fold_batch_norms && !tflite {
        folded(request.model)?
    } else {
        request.model.to_vec()
    };
    let decode = |bytes: &[u8]| {
        pb::ModelProto::decode(bytes).map_err(|e| BridgeError::InvalidModel {
            path: stem.clone(),
            message: format!("not an ONNX model: {e}"),
        })
    };
    let mut model = source;
    // Pruning works on float weights, so it comes before quantisation.
    if let Some(sparsity) = request.prune {
        let mut proto = decode(&model)?;
        prune(&mut proto, sparsity)?;
        model = proto.encode_to_vec();
    }
    if quantize {
        let mut proto = decode(&model)?;
        quantize_int8(&mut proto)?;
        model = proto.encode_to_vec();
    }
    // Every transform is checked against the original, whatever the backend does next.
    let transform_report = if model != request.model {
        let report = compare(request.model, &model, VALIDATION_SAMPLES, 1)?;
        request.thresholds.check(&report)?;
        Some(report)
    } else {
        None
    };
    let measured = if model == request.model {
        original
    } else {
        analyze_bytes(&model, None)?
    };
    let job = Job {
        model: &model,
        stem: &stem,
        target: request.target_name.as_deref(),
    };
    let artifact = backend.compile(&job)?;
    // What ships is what is validated, when tract can run it.
    let validation: Option<ValidationReport> = match artifact.runnable {
        // Nothing was transformed: the TFLite model ships as it came.
        _ if tflite => None,
        None => transform_report,
        Some(runnable) => {
            let file = artifact
                .files
                .get(runnable.index())
                .ok_or_else(|| BridgeError::Backend {
                    backend: backend.name().to_owned(),
                    message: format!("its runnable output {} does not exist", runnable.index()),
                })?;
            if file.bytes == model {
                // What ships is the transformed model itself, validated above.
                transform_report
            } else {
                let report = compare_with(request.model, runnable.candidate(&file.bytes), VALIDATION_SAMPLES, 1)?;
                request.thresholds.check(&report)?;
                Some(report)
            }
        }
    };
    let manifest = Manifest {
        format: package::FORMAT.into(),
        model: ModelRef {
            iri: request.model_iri.clone(),
            name: stem.clone(),
            sha256: model_sha256.clone(),
        },
        backend: backend_ref,
        target: request.target.clone(),
        outputs: artifact
            .files
            .iter()
            .map(|f| OutputRef {
                file: f.name.clone(),
                sha256: sha256_hex(&f.bytes),
                size_bytes: f.bytes.len() as u64,
            })
            .collect(),
        sizes: BTreeMap::from([
            (
                "weightBytes".to_owned(),
                if tflite {
                    model.len() as u64
                } else if quantize {
                    measured.weight_bytes.int8
                } else {
                    measured.weight_bytes.float32
                },
            ),
            ("arenaBytes".to_owned(), measured.arena_bytes),
            ("peakActivationBytes".to_owned(), measured.peak_activation_bytes),
            ("modelBytes".to_owned(), model.len() as u64),
            (
                "artifactBytes".to_owned(),
                artifact.files.iter().map(|f| f.bytes.len() as u64).sum(),
            ),
            (
                "deviceBytes".to_owned(),
                artifact
                    .device_bytes
                    .unwrap_or_else(|| artifact.files.iter().map(|f| f.bytes.len() as u64).sum()),
            ),
        ]),
        validation,
        log: artifact.log.clone(),
        signer: signer.reference(),
    };
    let bytes = package::seal(manifest.clone(), &artifact.files, signer)?;
    if let Some(cache) = cache {
        cache.put(&key, &bytes)?;
    }
    Ok(Compiled {
        sha256: sha256_hex(&bytes),
        package: bytes,
        manifest,
        files: artifact.files,
        cache_hit: false,
    })
}
