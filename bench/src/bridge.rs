//! `seam-bench analyze`: the compiler bridge on the four MLPerf Tiny reference architectures —
//! `analyze` time, int8 quantisation + validation time — and, with `--peers`, onnxruntime
//! loading the same files in the same run (an `InferenceSession`: parse, optimise, plan).

use std::path::Path;
use std::process::Command;
use std::time::Instant;

use anyhow::{bail, Context as _};
use seam_registry::bridge::analysis::analyze_path;
use seam_registry::bridge::onnx_build::{mlperf_tiny, to_bytes};
use seam_registry::bridge::transform::quantize_int8;
use seam_registry::bridge::validate::{compare, Thresholds};

fn time_ms(runs: usize, mut f: impl FnMut() -> anyhow::Result<()>) -> anyhow::Result<f64> {
    let mut times = Vec::with_capacity(runs);
    for _ in 0..runs {
        let started = Instant::now();
        f()?;
        times.push(started.elapsed().as_secs_f64() * 1000.0);
    }
    Ok(crate::median(times))
}

/// Runs the measurements and prints one line per model.
pub fn run(runs: usize, peers: Option<&Path>) -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let mut files = Vec::new();
    for reference in mlperf_tiny(42) {
        let path = dir.path().join(format!("{}.onnx", reference.name));
        std::fs::write(&path, to_bytes(&reference.model))?;
        files.push((reference, path));
    }
    let onnxruntime: Vec<(String, f64)> = match peers {
        None => Vec::new(),
        Some(python) => {
            let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("peers/onnxruntime_load.py");
            let out = Command::new(python)
                .arg(&script)
                .arg(runs.to_string())
                .args(files.iter().map(|(_, p)| p))
                .output()
                .with_context(|| format!("cannot run {}", python.display()))?;
            if !out.status.success() {
                bail!("onnxruntime peer failed: {}", String::from_utf8_lossy(&out.stderr));
            }
            String::from_utf8_lossy(&out.stdout)
                .lines()
                .filter_map(|l| l.split_once('\t'))
                .filter_map(|(name, ms)| Some((name.to_owned(), ms.parse().ok()?)))
                .collect()
        }
    };
    println!("Compiler bridge on the MLPerf Tiny reference architectures (median of {runs})");
    for (reference, path) in &files {
        let analyze = time_ms(runs, || {
            analyze_path(path)?;
            Ok(())
        })?;
        let original = std::fs::read(path)?;
        let compile = time_ms(runs, || {
            let mut model = reference.model.clone();
            quantize_int8(&mut model)?;
            let quantized = to_bytes(&model);
            compare(&original, &quantized, 20, 1)?.check(&Thresholds::default())?;
            Ok(())
        })?;
        let name = path.file_name().and_then(|n| n.to_str()).unwrap_or_default();
        let peer = onnxruntime.iter().find(|(n, _)| n == name).map(|(_, ms)| *ms);
        let ratio = peer
            .map(|ms| format!(", onnxruntime load {ms:.1} ms: {:.2}×", analyze / ms))
            .unwrap_or_default();
        println!(
            "  {:18} analyze {analyze:7.1} ms, int8 quantise + validate (20 samples) {compile:7.1} ms{ratio}",
            reference.name
        );
    }
    Ok(())
}
