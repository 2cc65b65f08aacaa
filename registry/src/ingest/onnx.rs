//! A model file becomes a model of the graph: the compiler bridge measures it, and what people
//! know about it (task, accuracy, dataset, the sensor it listens to) comes from the command line.
//! Measured facts are never typed by hand.
//!
//! The description is generated as N-Triples (every literal escaped by Oxigraph), so it goes
//! through the same validation, with the same diagnostics, as any loaded file.

use std::path::Path;

use oxigraph::io::RdfFormat;
use oxigraph::model::vocab::{rdf, rdfs};
use oxigraph::model::{BlankNode, GraphName, Literal, NamedNode, NamedOrBlankNode, Quad, Term};
use seam_compiler_bridge::analysis::Analysis;

use super::{parse_document, Document};
use crate::error::{Diagnostic, IngestError};
use crate::vocab::{CATALOG, SCHEMA, SEAM};

/// What people know about a model that its file does not say.
#[derive(Debug, Clone, Default)]
pub struct ModelFacts {
    /// The task: a catalog name (`keyword-spotting`) or an IRI.
    pub task: Option<String>,
    /// Top-1 accuracy as a fraction (0..=1) or a percentage (1..=100).
    pub accuracy: Option<f64>,
    /// The dataset the accuracy was measured on (an IRI or a name).
    pub dataset: Option<String>,
    /// Sensor kinds the model's input comes from (`microphone`, `accelerometer`, ...).
    pub input_sensors: Vec<String>,
}

/// The data type a measured model runs in: int8 when its weights are stored quantised (QDQ or
/// QOperator: QLinearConv, QLinearMatMul, ConvInteger, MatMulInteger; uint8 weights run on the
/// runtimes' int8 kernels), otherwise its input's type (a TFLite model's tensors say it themselves).
pub fn measured_dtype(analysis: &Analysis) -> &str {
    let quantised = analysis.format != "tflite"
        && (matches!(analysis.weight_dtype.as_str(), "int8" | "uint8")
            || [
                "DequantizeLinear",
                "QLinearConv",
                "QLinearMatMul",
                "ConvInteger",
                "MatMulInteger",
            ]
            .iter()
            .any(|op| analysis.operators.contains_key(*op)));
    if quantised {
        "int8"
    } else {
        analysis.inputs.first().map_or("float32", |i| i.dtype.as_str())
    }
}

/// What a measured model's weights cost in flash: a TFLite flatbuffer is flashed as it is; an
/// ONNX model's parameters as the file stores them (one byte per int8 weight, four per int32
/// bias or float).
pub fn stored_weight_bytes(analysis: &Analysis) -> u64 {
    match analysis.format.as_str() {
        "tflite" => analysis.file_bytes,
        _ => analysis.weight_bytes.stored,
    }
}

/// A measured model's operators by their ONNX names, as runtimes list them: a TFLite builtin
/// through its ONNX equivalent, or under its own name when there is none (so matching can say
/// what is missing).
pub fn onnx_operator_names(analysis: &Analysis) -> std::collections::BTreeSet<String> {
    analysis
        .operators
        .keys()
        .filter_map(|op| match analysis.format.as_str() {
            "tflite" => Some(
                seam_compiler_bridge::tflite::onnx_equivalent(op)
                    .unwrap_or(op)
                    .to_owned(),
            ),
            _ => onnx_kernel(op).map(str::to_owned),
        })
        .collect()
}

/// The kernel a runtime runs an ONNX operator with: ONNX Runtime's QOperator forms are the int8
/// convolution and matrix product the runtimes list as Conv, MatMul and Gemm (the model's dtype
/// says int8); a no-op needs no kernel at all.
fn onnx_kernel(op: &str) -> Option<&str> {
    Some(match op {
        "Identity" => return None,
        "QLinearConv" | "ConvInteger" => "Conv",
        "QLinearMatMul" | "MatMulInteger" => "MatMul",
        "QGemm" => "Gemm",
        other => other,
    })
}

/// The IRI a model file gets: content-addressed, so loading the same file twice is one model.
pub fn model_iri(sha256: &str) -> String {
    crate::iri::model(sha256).into_string()
}

fn seam(local: &str) -> NamedNode {
    NamedNode::new_unchecked(format!("{SEAM}{local}"))
}

fn invalid(file: &str, message: String) -> IngestError {
    IngestError::Invalid(vec![Diagnostic {
        file: file.to_owned(),
        line: None,
        column: None,
        message,
    }])
}

/// A term from a catalog name or an IRI.
fn name_or_iri(file: &str, what: &str, value: &str, namespace: &str) -> Result<NamedNode, IngestError> {
    let iri = if value.contains(':') {
        value.to_owned()
    } else {
        format!("{namespace}{value}")
    };
    NamedNode::new(iri).map_err(|e| invalid(file, format!("{what} {value:?} is not a name or an IRI: {e}")))
}

/// Describes the model measured in `analysis` (file `path`) as a document to load.
pub fn describe(path: &Path, analysis: &Analysis, facts: &ModelFacts) -> Result<Document, IngestError> {
    describe_deployed(path, analysis, None, facts)
}

/// As [`describe`], with the operators a runtime must have (`seam:requiresOperator`) taken from
/// `deployed`, the model as every backend receives it (batch normalisations folded into the
/// convolutions before them), when it is given: a BatchNormalization that no runtime will ever
/// see is not a requirement. Every other figure is the file's own.
pub fn describe_deployed(
    path: &Path,
    analysis: &Analysis,
    deployed: Option<&Analysis>,
    facts: &ModelFacts,
) -> Result<Document, IngestError> {
    let file = path.display().to_string();
    let model = NamedNode::new_unchecked(model_iri(&analysis.sha256));
    let mut quads = Vec::new();
    let mut add = |s: NamedOrBlankNode, p: NamedNode, o: Term| quads.push(Quad::new(s, p, o, GraphName::DefaultGraph));
    let m = || NamedOrBlankNode::from(model.clone());
    let name = path.file_stem().and_then(|s| s.to_str()).unwrap_or("model").to_owned();

    add(m(), rdf::TYPE.into_owned(), seam("Model").into());
    add(m(), rdfs::LABEL.into_owned(), Literal::new_simple_literal(&name).into());
    add(
        m(),
        NamedNode::new_unchecked(format!("{SCHEMA}name")),
        Literal::new_simple_literal(&name).into(),
    );
    add(
        m(),
        seam("sha256"),
        Literal::new_simple_literal(&analysis.sha256).into(),
    );
    add(m(), seam("sizeBytes"), Literal::from(analysis.file_bytes as i64).into());
    add(m(), seam("method"), seam("Measured").into());
    add(m(), seam("dtype"), seam(measured_dtype(analysis)).into());
    add(m(), seam("params"), Literal::from(analysis.params as i64).into());
    add(m(), seam("macs"), Literal::from(analysis.macs as i64).into());
    let weights = stored_weight_bytes(analysis);

    add(m(), seam("weightBytes"), Literal::from(weights as i64).into());
    add(
        m(),
        seam("peakActivationBytes"),
        Literal::from(analysis.peak_activation_bytes as i64).into(),
    );
    add(
        m(),
        seam("arenaBytes"),
        Literal::from(analysis.arena_bytes as i64).into(),
    );
    if let Some(input) = analysis.inputs.first() {
        let shape: Vec<String> = input.shape.iter().map(usize::to_string).collect();
        add(
            m(),
            seam("inputShape"),
            Literal::new_simple_literal(shape.join("x")).into(),
        );
        let elements: usize = input.shape.iter().product();
        if elements > 0 {
            add(m(), seam("inputElements"), Literal::from(elements as i64).into());
        }
    }
    let operators = onnx_operator_names(deployed.unwrap_or(analysis));
    for op in operators {
        add(m(), seam("requiresOperator"), Literal::new_simple_literal(op).into());
    }
    if let Some(task) = &facts.task {
        add(m(), seam("task"), name_or_iri(&file, "task", task, CATALOG)?.into());
    }
    if let Some(value) = facts.accuracy {
        let fraction = if value > 1.0 { value / 100.0 } else { value };
        if !(0.0..=1.0).contains(&fraction) || !fraction.is_finite() {
            return Err(invalid(
                &file,
                format!("accuracy {value} is neither a fraction nor a percentage"),
            ));
        }
        let node = BlankNode::default();
        add(m(), seam("accuracy"), node.clone().into());
        add(node.clone().into(), rdf::TYPE.into_owned(), seam("Accuracy").into());
        add(
            node.clone().into(),
            seam("metric"),
            Literal::new_simple_literal("top-1 accuracy").into(),
        );
        add(node.clone().into(), seam("value"), Literal::from(fraction).into());
        add(node.clone().into(), seam("method"), seam("Published").into());
        if let Some(dataset) = &facts.dataset {
            let term: Term = match NamedNode::new(dataset.clone()) {
                Ok(iri) if dataset.contains(':') => iri.into(),
                _ => Literal::new_simple_literal(dataset).into(),
            };
            add(node.into(), seam("dataset"), term);
        }
    }
    for kind in &facts.input_sensors {
        let node = BlankNode::default();
        add(m(), seam("requiresSensor"), node.clone().into());
        add(
            node.clone().into(),
            rdf::TYPE.into_owned(),
            seam("SensorRequirement").into(),
        );
        add(
            node.into(),
            seam("sensorKind"),
            name_or_iri(&file, "sensor kind", kind, SEAM)?.into(),
        );
    }
    let text: String = quads
        .iter()
        .map(|q| format!("{} {} {} .\n", q.subject, q.predicate, q.object))
        .collect();
    parse_document(&file, text, RdfFormat::NTriples, None)
}
