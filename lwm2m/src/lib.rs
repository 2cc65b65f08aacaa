//! SEAM's LwM2M device management over CoAP: registration, device facts, block-wise delivery.
//!
//! This crate knows nothing of RDF: it exchanges plain Rust values with the registry (registered
//! endpoints, their objects and resources, transfer results). The CoAP exchange layer, the LwM2M
//! server and the device simulator arrive with the LwM2M issue; until then the crate only fixes
//! the error type its API will return.

/// Errors of the LwM2M layer.
#[derive(Debug, thiserror::Error)]
pub enum Lwm2mError {
    /// A datagram or payload that does not decode.
    #[error("malformed message: {0}")]
    Malformed(String),
}
