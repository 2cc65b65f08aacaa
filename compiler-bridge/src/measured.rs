//! What a model file is measured as, whatever its format: the [`Analysis`] and its parts, the
//! bounds every loader applies, and MACs counted from tract's cost model. `analysis` (ONNX) and
//! `tflite` both fill these; neither depends on the other for them.

use std::collections::BTreeMap;

use serde::Serialize;
use tract_onnx::prelude::*;

/// Largest tensor a model may declare, in elements (2^28: 1 GiB of float32). TinyML models are
/// far below; anything above is a hostile or broken file, refused before allocation.
pub const MAX_ELEMENTS: u64 = 1 << 28;
/// Arena alignment of the planner (TensorFlow Lite Micro aligns tensors to 16 bytes).
pub const ARENA_ALIGNMENT: u64 = 16;

/// One model input or output.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TensorInfo {
    /// Name in the graph.
    pub name: String,
    /// Concrete shape (symbolic dimensions bound to 1).
    pub shape: Vec<usize>,
    /// Element type (`float32`, `int8`, ...).
    pub dtype: String,
}

/// Weight storage in two representations.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct WeightBytes {
    /// All parameters as float32.
    pub float32: u64,
    /// Weights as int8 and biases as int32, as TFLite int8 models store them.
    pub int8: u64,
    /// The parameters as the file stores them, each in its own type (an int8 QDQ or QOperator
    /// model's weights take one byte each, its int32 biases four).
    pub stored: u64,
}

/// The measurement of one model file.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Analysis {
    /// `onnx` or `tflite`.
    pub format: String,
    /// SHA-256 of the file, lowercase hex.
    pub sha256: String,
    /// File size.
    pub file_bytes: u64,
    /// Graph inputs (initializers excluded).
    pub inputs: Vec<TensorInfo>,
    /// Graph outputs.
    pub outputs: Vec<TensorInfo>,
    /// ONNX operator types and how often each occurs.
    pub operators: BTreeMap<String, u64>,
    /// Learnable weights and biases.
    pub params: u64,
    /// Multiply-accumulates of one inference (tract's cost model).
    pub macs: u64,
    /// Weight storage as float32 and as int8.
    pub weight_bytes: WeightBytes,
    /// The type most parameter bytes are stored in (`int8`, `uint8`, `float32`, …).
    pub weight_dtype: String,
    /// The type activations flow in between layers: 8-bit in a quantised model (QOperator, or QDQ
    /// around the activations), else the graph's float type. The arena is sized in it.
    pub activation_dtype: String,
    /// Largest sum of simultaneously live activation tensors (a lower bound).
    pub peak_activation_bytes: u64,
    /// Arena a TFLM-style greedy planner allocates for the activations.
    pub arena_bytes: u64,
    /// What else the analysis found worth saying (a second loader's opinion, what was left out).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<String>,
}

impl WeightBytes {
    /// The parameters and weight sizes of `weights` learnable weights and `biases` biases
    /// (elements), stored in `stored` bytes: float32 is 4 bytes a parameter, int8 quantisation
    /// keeps biases in 32 bits; the stored data type is the one holding the most bytes.
    pub(crate) fn tally(
        params: u64,
        weights: u64,
        biases: u64,
        stored: u64,
        stored_by_type: &std::collections::HashMap<&str, u64>,
    ) -> (u64, Self, String) {
        let weight_dtype = stored_by_type
            .iter()
            .max_by_key(|(name, bytes)| (**bytes, **name))
            .map_or("float32", |(name, _)| name)
            .to_owned();
        (
            params,
            Self {
                float32: params * 4,
                int8: weights + biases * 4,
                stored,
            },
            weight_dtype,
        )
    }
}

/// Operators whose multiply-accumulates are a model's MACs: convolutions and matrix products.
/// tract also prices element-wise work as FMA — an unfused batch norm's `Mul`, a pooling's
/// `Reduce` — which published MAC counts leave out (MobileNetV1-0.25: 7,489,664 from the linear
/// layers, as MLPerf Tiny publishes, against 7,705,344 for every FMA).
fn is_linear_layer(op_name: &str) -> bool {
    ["Conv", "Deconv", "EinSum", "MatMul", "Gemm", "Lstm", "Gru", "Rnn"]
        .iter()
        .any(|prefix| op_name.starts_with(prefix))
}

/// Sum of `Cost::FMA` over the linear layers of the decluttered model.
pub(crate) fn count_macs(model: &TypedModel) -> Result<u64, String> {
    let mut macs = 0u64;
    for node in model.nodes.iter().filter(|n| is_linear_layer(&n.op.name())) {
        let inputs: Vec<&TypedFact> = node
            .inputs
            .iter()
            .map(|o| model.outlet_fact(*o))
            .collect::<TractResult<_>>()
            .map_err(|e| e.to_string())?;
        let costs = node
            .op
            .cost(&inputs)
            .map_err(|e| format!("cost of {}: {e}", node.name))?;
        for (cost, count) in costs {
            if let tract_onnx::tract_core::ops::Cost::FMA(_) = cost {
                let n = count
                    .to_i64()
                    .map_err(|e| format!("symbolic cost in {}: {e}", node.name))?;
                macs += u64::try_from(n).unwrap_or(0);
            }
        }
    }
    Ok(macs)
}
