//! Registering a model from its file: measured by the compiler bridge, described as RDF
//! (`ingest::onnx`), loaded with the shapes' validation, and the file kept in the data folder,
//! content-addressed. `seam load` and `POST /models` both come here.

use std::path::{Path, PathBuf};

use seam_compiler_bridge::analysis::{analyze_bytes, analyze_path, Analysis};

use crate::data_dir::DataDir;
use crate::error::IngestError;
use crate::graph::{LoadReport, Registry};
use crate::ingest::onnx::{describe_deployed, ModelFacts};
use crate::ingest::Document;

/// Why a model could not be registered; nothing was written.
#[derive(Debug, thiserror::Error)]
pub enum ModelError {
    /// The file is not a model SEAM can measure.
    #[error(transparent)]
    Invalid(#[from] seam_compiler_bridge::BridgeError),
    /// Its description (or another document of the load) is invalid, or the store failed.
    #[error(transparent)]
    Ingest(#[from] IngestError),
    /// The model's file could not be kept in the data folder (the graph has the model).
    #[error("cannot keep the model file in {}: {source}", dir.display())]
    Keep {
        /// The folder.
        dir: PathBuf,
        /// What failed.
        #[source]
        source: std::io::Error,
    },
}

/// A model file measured and described, not yet loaded.
#[derive(Debug, Clone)]
pub struct ModelFile {
    /// What the bridge measured.
    pub analysis: Analysis,
    /// The model's description, as a document to load.
    pub document: Document,
    bytes: Vec<u8>,
}

/// The model format a file's extension names (`onnx` or `tflite`), if any.
pub fn model_format(path: &Path) -> Option<&'static str> {
    let ext = path.extension().and_then(|e| e.to_str())?;
    ["onnx", "tflite"].into_iter().find(|f| ext.eq_ignore_ascii_case(f))
}

impl ModelFile {
    /// Measures the model file at `path` (external data may come from its folder only).
    pub fn read(path: &Path, facts: &ModelFacts) -> Result<Self, ModelError> {
        let analysis = analyze_path(path)?;
        let bytes = std::fs::read(path).map_err(|source| IngestError::Io {
            path: path.to_owned(),
            source,
        })?;
        let document = describe_deployed(path, &analysis, deployed(&analysis, &bytes).as_ref(), facts)?;
        Ok(Self {
            analysis,
            document,
            bytes,
        })
    }

    /// Measures a model received as bytes, named `name` (its label; no external data).
    pub fn from_bytes(name: &str, bytes: Vec<u8>, facts: &ModelFacts) -> Result<Self, ModelError> {
        let analysis = analyze_bytes(&bytes, None)?;
        let label = PathBuf::from(format!("{name}.{}", analysis.format));
        let document = describe_deployed(&label, &analysis, deployed(&analysis, &bytes).as_ref(), facts)?;
        Ok(Self {
            analysis,
            document,
            bytes,
        })
    }

    /// The model's IRI (content-addressed).
    pub fn iri(&self) -> String {
        crate::iri::model(&self.analysis.sha256).into_string()
    }

    /// Keeps the file as `models/<sha256>.<format>` in `data` (write, then rename: never a
    /// truncated file under a digest name); returns where.
    pub fn keep(&self, data: &DataDir) -> Result<PathBuf, ModelError> {
        let dir = data.models();
        let keep_error = |source| ModelError::Keep {
            dir: dir.clone(),
            source,
        };
        let target = dir.join(format!("{}.{}", self.analysis.sha256, self.analysis.format));
        if target.exists() {
            return Ok(target);
        }
        std::fs::create_dir_all(&dir).map_err(keep_error)?;
        let mut partial = tempfile::Builder::new()
            .prefix(".partial-")
            .tempfile_in(&dir)
            .map_err(keep_error)?;
        std::io::Write::write_all(&mut partial, &self.bytes).map_err(keep_error)?;
        partial.persist(&target).map_err(|e| keep_error(e.error))?;
        Ok(target)
    }
}

/// An ONNX model as every backend receives it (batch normalisations folded), measured; `None`
/// for TFLite (built as it is) or when folding does not apply.
fn deployed(analysis: &Analysis, bytes: &[u8]) -> Option<Analysis> {
    if analysis.format == "tflite" {
        return None;
    }
    let folded = seam_compiler_bridge::compile::folded(bytes).ok()?;
    analyze_bytes(&folded, None).ok()
}

/// What a registration did.
#[derive(Debug, Clone)]
pub struct Registered {
    /// The load.
    pub report: LoadReport,
    /// Whether the store was new and got the ontology and catalog in the same load.
    pub seeded: bool,
    /// Each model's IRI and where its file was kept.
    pub models: Vec<(String, Option<PathBuf>)>,
}

/// Loads `models` together with `documents` in one validated, all-or-nothing load (a new store
/// gets the ontology and catalog in it too), then keeps the model files in `data`.
pub fn register(
    registry: &Registry,
    data: &DataDir,
    models: &[ModelFile],
    mut documents: Vec<Document>,
) -> Result<Registered, ModelError> {
    documents.extend(models.iter().map(|m| m.document.clone()));
    let (report, seeded) = registry.load_seeding(documents)?;
    let mut kept = Vec::with_capacity(models.len());
    for model in models {
        // Kept in a scratch folder too: a rollout of the model compiles it from this file.
        let at = Some(model.keep(data)?);
        kept.push((model.iri(), at));
    }
    Ok(Registered {
        report,
        seeded,
        models: kept,
    })
}
