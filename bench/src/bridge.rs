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
            Thresholds::default().check(&compare(&original, &quantized, 20, 1)?)?;
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
    packages(&files, runs)?;
    Ok(())
}

/// The whole `compile` pipeline per backend — fold, quantise where asked, compile, validate what
/// ships (20 seeded samples), sign and pack — and a cache hit of the same compilation.
fn packages(
    files: &[(seam_registry::bridge::onnx_build::Reference, std::path::PathBuf)],
    runs: usize,
) -> anyhow::Result<()> {
    use seam_registry::bridge::backends::Backends;
    use seam_registry::bridge::compile::{compile, Request};
    use seam_registry::bridge::package::{Cache, Signer};
    let dir = tempfile::tempdir()?;
    let signer = Signer::open_or_create(&dir.path().join("key"))?;
    let backends = Backends::builtin();
    println!("Compile to a signed package (median of {runs}; validation runs what ships where tract can run it)");
    for (reference, path) in files {
        let model = std::fs::read(path)?;
        let mut line = format!("  {:18}", reference.name);
        for (backend, quantize) in [
            ("tract-nnef", false),
            ("tflite-micro", false),
            ("onnx-int8", true),
            ("c-array", true),
        ] {
            let chosen = backends.get(backend).context("backend")?;
            let request = Request {
                quantize_int8: quantize,
                ..Request::new(&model, "https://w3id.org/seam/model/bench", reference.name)
            };
            let ms = time_ms(runs, || {
                compile(&request, chosen, &signer, None)?;
                Ok(())
            })?;
            line.push_str(&format!(" {backend} {ms:6.1} ms,"));
        }
        // A cache hit: the key, a read, and a signature and digest check.
        let cache = Cache::new(&dir.path().join("cache"));
        let request = Request::new(&model, "https://w3id.org/seam/model/bench", reference.name);
        let nnef = backends.get("tract-nnef").context("backend")?;
        let miss = time_ms(1, || {
            compile(&request, nnef, &signer, Some(&cache))?;
            Ok(())
        })?;
        let hit = time_ms(runs, || {
            if !compile(&request, nnef, &signer, Some(&cache))?.cache_hit {
                bail!("expected a cache hit");
            }
            Ok(())
        })?;
        line.push_str(&format!(
            " tract-nnef cached {hit:5.1} ms ({:.0}× faster than {miss:.0} ms)",
            miss / hit
        ));
        println!("{line}");
    }
    Ok(())
}

/// SeLoC-ML's own figures for one TFLite model, from its graph.
struct SelocFigures {
    macs: f64,
    flash_kb: f64,
    ram_kb: f64,
}

/// The figures `tflite_models.ttl` records (MACs, and Flash and RAM requirements in kilobytes),
/// read with SPARQL from an in-memory store.
fn seloc_figures(description: &Path) -> anyhow::Result<std::collections::BTreeMap<String, SelocFigures>> {
    use oxigraph::io::RdfFormat;
    use oxigraph::sparql::{QueryResults, SparqlEvaluator};
    let store = oxigraph::store::Store::new()?;
    let text = std::fs::read(description).with_context(|| format!("cannot read {}", description.display()))?;
    // SeLoC-ML writes a missing dataset as `<None>`, a relative IRI without a base: parse leniently.
    store.load_from_reader(
        oxigraph::io::RdfParser::from_format(RdfFormat::Turtle).lenient(),
        text.as_slice(),
    )?;
    let query = r#"
        PREFIX nnet: <https://w3id.org/tinyml-schema/neural-network-schema#>
        PREFIX schema: <https://schema.org/>
        PREFIX s3n: <http://w3id.org/s3n/>
        PREFIX ssns: <http://www.w3.org/ns/ssn/systems/>
        PREFIX x: <https://w3id.org/tinyml-schema/neural-network-schema/s3n_extend/>
        SELECT ?name ?macs ?flash ?ram WHERE {
          ?m a nnet:NeuralNetwork ; schema:name ?name ; nnet:hasMultiplyAccumulateOps ?macs ;
             s3n:hasProcedureFeature ?f ; s3n:hasProcedureFeature ?r .
          ?f ssns:inCondition [ a x:Flash ; schema:minValue ?flash ] .
          ?r ssns:inCondition [ a x:RAM ; schema:minValue ?ram ] .
        }"#;
    let mut figures = std::collections::BTreeMap::new();
    if let QueryResults::Solutions(solutions) = SparqlEvaluator::new().parse_query(query)?.on_store(&store).execute()? {
        for solution in solutions {
            let solution = solution?;
            let text = |v: &str| -> String {
                match solution.get(v) {
                    Some(oxigraph::model::Term::Literal(l)) => l.value().to_owned(),
                    _ => String::new(),
                }
            };
            figures.insert(
                text("name"),
                SelocFigures {
                    macs: text("macs").parse().unwrap_or(f64::NAN),
                    flash_kb: text("flash").parse().unwrap_or(f64::NAN),
                    ram_kb: text("ram").parse().unwrap_or(f64::NAN),
                },
            );
        }
    }
    Ok(figures)
}

/// `seam-bench seloc-tflite`: SEAM's analysis of SeLoC-ML's TFLite models next to the figures
/// SeLoC-ML's graph records, as a Markdown table.
pub fn seloc_tflite(dir: &Path) -> anyhow::Result<()> {
    let figures = seloc_figures(&dir.join("description/tflite_models.ttl"))?;
    println!("| Model | Ops | Params | MACs (SEAM) | MACs (SeLoC) | Flash B (SEAM = file) | Flash B (SeLoC) | Arena B (SEAM) | RAM B (SeLoC) | tract-tflite |");
    println!("|---|---:|---:|---:|---:|---:|---:|---:|---:|---|");
    let (mut macs_equal, mut flash_equal, mut total) = (0, 0, 0);
    for (name, seloc) in &figures {
        let path = dir.join("models").join(format!("{name}.tflite"));
        let analysis = analyze_path(&path).with_context(|| format!("analysing {}", path.display()))?;
        total += 1;
        // SeLoC-ML writes its figures as decimals with 7 significant digits.
        let close = |a: f64, b: f64| (a - b).abs() <= b.abs() * 1e-6;
        macs_equal += usize::from(close(analysis.macs as f64, seloc.macs));
        flash_equal += usize::from(close(analysis.file_bytes as f64, seloc.flash_kb * 1000.0));
        let tract = match analysis.notes.iter().find(|n| n.starts_with("tract-tflite")) {
            Some(n) if n.contains("agrees") => "loads, MACs agree".to_owned(),
            Some(n) => {
                let why = n
                    .trim_start_matches("tract-tflite cannot load it (")
                    .trim_end_matches("); figures are the file's own");
                format!("refuses: {}", why.replace('\n', " ").replace('|', "/"))
            }
            None => String::new(),
        };
        println!(
            "| {name} | {} | {} | {} | {:.0} | {} | {:.0} | {} | {:.0} | {tract} |",
            analysis.operators.values().sum::<u64>(),
            analysis.params,
            analysis.macs,
            seloc.macs,
            analysis.file_bytes,
            seloc.flash_kb * 1000.0,
            analysis.arena_bytes,
            seloc.ram_kb * 1000.0,
        );
    }
    println!();
    println!("{macs_equal}/{total} MAC counts and {flash_equal}/{total} flash figures equal SeLoC-ML's (to its 7 significant digits).");
    Ok(())
}
