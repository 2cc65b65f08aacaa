//! The device's side of matching: its board, free memory and runtimes resolved once, then the
//! verdict of each candidate (allocation-free) and, when asked, every reason it does not run.

use super::*;

/// The figures of what would run: the model itself or an int8 variant of it.
pub(super) struct Candidate<'a> {
    pub(super) dtype: Option<&'a str>,
    pub(super) peak: Option<u64>,
    pub(super) weight: Option<u64>,
    pub(super) macs: Option<u64>,
    pub(super) operators: &'a BTreeSet<String>,
    /// What dominates its MACs, which decides the throughput figure its latency is estimated with;
    /// worked out from the operators when first asked (the fleet matrix rarely asks).
    pub(super) class: std::cell::OnceCell<OperatorClass>,
    pub(super) sensors: &'a [SensorRequirement],
    pub(super) accuracy: Option<f64>,
}

impl<'a> Candidate<'a> {
    /// What dominates its MACs (see the field).
    pub(super) fn class(&self) -> OperatorClass {
        *self.class.get_or_init(|| OperatorClass::of(self.operators))
    }

    pub(super) fn of(m: &'a ModelFacts) -> Self {
        Self {
            dtype: m.dtype.as_deref(),
            peak: m.peak_activation_bytes,
            weight: m.weight_bytes,
            macs: m.macs,
            operators: &m.operators,
            class: std::cell::OnceCell::new(),
            sensors: &m.sensors,
            accuracy: m.accuracy,
        }
    }
}

/// A latency estimate and the figures it rests on, borrowed from the fleet (matching estimates
/// latency for every pair; the owned [`LatencyAssumption`] is made only for what is reported).
#[derive(Clone, Copy)]
pub(super) struct Estimate<'a> {
    pub(super) seconds: f64,
    pub(super) clock_hz: u64,
    pub(super) macs_per_cycle: f64,
    pub(super) core: Option<&'a str>,
    /// The runtime's measured figure, or `None` for the board's generic estimate.
    pub(super) measured: Option<&'a crate::matching::facts::MeasuredThroughput>,
}

impl Estimate<'_> {
    pub(super) fn assumption(&self, runtime: &RuntimeFacts, dtype: &str) -> LatencyAssumption {
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

/// How a model runs on a device, read from the fleet ([`DeviceView::fit`]).
pub struct Fit<'a> {
    model: &'a ModelFacts,
    candidate: Candidate<'a>,
    runtime: &'a RuntimeFacts,
    ram_bytes: u64,
    flash_bytes: u64,
    latency: Option<Estimate<'a>>,
    /// As-is or through its int8 variant.
    pub via: Via,
}

impl Fit<'_> {
    /// The compatible model as a report states it, spelled out as far as `detail` asks.
    pub fn compatible(&self, detail: Detail) -> Compatible {
        let latency_assumption = self
            .latency
            .filter(|_| detail.latency_assumptions)
            .zip(self.candidate.dtype)
            .map(|(e, dtype)| Box::new(e.assumption(self.runtime, dtype)));
        Compatible {
            model: self.model.iri.clone(),
            name: self.model.name.clone(),
            task: self.model.task.clone(),
            accuracy: self.candidate.accuracy,
            estimated_latency_ms: self.latency.map(|e| round3(e.seconds * 1e3)),
            latency_assumption,
            ram_bytes: self.ram_bytes,
            flash_bytes: self.flash_bytes,
            via: self.via,
            runtime: self.runtime.iri.clone(),
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
                .find(|t| t.core == core && t.dtype == dtype && t.class == c.class())
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

    fn runtime_fit<'r>(&self, c: &Candidate<'_>, r: &'r RuntimeFacts, opts: &MatchOptions) -> RuntimeFit<'r> {
        let mut reasons: Vec<Reason> = self.latency_reason(c, r, opts).into_iter().collect();
        // Unknown activation or weight sizes cannot be shown to fit: they fail like a shortfall.
        let ram_required = c.peak.map(|p| ram_required(p, r.ram_overhead_bytes, opts.headroom_pct));
        let flash_required = c.weight.map(|w| crate::matching::estimate::flash_required(w, r));
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
        let missing = crate::matching::estimate::missing_operators(c.operators, r);
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
                let flash = crate::matching::estimate::flash_required(weight, r);
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
        let fits: Vec<RuntimeFit<'a>> = self.runtimes.iter().map(|r| self.runtime_fit(c, r, opts)).collect();
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
            None => Outcome::Rejected(self.rejected(model, opts, explain)),
        }
    }

    /// `model`, rejected here; with `explain`, every reason why.
    pub fn rejected(&self, model: &ModelFacts, opts: &MatchOptions, explain: bool) -> Rejected {
        Rejected {
            model: model.iri.clone(),
            name: model.name.clone(),
            reasons: if explain { self.reasons(model, opts) } else { Vec::new() },
        }
    }

    /// How `model` runs here, if it does.
    pub fn verdict(&self, fleet: &Fleet, model: &ModelFacts, opts: &MatchOptions) -> Option<(Via, Compatible)> {
        self.fit(fleet, model, opts)
            .map(|fit| (fit.via, fit.compatible(Detail::default())))
    }

    /// How `model` runs here, if it does, as the fleet's own facts: nothing is copied until
    /// [`Fit::compatible`] is asked for (a device's ranking reports a tenth of the models it
    /// judges, and the fleet matrix none).
    pub fn fit<'m>(&self, fleet: &'m Fleet, model: &'m ModelFacts, opts: &MatchOptions) -> Option<Fit<'m>>
    where
        'a: 'm,
    {
        let as_is = Candidate::of(model);
        let quick = self.quick(&as_is, opts);
        if let Some((runtime, ram_bytes, flash_bytes)) = quick.best {
            return Some(Fit {
                model,
                candidate: as_is,
                runtime,
                ram_bytes,
                flash_bytes,
                latency: quick.latency,
                via: Via::AsIs,
            });
        }
        // Fails only for lack of memory on a runtime that otherwise takes it: try int8.
        if quick.memory_only {
            if let Some(variant) = int8_variant(fleet, model) {
                let candidate = variant.candidate();
                let v = self.quick(&candidate, opts);
                if let Some((runtime, ram_bytes, flash_bytes)) = v.best {
                    return Some(Fit {
                        model,
                        candidate,
                        runtime,
                        ram_bytes,
                        flash_bytes,
                        latency: v.latency,
                        via: Via::Int8,
                    });
                }
            }
        }
        None
    }

    /// What `model` needs of this device's free memory, runtime by runtime: everything
    /// [`Self::verdict`] checks except the comparison with the free RAM and flash, and the
    /// sensors, which are taken as present (ask [`Self::senses`]). It reads of the device only
    /// its runtimes (and, for a latency budget, its board's clock and core), so devices whose
    /// boards share those share it. The verdict for free memory `(ram, flash)` of a device that
    /// senses what the model needs is [`MemoryNeeds::via`].
    pub fn memory_needs(&self, fleet: &Fleet, model: &ModelFacts, opts: &MatchOptions) -> MemoryNeeds {
        let as_is = Candidate::of(model);
        let variant = int8_variant(fleet, model);
        // A declared int8 variant that needs other sensors than its model is judged whole, on
        // every device: the shortcut checks the model's sensors only.
        if variant.as_ref().is_some_and(|v| v.candidate().sensors != as_is.sensors) {
            return MemoryNeeds {
                whole_verdict: true,
                ..MemoryNeeds::default()
            };
        }
        let (typed, as_is_needs) = self.needs(&as_is, opts);
        // As in `verdict`: the int8 variant is tried only when a runtime takes the model as it is
        // but memory may not suffice.
        let mut int8 = Vec::new();
        if typed {
            if let Some(v) = variant {
                int8 = self.needs(&v.candidate(), opts).1;
            }
        }
        MemoryNeeds {
            as_is: as_is_needs,
            int8,
            typed,
            whole_verdict: false,
        }
    }

    /// The IRIs of the runtimes that target this device's board (its ISA, and its accelerator
    /// where a runtime needs one), in the fleet's order.
    pub fn runtime_iris(&self) -> Vec<&'a str> {
        self.runtimes.iter().map(|r| r.iri.as_str()).collect()
    }

    /// Whether this device's sensors (its board's and its own) give what `model`'s input needs.
    pub fn senses(&self, model: &ModelFacts) -> bool {
        model
            .sensors
            .iter()
            .all(|req| self.sensors().any(|s| s.kind == req.kind && sensor_adequate(s, req)))
    }

    /// `quick` without the memory comparison and the sensor check: whether some runtime takes
    /// the candidate apart from memory, and the (RAM, flash) each such runtime needs.
    fn needs(&self, c: &Candidate<'_>, opts: &MatchOptions) -> (bool, Vec<(u64, u64)>) {
        let mut typed_somewhere = false;
        let mut needs = Vec::new();
        if self.board.is_none() {
            return (false, needs);
        }
        for r in &self.runtimes {
            let typed = c.dtype.is_some_and(|dt| r.dtypes.contains(dt))
                && c.operators.iter().all(|op| r.operators.contains(op));
            if !typed {
                continue;
            }
            if let Some(budget) = opts.latency_budget_s {
                if !self.latency(c, r).is_some_and(|e| e.seconds <= budget) {
                    continue;
                }
            }
            typed_somewhere = true;
            let (Some(peak), Some(weight)) = (c.peak, c.weight) else {
                continue;
            };
            needs.push((
                ram_required(peak, r.ram_overhead_bytes, opts.headroom_pct),
                crate::matching::estimate::flash_required(weight, r),
            ));
        }
        (typed_somewhere, needs)
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

/// What a model needs of a device's free memory on each runtime that takes it otherwise (see
/// [`DeviceView::memory_needs`]).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct MemoryNeeds {
    /// (RAM, flash) on each runtime that takes the model as it is, apart from memory.
    as_is: Vec<(u64, u64)>,
    /// The same for its int8 variant (empty without one, or when no runtime takes the model).
    int8: Vec<(u64, u64)>,
    /// Whether some runtime takes the model as it is, apart from memory.
    typed: bool,
    /// The shortcut does not hold for this model (its int8 variant needs other sensors): ask
    /// [`DeviceView::verdict`] instead.
    whole_verdict: bool,
}

impl MemoryNeeds {
    /// Whether only [`DeviceView::verdict`] can judge this model (see the field).
    pub fn needs_whole_verdict(&self) -> bool {
        self.whole_verdict
    }

    /// The least RAM and the least flash any way of running the model needs here, each on its
    /// own: a device with less free RAM, or less free flash, gets no verdict from these needs
    /// ([`Self::via`] is `None`). `(0, 0)` when only [`DeviceView::verdict`] can judge; `u64::MAX`
    /// when nothing runs at all. A cheap gate in front of [`Self::via`] for the fleet matrix,
    /// where nine pairs in ten fail.
    pub fn floor(&self) -> (u64, u64) {
        if self.whole_verdict {
            return (0, 0);
        }
        let ways = self.as_is.iter().chain(if self.typed { &self.int8[..] } else { &[] });
        ways.fold((u64::MAX, u64::MAX), |(ram, flash), &(r, f)| (ram.min(r), flash.min(f)))
    }

    /// The verdict's way for a device with this much free RAM and flash.
    pub fn via(&self, free_ram: u64, free_flash: u64) -> Option<Via> {
        let fits = |needs: &[(u64, u64)]| needs.iter().any(|&(ram, flash)| ram <= free_ram && flash <= free_flash);
        if fits(&self.as_is) {
            Some(Via::AsIs)
        } else if self.typed && fits(&self.int8) {
            Some(Via::Int8)
        } else {
            None
        }
    }
}

struct Quick<'a> {
    best: Option<(&'a RuntimeFacts, u64, u64)>,
    memory_only: bool,
    latency: Option<Estimate<'a>>,
}
