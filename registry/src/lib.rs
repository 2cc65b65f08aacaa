//! SEAM's knowledge graph: the store, ingest and validation, queries, and the HTTP service.
//!
//! The crate's public surface is small on purpose:
//! - [`Registry`]: an embedded Oxigraph store with SEAM's rules (transactional, validated loads;
//!   bounded queries);
//! - [`ingest`]: parsing RDF files with precise positions, the SeLoC-ML importer;
//! - [`answer::QueryAnswer`]: a query's result, independent of where it was computed, with its
//!   serialisations;
//! - [`remote::SparqlEndpoint`]: the same queries against any SPARQL 1.1 Protocol endpoint;
//! - [`http`]: the actix-web service (SPARQL Protocol, update, health, GraphQL, deployments);
//! - [`packaging`]: backend choice and fit for a target device, package signing keys and cache,
//!   and the provenance of compiled packages;
//! - [`live`]: the LwM2M bridge that keeps devices' status, reports and deployments in the graph.

pub mod answer;
pub mod app;
pub mod bind;
pub mod bundled;
mod cancel;
pub mod client;
pub mod data_dir;
pub mod error;
pub mod executor;
pub mod graph;
pub mod graphql;
pub mod guard;
pub mod http;
pub mod ingest;
pub mod iri;
pub mod live;
pub mod matching;
pub mod models;
pub mod named;
pub mod packaging;
pub mod remote;
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
