//! Validation of a transformed model against its original: both run in tract on the same seeded
//! inputs, and their outputs are compared.
//!
//! When a model ends in Softmax, the comparison is made on its input (the logits): probabilities
//! saturate and hide errors, and they are where tract's quantised-softmax lookup table would hide
//! a broken model. Top-1 agreement is the share of samples whose arg-max is the same.

use serde::Serialize;
use tract_onnx::prelude::*;

use crate::BridgeError;

/// How a transformed model compares with its original.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ValidationReport {
    /// Seeded inputs run through both.
    pub samples: usize,
    /// What was compared: `logits` (before a final Softmax) or `outputs`.
    pub compared: String,
    /// Largest absolute difference of any output value.
    pub max_abs_error: f32,
    /// `max_abs_error` over the largest absolute original value.
    pub relative_error: f32,
    /// Share of samples with the same arg-max (the last axis).
    pub top1_agreement: f32,
}

/// Thresholds a transformed model must meet.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Thresholds {
    /// Largest acceptable relative error.
    pub max_relative_error: f32,
    /// Smallest acceptable top-1 agreement.
    pub min_top1_agreement: f32,
}

impl Default for Thresholds {
    fn default() -> Self {
        Self {
            max_relative_error: 0.1,
            min_top1_agreement: 0.95,
        }
    }
}

impl ValidationReport {
    /// `Err` with the report when a threshold is exceeded.
    pub fn check(&self, thresholds: &Thresholds) -> Result<(), BridgeError> {
        if self.relative_error > thresholds.max_relative_error || self.top1_agreement < thresholds.min_top1_agreement {
            return Err(BridgeError::ValidationFailed(format!(
                "relative error {:.4} (at most {}), top-1 agreement {:.3} (at least {}), max abs error {:.5} over {} samples of the {}",
                self.relative_error,
                thresholds.max_relative_error,
                self.top1_agreement,
                thresholds.min_top1_agreement,
                self.max_abs_error,
                self.samples,
                self.compared
            )));
        }
        Ok(())
    }
}

type Runnable = std::sync::Arc<TypedSimplePlan>;

/// Loads a model for running, with its output moved before a final Softmax when there is one.
fn runnable(bytes: &[u8]) -> Result<(Runnable, bool, Vec<usize>), BridgeError> {
    let fail = |what: &str, e: TractError| BridgeError::InvalidModel {
        path: "<model>".into(),
        message: format!("{what}: {e:#}"),
    };
    let mut model = tract_onnx::onnx()
        .model_for_read(&mut &bytes[..])
        .map_err(|e| fail("tract cannot load the model", e))?
        .into_typed()
        .and_then(|m| m.into_decluttered())
        .map_err(|e| fail("tract cannot type the model", e))?;
    let output = model.output_outlets().map_err(|e| fail("no output", e))?[0];
    let producer = model.node(output.node);
    let logits = producer.op.name().starts_with("Softmax") && !producer.inputs.is_empty();
    if logits {
        let before = producer.inputs[0];
        model
            .select_output_outlets(&[before])
            .map_err(|e| fail("cannot select the logits", e))?;
    }
    let input = model.input_outlets().map_err(|e| fail("no input", e))?[0];
    let shape = model
        .outlet_fact(input)
        .ok()
        .and_then(|f| f.shape.as_concrete().map(<[usize]>::to_vec))
        .ok_or_else(|| BridgeError::Unsupported("the model's input shape is not concrete".into()))?;
    let plan = model
        .into_optimized()
        .and_then(|m| m.into_runnable())
        .map_err(|e| fail("tract cannot plan the model", e))?;
    Ok((plan, logits, shape))
}

/// Runs `original` and `transformed` on `samples` inputs drawn from `seed` and compares them.
pub fn compare(
    original: &[u8],
    transformed: &[u8],
    samples: usize,
    seed: u64,
) -> Result<ValidationReport, BridgeError> {
    let (a, logits, shape) = runnable(original)?;
    let (b, _, shape_b) = runnable(transformed)?;
    if shape != shape_b {
        return Err(BridgeError::ValidationFailed(format!(
            "input shapes differ: {shape:?} and {shape_b:?}"
        )));
    }
    let run_fail = |e: TractError| BridgeError::ValidationFailed(format!("a run failed: {e:#}"));
    let mut rng = seed.wrapping_mul(6364136223846793005).wrapping_add(1);
    let (mut max_abs, mut max_ref, mut agree) = (0f32, 0f32, 0usize);
    for _ in 0..samples.max(1) {
        let n: usize = shape.iter().product();
        let data: Vec<f32> = (0..n)
            .map(|_| {
                rng = rng.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
                ((rng >> 40) as f32 / (1u64 << 24) as f32) * 2.0 - 1.0
            })
            .collect();
        let input = tract_ndarray::ArrayD::from_shape_vec(shape.clone(), data)
            .map_err(|e| BridgeError::ValidationFailed(e.to_string()))?;
        let tensor: Tensor = input.into();
        let out_a = a.run(tvec!(tensor.clone().into())).map_err(run_fail)?;
        let out_b = b.run(tvec!(tensor.into())).map_err(run_fail)?;
        let view_a = out_a[0].to_plain_array_view::<f32>().map_err(run_fail)?;
        let view_b = out_b[0].to_plain_array_view::<f32>().map_err(run_fail)?;
        let va: Vec<f32> = view_a.iter().copied().collect();
        let vb: Vec<f32> = view_b.iter().copied().collect();
        if va.len() != vb.len() {
            return Err(BridgeError::ValidationFailed(format!(
                "outputs differ in size: {} and {}",
                va.len(),
                vb.len()
            )));
        }
        for (x, y) in va.iter().zip(&vb) {
            max_abs = max_abs.max((x - y).abs());
            max_ref = max_ref.max(x.abs());
        }
        let argmax = |v: &[f32]| v.iter().enumerate().max_by(|p, q| p.1.total_cmp(q.1)).map(|(i, _)| i);
        if argmax(&va) == argmax(&vb) {
            agree += 1;
        }
    }
    let samples = samples.max(1);
    Ok(ValidationReport {
        samples,
        compared: if logits { "logits".into() } else { "outputs".into() },
        max_abs_error: max_abs,
        relative_error: if max_ref > 0.0 { max_abs / max_ref } else { max_abs },
        top1_agreement: agree as f32 / samples as f32,
    })
}
