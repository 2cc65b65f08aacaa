//! The compiler bridge's integration tests, in one binary (each binary links tract again).

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly by design

mod analysis;
mod package;
mod tflite;
mod transform;
