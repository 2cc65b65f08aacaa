//! The matching rules (DESIGN §3), as pure functions over [`Fleet`]: no I/O, no RDF.
//!
//! `queries/compatible-models.rq` and `queries/explain.rq` state the same rules in SPARQL; the
//! one-truth test compares both on generated fleets. Change one, change the other.

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};

use super::facts::{
    BoardFacts, DeviceFacts, Fleet, ModelFacts, OperatorClass, RuntimeFacts, SensorFacts, SensorRequirement,
};
use crate::vocab::SEAM;

mod view;

use view::Candidate;
pub use view::{DeviceView, Fit, MemoryNeeds};

/// Knobs of a match.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct MatchOptions {
    /// RAM headroom over peak activations plus runtime overhead, percent.
    pub headroom_pct: u64,
    /// Latency budget, seconds; `None`: no latency constraint.
    pub latency_budget_s: Option<f64>,
}

impl MatchOptions {
    /// The largest headroom accepted: 1000% (needing eleven times the model's memory) is already
    /// far past any real margin; larger values are typing errors or probes.
    pub const MAX_HEADROOM_PCT: u64 = 1000;

    /// Options from a request's values, refused with a sentence when out of range.
    pub fn checked(headroom_pct: u64, latency_budget_s: Option<f64>) -> Result<Self, String> {
        if headroom_pct > Self::MAX_HEADROOM_PCT {
            return Err(format!(
                "headroom {headroom_pct}% is out of range (0 to {}%)",
                Self::MAX_HEADROOM_PCT
            ));
        }
        if let Some(budget) = latency_budget_s {
            if !budget.is_finite() || budget <= 0.0 || budget > 86_400.0 {
                return Err(format!(
                    "latency budget {budget} s is out of range (above 0, at most one day)"
                ));
            }
        }
        Ok(Self {
            headroom_pct,
            latency_budget_s,
        })
    }
}

/// What a report spells out for each compatible model beyond the verdict and its figures.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Detail {
    /// What each latency figure assumes ([`LatencyAssumption`]): half a dozen strings a model,
    /// which a client that does not show them need not have copied.
    pub latency_assumptions: bool,
}

impl Default for Detail {
    /// Everything.
    fn default() -> Self {
        Self {
            latency_assumptions: true,
        }
    }
}

impl Default for MatchOptions {
    fn default() -> Self {
        Self {
            headroom_pct: 10,
            latency_budget_s: None,
        }
    }
}

/// The constraints a model is checked against.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Constraint {
    /// Some runtime targets the device's ISA (and accelerator).
    Runtime,
    /// The input sensors are present and adequate.
    Sensor,
    /// The model's data type is supported by the runtime.
    Dtype,
    /// Every operator is supported by the runtime.
    Operator,
    /// Peak activations + runtime overhead + headroom ≤ free RAM.
    Ram,
    /// Weights + runtime code ≤ free flash.
    Flash,
    /// Estimated latency ≤ budget.
    Latency,
}

impl Constraint {
    /// The name used in JSON and in the SPARQL queries.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Runtime => "runtime",
            Self::Sensor => "sensor",
            Self::Dtype => "dtype",
            Self::Operator => "operator",
            Self::Ram => "ram",
            Self::Flash => "flash",
            Self::Latency => "latency",
        }
    }
}

/// Why a model does not run on a device: machine-readable, with one sentence for people.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Reason {
    /// The failed constraint.
    pub constraint: Constraint,
    /// What the model needs.
    pub required: String,
    /// What the device offers.
    pub available: String,
    /// The unit of `required` and `available`, when they are quantities.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unit: Option<String>,
    /// One sentence.
    pub message: String,
}

/// How a compatible model runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Via {
    /// The model as it is.
    #[serde(rename = "as-is")]
    AsIs,
    /// Its int8 variant (declared, or derived by quantisation).
    #[serde(rename = "int8")]
    Int8,
}

/// A compatible model, with the figures of the way it runs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Compatible {
    /// Model IRI.
    pub model: String,
    /// Model name.
    pub name: String,
    /// Task label.
    pub task: Option<String>,
    /// Accuracy (0..1) of what runs.
    pub accuracy: Option<f64>,
    /// Estimated latency of one inference, ms.
    pub estimated_latency_ms: Option<f64>,
    /// What the latency estimate assumes: runtime, core, clock, MACs per cycle and where that
    /// figure comes from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub latency_assumption: Option<Box<LatencyAssumption>>,
    /// RAM needed (activations + runtime + headroom), bytes.
    pub ram_bytes: u64,
    /// Flash needed (weights + runtime), bytes.
    pub flash_bytes: u64,
    /// As-is or through its int8 variant.
    pub via: Via,
    /// The runtime it runs on.
    pub runtime: String,
}

/// What a latency estimate assumes: MACs ÷ (clock × MACs per cycle), with the figure's origin.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LatencyAssumption {
    /// The runtime the figure is for.
    pub runtime: String,
    /// The board's core (`seam:core`), when known.
    pub core: Option<String>,
    /// The clock assumed (the board's nominal clock), Hz.
    pub clock_hz: u64,
    /// MACs per cycle assumed.
    pub macs_per_cycle: f64,
    /// The data type computed in (IRI).
    pub dtype: String,
    /// The class of model the figure is for (IRI of a `seam:OperatorClass`), for measured figures.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub operator_class: Option<String>,
    /// `measured` (a runtime's published measurement) or `estimate` (SEAM's generic figure for
    /// the core).
    pub basis: String,
    /// Where the figure comes from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
}

/// A rejected model and every reason.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Rejected {
    /// Model IRI.
    pub model: String,
    /// Model name.
    pub name: String,
    /// Every failed constraint.
    pub reasons: Vec<Reason>,
}

/// The verdict for one (device, model) pair.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    /// It runs.
    Compatible(Compatible),
    /// It does not, and why.
    Rejected(Rejected),
}

/// An int8 variant: the declared one, or one derived from a float32 model by weight
/// quantisation (weights and activations a quarter of their float32 size).
enum Variant<'a> {
    Declared(&'a ModelFacts),
    Derived {
        model: &'a ModelFacts,
        peak: Option<u64>,
        weight: Option<u64>,
    },
}

const INT8: &str = "int8";
const FLOAT32: &str = "float32";

fn seam_dtype(local: &str) -> String {
    format!("{SEAM}{local}")
}

fn int8_variant<'a>(fleet: &'a Fleet, model: &'a ModelFacts) -> Option<Variant<'a>> {
    if let Some(v) = model.quantized_variant.as_ref() {
        return fleet
            .models
            .get(v)
            .filter(|v| v.dtype.as_deref() == Some(INT8_IRI.as_str()))
            .map(Variant::Declared);
    }
    (model.dtype.as_deref() == Some(FLOAT32_IRI.as_str())).then(|| Variant::Derived {
        model,
        peak: model.peak_activation_bytes.map(|b| b.div_ceil(4)),
        weight: model.weight_bytes.map(|b| b.div_ceil(4)),
    })
}

// The data types' IRIs, made once: matching compares with them for every pair of the fleet.
static INT8_IRI: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| seam_dtype(INT8));
static FLOAT32_IRI: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| seam_dtype(FLOAT32));

impl<'a> Variant<'a> {
    fn candidate(&self) -> Candidate<'a> {
        match self {
            Self::Declared(m) => Candidate::of(m),
            Self::Derived { model, peak, weight } => Candidate {
                dtype: Some(INT8_IRI.as_str()),
                peak: *peak,
                weight: *weight,
                macs: model.macs,
                operators: &model.operators,
                class: std::cell::OnceCell::new(),
                sensors: &model.sensors,
                accuracy: model.accuracy,
            },
        }
    }
}

/// RAM a model needs on a runtime: (activations + overhead) × (100 + headroom) / 100, rounded up.
/// Computed without overflow: figures too large for any device saturate at `u64::MAX`, which no
/// device has free, so they fail the RAM constraint instead of wrapping round to a small number.
pub fn ram_required(peak: u64, overhead: u64, headroom_pct: u64) -> u64 {
    let scaled = (u128::from(peak) + u128::from(overhead)) * (100 + u128::from(headroom_pct));
    u64::try_from(scaled.div_ceil(100)).unwrap_or(u64::MAX)
}

fn sensor_adequate(s: &SensorFacts, req: &SensorRequirement) -> bool {
    let rate_ok = req
        .min_sample_rate_hz
        .is_none_or(|min| s.sample_rate_hz.is_some_and(|r| r >= min));
    let range_ok = req
        .min_range
        .is_none_or(|min| matches!((s.range_min, s.range_max), (Some(lo), Some(hi)) if hi >= min && -lo >= min));
    rate_ok && range_ok
}

fn article(word: &str) -> &'static str {
    if word.starts_with(['a', 'e', 'i', 'o', 'u']) {
        "an"
    } else {
        "a"
    }
}

fn round3(x: f64) -> f64 {
    (x * 1000.0).round() / 1000.0
}

/// The local name of an IRI, for sentences.
pub fn local(iri: &str) -> &str {
    iri.rsplit(['#', '/']).next().unwrap_or(iri)
}

/// Ranking of compatible models: accuracy (higher first, unknown last), then estimated latency
/// (lower first, unknown last), then RAM + flash needed (smaller first), then IRI.
pub fn rank(list: &mut [Compatible]) {
    list.sort_by(|a, b| {
        let acc = |c: &Compatible| c.accuracy.map_or(f64::NEG_INFINITY, |a| a);
        let lat = |c: &Compatible| c.estimated_latency_ms.unwrap_or(f64::INFINITY);
        acc(b)
            .total_cmp(&acc(a))
            .then(lat(a).total_cmp(&lat(b)))
            .then(
                a.ram_bytes
                    .saturating_add(a.flash_bytes)
                    .cmp(&b.ram_bytes.saturating_add(b.flash_bytes)),
            )
            .then(a.model.cmp(&b.model))
    });
}

#[cfg(test)]
mod tests;
