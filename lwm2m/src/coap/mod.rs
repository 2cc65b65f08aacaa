//! CoAP (RFC 7252) with block-wise transfers (RFC 7959) and Observe (RFC 7641) on tokio UDP.
//!
//! coap-lite encodes and decodes messages; everything about exchanges is here.

pub mod block;
pub mod endpoint;
pub mod message;
pub mod params;

pub use block::Block;
pub use endpoint::{BoxFuture, Endpoint, EndpointStats, Handler, NotFound};
pub use message::{content_format, Reply, Request, Response};
pub use params::TransmissionParams;

pub use coap_lite::{RequestType as Method, ResponseType as Code};
