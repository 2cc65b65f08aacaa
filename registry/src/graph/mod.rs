//! SEAM's knowledge graph: a [`GraphStore`] with SEAM's rules around it.
//!
//! - A load is parsed, validated against the shapes, and only then committed, in one atomic
//!   step: a file that fails leaves the store exactly as it was.
//! - A query runs on the evaluation threads with a time limit (cancelled, not abandoned) and a
//!   result-size limit.
//! - Writers are serialised from validation (or a precondition) to commit.

pub(crate) mod clock;
mod things;

use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use oxigraph::io::RdfFormat;
pub use oxigraph::model::NamedNode;
use oxigraph::model::{Literal, Term};
use oxigraph::sparql::CancellationToken;

use crate::answer::QueryAnswer;
use crate::bind::Bindings;
use crate::bundled;
use crate::cancel::Evaluations;
use crate::error::{IngestError, QueryError, StoreError};
use crate::executor::{Executor, ExecutorLimits};
use crate::guard::{self, ShapeLimits};
use crate::ingest::{parse_document, Document};
use crate::store::{ChangeSet, Commit, Draft, EmbeddedStore, Evaluation, GraphStore, QuadPattern};
use crate::validate::Shapes;
use crate::vocab::PREFIXES;

/// Limits applied to every query.
#[derive(Debug, Clone, Copy)]
pub struct QueryLimits {
    /// Wall-clock limit; the query is cancelled when it is reached.
    pub timeout: Duration,
    /// Largest number of solutions or triples returned.
    pub max_rows: usize,
    /// Largest answer, counted as the bytes of the terms' text: rows alone do not bound memory
    /// (a million rows of long literals), and the answer is held whole before it is sent.
    pub max_result_bytes: usize,
    /// Length and nesting of the text and depth of its algebra.
    pub shape: ShapeLimits,
}

impl Default for QueryLimits {
    fn default() -> Self {
        Self {
            timeout: Duration::from_secs(30),
            max_rows: 1_000_000,
            max_result_bytes: 256 * 1024 * 1024,
            shape: ShapeLimits::default(),
        }
    }
}

/// Why a [`Registry::load_when`] wrote nothing.
#[derive(Debug)]
pub enum Guarded<E> {
    /// The precondition failed.
    Precondition(E),
    /// The documents were invalid or the store failed.
    Load(IngestError),
}

/// What a load did.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct LoadReport {
    /// Documents loaded.
    pub documents: usize,
    /// Quads read from them (duplicates of existing facts included).
    pub quads_read: usize,
    /// Quads in the store after the load.
    pub store_size: usize,
}

/// SEAM's knowledge graph on a [`GraphStore`]. Cheap to clone (shared handle).
#[derive(Clone)]
pub struct Registry {
    store: Arc<dyn GraphStore>,
    shapes: Arc<Shapes>,
    /// Queries run so far (observability, and tests that bound the queries of a request).
    queries_run: Arc<AtomicU64>,
    /// The threads SPARQL is evaluated on, with the queue in front of them.
    executor: Arc<Executor>,
    /// Held from validation to commit of every write: a constraint checked against the store
    /// (one short name per device, say) still holds when the write lands, whatever other
    /// writers do meanwhile.
    writer: Arc<Mutex<()>>,
    /// Cancellation tokens of the queries and updates running now, so that a shutdown can stop
    /// them instead of waiting for their time limits.
    running: Arc<Evaluations>,
    /// The SERVICE endpoints queries may call (IRI prefixes; `--allow-service`).
    services: Arc<[String]>,
    /// This service among several on one store (`urn:seam:instance:…`); `None`: the only one.
    instance: Option<NamedNode>,
    /// The version of what the graph describes (see [`Registry::facts_version`]).
    facts: Arc<clock::FactsClock>,
}

impl std::fmt::Debug for Registry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Registry")
            .field("store", &self.store)
            .finish_non_exhaustive()
    }
}

fn bundled_shapes() -> Result<Arc<Shapes>, StoreError> {
    // The shapes are compiled in and tested; failing to parse them is a build defect, reported as
    // a storage-level error rather than a panic.
    Shapes::parse(bundled::shapes())
        .map(Arc::new)
        .map_err(|e| StoreError::Storage(format!("bundled shapes.ttl: {e}").into()))
}

impl Registry {
    /// SEAM's rules over `store`.
    pub fn new(store: Arc<dyn GraphStore>) -> Result<Self, StoreError> {
        Ok(Self {
            store,
            shapes: bundled_shapes()?,
            queries_run: Arc::new(AtomicU64::new(0)),
            executor: Arc::new(Executor::new(ExecutorLimits::default())),
            writer: Arc::new(Mutex::new(())),
            running: Arc::new(Evaluations::default()),
            services: Arc::from([]),
            instance: None,
            facts: Arc::new(clock::FactsClock::default()),
        })
    }

    /// The same store, as the instance `instance` among several services on it: what it
    /// recovers at start (devices online, deliveries in flight, rollouts to drive) is only what
    /// it served itself. Call before sharing the handle.
    pub fn with_instance(mut self, instance: NamedNode) -> Self {
        self.instance = Some(instance);
        self
    }

    /// This service among several on one store; `None` when it is the only one.
    pub fn instance(&self) -> Option<&NamedNode> {
        self.instance.as_ref()
    }

    /// Opens (or creates) the embedded RocksDB store in `path`.
    pub fn open(path: &Path) -> Result<Self, StoreError> {
        Self::new(Arc::new(EmbeddedStore::open(path)?))
    }

    /// Opens (or creates) the embedded RocksDB store in `path`, answering queries from a
    /// replica in memory while the store holds at most `max_quads` quads (what `seam serve`
    /// opens; see `store::embedded`).
    pub fn open_with_replica(path: &Path, max_quads: usize) -> Result<Self, StoreError> {
        Self::new(Arc::new(EmbeddedStore::open_with_replica(path, max_quads)?))
    }

    /// An embedded in-memory store (tests, tools).
    pub fn in_memory() -> Result<Self, StoreError> {
        Self::new(Arc::new(EmbeddedStore::in_memory()?))
    }

    /// The store underneath.
    pub fn store(&self) -> &dyn GraphStore {
        self.store.as_ref()
    }

    /// The same store with its own evaluation pool of `limits` (call before sharing the handle:
    /// clones made earlier keep the pool they had).
    pub fn with_executor(mut self, limits: ExecutorLimits) -> Self {
        self.executor = Arc::new(Executor::new(limits));
        self
    }

    /// The same store, letting queries call the SPARQL endpoints whose IRIs start with one of
    /// `prefixes` (`http:` or `https:`) in a `SERVICE`; every other `SERVICE` stays refused.
    /// Call before sharing the handle.
    pub fn with_allowed_services(mut self, prefixes: Vec<String>) -> Self {
        self.services = prefixes.into();
        self
    }

    /// Number of SPARQL queries this registry has evaluated.
    pub fn queries_run(&self) -> u64 {
        self.queries_run.load(Ordering::Relaxed)
    }

    /// The store's version: changes whenever the store is written. What is derived from the
    /// graph (the fleet index, the board index) is valid for one version.
    pub fn version(&self) -> u64 {
        self.store.version()
    }

    /// The version of what the graph describes: moved by every write except SEAM's own writes
    /// of a device's or a delivery's state alone (a check-in, a delivery step:
    /// [`crate::store::ChangeSet::describes`]). What is derived from descriptions (the fleet
    /// index) is valid for one such version, and is not read again because a device checked in.
    pub fn facts_version(&self) -> u64 {
        self.facts.read(self.store.described_version())
    }

    /// Number of quads.
    pub fn len(&self) -> Result<usize, StoreError> {
        self.store.len()
    }

    /// Whether the store holds nothing.
    pub fn is_empty(&self) -> Result<bool, StoreError> {
        self.store.is_empty()
    }

    /// Seeds an empty store with the ontology and the example catalog; does nothing (returns
    /// `None`) when the store already holds data.
    pub fn seed_if_empty(&self) -> Result<Option<LoadReport>, IngestError> {
        if !self.is_empty()? {
            return Ok(None);
        }
        let docs = bundled_documents()?;
        self.load(&docs).map(Some)
    }

    /// Like [`Self::load`], but an empty store first gets the ontology and the example catalog,
    /// in the same atomic load: if `docs` are invalid, the store stays empty. Returns whether
    /// the store was seeded.
    pub fn load_seeding(&self, docs: Vec<Document>) -> Result<(LoadReport, bool), IngestError> {
        if !self.is_empty()? {
            return self.load(&docs).map(|r| (r, false));
        }
        let mut all = bundled_documents()?;
        all.extend(docs);
        self.load(&all).map(|r| (r, true))
    }

    /// Validates `docs` together with the store's content and commits them in one atomic
    /// bulk load. On any violation nothing is written and every problem is returned.
    pub fn load(&self, docs: &[Document]) -> Result<LoadReport, IngestError> {
        let _writer = self.write_lock();
        self.load_locked(docs)
    }

    /// Like [`Self::load`], but `precondition` is checked first, with no other write in between
    /// until the load commits: a check such as "no device has this short name yet" still holds
    /// when the load lands, however many clients try at once.
    pub fn load_when<E>(
        &self,
        docs: &[Document],
        precondition: impl FnOnce(&Self) -> Result<(), E>,
    ) -> Result<LoadReport, Guarded<E>> {
        let _writer = self.write_lock();
        precondition(self).map_err(Guarded::Precondition)?;
        self.load_locked(docs).map_err(Guarded::Load)
    }

    fn load_locked(&self, docs: &[Document]) -> Result<LoadReport, IngestError> {
        let quads_read = docs.iter().map(|d| d.quads.len()).sum();
        let parts: Vec<&[oxigraph::model::Quad]> = docs.iter().map(|d| d.quads.as_slice()).collect();
        // The shapes are checked while the store prepares the load (see `commit_checked`).
        let diagnostics = std::sync::Mutex::new(Vec::new());
        let store = self.store.as_ref();
        let check = || -> Result<bool, StoreError> {
            let started = std::time::Instant::now();
            let found = self.shapes.validate(docs, store)?;
            tracing::debug!(micros = started.elapsed().as_micros() as u64, "validated");
            let passed = found.is_empty();
            if let Ok(mut kept) = diagnostics.lock() {
                *kept = found;
            }
            Ok(passed)
        };
        if !self.store.commit_checked(Commit::Load { parts: &parts }, &check)? {
            let found = diagnostics.into_inner().unwrap_or_default();
            return Err(IngestError::Invalid(found));
        }
        Ok(LoadReport {
            documents: docs.len(),
            quads_read,
            store_size: self.len()?,
        })
    }

    /// Validates `docs` like [`Self::load`] and replaces the content of the named graph `graph`
    /// with them, in one transaction: re-importing a source replaces it instead of duplicating
    /// its blank nodes.
    pub fn replace_graph(&self, graph: &NamedNode, docs: &[Document]) -> Result<LoadReport, IngestError> {
        self.commit_graph(graph, &[], docs)
    }

    /// Like [`Self::replace_graph`], but an empty store first gets the ontology and the example
    /// catalog (in the default graph), in the same transaction. Returns whether it was seeded.
    pub fn replace_graph_seeding(
        &self,
        graph: &NamedNode,
        docs: &[Document],
    ) -> Result<(LoadReport, bool), IngestError> {
        if !self.is_empty()? {
            return self.replace_graph(graph, docs).map(|r| (r, false));
        }
        self.commit_graph(graph, &bundled_documents()?, docs).map(|r| (r, true))
    }

    /// Validates `seed` and `docs` together, then in one transaction adds `seed` as it is and
    /// replaces the content of `graph` with `docs`.
    fn commit_graph(&self, graph: &NamedNode, seed: &[Document], docs: &[Document]) -> Result<LoadReport, IngestError> {
        let _writer = self.write_lock();
        // Validation reads the documents as one slice; only a seeding commit needs to join two.
        let diagnostics = if seed.is_empty() {
            self.shapes
                .validate_replacing(docs, self.store.as_ref(), std::slice::from_ref(graph))?
        } else {
            let all: Vec<Document> = seed.iter().chain(docs).cloned().collect();
            self.shapes
                .validate_replacing(&all, self.store.as_ref(), std::slice::from_ref(graph))?
        };
        if !diagnostics.is_empty() {
            return Err(IngestError::Invalid(diagnostics));
        }
        let seed: Vec<&[oxigraph::model::Quad]> = seed.iter().map(|d| d.quads.as_slice()).collect();
        let parts: Vec<&[oxigraph::model::Quad]> = docs.iter().map(|d| d.quads.as_slice()).collect();
        let quads_read = parts.iter().map(|p| p.len()).sum();
        self.store.commit(Commit::ReplaceGraph {
            graph,
            seed: &seed,
            parts: &parts,
        })?;
        Ok(LoadReport {
            documents: docs.len(),
            quads_read,
            store_size: self.len()?,
        })
    }

    /// Runs a SPARQL query with SEAM's prefixes predeclared, within `limits`. The default graph
    /// is the union of all graphs unless the query says otherwise.
    pub fn query(&self, sparql: &str, limits: &QueryLimits) -> Result<QueryAnswer, QueryError> {
        self.query_bound(sparql, Bindings::default(), limits)
    }

    /// Runs a query with terms bound to its variables in the algebra (never in the text): the
    /// way SEAM asks its own questions with values that came from outside.
    pub fn query_bound(
        &self,
        sparql: &str,
        bindings: Bindings,
        limits: &QueryLimits,
    ) -> Result<QueryAnswer, QueryError> {
        guard::check_text(sparql, &limits.shape)?;
        let sparql = sparql.to_owned();
        self.evaluate(limits, move || {
            let parsed = sparql_parser()?
                .parse_query(&sparql)
                .map_err(|e| QueryError::syntax(e.to_string()))?;
            // Parameters are written into the algebra as constants, or joined as a VALUES leaf
            // where a constant would change the query (see `bind`): planned with the pattern.
            if bindings.is_empty() {
                Ok(parsed)
            } else {
                bindings
                    .apply(parsed)
                    .map_err(|e| QueryError::Evaluation(e.to_string()))
            }
        })
    }

    /// Evaluates a query SEAM built as algebra (a typed builder, a named query already bound),
    /// within `limits`: no text is parsed, the algebra's shape is still checked.
    pub fn query_algebra(&self, query: spargebra::Query, limits: &QueryLimits) -> Result<QueryAnswer, QueryError> {
        self.evaluate(limits, move || Ok(query))
    }

    /// Runs `prepare` (parsing, binding) and then the query on an evaluation thread, within
    /// `limits`; the wait in the queue counts against the deadline.
    fn evaluate(
        &self,
        limits: &QueryLimits,
        prepare: impl FnOnce() -> Result<spargebra::Query, QueryError> + Send + 'static,
    ) -> Result<QueryAnswer, QueryError> {
        self.queries_run.fetch_add(1, Ordering::Relaxed);
        let limits = *limits;
        let store = self.store.clone();
        let running = self.running.clone();
        let services = self.services.clone();
        let deadline = Instant::now() + limits.timeout;
        self.executor.run(deadline, limits.timeout, move || {
            let parsed = prepare()?;
            guard::check_query(&parsed, &limits.shape, &services)?;
            watched(&running, deadline, &limits, &services, |run| store.query(parsed, run))
        })
    }

    /// Runs a named query with its parameters bound (by substitution, never by text).
    pub fn query_named(
        &self,
        query: &crate::named::NamedQuery,
        bindings: Vec<(String, Term)>,
        limits: &QueryLimits,
    ) -> Result<QueryAnswer, QueryError> {
        self.query_bound(&query.text, Bindings::of(bindings), limits)
    }

    /// Whether any device has this short name.
    pub fn short_name_taken(&self, short_name: &str) -> Result<bool, QueryError> {
        let name = Literal::new_simple_literal(short_name);
        self.ask("ASK { ?d a seam:Device ; seam:shortName ?name }", ("name", name.into()))
    }

    /// Whether `iri` is a device.
    pub fn is_device(&self, iri: &str) -> Result<bool, QueryError> {
        let node = NamedNode::new(iri).map_err(|e| QueryError::Evaluation(format!("<{iri}>: {e}")))?;
        self.ask("ASK { ?d a seam:Device }", ("d", node.into()))
    }

    /// An ASK with one parameter bound.
    fn ask(&self, sparql: &str, (name, value): (&str, Term)) -> Result<bool, QueryError> {
        let answer = self.query_bound(
            sparql,
            Bindings::of(vec![(name.into(), value)]),
            &QueryLimits::default(),
        )?;
        Ok(matches!(answer, QueryAnswer::Boolean(true)))
    }

    /// The IRI of the device with this short name, if there is exactly one.
    pub fn device_by_short_name(&self, short_name: &str) -> Result<Option<String>, QueryError> {
        let answer = self.query_bound(
            "SELECT ?d ?name WHERE { ?d a seam:Device ; seam:shortName ?name } LIMIT 2",
            Bindings::of(vec![("name".into(), Literal::new_simple_literal(short_name).into())]),
            &QueryLimits::default(),
        )?;
        Ok(match answer {
            QueryAnswer::Solutions { rows, .. } if rows.len() == 1 => match rows[0].first() {
                Some(Some(Term::NamedNode(n))) => Some(n.as_str().to_owned()),
                _ => None,
            },
            _ => None,
        })
    }

    /// Runs a SPARQL update atomically, within the default limits.
    pub fn update(&self, sparql: &str) -> Result<(), QueryError> {
        self.update_within(sparql, &QueryLimits::default())
    }

    /// Runs a SPARQL update atomically: its shape is checked like a query's, it is evaluated on
    /// an evaluation thread, and it is cancelled (nothing written) at the time limit.
    pub fn update_within(&self, sparql: &str, limits: &QueryLimits) -> Result<(), QueryError> {
        guard::check_text(sparql, &limits.shape)?;
        let limits = *limits;
        let sparql = sparql.to_owned();
        let store = self.store.clone();
        let deadline = Instant::now() + limits.timeout;
        let running = self.running.clone();
        // The writer lock is taken here, by the caller, not on the evaluation thread: a writer
        // holding it may itself wait for an evaluation thread (a precondition's query), and
        // evaluation threads blocked on the lock would leave it waiting until its deadline.
        let _writer = self.write_lock();
        self.executor.run(deadline, limits.timeout, move || {
            let parsed = sparql_parser()?
                .parse_update(&sparql)
                .map_err(|e| QueryError::syntax(e.to_string()))?;
            guard::check_update(&parsed, &limits.shape)?;
            watched(&running, deadline, &limits, &Arc::from([]), |run| {
                store.update(parsed, run)
            })
        })
    }

    /// The quads matching `pattern` (index lookups the service makes itself, not user queries).
    pub fn quads_for_pattern(&self, pattern: QuadPattern<'_>) -> Result<Vec<oxigraph::model::Quad>, StoreError> {
        self.store.quads_for_pattern(pattern)
    }

    /// Builds a change set with `change`, reading the store through the draft, and applies it
    /// in one step, with no other SEAM write in between. For facts the service derives itself
    /// (device reports over LwM2M, deployments, provenance); files and user updates go through
    /// [`Registry::load`] and [`Registry::update`], which validate. Nothing is written if a read
    /// failed.
    pub fn change<T>(&self, change: impl FnOnce(&mut Draft<'_>) -> T) -> Result<T, StoreError> {
        let _writer = self.write_lock();
        let mut draft = Draft::new(self.store.as_ref());
        let out = change(&mut draft);
        let changes: ChangeSet = draft.finish()?;
        if changes.is_empty() {
            return Ok(out);
        }
        let before = self.store.described_version();
        let applied = self.store.apply(&changes);
        // Even a failed write may have been applied in part: accounted for as one that
        // changed the description.
        self.facts.wrote(
            before,
            self.store.described_version(),
            applied.is_err() || changes.describes(),
        );
        applied?;
        Ok(out)
    }

    /// Cancels every query and update running now and refuses new ones: a service that was told
    /// to stop does not wait for a runaway evaluation's time limit (an update cancelled this way
    /// writes nothing).
    pub fn stop_evaluations(&self) {
        self.running.stop_all();
    }

    /// Serialises writers (see the field). A writer that panicked left nothing half-done behind
    /// the lock (its change was never applied), so a poisoned lock is taken over.
    fn write_lock(&self) -> std::sync::MutexGuard<'_, ()> {
        self.writer.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Makes what was committed durable beyond the write-ahead log (RocksDB's memtables).
    pub fn flush(&self) -> Result<(), StoreError> {
        self.store.flush()
    }

    /// Closes the store on this thread: waits, up to `within`, until this is the last handle
    /// to it (the HTTP workers and background tasks drop theirs as they stop), then drops it,
    /// which closes an embedded store. Answers whether it was the last.
    ///
    /// A process must not exit while another thread is still closing RocksDB: the exit runs
    /// RocksDB's static destructors under that thread's feet (seen as a heap corruption when
    /// `seam serve` stopped while an HTTP worker dropped the last handle).
    pub fn close(self, within: Duration) -> bool {
        let deadline = Instant::now() + within;
        while Arc::strong_count(&self.store) > 1 {
            if Instant::now() >= deadline {
                tracing::warn!(
                    target: "seam",
                    handles = Arc::strong_count(&self.store) - 1,
                    "the store is still in use after the shutdown; leaving it to close with the process"
                );
                return false;
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        drop(self);
        true
    }
}

/// Runs `evaluate` with a cancellation token the watchdog fires at `deadline` (or a shutdown
/// fires at once) and the answer's bounds of `limits`.
fn watched<T>(
    running: &Evaluations,
    deadline: Instant,
    limits: &QueryLimits,
    services: &Arc<[String]>,
    evaluate: impl FnOnce(&Evaluation) -> Result<T, QueryError>,
) -> Result<T, QueryError> {
    let token = CancellationToken::new();
    let _running = running.begin(&token, deadline)?;
    let run = Evaluation {
        cancel: token,
        max_rows: limits.max_rows,
        max_result_bytes: limits.max_result_bytes,
        services: services.clone(),
        timeout: deadline.saturating_duration_since(Instant::now()),
    };
    evaluate(&run).map_err(|e| cancelled_is_timeout(e, limits.timeout))
}

/// The store reports a cancelled evaluation as such; the registry knows it was the deadline
/// (or a shutdown, which the caller sees as its own error).
fn cancelled_is_timeout(e: QueryError, timeout: Duration) -> QueryError {
    match e {
        QueryError::Evaluation(m) if m == "cancelled" => QueryError::Timeout(timeout),
        other => other,
    }
}

/// A SPARQL parser with SEAM's prefixes predeclared (built once: each prefix is an IRI to parse).
fn sparql_parser() -> Result<spargebra::SparqlParser, QueryError> {
    static PARSER: std::sync::LazyLock<Result<spargebra::SparqlParser, String>> = std::sync::LazyLock::new(|| {
        PREFIXES
            .iter()
            .try_fold(spargebra::SparqlParser::new(), |parser, (prefix, ns)| {
                parser
                    .with_prefix(*prefix, *ns)
                    .map_err(|e| format!("predeclared prefix {prefix}: {e}"))
            })
    });
    PARSER.clone().map_err(QueryError::Internal)
}

/// The ontology (without the shapes, which are configuration) and the example catalog, parsed.
pub fn bundled_documents() -> Result<Vec<Document>, IngestError> {
    bundled::ONTOLOGY
        .iter()
        .filter(|(name, _)| *name != "shapes.ttl")
        .map(|(name, text)| (format!("ontology/{name}"), *text))
        .chain(
            bundled::CATALOG
                .iter()
                .map(|(name, text)| (format!("examples/catalog/{name}"), *text)),
        )
        .map(|(name, text)| parse_document(&name, text.to_owned(), RdfFormat::Turtle, None))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn seeded() -> Registry {
        let r = Registry::in_memory().unwrap();
        r.seed_if_empty().unwrap().unwrap();
        r
    }

    fn count(r: &Registry, q: &str) -> usize {
        match r.query(q, &QueryLimits::default()).unwrap() {
            QueryAnswer::Solutions { rows, .. } => rows.len(),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn catalog_is_valid_and_aligned() {
        let r = seeded();
        assert!(r.seed_if_empty().unwrap().is_none(), "second seed must do nothing");
        assert!(count(&r, "SELECT DISTINCT ?b WHERE { ?b a seam:Board }") >= 12);
        assert!(
            count(
                &r,
                "SELECT DISTINCT ?m WHERE { ?m a/rdfs:subClassOf* nnet:NeuralNetwork }"
            ) >= 8
        );
        assert!(count(&r, "SELECT DISTINCT ?s WHERE { ?s a/rdfs:subClassOf* sosa:Sensor }") >= 20);
        assert_eq!(
            count(
                &r,
                "SELECT ?b WHERE { ?b a seam:Board FILTER NOT EXISTS { ?b a/rdfs:subClassOf* s3n:SmartSensor } }"
            ),
            0
        );
    }

    #[test]
    fn every_ontology_term_has_label_and_comment() {
        let r = seeded();
        let missing = r
            .query(
                "SELECT DISTINCT ?t WHERE { ?t ?p ?o
                   FILTER(STRSTARTS(STR(?t), \"https://w3id.org/seam/ontology#\"))
                   FILTER(NOT EXISTS { ?t rdfs:label ?l } || NOT EXISTS { ?t rdfs:comment ?c }) }",
                &QueryLimits::default(),
            )
            .unwrap();
        assert!(missing.is_empty(), "{}", missing.to_table());
    }

    #[test]
    fn invalid_load_changes_nothing() {
        let r = seeded();
        let before = r.len().unwrap();
        let doc = parse_document(
            "bad.ttl",
            "@prefix seam: <https://w3id.org/seam/ontology#> .\n<urn:b> a seam:Board ; seam:ramBytes -1 .".into(),
            RdfFormat::Turtle,
            None,
        )
        .unwrap();
        let err = r.load(&[doc]).unwrap_err();
        assert!(err.diagnostics().len() >= 2, "{err}");
        assert_eq!(r.len().unwrap(), before);
    }

    #[test]
    fn a_writer_waiting_on_a_query_is_not_stalled_by_updates_waiting_on_the_writer() {
        // One evaluation thread: an update that waited for the writer lock on it would leave the
        // writer's own query queued until its deadline.
        let r = Registry::in_memory().unwrap().with_executor(ExecutorLimits {
            threads: 1,
            queue: 8,
            ..ExecutorLimits::default()
        });
        r.seed_if_empty().unwrap();
        let doc = parse_document("x.ttl", "<urn:x> <urn:p> 1 .".into(), RdfFormat::Turtle, None).unwrap();
        let started = std::time::Instant::now();
        let writer = {
            let r = r.clone();
            std::thread::spawn(move || {
                r.load_when(&[doc], |reg| {
                    std::thread::sleep(Duration::from_millis(300));
                    reg.short_name_taken("nobody").map(|_| ())
                })
            })
        };
        std::thread::sleep(Duration::from_millis(100));
        let updater = {
            let r = r.clone();
            std::thread::spawn(move || r.update("INSERT DATA { <urn:y> <urn:p> 2 }"))
        };
        assert!(writer.join().unwrap().is_ok());
        assert!(updater.join().unwrap().is_ok());
        assert!(started.elapsed() < Duration::from_secs(10), "{:?}", started.elapsed());
    }

    #[test]
    fn syntax_errors_and_timeouts_are_typed() {
        let r = seeded();
        assert!(matches!(
            r.query("SELECT ?x WHERE { ?x ", &QueryLimits::default()),
            Err(QueryError::Syntax { line: Some(1), .. })
        ));
        let tight = QueryLimits {
            timeout: Duration::from_millis(50),
            max_rows: usize::MAX,
            ..QueryLimits::default()
        };
        let slow = "SELECT (COUNT(*) AS ?n) WHERE { ?a ?b ?c . ?d ?e ?f . ?g ?h ?i }";
        assert!(matches!(r.query(slow, &tight), Err(QueryError::Timeout(_))));
        let small = QueryLimits {
            timeout: Duration::from_secs(30),
            max_rows: 3,
            ..QueryLimits::default()
        };
        assert!(matches!(
            r.query("SELECT * WHERE { ?s ?p ?o }", &small),
            Err(QueryError::TooLarge(3))
        ));
    }
}
