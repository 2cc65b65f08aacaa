//! The embedded store: Oxigraph on RocksDB (a data folder) or in memory. The only module of
//! SEAM that uses `oxigraph::store`.
//!
//! A store on RocksDB may keep a **replica in memory**: a copy of every quad in Oxigraph's
//! in-memory store, made when the store is opened and written after RocksDB by every write
//! through this handle. Queries and pattern reads are answered from it: a lookup there costs a
//! fraction of a RocksDB read, which is most of what a named matching query does (at 10,000
//! devices × 1,000 models, `compatible-models` for one device takes about a quarter of the time).
//! RocksDB stays what is durable; the replica is rebuilt at every start. Writes are serialised
//! here, so that the replica takes them in the order RocksDB did; a write the replica cannot
//! repeat exactly (a SPARQL update that makes blank nodes or calls `UUID()`, `RAND()`, `NOW()`),
//! or one it failed to take, makes it copy RocksDB again. Past a size bound the replica is
//! dropped and queries read RocksDB.
//!
//! Oxigraph's in-memory store never frees a removed quad: it keeps it, marked with the versions
//! that saw it, for readers that started before the removal (and walks past it on every lookup of
//! its subject, predicate or object). Every check-in replaces a device's `seam:lastSeen`, so a
//! fleet checking in would grow the replica without bound (about 300 bytes a check-in). The
//! replica counts what it was told to remove and is made again from RocksDB once that reaches
//! half of what it held when it was made ([`dead_bound`]). That copy is made beside the replica,
//! on a thread of its own, from a snapshot of RocksDB: queries go on reading the replica, and
//! writes go on too, each noted in a journal and repeated on the copy before it takes the
//! replica's place (`remake_beside`).

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, RwLock};

use oxigraph::model::{GraphNameRef, NamedOrBlankNodeRef, Quad, QuadRef, TermRef};
use oxigraph::sparql::{QueryEvaluationError, SparqlEvaluator};
use oxigraph::store::{StorageError, Store};

use super::{ChangeSet, Commit, Evaluation, GraphStore, QuadPattern};
use crate::answer::QueryAnswer;
use crate::error::{QueryError, StoreError};

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

/// The in-memory copy of a RocksDB store (see the module documentation).
#[derive(Default)]
struct Replica {
    /// The copy; `None`: none is kept (an in-memory store, none asked for, or past the bound).
    store: RwLock<Option<Store>>,
    /// The most quads it keeps.
    max_quads: usize,
    /// At least as many quads as it holds: its size when made, plus every quad written to it
    /// since (counting an exact size is a scan of the store, too slow for every write).
    at_most: AtomicUsize,
    /// Its size when it was last made.
    made_with: AtomicUsize,
    /// At least as many removed quads as it still holds (see the module documentation): every
    /// quad a write removed or replaced since it was made, and [`UPDATE_REMOVES`] for each
    /// SPARQL update repeated on it.
    removed: AtomicUsize,
    /// How many times it was made: at start, after a write it could not take, and to let go of
    /// removed quads.
    made: AtomicU64,
    /// Held by every write, from RocksDB's commit to the replica's.
    writes: Mutex<()>,
    /// The writes made while a copy is made beside the replica.
    journal: Mutex<Journal>,
}

/// The writes made since a copy beside the replica read its snapshot of RocksDB.
#[derive(Default)]
enum Journal {
    /// No copy is being made.
    #[default]
    Idle,
    /// A copy is to be made: its snapshot is not taken yet, so what is written now is in it.
    Pending,
    /// The copy reads its snapshot; these writes came after it.
    Open(Vec<Journaled>),
    /// A write came that the journal cannot hold (a load, a replaced graph), or the replica was
    /// made again meanwhile: the copy is of no use.
    Spoiled,
}

/// A write as the journal holds it, to be repeated on the copy.
enum Journaled {
    Changes(ChangeSet),
    Update(spargebra::Update),
}

/// A write as the replica repeats it.
#[derive(Clone, Copy)]
enum Repeat<'a> {
    Changes(&'a ChangeSet),
    Update(&'a spargebra::Update),
    Commit(Commit<'a>),
}

impl Repeat<'_> {
    /// Writes it to `store`.
    fn on(self, store: &Store) -> Result<(), StorageError> {
        let other = |e: StoreError| StorageError::Other(Box::new(e));
        match self {
            Self::Changes(changes) => apply_to(store, changes).map_err(other),
            Self::Update(update) => SparqlEvaluator::new()
                .for_update(update.clone())
                .on_store(store)
                .execute()
                .map_err(|e| StorageError::Other(e.to_string().into())),
            Self::Commit(commit) => commit_to(store, commit).map_err(other),
        }
    }

    /// What the journal keeps of it; `None`: it cannot be kept (a load can be millions of
    /// quads).
    fn journaled(self) -> Option<Journaled> {
        match self {
            Self::Changes(changes) => Some(Journaled::Changes(changes.clone())),
            Self::Update(update) => Some(Journaled::Update(update.clone())),
            Self::Commit(_) => None,
        }
    }
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
        opened.replica = Arc::new(Replica {
            max_quads,
            ..Replica::default()
        });
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

    /// Whether queries are answered from a replica in memory.
    pub fn has_replica(&self) -> bool {
        self.replica.store.read().is_ok_and(|r| r.is_some())
    }

    /// The store queries and reads go to: the replica when there is one.
    fn reader(&self) -> Store {
        match self.replica.store.read() {
            Ok(replica) => replica.clone().unwrap_or_else(|| self.store.clone()),
            Err(_) => self.store.clone(),
        }
    }

    /// (Re)makes the replica as a copy of RocksDB, or drops it when the store has grown past
    /// the bound or cannot be copied (queries then read RocksDB). Called with the write lock
    /// held, or before the handle is shared.
    fn copy_to_replica(&self) {
        // A copy being made beside the replica would replace this one with nothing more.
        if let Ok(mut journal) = self.replica.journal.lock() {
            if matches!(*journal, Journal::Open(_)) {
                *journal = Journal::Spoiled;
            }
        }
        // Readers go to RocksDB while the copy is made (it holds the same), then to the copy.
        let set = |replica: Option<Store>| {
            if let Ok(mut slot) = self.replica.store.write() {
                *slot = replica;
            }
        };
        set(None);
        if self.replica.max_quads == 0 {
            return;
        }
        let started = std::time::Instant::now();
        let copy = || -> Result<Option<Store>, StorageError> {
            let len = self.store.len()?;
            if len > self.replica.max_quads {
                tracing::warn!(
                    target: "seam",
                    quads = len,
                    bound = self.replica.max_quads,
                    "the store is past the replica's bound: queries read RocksDB"
                );
                return Ok(None);
            }
            let copy = Store::new()?;
            let mut loader = copy.bulk_loader();
            loader.load_ok_quads::<StorageError, StorageError>(self.store.iter())?;
            loader.commit()?;
            tracing::debug!(target: "seam", quads = len, ms = started.elapsed().as_millis() as u64, "replica in memory made");
            self.replica.at_most.store(len, Ordering::SeqCst);
            self.replica.made_with.store(len, Ordering::SeqCst);
            self.replica.removed.store(0, Ordering::SeqCst);
            self.replica.made.fetch_add(1, Ordering::SeqCst);
            Ok(Some(copy))
        };
        match copy() {
            Ok(copy) => set(copy),
            Err(e) => {
                tracing::warn!(target: "seam", error = %e, "the replica in memory could not be made: queries read RocksDB")
            }
        }
    }

    /// Repeats a write that adds at most `added` quads and removes at most `removed` on the
    /// replica (`write` is given the replica's store); a replica that failed to take it, or may
    /// have outgrown its bound, is made again from RocksDB (which measures it, and drops it when
    /// it is past the bound), and so is one that holds too many removed quads.
    fn replicate(&self, added: usize, removed: usize, write: Repeat<'_>) {
        let replica = match self.replica.store.read() {
            Ok(r) => r.clone(),
            Err(_) => None,
        };
        let Some(replica) = replica else {
            return;
        };
        let taken = write.on(&replica);
        self.note(write);
        if let Err(e) = &taken {
            tracing::warn!(target: "seam", error = %e, "the replica failed to take a write: copying RocksDB again");
        }
        let at_most = self
            .replica
            .at_most
            .fetch_add(added, Ordering::SeqCst)
            .saturating_add(added);
        let removed = self
            .replica
            .removed
            .fetch_add(removed, Ordering::SeqCst)
            .saturating_add(removed);
        if taken.is_err() {
            self.copy_to_replica();
        } else if removed >= dead_bound(self.replica.made_with.load(Ordering::SeqCst)) {
            self.remake_beside(removed);
        } else if at_most > self.replica.max_quads {
            // Counted now (a scan, once per bound's worth of written quads): replaced quads
            // were counted as added.
            match replica.len() {
                Ok(n) if n <= self.replica.max_quads => self.replica.at_most.store(n, Ordering::SeqCst),
                _ => self.copy_to_replica(),
            }
        }
    }

    /// Notes `write` in the journal of a copy being made beside the replica.
    fn note(&self, write: Repeat<'_>) {
        let Ok(mut journal) = self.replica.journal.lock() else {
            return;
        };
        if let Journal::Open(writes) = &mut *journal {
            match write.journaled() {
                Some(kept) => writes.push(kept),
                None => *journal = Journal::Spoiled,
            }
        }
    }

    /// Starts making a copy of RocksDB beside the replica (see the module documentation), unless
    /// one is being made. Called with the write lock held.
    fn remake_beside(&self, removed: usize) {
        {
            let Ok(mut journal) = self.replica.journal.lock() else {
                return;
            };
            if !matches!(*journal, Journal::Idle) {
                return;
            }
            *journal = Journal::Pending;
        }
        tracing::debug!(target: "seam", removed, "the replica lets go of the quads removed from it: copying RocksDB beside it");
        let this = self.clone();
        let spawned = std::thread::Builder::new()
            .name("replica-copy".into())
            .spawn(move || this.copy_beside());
        if let Err(e) = spawned {
            tracing::warn!(target: "seam", error = %e, "no thread for a copy beside the replica: copying RocksDB in place");
            self.set_journal(Journal::Idle);
            self.copy_to_replica();
        }
    }

    /// The copy beside the replica, on its own thread: a snapshot of RocksDB read into a new
    /// in-memory store, the writes made meanwhile repeated on it, then put in the replica's
    /// place. Should a write spoil the journal, the replica is copied in place instead.
    fn copy_beside(&self) {
        let started = std::time::Instant::now();
        // The snapshot and the journal start under the write lock: every later write is noted.
        let quads = {
            let _writes = self.write_lock();
            self.set_journal(Journal::Open(Vec::new()));
            self.store.iter()
        };
        let copied = (|| -> Result<Store, StorageError> {
            let copy = Store::new()?;
            let mut loader = copy.bulk_loader();
            loader.load_ok_quads::<StorageError, StorageError>(quads)?;
            loader.commit()?;
            Ok(copy)
        })();
        let _writes = self.write_lock();
        let journal = self.take_journal();
        let copy = match (copied, journal) {
            (Ok(copy), Journal::Open(writes)) => {
                // What the repeated writes remove stays in the copy as removed quads.
                let mut removed = 0;
                let repeated = writes.iter().try_for_each(|w| match w {
                    Journaled::Changes(changes) => {
                        removed += changes.delete.len();
                        Repeat::Changes(changes).on(&copy)
                    }
                    Journaled::Update(update) => {
                        removed += UPDATE_REMOVES;
                        Repeat::Update(update).on(&copy)
                    }
                });
                repeated.and_then(|()| copy.len().map(|n| (copy, n, removed)))
            }
            (Ok(_), _) => Err(StorageError::Other(
                "a write the journal could not hold came meanwhile".into(),
            )),
            (Err(e), _) => Err(e),
        };
        let replica_kept = self.replica.store.read().is_ok_and(|r| r.is_some());
        match copy {
            // The replica may have been dropped meanwhile (past its bound): not brought back.
            Ok(_) if !replica_kept => {}
            Ok((copy, len, removed)) if len <= self.replica.max_quads => {
                if let Ok(mut slot) = self.replica.store.write() {
                    *slot = Some(copy);
                }
                self.replica.at_most.store(len, Ordering::SeqCst);
                self.replica.made_with.store(len, Ordering::SeqCst);
                self.replica.removed.store(removed, Ordering::SeqCst);
                self.replica.made.fetch_add(1, Ordering::SeqCst);
                tracing::debug!(target: "seam", quads = len, ms = started.elapsed().as_millis() as u64, "replica in memory made beside the last");
            }
            Ok(_) => self.copy_to_replica(),
            // Unless the replica was made again meanwhile, the removed quads are let go of now.
            Err(e)
                if self.replica.removed.load(Ordering::SeqCst)
                    >= dead_bound(self.replica.made_with.load(Ordering::SeqCst)) =>
            {
                tracing::debug!(target: "seam", error = %e, "the copy beside the replica is given up: copying RocksDB in place");
                self.copy_to_replica();
            }
            Err(_) => {}
        }
    }

    fn set_journal(&self, to: Journal) {
        if let Ok(mut journal) = self.replica.journal.lock() {
            *journal = to;
        }
    }

    fn take_journal(&self) -> Journal {
        self.replica
            .journal
            .lock()
            .map(|mut j| std::mem::take(&mut *j))
            .unwrap_or(Journal::Spoiled)
    }

    /// How many times the replica was made since the store was opened (0: none kept): at start,
    /// after a write it could not take, and to let go of the quads removed from it.
    pub fn replica_made(&self) -> u64 {
        self.replica.made.load(Ordering::SeqCst)
    }

    /// Whether a copy of RocksDB is being made beside the replica, to take its place.
    pub fn replica_copy_in_progress(&self) -> bool {
        self.replica.journal.lock().is_ok_and(|j| !matches!(*j, Journal::Idle))
    }

    /// Whether a replica is kept at all.
    fn replicated(&self) -> bool {
        self.replica.max_quads > 0
    }

    /// Held by every write, so that the replica takes writes in RocksDB's order.
    fn write_lock(&self) -> std::sync::MutexGuard<'_, ()> {
        self.replica
            .writes
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
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
        self.replicate(added_by(commit), removed_by(commit), Repeat::Commit(commit));
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
        let store = self.reader();
        if prepared.dataset().is_default_dataset() && store.named_graphs().next().is_some() {
            prepared.dataset_mut().set_default_graph_as_union();
        }
        let results = prepared.on_store(&store).execute().map_err(evaluation_error)?;
        QueryAnswer::collect(results, run.max_rows, run.max_result_bytes)
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
            // What an update adds is not known before it runs: its quads count when the replica
            // is next made.
            (Some(Some(update)), Ok(())) => self.replicate(0, UPDATE_REMOVES, Repeat::Update(&update)),
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
        self.replicate(changes.insert.len(), changes.delete.len(), Repeat::Changes(changes));
        self.written();
        Ok(())
    }

    fn quads_for_pattern(&self, pattern: QuadPattern<'_>) -> Result<Vec<Quad>, StoreError> {
        self.reader()
            .quads_for_pattern(
                pattern.subject.map(NamedOrBlankNodeRef::from),
                pattern.predicate.map(|p| p.as_ref()),
                pattern.object.map(TermRef::from),
                pattern.graph.map(GraphNameRef::from),
            )
            .map(|q| q.map_err(storage))
            .collect()
    }

    fn len(&self) -> Result<usize, StoreError> {
        self.reader().len().map_err(storage)
    }

    fn is_empty(&self) -> Result<bool, StoreError> {
        self.reader().is_empty().map_err(storage)
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

/// How many quads `commit` writes (some may be there already).
fn added_by(commit: Commit<'_>) -> usize {
    match commit {
        Commit::Load { parts } => count_quads(parts),
        Commit::ReplaceGraph { seed, parts, .. } => count_quads(seed) + count_quads(parts),
        Commit::ReplaceGraphs { seed, graphs } => {
            count_quads(seed) + graphs.iter().map(|(_, q)| q.len()).sum::<usize>()
        }
    }
}

/// How many quads `commit` may remove: a replaced graph is counted as large as its new content
/// (what it held is not known without reading it).
fn removed_by(commit: Commit<'_>) -> usize {
    match commit {
        Commit::Load { .. } => 0,
        Commit::ReplaceGraph { parts, .. } => count_quads(parts),
        Commit::ReplaceGraphs { graphs, .. } => graphs.iter().map(|(_, q)| q.len()).sum(),
    }
}

/// What a SPARQL update repeated on the replica counts as having removed: Oxigraph does not say,
/// and counting the store before and after is a scan. Integrators' updates are rare beside
/// SEAM's own writes; at this weight, at most 256 updates in a row (more on a larger store)
/// remake the replica.
const UPDATE_REMOVES: usize = 64;

/// How many removed quads a replica made with `quads` quads holds before it is made again: half
/// of them, so that it holds at most half again what is live, and a copy (about 5 µs a quad) is
/// paid once per half a store of removals; at least 16,384 (about 5 MB), so that a small store
/// is not copied every few writes.
fn dead_bound(quads: usize) -> usize {
    (quads / 2).max(16_384)
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

/// Whether `update` writes the same quads wherever it runs on the same data: no blank node
/// made (in its data or templates) and no `UUID()`, `STRUUID()`, `RAND()`, `NOW()` or `BNODE()`.
/// Read from its text: a literal that merely contains such a word only costs a copy.
fn repeatable(update: &spargebra::Update) -> bool {
    let text = update.to_string().to_ascii_uppercase();
    !["_:", "UUID(", "RAND(", "NOW(", "BNODE("]
        .iter()
        .any(|w| text.contains(w))
}
