//! The LwM2M crate's integration tests, in one binary: the CoAP exchange layer, and the server
//! and client over loopback UDP.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly by design

mod coap;
mod dtls;
mod lwm2m;
