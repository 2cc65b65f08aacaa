//! External backends: command-line compilers declared in TOML.
//!
//! ```toml
//! [[compiler]]
//! name = "ort-static-int8"
//! description = "ONNX Runtime's static quantiser"
//! command = ["${SEAM_PYTHON:-python3}", "-m", "onnxruntime.quantization.static_quantize_runner",
//!            "-i", "{model}", "-o", "{out}/{stem}.int8.onnx"]
//! version_command = ["${SEAM_PYTHON:-python3}", "-c", "import onnxruntime; print(onnxruntime.__version__)"]
//! timeout_seconds = 300
//! calibration_samples = 8   # seeded inputs as test_data_set_N/input_0.pb beside {model}
//! outputs = ["{stem}.int8.onnx"]
//! runnable = "onnx"         # the first output is a model tract can run: validate it
//! ```
//!
//! A `[[remote]]` table (`name`, `url`, `backend`, `token_env`, `timeout_seconds`) declares a
//! backend of a compile service instead ([`crate::remote`]).
//!
//! Placeholders in arguments: `{model}` (the model, copied into the run's folder), `{target}` (the
//! target's name, or empty), `{out}` (the folder outputs go to), `{stem}` (the model's name).
//! `${NAME}` and `${NAME:-default}` take an environment variable. Every run gets a fresh working
//! folder, removed afterwards; the command runs there with no input, stdout and stderr are captured
//! into the report, and it is killed at its timeout.

use std::collections::BTreeMap;
use std::io::Read as _;
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use prost::Message as _;
use serde::Deserialize;

use crate::analysis::analyze_bytes;
use crate::backend::{Artifact, ArtifactFile, Backend, Job, Runnable};
use crate::package::MAX_LOG;
use crate::validate::seeded_inputs;
use crate::BridgeError;

const PLACEHOLDERS: &[&str] = &["model", "target", "out", "stem"];
/// Most output files a run may leave.
const MAX_OUTPUTS: usize = 64;
/// Largest total output of a run, bytes.
const MAX_OUTPUT_BYTES: u64 = 1 << 30;

/// One `[[compiler]]` table.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Declaration {
    /// The backend name it is selected by.
    pub name: String,
    /// One line for `--list-backends`.
    #[serde(default)]
    pub description: String,
    /// Program and arguments, with placeholders.
    pub command: Vec<String>,
    /// A fixed version string.
    #[serde(default)]
    pub version: Option<String>,
    /// A command that prints the version (its first line is taken).
    #[serde(default)]
    pub version_command: Option<Vec<String>>,
    /// Seconds before the run is killed.
    #[serde(default = "default_timeout")]
    pub timeout_seconds: u64,
    /// Seeded calibration inputs to write beside the model, in the ONNX test-data layout.
    #[serde(default)]
    pub calibration_samples: usize,
    /// The files the run must leave in `{out}`; all it leaves when absent.
    #[serde(default)]
    pub outputs: Option<Vec<String>>,
    /// `onnx` or `nnef` when the first output can be run by tract for validation.
    #[serde(default)]
    pub runnable: Option<String>,
}

fn default_timeout() -> u64 {
    300
}

/// One `[[remote]]` table: a backend of a compile service (see [`crate::remote`]).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RemoteDeclaration {
    /// The name it is selected by here.
    pub name: String,
    /// The service's base URL.
    pub url: String,
    /// The backend to run there.
    pub backend: String,
    /// An environment variable holding the service's bearer token.
    #[serde(default)]
    pub token_env: Option<String>,
    /// Seconds before a request is given up.
    #[serde(default = "default_timeout")]
    pub timeout_seconds: u64,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct DeclarationFile {
    #[serde(default)]
    compiler: Vec<Declaration>,
    #[serde(default)]
    remote: Vec<RemoteDeclaration>,
}

/// A declared command-line compiler.
#[derive(Debug)]
pub struct ExternalBackend {
    declaration: Declaration,
    version: OnceLock<String>,
}

/// Reads the backends declared in the TOML file at `path`.
pub fn load(path: &Path) -> Result<Vec<Box<dyn Backend>>, BridgeError> {
    let fail = |message: String| BridgeError::Declaration {
        path: path.display().to_string(),
        message,
    };
    let text = std::fs::read_to_string(path).map_err(|e| fail(format!("cannot read: {e}")))?;
    parse(&text).map_err(|e| match e {
        BridgeError::Declaration { message, .. } => fail(message),
        other => other,
    })
}

/// Reads backend declarations (`[[compiler]]` and `[[remote]]` tables) from TOML text.
pub fn parse(text: &str) -> Result<Vec<Box<dyn Backend>>, BridgeError> {
    let fail = |message: String| BridgeError::Declaration {
        path: "<declaration>".into(),
        message,
    };
    let file: DeclarationFile = toml::from_str(text).map_err(|e| {
        let (line, column) = e.span().map(|s| line_column(text, s.start)).unwrap_or((0, 0));
        fail(format!("{line}:{column}: {}", e.message()))
    })?;
    let mut seen = std::collections::HashSet::new();
    let mut check_name = |name: &str| -> Result<(), BridgeError> {
        let name_ok = !name.is_empty()
            && name.len() <= 64
            && name
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
        if !name_ok {
            return Err(fail(format!(
                "backend {name:?}: a name is 1-64 lowercase letters, digits and dashes"
            )));
        }
        if !seen.insert(name.to_owned()) {
            return Err(fail(format!("backend {name:?} is declared twice")));
        }
        Ok(())
    };
    let mut out: Vec<Box<dyn Backend>> = Vec::new();
    for r in file.remote {
        check_name(&r.name)?;
        let url_ok = r.url.starts_with("http://") || r.url.starts_with("https://");
        if !url_ok {
            return Err(fail(format!("remote {:?}: url must be http:// or https://", r.name)));
        }
        let token = r.token_env.as_deref().and_then(|v| std::env::var(v).ok());
        out.push(Box::new(crate::remote::RemoteBackend::new(
            &r.name,
            &r.url,
            &r.backend,
            token,
            Duration::from_secs(r.timeout_seconds.clamp(1, 86_400)),
        )));
    }
    for d in file.compiler {
        check_name(&d.name)?;
        if d.command.is_empty() {
            return Err(fail(format!("compiler {:?}: command is empty", d.name)));
        }
        if !(1..=86_400).contains(&d.timeout_seconds) {
            return Err(fail(format!(
                "compiler {:?}: timeout_seconds must be 1 to 86400",
                d.name
            )));
        }
        if d.calibration_samples > 1000 {
            return Err(fail(format!("compiler {:?}: at most 1000 calibration samples", d.name)));
        }
        if let Some(r) = d.runnable.as_deref() {
            if !["onnx", "nnef", "tflite"].contains(&r) {
                return Err(fail(format!(
                    "compiler {:?}: runnable is \"onnx\", \"nnef\" or \"tflite\", not {r:?}",
                    d.name
                )));
            }
        }
        let all_args = d
            .command
            .iter()
            .chain(d.outputs.iter().flatten())
            .chain(d.version_command.iter().flatten());
        for arg in all_args {
            for placeholder in placeholders(arg) {
                if !PLACEHOLDERS.contains(&placeholder) {
                    return Err(fail(format!(
                        "compiler {:?}: unknown placeholder {{{placeholder}}} (known: {})",
                        d.name,
                        PLACEHOLDERS
                            .iter()
                            .map(|p| format!("{{{p}}}"))
                            .collect::<Vec<_>>()
                            .join(" ")
                    )));
                }
            }
        }
        for output in d.outputs.iter().flatten() {
            if output.contains('/') || output.contains("..") {
                return Err(fail(format!(
                    "compiler {:?}: output {output:?} must be a plain file name in {{out}}",
                    d.name
                )));
            }
        }
        out.push(Box::new(ExternalBackend {
            declaration: d,
            version: OnceLock::new(),
        }));
    }
    Ok(out)
}

fn line_column(text: &str, offset: usize) -> (usize, usize) {
    let before = &text[..offset.min(text.len())];
    let line = before.matches('\n').count() + 1;
    let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    (line, column)
}

/// The `{name}` placeholders of an argument (not `${...}` environment references).
fn placeholders(arg: &str) -> Vec<&str> {
    let mut found = Vec::new();
    let bytes = arg.as_bytes();
    let mut i = 0;
    while let Some(open) = arg[i..].find('{').map(|p| p + i) {
        let Some(close) = arg[open..].find('}').map(|p| p + open) else {
            break;
        };
        if open == 0 || bytes[open - 1] != b'$' {
            found.push(&arg[open + 1..close]);
        }
        i = close + 1;
    }
    found
}

/// Expands `${NAME}` / `${NAME:-default}` and then the placeholders.
fn expand(arg: &str, values: &BTreeMap<&str, String>) -> String {
    let mut out = String::new();
    let mut rest = arg;
    while let Some(start) = rest.find("${") {
        out.push_str(&rest[..start]);
        let Some(end) = rest[start..].find('}').map(|e| e + start) else {
            out.push_str(&rest[start..]);
            rest = "";
            break;
        };
        let inner = &rest[start + 2..end];
        let (name, default) = inner.split_once(":-").unwrap_or((inner, ""));
        out.push_str(
            &std::env::var(name)
                .ok()
                .filter(|v| !v.is_empty())
                .unwrap_or_else(|| default.to_owned()),
        );
        rest = &rest[end + 1..];
    }
    out.push_str(rest);
    let mut expanded = out;
    for (key, value) in values {
        expanded = expanded.replace(&format!("{{{key}}}"), value);
    }
    expanded
}

/// Runs `program args` in `dir` with a deadline; stdout and stderr are read on their own threads
/// so a chatty compiler cannot block on a full pipe.
fn run(argv: &[String], dir: &Path, timeout: Duration) -> Result<(std::process::ExitStatus, String), RunError> {
    let (program, args) = argv
        .split_first()
        .ok_or_else(|| RunError::Failed("empty command".into()))?;
    let mut child = Command::new(program)
        .args(args)
        .current_dir(dir)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| RunError::Start(format!("cannot start {program}: {e}")))?;
    let reader = |stream: Option<Box<dyn std::io::Read + Send>>| {
        std::thread::spawn(move || {
            let mut text = Vec::new();
            if let Some(mut s) = stream {
                let _ = s.read_to_end(&mut text);
            }
            String::from_utf8_lossy(&text).into_owned()
        })
    };
    let out = reader(
        child
            .stdout
            .take()
            .map(|s| Box::new(s) as Box<dyn std::io::Read + Send>),
    );
    let err = reader(
        child
            .stderr
            .take()
            .map(|s| Box::new(s) as Box<dyn std::io::Read + Send>),
    );
    let deadline = Instant::now() + timeout;
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break Ok(status),
            Ok(None) if Instant::now() >= deadline => {
                let _ = child.kill();
                let _ = child.wait();
                break Err(format!("timed out after {} s and was killed", timeout.as_secs()));
            }
            Ok(None) => std::thread::sleep(Duration::from_millis(20)),
            Err(e) => break Err(format!("cannot wait for {program}: {e}")),
        }
    };
    let log = format!(
        "$ {}\n{}{}",
        argv.join(" "),
        out.join().unwrap_or_default(),
        err.join().unwrap_or_default()
    );
    match status {
        Ok(status) => Ok((status, log)),
        Err(e) => Err(RunError::Failed(format!("{e}\n{}", tail(&log)))),
    }
}

/// Why a command did not run to an exit status.
enum RunError {
    /// It could not be started (not installed, not executable): a fault of this machine, not of
    /// the model.
    Start(String),
    /// It ran and failed to finish (timed out, could not be waited for).
    Failed(String),
}

/// The end of a log, at most [`MAX_LOG`] bytes, cut on a character boundary.
pub fn tail(log: &str) -> String {
    if log.len() <= MAX_LOG {
        return log.to_owned();
    }
    let mut start = log.len() - MAX_LOG;
    while !log.is_char_boundary(start) {
        start += 1;
    }
    format!("…{}", &log[start..])
}

/// Seeded inputs in the ONNX test-data layout (`test_data_set_N/input_0.pb`, a TensorProto each),
/// the way ONNX's model zoo and onnxruntime's tools read calibration and test data.
fn write_calibration(model: &[u8], dir: &Path, samples: usize) -> Result<(), String> {
    let analysis = analyze_bytes(model, None).map_err(|e| e.to_string())?;
    let input = analysis.inputs.first().ok_or("the model has no input")?;
    let n: usize = input.shape.iter().product();
    for (sample, values) in seeded_inputs(n, 17).take(samples).enumerate() {
        let data: Vec<u8> = values.iter().flat_map(|v| v.to_le_bytes()).collect();
        let tensor = tract_onnx::pb::TensorProto {
            dims: input.shape.iter().map(|&d| d as i64).collect(),
            data_type: 1,
            name: input.name.clone(),
            raw_data: data,
            ..Default::default()
        };
        let set = dir.join(format!("test_data_set_{sample}"));
        std::fs::create_dir_all(&set).map_err(|e| e.to_string())?;
        std::fs::write(set.join("input_0.pb"), tensor.encode_to_vec()).map_err(|e| e.to_string())?;
    }
    Ok(())
}

impl ExternalBackend {
    /// The declaration it was made from.
    pub fn declaration(&self) -> &Declaration {
        &self.declaration
    }

    fn fail(&self, message: String) -> BridgeError {
        BridgeError::Backend {
            backend: self.declaration.name.clone(),
            message,
        }
    }

    fn collect_outputs(&self, out: &Path, values: &BTreeMap<&str, String>) -> Result<Vec<ArtifactFile>, BridgeError> {
        let names: Vec<String> = match &self.declaration.outputs {
            Some(declared) => declared.iter().map(|o| expand(o, values)).collect(),
            None => {
                let mut names: Vec<String> = std::fs::read_dir(out)
                    .map_err(|e| self.fail(format!("cannot list its outputs: {e}")))?
                    .filter_map(Result::ok)
                    .filter(|e| e.file_type().is_ok_and(|t| t.is_file()))
                    .filter_map(|e| e.file_name().to_str().map(str::to_owned))
                    .collect();
                names.sort();
                names
            }
        };
        if names.is_empty() {
            return Err(self.fail("it left no output in {out}".into()));
        }
        if names.len() > MAX_OUTPUTS {
            return Err(self.fail(format!("it left {} outputs (at most {MAX_OUTPUTS})", names.len())));
        }
        let mut total = 0u64;
        let mut files = Vec::new();
        for name in names {
            let path = out.join(&name);
            let meta = std::fs::symlink_metadata(&path)
                .map_err(|_| self.fail(format!("it did not write {name} in {{out}}")))?;
            if !meta.is_file() {
                return Err(self.fail(format!("{name} is not a plain file")));
            }
            total += meta.len();
            if total > MAX_OUTPUT_BYTES {
                return Err(self.fail(format!("its outputs exceed {MAX_OUTPUT_BYTES} bytes")));
            }
            let bytes = std::fs::read(&path).map_err(|e| self.fail(format!("cannot read {name}: {e}")))?;
            files.push(ArtifactFile { name, bytes });
        }
        Ok(files)
    }
}

impl Backend for ExternalBackend {
    fn name(&self) -> &str {
        &self.declaration.name
    }

    fn version(&self) -> String {
        self.version
            .get_or_init(|| {
                if let Some(v) = &self.declaration.version {
                    return v.clone();
                }
                let Some(argv) = &self.declaration.version_command else {
                    return "unversioned".into();
                };
                let argv: Vec<String> = argv.iter().map(|a| expand(a, &BTreeMap::new())).collect();
                match run(&argv, &std::env::temp_dir(), Duration::from_secs(30)) {
                    Ok((status, log)) if status.success() => log
                        .lines()
                        .nth(1)
                        .map(|l| l.trim().to_owned())
                        .filter(|l| !l.is_empty())
                        .unwrap_or_else(|| "unversioned".into()),
                    _ => "unknown (its version command failed)".into(),
                }
            })
            .clone()
    }

    fn description(&self) -> String {
        if self.declaration.description.is_empty() {
            format!("external: {}", self.declaration.command.join(" "))
        } else {
            format!("{} (external)", self.declaration.description)
        }
    }

    fn compile(&self, job: &Job<'_>) -> Result<Artifact, BridgeError> {
        let work = tempfile::Builder::new()
            .prefix("seam-compile-")
            .tempdir()
            .map_err(|e| self.fail(format!("cannot make a working folder: {e}")))?;
        let model_path = work.path().join(format!("{}.onnx", job.stem));
        let out = work.path().join("out");
        std::fs::create_dir(&out).map_err(|e| self.fail(format!("cannot make {}: {e}", out.display())))?;
        std::fs::write(&model_path, job.model).map_err(|e| self.fail(format!("cannot write the model: {e}")))?;
        if self.declaration.calibration_samples > 0 {
            write_calibration(job.model, work.path(), self.declaration.calibration_samples)
                .map_err(|e| self.fail(format!("cannot write calibration inputs: {e}")))?;
        }
        let values: BTreeMap<&str, String> = BTreeMap::from([
            ("model", path_text(&model_path)),
            ("target", job.target.unwrap_or("").to_owned()),
            ("out", path_text(&out)),
            ("stem", job.stem.to_owned()),
        ]);
        let argv: Vec<String> = self.declaration.command.iter().map(|a| expand(a, &values)).collect();
        let timeout = Duration::from_secs(self.declaration.timeout_seconds);
        tracing::info!(backend = %self.declaration.name, command = %argv.join(" "), "running an external compiler");
        let (status, log) = run(&argv, work.path(), timeout).map_err(|e| match e {
            RunError::Start(message) => BridgeError::ToolUnavailable {
                backend: self.declaration.name.clone(),
                message,
            },
            RunError::Failed(message) => self.fail(message),
        })?;
        if !status.success() {
            return Err(self.fail(format!("exited with {status}\n{}", tail(&log))));
        }
        let files = self.collect_outputs(&out, &values)?;
        let runnable = match self.declaration.runnable.as_deref() {
            Some("onnx") => Some(Runnable::Onnx(0)),
            Some("nnef") => Some(Runnable::Nnef(0)),
            Some("tflite") => Some(Runnable::Tflite(0)),
            _ => None,
        };
        Ok(Artifact {
            files,
            log: tail(&log),
            runnable,
            device_bytes: None,
        })
    }
}

fn path_text(path: &Path) -> String {
    path.to_string_lossy().into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_are_found_and_environment_references_are_not() {
        assert_eq!(placeholders("{out}/{stem}.onnx"), vec!["out", "stem"]);
        assert_eq!(placeholders("${HOME}/x"), Vec::<&str>::new());
        let values = BTreeMap::from([("out", "/o".to_owned()), ("stem", "m".to_owned())]);
        assert_eq!(expand("{out}/{stem}.onnx", &values), "/o/m.onnx");
        assert_eq!(expand("${SEAM_SURELY_UNSET_VAR:-python3}", &values), "python3");
    }

    fn parse_err(text: &str) -> BridgeError {
        match parse(text) {
            Ok(_) => panic!("parsed: {text}"),
            Err(e) => e,
        }
    }

    #[test]
    fn malformed_declarations_name_their_line_and_column() {
        let err = parse_err("[[compiler]]\nname = \"x\"\ncommand = [\"a\"\n");
        assert!(err.to_string().contains("3:"), "{err}");
        let err = parse_err("[[compiler]]\nname = \"x\"\ncommand = [\"cc\", \"{modle}\"]\n");
        assert!(err.to_string().contains("unknown placeholder {modle}"), "{err}");
        let err = parse_err("[[compiler]]\nname = \"x\"\ncommand = [\"cc\"]\ncolour = 1\n");
        assert!(err.to_string().contains("colour"), "{err}");
        let err = parse_err("[[compiler]]\nname = \"Bad Name\"\ncommand = [\"cc\"]\n");
        assert!(err.to_string().contains("lowercase"), "{err}");
        let err = parse_err("[[remote]]\nname = \"r\"\nurl = \"ftp://x\"\nbackend = \"c-array\"\n");
        assert!(err.to_string().contains("http"), "{err}");
    }
}
