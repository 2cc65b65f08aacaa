//! A small fleet for unit tests: one board, one runtime measured on its core, one device.

use super::facts::{
    BoardFacts, DeviceFacts, Fleet, MeasuredThroughput, ModelFacts, OperatorClass, RuntimeFacts, SensorFacts,
};
use crate::vocab::SEAM;

/// A board with 64 KiB of RAM and 256 KiB of flash, a microphone, one int8 runtime measured
/// on its core; a device of it with 60 KiB of RAM free.
pub(crate) fn fleet() -> Fleet {
    let seam = |l: &str| format!("{SEAM}{l}");
    let mut f = Fleet::default();
    f.boards.insert(
        "urn:b".into(),
        BoardFacts {
            iri: "urn:b".into(),
            label: "board".into(),
            isa: Some("urn:armv7em".into()),
            core: Some("Cortex-M4F".into()),
            clock_hz: Some(100_000_000),
            ram_bytes: Some(65_536),
            flash_bytes: Some(262_144),
            sensors: vec![SensorFacts {
                iri: "urn:mic".into(),
                kind: seam("microphone"),
                sample_rate_hz: Some(16_000.0),
                range_min: None,
                range_max: None,
            }],
            ..BoardFacts::default()
        },
    );
    f.runtimes.insert(
        "urn:rt".into(),
        RuntimeFacts {
            iri: "urn:rt".into(),
            label: "rt".into(),
            isas: ["urn:armv7em".to_owned()].into(),
            dtypes: [seam("int8")].into(),
            operators: ["Conv".to_owned(), "Relu".to_owned(), "Gemm".to_owned()].into(),
            ram_overhead_bytes: 4_096,
            flash_overhead_bytes: 32_768,
            throughput: vec![MeasuredThroughput {
                core: "Cortex-M4F".into(),
                dtype: seam("int8"),
                class: OperatorClass::Convolution,
                macs_per_cycle: 0.5,
                source: Some("https://example.org/measured".into()),
                basis: None,
            }],
            ..RuntimeFacts::default()
        },
    );
    f.devices.insert(
        "urn:d".into(),
        DeviceFacts {
            iri: "urn:d".into(),
            short_name: Some("d".into()),
            board: Some("urn:b".into()),
            free_ram_bytes: Some(61_440),
            ..DeviceFacts::default()
        },
    );
    f
}

pub(crate) fn model(dtype: &str, peak: u64, weight: u64, ops: &[&str]) -> ModelFacts {
    ModelFacts {
        iri: format!("urn:m:{dtype}:{peak}"),
        name: "m".into(),
        dtype: Some(format!("{SEAM}{dtype}")),
        macs: Some(1_000_000),
        peak_activation_bytes: Some(peak),
        weight_bytes: Some(weight),
        operators: ops.iter().map(|o| o.to_string()).collect(),
        ..ModelFacts::default()
    }
}
