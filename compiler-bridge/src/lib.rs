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
//!   the tests and benchmarks measure;
//! - [`tflite`]: the same measurements read from a TFLite flatbuffer, tract-tflite as a cross-check;
//! - [`transform`]: int8 weight quantisation (QDQ), batch-norm folding, magnitude pruning;
//! - [`validate`]: original and compiled model run side by side on seeded inputs;
//! - [`backend`]: the backend trait and the built-in backends (`onnx-int8`, `c-array`, and
//!   [`nnef`]'s `tract-nnef`); [`external`] declares command-line compilers and [`remote`]
//!   compile services behind the same trait;
//! - [`package`]: signed packages (Ed25519 over the manifest) and the package cache;
//! - [`compile`]: the pipeline that ties them together.

pub mod analysis;
pub mod backend;
pub mod backends;
pub mod compile;
pub mod external;
pub mod measured;
pub mod memory;
pub mod nnef;
pub mod onnx_build;
pub mod remote;
pub mod tflite;
pub mod tflite_micro;
pub mod transform;
pub mod validate;

impl From<seam_package::PackageError> for BridgeError {
    fn from(e: seam_package::PackageError) -> Self {
        Self::Package(e.0)
    }
}

/// The package format (manifests, signatures, archives, the cache): its own crate, shared with
/// whoever verifies packages without tract.
pub use seam_package as package;

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
    /// A backend could not compile the model (its own words, or why it could not run).
    #[error("backend {backend}: {message}")]
    Backend {
        /// The backend's name.
        backend: String,
        /// What went wrong.
        message: String,
    },
    /// A backend's tool could not be started (not installed, not executable): a fault of the
    /// machine, not of the model.
    #[error("backend {backend}: {message}")]
    ToolUnavailable {
        /// The backend's name.
        backend: String,
        /// What went wrong.
        message: String,
    },
    /// A package or its signing key is unusable: unreadable, tampered with, or signed by a key
    /// that is not trusted.
    #[error("package: {0}")]
    Package(String),
    /// A declaration of external compilers is malformed.
    #[error("{path}: {message}")]
    Declaration {
        /// The TOML file.
        path: String,
        /// What is wrong, with its line and column.
        message: String,
    },
}
