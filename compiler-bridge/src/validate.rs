//! Validation of a transformed model against its original: both run in tract on the same seeded
//! inputs, and their outputs are compared.
//!
//! When a model ends in Softmax, the comparison is made on its input (the logits): probabilities
//! saturate and hide errors, and they are where tract's quantised-softmax lookup table would hide
//! a broken model. Top-1 agreement is the share of samples whose arg-max is the same.

use tract_onnx::prelude::*;

use crate::BridgeError;

pub use seam_package::ValidationReport;

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

impl Thresholds {
    /// `Err` with the report when `report` exceeds a threshold.
    pub fn check(&self, report: &ValidationReport) -> Result<(), BridgeError> {
        let (thresholds, this) = (self, report);
        if this.relative_error > thresholds.max_relative_error || this.top1_agreement < thresholds.min_top1_agreement {
            return Err(BridgeError::ValidationFailed(format!(
                "relative error {:.4} (at most {}), top-1 agreement {:.3} (at least {}), max abs error {:.5} over {} samples of the {}",
                this.relative_error,
                thresholds.max_relative_error,
                this.top1_agreement,
                thresholds.min_top1_agreement,
                this.max_abs_error,
                this.samples,
                this.compared
            )));
        }
        Ok(())
    }
}

type Runnable = std::sync::Arc<TypedSimplePlan>;

/// A compiled model to compare with its original, in a form tract runs.
#[derive(Debug, Clone, Copy)]
pub enum Candidate<'a> {
    /// An ONNX file.
    Onnx(&'a [u8]),
    /// An NNEF archive (tar) as tract writes it.
    Nnef(&'a [u8]),
    /// A TFLite flatbuffer.
    Tflite(&'a [u8]),
}

fn load_fail(what: &str, e: TractError) -> BridgeError {
    BridgeError::InvalidModel {
        path: "<model>".into(),
        message: format!("{what}: {e:#}"),
    }
}

/// Moves an ONNX graph's output to the input of a final Softmax, looking through the
/// quantise/dequantise pairs an activation-quantised model wraps it in. This is done on the
/// graph itself, before tract sees it: tract 0.23.9 folds `DequantizeLinear → Softmax →
/// QuantizeLinear` into a lookup table with a constant output, so a quantised classifier would
/// otherwise validate against garbage. Returns whether it moved the output.
pub fn cut_before_softmax(proto: &mut tract_onnx::pb::ModelProto) -> bool {
    let Some(graph) = proto.graph.as_mut() else {
        return false;
    };
    let Some(output) = graph.output.first().map(|o| o.name.clone()) else {
        return false;
    };
    let mut name = output;
    for _ in 0..8 {
        let Some(node) = graph.node.iter().find(|n| n.output.first() == Some(&name)) else {
            return false;
        };
        match node.op_type.as_str() {
            "Softmax" => {
                let Some(logits) = node.input.first().cloned() else {
                    return false;
                };
                graph.output.truncate(1);
                graph.output[0] = tract_onnx::pb::ValueInfoProto {
                    name: logits,
                    ..Default::default()
                };
                return true;
            }
            "QuantizeLinear" | "DequantizeLinear" | "Cast" | "Identity" => match node.input.first() {
                Some(input) => name = input.clone(),
                None => return false,
            },
            _ => return false,
        }
    }
    false
}

/// Loads a model for running, with its output moved before a final Softmax when there is one.
fn runnable(candidate: Candidate<'_>) -> Result<(Runnable, bool, Vec<usize>), BridgeError> {
    let (mut model, mut logits) = match candidate {
        Candidate::Onnx(bytes) => {
            use prost::Message as _;
            let mut proto = tract_onnx::pb::ModelProto::decode(bytes).map_err(|e| BridgeError::InvalidModel {
                path: "<model>".into(),
                message: format!("not an ONNX model: {e}"),
            })?;
            let cut = cut_before_softmax(&mut proto);
            let model = tract_onnx::onnx()
                .model_for_proto_model(&proto)
                .map_err(|e| load_fail("tract cannot load the model", e))?
                .into_typed()
                .and_then(|m| m.into_decluttered())
                .map_err(|e| load_fail("tract cannot type the model", e))?;
            (model, cut)
        }
        Candidate::Nnef(bytes) => {
            let model = tract_nnef::nnef()
                .with_onnx()
                .model_for_read(&mut &bytes[..])
                .and_then(|m| m.into_decluttered())
                .map_err(|e| load_fail("tract cannot load the NNEF archive", e))?;
            (model, false)
        }
        Candidate::Tflite(bytes) => {
            let model = tract_tflite::tflite()
                .model_for_read(&mut &bytes[..])
                .and_then(|m| m.into_decluttered())
                .map_err(|e| load_fail("tract cannot load the TFLite file", e))?;
            (model, false)
        }
    };
    if !logits {
        let output = model.output_outlets().map_err(|e| load_fail("no output", e))?[0];
        let producer = model.node(output.node);
        if producer.op.name().starts_with("Softmax") && !producer.inputs.is_empty() {
            let before = producer.inputs[0];
            model
                .select_output_outlets(&[before])
                .map_err(|e| load_fail("cannot select the logits", e))?;
            logits = true;
        }
    }
    let input = model.input_outlets().map_err(|e| load_fail("no input", e))?[0];
    let shape = model
        .outlet_fact(input)
        .ok()
        .and_then(|f| f.shape.as_concrete().map(<[usize]>::to_vec))
        .ok_or_else(|| BridgeError::Unsupported("the model's input shape is not concrete".into()))?;
    let plan = model
        .into_optimized()
        .and_then(|m| m.into_runnable())
        .map_err(|e| load_fail("tract cannot plan the model", e))?;
    Ok((plan, logits, shape))
}

/// Seeded inputs of `elements` values uniform in [-1, 1), one `Vec` per sample: the same seed
/// gives the same inputs, for validation and for the calibration data external compilers get.
pub fn seeded_inputs(elements: usize, seed: u64) -> impl Iterator<Item = Vec<f32>> {
    let mut rng = seed.wrapping_mul(6364136223846793005).wrapping_add(1);
    std::iter::repeat_with(move || {
        (0..elements)
            .map(|_| {
                rng = rng.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
                ((rng >> 40) as f32 / (1u64 << 24) as f32) * 2.0 - 1.0
            })
            .collect()
    })
}

/// Runs `original` and an ONNX `transformed` on `samples` seeded inputs and compares them.
pub fn compare(
    original: &[u8],
    transformed: &[u8],
    samples: usize,
    seed: u64,
) -> Result<ValidationReport, BridgeError> {
    compare_with(original, Candidate::Onnx(transformed), samples, seed)
}

/// Runs the ONNX `original` and a compiled `candidate` on `samples` inputs drawn from `seed` and
/// compares them (on the logits when both end in a Softmax).
pub fn compare_with(
    original: &[u8],
    candidate: Candidate<'_>,
    samples: usize,
    seed: u64,
) -> Result<ValidationReport, BridgeError> {
    let (a, logits, shape) = runnable(Candidate::Onnx(original))?;
    let (b, logits_b, shape_b) = runnable(candidate)?;
    if logits != logits_b {
        return Err(BridgeError::ValidationFailed(
            "one model ends in a Softmax and the other does not; their outputs cannot be compared".into(),
        ));
    }
    if shape != shape_b {
        return Err(BridgeError::ValidationFailed(format!(
            "input shapes differ: {shape:?} and {shape_b:?}"
        )));
    }
    let run_fail = |e: TractError| BridgeError::ValidationFailed(format!("a run failed: {e:#}"));
    let (mut max_abs, mut max_ref, mut agree) = (0f32, 0f32, 0usize);
    let elements: usize = shape.iter().product();
    for data in seeded_inputs(elements, seed).take(samples.max(1)) {
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
