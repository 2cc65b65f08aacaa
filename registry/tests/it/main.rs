//! The registry's integration tests, in one binary (each test binary links RocksDB and tract
//! again; one binary links them once). Shared helpers live in `helpers`.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly by design

mod graphql;
mod helpers;
mod http;
mod lwm2m;
mod matching;
mod optimizer;
mod peers;
mod rollout;
mod seloc;
mod store;
