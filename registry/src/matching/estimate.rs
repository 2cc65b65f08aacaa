//! What a model needs on one runtime, before any device is involved: the data type it runs in,
//! RAM (activations plus the runtime's own), flash (weights plus the runtime's code), the
//! operators the runtime lacks, and the latency figures measured for the runtime. `seam analyze`
//! reports these for a file against every runtime of the catalog; matching adds the device
//! (its free memory, its board's core and clock, the headroom) on top of the same rules.

use std::collections::BTreeSet;

use serde::Serialize;

use super::facts::{Fleet, OperatorClass, RuntimeFacts};
use crate::vocab::SEAM;

/// A model's figures in one data type (as stored, or as int8 quantisation would make it).
#[derive(Debug, Clone, Copy)]
pub struct ModelFigures<'a> {
    /// Data type, local name (`float32`, `int8`, ...).
    pub dtype: &'a str,
    /// Activation memory (the arena), bytes.
    pub activation_bytes: u64,
    /// Weight bytes in flash.
    pub weight_bytes: u64,
    /// MACs of one inference.
    pub macs: u64,
    /// Operators it uses (ONNX names).
    pub operators: &'a BTreeSet<String>,
}

/// A model's needs on one runtime.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RuntimeEstimate {
    /// The runtime's IRI.
    pub runtime: String,
    /// The data type it would run in (local name).
    pub dtype: String,
    /// Activations plus the runtime's own RAM, bytes (no headroom).
    pub ram_bytes: u64,
    /// Weights plus the runtime's code, bytes.
    pub flash_bytes: u64,
    /// Operators the runtime does not execute.
    pub missing_operators: Vec<String>,
    /// Latency where the runtime has a figure measured for this data type and class of model.
    pub latency: Vec<CoreLatency>,
}

/// Latency on one core, from a measured throughput figure.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CoreLatency {
    /// The core the figure was measured on.
    pub core: String,
    /// MACs per cycle.
    pub macs_per_cycle: f64,
    /// The class of model the figure is for (IRI).
    pub operator_class: String,
    /// Cycles of one inference.
    pub cycles: f64,
    /// Milliseconds at 100 MHz (scale by the clock), rounded to the microsecond.
    #[serde(rename = "msAt100MHz")]
    pub ms_at_100mhz: f64,
    /// Always `measured`: no estimate is shown as a measurement.
    pub basis: &'static str,
    /// Where the figure comes from.
    pub source: Option<String>,
}

/// The operators of `operators` that `runtime` does not execute, in order.
pub fn missing_operators<'o>(operators: &'o BTreeSet<String>, runtime: &RuntimeFacts) -> Vec<&'o str> {
    operators
        .iter()
        .filter(|op| !runtime.operators.contains(*op))
        .map(String::as_str)
        .collect()
}

/// Weights plus the runtime's code, bytes.
pub fn flash_required(weight_bytes: u64, runtime: &RuntimeFacts) -> u64 {
    weight_bytes.saturating_add(runtime.flash_overhead_bytes)
}

/// What `model` needs on `runtime`.
pub fn on_runtime(model: &ModelFigures<'_>, runtime: &RuntimeFacts) -> RuntimeEstimate {
    let class = OperatorClass::of(model.operators);
    let dtype_iri = format!("{SEAM}{}", model.dtype);
    let latency = runtime
        .throughput
        .iter()
        .filter(|t| t.dtype == dtype_iri && t.class == class && t.macs_per_cycle > 0.0)
        .map(|t| {
            let cycles = model.macs as f64 / t.macs_per_cycle;
            CoreLatency {
                core: t.core.clone(),
                macs_per_cycle: t.macs_per_cycle,
                operator_class: class.iri(),
                cycles: cycles.round(),
                ms_at_100mhz: (cycles / 100_000.0 * 1000.0).round() / 1000.0,
                basis: "measured",
                source: t.source.clone(),
            }
        })
        .collect();
    RuntimeEstimate {
        runtime: runtime.iri.clone(),
        dtype: model.dtype.to_owned(),
        ram_bytes: model.activation_bytes.saturating_add(runtime.ram_overhead_bytes),
        flash_bytes: flash_required(model.weight_bytes, runtime),
        missing_operators: missing_operators(model.operators, runtime)
            .into_iter()
            .map(str::to_owned)
            .collect(),
        latency,
    }
}

/// What a measured model file needs on every runtime of `fleet`: a TFLite file runs as it is
/// (its own tensor types, the flatbuffer itself in flash); an ONNX file already quantised runs
/// as stored, activations in 8 bits; otherwise float32 where the runtime computes in it, else
/// int8 as quantisation would give it (measured int8 weights, a quarter of the arena).
pub fn for_analysis(analysis: &seam_compiler_bridge::analysis::Analysis, fleet: &Fleet) -> Vec<RuntimeEstimate> {
    let float32 = format!("{SEAM}float32");
    // The catalog names operators as ONNX does, and registration and matching use these names.
    let operators = crate::ingest::onnx::onnx_operator_names(analysis);
    let tflite = analysis.format == "tflite";
    let stored_int8 = crate::ingest::onnx::measured_dtype(analysis) == "int8";
    fleet
        .runtimes
        .values()
        .map(|runtime| {
            let (dtype, activation_bytes, weight_bytes) = if tflite {
                let dtype = analysis.inputs.first().map_or("float32", |t| t.dtype.as_str());
                (dtype, analysis.arena_bytes, analysis.file_bytes)
            } else if stored_int8 {
                ("int8", analysis.arena_bytes, analysis.weight_bytes.stored)
            } else if runtime.dtypes.contains(&float32) {
                ("float32", analysis.arena_bytes, analysis.weight_bytes.float32)
            } else {
                ("int8", analysis.arena_bytes.div_ceil(4), analysis.weight_bytes.int8)
            };
            let figures = ModelFigures {
                dtype,
                activation_bytes,
                weight_bytes,
                macs: analysis.macs,
                operators: &operators,
            };
            on_runtime(&figures, runtime)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::matching::facts::MeasuredThroughput;

    fn runtime() -> RuntimeFacts {
        RuntimeFacts {
            iri: "urn:rt".into(),
            label: "rt".into(),
            dtypes: [format!("{SEAM}int8")].into(),
            operators: ["Conv".to_owned(), "Relu".to_owned()].into(),
            ram_overhead_bytes: 1000,
            flash_overhead_bytes: 20_000,
            throughput: vec![MeasuredThroughput {
                core: "cortex-m4f".into(),
                dtype: format!("{SEAM}int8"),
                class: OperatorClass::Convolution,
                macs_per_cycle: 0.5,
                source: None,
                basis: None,
            }],
            ..RuntimeFacts::default()
        }
    }

    #[test]
    fn needs_add_the_runtime_and_latency_comes_from_measured_figures_only() {
        let ops: BTreeSet<String> = ["Conv".to_owned(), "Softmax".to_owned()].into();
        let int8 = ModelFigures {
            dtype: "int8",
            activation_bytes: 4096,
            weight_bytes: 10_000,
            macs: 1_000_000,
            operators: &ops,
        };
        let e = on_runtime(&int8, &runtime());
        assert_eq!((e.ram_bytes, e.flash_bytes), (5096, 30_000));
        assert_eq!(e.missing_operators, ["Softmax"]);
        assert_eq!(e.latency.len(), 1);
        assert_eq!(e.latency[0].cycles, 2_000_000.0);
        assert_eq!(e.latency[0].ms_at_100mhz, 20.0);
        // No figure for float32: no latency rather than a guess.
        let float = ModelFigures {
            dtype: "float32",
            ..int8
        };
        assert!(on_runtime(&float, &runtime()).latency.is_empty());
        // Sizes saturate instead of wrapping.
        let huge = ModelFigures {
            weight_bytes: u64::MAX,
            ..int8
        };
        assert_eq!(on_runtime(&huge, &runtime()).flash_bytes, u64::MAX);
    }
}
