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
    /// What actually runs: the model itself, its declared variant, or (derived) the model.
    #[serde(skip)]
    pub runs: String,
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

/// The figures of what would run: the model itself or an int8 variant of it.
struct Candidate<'a> {
    runs: &'a str,
    dtype: Option<&'a str>,
    peak: Option<u64>,
    weight: Option<u64>,
    macs: Option<u64>,
    operators: &'a BTreeSet<String>,
    /// What dominates its MACs, which decides the throughput figure its latency is estimated with.
    class: OperatorClass,
    sensors: &'a [SensorRequirement],
    accuracy: Option<f64>,
}

impl<'a> Candidate<'a> {
    fn of(m: &'a ModelFacts) -> Self {
        Self {
            runs: &m.iri,
            dtype: m.dtype.as_deref(),
            peak: m.peak_activation_bytes,
            weight: m.weight_bytes,
            macs: m.macs,
            operators: &m.operators,
            class: OperatorClass::of(&m.operators),
            sensors: &m.sensors,
            accuracy: m.accuracy,
        }
    }
}

/// A latency estimate and the figures it rests on, borrowed from the fleet (matching estimates
/// latency for every pair; the owned [`LatencyAssumption`] is made only for what is reported).
#[derive(Clone, Copy)]
struct Estimate<'a> {
    seconds: f64,
    clock_hz: u64,
    macs_per_cycle: f64,
    core: Option<&'a str>,
    /// The runtime's measured figure, or `None` for the board's generic estimate.
    measured: Option<&'a super::facts::MeasuredThroughput>,
}

impl Estimate<'_> {
    fn assumption(&self, runtime: &RuntimeFacts, dtype: &str) -> LatencyAssumption {
        LatencyAssumption {
            runtime: runtime.iri.clone(),
            core: self.core.map(str::to_owned),
            clock_hz: self.clock_hz,
            macs_per_cycle: self.macs_per_cycle,
            dtype: dtype.to_owned(),
            operator_class: self.measured.map(|t| t.class.iri()),
            basis: if self.measured.is_some() {
                "measured"
            } else {
                "estimate"
            }
            .to_owned(),
            source: self.measured.and_then(|t| t.source.clone()),
        }
    }
}

/// How a candidate fits one runtime.
struct RuntimeFit<'a> {
    runtime: &'a RuntimeFacts,
    reasons: Vec<Reason>,
}

/// The device's side of matching, computed once per device.
pub struct DeviceView<'a> {
    device: &'a DeviceFacts,
    board: Option<&'a BoardFacts>,
    free_ram: u64,
    free_flash: u64,
    runtimes: Vec<&'a RuntimeFacts>,
}

impl<'a> DeviceView<'a> {
    /// Resolves the device's board, free memory and candidate runtimes.
    pub fn new(fleet: &'a Fleet, device: &'a DeviceFacts) -> Self {
        let board = device.board.as_ref().and_then(|b| fleet.boards.get(b));
        let free = |reported: Option<u64>, total: Option<u64>, reserved: u64| {
            reported.unwrap_or_else(|| total.unwrap_or(0).saturating_sub(reserved))
        };
        let free_ram = free(
            device.free_ram_bytes,
            board.and_then(|b| b.ram_bytes),
            board.map_or(0, |b| b.reserved_ram_bytes),
        );
        let free_flash = free(
            device.free_flash_bytes,
            board.and_then(|b| b.flash_bytes),
            board.map_or(0, |b| b.reserved_flash_bytes),
        );
        let runtimes = match board {
            Some(b) => fleet
                .runtimes
                .values()
                .filter(|r| b.isa.as_ref().is_some_and(|isa| r.isas.contains(isa)))
                .filter(|r| r.accelerators.is_empty() || r.accelerators.iter().any(|a| b.accelerators.contains(a)))
                .collect(),
            None => Vec::new(),
        };
        Self {
            device,
            board,
            free_ram,
            free_flash,
            runtimes,
        }
    }

    fn sensors(&self) -> impl Iterator<Item = &'a SensorFacts> {
        self.board
            .into_iter()
            .flat_map(|b| b.sensors.iter())
            .chain(self.device.sensors.iter())
    }

    /// Checks that do not depend on the runtime: runtime availability, sensors.
    fn device_reasons(&self, c: &Candidate<'_>) -> Vec<Reason> {
        let mut reasons = Vec::new();
        if self.board.is_none() {
            reasons.push(Reason {
                constraint: Constraint::Runtime,
                required: "a board".into(),
                available: "none".into(),
                unit: None,
                message: format!(
                    "{} has no known board, so nothing is known to run on it.",
                    self.device.iri
                ),
            });
        } else if self.runtimes.is_empty() {
            let isa = self
                .board
                .and_then(|b| b.isa.clone())
                .unwrap_or_else(|| "an unknown ISA".into());
            reasons.push(Reason {
                constraint: Constraint::Runtime,
                required: "a runtime for the device's ISA".into(),
                available: isa.clone(),
                unit: None,
                message: format!("No runtime in the registry targets {}.", local(&isa)),
            });
        }
        for req in c.sensors {
            if let Some(r) = self.sensor_reason(req) {
                reasons.push(r);
            }
        }
        reasons
    }

    /// The latency reason of one runtime, when a budget is set and not met.
    fn latency_reason(&self, c: &Candidate<'_>, r: &RuntimeFacts, opts: &MatchOptions) -> Option<Reason> {
        let budget = opts.latency_budget_s?;
        match self.latency(c, r) {
            Some(e) if e.seconds <= budget => None,
            Some(e) => Some(Reason {
                constraint: Constraint::Latency,
                required: format!("{}", round3(budget * 1e3)),
                available: format!("{}", round3(e.seconds * 1e3)),
                unit: Some("ms".into()),
                message: format!(
                    "Estimated latency {} ms on {} exceeds the budget of {} ms (assuming {} MACs/cycle at {} MHz, {}).",
                    round3(e.seconds * 1e3),
                    r.label,
                    round3(budget * 1e3),
                    e.macs_per_cycle,
                    round3(e.clock_hz as f64 / 1e6),
                    if e.measured.is_some() { "measured" } else { "estimate" }
                ),
            }),
            None => Some(Reason {
                constraint: Constraint::Latency,
                required: format!("{}", round3(budget * 1e3)),
                available: "unknown".into(),
                unit: Some("ms".into()),
                message: format!(
                    "Latency on {} cannot be estimated (no clock, MAC count, or throughput figure for this core, data type and class of model), so the budget cannot be shown to be met.",
                    r.label
                ),
            }),
        }
    }

    fn sensor_reason(&self, req: &SensorRequirement) -> Option<Reason> {
        let of_kind: Vec<&SensorFacts> = self.sensors().filter(|s| s.kind == req.kind).collect();
        let kind = local(&req.kind);
        if of_kind.is_empty() {
            return Some(Reason {
                constraint: Constraint::Sensor,
                required: kind.to_owned(),
                available: "none".into(),
                unit: None,
                message: format!("The model needs {} {kind}; the device has none.", article(kind)),
            });
        }
        if of_kind.iter().any(|s| sensor_adequate(s, req)) {
            return None;
        }
        let best_rate = of_kind
            .iter()
            .filter_map(|s| s.sample_rate_hz)
            .fold(None, |m: Option<f64>, r| Some(m.map_or(r, |m| m.max(r))));
        let (required, available, message) = match req.min_sample_rate_hz {
            Some(min) if best_rate.is_none_or(|r| r < min) => (
                format!("{kind} ≥ {min} Hz"),
                best_rate.map_or_else(|| format!("{kind}, rate unknown"), |r| format!("{kind} at {r} Hz")),
                format!(
                    "The model needs {} {kind} sampling at ≥ {min} Hz; the device's best is {}.",
                    article(kind),
                    best_rate.map_or("unknown".into(), |r| format!("{r} Hz"))
                ),
            ),
            _ => (
                format!("{kind} range ±{}", req.min_range.unwrap_or(0.0)),
                format!("{kind} with a smaller or unknown range"),
                format!(
                    "The model needs {} {kind} reaching ±{}; the device's does not.",
                    article(kind),
                    req.min_range.unwrap_or(0.0)
                ),
            ),
        };
        Some(Reason {
            constraint: Constraint::Sensor,
            required,
            available,
            unit: None,
            message,
        })
    }

    /// The estimated latency of `c` on runtime `r`, seconds, and what it assumes: a figure
    /// measured for the runtime on the board's core (data type and class of model), else, for a
    /// runtime on the CPU with no figure measured on that core, the board's generic figure.
    /// A runtime on an accelerator, or one measured on this core but not for this data type and
    /// class, has no estimate: a figure of another kind would be a guess shown as a fact.
    fn latency<'r>(&self, c: &Candidate<'_>, r: &'r RuntimeFacts) -> Option<Estimate<'r>>
    where
        'a: 'r,
    {
        let board = self.board?;
        let dtype = c.dtype?;
        let clock = board.clock_hz.filter(|c| *c > 0)?;
        let macs = c.macs?;
        let core = board.core.as_deref();
        let measured = core.and_then(|core| {
            r.throughput
                .iter()
                .find(|t| t.core == core && t.dtype == dtype && t.class == c.class)
        });
        let mpc = match measured {
            Some(t) => t.macs_per_cycle,
            None => {
                let measured_on_core = core.is_some_and(|core| r.throughput.iter().any(|t| t.core == core));
                if !r.accelerators.is_empty() || measured_on_core {
                    return None;
                }
                *board.macs_per_cycle.get(dtype)?
            }
        };
        (mpc > 0.0).then(|| Estimate {
            seconds: macs as f64 / (clock as f64 * mpc),
            clock_hz: clock,
            macs_per_cycle: mpc,
            core,
            measured,
        })
    }

    fn fit<'r>(&self, c: &Candidate<'_>, r: &'r RuntimeFacts, opts: &MatchOptions) -> RuntimeFit<'r> {
        let mut reasons: Vec<Reason> = self.latency_reason(c, r, opts).into_iter().collect();
        // Unknown activation or weight sizes cannot be shown to fit: they fail like a shortfall.
        let ram_required = c.peak.map(|p| ram_required(p, r.ram_overhead_bytes, opts.headroom_pct));
        let flash_required = c.weight.map(|w| super::estimate::flash_required(w, r));
        match c.dtype {
            Some(dt) if r.dtypes.contains(dt) => {}
            dt => reasons.push(Reason {
                constraint: Constraint::Dtype,
                required: dt.map_or("unknown".into(), |d| local(d).to_owned()),
                available: r.dtypes.iter().map(|d| local(d)).collect::<Vec<_>>().join(", "),
                unit: None,
                message: format!(
                    "{} does not compute in {}.",
                    r.label,
                    dt.map_or("an unknown data type", local)
                ),
            }),
        }
        let missing = super::estimate::missing_operators(c.operators, r);
        if !missing.is_empty() {
            reasons.push(Reason {
                constraint: Constraint::Operator,
                required: missing.join(", "),
                available: format!("{} operators of {}", r.operators.len(), r.label),
                unit: None,
                message: format!(
                    "{} lacks operator{} {}.",
                    r.label,
                    if missing.len() == 1 { "" } else { "s" },
                    missing.join(", ")
                ),
            });
        }
        if ram_required.is_none_or(|req| req > self.free_ram) {
            reasons.push(Reason {
                constraint: Constraint::Ram,
                required: ram_required.map_or("unknown".into(), |r| r.to_string()),
                available: self.free_ram.to_string(),
                unit: Some("bytes".into()),
                message: match ram_required {
                    Some(req) => format!(
                        "Needs {req} bytes of RAM (activations, {} runtime, {}% headroom); {} bytes are free.",
                        r.label, opts.headroom_pct, self.free_ram
                    ),
                    None => "The model's activation memory is unknown, so it cannot be shown to fit.".into(),
                },
            });
        }
        if flash_required.is_none_or(|req| req > self.free_flash) {
            reasons.push(Reason {
                constraint: Constraint::Flash,
                required: flash_required.map_or("unknown".into(), |r| r.to_string()),
                available: self.free_flash.to_string(),
                unit: Some("bytes".into()),
                message: match flash_required {
                    Some(req) => format!(
                        "Needs {req} bytes of flash (weights and {}); {} bytes are free.",
                        r.label, self.free_flash
                    ),
                    None => "The model's weight size is unknown, so it cannot be shown to fit.".into(),
                },
            });
        }
        RuntimeFit { runtime: r, reasons }
    }

    /// The fast verdict of one candidate: no reason is built, nothing is allocated.
    fn quick(&self, c: &Candidate<'_>, opts: &MatchOptions) -> Quick<'a> {
        let device_ok = self.board.is_some()
            && !self.runtimes.is_empty()
            && c.sensors
                .iter()
                .all(|req| self.sensors().any(|s| s.kind == req.kind && sensor_adequate(s, req)));
        let mut memory_only = false;
        let mut best: Option<(&'a RuntimeFacts, u64, u64)> = None;
        let mut best_estimate: Option<Estimate<'a>> = None;
        if device_ok {
            for r in &self.runtimes {
                let typed = c.dtype.is_some_and(|dt| r.dtypes.contains(dt))
                    && c.operators.iter().all(|op| r.operators.contains(op));
                if !typed {
                    continue;
                }
                // The latency budget, when set, is the runtime's: its own figure decides.
                let estimate = match opts.latency_budget_s {
                    Some(budget) => match self.latency(c, r) {
                        Some(e) if e.seconds <= budget => Some(e),
                        _ => continue,
                    },
                    None => None,
                };
                memory_only = true;
                let (Some(peak), Some(weight)) = (c.peak, c.weight) else {
                    continue;
                };
                let ram = ram_required(peak, r.ram_overhead_bytes, opts.headroom_pct);
                let flash = super::estimate::flash_required(weight, r);
                if ram <= self.free_ram && flash <= self.free_flash {
                    let better = best.is_none_or(|(b, br, bf)| (ram, flash, &r.iri) < (br, bf, &b.iri));
                    if better {
                        best = Some((r, ram, flash));
                        best_estimate = estimate;
                    }
                }
            }
        }
        // Without a budget nothing was estimated yet: only what is reported needs it.
        let latency = match (best, opts.latency_budget_s) {
            (Some((r, _, _)), None) => self.latency(c, r),
            _ => best_estimate,
        };
        Quick {
            best,
            memory_only,
            latency,
        }
    }

    /// Every reason a candidate does not run here (empty when it does): the device-level
    /// reasons, and, when no runtime takes it, those of the runtime that came closest (fewest
    /// failed constraints, then IRI order).
    fn reasons_of(&self, c: &Candidate<'_>, opts: &MatchOptions) -> Vec<Reason> {
        let mut reasons = self.device_reasons(c);
        let fits: Vec<RuntimeFit<'a>> = self.runtimes.iter().map(|r| self.fit(c, r, opts)).collect();
        let some_fit = fits.iter().any(|f| f.reasons.is_empty());
        if !some_fit {
            if let Some(closest) = fits
                .into_iter()
                .min_by(|a, b| (a.reasons.len(), &a.runtime.iri).cmp(&(b.reasons.len(), &b.runtime.iri)))
            {
                reasons.extend(closest.reasons);
            }
        }
        reasons.sort_by_key(|r| r.constraint);
        reasons
    }

    /// The verdict for `model` on this device; the reasons of a rejection are worked out only
    /// when `explain` is set (they cost far more than the verdict).
    pub fn evaluate(&self, fleet: &Fleet, model: &ModelFacts, opts: &MatchOptions, explain: bool) -> Outcome {
        match self.verdict(fleet, model, opts) {
            Some((_, fit)) => Outcome::Compatible(fit),
            None => Outcome::Rejected(Rejected {
                model: model.iri.clone(),
                name: model.name.clone(),
                reasons: if explain { self.reasons(model, opts) } else { Vec::new() },
            }),
        }
    }

    /// How `model` runs here, if it does.
    pub fn verdict(&self, fleet: &Fleet, model: &ModelFacts, opts: &MatchOptions) -> Option<(Via, Compatible)> {
        let as_is = Candidate::of(model);
        let quick = self.quick(&as_is, opts);
        if let Some((r, ram, flash)) = quick.best {
            return Some((
                Via::AsIs,
                compatible(model, &as_is, r, ram, flash, quick.latency, Via::AsIs),
            ));
        }
        // Fails only for lack of memory on a runtime that otherwise takes it: try int8.
        if quick.memory_only {
            if let Some(variant) = int8_variant(fleet, model) {
                let c = variant.candidate();
                let v = self.quick(&c, opts);
                if let Some((r, ram, flash)) = v.best {
                    return Some((Via::Int8, compatible(model, &c, r, ram, flash, v.latency, Via::Int8)));
                }
            }
        }
        None
    }

    /// Every reason `model`, as it is, does not run here.
    pub fn reasons(&self, model: &ModelFacts, opts: &MatchOptions) -> Vec<Reason> {
        self.reasons_of(&Candidate::of(model), opts)
    }

    /// Free RAM the device offers (reported, or board total minus the firmware reservation).
    pub fn free_ram(&self) -> u64 {
        self.free_ram
    }

    /// Free flash the device offers.
    pub fn free_flash(&self) -> u64 {
        self.free_flash
    }
}

struct Quick<'a> {
    best: Option<(&'a RuntimeFacts, u64, u64)>,
    memory_only: bool,
    latency: Option<Estimate<'a>>,
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
            .filter(|v| v.dtype.as_deref() == Some(seam_dtype(INT8).as_str()))
            .map(Variant::Declared);
    }
    (model.dtype.as_deref() == Some(seam_dtype(FLOAT32).as_str())).then(|| Variant::Derived {
        model,
        peak: model.peak_activation_bytes.map(|b| b.div_ceil(4)),
        weight: model.weight_bytes.map(|b| b.div_ceil(4)),
    })
}

static INT8_IRI: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| seam_dtype(INT8));

impl<'a> Variant<'a> {
    fn candidate(&self) -> Candidate<'a> {
        match self {
            Self::Declared(m) => Candidate::of(m),
            Self::Derived { model, peak, weight } => Candidate {
                runs: &model.iri,
                dtype: Some(INT8_IRI.as_str()),
                peak: *peak,
                weight: *weight,
                macs: model.macs,
                operators: &model.operators,
                class: OperatorClass::of(&model.operators),
                sensors: &model.sensors,
                accuracy: model.accuracy,
            },
        }
    }
}

#[allow(clippy::too_many_arguments)]
fn compatible(
    model: &ModelFacts,
    c: &Candidate<'_>,
    runtime: &RuntimeFacts,
    ram_bytes: u64,
    flash_bytes: u64,
    latency: Option<Estimate<'_>>,
    via: Via,
) -> Compatible {
    let latency_assumption = latency
        .zip(c.dtype)
        .map(|(e, dtype)| Box::new(e.assumption(runtime, dtype)));
    let latency = latency.map(|e| e.seconds);
    Compatible {
        model: model.iri.clone(),
        name: model.name.clone(),
        task: model.task.clone(),
        accuracy: c.accuracy,
        estimated_latency_ms: latency.map(|s| round3(s * 1e3)),
        latency_assumption,
        ram_bytes,
        flash_bytes,
        via,
        runtime: runtime.iri.clone(),
        runs: c.runs.to_owned(),
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
mod tests {
    use super::*;

    #[test]
    fn ram_required_rounds_up_and_saturates_instead_of_wrapping() {
        assert_eq!(ram_required(1000, 0, 10), 1100);
        assert_eq!(ram_required(1, 0, 10), 2, "rounded up");
        assert_eq!(ram_required(u64::MAX, 1, 10), u64::MAX);
        assert_eq!(
            ram_required(u64::MAX / 2, u64::MAX / 2, MatchOptions::MAX_HEADROOM_PCT),
            u64::MAX
        );
    }

    #[test]
    fn options_out_of_range_are_refused_with_a_sentence() {
        assert!(MatchOptions::checked(10, Some(0.05)).is_ok());
        assert!(MatchOptions::checked(1000, None).is_ok());
        let e = MatchOptions::checked(1001, None).unwrap_err();
        assert!(e.contains("0 to 1000%"), "{e}");
        for budget in [0.0, -1.0, f64::NAN, f64::INFINITY, 1e9] {
            assert!(MatchOptions::checked(10, Some(budget)).is_err(), "{budget}");
        }
    }
}
