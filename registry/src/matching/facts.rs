//! The facts matching reads, as plain Rust values: no RDF types, no store. The registry fills them
//! from the graph ([`crate::matching::load`]); tests and benchmarks can build them directly.

use std::collections::{BTreeMap, BTreeSet};

/// A sensor as matching sees it (on a board, or attached to a device).
#[derive(Debug, Clone, PartialEq)]
pub struct SensorFacts {
    /// The sensor's IRI.
    pub iri: String,
    /// Its kind (IRI of a `seam:SensorKind`).
    pub kind: String,
    /// Maximum output data rate, Hz.
    pub sample_rate_hz: Option<f64>,
    /// Lowest measurable value, SI unit of the kind.
    pub range_min: Option<f64>,
    /// Highest measurable value, SI unit of the kind.
    pub range_max: Option<f64>,
}

/// A board: the hardware facts devices inherit.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct BoardFacts {
    /// The board's IRI.
    pub iri: String,
    /// Its label.
    pub label: String,
    /// Instruction set of the main core.
    pub isa: Option<String>,
    /// The main core's name (`seam:core`, e.g. "Cortex-M4F"): runtimes' measured figures are per core.
    pub core: Option<String>,
    /// Core clock, Hz.
    pub clock_hz: Option<u64>,
    /// On-chip RAM, bytes.
    pub ram_bytes: Option<u64>,
    /// Program storage, bytes.
    pub flash_bytes: Option<u64>,
    /// RAM the base firmware keeps, bytes (0 when not stated).
    pub reserved_ram_bytes: u64,
    /// Flash the base firmware occupies, bytes (0 when not stated).
    pub reserved_flash_bytes: u64,
    /// Accelerators on the board.
    pub accelerators: BTreeSet<String>,
    /// On-board sensors.
    pub sensors: Vec<SensorFacts>,
    /// SEAM's generic MACs per cycle of the main core, by data type IRI (an estimate).
    pub macs_per_cycle: BTreeMap<String, f64>,
}

/// What dominates a model's multiply-accumulates (`seam:operatorClass`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum OperatorClass {
    /// Convolutions: weights reused across positions.
    Convolution,
    /// Only dense layers (fully connected, matrix products): every weight read once.
    Dense,
}

impl OperatorClass {
    /// The class of a model from its operators (ONNX names).
    pub fn of(operators: &BTreeSet<String>) -> Self {
        const CONVOLUTIONS: [&str; 4] = ["Conv", "ConvInteger", "QLinearConv", "ConvTranspose"];
        if operators.is_empty() || operators.iter().any(|op| CONVOLUTIONS.contains(&op.as_str())) {
            // An unknown mix counts as convolutional: its figures are the slower ones.
            Self::Convolution
        } else {
            Self::Dense
        }
    }

    /// The ontology's individual for the class.
    pub fn iri(self) -> String {
        format!(
            "{}{}",
            crate::vocab::SEAM,
            match self {
                Self::Convolution => "ConvolutionLayers",
                Self::Dense => "DenseLayers",
            }
        )
    }
}

/// A throughput figure measured for a runtime on one core, for one data type and class of model.
#[derive(Debug, Clone, PartialEq)]
pub struct MeasuredThroughput {
    /// The core it was measured on (`seam:core`).
    pub core: String,
    /// Data type IRI.
    pub dtype: String,
    /// The class of model.
    pub class: OperatorClass,
    /// MACs per cycle.
    pub macs_per_cycle: f64,
    /// Where the figure comes from (`rdfs:seeAlso`).
    pub source: Option<String>,
    /// How it was derived (`rdfs:comment`).
    pub basis: Option<String>,
}

/// A device: an instance of a board plus what it reported.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct DeviceFacts {
    /// The device's IRI.
    pub iri: String,
    /// Its short name, when it has one.
    pub short_name: Option<String>,
    /// Its board's IRI.
    pub board: Option<String>,
    /// Free RAM the device reported, bytes.
    pub free_ram_bytes: Option<u64>,
    /// Free flash the device reported, bytes.
    pub free_flash_bytes: Option<u64>,
    /// Sensors attached to this device (besides the board's).
    pub sensors: Vec<SensorFacts>,
}

/// A runtime: where it runs and what it executes.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct RuntimeFacts {
    /// The runtime's IRI.
    pub iri: String,
    /// Its label.
    pub label: String,
    /// Instruction sets it targets.
    pub isas: BTreeSet<String>,
    /// Accelerators it needs (empty: runs on the CPU).
    pub accelerators: BTreeSet<String>,
    /// Data types it computes in (IRIs).
    pub dtypes: BTreeSet<String>,
    /// Operators it executes (ONNX names).
    pub operators: BTreeSet<String>,
    /// Its own RAM besides the arena, bytes.
    pub ram_overhead_bytes: u64,
    /// Its own code size, bytes.
    pub flash_overhead_bytes: u64,
    /// The compiler backend that builds artifacts for it (`seam:compilerBackend`), if declared.
    pub compiler_backend: Option<String>,
    /// Throughput figures measured for it, per core, data type and class of model.
    pub throughput: Vec<MeasuredThroughput>,
}

/// What a model needs from one sensor.
#[derive(Debug, Clone, PartialEq)]
pub struct SensorRequirement {
    /// The sensor kind (IRI).
    pub kind: String,
    /// Lowest acceptable sample rate, Hz.
    pub min_sample_rate_hz: Option<f64>,
    /// The range must reach ± this value.
    pub min_range: Option<f64>,
}

/// A model: what it needs and what it is worth.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ModelFacts {
    /// The model's IRI.
    pub iri: String,
    /// Its name.
    pub name: String,
    /// Its task's label (or IRI).
    pub task: Option<String>,
    /// Its data type (IRI).
    pub dtype: Option<String>,
    /// MACs of one inference.
    pub macs: Option<u64>,
    /// Peak activation memory, bytes.
    pub peak_activation_bytes: Option<u64>,
    /// Weight bytes.
    pub weight_bytes: Option<u64>,
    /// Operators it uses.
    pub operators: BTreeSet<String>,
    /// Sensors its input comes from.
    pub sensors: Vec<SensorRequirement>,
    /// Its best published or measured accuracy (0..1).
    pub accuracy: Option<f64>,
    /// Its declared int8 variant, if any.
    pub quantized_variant: Option<String>,
}

/// Everything matching reads, indexed by IRI.
#[derive(Debug, Clone, Default)]
pub struct Fleet {
    /// Devices, by IRI.
    pub devices: BTreeMap<String, DeviceFacts>,
    /// Boards, by IRI.
    pub boards: BTreeMap<String, BoardFacts>,
    /// Runtimes, by IRI.
    pub runtimes: BTreeMap<String, RuntimeFacts>,
    /// Models, by IRI.
    pub models: BTreeMap<String, ModelFacts>,
}

impl Fleet {
    /// Finds a device by IRI or short name.
    pub fn device(&self, key: &str) -> Option<&DeviceFacts> {
        self.devices
            .get(key)
            .or_else(|| self.devices.values().find(|d| d.short_name.as_deref() == Some(key)))
    }

    /// Finds a board by IRI or by the last segment of its IRI (the catalog's name for it, e.g.
    /// `arduino-nano-33-ble-sense`).
    pub fn board(&self, key: &str) -> Option<&BoardFacts> {
        self.boards.get(key).or_else(|| {
            self.boards
                .values()
                .find(|b| b.iri.rsplit(['/', '#']).next() == Some(key))
        })
    }
}
