//! The store conformance suite, run against every implementation SEAM has: the embedded store
//! in memory and on RocksDB, and the remote store on Oxigraph server and on Virtuoso.

use oxigraph::model::Quad;
use seam_registry::answer::QueryAnswer;
use seam_registry::error::{QueryError, StoreError};
use seam_registry::store::{ChangeSet, Commit, EmbeddedStore, Evaluation, GraphStore, QuadPattern};

seam_registry::graph_store_conformance!(embedded_in_memory, || EmbeddedStore::in_memory().unwrap());

seam_registry::graph_store_conformance!(embedded_on_rocksdb, || {
    // The folder outlives the store handle only as long as the test: leaked on purpose, in
    // the system's temporary folder, so that each test has a fresh RocksDB of its own.
    let dir = tempfile::tempdir().unwrap().keep();
    EmbeddedStore::open(&dir).unwrap()
});

/// A remote store and the engine it runs on, which lives as long as the store.
#[derive(Debug)]
struct OnPeer {
    store: seam_registry::store::RemoteStore,
    _peer: PeerHandle,
}

struct PeerHandle(crate::peers::Peer);

impl std::fmt::Debug for PeerHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0.query_url)
    }
}

fn on(peer: crate::peers::Peer) -> OnPeer {
    OnPeer {
        store: peer.store(),
        _peer: PeerHandle(peer),
    }
}

impl GraphStore for OnPeer {
    fn query(&self, query: spargebra::Query, run: &Evaluation) -> Result<QueryAnswer, QueryError> {
        self.store.query(query, run)
    }
    fn update(&self, update: spargebra::Update, run: &Evaluation) -> Result<(), QueryError> {
        self.store.update(update, run)
    }
    fn commit(&self, commit: Commit<'_>) -> Result<(), StoreError> {
        self.store.commit(commit)
    }
    fn apply(&self, changes: &ChangeSet) -> Result<(), StoreError> {
        self.store.apply(changes)
    }
    fn quads_for_pattern(&self, pattern: QuadPattern<'_>) -> Result<Vec<Quad>, StoreError> {
        self.store.quads_for_pattern(pattern)
    }
    fn len(&self) -> Result<usize, StoreError> {
        self.store.len()
    }
    fn is_empty(&self) -> Result<bool, StoreError> {
        self.store.is_empty()
    }
    fn version(&self) -> u64 {
        self.store.version()
    }
}

seam_registry::graph_store_conformance!(oxigraph_server, || on(crate::peers::oxigraph()));

seam_registry::graph_store_conformance!(virtuoso, || on(crate::peers::virtuoso()));
