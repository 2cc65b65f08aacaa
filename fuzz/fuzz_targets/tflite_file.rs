//! A TFLite flatbuffer as SEAM reads it itself: operators, tensors, shapes, buffers, the
//! memory and MAC figures (tract-tflite's cross-check is left out: it panics on some files,
//! which `analyze` catches and reports, but a fuzzer stops at any panic).
#![no_main]

libfuzzer_sys::fuzz_target!(|bytes: &[u8]| {
    let _ = seam_compiler_bridge::tflite::analyze_file_only(bytes);
});
