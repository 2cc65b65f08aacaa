//! An ONNX file as `seam analyze` and `POST /models` read it: SEAM's structural checks, then
//! tract's loading and typing, then the measurement.
//!
//! tract panics on some malformed graphs; `analyze_bytes` catches that and refuses the model,
//! which is the behaviour under test. libFuzzer's panic hook would abort on the caught panic
//! too, so this target replaces it with one that only logs: a panic that escapes SEAM still
//! ends the run (libfuzzer-sys aborts on it), a caught one does not.
#![no_main]

use std::sync::Once;

static HOOK: Once = Once::new();

libfuzzer_sys::fuzz_target!(|bytes: &[u8]| {
    HOOK.call_once(|| {
        std::panic::set_hook(Box::new(|info| {
            eprintln!(
                "panic (caught or not): {}",
                info.location().map(|l| l.to_string()).unwrap_or_default()
            )
        }))
    });
    if !seam_compiler_bridge::tflite::is_tflite(bytes) {
        let _ = seam_compiler_bridge::analysis::analyze_bytes(bytes, None);
    }
});
