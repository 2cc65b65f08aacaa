//! The store conformance suite, run against every implementation SEAM has: the embedded store
//! in memory and on RocksDB.

use seam_registry::store::EmbeddedStore;

seam_registry::graph_store_conformance!(embedded_in_memory, || EmbeddedStore::in_memory().unwrap());

seam_registry::graph_store_conformance!(embedded_on_rocksdb, || {
    // The folder outlives the store handle only as long as the test: leaked on purpose, in
    // the system's temporary folder, so that each test has a fresh RocksDB of its own.
    let dir = tempfile::tempdir().unwrap().keep();
    EmbeddedStore::open(&dir).unwrap()
});
