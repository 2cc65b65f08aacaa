//! Synthetic fleets: deterministic, valid registry data of any size, for tests (the one-truth
//! comparison of the SPARQL rules with the fast path) and benchmarks.
//!
//! The generator deliberately covers the cases matching distinguishes: devices with and without
//! reported free memory, attached sensors, sensors with and without rates and ranges, runtimes
//! that need an accelerator, boards without throughput figures, models with declared int8
//! variants, float32 models without one, models without accuracy or with several figures.

use std::fmt::Write as _;

/// A small, fast, seeded PRNG (xorshift64*): the same seed gives the same fleet everywhere.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    /// A generator from `seed` (0 is replaced, as xorshift cannot leave it).
    pub fn new(seed: u64) -> Self {
        Self(seed.max(1))
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// Uniform in `0..n` (0 when `n` is 0).
    pub fn below(&mut self, n: u64) -> u64 {
        if n == 0 {
            0
        } else {
            self.next_u64() % n
        }
    }

    /// True with probability `percent`/100.
    pub fn chance(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }

    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len() as u64) as usize]
    }
}

/// How big a fleet to make.
#[derive(Debug, Clone, Copy)]
pub struct FleetSpec {
    /// Boards.
    pub boards: usize,
    /// Devices (spread over the boards).
    pub devices: usize,
    /// Runtimes.
    pub runtimes: usize,
    /// Models (about a third come with a declared int8 variant, counted here).
    pub models: usize,
}

const ISAS: &[&str] = &["isa-a", "isa-b", "isa-c", "isa-d"];
const KINDS: &[&str] = &["accelerometer", "gyroscope", "microphone", "camera", "temperature"];
const OPS: &[&str] = &[
    "Conv",
    "Relu",
    "Gemm",
    "Softmax",
    "AveragePool",
    "MaxPool",
    "Add",
    "Reshape",
    "Clip",
    "Sigmoid",
    "LSTM",
    "Pad",
];
const DTYPES: &[&str] = &["float32", "int8", "int16"];
/// Core names of generated boards; runtimes may carry measured figures for them.
const CORES: &[&str] = &["core-a", "core-b", "core-c"];

/// Turtle for a fleet of `spec`'s size. Subjects live under `https://w3id.org/seam/synth/`.
pub fn fleet_turtle(spec: FleetSpec, seed: u64) -> String {
    let mut rng = Rng::new(seed);
    // Cores and runtimes' measured throughput draw from a stream of their own, so that the rest
    // of a fleet is what it was before they were added.
    let mut measured = Rng::new(seed ^ 0x5eed_cafe);
    let mut out = String::with_capacity(spec.devices * 400 + spec.models * 700);
    out.push_str(
        "@prefix seam: <https://w3id.org/seam/ontology#> .\n@prefix rdfs: <http://www.w3.org/2000/01/rdf-schema#> .\n\
         @prefix schema: <http://schema.org/> .\n@prefix s: <https://w3id.org/seam/synth/> .\n\n",
    );
    for isa in ISAS {
        let _ = writeln!(out, "s:{isa} a seam:ISA ; rdfs:label \"{isa}\" .");
    }
    let _ = writeln!(out, "s:npu a seam:Accelerator ; rdfs:label \"NPU\" .");
    for task in 0..4 {
        let _ = writeln!(out, "s:task{task} a seam:Task ; rdfs:label \"task {task}\" .");
    }
    for r in 0..spec.runtimes {
        let isas: Vec<String> = ISAS
            .iter()
            .filter(|_| rng.chance(50))
            .map(|i| format!("s:{i}"))
            .collect();
        let isas = if isas.is_empty() {
            vec![format!("s:{}", rng.pick(ISAS))]
        } else {
            isas
        };
        let dtypes: Vec<String> = DTYPES
            .iter()
            .filter(|_| rng.chance(60))
            .map(|d| format!("seam:{d}"))
            .collect();
        let dtypes = if dtypes.is_empty() {
            vec!["seam:int8".to_owned()]
        } else {
            dtypes
        };
        let ops: Vec<String> = OPS
            .iter()
            .filter(|_| rng.chance(80))
            .map(|o| format!("\"{o}\""))
            .collect();
        let _ = write!(
            out,
            "s:runtime{r} a seam:Runtime ; rdfs:label \"runtime {r}\" ; seam:version \"1.{r}\" ;\n  seam:targetsIsa {} ;\n  seam:supportsDtype {} ;\n  seam:ramOverheadBytes {} ; seam:flashOverheadBytes {}",
            isas.join(" , "),
            dtypes.join(" , "),
            rng.below(32_768),
            rng.below(200_000)
        );
        if !ops.is_empty() {
            let _ = write!(out, " ;\n  seam:supportsOperator {}", ops.join(" , "));
        }
        if rng.chance(15) {
            out.push_str(" ;\n  seam:targetsAccelerator s:npu");
        }
        for core in CORES {
            for dt in DTYPES {
                for class in ["ConvolutionLayers", "DenseLayers"] {
                    if measured.chance(20) {
                        let _ = write!(
                            out,
                            " ;\n  seam:throughput [ seam:core \"{core}\" ; seam:dtype seam:{dt} ; seam:operatorClass seam:{class} ; seam:macsPerCycle 0.{} ]",
                            1 + measured.below(9)
                        );
                    }
                }
            }
        }
        out.push_str(" .\n");
    }
    for b in 0..spec.boards {
        let ram = 16_384 * (1 + rng.below(64));
        let flash = 65_536 * (1 + rng.below(64));
        let _ = write!(
            out,
            "s:board{b} a seam:Board ; rdfs:label \"board {b}\" ; seam:core \"{}\" ; seam:isa s:{} ;\n  seam:clockHz {} ; seam:ramBytes {ram} ; seam:flashBytes {flash}",
            CORES[measured.below(CORES.len() as u64) as usize],
            rng.pick(ISAS),
            8_000_000 * (1 + rng.below(60))
        );
        if rng.chance(70) {
            let _ = write!(
                out,
                " ; seam:reservedRamBytes {} ; seam:reservedFlashBytes {}",
                rng.below(ram / 2),
                rng.below(flash / 2)
            );
        }
        if rng.chance(20) {
            out.push_str(" ; seam:accelerator s:npu");
        }
        for dt in DTYPES {
            if rng.chance(75) {
                let _ = write!(
                    out,
                    " ;\n  seam:throughput [ seam:dtype seam:{dt} ; seam:macsPerCycle {}.{} ]",
                    rng.below(4),
                    1 + rng.below(9)
                );
            }
        }
        let sensors: Vec<String> = (0..rng.below(4)).map(|s| format!("s:board{b}-sensor{s}")).collect();
        if !sensors.is_empty() {
            let _ = write!(out, " ;\n  seam:hasSensor {}", sensors.join(" , "));
        }
        out.push_str(" .\n");
        for s in sensors {
            sensor(&mut out, &mut rng, &s);
        }
    }
    for d in 0..spec.devices {
        let board = rng.below(spec.boards.max(1) as u64);
        let _ = write!(
            out,
            "s:device{d} a seam:Device ; seam:shortName \"device-{d}\" ; seam:board s:board{board}"
        );
        if rng.chance(50) {
            let _ = write!(
                out,
                " ; seam:freeRamBytes {} ; seam:freeFlashBytes {}",
                rng.below(600_000),
                rng.below(3_000_000)
            );
        }
        let attached = rng.chance(20).then(|| format!("s:device{d}-sensor"));
        if let Some(s) = &attached {
            let _ = write!(out, " ; seam:hasSensor {s}");
        }
        out.push_str(" .\n");
        if let Some(s) = attached {
            sensor(&mut out, &mut rng, &s);
        }
    }
    let mut m = 0;
    while m < spec.models {
        let with_variant = rng.chance(33) && m + 1 < spec.models;
        let dtype = if with_variant { "float32" } else { rng.pick(DTYPES) };
        let params = 1_000 + rng.below(400_000);
        let macs = params * (1 + rng.below(60));
        let peak = 512 * (1 + rng.below(600));
        let ops: Vec<&str> = OPS.iter().copied().filter(|_| rng.chance(30)).collect();
        let sensors: Vec<(String, Option<u64>, Option<u64>)> = (0..rng.below(3))
            .map(|_| {
                let kind = rng.pick(KINDS).to_string();
                let rate = rng.chance(60).then(|| rng.below(20_000));
                let range = rng.chance(20).then(|| rng.below(200));
                (kind, rate, range)
            })
            .collect();
        let bytes = if dtype == "float32" {
            4
        } else if dtype == "int16" {
            2
        } else {
            1
        };
        let accuracy = rng.chance(80).then(|| 50 + rng.below(50));
        model(
            &mut out,
            &mut rng,
            m,
            dtype,
            params,
            macs,
            peak * bytes,
            params * bytes,
            &ops,
            &sensors,
            accuracy,
            with_variant.then_some(m + 1),
        );
        if with_variant {
            let accuracy = accuracy.map(|a| a.saturating_sub(rng.below(3)));
            model(
                &mut out,
                &mut rng,
                m + 1,
                "int8",
                params,
                macs,
                peak,
                params,
                &ops,
                &sensors,
                accuracy,
                None,
            );
            m += 1;
        }
        m += 1;
    }
    out
}

fn sensor(out: &mut String, rng: &mut Rng, iri: &str) {
    let _ = write!(out, "{iri} a seam:Sensor ; seam:sensorKind seam:{}", rng.pick(KINDS));
    if rng.chance(80) {
        let _ = write!(out, " ; seam:sampleRateHz {}", rng.below(20_000));
    }
    if rng.chance(50) {
        let r = rng.below(300);
        let _ = write!(out, " ; seam:rangeMin -{r} ; seam:rangeMax {}", r + rng.below(10));
    }
    out.push_str(" .\n");
}

#[allow(clippy::too_many_arguments)]
fn model(
    out: &mut String,
    rng: &mut Rng,
    m: usize,
    dtype: &str,
    params: u64,
    macs: u64,
    peak: u64,
    weight: u64,
    ops: &[&str],
    sensors: &[(String, Option<u64>, Option<u64>)],
    accuracy: Option<u64>,
    variant: Option<usize>,
) {
    let _ = write!(
        out,
        "s:model{m} a seam:Model ; schema:name \"model-{m}\" ; seam:task s:task{} ; seam:dtype seam:{dtype} ;\n  seam:params {params} ; seam:macs {macs} ; seam:peakActivationBytes {peak} ; seam:weightBytes {weight}",
        rng.below(4)
    );
    if !ops.is_empty() {
        let _ = write!(
            out,
            " ;\n  seam:requiresOperator {}",
            ops.iter().map(|o| format!("\"{o}\"")).collect::<Vec<_>>().join(" , ")
        );
    }
    for (kind, rate, range) in sensors {
        let _ = write!(
            out,
            " ;\n  seam:requiresSensor [ a seam:SensorRequirement ; seam:sensorKind seam:{kind}"
        );
        if let Some(r) = rate {
            let _ = write!(out, " ; seam:minSampleRateHz {r}");
        }
        if let Some(r) = range {
            let _ = write!(out, " ; seam:minRange {r}");
        }
        out.push_str(" ]");
    }
    if let Some(a) = accuracy {
        let _ = write!(
            out,
            " ;\n  seam:accuracy [ a seam:Accuracy ; seam:metric \"top-1\" ; seam:value 0.{a:02} ]"
        );
        if rng.chance(10) {
            let _ = write!(
                out,
                " , [ a seam:Accuracy ; seam:metric \"top-5\" ; seam:value 0.{:02} ]",
                a.saturating_sub(5)
            );
        }
    }
    if let Some(v) = variant {
        let _ = write!(out, " ;\n  seam:quantizedVariant s:model{v}");
    }
    out.push_str(" .\n");
}
