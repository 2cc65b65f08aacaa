//! The embedded knowledge graph: an Oxigraph store with SEAM's rules.
//!
//! - A load is parsed, validated against the shapes, and only then committed, in one atomic
//!   bulk-load: a file that fails leaves the store exactly as it was.
//! - A query runs with a time limit (cancelled, not abandoned) and a result-size limit.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use oxigraph::io::RdfFormat;
pub use oxigraph::model::NamedNode;
use oxigraph::model::QuadRef;
use oxigraph::sparql::{CancellationToken, QueryEvaluationError, SparqlEvaluator};
use oxigraph::store::{StorageError, Store};

use crate::answer::QueryAnswer;
use crate::bundled;
use crate::cancel::Evaluations;
use crate::error::{IngestError, QueryError, StoreError};
use crate::executor::{Executor, ExecutorLimits};
use crate::guard::{self, ShapeLimits};
use crate::ingest::{parse_document, Document};
use crate::matching::{load_fleet, Fleet};
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

/// SEAM's knowledge graph on an embedded Oxigraph store. Cheap to clone (shared handle).
#[derive(Clone)]
pub struct Registry {
    store: Store,
    path: Option<PathBuf>,
    shapes: Arc<Shapes>,
    /// Bumped by every write; derived indexes are valid for one generation.
    generation: Arc<AtomicU64>,
    fleet: Arc<Mutex<Option<CachedFleet>>>,
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
}

/// The fleet index and the write generation it was read at.
type CachedFleet = (u64, Arc<Fleet>);

impl std::fmt::Debug for Registry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Registry")
            .field("path", &self.path)
            .finish_non_exhaustive()
    }
}

fn bundled_shapes() -> Result<Arc<Shapes>, StoreError> {
    // The shapes are compiled in and tested; failing to parse them is a build defect, reported as
    // a storage-level error rather than a panic.
    Shapes::parse(bundled::shapes())
        .map(Arc::new)
        .map_err(|e| StoreError::Storage(StorageError::Other(format!("bundled shapes.ttl: {e}").into())))
}

impl Registry {
    /// Opens (or creates) the RocksDB store in `path`.
    pub fn open(path: &Path) -> Result<Self, StoreError> {
        std::fs::create_dir_all(path).map_err(|e| StoreError::Open {
            path: path.to_owned(),
            source: StorageError::Io(e),
        })?;
        let store = Store::open(path).map_err(|source| {
            let text = source.to_string();
            if text.contains("lock file") || text.contains("LOCK") {
                StoreError::Locked { path: path.to_owned() }
            } else {
                StoreError::Open {
                    path: path.to_owned(),
                    source,
                }
            }
        })?;
        Self::wrap(store, Some(path.to_owned()))
    }

    /// An in-memory store (tests, tools).
    pub fn in_memory() -> Result<Self, StoreError> {
        Self::wrap(Store::new()?, None)
    }

    fn wrap(store: Store, path: Option<PathBuf>) -> Result<Self, StoreError> {
        Ok(Self {
            store,
            path,
            shapes: bundled_shapes()?,
            generation: Arc::new(AtomicU64::new(0)),
            fleet: Arc::new(Mutex::new(None)),
            queries_run: Arc::new(AtomicU64::new(0)),
            executor: Arc::new(Executor::new(ExecutorLimits::default())),
            writer: Arc::new(Mutex::new(())),
            running: Arc::new(Evaluations::default()),
        })
    }

    /// The same store with its own evaluation pool of `limits` (call before sharing the handle:
    /// clones made earlier keep the pool they had).
    pub fn with_executor(mut self, limits: ExecutorLimits) -> Self {
        self.executor = Arc::new(Executor::new(limits));
        self
    }

    /// Number of SPARQL queries this registry has evaluated.
    pub fn queries_run(&self) -> u64 {
        self.queries_run.load(Ordering::Relaxed)
    }

    /// The write generation: changes whenever the store is written.
    pub(crate) fn generation(&self) -> u64 {
        self.generation.load(Ordering::SeqCst)
    }

    fn written(&self) {
        self.generation.fetch_add(1, Ordering::SeqCst);
    }

    /// The fleet index if it is current, without touching the store (never blocks on I/O).
    pub fn cached_fleet(&self) -> Option<Arc<Fleet>> {
        let generation = self.generation.load(Ordering::SeqCst);
        let cache = self.fleet.lock().ok()?;
        cache.as_ref().filter(|(g, _)| *g == generation).map(|(_, f)| f.clone())
    }

    /// The matching facts of the whole fleet, read from the graph once per write generation and
    /// shared until the next write.
    pub fn fleet(&self) -> Result<Arc<Fleet>, QueryError> {
        let generation = self.generation.load(Ordering::SeqCst);
        if let Ok(cache) = self.fleet.lock() {
            if let Some((g, fleet)) = cache.as_ref() {
                if *g == generation {
                    return Ok(fleet.clone());
                }
            }
        }
        let fleet = Arc::new(load_fleet(self)?);
        if let Ok(mut cache) = self.fleet.lock() {
            *cache = Some((generation, fleet.clone()));
        }
        Ok(fleet)
    }

    /// The directory of an on-disk store.
    pub fn path(&self) -> Option<&Path> {
        self.path.as_deref()
    }

    /// Number of quads.
    pub fn len(&self) -> Result<usize, StoreError> {
        Ok(self.store.len()?)
    }

    /// Whether the store holds nothing.
    pub fn is_empty(&self) -> Result<bool, StoreError> {
        Ok(self.store.is_empty()?)
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
        let started = std::time::Instant::now();
        let diagnostics = self.shapes.validate(docs, &self.store)?;
        tracing::debug!(micros = started.elapsed().as_micros() as u64, "validated");
        if !diagnostics.is_empty() {
            return Err(IngestError::Invalid(diagnostics));
        }
        let quads_read = docs.iter().map(|d| d.quads.len()).sum();
        let mut loader = self.store.bulk_loader();
        loader
            .load_quads(docs.iter().flat_map(|d| d.quads.iter().cloned()))
            .map_err(StoreError::from)?;
        loader.commit().map_err(StoreError::from)?;
        self.written();
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
            self.shapes.validate_replacing(docs, &self.store, Some(graph))?
        } else {
            let all: Vec<Document> = seed.iter().chain(docs).cloned().collect();
            self.shapes.validate_replacing(&all, &self.store, Some(graph))?
        };
        if !diagnostics.is_empty() {
            return Err(IngestError::Invalid(diagnostics));
        }
        let mut transaction = self.store.start_transaction().map_err(StoreError::from)?;
        for q in seed.iter().flat_map(|d| &d.quads) {
            transaction.insert(q);
        }
        transaction.clear_graph(graph).map_err(StoreError::from)?;
        let mut quads_read = 0;
        for q in docs.iter().flat_map(|d| &d.quads) {
            quads_read += 1;
            transaction.insert(QuadRef::new(&q.subject, &q.predicate, &q.object, graph));
        }
        transaction.commit().map_err(StoreError::from)?;
        self.written();
        Ok(LoadReport {
            documents: docs.len(),
            quads_read,
            store_size: self.len()?,
        })
    }

    /// Runs a SPARQL query with SEAM's prefixes predeclared, within `limits`. The default graph
    /// is the union of all graphs unless the query says otherwise.
    pub fn query(&self, sparql: &str, limits: &QueryLimits) -> Result<QueryAnswer, QueryError> {
        self.run_query(sparql, Vec::new(), limits)
    }

    fn run_query(
        &self,
        sparql: &str,
        bindings: Vec<(String, oxigraph::model::Term)>,
        limits: &QueryLimits,
    ) -> Result<QueryAnswer, QueryError> {
        self.queries_run.fetch_add(1, Ordering::Relaxed);
        guard::check_text(sparql, &limits.shape)?;
        let limits = *limits;
        let sparql = sparql.to_owned();
        let store = self.store.clone();
        let running = self.running.clone();
        let deadline = Instant::now() + limits.timeout;
        self.executor.run(deadline, limits.timeout, move || {
            let parsed = sparql_parser()?
                .parse_query(&sparql)
                .map_err(|e| QueryError::syntax(e.to_string()))?;
            guard::check_query(&parsed, &limits.shape)?;
            // Parameters join the pattern as a VALUES leaf (see `bind`), so that they are planned
            // with it.
            let parsed = if bindings.is_empty() {
                parsed
            } else {
                crate::bind::bind(parsed, &bindings).map_err(|e| QueryError::Evaluation(e.to_string()))?
            };
            let token = CancellationToken::new();
            let _running = running.begin(&token, deadline)?;
            let mut prepared = SparqlEvaluator::new()
                .with_cancellation_token(token.clone())
                .for_query(parsed);
            // The default graph is the union of all graphs (imports live in named graphs of their
            // own), unless the query names its dataset with FROM / FROM NAMED. The union costs a
            // de-duplication on every read, so it is used only when there are named graphs.
            if prepared.dataset().is_default_dataset() && store.named_graphs().next().is_some() {
                prepared.dataset_mut().set_default_graph_as_union();
            }
            let collected = prepared
                .on_store(&store)
                .execute()
                .map_err(|e| evaluation_error(e, limits.timeout))
                .and_then(|results| QueryAnswer::collect(results, limits.max_rows, limits.max_result_bytes));
            match collected {
                Err(QueryError::Evaluation(m)) if m == "cancelled" => Err(QueryError::Timeout(limits.timeout)),
                other => other,
            }
        })
    }

    /// Runs a named query with its parameters bound (by substitution, never by text).
    pub fn query_named(
        &self,
        query: &crate::named::NamedQuery,
        bindings: Vec<(String, oxigraph::model::Term)>,
        limits: &QueryLimits,
    ) -> Result<QueryAnswer, QueryError> {
        self.run_query(&query.text, bindings, limits)
    }

    /// Whether any device has this short name.
    pub fn short_name_taken(&self, short_name: &str) -> Result<bool, QueryError> {
        let name = oxigraph::model::Literal::new_simple_literal(short_name);
        self.ask("ASK { ?d a seam:Device ; seam:shortName ?name }", ("name", name.into()))
    }

    /// Whether `iri` is a device.
    pub fn is_device(&self, iri: &str) -> Result<bool, QueryError> {
        let node = NamedNode::new(iri).map_err(|e| QueryError::Evaluation(format!("<{iri}>: {e}")))?;
        self.ask("ASK { ?d a seam:Device }", ("d", node.into()))
    }

    /// An ASK with one parameter bound.
    fn ask(&self, sparql: &str, (name, value): (&str, oxigraph::model::Term)) -> Result<bool, QueryError> {
        let answer = self.run_query(sparql, vec![(name.into(), value)], &QueryLimits::default())?;
        Ok(matches!(answer, QueryAnswer::Boolean(true)))
    }

    /// The IRI of the device with this short name, if there is exactly one.
    pub fn device_by_short_name(&self, short_name: &str) -> Result<Option<String>, QueryError> {
        let answer = self.run_query(
            "SELECT ?d ?name WHERE { ?d a seam:Device ; seam:shortName ?name } LIMIT 2",
            vec![(
                "name".into(),
                oxigraph::model::Literal::new_simple_literal(short_name).into(),
            )],
            &QueryLimits::default(),
        )?;
        Ok(match answer {
            QueryAnswer::Solutions { rows, .. } if rows.len() == 1 => match rows[0].first() {
                Some(Some(oxigraph::model::Term::NamedNode(n))) => Some(n.as_str().to_owned()),
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
        let result = self.executor.run(deadline, limits.timeout, move || {
            let parsed = sparql_parser()?
                .parse_update(&sparql)
                .map_err(|e| QueryError::syntax(e.to_string()))?;
            guard::check_update(&parsed, &limits.shape)?;
            let token = CancellationToken::new();
            let _running = running.begin(&token, deadline)?;
            SparqlEvaluator::new()
                .with_cancellation_token(token.clone())
                .for_update(parsed)
                .on_store(&store)
                .execute()
                .map_err(|e| {
                    // Oxigraph reports a cancelled update as an unexpected error; the token
                    // says what it was.
                    if token.is_cancelled() {
                        QueryError::Timeout(limits.timeout)
                    } else {
                        QueryError::Evaluation(e.to_string())
                    }
                })
        });
        // A timed-out update may still commit after the caller stopped waiting; either way the
        // indexes derived from the store must be rebuilt.
        self.written();
        result
    }

    /// Reads the store directly (index lookups the service makes itself, not user queries).
    pub(crate) fn read<T>(&self, read: impl FnOnce(&Store) -> Result<T, StorageError>) -> Result<T, StoreError> {
        Ok(read(&self.store)?)
    }

    /// Runs `change` in one transaction: it sees the store as of the transaction and its writes
    /// commit together or not at all. For facts the service derives itself (device reports over
    /// LwM2M, deployments); files and user updates go through [`Registry::load`] and
    /// [`Registry::update`], which validate.
    pub(crate) fn transact<T>(
        &self,
        change: impl FnOnce(&mut oxigraph::store::Transaction<'_>) -> T,
    ) -> Result<T, StoreError> {
        let _writer = self.write_lock();
        let mut transaction = self.store.start_transaction()?;
        let out = change(&mut transaction);
        transaction.commit()?;
        self.written();
        Ok(out)
    }

    /// Cancels every query and update running now and refuses new ones: a service that was told
    /// to stop does not wait for a runaway evaluation's time limit (an update cancelled this way
    /// writes nothing).
    pub fn stop_evaluations(&self) {
        self.running.stop_all();
    }

    /// Serialises writers (see the field). A writer that panicked left nothing half-done behind
    /// the lock (its transaction was never committed), so a poisoned lock is taken over.
    fn write_lock(&self) -> std::sync::MutexGuard<'_, ()> {
        self.writer.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Writes RocksDB's in-memory tables to disk (the write-ahead log already makes commits durable).
    pub fn flush(&self) -> Result<(), StoreError> {
        Ok(self.store.flush()?)
    }
}

fn evaluation_error(e: QueryEvaluationError, timeout: Duration) -> QueryError {
    match e {
        QueryEvaluationError::Cancelled => QueryError::Timeout(timeout),
        other => QueryError::Evaluation(other.to_string()),
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
