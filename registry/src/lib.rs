//! SEAM's knowledge graph and every use case that speaks about it.
//!
//! From the bottom up:
//! - [`store`]: the [`store::GraphStore`] trait (parsed queries and updates, commits of validated
//!   quads, change sets, pattern reads, length, version) and its embedded implementation;
//! - [`Registry`] ([`graph`]): SEAM's rules over any store — validated, all-or-nothing loads,
//!   bounded queries with values bound in the algebra, change sets under one writer lock;
//! - [`ingest`], [`validate`], [`answer::QueryAnswer`], [`iri`], [`data_dir::DataDir`];
//! - [`matching`]: explainable matchmaking over a fleet index keyed by the store's version;
//! - use cases: [`models`] (a model from its file), [`selection`] (which devices), [`packaging`]
//!   (compiling for a device, provenance), [`live`] (the LwM2M bridge), [`named`] (the named
//!   queries), [`client`] (a running service, for the CLI), [`directory`] (the WoT Thing
//!   Description Directory);
//! - [`graphql`] and [`http`]: the GraphQL schema and the actix-web service;
//! - [`app::Application`]: all of it wired, as `seam serve` runs it.

pub mod access;
pub mod answer;
pub mod app;
pub mod bind;
pub mod bundled;
mod cancel;
pub mod client;
pub mod data_dir;
pub mod demo;
pub mod directory;
pub mod error;
pub mod executor;
pub mod federation;
pub mod graph;
pub mod graphql;
pub mod guard;
pub mod http;
pub mod ingest;
pub mod iri;
pub mod live;
pub mod matching;
pub mod metrics;
pub mod models;
pub mod named;
pub mod packaging;
pub mod remote;
pub mod rollout;
pub mod selection;
pub mod store;
pub mod synth;
pub mod validate;
pub mod vocab;

pub use answer::QueryAnswer;
pub use error::{Diagnostic, IngestError, QueryError, StoreError};
pub use graph::{QueryLimits, Registry};
/// The compiler bridge (model analysis), for callers that measure models.
pub use seam_compiler_bridge as bridge;
/// The LwM2M protocol crate, for callers that configure the server the bridge serves.
pub use seam_lwm2m as lwm2m;
