//! Stopping evaluations: each at its deadline, and all at once when the service stops.
//!
//! Oxigraph's evaluator looks at a cancellation token; something else must cancel it. One timer
//! thread serves every deadline of the process: a thread per query cost more than most queries
//! (`seam-bench query-overhead`), and a flood of queries must not be a flood of threads.

use std::collections::{BinaryHeap, HashMap};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, OnceLock};
use std::time::{Duration, Instant};

use oxigraph::sparql::CancellationToken;

use crate::error::QueryError;

/// The evaluations of one registry in flight, so that a shutdown can cancel them.
#[derive(Default)]
pub(crate) struct Evaluations {
    tokens: Mutex<HashMap<u64, CancellationToken>>,
    next: AtomicU64,
    stopping: AtomicBool,
}

/// A running evaluation: registered for shutdown and armed for its deadline until dropped.
pub(crate) struct Running<'a> {
    evaluations: &'a Evaluations,
    id: u64,
    finished: Arc<AtomicBool>,
}

impl Evaluations {
    /// Registers an evaluation whose `token` is cancelled at `deadline` (or at shutdown);
    /// refused once the service is stopping.
    pub(crate) fn begin(&self, token: &CancellationToken, deadline: Instant) -> Result<Running<'_>, QueryError> {
        if self.stopping.load(Ordering::SeqCst) {
            return Err(QueryError::ShuttingDown);
        }
        let id = self.next.fetch_add(1, Ordering::Relaxed);
        if let Ok(mut tokens) = self.tokens.lock() {
            tokens.insert(id, token.clone());
        }
        let finished = Arc::new(AtomicBool::new(false));
        deadlines().arm(deadline, token.clone(), finished.clone());
        Ok(Running {
            evaluations: self,
            id,
            finished,
        })
    }

    /// Cancels every evaluation running now and refuses new ones.
    pub(crate) fn stop_all(&self) {
        self.stopping.store(true, Ordering::SeqCst);
        if let Ok(tokens) = self.tokens.lock() {
            for token in tokens.values() {
                token.cancel();
            }
        }
    }
}

impl Drop for Running<'_> {
    fn drop(&mut self) {
        self.finished.store(true, Ordering::SeqCst);
        if let Ok(mut tokens) = self.evaluations.tokens.lock() {
            tokens.remove(&self.id);
        }
    }
}

/// A deadline to keep: cancel `token` at `at` unless `finished` by then.
struct Armed {
    at: Instant,
    token: CancellationToken,
    finished: Arc<AtomicBool>,
}

impl PartialEq for Armed {
    fn eq(&self, other: &Self) -> bool {
        self.at == other.at
    }
}
impl Eq for Armed {}
impl PartialOrd for Armed {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Armed {
    /// Earliest first in a max-heap.
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        other.at.cmp(&self.at)
    }
}

/// The process's deadline keeper: one thread, a heap of deadlines, woken by new ones.
struct Deadlines {
    heap: Mutex<BinaryHeap<Armed>>,
    wake: Condvar,
}

impl Deadlines {
    fn arm(&self, at: Instant, token: CancellationToken, finished: Arc<AtomicBool>) {
        if let Ok(mut heap) = self.heap.lock() {
            heap.push(Armed { at, token, finished });
        }
        self.wake.notify_one();
    }

    fn run(&self) {
        let Ok(mut heap) = self.heap.lock() else { return };
        loop {
            let now = Instant::now();
            while heap.peek().is_some_and(|a| a.at <= now) {
                if let Some(due) = heap.pop() {
                    if !due.finished.load(Ordering::SeqCst) {
                        due.token.cancel();
                    }
                }
            }
            let wait = heap
                .peek()
                .map_or(Duration::from_secs(3600), |a| a.at.saturating_duration_since(now));
            heap = match self.wake.wait_timeout(heap, wait) {
                Ok((guard, _)) => guard,
                Err(_) => return,
            };
        }
    }
}

fn deadlines() -> &'static Deadlines {
    static DEADLINES: OnceLock<&'static Deadlines> = OnceLock::new();
    DEADLINES.get_or_init(|| {
        let keeper: &'static Deadlines = Box::leak(Box::new(Deadlines {
            heap: Mutex::new(BinaryHeap::new()),
            wake: Condvar::new(),
        }));
        // Should the thread not start, evaluations run without a deadline of their own: the
        // caller still stops waiting at it (the executor's limit).
        if let Err(e) = std::thread::Builder::new()
            .name("seam-deadlines".into())
            .spawn(move || keeper.run())
        {
            tracing::error!(error = %e, "cannot start the query deadline thread");
        }
        keeper
    })
}
