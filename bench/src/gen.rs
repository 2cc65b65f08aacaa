//! A deterministic generator of registry data: boards, devices, runtimes and models with SEAM's
//! canonical facts, valid against SEAM's shapes, at any size.

use std::fmt::Write as _;

/// A small, fast, seeded PRNG (xorshift64*): the same seed gives the same data on every machine.
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

    /// Uniform in `0..n`.
    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n.max(1)
    }
}

const KINDS: &[&str] = &[
    "accelerometer",
    "gyroscope",
    "microphone",
    "camera",
    "temperature",
    "humidity",
];
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
];

/// Turtle for a registry of about `target_triples` triples: 1 board per 50 devices, 1 model per
/// 10 devices, each with the facts matching reads. Returns (text, triples written; repeated
/// operator names make the distinct count slightly lower).
pub fn registry_turtle(target_triples: usize, seed: u64) -> (String, usize) {
    let mut rng = Rng::new(seed);
    let mut out = String::with_capacity(target_triples * 90);
    out.push_str(
        "@prefix seam: <https://w3id.org/seam/ontology#> .\n@prefix rdfs: <http://www.w3.org/2000/01/rdf-schema#> .\n\
         @prefix g: <https://w3id.org/seam/generated/> .\n\n",
    );
    let mut triples = 0;
    // Per 50 devices: a board (13 + 2 sensors × 5), 50 devices × 8, 5 models × 16 → ≈ 513 triples.
    let rounds = (target_triples / 513).max(1);
    for r in 0..rounds {
        let ram = 65_536 * (1 + rng.below(16));
        let flash = 262_144 * (1 + rng.below(16));
        let clock = 16_000_000 * (1 + rng.below(30));
        let _ = writeln!(
            out,
            "g:board{r} a seam:Board ; rdfs:label \"Generated board {r}\" ; seam:core \"Cortex-M4F\" ; seam:isa g:isa{} ;\n  \
             seam:clockHz {clock} ; seam:ramBytes {ram} ; seam:flashBytes {flash} ; seam:reservedRamBytes {} ; seam:reservedFlashBytes {} ;\n  \
             seam:hasFpu true ; seam:hasDsp true ; seam:hasSensor g:board{r}-s0 , g:board{r}-s1 .",
            rng.below(4),
            ram / 8,
            flash / 8
        );
        triples += 13;
        for s in 0..2 {
            let kind = KINDS[rng.below(KINDS.len() as u64) as usize];
            let _ = writeln!(
                out,
                "g:board{r}-s{s} a seam:Sensor ; rdfs:label \"{kind}\" ; seam:sensorKind seam:{kind} ; seam:sampleRateHz {} ; seam:part \"GEN-{s}\" .",
                1 + rng.below(16_000)
            );
            triples += 5;
        }
        for d in 0..50 {
            let _ = writeln!(
                out,
                "g:dev{r}-{d} a seam:Device ; rdfs:label \"device {r}-{d}\" ; seam:shortName \"gen-{r}-{d}\" ; seam:board g:board{r} ;\n  \
                 seam:freeRamBytes {} ; seam:freeFlashBytes {} ; seam:firmwareVersion \"1.{}.0\" ; seam:location \"hall {}\" .",
                rng.below(ram),
                rng.below(flash),
                rng.below(10),
                rng.below(20)
            );
            triples += 8;
        }
        for m in 0..5 {
            let params = 1_000 + rng.below(500_000);
            let ops: Vec<String> = (0..5)
                .map(|_| format!("\"{}\"", OPS[rng.below(OPS.len() as u64) as usize]))
                .collect();
            let _ = writeln!(
                out,
                "g:model{r}-{m} a seam:Model ; rdfs:label \"model {r}-{m}\" ; seam:task g:task{} ; seam:dtype seam:int8 ;\n  \
                 seam:params {params} ; seam:macs {} ; seam:weightBytes {params} ; seam:peakActivationBytes {} ;\n  \
                 seam:requiresOperator {} ;\n  \
                 seam:requiresSensor [ a seam:SensorRequirement ; seam:sensorKind seam:{} ; seam:minSampleRateHz {} ] .",
                rng.below(8),
                params * (10 + rng.below(100)),
                1_024 * (1 + rng.below(256)),
                ops.join(" , "),
                KINDS[rng.below(KINDS.len() as u64) as usize],
                rng.below(16_000)
            );
            triples += 17;
        }
    }
    (out, triples)
}
