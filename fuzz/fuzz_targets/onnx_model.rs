//! An ONNX file as `seam analyze` and `POST /models` read it: the protobuf, the graph, tract's
//! model built from it, and SEAM's measurement (params, MACs, memory).
#![no_main]

libfuzzer_sys::fuzz_target!(|bytes: &[u8]| {
    if !seam_compiler_bridge::tflite::is_tflite(bytes) {
        let _ = seam_compiler_bridge::analysis::analyze_bytes(bytes, None);
    }
});
