//! `analyze` on the MLPerf Tiny reference architectures (built as ONNX with seeded weights) and
//! on hostile files.

use seam_compiler_bridge::analysis::{analyze_bytes, analyze_path};
use seam_compiler_bridge::onnx_build::{mlperf_tiny, to_bytes};
use seam_compiler_bridge::BridgeError;

#[test]
fn mlperf_tiny_params_are_exact_and_macs_within_2_percent_of_published() {
    for reference in mlperf_tiny(7) {
        let bytes = to_bytes(&reference.model);
        let a = analyze_bytes(&bytes, None).unwrap_or_else(|e| panic!("{}: {e}", reference.name));
        eprintln!(
            "{:18} params {:>7} (architecture {:>7})  macs {:>9} (published {:>9}, {:+.2}%)  peak {:>7}  arena {:>7}",
            reference.name,
            a.params,
            reference.params,
            a.macs,
            reference.published_macs,
            (a.macs as f64 / reference.published_macs as f64 - 1.0) * 100.0,
            a.peak_activation_bytes,
            a.arena_bytes
        );
        assert_eq!(a.params, reference.params, "{}", reference.name);
        let error = (a.macs as f64 - reference.published_macs as f64).abs() / reference.published_macs as f64;
        assert!(
            error <= 0.02,
            "{}: {} MACs vs {} published",
            reference.name,
            a.macs,
            reference.published_macs
        );
        assert_eq!(a.weight_bytes.float32, a.params * 4);
        assert!(
            a.weight_bytes.int8 * 3 < a.weight_bytes.float32,
            "int8 storage is about a quarter"
        );
        assert!(
            a.peak_activation_bytes > 0 && a.arena_bytes >= a.peak_activation_bytes,
            "{}",
            reference.name
        );
        assert_eq!(a.format, "onnx");
        assert_eq!(a.sha256.len(), 64);
        assert_eq!(a.file_bytes, bytes.len() as u64);
        assert_eq!(a.inputs.len(), 1);
        assert_eq!(a.inputs[0].dtype, "float32");
    }
}

fn invalid(result: Result<seam_compiler_bridge::analysis::Analysis, BridgeError>) -> String {
    match result {
        Err(BridgeError::InvalidModel { message, .. }) => message,
        other => panic!("expected an invalid-model error, got {other:?}"),
    }
}

#[test]
fn garbage_truncated_and_hostile_files_are_refused_with_a_reason() {
    let good = to_bytes(&seam_compiler_bridge::onnx_build::fc_autoencoder(1).model);

    // Garbage and truncation.
    assert!(invalid(analyze_bytes(b"definitely not a model", None)).contains("not an ONNX model"));
    for cut in [1, 10, good.len() / 3, good.len() - 1] {
        let _ = invalid(analyze_bytes(&good[..cut], None));
    }
    let mut rng = 0x2545F4914F6CDD1Du64;
    for _ in 0..300 {
        let bytes: Vec<u8> = (0..256)
            .map(|_| {
                rng ^= rng << 13;
                rng ^= rng >> 7;
                rng ^= rng << 17;
                rng as u8
            })
            .collect();
        assert!(analyze_bytes(&bytes, None).is_err());
    }

    // Absurd declared dimensions: refused before anything is allocated.
    let mut model = seam_compiler_bridge::onnx_build::fc_autoencoder(1).model;
    let graph = model.graph.as_mut().unwrap();
    graph.initializer[0].dims = vec![1 << 20, 1 << 20];
    graph.initializer[0].raw_data.clear();
    assert!(invalid(analyze_bytes(&to_bytes(&model), None)).contains("beyond"));

    // Data that does not match its declared size.
    let mut model = seam_compiler_bridge::onnx_build::fc_autoencoder(1).model;
    model.graph.as_mut().unwrap().initializer[0].raw_data.truncate(10);
    assert!(invalid(analyze_bytes(&to_bytes(&model), None)).contains("holds 10 bytes"));

    // A cycle: the first node reads the last node's output.
    let mut model = seam_compiler_bridge::onnx_build::fc_autoencoder(1).model;
    let graph = model.graph.as_mut().unwrap();
    let last = graph.node.last().unwrap().output[0].clone();
    graph.node[0].input[0] = last;
    assert!(invalid(analyze_bytes(&to_bytes(&model), None)).contains("cycle"));

    // External data outside the model's folder, or with no folder at all.
    for location in ["../secret.bin", "/etc/passwd", "a/../../b"] {
        let mut model = seam_compiler_bridge::onnx_build::fc_autoencoder(1).model;
        let tensor = &mut model.graph.as_mut().unwrap().initializer[0];
        tensor.raw_data.clear();
        tensor.data_location = Some(1);
        tensor.external_data = vec![tract_onnx::pb::StringStringEntryProto {
            key: "location".into(),
            value: location.into(),
        }];
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("model.onnx");
        std::fs::write(&path, to_bytes(&model)).unwrap();
        assert!(
            invalid(analyze_path(&path)).contains("outside the model's folder"),
            "{location}"
        );
    }

    // Found by cargo-fuzz: a graph whose output nothing produces made tract panic.
    assert!(invalid(analyze_bytes(&[0x3a, 0x02, 0x62, 0x00], None)).contains("produced by nothing"));

    // Zeros behind a TFLite magic are recognised as TFLite, and refused: no model is in them.
    let mut tflite = vec![0u8; 64];
    tflite[4..8].copy_from_slice(b"TFL3");
    let message = invalid(analyze_bytes(&tflite, None));
    assert!(
        message.contains("flatbuffer") || message.contains("subgraphs"),
        "{message}"
    );
}

#[test]
fn files_are_analysed_from_disk_with_their_digest() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("ad.onnx");
    let bytes = to_bytes(&seam_compiler_bridge::onnx_build::fc_autoencoder(3).model);
    std::fs::write(&path, &bytes).unwrap();
    let a = analyze_path(&path).unwrap();
    assert_eq!(a.sha256, seam_compiler_bridge::analysis::sha256_hex(&bytes));
    assert_eq!(a.operators.get("Gemm"), Some(&10));
    assert_eq!(a.operators.get("BatchNormalization"), Some(&9));
    assert_eq!(a.outputs[0].shape, vec![1, 640]);
    let missing = analyze_path(&dir.path().join("missing.onnx"));
    assert!(invalid(missing).contains("cannot read"));
}

/// Found by fuzzing: an initializer of a type tract cannot read from raw bytes (a string)
/// reached tract's `unimplemented!`.
#[test]
fn raw_data_of_a_type_tract_cannot_read_is_refused_not_a_panic() {
    let bytes = std::fs::read(
        std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/data/onnx-raw-string-tensor.onnx"),
    )
    .unwrap();
    let message = invalid(seam_compiler_bridge::analysis::analyze_bytes(&bytes, None));
    assert!(message.contains("raw data"), "{message}");
}

/// Found by fuzzing: a Conv whose kernel shape does not fit its input panics inside tract's
/// loader; the analysis refuses the model instead of ending the process.
#[test]
fn a_panic_inside_tract_is_the_model_s_refusal() {
    let bytes = std::fs::read(
        std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/data/onnx-conv-kernel-panic.onnx"),
    )
    .unwrap();
    let message = invalid(seam_compiler_bridge::analysis::analyze_bytes(&bytes, None));
    assert!(message.contains("tract cannot read the model"), "{message}");
}
