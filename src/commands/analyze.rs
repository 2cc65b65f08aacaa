//! `seam analyze`: a model file measured, and what it needs on each runtime of the catalog.

use std::io::Write as _;
use std::path::PathBuf;

use anyhow::Context as _;
use seam_registry::matching::{self, estimate};
use seam_registry::Registry;

use crate::failure::{runtime, Failure};

/// The arguments of `seam analyze`.
#[derive(clap::Args)]
pub(crate) struct AnalyzeArgs {
    /// The model file (ONNX or TFLite).
    model: PathBuf,
    /// Print the JSON report (stdout only).
    #[arg(long)]
    json: bool,
}

/// Runs `seam analyze`.
pub(crate) fn run(args: AnalyzeArgs) -> Result<(), Failure> {
    let analysis = seam_registry::bridge::analysis::analyze_path(&args.model).map_err(runtime)?;
    // Against the runtimes of the bundled catalog.
    let catalog = Registry::in_memory().context("cannot open an in-memory store")?;
    catalog.seed_if_empty().context("cannot read the bundled catalog")?;
    let fleet = matching::load_fleet(&catalog).context("cannot read the catalog's runtimes")?;
    let estimates = estimate::for_analysis(&analysis, &fleet);
    let mut report = serde_json::to_value(&analysis).context("cannot serialise the analysis")?;
    report["estimates"] = serde_json::to_value(&estimates).context("cannot serialise the estimates")?;
    if args.json {
        println!("{report}");
        return Ok(());
    }
    let mut out = std::io::stdout().lock();
    let _ = writeln!(
        out,
        "{} ({} bytes, sha256 {})",
        args.model.display(),
        analysis.file_bytes,
        analysis.sha256
    );
    for (kind, tensors) in [("input", &analysis.inputs), ("output", &analysis.outputs)] {
        for t in tensors.iter() {
            let _ = writeln!(out, "  {kind:6} {} {:?} {}", t.name, t.shape, t.dtype);
        }
    }
    let ops: Vec<String> = analysis.operators.iter().map(|(op, n)| format!("{op}×{n}")).collect();
    let _ = writeln!(out, "  operators   {}", ops.join(" "));
    let _ = writeln!(out, "  params      {}", analysis.params);
    let _ = writeln!(out, "  MACs        {}", analysis.macs);
    let _ = writeln!(
        out,
        "  weights     {} bytes stored ({}), {} as float32, {} as int8",
        analysis.weight_bytes.stored, analysis.weight_dtype, analysis.weight_bytes.float32, analysis.weight_bytes.int8
    );
    let _ = writeln!(
        out,
        "  activations {} bytes at the peak, {} bytes of arena (greedy plan), in {}",
        analysis.peak_activation_bytes, analysis.arena_bytes, analysis.activation_dtype
    );
    for e in &estimates {
        let missing = e.missing_operators.len();
        let _ = writeln!(
            out,
            "  on {:32} {:7} RAM {:>9} B  flash {:>9} B{}",
            seam_registry::answer::compact_iri(&e.runtime),
            e.dtype,
            e.ram_bytes,
            e.flash_bytes,
            if missing > 0 {
                format!("  ({missing} operators unsupported)")
            } else {
                String::new()
            }
        );
        for l in &e.latency {
            let _ = writeln!(
                out,
                "     latency on {}: {} ms at 100 MHz ({} MACs/cycle, measured; scale by the clock)",
                l.core, l.ms_at_100mhz, l.macs_per_cycle
            );
        }
    }
    for note in &analysis.notes {
        let _ = writeln!(out, "  note: {note}");
    }
    Ok(())
}
