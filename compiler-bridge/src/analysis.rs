//! `seam analyze`: what a model is and what it costs, measured from the file. ONNX is handled
//! here; TFLite files are recognised by their magic and handed to [`crate::tflite`].
//!
//! - Structure (inputs, outputs, operator histogram) and **params** come from the ONNX graph
//!   itself: learnable weights and biases are the initializers that feed compute operators
//!   (shape constants and quantisation scales are not).
//! - **MACs** come from tract's cost model: `Cost::FMA` summed over the decluttered model.
//! - **Memory** comes from the tensors' lifetimes over tract's execution order: the liveness
//!   peak and TFLM's greedy arena plan ([`crate::memory`]).
//!
//! Untrusted files are checked before tract sees them: declared sizes against the bytes present
//! and against a bound, graph cycles, and external-data locations outside the model's folder.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::Path;

use prost::Message as _;
use tract_onnx::pb;
use tract_onnx::prelude::*;

use crate::memory::{greedy_arena, peak_live_bytes, Lifetime};
use crate::BridgeError;

/// Largest number of nodes a graph may have.
pub const MAX_NODES: usize = 100_000;

use crate::measured::count_macs;
pub use crate::measured::{Analysis, TensorInfo, WeightBytes, ARENA_ALIGNMENT, MAX_ELEMENTS};

/// Compute operators whose initializer inputs are learnable parameters.
const COMPUTE_OPS: &[&str] = &[
    "Conv",
    "ConvTranspose",
    "Gemm",
    "MatMul",
    "BatchNormalization",
    "PRelu",
    "LSTM",
    "GRU",
    "RNN",
    "InstanceNormalization",
    "LayerNormalization",
    "Add",
    "Mul",
];

/// Analyses the model file at `path`; external data may only come from its folder.
pub fn analyze_path(path: &Path) -> Result<Analysis, BridgeError> {
    let invalid = |message: String| BridgeError::InvalidModel {
        path: path.display().to_string(),
        message,
    };
    let bytes = std::fs::read(path).map_err(|e| invalid(format!("cannot read: {e}")))?;
    analyze_bytes(&bytes, path.parent()).map_err(|e| match e {
        BridgeError::InvalidModel { message, .. } => invalid(message),
        other => other,
    })
}

/// Analyses a model held in memory; `model_dir` is where external data may be read from (none
/// is allowed without it).
pub fn analyze_bytes(bytes: &[u8], model_dir: Option<&Path>) -> Result<Analysis, BridgeError> {
    if crate::tflite::is_tflite(bytes) {
        return crate::tflite::analyze(bytes);
    }
    // SEAM's checks before tract turn away what they know of (cycles, undefined names, sizes,
    // unreadable raw data); tract still panics on some malformed graphs (a Conv whose kernel
    // shape does not fit its input, found by fuzzing). A panic in it is that model's refusal,
    // never the process's end: each analysis builds its own model, so nothing is left half-made.
    match std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| analyze_onnx(bytes, model_dir))) {
        Ok(result) => result,
        Err(panic) => {
            let why = panic
                .downcast_ref::<&str>()
                .map(|s| (*s).to_owned())
                .or_else(|| panic.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "no message".to_owned());
            Err(BridgeError::InvalidModel {
                path: "<model>".into(),
                message: format!("tract cannot read the model (its loader failed: {why})"),
            })
        }
    }
}

fn analyze_onnx(bytes: &[u8], model_dir: Option<&Path>) -> Result<Analysis, BridgeError> {
    let invalid = |message: String| BridgeError::InvalidModel {
        path: "<model>".into(),
        message,
    };
    let proto = pb::ModelProto::decode(bytes).map_err(|e| invalid(format!("not an ONNX model: {e}")))?;
    let graph = proto
        .graph
        .as_ref()
        .ok_or_else(|| invalid("the ONNX model has no graph".into()))?;
    check_graph(graph, model_dir).map_err(invalid)?;

    let initializers: HashMap<&str, &pb::TensorProto> =
        graph.initializer.iter().map(|t| (t.name.as_str(), t)).collect();
    let mut operators = BTreeMap::new();
    for node in &graph.node {
        *operators.entry(node.op_type.clone()).or_insert(0u64) += 1;
    }
    let (params, weight_bytes, weight_dtype) = count_params(graph, &initializers);
    let activation_dtype = activation_dtype(graph, &initializers);

    let model_dir_text = model_dir.and_then(Path::to_str);
    let parsed = tract_onnx::onnx()
        .parse(&proto, model_dir_text)
        .map_err(|e| invalid(format!("tract cannot load the model: {e:#}")))?;
    if !parsed.unresolved_inputs.is_empty() {
        return Err(invalid(format!("unresolved inputs: {:?}", parsed.unresolved_inputs)));
    }
    let mut model = parsed.model;
    // Symbolic dimensions (a batch `N`) are measured at 1.
    let input_names: Vec<&pb::ValueInfoProto> = graph
        .input
        .iter()
        .filter(|i| !initializers.contains_key(i.name.as_str()))
        .collect();
    for (index, info) in input_names.iter().enumerate() {
        if let Some((dt, shape)) = concrete_input(info) {
            model = model
                .with_input_fact(index, InferenceFact::dt_shape(dt, shape))
                .map_err(|e| invalid(format!("input {}: {e:#}", info.name)))?;
        }
    }
    let typed = model
        .into_typed()
        .and_then(|m| m.into_decluttered())
        .map_err(|e| invalid(format!("tract cannot type the model: {e:#}")))?;

    let macs = count_macs(&typed).map_err(invalid)?;
    // tract computes a quantised graph's activations as float; the device keeps them in 8 bits.
    let activation_width = match activation_dtype.as_deref() {
        Some("int8" | "uint8") => Some(1),
        _ => None,
    };
    let (peak, arena) = plan_memory(&typed, activation_width).map_err(invalid)?;
    let tensor_info = |outlet: &OutletId, name: String| -> Result<TensorInfo, String> {
        let fact = typed.outlet_fact(*outlet).map_err(|e| e.to_string())?;
        Ok(TensorInfo {
            name,
            shape: fact.shape.as_concrete().map(<[usize]>::to_vec).unwrap_or_default(),
            dtype: dtype_name(fact.datum_type),
        })
    };
    let inputs = typed
        .input_outlets()
        .map_err(|e| invalid(e.to_string()))?
        .iter()
        .enumerate()
        .map(|(i, o)| tensor_info(o, input_names.get(i).map(|v| v.name.clone()).unwrap_or_default()))
        .collect::<Result<Vec<_>, _>>()
        .map_err(invalid)?;
    let outputs = typed
        .output_outlets()
        .map_err(|e| invalid(e.to_string()))?
        .iter()
        .enumerate()
        .map(|(i, o)| tensor_info(o, graph.output.get(i).map(|v| v.name.clone()).unwrap_or_default()))
        .collect::<Result<Vec<_>, _>>()
        .map_err(invalid)?;

    Ok(Analysis {
        format: "onnx".into(),
        sha256: sha256_hex(bytes),
        file_bytes: bytes.len() as u64,
        operators,
        params,
        macs,
        weight_bytes,
        weight_dtype,
        activation_dtype: activation_dtype
            .unwrap_or_else(|| inputs.first().map_or("float32".to_owned(), |i| i.dtype.clone())),
        peak_activation_bytes: peak,
        arena_bytes: arena,
        notes: Vec::new(),
        inputs,
        outputs,
    })
}

pub use seam_package::sha256_hex;

/// Structural checks before tract: sizes, cycles, external data.
fn check_graph(graph: &pb::GraphProto, model_dir: Option<&Path>) -> Result<(), String> {
    if graph.node.len() > MAX_NODES {
        return Err(format!("{} nodes (at most {MAX_NODES})", graph.node.len()));
    }
    for tensor in &graph.initializer {
        let elements = elements(&tensor.dims).ok_or_else(|| {
            format!(
                "initializer {:?} declares dimensions {:?}, beyond {MAX_ELEMENTS} elements",
                tensor.name, tensor.dims
            )
        })?;
        let width = element_width(tensor.data_type);
        if !tensor.raw_data.is_empty() && width > 0 && tensor.raw_data.len() as u64 != elements * width {
            return Err(format!(
                "initializer {:?} declares {elements} elements of {width} bytes but holds {} bytes",
                tensor.name,
                tensor.raw_data.len()
            ));
        }
        if let Some(location) = tensor.external_data.iter().find(|e| e.key == "location") {
            let inside = Path::new(&location.value)
                .components()
                .all(|c| matches!(c, std::path::Component::Normal(_) | std::path::Component::CurDir));
            if !inside {
                return Err(format!(
                    "initializer {:?} reads external data from {:?}, outside the model's folder",
                    tensor.name, location.value
                ));
            }
            if model_dir.is_none() {
                return Err(format!(
                    "initializer {:?} needs external data, and the model has no folder",
                    tensor.name
                ));
            }
        }
    }
    // tract reads raw tensor bytes of these types only, and panics on any other (found by
    // fuzzing: a string initializer with raw data).
    let attribute_tensors = graph
        .node
        .iter()
        .flat_map(|n| n.attribute.iter())
        .flat_map(|a| a.t.iter().chain(a.tensors.iter()));
    for tensor in graph.initializer.iter().chain(attribute_tensors) {
        if !tensor.raw_data.is_empty() && !RAW_READABLE.contains(&tensor.data_type) {
            return Err(format!(
                "tensor {:?} holds raw data of ONNX type {}, which cannot be read (raw data is for numbers and booleans)",
                tensor.name, tensor.data_type
            ));
        }
    }
    for info in graph.input.iter().chain(&graph.output) {
        if let Some(dims) = value_dims(info) {
            let concrete: Vec<i64> = dims.iter().map(|d| d.unwrap_or(1)).collect();
            if elements(&concrete).is_none() {
                return Err(format!(
                    "{:?} declares shape {concrete:?}, beyond {MAX_ELEMENTS} elements",
                    info.name
                ));
            }
        }
    }
    // Every name read must be defined: tract indexes its tables by name and panics otherwise
    // (found by fuzzing: a graph output that nothing produces).
    let mut known: HashSet<&str> = graph.input.iter().map(|i| i.name.as_str()).collect();
    known.extend(graph.initializer.iter().map(|t| t.name.as_str()));
    known.extend(graph.node.iter().flat_map(|n| n.output.iter().map(String::as_str)));
    for node in &graph.node {
        if node.attribute.iter().any(|a| a.g.is_some() || !a.graphs.is_empty()) {
            return Err(format!(
                "node {:?} ({}) has a subgraph; control flow is not supported",
                node.name, node.op_type
            ));
        }
        if let Some(missing) = node.input.iter().find(|i| !i.is_empty() && !known.contains(i.as_str())) {
            return Err(format!("node {:?} reads {missing:?}, which nothing defines", node.name));
        }
    }
    if let Some(missing) = graph.output.iter().find(|o| !known.contains(o.name.as_str())) {
        return Err(format!("graph output {:?} is produced by nothing", missing.name));
    }
    // Cycles: Kahn's algorithm over tensor names.
    let produced: HashMap<&str, usize> = graph
        .node
        .iter()
        .enumerate()
        .flat_map(|(i, n)| n.output.iter().map(move |o| (o.as_str(), i)))
        .collect();
    let mut indegree = vec![0usize; graph.node.len()];
    let mut consumers: Vec<Vec<usize>> = vec![Vec::new(); graph.node.len()];
    for (i, node) in graph.node.iter().enumerate() {
        let mut from: HashSet<usize> = HashSet::new();
        for input in &node.input {
            if let Some(&p) = produced.get(input.as_str()) {
                if from.insert(p) {
                    indegree[i] += 1;
                    consumers[p].push(i);
                }
            }
        }
    }
    let mut ready: Vec<usize> = (0..graph.node.len()).filter(|&i| indegree[i] == 0).collect();
    let mut seen = 0;
    while let Some(i) = ready.pop() {
        seen += 1;
        for &c in &consumers[i] {
            indegree[c] -= 1;
            if indegree[c] == 0 {
                ready.push(c);
            }
        }
    }
    if seen < graph.node.len() {
        let stuck = (0..graph.node.len())
            .find(|&i| indegree[i] > 0)
            .map(|i| graph.node[i].name.clone());
        return Err(format!(
            "the graph has a cycle (through node {:?})",
            stuck.unwrap_or_default()
        ));
    }
    Ok(())
}

fn elements(dims: &[i64]) -> Option<u64> {
    dims.iter().try_fold(1u64, |acc, &d| {
        let d = u64::try_from(d).ok()?;
        acc.checked_mul(d).filter(|&v| v <= MAX_ELEMENTS)
    })
}

/// Bytes per element of an ONNX data type (0 when variable or unknown).
/// ONNX tensor types whose raw bytes tract reads: float, uint8, int8, uint16, int16, int32,
/// int64, bool, float16, double, uint32, uint64.
const RAW_READABLE: [i32; 12] = [1, 2, 3, 4, 5, 6, 7, 9, 10, 11, 12, 13];

fn element_width(data_type: i32) -> u64 {
    match data_type {
        1 | 6 | 12 => 4,      // float, int32, uint32
        2 | 3 | 9 => 1,       // uint8, int8, bool
        4 | 5 | 10 | 16 => 2, // uint16, int16, float16, bfloat16
        7 | 11 | 13 => 8,     // int64, double, uint64
        _ => 0,
    }
}

/// A value's dimensions: `Some(n)` for a number, `None` for a symbolic one.
fn value_dims(info: &pb::ValueInfoProto) -> Option<Vec<Option<i64>>> {
    let pb::type_proto::Value::TensorType(tensor) = info.r#type.as_ref()?.value.as_ref()?;
    let shape = tensor.shape.as_ref()?;
    Some(
        shape
            .dim
            .iter()
            .map(|d| match &d.value {
                Some(pb::tensor_shape_proto::dimension::Value::DimValue(v)) => Some(*v),
                _ => None,
            })
            .collect(),
    )
}

/// The input's type and shape with symbolic dimensions at 1, when it has any symbolic one.
fn concrete_input(info: &pb::ValueInfoProto) -> Option<(DatumType, Vec<usize>)> {
    let dims = value_dims(info)?;
    if dims.iter().all(Option::is_some) {
        return None;
    }
    let pb::type_proto::Value::TensorType(tensor) = info.r#type.as_ref()?.value.as_ref()?;
    let dt = match tensor.elem_type {
        1 => DatumType::F32,
        3 => DatumType::I8,
        2 => DatumType::U8,
        6 => DatumType::I32,
        7 => DatumType::I64,
        _ => return None,
    };
    Some((
        dt,
        dims.iter()
            .map(|d| d.and_then(|v| usize::try_from(v).ok()).unwrap_or(1))
            .collect(),
    ))
}

/// Which inputs of a quantised compute operator are learnable: (input index, whether it is a
/// bias). Scales and zero points are quantisation parameters, not parameters of the model.
fn quantized_learnable_inputs(op: &str) -> &'static [(usize, bool)] {
    match op {
        // x, x_scale, x_zero_point, w, w_scale, w_zero_point, y_scale, y_zero_point, B
        "QLinearConv" => &[(3, false), (8, true)],
        // a, a_scale, a_zero_point, b, b_scale, b_zero_point, y_scale, y_zero_point
        "QLinearMatMul" => &[(0, false), (3, false)],
        // x, w, x_zero_point, w_zero_point
        "ConvInteger" => &[(1, false)],
        // A, B, a_zero_point, b_zero_point
        "MatMulInteger" => &[(0, false), (1, false)],
        // com.microsoft QGemm: A, a_scale, a_zp, B, b_scale, b_zp, C, ...
        "QGemm" => &[(0, false), (3, false), (6, true)],
        _ => &[],
    }
}

/// The type activations flow in: the zero point's type of a QOperator layer's input, or of a
/// QuantizeLinear applied to an activation (not to an initializer); `None` for a float graph.
fn activation_dtype(graph: &pb::GraphProto, initializers: &HashMap<&str, &pb::TensorProto>) -> Option<String> {
    let zero_point_type = |name: Option<&String>| -> Option<String> {
        let tensor = initializers.get(name?.as_str())?;
        Some(
            match tensor.data_type {
                2 => "uint8",
                3 => "int8",
                4 => "uint16",
                5 => "int16",
                _ => return None,
            }
            .to_owned(),
        )
    };
    for node in &graph.node {
        let found = match node.op_type.as_str() {
            "QLinearConv" | "QLinearMatMul" => zero_point_type(node.input.get(2)),
            "QuantizeLinear"
                if node
                    .input
                    .first()
                    .is_some_and(|i| !initializers.contains_key(i.as_str())) =>
            {
                // Without a zero point the output is uint8 (the ONNX default).
                zero_point_type(node.input.get(2)).or_else(|| Some("uint8".to_owned()))
            }
            _ => None,
        };
        if found.is_some() {
            return found;
        }
    }
    None
}

/// The name of an ONNX tensor type, for what the analysis reports.
fn onnx_type_name(data_type: i32) -> &'static str {
    match data_type {
        1 => "float32",
        2 => "uint8",
        3 => "int8",
        4 => "uint16",
        5 => "int16",
        6 => "int32",
        7 => "int64",
        10 => "float16",
        11 => "float64",
        _ => "other",
    }
}

/// Learnable parameters: initializers (directly, or through DequantizeLinear) feeding compute
/// operators, and the weights and biases of quantised operators (QLinearConv, QLinearMatMul,
/// ConvInteger, MatMulInteger, QGemm). BatchNormalization counts scale and bias, not its running
/// statistics; integer tensors (shapes, axes, zero points) are never parameters. Also returns
/// the type most parameter bytes are stored in.
fn count_params(graph: &pb::GraphProto, initializers: &HashMap<&str, &pb::TensorProto>) -> (u64, WeightBytes, String) {
    // Outputs of DequantizeLinear over an initializer stand for that initializer.
    let dequantized: HashMap<&str, &str> = graph
        .node
        .iter()
        .filter(|n| n.op_type == "DequantizeLinear")
        .filter_map(|n| Some((n.output.first()?.as_str(), n.input.first()?.as_str())))
        .filter(|(_, src)| initializers.contains_key(src))
        .collect();
    let mut counted: HashSet<&str> = HashSet::new();
    let (mut params, mut weights, mut biases, mut stored) = (0u64, 0u64, 0u64, 0u64);
    let mut stored_by_type: HashMap<&'static str, u64> = HashMap::new();
    for node in &graph.node {
        for &(index, is_bias) in quantized_learnable_inputs(&node.op_type) {
            let Some(input) = node.input.get(index) else { continue };
            let Some(tensor) = initializers.get(input.as_str()) else {
                continue;
            };
            if !counted.insert(input.as_str()) {
                continue;
            }
            let n = elements(&tensor.dims).unwrap_or(0);
            let bytes = n.saturating_mul(element_width(tensor.data_type));
            params += n;
            stored += bytes;
            *stored_by_type.entry(onnx_type_name(tensor.data_type)).or_insert(0) += bytes;
            if is_bias {
                biases += n;
            } else {
                weights += n;
            }
        }
    }
    for node in graph.node.iter().filter(|n| COMPUTE_OPS.contains(&n.op_type.as_str())) {
        for (index, input) in node.input.iter().enumerate() {
            if node.op_type == "BatchNormalization" && !(1..=2).contains(&index) {
                continue;
            }
            let source = dequantized.get(input.as_str()).copied().unwrap_or(input.as_str());
            let Some(tensor) = initializers.get(source) else {
                continue;
            };
            // A 1-D third input of Conv/Gemm, an Add's operand or a batch norm's scale and bias
            // is a bias; quantised, it is int32 (it reaches the layer through DequantizeLinear).
            let bias_position = (index == 2 && matches!(node.op_type.as_str(), "Conv" | "ConvTranspose" | "Gemm"))
                || node.op_type == "Add"
                || node.op_type == "BatchNormalization";
            let numeric = matches!(tensor.data_type, 1 | 10 | 11 | 3 | 2) || (bias_position && tensor.data_type == 6);
            if !numeric || !counted.insert(source) {
                continue;
            }
            let n = elements(&tensor.dims).unwrap_or(0);
            params += n;
            let bytes = n.saturating_mul(element_width(tensor.data_type));
            stored += bytes;
            *stored_by_type.entry(onnx_type_name(tensor.data_type)).or_insert(0) += bytes;
            // A 1-D third input of Conv/Gemm, or an Add's operand, is a bias.
            let is_bias = (index == 2 && matches!(node.op_type.as_str(), "Conv" | "ConvTranspose" | "Gemm"))
                || node.op_type == "Add"
                || node.op_type == "BatchNormalization";
            if is_bias {
                biases += n;
            } else {
                weights += n;
            }
        }
    }
    WeightBytes::tally(params, weights, biases, stored, &stored_by_type)
}

/// The liveness peak and the greedy arena over the activations (constants excluded).
fn plan_memory(model: &TypedModel, activation_width: Option<u64>) -> Result<(u64, u64), String> {
    let order = model.eval_order().map_err(|e| e.to_string())?;
    let position: HashMap<usize, usize> = order.iter().enumerate().map(|(p, &n)| (n, p)).collect();
    let end = order.len();
    let outputs: HashSet<OutletId> = model
        .output_outlets()
        .map_err(|e| e.to_string())?
        .iter()
        .copied()
        .collect();
    let mut last_use: HashMap<OutletId, usize> = HashMap::new();
    for &n in &order {
        for input in &model.nodes[n].inputs {
            let p = position[&n];
            last_use.entry(*input).and_modify(|l| *l = (*l).max(p)).or_insert(p);
        }
    }
    let mut tensors = Vec::new();
    for &n in &order {
        let node = &model.nodes[n];
        if node.op_is::<tract_onnx::tract_core::ops::konst::Const>() {
            continue; // Weights live in flash, not in the arena.
        }
        for slot in 0..node.outputs.len() {
            let outlet = OutletId::new(n, slot);
            let fact = model.outlet_fact(outlet).map_err(|e| e.to_string())?;
            let Some(shape) = fact.shape.as_concrete() else {
                return Err(format!("{}: the shape of output {slot} is not concrete", node.name));
            };
            // A quantised model's activations are 8-bit on the device, whatever tract computes.
            let width = match activation_width {
                Some(w) if fact.datum_type.is_float() => w,
                _ => fact.datum_type.size_of() as u64,
            };
            let bytes = shape.iter().product::<usize>() as u64 * width;
            let first = position[&n];
            let last = if outputs.contains(&outlet) {
                end
            } else {
                last_use.get(&outlet).copied().unwrap_or(first)
            };
            tensors.push(Lifetime { bytes, first, last });
        }
    }
    Ok((peak_live_bytes(&tensors), greedy_arena(&tensors, ARENA_ALIGNMENT).bytes))
}

fn dtype_name(dt: DatumType) -> String {
    match dt {
        DatumType::F32 => "float32".into(),
        DatumType::F16 => "float16".into(),
        DatumType::F64 => "float64".into(),
        DatumType::I8 => "int8".into(),
        DatumType::U8 => "uint8".into(),
        DatumType::I32 => "int32".into(),
        DatumType::I64 => "int64".into(),
        other => format!("{other:?}").to_lowercase(),
    }
}
