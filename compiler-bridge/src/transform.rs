//! Transforms of ONNX models: batch-norm folding, int8 weight quantisation (QDQ), magnitude
//! pruning. Each takes a model and returns a new one; nothing is changed in place on disk.
//!
//! Quantisation is weight-only and symmetric: every Conv/ConvTranspose/Gemm/MatMul weight becomes
//! an int8 initializer, per output channel, read through `DequantizeLinear` (zero point 0, left
//! out). Activations stay float32, so tract runs the result as it is, and the trap of quantised
//! activations (tract turns `DequantizeLinear → Softmax → QuantizeLinear` into a lookup table) does
//! not arise. Batch normalisations that follow a Conv or Gemm are folded into it first, as
//! TFLite's converter does, so their parameters shrink with the weights.

use std::collections::{HashMap, HashSet};

use tract_onnx::pb;
use tract_onnx::pb::attribute_proto::AttributeType;

use crate::BridgeError;

fn unsupported(message: String) -> BridgeError {
    BridgeError::Unsupported(message)
}

/// The float32 values of an initializer (raw little-endian data or `float_data`).
pub(crate) fn floats(tensor: &pb::TensorProto) -> Option<Vec<f32>> {
    if tensor.data_type != 1 {
        return None;
    }
    if !tensor.raw_data.is_empty() {
        if !tensor.raw_data.len().is_multiple_of(4) {
            return None;
        }
        return Some(
            tensor
                .raw_data
                .chunks_exact(4)
                .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
                .collect(),
        );
    }
    Some(tensor.float_data.clone())
}

fn set_floats(tensor: &mut pb::TensorProto, values: &[f32]) {
    tensor.data_type = 1;
    tensor.float_data.clear();
    tensor.raw_data = values.iter().flat_map(|v| v.to_le_bytes()).collect();
}

fn attribute_int(node: &pb::NodeProto, name: &str) -> Option<i64> {
    node.attribute.iter().find(|a| a.name == name).map(|a| a.i)
}

fn attribute_float(node: &pb::NodeProto, name: &str) -> Option<f32> {
    node.attribute.iter().find(|a| a.name == name).map(|a| a.f)
}

/// Which axis of a compute node's weight (input 1) holds its output channels.
fn output_axis(node: &pb::NodeProto) -> Option<usize> {
    match node.op_type.as_str() {
        "Conv" => Some(0),
        "ConvTranspose" => Some(1),
        "Gemm" => Some(if attribute_int(node, "transB") == Some(1) { 0 } else { 1 }),
        "MatMul" => Some(1),
        _ => None,
    }
}

fn graph_mut(model: &mut pb::ModelProto) -> Result<&mut pb::GraphProto, BridgeError> {
    model
        .graph
        .as_mut()
        .ok_or_else(|| unsupported("the model has no graph".into()))
}

/// Folds every BatchNormalization whose input is the only use of a Conv's or Gemm's output
/// (weights as initializers) into that node. Returns how many were folded.
pub fn fold_batch_norms(model: &mut pb::ModelProto) -> Result<usize, BridgeError> {
    let graph = graph_mut(model)?;
    let mut uses: HashMap<String, usize> = HashMap::new();
    for node in &graph.node {
        for input in &node.input {
            *uses.entry(input.clone()).or_default() += 1;
        }
    }
    let outputs: HashSet<String> = graph.output.iter().map(|o| o.name.clone()).collect();
    let mut folded = 0;
    let mut removed_nodes = HashSet::new();
    let mut removed_initializers = HashSet::new();
    for bn_index in 0..graph.node.len() {
        let bn = graph.node[bn_index].clone();
        if bn.op_type != "BatchNormalization" || bn.input.len() < 5 {
            continue;
        }
        let Some(producer_index) = graph.node.iter().position(|n| n.output.first() == Some(&bn.input[0])) else {
            continue;
        };
        let producer = graph.node[producer_index].clone();
        let Some(axis) = output_axis(&producer).filter(|_| matches!(producer.op_type.as_str(), "Conv" | "Gemm")) else {
            continue;
        };
        if uses.get(&bn.input[0]) != Some(&1) || outputs.contains(&bn.input[0]) {
            continue;
        }
        let find = |name: &str| graph.initializer.iter().position(|t| t.name == name);
        let (Some(w_at), Some(scale_at), Some(shift_at), Some(mean_at), Some(var_at)) = (
            producer.input.get(1).and_then(|n| find(n)),
            find(&bn.input[1]),
            find(&bn.input[2]),
            find(&bn.input[3]),
            find(&bn.input[4]),
        ) else {
            continue;
        };
        let (Some(mut w), Some(gamma), Some(beta), Some(mean), Some(var)) = (
            floats(&graph.initializer[w_at]),
            floats(&graph.initializer[scale_at]),
            floats(&graph.initializer[shift_at]),
            floats(&graph.initializer[mean_at]),
            floats(&graph.initializer[var_at]),
        ) else {
            continue;
        };
        let dims = graph.initializer[w_at].dims.clone();
        let channels = dims.get(axis).copied().unwrap_or(0) as usize;
        if channels == 0
            || [gamma.len(), beta.len(), mean.len(), var.len()]
                .iter()
                .any(|&l| l != channels)
        {
            continue;
        }
        let eps = attribute_float(&bn, "epsilon").unwrap_or(1e-5);
        let factor: Vec<f32> = (0..channels).map(|c| gamma[c] / (var[c] + eps).sqrt()).collect();
        scale_axis(&mut w, &dims, axis, &factor);
        let bias = match producer
            .input
            .get(2)
            .and_then(|n| find(n))
            .and_then(|i| floats(&graph.initializer[i]))
        {
            Some(b) if b.len() == channels => b,
            _ => vec![0.0; channels],
        };
        let new_bias: Vec<f32> = (0..channels)
            .map(|c| (bias[c] - mean[c]) * factor[c] + beta[c])
            .collect();
        set_floats(&mut graph.initializer[w_at], &w);
        let bias_name = format!("{}_folded_bias", producer.output[0]);
        graph.initializer.push(pb::TensorProto {
            name: bias_name.clone(),
            dims: vec![channels as i64],
            ..Default::default()
        });
        let last = graph.initializer.len() - 1;
        set_floats(&mut graph.initializer[last], &new_bias);
        let node = &mut graph.node[producer_index];
        if node.input.len() > 2 {
            removed_initializers.insert(node.input[2].clone());
            node.input[2] = bias_name;
        } else {
            node.input.push(bias_name);
        }
        // The producer now writes what the batch norm wrote.
        node.output[0] = bn.output[0].clone();
        for name in &bn.input[1..5] {
            removed_initializers.insert(name.clone());
        }
        removed_nodes.insert(bn_index);
        folded += 1;
    }
    let mut index = 0;
    graph.node.retain(|_| {
        index += 1;
        !removed_nodes.contains(&(index - 1))
    });
    let still_used: HashSet<String> = graph.node.iter().flat_map(|n| n.input.iter().cloned()).collect();
    graph
        .initializer
        .retain(|t| !removed_initializers.contains(&t.name) || still_used.contains(&t.name));
    Ok(folded)
}

/// Multiplies each slice of `values` (shape `dims`) along `axis` by `factor[c]`.
fn scale_axis(values: &mut [f32], dims: &[i64], axis: usize, factor: &[f32]) {
    let inner: usize = dims[axis + 1..].iter().product::<i64>() as usize;
    let channels = dims[axis] as usize;
    for (i, v) in values.iter_mut().enumerate() {
        *v *= factor[(i / inner.max(1)) % channels];
    }
}

/// What quantisation did.
#[derive(Debug, Clone, PartialEq)]
pub struct QuantizeReport {
    /// Batch normalisations folded first.
    pub folded_batch_norms: usize,
    /// Weights now stored as int8.
    pub quantized_weights: usize,
}

/// Symmetric per-output-channel int8 weights, read through `DequantizeLinear` (QDQ form).
pub fn quantize_int8(model: &mut pb::ModelProto) -> Result<QuantizeReport, BridgeError> {
    let opset = model
        .opset_import
        .iter()
        .filter(|o| o.domain.is_empty())
        .map(|o| o.version)
        .max()
        .unwrap_or(0);
    if opset < 13 {
        return Err(unsupported(format!(
            "per-channel DequantizeLinear needs ONNX opset 13 or later; the model imports opset {opset}"
        )));
    }
    let folded = fold_batch_norms(model)?;
    let graph = graph_mut(model)?;
    let mut done: HashMap<String, String> = HashMap::new();
    let mut quantized = 0;
    let mut new_nodes = Vec::new();
    for node_index in 0..graph.node.len() {
        let node = graph.node[node_index].clone();
        let Some(axis) = output_axis(&node) else { continue };
        let Some(weight) = node.input.get(1).cloned() else {
            continue;
        };
        if let Some(dq) = done.get(&weight) {
            graph.node[node_index].input[1] = dq.clone();
            continue;
        }
        let Some(at) = graph.initializer.iter().position(|t| t.name == weight) else {
            continue;
        };
        let Some(values) = floats(&graph.initializer[at]) else {
            continue;
        };
        let dims = graph.initializer[at].dims.clone();
        if axis >= dims.len() {
            continue;
        }
        let channels = dims[axis] as usize;
        let inner: usize = dims[axis + 1..].iter().product::<i64>() as usize;
        let mut max_abs = vec![0f32; channels];
        for (i, v) in values.iter().enumerate() {
            let c = (i / inner.max(1)) % channels;
            max_abs[c] = max_abs[c].max(v.abs());
        }
        let scales: Vec<f32> = max_abs.iter().map(|m| if *m > 0.0 { m / 127.0 } else { 1.0 }).collect();
        let q: Vec<u8> = values
            .iter()
            .enumerate()
            .map(|(i, v)| ((v / scales[(i / inner.max(1)) % channels]).round().clamp(-127.0, 127.0) as i8) as u8)
            .collect();
        let (q_name, s_name, dq_name) = (
            format!("{weight}_int8"),
            format!("{weight}_scale"),
            format!("{weight}_dequantized"),
        );
        graph.initializer[at] = pb::TensorProto {
            name: q_name.clone(),
            dims: dims.clone(),
            data_type: 3,
            raw_data: q,
            ..Default::default()
        };
        let mut scale = pb::TensorProto {
            name: s_name.clone(),
            dims: vec![channels as i64],
            ..Default::default()
        };
        set_floats(&mut scale, &scales);
        graph.initializer.push(scale);
        new_nodes.push(pb::NodeProto {
            name: format!("{weight}_DequantizeLinear"),
            op_type: "DequantizeLinear".into(),
            input: vec![q_name, s_name],
            output: vec![dq_name.clone()],
            attribute: vec![pb::AttributeProto {
                name: "axis".into(),
                r#type: AttributeType::Int as i32,
                i: axis as i64,
                ..Default::default()
            }],
            ..Default::default()
        });
        graph.node[node_index].input[1] = dq_name.clone();
        done.insert(weight, dq_name);
        quantized += 1;
    }
    // Initializers feed nodes in any order; the dequantisations go first so the graph stays
    // topologically sorted, as ONNX requires.
    new_nodes.append(&mut graph.node);
    graph.node = new_nodes;
    Ok(QuantizeReport {
        folded_batch_norms: folded,
        quantized_weights: quantized,
    })
}

/// Zeroes the smallest-magnitude `sparsity` fraction of every compute weight. Returns the
/// fraction of weights now zero.
pub fn prune(model: &mut pb::ModelProto, sparsity: f64) -> Result<f64, BridgeError> {
    if !(0.0..1.0).contains(&sparsity) {
        return Err(unsupported(format!("sparsity {sparsity} is not in [0, 1)")));
    }
    let graph = graph_mut(model)?;
    let weights: HashSet<String> = graph
        .node
        .iter()
        .filter(|n| output_axis(n).is_some())
        .filter_map(|n| n.input.get(1).cloned())
        .collect();
    let (mut zero, mut total) = (0usize, 0usize);
    for tensor in graph.initializer.iter_mut().filter(|t| weights.contains(&t.name)) {
        let Some(mut values) = floats(tensor) else { continue };
        let mut magnitudes: Vec<f32> = values.iter().map(|v| v.abs()).collect();
        let cut = ((values.len() as f64) * sparsity).floor() as usize;
        if cut > 0 {
            let (_, threshold, _) = magnitudes.select_nth_unstable_by(cut - 1, f32::total_cmp);
            let threshold = *threshold;
            let mut removed = 0;
            for v in values.iter_mut() {
                if v.abs() <= threshold && removed < cut {
                    *v = 0.0;
                    removed += 1;
                }
            }
        }
        zero += values.iter().filter(|v| **v == 0.0).count();
        total += values.len();
        set_floats(tensor, &values);
    }
    Ok(if total == 0 { 0.0 } else { zero as f64 / total as f64 })
}

/// Bytes of every initializer as stored (weights, biases, scales, shapes).
pub fn initializer_bytes(model: &pb::ModelProto) -> u64 {
    model
        .graph
        .as_ref()
        .map(|g| {
            g.initializer
                .iter()
                .map(|t| {
                    if !t.raw_data.is_empty() {
                        t.raw_data.len() as u64
                    } else {
                        (t.float_data.len() * 4 + t.int64_data.len() * 8 + t.int32_data.len() * 4) as u64
                    }
                })
                .sum()
        })
        .unwrap_or(0)
}
