//! The replica in memory of a store on RocksDB (see the parent module): how it is made, how it
//! takes each write after RocksDB, and how it lets go of terms no quad uses.
//!
//! The replica is a [`Compact`] store: a removed quad is freed, but its terms stay in the term
//! table, which only grows. Every check-in replaces a device's `seam:lastSeen` with a new
//! literal, so a fleet checking in would grow the table without bound (about 100 bytes a
//! check-in). The replica counts what it was told to remove and is made again from RocksDB once
//! that reaches half of what it held when it was made ([`dead_bound`]). That copy is made beside
//! the replica, on a thread of its own, from a snapshot of RocksDB: queries go on reading the
//! replica, and writes go on too, each noted in a journal and repeated on the copy before it
//! takes the replica's place (`remake_beside`).

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Mutex, RwLock};

use oxigraph::model::{NamedOrBlankNode, Quad, QuadRef};
use oxigraph::store::StorageError;

use super::compact::{Compact, ReplayError, Writer};
use super::{count_quads, EmbeddedStore, Reader};
use crate::store::{ChangeSet, Commit};

/// The in-memory copy of a RocksDB store.
#[derive(Default)]
pub(super) struct Replica {
    /// The copy; `None`: none is kept (an in-memory store, none asked for, or past the bound).
    store: RwLock<Option<Compact>>,
    /// The most quads it keeps.
    max_quads: usize,
    /// Its size when it was last made.
    made_with: AtomicUsize,
    /// How many quads were removed since it was made (each may leave terms in the table that no
    /// quad uses): every quad a write removed or replaced, and [`UPDATE_REMOVES`] for each SPARQL
    /// update repeated on it.
    removed: AtomicUsize,
    /// How many times it was made: at start, after a write it could not take, and to let go of
    /// removed quads.
    made: AtomicU64,
    /// Held by every write, from RocksDB's commit to the replica's.
    writes: Mutex<()>,
    /// The writes made while a copy is made beside the replica.
    journal: Mutex<Journal>,
}

impl Replica {
    /// A replica kept while the store holds at most `max_quads` quads (0: none is kept); it is
    /// made by [`EmbeddedStore::copy_to_replica`].
    pub(super) fn bounded(max_quads: usize) -> Self {
        Self {
            max_quads,
            ..Self::default()
        }
    }
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

impl Journaled {
    fn repeat(&self) -> Repeat<'_> {
        match self {
            Self::Changes(changes) => Repeat::Changes(changes),
            Self::Update(update) => Repeat::Update(update),
        }
    }
}

/// A write as the replica repeats it.
#[derive(Clone, Copy)]
pub(super) enum Repeat<'a> {
    Changes(&'a ChangeSet),
    Update(&'a spargebra::Update),
    Commit(Commit<'a>),
}

impl Repeat<'_> {
    /// The version of `replica` with it written.
    fn on(self, replica: &Compact) -> Result<Compact, ReplayError> {
        let mut writer = replica.writer();
        match self {
            Self::Changes(changes) => {
                for q in &changes.delete {
                    writer.remove(q.as_ref());
                }
                for q in &changes.insert {
                    writer.insert(q.as_ref())?;
                }
            }
            Self::Update(update) => writer.update(update)?,
            Self::Commit(commit) => commit_on(&mut writer, commit)?,
        }
        Ok(writer.finish())
    }

    /// How many quads it may remove: a replaced graph counts as large as its new content (what
    /// it held is not known without reading it), an update as [`UPDATE_REMOVES`].
    fn removed(self) -> usize {
        match self {
            Self::Changes(changes) => changes.delete.len(),
            Self::Update(_) => UPDATE_REMOVES,
            Self::Commit(Commit::Load { .. }) => 0,
            Self::Commit(Commit::ReplaceGraph { parts, .. }) => count_quads(parts),
            Self::Commit(Commit::ReplaceGraphs { graphs, .. }) => graphs.iter().map(|(_, q)| q.len()).sum(),
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

/// What a SPARQL update repeated on the replica counts as having removed (its operations are
/// not counted one by one). Integrators' updates are rare beside
/// SEAM's own writes; at this weight, at most 256 updates in a row (more on a larger store)
/// remake the replica.
const UPDATE_REMOVES: usize = 64;

/// How many quads may be removed from a replica made with `quads` quads before it is made
/// again: half of them, so that its table holds at most about half again the terms in use, and
/// a copy (a few µs a quad) is paid once per half a store of removals; at least 16,384 (at most
/// a couple of MB of unused terms), so that a small store is not copied every few writes.
fn dead_bound(quads: usize) -> usize {
    (quads / 2).max(16_384)
}

/// Writes `commit` on `writer`, as [`super::commit_to`] writes it to RocksDB.
fn commit_on(writer: &mut Writer, commit: Commit<'_>) -> Result<(), ReplayError> {
    let in_graph = |q: &Quad, graph: oxigraph::model::NamedNodeRef<'_>| {
        Quad::new(
            q.subject.clone(),
            q.predicate.clone(),
            q.object.clone(),
            graph.into_owned(),
        )
    };
    match commit {
        Commit::Load { parts } => {
            for q in parts.iter().flat_map(|p| p.iter()) {
                writer.insert(q.as_ref())?;
            }
        }
        Commit::ReplaceGraph { graph, seed, parts } => {
            for q in seed.iter().flat_map(|p| p.iter()) {
                writer.insert(q.as_ref())?;
            }
            writer.clear_graph(graph.as_ref().into())?;
            for q in parts.iter().flat_map(|p| p.iter()) {
                writer.insert(in_graph(q, graph.as_ref()).as_ref())?;
            }
        }
        Commit::ReplaceGraphs { seed, graphs } => {
            for q in seed.iter().flat_map(|p| p.iter()) {
                writer.insert(q.as_ref())?;
            }
            for (graph, quads) in graphs {
                writer.clear_graph((*graph).into())?;
                for q in *quads {
                    let q = QuadRef::new(&q.subject, &q.predicate, &q.object, *graph);
                    writer.insert(q)?;
                }
            }
        }
    }
    Ok(())
}

/// A compact replica holding `quads` and naming `graphs`.
fn copy_of(
    quads: impl IntoIterator<Item = Result<Quad, StorageError>>,
    graphs: impl IntoIterator<Item = Result<NamedOrBlankNode, StorageError>>,
) -> Result<Compact, StorageError> {
    Compact::of(quads, graphs)?.map_err(|full| StorageError::Other(Box::new(full)))
}

/// Whether `update` writes the same quads wherever it runs on the same data: no blank node
/// made (in its data or templates), no `UUID()`, `STRUUID()`, `RAND()`, `NOW()` or `BNODE()`,
/// and no `LOAD` (the document may differ the second time). Read from its text: a literal that
/// merely contains such a word only costs a copy.
pub(super) fn repeatable(update: &spargebra::Update) -> bool {
    if update
        .operations
        .iter()
        .any(|op| matches!(op, spargebra::GraphUpdateOperation::Load { .. }))
    {
        return false;
    }
    let text = update.to_string().to_ascii_uppercase();
    !["_:", "UUID(", "RAND(", "NOW(", "BNODE("]
        .iter()
        .any(|w| text.contains(w))
}

impl EmbeddedStore {
    /// Whether queries are answered from a replica in memory.
    pub fn has_replica(&self) -> bool {
        self.replica.store.read().is_ok_and(|r| r.is_some())
    }

    /// About how many bytes of memory the replica takes (`None`: none is kept).
    pub fn replica_bytes(&self) -> Option<usize> {
        self.replica.store.read().ok()?.as_ref().map(Compact::bytes)
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

    /// The store queries and reads go to: the replica when there is one.
    pub(super) fn reader(&self) -> Reader {
        match self.replica.store.read().as_deref() {
            Ok(Some(replica)) => Reader::Replica(replica.clone()),
            _ => Reader::Disk(self.store.clone()),
        }
    }

    /// Whether a replica is kept at all.
    pub(super) fn replicated(&self) -> bool {
        self.replica.max_quads > 0
    }

    /// Held by every write, so that the replica takes writes in RocksDB's order.
    pub(super) fn write_lock(&self) -> std::sync::MutexGuard<'_, ()> {
        self.replica
            .writes
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// (Re)makes the replica as a copy of RocksDB, or drops it when the store has grown past
    /// the bound or cannot be copied (queries then read RocksDB). Called with the write lock
    /// held, or before the handle is shared.
    pub(super) fn copy_to_replica(&self) {
        // A copy being made beside the replica would replace this one with nothing more.
        if let Ok(mut journal) = self.replica.journal.lock() {
            if matches!(*journal, Journal::Open(_)) {
                *journal = Journal::Spoiled;
            }
        }
        // Readers go to RocksDB while the copy is made (it holds the same), then to the copy.
        let set = |replica: Option<Compact>| {
            if let Ok(mut slot) = self.replica.store.write() {
                *slot = replica;
            }
        };
        set(None);
        if self.replica.max_quads == 0 {
            return;
        }
        let started = std::time::Instant::now();
        let copy = || -> Result<Option<Compact>, StorageError> {
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
            let copy = copy_of(self.store.iter(), self.store.named_graphs())?;
            tracing::debug!(target: "seam", quads = len, ms = started.elapsed().as_millis() as u64, "replica in memory made");
            self.made(len, 0);
            Ok(Some(copy))
        };
        match copy() {
            Ok(copy) => set(copy),
            Err(e) => {
                tracing::warn!(target: "seam", error = %e, "the replica in memory could not be made: queries read RocksDB")
            }
        }
    }

    /// Counts a replica made with `len` quads, `removed` of them removed already.
    fn made(&self, len: usize, removed: usize) {
        self.replica.made_with.store(len, Ordering::SeqCst);
        self.replica.removed.store(removed, Ordering::SeqCst);
        self.replica.made.fetch_add(1, Ordering::SeqCst);
    }

    /// Whether the replica holds as many removed quads as it may.
    fn holds_too_many_removed(&self) -> bool {
        self.replica.removed.load(Ordering::SeqCst) >= dead_bound(self.replica.made_with.load(Ordering::SeqCst))
    }

    /// Repeats `write` on the replica. A replica that failed to take it, or outgrew its bound,
    /// is made again from RocksDB (which drops it when it is past the bound); one that holds too
    /// many unused terms is made again beside itself.
    pub(super) fn replicate(&self, write: Repeat<'_>) {
        let replica = match self.replica.store.read() {
            Ok(r) => r.clone(),
            Err(_) => None,
        };
        let Some(replica) = replica else {
            return;
        };
        let taken = write.on(&replica);
        self.note(write);
        self.replica.removed.fetch_add(write.removed(), Ordering::SeqCst);
        match taken {
            Ok(written) if written.len() <= self.replica.max_quads => {
                if let Ok(mut slot) = self.replica.store.write() {
                    *slot = Some(written);
                }
                if self.holds_too_many_removed() {
                    self.remake_beside();
                }
            }
            Ok(_) => self.copy_to_replica(),
            Err(e) => {
                tracing::warn!(target: "seam", error = %e, "the replica failed to take a write: copying RocksDB again");
                self.copy_to_replica();
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
    fn remake_beside(&self) {
        {
            let Ok(mut journal) = self.replica.journal.lock() else {
                return;
            };
            if !matches!(*journal, Journal::Idle) {
                return;
            }
            *journal = Journal::Pending;
        }
        let removed = self.replica.removed.load(Ordering::SeqCst);
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
    /// compact store, the writes made meanwhile repeated on it, then put in the replica's
    /// place. Should a write spoil the journal, the replica is copied in place instead.
    fn copy_beside(&self) {
        let started = std::time::Instant::now();
        // The snapshot and the journal start under the write lock: every later write is noted.
        let (quads, graphs) = {
            let _writes = self.write_lock();
            self.set_journal(Journal::Open(Vec::new()));
            // Each reads a snapshot of its own, both taken before any later write.
            (self.store.iter(), self.store.named_graphs())
        };
        let copied = copy_of(quads, graphs);
        let _writes = self.write_lock();
        let journal = self.take_journal();
        let copy = match (copied, journal) {
            (Ok(copy), Journal::Open(writes)) => {
                // What the repeated writes remove stays in the copy as removed quads.
                let removed = writes.iter().map(|w| w.repeat().removed()).sum();
                let repeated = writes.iter().try_fold(copy, |copy, w| w.repeat().on(&copy));
                repeated
                    .map(|copy| {
                        let n = copy.len();
                        (copy, n, removed)
                    })
                    .map_err(|e| StorageError::Other(Box::new(e)))
            }
            (Ok(_), _) => Err(StorageError::Other(
                "a write the journal could not hold came meanwhile".into(),
            )),
            (Err(e), _) => Err(e),
        };
        match copy {
            // The replica may have been dropped meanwhile (past its bound): not brought back.
            Ok(_) if !self.has_replica() => {}
            Ok((copy, len, removed)) if len <= self.replica.max_quads => {
                if let Ok(mut slot) = self.replica.store.write() {
                    *slot = Some(copy);
                }
                self.made(len, removed);
                tracing::debug!(target: "seam", quads = len, ms = started.elapsed().as_millis() as u64, "replica in memory made beside the last");
            }
            Ok(_) => self.copy_to_replica(),
            // Unless the replica was made again meanwhile, the removed quads are let go of now.
            Err(e) if self.holds_too_many_removed() => {
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
}
