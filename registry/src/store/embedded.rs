//! The embedded store: Oxigraph on RocksDB (a data folder) or in memory. The only module of
//! SEAM that uses `oxigraph::store`.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

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
        }
    }

    /// The RocksDB folder, for an on-disk store.
    pub fn path(&self) -> Option<&Path> {
        self.path.as_deref()
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
        if prepared.dataset().is_default_dataset() && self.store.named_graphs().next().is_some() {
            prepared.dataset_mut().set_default_graph_as_union();
        }
        let results = prepared.on_store(&self.store).execute().map_err(evaluation_error)?;
        QueryAnswer::collect(results, run.max_rows, run.max_result_bytes)
    }

    fn update(&self, update: spargebra::Update, run: &Evaluation) -> Result<(), QueryError> {
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
        self.written();
        result
    }

    fn commit(&self, commit: Commit<'_>) -> Result<(), StoreError> {
        match commit {
            Commit::Load { parts } => {
                let mut loader = self.store.bulk_loader();
                loader
                    .load_quads(parts.iter().flat_map(|p| p.iter().cloned()))
                    .map_err(|e| StoreError::Storage(Box::new(e)))?;
                loader.commit().map_err(|e| StoreError::Storage(Box::new(e)))?;
            }
            Commit::ReplaceGraph { graph, seed, parts } => {
                let mut transaction = self.store.start_transaction().map_err(storage)?;
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
                let mut transaction = self.store.start_transaction().map_err(storage)?;
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
        self.written();
        Ok(())
    }

    fn apply(&self, changes: &ChangeSet) -> Result<(), StoreError> {
        if changes.is_empty() {
            return Ok(());
        }
        let mut transaction = self.store.start_transaction().map_err(storage)?;
        for q in &changes.delete {
            transaction.remove(q);
        }
        for q in &changes.insert {
            transaction.insert(q);
        }
        transaction.commit().map_err(storage)?;
        self.written();
        Ok(())
    }

    fn quads_for_pattern(&self, pattern: QuadPattern<'_>) -> Result<Vec<Quad>, StoreError> {
        self.store
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
        self.store.len().map_err(storage)
    }

    fn is_empty(&self) -> Result<bool, StoreError> {
        self.store.is_empty().map_err(storage)
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
