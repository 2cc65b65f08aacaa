//! TFLite analysis on real third-party files (SeLoC-ML's models) and on damaged ones.

use std::path::PathBuf;

use seam_compiler_bridge::analysis::{analyze_bytes, analyze_path};
use seam_compiler_bridge::BridgeError;

fn models() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared/interop/seloc-ml/models")
}

#[test]
fn the_micro_speech_model_is_measured_from_its_file() {
    let a = analyze_path(&models().join("Micro_Speech_Yes_No_1.tflite")).unwrap();
    assert_eq!(a.format, "tflite");
    assert_eq!(a.file_bytes, 18712);
    assert_eq!(a.inputs[0].shape, vec![1, 1960]);
    assert_eq!(a.inputs[0].dtype, "int8");
    assert_eq!(a.outputs[0].shape, vec![1, 4]);
    // One depthwise convolution (8 channels of 10×8 over 25×20) and one fully connected layer.
    assert_eq!(a.operators.get("DEPTHWISE_CONV_2D"), Some(&1));
    assert_eq!(a.operators.get("FULLY_CONNECTED"), Some(&1));
    assert_eq!(a.macs, 25 * 20 * 8 * 10 * 8 + 4 * 4000);
    // Weights int8, biases int32: 640 + 8 + 16000 + 4.
    assert_eq!(a.params, 16652);
    assert_eq!(a.weight_bytes.int8, 640 + 16000 + 4 * (8 + 4));
    assert!(a.arena_bytes >= a.peak_activation_bytes && a.peak_activation_bytes > 0);
    // tract 0.23.9 refuses a depthwise convolution with a channel multiplier; the note says where.
    assert!(
        a.notes
            .iter()
            .any(|n| n.contains("cannot load") && n.contains("DEPTHWISE_CONV_2D")),
        "{:?}",
        a.notes
    );
}

#[test]
fn where_tract_loads_a_model_its_cost_model_agrees_with_the_file() {
    for name in ["Hello_World", "Magic_Wand_2", "ARM_DS_CNN_Small_", "Snoring_Guardian"] {
        let a = analyze_path(&models().join(format!("{name}.tflite"))).unwrap();
        assert!(
            a.notes.iter().any(|n| n.contains(&format!("agrees: {} MACs", a.macs))),
            "{name}: {:?}",
            a.notes
        );
    }
}

#[test]
fn every_seloc_model_is_analysed() {
    let mut n = 0;
    for entry in std::fs::read_dir(models()).unwrap() {
        let path = entry.unwrap().path();
        let a = analyze_path(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        assert!(a.macs > 0 && a.params > 0 && a.arena_bytes > 0, "{}", path.display());
        n += 1;
    }
    assert_eq!(n, 23);
}

/// Damaged copies of a real model: every one is either analysed or refused with a message,
/// never a panic (tract's loader runs behind a catch, SEAM's own reading is bounds-checked).
#[test]
fn damaged_tflite_files_are_refused_cleanly() {
    let original = std::fs::read(models().join("Magic_Wand_2.tflite")).unwrap();
    let mut rng = fastrand::Rng::with_seed(7);
    let (mut refused, mut analysed) = (0, 0);
    for round in 0..400 {
        let mut bytes = original.clone();
        match round % 3 {
            0 => bytes.truncate(rng.usize(8..bytes.len())),
            1 => {
                for _ in 0..rng.usize(1..16) {
                    let at = rng.usize(8..bytes.len());
                    bytes[at] = rng.u8(..);
                }
            }
            _ => {
                // Large little-endian words where offsets, indices and dimensions live.
                let at = rng.usize(8..bytes.len() - 4);
                bytes[at..at + 4].copy_from_slice(&rng.u32(0x1000_0000..).to_le_bytes());
            }
        }
        match analyze_bytes(&bytes, None) {
            Ok(_) => analysed += 1,
            Err(BridgeError::InvalidModel { message, .. }) => {
                assert!(!message.is_empty());
                refused += 1;
            }
            Err(other) => panic!("round {round}: unexpected {other}"),
        }
    }
    assert!(refused > 100, "{refused} refused, {analysed} analysed");
}

#[test]
fn an_absurd_declared_shape_is_refused_before_allocation() {
    // Hello_World's input tensor is [1, 1]: find its shape vector and make it enormous.
    let mut bytes = std::fs::read(models().join("Hello_World.tflite")).unwrap();
    let a = analyze_bytes(&bytes, None).unwrap();
    assert_eq!(a.inputs[0].shape, vec![1, 1]);
    // Shapes are stored as [len=2, 1, 1] i32 vectors; patch every such vector's second dimension.
    let pattern = [2u8, 0, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0];
    let mut patched = 0;
    let mut at = 0;
    while let Some(pos) = bytes[at..].windows(pattern.len()).position(|w| w == pattern) {
        let start = at + pos + 8;
        bytes[start..start + 4].copy_from_slice(&0x7fff_ffffu32.to_le_bytes());
        patched += 1;
        at = start + 4;
    }
    assert!(patched > 0);
    let err = analyze_bytes(&bytes, None).unwrap_err();
    assert!(err.to_string().contains("beyond"), "{err}");
}

/// Found by cargo-fuzz: a mutated Voice_Turn.tflite on which tract-tflite 0.23.9's loader panics
/// (an operator input indexed unchecked). SEAM still analyses the file and reports the refusal.
#[test]
fn a_panic_in_tract_tflite_is_contained_and_reported() {
    let bytes =
        std::fs::read(PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/data/tract-tflite-panic.tflite")).unwrap();
    match analyze_bytes(&bytes, None) {
        Ok(a) => assert!(a.notes.iter().any(|n| n.contains("cannot load")), "{:?}", a.notes),
        Err(BridgeError::InvalidModel { message, .. }) => assert!(!message.is_empty()),
        Err(other) => panic!("unexpected {other}"),
    }
    // SEAM's own reading of it needs no catch.
    let _ = seam_compiler_bridge::tflite::analyze_file_only(&bytes);
}
