//! Any byte string given to the loader: an error or an analysis, never a panic, a hang or an
//! unbounded allocation. TFLite files are read by SEAM's own code only: tract-tflite's loader
//! runs behind a panic catch in `analyze`, which libFuzzer's abort-on-panic hook defeats, and
//! its panics are tract's (see compiler-bridge/tests/tflite.rs for the one kept as a regression).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if seam_compiler_bridge::tflite::is_tflite(data) {
        let _ = seam_compiler_bridge::tflite::analyze_file_only(data);
    } else {
        let _ = seam_compiler_bridge::analysis::analyze_bytes(data, None);
    }
});
