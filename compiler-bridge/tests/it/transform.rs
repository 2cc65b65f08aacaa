//! int8 weight quantisation and pruning on the MLPerf Tiny reference architectures, validated by
//! running original and transformed models in tract.

use seam_compiler_bridge::analysis::analyze_bytes;
use seam_compiler_bridge::onnx_build::{mlperf_tiny, to_bytes};
use seam_compiler_bridge::transform::{fold_batch_norms, initializer_bytes, prune, quantize_int8};
use seam_compiler_bridge::validate::{compare, Thresholds};
use seam_compiler_bridge::BridgeError;

#[test]
fn int8_shrinks_weights_3_5_times_and_agrees_on_top1() {
    for reference in mlperf_tiny(21) {
        let original = to_bytes(&reference.model);
        let mut model = reference.model.clone();
        let report = quantize_int8(&mut model).unwrap();
        let quantized = to_bytes(&model);
        let shrink = initializer_bytes(&reference.model) as f64 / initializer_bytes(&model) as f64;
        let validation = compare(&original, &quantized, 20, 5).unwrap();
        eprintln!(
            "{:18} folded {:2} BN, {:2} int8 weights, stored weights {:>8} → {:>7} bytes ({shrink:.2}×), {:?}",
            reference.name,
            report.folded_batch_norms,
            report.quantized_weights,
            initializer_bytes(&reference.model),
            initializer_bytes(&model),
            validation
        );
        assert!(shrink >= 3.5, "{}: {shrink:.2}×", reference.name);
        assert!(validation.top1_agreement >= 0.95, "{}: {validation:?}", reference.name);
        Thresholds::default().check(&validation).unwrap();
        // The quantised file is a valid model tract runs, and analyses as int8 storage.
        let analysis = analyze_bytes(&quantized, None).unwrap();
        assert!(analysis.operators.contains_key("DequantizeLinear"));
        assert!(!analysis.operators.contains_key("BatchNormalization"));
    }
}

#[test]
fn folding_batch_norms_changes_nothing_but_the_graph() {
    for reference in mlperf_tiny(4) {
        let mut model = reference.model.clone();
        let folded = fold_batch_norms(&mut model).unwrap();
        assert!(folded > 0, "{}", reference.name);
        let validation = compare(&to_bytes(&reference.model), &to_bytes(&model), 5, 1).unwrap();
        assert!(validation.relative_error < 1e-4, "{}: {validation:?}", reference.name);
    }
}

#[test]
fn pruning_reaches_the_sparsity_and_validation_catches_a_broken_model() {
    let reference = seam_compiler_bridge::onnx_build::resnet8(9);
    let mut model = reference.model.clone();
    let sparsity = prune(&mut model, 0.5).unwrap();
    assert!((0.5..0.52).contains(&sparsity), "{sparsity}");
    assert!(prune(&mut model, 1.5).is_err());

    // Pruning 99% of the weights breaks the model; validation says so, with the figures.
    let mut broken = reference.model.clone();
    prune(&mut broken, 0.99).unwrap();
    let report = compare(&to_bytes(&reference.model), &to_bytes(&broken), 20, 3).unwrap();
    match Thresholds::default().check(&report) {
        Err(BridgeError::ValidationFailed(message)) => {
            assert!(
                message.contains("relative error") && message.contains("logits"),
                "{message}"
            )
        }
        other => panic!("expected a validation failure, got {other:?} for {report:?}"),
    }
}
