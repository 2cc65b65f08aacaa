//! SEAM patch: process-wide bounds on what evaluation holds in memory.
//!
//! `ORDER BY` collects every solution before sorting; over a large product that is gigabytes
//! before any time limit is reached. The bound turns that into an error of the query.

use std::sync::atomic::{AtomicUsize, Ordering};

static MAX_SORTED_SOLUTIONS: AtomicUsize = AtomicUsize::new(usize::MAX);

/// Sets the largest number of solutions an `ORDER BY` may hold to sort (default: no bound).
pub fn set_max_sorted_solutions(limit: usize) {
    MAX_SORTED_SOLUTIONS.store(limit.max(1), Ordering::Relaxed);
}

/// The largest number of solutions an `ORDER BY` may hold to sort.
pub fn max_sorted_solutions() -> usize {
    MAX_SORTED_SOLUTIONS.load(Ordering::Relaxed)
}
