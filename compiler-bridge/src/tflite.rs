//! TFLite models: what the flatbuffer itself tells, cross-checked by tract-tflite where it loads.
//!
//! A `.tflite` file carries everything SEAM measures: the operator list in execution order, every
//! tensor's shape and type, and the constant buffers. So structure, parameters, MACs and the
//! arena are computed from the file for every model, and tract-tflite is asked to load it as a
//! second opinion: where it loads, its cost model's MAC count is compared with the file's; where
//! it cannot, the reason (the operator or feature it refused) goes into the analysis's notes.
//!
//! The flatbuffer is verified before anything is read from it (flatbuffers' verifier: offsets,
//! depth and table counts bounded), and every index the file holds is checked before use, since
//! the generated accessors panic out of range.

use std::collections::{BTreeMap, HashMap, HashSet};

use tract_tflite::prelude::*;
use tract_tflite::tflite as fb;

use crate::measured::{count_macs, Analysis, TensorInfo, WeightBytes, ARENA_ALIGNMENT, MAX_ELEMENTS};
use crate::memory::{greedy_arena, peak_live_bytes, Lifetime};
use crate::BridgeError;
use seam_package::sha256_hex;

/// The file identifier of a TFLite flatbuffer, at bytes 4..8.
pub const MAGIC: &[u8; 4] = b"TFL3";

/// Whether `bytes` look like a TFLite flatbuffer.
pub fn is_tflite(bytes: &[u8]) -> bool {
    bytes.len() >= 8 && &bytes[4..8] == MAGIC
}

/// Largest number of operators or tensors a subgraph may hold.
const MAX_ITEMS: usize = 100_000;

/// Operators whose constant inputs are learnable parameters, with the index of their bias input.
fn compute_op(name: &str) -> Option<usize> {
    match name {
        "CONV_2D" | "DEPTHWISE_CONV_2D" | "FULLY_CONNECTED" | "CONV_3D" => Some(2),
        "TRANSPOSE_CONV" => Some(3),
        "BATCH_MATMUL" | "PRELU" | "ADD" | "MUL" | "UNIDIRECTIONAL_SEQUENCE_LSTM" | "SVDF" => Some(usize::MAX),
        _ => None,
    }
}

/// One operator of the main subgraph: its builtin name and tensor indices (checked).
struct FileOp {
    name: String,
    inputs: Vec<usize>,
    outputs: Vec<usize>,
    /// BATCH_MATMUL's `adj_x`: the left operand is transposed, its reduction axis is the
    /// second-to-last.
    adj_x: bool,
}

/// One tensor of the main subgraph, as the file declares it.
struct FileTensor {
    name: String,
    shape: Vec<usize>,
    dtype: String,
    width: u64,
    /// Whether its buffer holds data (a weight, a bias, a constant).
    constant: bool,
}

impl FileTensor {
    fn elements(&self) -> u64 {
        self.shape.iter().map(|&d| d as u64).product()
    }
}

/// Analyses a TFLite flatbuffer, with tract-tflite's opinion in the notes.
pub fn analyze(bytes: &[u8]) -> Result<Analysis, BridgeError> {
    analyze_with(bytes, true)
}

/// Analyses a TFLite flatbuffer from the file alone, without asking tract-tflite. This is SEAM's
/// own reading, which must never panic whatever the bytes: the fuzz target runs it. (tract-tflite
/// 0.23.9 indexes operator inputs unchecked in places; under [`analyze`] a panic there is caught
/// and reported as a refusal, but a fuzzer aborts on any panic, caught or not.)
pub fn analyze_file_only(bytes: &[u8]) -> Result<Analysis, BridgeError> {
    analyze_with(bytes, false)
}

fn analyze_with(bytes: &[u8], cross_check: bool) -> Result<Analysis, BridgeError> {
    let invalid = |message: String| BridgeError::InvalidModel {
        path: "<model>".into(),
        message,
    };
    let model = fb::root_as_model(bytes).map_err(|e| invalid(format!("not a valid TFLite flatbuffer: {e}")))?;
    let subgraphs = model
        .subgraphs()
        .ok_or_else(|| invalid("the model has no subgraphs".into()))?;
    if subgraphs.is_empty() {
        return Err(invalid("the model has no subgraphs".into()));
    }
    let main = subgraphs.get(0);
    let buffers = model.buffers();
    // Operator names, by operator code index (the operator list refers to them by index).
    let code_names: Vec<String> = model
        .operator_codes()
        .iter()
        .flatten()
        .map(|c| opcode_name(&c))
        .collect();

    // Tensors, with every buffer index checked.
    let file_tensors = main
        .tensors()
        .ok_or_else(|| invalid("the main subgraph has no tensors".into()))?;
    if file_tensors.len() > MAX_ITEMS {
        return Err(invalid(format!("{} tensors (at most {MAX_ITEMS})", file_tensors.len())));
    }
    let mut tensors = Vec::with_capacity(file_tensors.len());
    for (index, tensor) in file_tensors.iter().enumerate() {
        let name = tensor.name().unwrap_or("").to_owned();
        let shape: Vec<usize> = tensor
            .shape()
            .map(|s| s.iter().map(|d| usize::try_from(d).unwrap_or(1)).collect())
            .unwrap_or_default();
        let elements = shape
            .iter()
            .try_fold(1u64, |acc, &d| acc.checked_mul(d as u64).filter(|&v| v <= MAX_ELEMENTS));
        if elements.is_none() {
            return Err(invalid(format!(
                "tensor {index} ({name:?}) declares shape {shape:?}, beyond {MAX_ELEMENTS} elements"
            )));
        }
        let buffer = tensor.buffer() as usize;
        let data_len = match &buffers {
            Some(b) if buffer < b.len() => b.get(buffer).data().map(|d| d.len()).unwrap_or(0),
            _ if buffer == 0 => 0,
            _ => {
                return Err(invalid(format!(
                    "tensor {index} ({name:?}) names buffer {buffer}, which does not exist"
                )))
            }
        };
        let (dtype, width) = tensor_type(tensor.type_());
        tensors.push(FileTensor {
            name,
            shape,
            dtype,
            width,
            constant: data_len > 0,
        });
    }
    let tensor_at = |i: i32| -> Result<Option<usize>, BridgeError> {
        // -1 marks an optional input left out.
        if i < 0 {
            return Ok(None);
        }
        let i = i as usize;
        if i >= tensors.len() {
            return Err(invalid(format!("an operator names tensor {i}, which does not exist")));
        }
        Ok(Some(i))
    };

    // Operators in execution order.
    let operators = main
        .operators()
        .ok_or_else(|| invalid("the main subgraph has no operators".into()))?;
    if operators.len() > MAX_ITEMS {
        return Err(invalid(format!("{} operators (at most {MAX_ITEMS})", operators.len())));
    }
    let mut histogram: BTreeMap<String, u64> = BTreeMap::new();
    let mut ops: Vec<FileOp> = Vec::with_capacity(operators.len());
    for op in operators.iter() {
        let code = op.opcode_index() as usize;
        let name = code_names
            .get(code)
            .cloned()
            .ok_or_else(|| invalid(format!("an operator names operator code {code}, which does not exist")))?;
        let mut inputs = Vec::new();
        for i in op.inputs().into_iter().flatten() {
            inputs.extend(tensor_at(i)?);
        }
        let mut outputs = Vec::new();
        for i in op.outputs().into_iter().flatten() {
            outputs.extend(tensor_at(i)?);
        }
        *histogram.entry(name.clone()).or_insert(0) += 1;
        let adj_x = op.builtin_options_as_batch_mat_mul_options().is_some_and(|o| o.adj_x());
        ops.push(FileOp {
            name,
            inputs,
            outputs,
            adj_x,
        });
    }
    let mut graph_inputs = Vec::new();
    for i in main.inputs().into_iter().flatten() {
        graph_inputs.extend(tensor_at(i)?);
    }
    let mut graph_outputs = Vec::new();
    for i in main.outputs().into_iter().flatten() {
        graph_outputs.extend(tensor_at(i)?);
    }

    let (params, weight_bytes, weight_dtype) = count_params(&ops, &tensors);
    let macs = file_macs(&ops, &tensors);
    let (peak, arena) = plan_memory(&ops, &tensors, &graph_inputs, &graph_outputs);
    let info = |&i: &usize| TensorInfo {
        name: tensors[i].name.clone(),
        shape: tensors[i].shape.clone(),
        dtype: tensors[i].dtype.clone(),
    };

    let mut notes = Vec::new();
    if subgraphs.len() > 1 {
        notes.push(format!(
            "{} subgraphs: only the main one is measured (control flow bodies are not)",
            subgraphs.len()
        ));
    }
    if cross_check {
        notes.push(match tract_macs(bytes, &code_names) {
            Ok(tract) if tract == macs => format!("tract-tflite loads it; its cost model agrees: {tract} MACs"),
            Ok(tract) => format!("tract-tflite loads it; its cost model counts {tract} MACs against the file's {macs}"),
            Err(reason) => format!("tract-tflite cannot load it ({reason}); figures are the file's own"),
        });
    }

    Ok(Analysis {
        format: "tflite".into(),
        sha256: sha256_hex(bytes),
        file_bytes: bytes.len() as u64,
        inputs: graph_inputs.iter().map(info).collect(),
        outputs: graph_outputs.iter().map(info).collect(),
        operators: histogram,
        params,
        macs,
        weight_bytes,
        weight_dtype,
        // Activations flow in the graph input's type (int8 in a fully quantised model).
        activation_dtype: graph_inputs
            .first()
            .map_or_else(|| "float32".to_owned(), |&t| tensors[t].dtype.clone()),
        peak_activation_bytes: peak,
        arena_bytes: arena,
        notes,
    })
}

/// The operator's name: the larger of the deprecated and the current builtin code (the schema's
/// rule since codes outgrew an `i8`), or the custom code.
fn opcode_name(code: &fb::OperatorCode<'_>) -> String {
    if let Some(custom) = code.custom_code() {
        return format!("CUSTOM:{custom}");
    }
    let deprecated = fb::BuiltinOperator(i32::from(code.deprecated_builtin_code()));
    let current = code.builtin_code();
    let op = if deprecated.0 > current.0 { deprecated } else { current };
    op.variant_name()
        .map(str::to_owned)
        .unwrap_or_else(|| format!("BUILTIN_{}", op.0))
}

fn tensor_type(t: fb::TensorType) -> (String, u64) {
    let width = match t {
        fb::TensorType::FLOAT64 | fb::TensorType::INT64 | fb::TensorType::UINT64 | fb::TensorType::COMPLEX64 => 8,
        fb::TensorType::FLOAT32 | fb::TensorType::INT32 | fb::TensorType::UINT32 => 4,
        fb::TensorType::FLOAT16 | fb::TensorType::INT16 | fb::TensorType::UINT16 => 2,
        fb::TensorType::COMPLEX128 => 16,
        _ => 1,
    };
    let name = t
        .variant_name()
        .map(str::to_ascii_lowercase)
        .unwrap_or_else(|| format!("type{}", t.0));
    (name, width)
}

/// Constant inputs of compute operators; a bias is stored as int32 in an int8 model.
fn count_params(ops: &[FileOp], tensors: &[FileTensor]) -> (u64, WeightBytes, String) {
    let mut counted = HashSet::new();
    let (mut weights, mut biases, mut stored) = (0u64, 0u64, 0u64);
    let mut stored_by_type: std::collections::HashMap<&str, u64> = std::collections::HashMap::new();
    for FileOp { name, inputs, .. } in ops {
        let Some(bias_index) = compute_op(name) else {
            continue;
        };
        for (position, &t) in inputs.iter().enumerate() {
            let tensor = &tensors[t];
            let numeric = matches!(
                tensor.dtype.as_str(),
                "float32" | "float16" | "int8" | "uint8" | "int32" | "int16"
            );
            if !tensor.constant || !numeric || !counted.insert(t) {
                continue;
            }
            // The output shape of TRANSPOSE_CONV is a constant input, not a parameter.
            if name == "TRANSPOSE_CONV" && position == 0 {
                continue;
            }
            let bytes = tensor.elements().saturating_mul(tensor.width);
            stored += bytes;
            *stored_by_type.entry(tensor.dtype.as_str()).or_insert(0) += bytes;
            if position == bias_index || (bias_index == usize::MAX && tensor.shape.len() <= 1) {
                biases += tensor.elements();
            } else {
                weights += tensor.elements();
            }
        }
    }
    let params = weights + biases;
    WeightBytes::tally(params, weights, biases, stored, &stored_by_type)
}

/// Multiply-accumulates of the linear layers, from the shapes the file declares:
/// output elements × the kernel's reduction size.
fn file_macs(ops: &[FileOp], tensors: &[FileTensor]) -> u64 {
    let mut macs = 0u64;
    for FileOp {
        name,
        inputs,
        outputs,
        adj_x,
    } in ops
    {
        let (Some(&out), Some(&weights)) = (outputs.first(), inputs.get(1)) else {
            continue;
        };
        let out = tensors[out].elements();
        let w = &tensors[weights].shape;
        let per_output = match name.as_str() {
            // Filter [Cout, KH, KW, Cin].
            "CONV_2D" if w.len() == 4 => (w[1] as u64).saturating_mul(w[2] as u64).saturating_mul(w[3] as u64),
            // Filter [1, KH, KW, Cout]: one input channel per output channel.
            "DEPTHWISE_CONV_2D" if w.len() == 4 => (w[1] as u64).saturating_mul(w[2] as u64),
            // Weights [units, features].
            "FULLY_CONNECTED" if w.len() == 2 => w[1] as u64,
            // Output [..., M, N] = X [..., M, K] · Y [..., K, N]: K per output element (what
            // converters emit for 1×1 convolutions and dense layers).
            "BATCH_MATMUL" => {
                let x = &tensors[inputs[0]].shape;
                let k = if *adj_x {
                    x.len().checked_sub(2)
                } else {
                    x.len().checked_sub(1)
                };
                match k.and_then(|k| x.get(k)) {
                    Some(&k) => k as u64,
                    None => continue,
                }
            }
            "TRANSPOSE_CONV" => {
                // Inputs: output shape, filter [Cout, KH, KW, Cin], input. Every input element
                // is spread over KH × KW × Cout outputs.
                let (Some(&filter), Some(&input)) = (inputs.get(1), inputs.get(2)) else {
                    continue;
                };
                let f = &tensors[filter].shape;
                if f.len() == 4 {
                    let per_input = (f[0] as u64).saturating_mul(f[1] as u64).saturating_mul(f[2] as u64);
                    macs = macs.saturating_add(tensors[input].elements().saturating_mul(per_input));
                }
                continue;
            }
            _ => continue,
        };
        // Each tensor is bounded, but a hostile file may chain many: saturate, never overflow.
        macs = macs.saturating_add(out.saturating_mul(per_output));
    }
    macs
}

/// Lifetimes over the file's operator order, as TensorFlow Lite Micro plans them: a tensor lives
/// from the operator that writes it (inputs from the start) to the last that reads it (outputs to
/// the end); constants stay in flash.
fn plan_memory(ops: &[FileOp], tensors: &[FileTensor], graph_inputs: &[usize], graph_outputs: &[usize]) -> (u64, u64) {
    let end = ops.len();
    let mut first: HashMap<usize, usize> = graph_inputs.iter().map(|&t| (t, 0)).collect();
    let mut last: HashMap<usize, usize> = HashMap::new();
    for (position, FileOp { inputs, outputs, .. }) in ops.iter().enumerate() {
        for &t in outputs {
            first.entry(t).or_insert(position);
        }
        for &t in inputs {
            last.insert(t, position);
        }
    }
    for &t in graph_outputs {
        last.insert(t, end);
    }
    let lifetimes: Vec<Lifetime> = first
        .iter()
        .filter(|(&t, _)| !tensors[t].constant)
        .map(|(&t, &start)| Lifetime {
            bytes: tensors[t].elements() * tensors[t].width,
            first: start,
            last: last.get(&t).copied().unwrap_or(start).max(start),
        })
        .collect();
    (
        peak_live_bytes(&lifetimes),
        greedy_arena(&lifetimes, ARENA_ALIGNMENT).bytes,
    )
}

/// tract-tflite's MAC count, or why it cannot load the model: the operator it stopped at and
/// the innermost cause. tract's loader indexes the file without bounds checks in places, so a
/// panic there is caught and reported as a refusal; the verified structural pass above has
/// already turned away what SEAM can detect itself.
fn tract_macs(bytes: &[u8], code_names: &[String]) -> Result<u64, String> {
    let loaded = std::panic::catch_unwind(|| {
        tract_tflite::tflite()
            .model_for_read(&mut &bytes[..])
            .and_then(|m| m.into_decluttered())
    });
    let error = match loaded {
        Ok(Ok(model)) => return count_macs(&model),
        Ok(Err(e)) => e,
        Err(_) => return Err("its loader panicked".into()),
    };
    let causes: Vec<String> = error.chain().map(|c| c.to_string()).collect();
    // "Translating proto-op ... Operator { opcode_index: N, ..." names the operator.
    let operator = causes.iter().find_map(|c| {
        let rest = c.split("opcode_index: ").nth(1)?;
        let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
        code_names.get(digits.parse::<usize>().ok()?).cloned()
    });
    let innermost = causes.last().map(String::as_str).unwrap_or("");
    let reason = if innermost.starts_with("Unsupported") {
        "not supported".to_owned()
    } else {
        // tract appends debug dumps of its operator structs; keep the sentence before them.
        let cut = innermost.find('{').map_or(innermost, |brace| {
            let head = &innermost[..brace];
            head.rfind('.').map_or(head, |end| &innermost[..=end])
        });
        cut.trim().chars().take(200).collect()
    };
    Err(match operator {
        Some(op) => format!("at {op}: {reason}"),
        None => reason,
    })
}

/// The ONNX operator that does the work of a TFLite builtin, so one runtime's operator list
/// (kept in ONNX names in the catalog) can be checked against models of both formats.
pub fn onnx_equivalent(tflite_op: &str) -> Option<&'static str> {
    Some(match tflite_op {
        "CONV_2D" | "DEPTHWISE_CONV_2D" => "Conv",
        "TRANSPOSE_CONV" => "ConvTranspose",
        "FULLY_CONNECTED" => "Gemm",
        "BATCH_MATMUL" => "MatMul",
        "ADD" => "Add",
        "SUB" => "Sub",
        "MUL" => "Mul",
        "AVERAGE_POOL_2D" => "AveragePool",
        "MAX_POOL_2D" => "MaxPool",
        "MEAN" => "ReduceMean",
        "RESHAPE" => "Reshape",
        "SQUEEZE" => "Squeeze",
        "TRANSPOSE" => "Transpose",
        "CONCATENATION" => "Concat",
        "PAD" => "Pad",
        "STRIDED_SLICE" | "SLICE" => "Slice",
        "SOFTMAX" => "Softmax",
        "RELU" => "Relu",
        "RELU6" => "Clip",
        "LOGISTIC" => "Sigmoid",
        "TANH" => "Tanh",
        "QUANTIZE" => "QuantizeLinear",
        "DEQUANTIZE" => "DequantizeLinear",
        "RESIZE_NEAREST_NEIGHBOR" | "RESIZE_BILINEAR" => "Resize",
        _ => return None,
    })
}
