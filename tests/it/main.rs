//! The `seam` binary's integration tests, in one test binary: the CLI as a user runs it (a real
//! `seam serve` process among them), external compilers, and third-party LwM2M clients.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly by design

mod browser;
mod cli;
mod common;
mod external_compiler;
mod interop;
mod wot;
