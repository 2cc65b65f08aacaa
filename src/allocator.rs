//! The process's memory allocator: jemalloc, for Rust and for the C and C++ code linked in.
//!
//! A registration storm (every device of a fleet at once) or a large load allocates and frees
//! hundreds of megabytes in a few seconds. glibc's malloc kept much of it resident after it was
//! free, in pages of its many arenas that were only partly free and that `malloc_trim` could not
//! give back: the level left after a 10,000-device storm moved between 20 and 48 MiB from one run
//! to the next, more than the devices' own share (BENCHMARKS.md, LwM2M, stop 40). jemalloc keeps
//! small allocations of one size together and gives back the pages a burst freed after a decay
//! (ten seconds of not being reused), from a background thread: resident memory after a storm
//! follows the live heap. Its `malloc` replaces the C library's (the unprefixed build), so
//! RocksDB's memtables and block cache are counted and returned the same way.
//!
//! Where jemalloc is not built (MSVC targets), the system allocator stays and nothing here reads
//! it.

use seam_registry::metrics::HeapReading;

#[cfg(not(target_env = "msvc"))]
#[global_allocator]
static GLOBAL: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

/// Starts jemalloc's background threads, which return the pages that stayed free for a while
/// (its decay) without waiting for the next allocation to do it. A long-running service needs
/// them: once a burst is over, nothing else would allocate often enough to return its pages.
/// Returns whether they run; a failure leaves the process working, with freed memory returned
/// only as it allocates.
#[cfg(not(target_env = "msvc"))]
pub fn return_freed_memory_in_background() -> bool {
    match tikv_jemalloc_ctl::background_thread::write(true) {
        Ok(()) => true,
        Err(e) => {
            tracing::warn!(error = %e, "cannot start the allocator's background threads; memory freed after bursts is returned only as the service allocates");
            false
        }
    }
}

/// Elsewhere: the system allocator returns memory as it does.
#[cfg(target_env = "msvc")]
pub fn return_freed_memory_in_background() -> bool {
    false
}

/// What jemalloc holds: the bytes handed out and not yet freed (live heap, RocksDB's memtables
/// and block cache included) and what it keeps beyond them in pages it has not returned
/// (`stats.resident` less `stats.allocated`: partly used pages and free pages waiting for their
/// decay, its own metadata included). The statistics are a snapshot refreshed by advancing
/// their epoch, which merges every thread's counts: read once a scrape. `None` where they cannot
/// be read.
#[cfg(not(target_env = "msvc"))]
pub fn heap() -> Option<HeapReading> {
    use tikv_jemalloc_ctl::{epoch, stats};
    epoch::advance().ok()?;
    let allocated = u64::try_from(stats::allocated::read().ok()?).ok()?;
    let resident = u64::try_from(stats::resident::read().ok()?).ok()?;
    Some(HeapReading {
        in_use_bytes: allocated,
        kept_free_bytes: resident.saturating_sub(allocated),
    })
}

/// Elsewhere: not known.
#[cfg(target_env = "msvc")]
pub fn heap() -> Option<HeapReading> {
    None
}

#[cfg(all(test, not(target_env = "msvc")))]
mod tests {
    use super::*;

    /// The reading follows what the process allocates: a 64 MiB block shows in `in_use_bytes`
    /// while it lives and leaves it when freed. A reading that ignored allocations (stats
    /// compiled out, a stale epoch) fails here.
    #[test]
    fn the_heap_reading_follows_an_allocation() {
        const SIZE: usize = 64 << 20;
        let before = heap().map(|h| h.in_use_bytes);
        let block = vec![1u8; SIZE];
        let during = heap().map(|h| h.in_use_bytes);
        std::hint::black_box(&block);
        drop(block);
        let after = heap().map(|h| h.in_use_bytes);
        let (Some(before), Some(during), Some(after)) = (before, during, after) else {
            panic!("jemalloc's statistics cannot be read: {before:?} {during:?} {after:?}");
        };
        // Other test threads allocate too: bounds, not equalities.
        assert!(during >= before + SIZE as u64 / 2, "{before} → {during}");
        assert!(after + (SIZE as u64) / 2 <= during, "{during} → {after}");
    }
}
