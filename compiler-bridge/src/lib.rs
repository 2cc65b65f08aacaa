//! SEAM's compiler bridge: measures, transforms, validates and packages models for targets.
//!
//! This crate knows nothing of RDF or of the registry: it takes model files and target
//! descriptions as plain Rust values and returns plain Rust results, which the registry turns into
//! triples.
//!
//! - [`analysis`]: what an ONNX model is and costs (params, MACs, activation memory), from the
//!   file, with tract-onnx;
//! - [`memory`]: liveness peak and a TFLM-style greedy arena planner;
//! - [`onnx_build`]: a small ONNX graph builder, used for the MLPerf Tiny reference architectures
//!   the tests and benchmarks measure.
//!
//! Transforms (int8), validation, backends and signed packages are the rest of the
//! compiler-bridge issue.

pub mod analysis;
pub mod backend;
pub mod memory;
pub mod onnx_build;
pub mod tflite;
pub mod transform;
pub mod validate;

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
    /// A model format or feature SEAM recognises but does not handle yet.
    #[error("unsupported: {0}")]
    Unsupported(String),
    /// A transformed model strays too far from its original.
    #[error("validation failed: {0}")]
    ValidationFailed(String),
}
