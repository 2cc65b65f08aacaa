//! The rules on a small hand-built fleet (`matching::fixture`): no store, no SPARQL.

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

use crate::matching::fixture::{fleet, model};

fn outcome(f: &Fleet, m: &ModelFacts, opts: &MatchOptions) -> Outcome {
    let device = &f.devices["urn:d"];
    DeviceView::new(f, device).evaluate(f, m, opts, true)
}

#[test]
fn a_model_that_fits_runs_as_is_with_a_measured_latency_and_its_figures() {
    let f = fleet();
    let m = model(INT8, 20_000, 100_000, &["Conv", "Relu"]);
    let Outcome::Compatible(c) = outcome(&f, &m, &MatchOptions::default()) else {
        panic!("expected compatible");
    };
    assert_eq!(c.via, Via::AsIs);
    assert_eq!(c.ram_bytes, ram_required(20_000, 4_096, 10));
    assert_eq!(c.flash_bytes, 132_768);
    // 1 M MACs at 0.5 MACs/cycle and 100 MHz: 20 ms, measured on this core.
    assert_eq!(c.estimated_latency_ms, Some(20.0));
    let a = c.latency_assumption.expect("an assumption");
    assert_eq!((a.basis.as_str(), a.macs_per_cycle), ("measured", 0.5));
}

#[test]
fn every_shortfall_is_a_reason_with_its_figures() {
    let f = fleet();
    // Too much RAM and flash, an operator the runtime lacks, a sensor the board lacks.
    let mut m = model(INT8, 70_000, 300_000, &["Conv", "LSTM"]);
    m.sensors.push(SensorRequirement {
        kind: format!("{SEAM}camera"),
        min_sample_rate_hz: None,
        min_range: None,
    });
    let Outcome::Rejected(r) = outcome(&f, &m, &MatchOptions::default()) else {
        panic!("expected rejected");
    };
    let constraints: Vec<&str> = r.reasons.iter().map(|x| x.constraint.as_str()).collect();
    for expected in ["sensor", "operator", "ram", "flash"] {
        assert!(
            constraints.contains(&expected),
            "{expected} missing from {constraints:?}"
        );
    }
    let ram = r.reasons.iter().find(|x| x.constraint == Constraint::Ram).unwrap();
    assert_eq!(ram.available, "61440");
    assert_eq!(ram.required, ram_required(70_000, 4_096, 10).to_string());
}

#[test]
fn float32_too_big_runs_via_int8_on_a_runtime_that_computes_in_both() {
    let mut f = fleet();
    if let Some(r) = f.runtimes.get_mut("urn:rt") {
        r.dtypes.insert(seam_dtype(FLOAT32));
    }
    let m = model(FLOAT32, 80_000, 400_000, &["Conv", "Relu"]);
    let Outcome::Compatible(c) = outcome(&f, &m, &MatchOptions::default()) else {
        panic!("expected compatible via int8");
    };
    assert_eq!(c.via, Via::Int8);
    assert_eq!(
        c.ram_bytes,
        ram_required(20_000, 4_096, 10),
        "a quarter of the activations"
    );
    assert_eq!(c.flash_bytes, 100_000 + 32_768, "a quarter of the weights");
    // Quantisation is offered as a remedy for memory, not for the data type: a runtime that
    // does not compute in float32 takes no float32 model, and says why.
    let Outcome::Rejected(r) = outcome(&fleet(), &m, &MatchOptions::default()) else {
        panic!("expected rejected for its data type");
    };
    assert!(r.reasons.iter().any(|x| x.constraint == Constraint::Dtype), "{r:?}");
}

#[test]
fn a_latency_budget_rejects_what_is_estimated_slower_and_says_so() {
    let f = fleet();
    let m = model(INT8, 20_000, 100_000, &["Conv"]);
    let opts = MatchOptions::checked(10, Some(0.010)).unwrap();
    let Outcome::Rejected(r) = outcome(&f, &m, &opts) else {
        panic!("20 ms does not fit a 10 ms budget");
    };
    assert!(r.reasons.iter().any(|x| x.constraint == Constraint::Latency), "{r:?}");
    // The fast verdict agrees with the explanation.
    let device = &f.devices["urn:d"];
    assert!(DeviceView::new(&f, device).verdict(&f, &m, &opts).is_none());
}

#[test]
fn a_device_of_an_unknown_board_runs_nothing_and_says_why() {
    let mut f = fleet();
    if let Some(d) = f.devices.get_mut("urn:d") {
        d.board = Some("urn:unknown".into());
    }
    let m = model(INT8, 1_000, 1_000, &["Conv"]);
    let Outcome::Rejected(r) = outcome(&f, &m, &MatchOptions::default()) else {
        panic!("expected rejected");
    };
    assert!(!r.reasons.is_empty());
}
