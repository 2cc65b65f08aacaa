//! Giving the system back the memory the allocator keeps after the service freed it.
//!
//! glibc keeps what a thread frees in that thread's arena for reuse, and returns pages only from
//! the top of a heap. A burst of work (a registration storm, a large load) leaves the service
//! resident at its peak long after the memory is free: measured, 32 KB per registered device of
//! resident memory against about 5 KB of live heap (BENCHMARKS.md, LwM2M). `seam serve` asks
//! for it back now and then.

use std::time::Duration;

use seam_registry::metrics::HeapReading;

/// How often `seam serve` asks: rare enough that walking the arenas costs nothing measurable,
/// soon enough that a storm's peak does not stay resident for long.
pub const TRIM_EVERY: Duration = Duration::from_secs(10);

/// Asks glibc to return the free pages of every arena to the system (`malloc_trim(0)`). Returns
/// whether anything was returned. Elsewhere (musl, macOS) it does nothing: those allocators
/// return memory themselves or have no such call.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
#[allow(unsafe_code)]
pub fn trim() -> bool {
    // SAFETY: malloc_trim takes no pointers and touches only glibc's own free lists, which it
    // locks arena by arena while it runs; it has no caller-side invariant.
    unsafe { libc::malloc_trim(0) == 1 }
}

/// Elsewhere: nothing to ask.
#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
pub fn trim() -> bool {
    false
}

/// What glibc's allocator holds (`mallinfo2`): the bytes handed out and not yet freed (live
/// heap, RocksDB's memtables and block caches included) and the free bytes it keeps for reuse.
/// Walking the arenas takes their locks, so it is read once a scrape or a trim. `None` elsewhere.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
#[allow(unsafe_code)]
pub fn heap() -> Option<HeapReading> {
    // SAFETY: mallinfo2 takes no arguments and returns a plain struct by value; it only reads
    // glibc's own bookkeeping under its locks.
    let info = unsafe { libc::mallinfo2() };
    let bytes = |n: libc::size_t| u64::try_from(n).unwrap_or(u64::MAX);
    Some(HeapReading {
        // Arena chunks in use, and chunks mapped on their own.
        in_use_bytes: bytes(info.uordblks).saturating_add(bytes(info.hblkhd)),
        kept_free_bytes: bytes(info.fordblks),
    })
}

/// Elsewhere: not known.
#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
pub fn heap() -> Option<HeapReading> {
    None
}

/// Limits glibc to one malloc arena per core (`mallopt(M_ARENA_MAX)`), where its default is
/// eight per core. Each thread that meets a locked arena moves to another, new one, and what a
/// burst freed stays scattered over all of them in pages that are only partly free, which the
/// trim cannot return: measured after a 10,000-device registration storm (BENCHMARKS.md, LwM2M),
/// steady-state memory beside the graph went from about 6 KB to under 1 KB a device. To be called
/// before the service starts its threads. Returns whether glibc took the setting; elsewhere it
/// does nothing.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
#[allow(unsafe_code)]
pub fn limit_arenas() -> bool {
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let arenas = libc::c_int::try_from(cores).unwrap_or(libc::c_int::MAX);
    // SAFETY: mallopt takes two integers and changes glibc's own tuning under its own lock; it
    // has no caller-side invariant.
    unsafe { libc::mallopt(libc::M_ARENA_MAX, arenas) == 1 }
}

/// Elsewhere: nothing to limit.
#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
pub fn limit_arenas() -> bool {
    false
}

/// Starts a thread that trims every [`TRIM_EVERY`] for the life of the process.
pub fn trim_periodically() {
    let spawned = std::thread::Builder::new()
        .name("allocator-trim".into())
        .spawn(|| loop {
            std::thread::sleep(TRIM_EVERY);
            let returned = trim();
            // The heap is read only for a debug log that is on: reading it locks the arenas.
            match tracing::enabled!(tracing::Level::DEBUG).then(heap).flatten() {
                Some(HeapReading {
                    in_use_bytes,
                    kept_free_bytes,
                }) => tracing::debug!(
                    returned,
                    in_use = in_use_bytes,
                    kept_free = kept_free_bytes,
                    "asked the allocator to return free memory"
                ),
                None => tracing::trace!(returned, "asked the allocator to return free memory"),
            }
        });
    if let Err(e) = spawned {
        tracing::warn!(error = %e, "cannot start the allocator trim thread; memory freed after bursts stays resident");
    }
}
