//! SEAM patch: bounds on what evaluation holds in memory.
//!
//! `ORDER BY` collects every solution before sorting and `DISTINCT` keeps every distinct one;
//! over a large product that is gigabytes before any time limit is reached. The bound turns that
//! into an error of the query. It is per thread: a caller sets it on the threads it evaluates on.

use std::cell::Cell;

thread_local! {
    static MAX_HELD_SOLUTIONS: Cell<usize> = const { Cell::new(usize::MAX) };
}

/// Sets, for the calling thread, the largest number of solutions an `ORDER BY` or a `DISTINCT`
/// may hold (default: no bound).
pub fn set_max_sorted_solutions(limit: usize) {
    MAX_HELD_SOLUTIONS.with(|m| m.set(limit.max(1)));
}

/// The largest number of solutions an `ORDER BY` or a `DISTINCT` may hold on this thread.
pub fn max_sorted_solutions() -> usize {
    MAX_HELD_SOLUTIONS.with(Cell::get)
}
