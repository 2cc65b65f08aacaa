//! The compiler bridge's `external` backend with a real third-party compiler: ONNX Runtime's static
//! quantiser from PyPI, declared in `compilers/onnxruntime.toml` as shipped. `scripts/test.sh`
//! installs it (scripts/interop-peers.sh) and exports `SEAM_INTEROP_PYTHON`; a missing peer fails
//! the test with what to install.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use serde_json::Value;

const SEAM: &str = env!("CARGO_BIN_EXE_seam");

fn python() -> PathBuf {
    let path = std::env::var_os("SEAM_INTEROP_PYTHON")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(std::env::var_os("HOME").unwrap_or_default()).join(".cache/seam-interop-venv/bin/python")
        });
    let ok = Command::new(&path)
        .args(["-c", "import onnxruntime, onnx"])
        .status()
        .is_ok_and(|s| s.success());
    assert!(
        ok,
        "{} has no onnxruntime: run ./scripts/test.sh, which installs it (scripts/interop-peers.sh)",
        path.display()
    );
    path
}

fn seam(args: &[&str], python: &Path) -> Output {
    Command::new(SEAM)
        .args(args)
        .env("SEAM_PYTHON", python)
        .output()
        .unwrap()
}

fn text(o: &Output) -> String {
    format!(
        "status {:?}\nstdout:\n{}\nstderr:\n{}",
        o.status.code(),
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

#[test]
fn onnxruntime_static_quantiser_runs_as_a_declared_backend_and_is_validated() {
    let python = python();
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("store");
    let out = dir.path().join("out");
    let model = dir.path().join("kws.onnx");
    std::fs::write(
        &model,
        seam_registry::bridge::onnx_build::to_bytes(&seam_registry::bridge::onnx_build::ds_cnn(5).model),
    )
    .unwrap();
    let declarations = concat!(env!("CARGO_MANIFEST_DIR"), "/compilers/onnxruntime.toml");
    let (data_s, out_s, model_s) = (data.to_str().unwrap(), out.to_str().unwrap(), model.to_str().unwrap());

    let listed = seam(&["compile", "--list-backends", "--compilers", declarations], &python);
    assert!(
        String::from_utf8_lossy(&listed.stdout).contains("ort-static-int8"),
        "{}",
        text(&listed)
    );

    let run = seam(
        &[
            "compile",
            model_s,
            "--backend",
            "ort-static-int8",
            "--compilers",
            declarations,
            "--data",
            data_s,
            "--out",
            out_s,
            "--json",
        ],
        &python,
    );
    assert!(run.status.success(), "{}", text(&run));
    let report: Value = serde_json::from_slice(&run.stdout).unwrap();
    let manifest = &report["manifest"];
    assert!(
        manifest["backend"]["version"]
            .as_str()
            .unwrap()
            .starts_with("onnxruntime 1.31"),
        "{manifest}"
    );
    // The compiler's own words are in the report.
    assert!(
        manifest["log"].as_str().unwrap().contains("static_quantize_runner"),
        "{manifest}"
    );
    // Activations are quantised too (QuantizeLinear nodes), and the result was compared with the
    // original on the logits, through the QDQ pair around the Softmax that tract would fold.
    let artifact = out.join("kws.int8.onnx");
    let analysed = seam(&["analyze", "--json", artifact.to_str().unwrap()], &python);
    assert!(analysed.status.success(), "{}", text(&analysed));
    let analysis: Value = serde_json::from_slice(&analysed.stdout).unwrap();
    assert!(
        analysis["operators"]["QuantizeLinear"].as_u64().unwrap() > 0,
        "{analysis}"
    );
    assert_eq!(manifest["validation"]["compared"], "logits");
    assert!(
        manifest["validation"]["top1Agreement"].as_f64().unwrap() >= 0.95,
        "{manifest}"
    );
    assert!(std::fs::metadata(&artifact).unwrap().len() * 2 < std::fs::metadata(&model).unwrap().len());
    // The same compilation again comes from the cache, without running the compiler.
    let again = seam(
        &[
            "compile",
            model_s,
            "--backend",
            "ort-static-int8",
            "--compilers",
            declarations,
            "--data",
            data_s,
            "--out",
            out_s,
            "--json",
        ],
        &python,
    );
    let again: Value = serde_json::from_slice(&again.stdout).unwrap();
    assert_eq!(again["cacheHit"], true);
    assert_eq!(again["sha256"], report["sha256"]);
}

#[test]
fn a_failing_or_hanging_compiler_is_reported_with_its_output() {
    let python = python();
    let dir = tempfile::tempdir().unwrap();
    let model = dir.path().join("m.onnx");
    std::fs::write(
        &model,
        seam_registry::bridge::onnx_build::to_bytes(&seam_registry::bridge::onnx_build::fc_autoencoder(1).model),
    )
    .unwrap();
    let declarations = dir.path().join("compilers.toml");
    std::fs::write(
        &declarations,
        r#"
[[compiler]]
name = "fails"
command = ["${SEAM_PYTHON}", "-c", "import sys; print('cannot lower op Foo'); sys.exit(3)"]
version = "1"

[[compiler]]
name = "hangs"
command = ["${SEAM_PYTHON}", "-c", "import time; time.sleep(60)"]
version = "1"
timeout_seconds = 1

[[compiler]]
name = "writes-nothing"
command = ["${SEAM_PYTHON}", "-c", "print('done')"]
version = "1"

[[compiler]]
name = "not-installed"
command = ["seam-no-such-compiler-on-this-machine", "{model}"]
version = "1"
"#,
    )
    .unwrap();
    let data = dir.path().join("store");
    let compile = |backend: &str| {
        seam(
            &[
                "compile",
                model.to_str().unwrap(),
                "--backend",
                backend,
                "--compilers",
                declarations.to_str().unwrap(),
                "--data",
                data.to_str().unwrap(),
                "--out",
                dir.path().join("out").to_str().unwrap(),
            ],
            &python,
        )
    };
    let failed = compile("fails");
    assert_eq!(failed.status.code(), Some(3), "{}", text(&failed));
    assert!(text(&failed).contains("cannot lower op Foo"), "{}", text(&failed));
    let started = Instant::now();
    let hung = compile("hangs");
    assert_eq!(hung.status.code(), Some(3), "{}", text(&hung));
    assert!(text(&hung).contains("timed out after 1 s"), "{}", text(&hung));
    assert!(started.elapsed() < Duration::from_secs(30));
    let nothing = compile("writes-nothing");
    assert_eq!(nothing.status.code(), Some(3), "{}", text(&nothing));
    assert!(text(&nothing).contains("left no output"), "{}", text(&nothing));
    // A compiler that is not installed is this machine's fault (exit 1), not the model's.
    let missing = compile("not-installed");
    assert_eq!(missing.status.code(), Some(1), "{}", text(&missing));
    assert!(
        text(&missing).contains("cannot start seam-no-such-compiler"),
        "{}",
        text(&missing)
    );
    assert!(
        !dir.path().join("out").exists(),
        "nothing is written when compiling fails"
    );

    // A malformed declaration names its line.
    std::fs::write(&declarations, "[[compiler]]\nname = \"x\"\ncommand = 3\n").unwrap();
    let bad = compile("x");
    assert_eq!(bad.status.code(), Some(3), "{}", text(&bad));
    assert!(text(&bad).contains("compilers.toml: 3:"), "{}", text(&bad));
}

/// Quantised files written by another tool are measured as what they are: ONNX Runtime's
/// QOperator form (QLinearConv) and its QDQ form, from the same float model.
#[test]
fn quantised_files_from_onnx_runtime_are_measured_as_they_are_stored() {
    let python = python();
    let dir = tempfile::tempdir().unwrap();
    let float = dir.path().join("kws.onnx");
    let reference = seam_registry::bridge::onnx_build::ds_cnn(7);
    std::fs::write(&float, seam_registry::bridge::onnx_build::to_bytes(&reference.model)).unwrap();
    let script = r#"
import sys, numpy as np
from onnxruntime.quantization import quantize_static, QuantFormat, QuantType, CalibrationDataReader
import onnx
model = onnx.load(sys.argv[1])
dims = [d.dim_value or 1 for d in model.graph.input[0].type.tensor_type.shape.dim]
name = model.graph.input[0].name
rng = np.random.default_rng(1)
class Reader(CalibrationDataReader):
    def __init__(self): self.left = 8
    def get_next(self):
        self.left -= 1
        return None if self.left < 0 else {name: rng.standard_normal(dims).astype(np.float32)}
# Convolutions only: the standard QLinearConv (contrib operators such as QLinearAveragePool are
# ONNX Runtime's own).
quantize_static(sys.argv[1], sys.argv[2], Reader(), quant_format=QuantFormat.QOperator,
                op_types_to_quantize=["Conv"], weight_type=QuantType.QInt8, activation_type=QuantType.QUInt8)
quantize_static(sys.argv[1], sys.argv[3], Reader(), quant_format=QuantFormat.QDQ,
                weight_type=QuantType.QInt8, activation_type=QuantType.QInt8)
"#;
    let qop = dir.path().join("kws-qop.onnx");
    let qdq = dir.path().join("kws-qdq.onnx");
    let made = Command::new(&python)
        .args([
            "-c",
            script,
            float.to_str().unwrap(),
            qop.to_str().unwrap(),
            qdq.to_str().unwrap(),
        ])
        .output()
        .unwrap();
    assert!(made.status.success(), "{}", text(&made));
    let analyze = |path: &Path| -> Value {
        let out = seam(&["analyze", path.to_str().unwrap(), "--json"], &python);
        assert!(out.status.success(), "{}", text(&out));
        serde_json::from_slice(&out.stdout).unwrap()
    };
    let float = analyze(&float);
    let qop = analyze(&qop);
    let qdq = analyze(&qdq);
    assert_eq!(float["params"], reference.params);
    // Every parameter is counted in both quantised forms (QOperator files reported 12 before).
    assert_eq!(qop["params"], reference.params, "{qop}");
    assert_eq!(qdq["params"], reference.params, "{qdq}");
    assert!(qop["operators"]["QLinearConv"].as_u64().unwrap() > 0);
    // Stored bytes are what the file holds: about a quarter of the float model's.
    let stored = |a: &Value| a["weightBytes"]["stored"].as_u64().unwrap();
    assert_eq!(stored(&float), float["weightBytes"]["float32"].as_u64().unwrap());
    assert!(
        stored(&qop) * 3 < stored(&float),
        "{} vs {}",
        stored(&qop),
        stored(&float)
    );
    assert!(
        stored(&qdq) * 3 < stored(&float),
        "{} vs {}",
        stored(&qdq),
        stored(&float)
    );
    assert_eq!(qop["weightDtype"], "int8");
    assert_eq!(qdq["weightDtype"], "int8");
    // Activations are 8-bit, and the arena is sized in them.
    assert_eq!(float["activationDtype"], "float32");
    assert_eq!(qop["activationDtype"], "uint8");
    assert_eq!(qdq["activationDtype"], "int8");
    let arena = |a: &Value| a["arenaBytes"].as_u64().unwrap();
    assert!(arena(&qdq) * 3 < arena(&float), "{} vs {}", arena(&qdq), arena(&float));
    assert!(arena(&qop) < arena(&float), "{} vs {}", arena(&qop), arena(&float));
    // QLinearConv runs on the runtimes' int8 convolution: TFLM does not miss it.
    let tflm = qop["estimates"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["runtime"].as_str().unwrap().ends_with("tflite-micro-cmsis-nn"))
        .unwrap();
    assert_eq!(tflm["dtype"], "int8");
    assert!(
        !tflm["missingOperators"]
            .as_array()
            .unwrap()
            .iter()
            .any(|o| o == "QLinearConv"),
        "{tflm}"
    );
}
