//! Any byte string given to the loader: an error or an analysis, never a panic, a hang or an
//! unbounded allocation.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = seam_compiler_bridge::analysis::analyze_bytes(data, None);
});
