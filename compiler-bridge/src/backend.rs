//! Backends: what turns a (possibly transformed) model into an artifact for a kind of target.
//! Each is selectable by name; [`Backends`] lists them for `seam compile --list-backends`.
//!
//! Built in:
//! - `onnx-int8`: the model with int8 weights in QDQ form (an ONNX file tract and onnxruntime run);
//! - `c-array`: a C header and source holding the model bytes, 16-byte aligned, with the arena
//!   size the planner measured, the way MCU runtimes embed a model;
//! - `tract-nnef` ([`crate::nnef`]): an NNEF archive tract loads on Linux-class devices;
//! - `tflite-micro` ([`crate::tflite_micro`]): a TFLite flatbuffer and its C array, for TFLM.
//!
//! Declared: command-line compilers from a TOML file ([`crate::external`]) and compile services
//! over HTTP ([`crate::remote`]) implement the same trait.

use crate::analysis::analyze_bytes;
use crate::BridgeError;

pub use seam_package::ArtifactFile;

/// A compiled model in a form tract can run, so the pipeline can validate it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Runnable {
    /// The artifact file at this index is an ONNX model.
    Onnx(usize),
    /// The artifact file at this index is an NNEF archive.
    Nnef(usize),
    /// The artifact file at this index is a TFLite flatbuffer.
    Tflite(usize),
}

impl Runnable {
    /// The index of the runnable file.
    pub fn index(self) -> usize {
        match self {
            Self::Onnx(i) | Self::Nnef(i) | Self::Tflite(i) => i,
        }
    }

    /// That file's bytes as something validation runs.
    pub fn candidate(self, bytes: &[u8]) -> crate::validate::Candidate<'_> {
        use crate::validate::Candidate;
        match self {
            Self::Onnx(_) => Candidate::Onnx(bytes),
            Self::Nnef(_) => Candidate::Nnef(bytes),
            Self::Tflite(_) => Candidate::Tflite(bytes),
        }
    }
}

/// What a backend produced.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Artifact {
    /// The files, the main one first.
    pub files: Vec<ArtifactFile>,
    /// What the compiler printed (external compilers), for the report.
    pub log: String,
    /// Which file tract can run for validation, if any.
    pub runnable: Option<Runnable>,
    /// Bytes the artifact occupies on the device, when that is not the sum of its files (a C
    /// source is text; what lands in flash is the array it holds).
    pub device_bytes: Option<u64>,
}

/// One compilation asked of a backend.
#[derive(Debug, Clone, Copy)]
pub struct Job<'a> {
    /// The model (ONNX bytes, already transformed).
    pub model: &'a [u8],
    /// The name the outputs are derived from (a file stem).
    pub stem: &'a str,
    /// The target's name (a board or device short name), when there is one.
    pub target: Option<&'a str>,
}

/// A compiler backend.
pub trait Backend: Send + Sync {
    /// The name it is selected by.
    fn name(&self) -> &str;
    /// Its version (for the manifest and the cache key).
    fn version(&self) -> String;
    /// One line for `--list-backends`.
    fn description(&self) -> String;
    /// Whether it wants int8 weights whatever it was asked (`onnx-int8` does).
    fn quantizes(&self) -> bool {
        false
    }
    /// Whether it also takes a TFLite model (as it is: no transform applies to one).
    fn accepts_tflite(&self) -> bool {
        false
    }
    /// Compiles one job.
    fn compile(&self, job: &Job<'_>) -> Result<Artifact, BridgeError>;
}

/// The job's ONNX model as tract's decluttered typed model: what backends that write tract's own
/// formats (NNEF, TFLite) start from.
pub fn decluttered(backend: &dyn Backend, job: &Job<'_>) -> Result<tract_onnx::prelude::TypedModel, BridgeError> {
    use tract_onnx::prelude::*;
    tract_onnx::onnx()
        .model_for_read(&mut &job.model[..])
        .and_then(|m| m.into_typed())
        .and_then(|m| m.into_decluttered())
        .map_err(|e| BridgeError::Backend {
            backend: backend.name().to_owned(),
            message: format!("tract cannot load the model: {e:#}"),
        })
}

/// The ONNX file itself (after the requested transforms).
pub struct OnnxBackend;

impl Backend for OnnxBackend {
    fn name(&self) -> &str {
        "onnx-int8"
    }
    fn version(&self) -> String {
        env!("CARGO_PKG_VERSION").to_owned()
    }
    fn description(&self) -> String {
        "ONNX with int8 weights in QDQ form (quantises a float model), for tract or onnxruntime".into()
    }
    fn quantizes(&self) -> bool {
        true
    }
    fn compile(&self, job: &Job<'_>) -> Result<Artifact, BridgeError> {
        Ok(Artifact {
            files: vec![ArtifactFile {
                name: format!("{}.onnx", job.stem),
                bytes: job.model.to_vec(),
            }],
            log: String::new(),
            runnable: Some(Runnable::Onnx(0)),
            device_bytes: None,
        })
    }
}

/// The model as a C array, for firmware that embeds it.
pub struct CArrayBackend;

/// A C identifier from a file stem.
fn c_identifier(stem: &str) -> String {
    let mut id: String = stem
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_lowercase()
            } else {
                '_'
            }
        })
        .collect();
    if id.is_empty() || id.starts_with(|c: char| c.is_ascii_digit()) {
        id.insert_str(0, "model_");
    }
    id
}

impl CArrayBackend {
    /// A C source and header holding `model` as a 16-byte aligned array, with the arena size;
    /// `by` names the backend in the generated comments.
    pub fn embed(model: &[u8], stem: &str, arena: u64, by: &str) -> Vec<ArtifactFile> {
        let id = c_identifier(stem);
        let upper = id.to_ascii_uppercase();
        let sha = crate::analysis::sha256_hex(model);
        let header = format!(
            "/* Generated by SEAM's compiler bridge ({by} backend) from {stem}.\n * sha256 of the model: {sha} */\n\
             #ifndef {upper}_MODEL_H\n#define {upper}_MODEL_H\n\n#include <stddef.h>\n\n\
             /* Bytes of activation arena the model needs (greedy plan, 16-byte aligned tensors). */\n\
             #define {upper}_ARENA_SIZE {arena}u\n\n\
             extern const unsigned char {id}_model[];\nextern const size_t {id}_model_len;\n\n#endif\n",
        );
        let mut source = format!(
            "/* Generated by SEAM's compiler bridge ({by} backend). */\n#include \"{id}_model.h\"\n\n\
             _Alignas(16) const unsigned char {id}_model[] = {{\n"
        );
        for line in model.chunks(16) {
            source.push_str("   ");
            for byte in line {
                source.push_str(&format!(" 0x{byte:02x},"));
            }
            source.push('\n');
        }
        source.push_str(&format!("}};\nconst size_t {id}_model_len = {};\n", model.len()));
        vec![
            ArtifactFile {
                name: format!("{id}_model.c"),
                bytes: source.into_bytes(),
            },
            ArtifactFile {
                name: format!("{id}_model.h"),
                bytes: header.into_bytes(),
            },
        ]
    }
}

impl Backend for CArrayBackend {
    fn name(&self) -> &str {
        "c-array"
    }
    fn version(&self) -> String {
        env!("CARGO_PKG_VERSION").to_owned()
    }
    fn description(&self) -> String {
        "a C header and source with the model bytes (16-byte aligned) and the arena size".into()
    }
    fn accepts_tflite(&self) -> bool {
        true
    }
    fn compile(&self, job: &Job<'_>) -> Result<Artifact, BridgeError> {
        let analysis = analyze_bytes(job.model, None)?;
        Ok(Artifact {
            files: Self::embed(job.model, job.stem, analysis.arena_bytes, "c-array"),
            log: String::new(),
            runnable: None,
            device_bytes: Some(job.model.len() as u64),
        })
    }
}
