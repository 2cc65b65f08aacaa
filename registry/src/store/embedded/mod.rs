//! The embedded store: Oxigraph on RocksDB (a data folder) or in memory. The only module of
//! SEAM that uses `oxigraph::store`.
//!
//! A store on RocksDB may keep a **replica in memory**: a copy of every quad in a compact store
//! of SEAM's own (`embedded::compact`: numbered terms, sorted arrays), made when the store is
//! opened and written after RocksDB by every write through this handle. Queries and pattern
//! reads are answered from it, by Oxigraph's evaluator: a lookup there costs a fraction of a
//! RocksDB read, which is most of what a named matching query does (at 10,000 devices × 1,000
//! models, `compatible-models` for one device takes about a quarter of the time). RocksDB stays
//! what is durable; the replica is rebuilt at every start. Writes are serialised here, so that
//! the replica takes them in the order RocksDB did; a write the replica cannot repeat exactly (a
//! SPARQL update that makes blank nodes, calls `UUID()`, `RAND()`, `NOW()`, or `LOAD`s a
//! document), or one it failed to take, makes it copy RocksDB again. Past a size bound the
//! replica is dropped and queries read RocksDB.
//!
//! The replica, its journal and how it lets go of unused terms: `embedded::replica`.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use oxigraph::model::{GraphNameRef, NamedOrBlankNodeRef, Quad, QuadRef, TermRef};
use oxigraph::sparql::{QueryEvaluationError, SparqlEvaluator};
use oxigraph::store::{StorageError, Store};

pub mod compact;
mod replica;

use self::replica::{repeatable, Repeat, Replica};
use super::{ChangeSet, Commit, Evaluation, GraphStore, QuadPattern};
use crate::answer::QueryAnswer;
use crate::error::{QueryError, StoreError};

/// What queries and pattern reads go to: the replica, or RocksDB (or the in-memory store).
pub(super) enum Reader {
    Replica(compact::Compact),
    Disk(Store),
}

/// Oxigraph, embedded. Cheap to clone (a shared handle).
#[derive(Clone)]
pub struct EmbeddedStore {
    store: Store,
    path: Option<PathBuf>,
    /// Bumped by every write through this handle and its clones.
    version: Arc<AtomicU64>,
    /// The copy in memory queries are answered from, when there is one.
    replica: Arc<Replica>,
}

impl std::fmt::Debug for EmbeddedStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.path {
            Some(path) => write!(f, "EmbeddedStore({})", path.display()),
            None => f.write_str("EmbeddedStore(in memory)"),
        }
    }
}

impl EmbeddedStore {
    /// Opens (or creates) the RocksDB store in `path`; a store another process holds is
    /// reported as [`StoreError::Locked`].
    #[cfg(feature = "rocksdb")]
    pub fn open(path: &Path) -> Result<Self, StoreError> {
        std::fs::create_dir_all(path).map_err(|e| StoreError::Open {
            path: path.to_owned(),
            source: Box::new(e),
        })?;
        let store = Store::open(path).map_err(|source| {
            let text = source.to_string();
            if text.contains("lock file") || text.contains("LOCK") {
                StoreError::Locked { path: path.to_owned() }
            } else {
                StoreError::Open {
                    path: path.to_owned(),
                    source: Box::new(source),
                }
            }
        })?;
        Ok(Self::wrap(store, Some(path.to_owned())))
    }

    /// Opens (or creates) the RocksDB store in `path`, with a replica in memory that answers
    /// queries (see the module documentation) while the store holds at most `max_quads` quads
    /// (0: none).
    pub fn open_with_replica(path: &Path, max_quads: usize) -> Result<Self, StoreError> {
        let mut opened = Self::open(path)?;
        opened.replica = Arc::new(Replica::bounded(max_quads));
        opened.copy_to_replica();
        Ok(opened)
    }

    /// Without the `rocksdb` feature (the fuzz targets' build) there is no on-disk store.
    #[cfg(not(feature = "rocksdb"))]
    pub fn open(path: &Path) -> Result<Self, StoreError> {
        Err(StoreError::Open {
            path: path.to_owned(),
            source: "this build of SEAM has no on-disk store (the `rocksdb` feature is off)".into(),
        })
    }

    /// An in-memory store (tests, tools, scratch graphs).
    pub fn in_memory() -> Result<Self, StoreError> {
        Ok(Self::wrap(Store::new().map_err(storage)?, None))
    }

    fn wrap(store: Store, path: Option<PathBuf>) -> Self {
        Self {
            store,
            path,
            version: Arc::new(AtomicU64::new(0)),
            replica: Arc::new(Replica::default()),
        }
    }

    /// Every quad as RocksDB (or the in-memory store, without a replica) holds it, whatever
    /// the replica says: for checking the two agree.
    pub fn quads_on_disk(&self) -> Result<Vec<Quad>, StoreError> {
        self.store.iter().map(|q| q.map_err(storage)).collect()
    }

    /// The RocksDB folder, for an on-disk store.
    pub fn path(&self) -> Option<&Path> {
        self.path.as_deref()
    }

    /// What follows a commit to RocksDB: the replica takes it (or is copied again after a
    /// failed one, which may have left part of itself behind), and the write is noted.
    fn after_commit(&self, commit: Commit<'_>, written: Result<(), StoreError>) -> Result<(), StoreError> {
        if let Err(e) = written {
            if self.replicated() {
                self.copy_to_replica();
            }
            return Err(e);
        }
        self.replicate(Repeat::Commit(commit));
        self.written();
        Ok(())
    }

    fn written(&self) {
        self.version.fetch_add(1, Ordering::SeqCst);
    }
}

fn storage(e: StorageError) -> StoreError {
    StoreError::Storage(Box::new(e))
}

fn evaluation_error(e: QueryEvaluationError) -> QueryError {
    match e {
        // The registry knows the deadline and turns this into its timeout.
        QueryEvaluationError::Cancelled => QueryError::Evaluation("cancelled".into()),
        other => QueryError::Evaluation(other.to_string()),
    }
}

impl GraphStore for EmbeddedStore {
    fn query(&self, query: spargebra::Query, run: &Evaluation) -> Result<QueryAnswer, QueryError> {
        let mut evaluator = SparqlEvaluator::new().with_cancellation_token(run.cancel.clone());
        if !run.services.is_empty() {
            evaluator = evaluator
                .with_default_service_handler(crate::federation::Federation::new(run.services.clone(), run.timeout));
        }
        let mut prepared = evaluator.for_query(query);
        // The default graph is the union of all graphs (imports live in named graphs of their
        // own), unless the query names its dataset. The union costs a de-duplication on every
        // read, so it is used only when there are named graphs.
        let union = prepared.dataset().is_default_dataset();
        match self.reader() {
            Reader::Replica(replica) => {
                let view = replica.view();
                if union && view.has_named_graphs() {
                    prepared.dataset_mut().set_default_graph_as_union();
                }
                let results = prepared
                    .on_queryable_dataset(view)
                    .execute()
                    .map_err(evaluation_error)?;
                QueryAnswer::collect(results, run.max_rows, run.max_result_bytes)
            }
            Reader::Disk(store) => {
                if union && store.named_graphs().next().is_some() {
                    prepared.dataset_mut().set_default_graph_as_union();
                }
                let results = prepared.on_store(&store).execute().map_err(evaluation_error)?;
                QueryAnswer::collect(results, run.max_rows, run.max_result_bytes)
            }
        }
    }

    fn update(&self, update: spargebra::Update, run: &Evaluation) -> Result<(), QueryError> {
        let _writes = self.write_lock();
        // Repeated on the replica after RocksDB when it gives the same quads there; else (and
        // after a failure, which may have been applied) the replica copies RocksDB again.
        let repeatable = self.replicated().then(|| repeatable(&update).then(|| update.clone()));
        let result = SparqlEvaluator::new()
            .with_cancellation_token(run.cancel.clone())
            .for_update(update)
            .on_store(&self.store)
            .execute()
            .map_err(|e| {
                // Oxigraph reports a cancelled update as an unexpected error; the token says
                // what it was.
                if run.cancel.is_cancelled() {
                    QueryError::Evaluation("cancelled".into())
                } else {
                    QueryError::Evaluation(e.to_string())
                }
            });
        // Even a failed update may have been applied by the time the error is known (a cancel
        // racing the commit): what is derived from the store is rebuilt either way.
        match (repeatable, &result) {
            (None, _) => {}
            (Some(Some(update)), Ok(())) => self.replicate(Repeat::Update(&update)),
            (Some(_), _) => self.copy_to_replica(),
        }
        self.written();
        result
    }

    fn commit(&self, commit: Commit<'_>) -> Result<(), StoreError> {
        let _writes = self.write_lock();
        let written = commit_to(&self.store, commit);
        self.after_commit(commit, written)
    }

    fn commit_checked(
        &self,
        commit: Commit<'_>,
        check: &(dyn Fn() -> Result<bool, StoreError> + Sync),
    ) -> Result<bool, StoreError> {
        let Commit::Load { parts } = commit else {
            return super::check_then_commit(self, commit, check);
        };
        let _writes = self.write_lock();
        // The check (the shapes, for a bulk load about a second a million quads) runs while the
        // loader sorts and writes its files, which RocksDB takes in only at the loader's commit:
        // until then the check reads the store as it was, and a no drops the files.
        let (passed, loader) = std::thread::scope(|scope| {
            let checking = scope.spawn(check);
            let loader = prepare_load(&self.store, parts);
            let passed = checking.join().unwrap_or_else(|panic| std::panic::resume_unwind(panic));
            (passed, loader)
        });
        let loader = loader?;
        if !passed? {
            return Ok(false);
        }
        let written = loader.commit().map_err(|e| StoreError::Storage(Box::new(e)));
        self.after_commit(commit, written)?;
        Ok(true)
    }

    fn apply(&self, changes: &ChangeSet) -> Result<(), StoreError> {
        if changes.is_empty() {
            return Ok(());
        }
        let _writes = self.write_lock();
        apply_to(&self.store, changes)?;
        self.replicate(Repeat::Changes(changes));
        self.written();
        Ok(())
    }

    fn quads_for_pattern(&self, pattern: QuadPattern<'_>) -> Result<Vec<Quad>, StoreError> {
        let subject = pattern.subject.map(NamedOrBlankNodeRef::from);
        let predicate = pattern.predicate.map(|p| p.as_ref());
        let object = pattern.object.map(TermRef::from);
        let graph = pattern.graph.map(GraphNameRef::from);
        match self.reader() {
            Reader::Replica(replica) => Ok(replica.quads_for_pattern(subject, predicate, object, graph)),
            Reader::Disk(store) => store
                .quads_for_pattern(subject, predicate, object, graph)
                .map(|q| q.map_err(storage))
                .collect(),
        }
    }

    fn len(&self) -> Result<usize, StoreError> {
        match self.reader() {
            Reader::Replica(replica) => Ok(replica.len()),
            Reader::Disk(store) => store.len().map_err(storage),
        }
    }

    fn is_empty(&self) -> Result<bool, StoreError> {
        match self.reader() {
            Reader::Replica(replica) => Ok(replica.is_empty()),
            Reader::Disk(store) => store.is_empty().map_err(storage),
        }
    }

    fn version(&self) -> u64 {
        self.version.load(Ordering::SeqCst)
    }

    #[cfg(feature = "rocksdb")]
    fn flush(&self) -> Result<(), StoreError> {
        self.store.flush().map_err(storage)
    }

    /// An in-memory store has nothing to flush.
    #[cfg(not(feature = "rocksdb"))]
    fn flush(&self) -> Result<(), StoreError> {
        Ok(())
    }

    fn memory_bytes(&self) -> Option<usize> {
        self.replica_bytes()
    }
}

/// Writes `commit` to `store` in one transaction (or one bulk load).
fn commit_to(store: &Store, commit: Commit<'_>) -> Result<(), StoreError> {
    match commit {
        Commit::Load { parts } => {
            prepare_load(store, parts)?
                .commit()
                .map_err(|e| StoreError::Storage(Box::new(e)))?;
        }
        Commit::ReplaceGraph { graph, seed, parts } => {
            let mut transaction = store.start_transaction().map_err(storage)?;
            for q in seed.iter().flat_map(|p| p.iter()) {
                transaction.insert(q);
            }
            transaction.clear_graph(graph).map_err(storage)?;
            for q in parts.iter().flat_map(|p| p.iter()) {
                transaction.insert(QuadRef::new(&q.subject, &q.predicate, &q.object, graph));
            }
            transaction.commit().map_err(storage)?;
        }
        Commit::ReplaceGraphs { seed, graphs } => {
            let mut transaction = store.start_transaction().map_err(storage)?;
            for q in seed.iter().flat_map(|p| p.iter()) {
                transaction.insert(q);
            }
            for (graph, quads) in graphs {
                transaction.clear_graph(*graph).map_err(storage)?;
                for q in *quads {
                    transaction.insert(QuadRef::new(&q.subject, &q.predicate, &q.object, *graph));
                }
            }
            transaction.commit().map_err(storage)?;
        }
    }
    Ok(())
}

/// A bulk load of `parts` with its files written, not yet taken in by the store (dropping the
/// loader deletes them).
fn prepare_load<'a>(store: &'a Store, parts: &[&[Quad]]) -> Result<oxigraph::store::BulkLoader<'a>, StoreError> {
    let (threads, megabytes) = bulk_load_split(count_quads(parts));
    let mut loader = store
        .bulk_loader()
        .with_num_threads(threads)
        .with_max_memory_size_in_megabytes(megabytes);
    loader
        .load_quads(parts.iter().flat_map(|p| p.iter().cloned()))
        .map_err(|e| StoreError::Storage(Box::new(e)))?;
    Ok(loader)
}

/// How a bulk load of `quads` is split: the loader's threads and its memory bound in megabytes
/// (which sets its batch size, about a thousand quads a megabyte).
///
/// The loader sorts and writes one batch per thread, and its default batch is a million quads:
/// a load of a million quads was one batch on one core. Batches of an equal share of the load
/// keep every core writing: at least 100,000 quads (smaller ones cost more files than they
/// save), at most the default million (the loader holds a copy of each batch in flight, besides
/// the parsed documents).
pub fn bulk_load_split(quads: usize) -> (usize, usize) {
    let threads = std::thread::available_parallelism().map_or(1, std::num::NonZero::get);
    let batch = quads.div_ceil(threads).clamp(100_000, 1_000_000);
    (threads, (batch * threads).div_ceil(1000))
}

/// The quads in `parts`.
fn count_quads(parts: &[&[Quad]]) -> usize {
    parts.iter().map(|p| p.len()).sum()
}

/// Applies `changes` to `store` in one transaction.
fn apply_to(store: &Store, changes: &ChangeSet) -> Result<(), StoreError> {
    let mut transaction = store.start_transaction().map_err(storage)?;
    for q in &changes.delete {
        transaction.remove(q);
    }
    for q in &changes.insert {
        transaction.insert(q);
    }
    transaction.commit().map_err(storage)?;
    Ok(())
}
