//! Where the graph is kept: the [`GraphStore`] trait and its implementations.
//!
//! The trait is the whole contract between SEAM and a quad store, in the spirit of sophia's
//! `SparqlDataset` and of Oxigraph's split between its SPARQL engine and its storage: parsed
//! queries and updates in, owned answers out; writes as either a *commit* of validated quads (a
//! bulk load, or the replacement of a named graph) or a *change set* (quads to delete, then
//! quads to insert); the few pattern reads validation needs; a length; a version. Every write is
//! one call, so a store reached over the SPARQL 1.1 Protocol can take each in one request.
//!
//! SEAM's rules (validation, limits, the writer lock, the evaluation threads) live above the
//! trait, in [`crate::graph::Registry`]; an implementation only stores and evaluates.
//!
//! - [`embedded`]: Oxigraph on RocksDB or in memory, the only module that touches
//!   `oxigraph::store`;
//! - [`change`]: change sets, and the draft that builds one while reading through it;
//! - [`conformance`]: the suite every implementation passes.

pub mod change;
pub mod conformance;
pub mod embedded;
pub mod remote;

use oxigraph::model::{GraphName, NamedNode, NamedOrBlankNode, Quad, Term};
use oxigraph::sparql::CancellationToken;

use crate::answer::QueryAnswer;
use crate::error::{QueryError, StoreError};

pub use change::{ChangeSet, Draft};
pub use embedded::{bulk_load_split, EmbeddedStore};
pub use remote::{RemoteConfig, RemoteStore};

/// [`GraphStore::commit_checked`] the plain way: `check` first, then the commit if it said yes.
pub(crate) fn check_then_commit<S: GraphStore + ?Sized>(
    store: &S,
    commit: Commit<'_>,
    check: &(dyn Fn() -> Result<bool, StoreError> + Sync),
) -> Result<bool, StoreError> {
    if !check()? {
        return Ok(false);
    }
    store.commit(commit)?;
    Ok(true)
}

/// A quad store SEAM can keep its graph in. Cheap handles are expected: the registry holds one
/// behind an `Arc` and calls it from many threads.
pub trait GraphStore: Send + Sync + std::fmt::Debug {
    /// Evaluates a parsed query. The default graph is the union of all graphs unless the query
    /// names its dataset (FROM / FROM NAMED). Evaluation stops when `run.cancel` is cancelled
    /// (the caller turns that into its own timeout error) and when the answer outgrows
    /// `run.max_rows` or `run.max_result_bytes`.
    fn query(&self, query: spargebra::Query, run: &Evaluation) -> Result<QueryAnswer, QueryError>;

    /// Evaluates a parsed update atomically: all of it is written, or nothing.
    fn update(&self, update: spargebra::Update, run: &Evaluation) -> Result<(), QueryError>;

    /// Writes validated quads in one atomic step.
    fn commit(&self, commit: Commit<'_>) -> Result<(), StoreError>;

    /// Writes `commit` like [`Self::commit`] if `check` answers yes, and nothing if it answers
    /// no; answers whether it wrote. `check` reads the store as it was before this write: a store
    /// may run it while it prepares the write (the embedded store writes a bulk load's files
    /// meanwhile and takes them in only after a yes).
    fn commit_checked(
        &self,
        commit: Commit<'_>,
        check: &(dyn Fn() -> Result<bool, StoreError> + Sync),
    ) -> Result<bool, StoreError> {
        check_then_commit(self, commit, check)
    }

    /// Deletes, then inserts, in one atomic step.
    fn apply(&self, changes: &ChangeSet) -> Result<(), StoreError>;

    /// The quads matching a pattern (`None` matches anything), in no particular order.
    fn quads_for_pattern(&self, pattern: QuadPattern<'_>) -> Result<Vec<Quad>, StoreError>;

    /// Number of quads.
    fn len(&self) -> Result<usize, StoreError>;

    /// Whether the store holds nothing.
    fn is_empty(&self) -> Result<bool, StoreError> {
        Ok(self.len()? == 0)
    }

    /// Changes whenever the store is written (by this process); what is derived from the graph
    /// (the fleet index, the board index) is valid for one version.
    fn version(&self) -> u64;

    /// Like [`GraphStore::version`], but moved by other writers (services sharing a remote
    /// store) only when they may have changed what the graph describes, not by their writes of
    /// state alone ([`ChangeSet::describes`]). Every write through this handle moves it.
    fn described_version(&self) -> u64 {
        self.version()
    }

    /// What the store keeps in memory by its own count, where it keeps anything there (the
    /// embedded store's replica); `None` elsewhere.
    fn memory_bytes(&self) -> Option<usize> {
        None
    }

    /// Makes what was committed durable beyond the write-ahead log (a no-op where there is none).
    fn flush(&self) -> Result<(), StoreError> {
        Ok(())
    }
}

/// How one evaluation runs: its cancellation and the bounds of its answer.
#[derive(Clone)]
pub struct Evaluation {
    /// Cancelled by the registry's watchdog at the deadline, or at shutdown.
    pub cancel: CancellationToken,
    /// Largest number of solutions or triples collected.
    pub max_rows: usize,
    /// Largest answer, in bytes of terms (see [`QueryAnswer::collect`]).
    pub max_result_bytes: usize,
    /// The SERVICE endpoints a query may call (IRI prefixes); empty: none.
    pub services: std::sync::Arc<[String]>,
    /// When the evaluation must be done (a SERVICE call gets what is left).
    pub timeout: std::time::Duration,
}

impl std::fmt::Debug for Evaluation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Evaluation")
            .field("cancelled", &self.cancel.is_cancelled())
            .field("max_rows", &self.max_rows)
            .field("max_result_bytes", &self.max_result_bytes)
            .finish()
    }
}

impl Evaluation {
    /// An evaluation bounded only by `cancel` (the registry's own queries, scratch stores).
    pub fn unbounded() -> Self {
        Self {
            cancel: CancellationToken::new(),
            max_rows: usize::MAX,
            max_result_bytes: usize::MAX,
            services: std::sync::Arc::from([]),
            timeout: std::time::Duration::from_secs(30),
        }
    }
}

/// A quad pattern: `None` matches any term.
#[derive(Debug, Clone, Copy, Default)]
pub struct QuadPattern<'a> {
    /// The subject.
    pub subject: Option<&'a NamedOrBlankNode>,
    /// The predicate.
    pub predicate: Option<&'a NamedNode>,
    /// The object.
    pub object: Option<&'a Term>,
    /// The graph (`Some(&GraphName::DefaultGraph)` for the default graph alone).
    pub graph: Option<&'a GraphName>,
}

impl QuadPattern<'_> {
    /// Whether `quad` matches.
    pub fn matches(&self, quad: &Quad) -> bool {
        self.subject.is_none_or(|s| *s == quad.subject)
            && self.predicate.is_none_or(|p| *p == quad.predicate)
            && self.object.is_none_or(|o| *o == quad.object)
            && self.graph.is_none_or(|g| *g == quad.graph_name)
    }
}

/// A write of validated data, committed whole or not at all.
#[derive(Debug, Clone, Copy)]
pub enum Commit<'a> {
    /// Adds the quads as they are, each in its own graph (a bulk load).
    Load {
        /// The quads, in parts (one per document).
        parts: &'a [&'a [Quad]],
    },
    /// Adds `seed` as it is and replaces everything in the named graph `graph` with `parts`
    /// (whatever graph their quads name): re-importing a source replaces it.
    ReplaceGraph {
        /// The graph replaced.
        graph: &'a NamedNode,
        /// Quads added as they are (the ontology and catalog of a store seeded by this commit).
        seed: &'a [&'a [Quad]],
        /// The graph's new content.
        parts: &'a [&'a [Quad]],
    },
    /// In one transaction: adds `seed` as it is (whatever graph its quads name), and replaces
    /// everything in each named graph with its quads (their own graph names ignored). Several
    /// registry objects (Thing Descriptions) reloaded at once, all or none.
    ReplaceGraphs {
        /// Quads added as they are.
        seed: &'a [&'a [Quad]],
        /// Each graph and its new content.
        graphs: &'a [(&'a NamedNode, &'a [Quad])],
    },
}
