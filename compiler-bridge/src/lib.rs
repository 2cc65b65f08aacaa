//! SEAM's compiler bridge: measures, transforms, validates and packages models for targets.
//!
//! This crate knows nothing of RDF or of the registry: it takes model files and target
//! descriptions as plain Rust values and returns plain Rust results, which the registry turns into
//! triples. Analysis (tract-onnx), int8 quantisation, backends and signed packages arrive with the
//! compiler-bridge issue; until then the crate only fixes the error type its API will return.

/// Errors of the compiler bridge.
#[derive(Debug, thiserror::Error)]
pub enum BridgeError {
    /// The model file could not be read or is not a model SEAM understands.
    #[error("{path}: {message}")]
    InvalidModel {
        /// The model file.
        path: String,
        /// What is wrong with it.
        message: String,
    },
}
