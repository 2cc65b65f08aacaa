//! One truth, differentially: a generated fleet (its shape and seed from the input) loaded
//! into an in-memory registry, and the SPARQL rules of `compatible-models` against the fast
//! path on every device, with the input's headroom and latency budget. Any difference is a
//! finding.
#![no_main]

use seam_registry::ingest::parse_document;
use seam_registry::matching::MatchOptions;
use seam_registry::synth::{fleet_turtle, FleetSpec};
use seam_registry::Registry;

libfuzzer_sys::fuzz_target!(|bytes: &[u8]| {
    if bytes.len() < 8 {
        return;
    }
    let spec = FleetSpec {
        boards: 1 + usize::from(bytes[0] % 6),
        devices: 1 + usize::from(bytes[1] % 12),
        runtimes: 1 + usize::from(bytes[2] % 4),
        models: 1 + usize::from(bytes[3] % 12),
    };
    let seed = u64::from(u16::from_le_bytes([bytes[4], bytes[5]]));
    let headroom = u64::from(bytes[6] % 60);
    let budget = match bytes[7] {
        0..=127 => None,
        b => Some(f64::from(b - 127) / 100.0),
    };
    let Ok(registry) = Registry::in_memory() else { return };
    if registry.seed_if_empty().is_err() {
        return;
    }
    let Ok(doc) = parse_document(
        "synth.ttl",
        fleet_turtle(spec, seed),
        oxigraph::io::RdfFormat::Turtle,
        None,
    ) else {
        return;
    };
    if registry.load(&[doc]).is_err() {
        return;
    }
    let headroom_text = headroom.to_string();
    let budget_text = budget.map(|b| b.to_string());
    let mut params = vec![("headroomPct", headroom_text.as_str())];
    if let Some(b) = &budget_text {
        params.push(("latencyBudgetS", b.as_str()));
    }
    let opts = MatchOptions {
        headroom_pct: headroom,
        latency_budget_s: budget,
    };
    match seam_registry::matching::oracle::compare_everywhere(&registry, &params, &opts) {
        Ok((_, differences)) => assert!(differences.is_empty(), "{spec:?} seed {seed}: {differences:#?}"),
        Err(e) => panic!("{spec:?} seed {seed}: a side failed: {e}"),
    }
});
