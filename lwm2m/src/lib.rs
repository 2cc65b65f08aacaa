//! SEAM's LwM2M device management over CoAP: registration, device facts, block-wise delivery.
//!
//! This crate knows nothing of RDF: it exchanges plain Rust values with the registry
//! (registrations, decoded resource values, delivery progress).
//!
//! - [`coap`]: the CoAP exchange layer on tokio UDP (retransmission, de-duplication, block-wise
//!   transfers in both directions, Observe).
//! - [`content`]: LwM2M content formats (text, opaque, TLV, SenML JSON and CBOR, LwM2M JSON) and
//!   CoRE Link Format.
//! - [`server`]: the LwM2M server: registration interface, device management, package serving
//!   and model delivery through Object 9 or Object 5.
//! - [`client`]: an LwM2M client with Objects 1, 3, 5, 9 and IPSO sensor objects, as the device
//!   simulator and the tests run it.

pub mod client;
pub mod coap;
pub mod content;
pub mod dtls;
#[doc(hidden)]
pub mod fuzzing;
pub mod server;

/// Errors of the LwM2M layer.
#[derive(Debug, thiserror::Error)]
pub enum Lwm2mError {
    /// A datagram or payload that does not decode.
    #[error("malformed message: {0}")]
    Malformed(String),
    /// The peer did not answer within the retransmission schedule.
    #[error("no answer from the peer (timed out)")]
    Timeout,
    /// The peer rejected the message with RST.
    #[error("the peer reset the exchange")]
    Reset,
    /// A body larger than the transfer allows.
    #[error("body too large for a block-wise transfer ({0} bytes)")]
    TooLarge(usize),
    /// The peer answered with an error code.
    #[error("the peer answered {code}: {reason}")]
    Refused {
        /// The CoAP code, as `4.04`.
        code: String,
        /// The diagnostic payload, if any.
        reason: String,
    },
    /// An endpoint name that is not registered.
    #[error("no registered endpoint named {0:?}")]
    UnknownEndpoint(String),
    /// A socket error.
    #[error("socket: {0}")]
    Io(#[from] std::io::Error),
}

/// Runs an operation again when it timed out, up to three attempts in all. Only for operations
/// that may be repeated: idempotent requests, and registrations (a second Register of the same
/// endpoint is a re-registration).
pub(crate) async fn again_on_timeout<T, F, Fut>(operation: F) -> Result<T, Lwm2mError>
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = Result<T, Lwm2mError>>,
{
    let mut attempts = 1;
    loop {
        match operation().await {
            Err(Lwm2mError::Timeout) if attempts < 3 => attempts += 1,
            other => return other,
        }
    }
}
