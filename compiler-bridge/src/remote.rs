//! Remote backends: a compile service over HTTP behind the same trait.
//!
//! The protocol is the one `seam serve` speaks (`registry::http::compile`):
//! - `GET {url}/compile` lists the service's backends: `[{"name", "version", "description"}]`;
//! - `POST {url}/compile?backend=NAME&stem=STEM[&target=T]` with the ONNX model as the body (and a
//!   bearer token) answers [`RemoteArtifact`] as JSON, or an RFC 9457 problem.
//!
//! Transforms, validation, signing and caching stay local: the service only runs the backend, so
//! the package is signed by the key of whoever asked, and validated where it is packaged.

use std::sync::OnceLock;
use std::time::Duration;

use base64::Engine as _;
use serde::{Deserialize, Serialize};

use crate::backend::{Artifact, ArtifactFile, Backend, Job, Runnable};
use crate::BridgeError;

/// One file of a remote answer, base64-encoded.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RemoteFile {
    /// File name.
    pub name: String,
    /// Contents, standard base64.
    pub base64: String,
}

/// What the service answers to a compile request.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RemoteArtifact {
    /// The backend that ran.
    pub backend: String,
    /// Its version.
    pub version: String,
    /// The files.
    pub files: Vec<RemoteFile>,
    /// What the backend printed.
    #[serde(default)]
    pub log: String,
    /// `onnx` or `nnef` when the first file can be run by tract.
    #[serde(default)]
    pub runnable: Option<String>,
}

/// One backend a service offers.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RemoteBackendInfo {
    /// Its name.
    pub name: String,
    /// Its version.
    pub version: String,
    /// What it makes.
    pub description: String,
}

impl RemoteArtifact {
    /// The wire form of a local artifact.
    pub fn from_artifact(backend: &dyn Backend, artifact: &Artifact) -> Self {
        Self {
            backend: backend.name().to_owned(),
            version: backend.version(),
            files: artifact
                .files
                .iter()
                .map(|f| RemoteFile {
                    name: f.name.clone(),
                    base64: base64::engine::general_purpose::STANDARD.encode(&f.bytes),
                })
                .collect(),
            log: artifact.log.clone(),
            runnable: match artifact.runnable {
                Some(Runnable::Onnx(0)) => Some("onnx".into()),
                Some(Runnable::Nnef(0)) => Some("nnef".into()),
                Some(Runnable::Tflite(0)) => Some("tflite".into()),
                _ => None,
            },
        }
    }
}

/// A backend run by a compile service.
#[derive(Debug)]
pub struct RemoteBackend {
    name: String,
    url: String,
    backend: String,
    token: Option<String>,
    timeout: Duration,
    version: OnceLock<Result<String, String>>,
}

impl RemoteBackend {
    /// `name` selects it locally; it runs `backend` at the service at `url` (its base URL).
    pub fn new(name: &str, url: &str, backend: &str, token: Option<String>, timeout: Duration) -> Self {
        Self {
            name: name.to_owned(),
            url: url.trim_end_matches('/').to_owned(),
            backend: backend.to_owned(),
            token,
            timeout,
            version: OnceLock::new(),
        }
    }

    fn fail(&self, message: String) -> BridgeError {
        BridgeError::Backend {
            backend: self.name.clone(),
            message,
        }
    }

    fn client(&self) -> Result<reqwest::blocking::Client, BridgeError> {
        reqwest::blocking::Client::builder()
            .timeout(self.timeout)
            .build()
            .map_err(|e| self.fail(format!("cannot make an HTTP client: {e}")))
    }

    /// The service's backends.
    pub fn list(&self) -> Result<Vec<RemoteBackendInfo>, BridgeError> {
        let response = self
            .client()?
            .get(format!("{}/compile", self.url))
            .send()
            .map_err(|e| self.fail(format!("{}: {e}", self.url)))?;
        if !response.status().is_success() {
            return Err(self.fail(format!("{} answered {}", self.url, response.status())));
        }
        response
            .json()
            .map_err(|e| self.fail(format!("{}: not a list of backends: {e}", self.url)))
    }

    fn remote_version(&self) -> Result<String, String> {
        self.version
            .get_or_init(|| {
                let list = self.list().map_err(|e| e.to_string())?;
                list.into_iter()
                    .find(|b| b.name == self.backend)
                    .map(|b| b.version)
                    .ok_or_else(|| format!("{} offers no backend {:?}", self.url, self.backend))
            })
            .clone()
    }
}

impl Backend for RemoteBackend {
    fn name(&self) -> &str {
        &self.name
    }

    fn version(&self) -> String {
        match self.remote_version() {
            Ok(v) => format!("{}@{} {v}", self.backend, self.url),
            Err(_) => format!("{}@{} (unreachable)", self.backend, self.url),
        }
    }

    fn description(&self) -> String {
        format!("{} at {} (remote)", self.backend, self.url)
    }

    fn compile(&self, job: &Job<'_>) -> Result<Artifact, BridgeError> {
        // A service that cannot say what it runs cannot be cached against: refuse early.
        self.remote_version().map_err(|e| self.fail(e))?;
        let mut query = vec![("backend", self.backend.clone()), ("stem", job.stem.to_owned())];
        if let Some(target) = job.target {
            query.push(("target", target.to_owned()));
        }
        let mut request = self
            .client()?
            .post(format!("{}/compile", self.url))
            .query(&query)
            .header(reqwest::header::CONTENT_TYPE, "application/octet-stream")
            .body(job.model.to_vec());
        if let Some(token) = &self.token {
            request = request.bearer_auth(token);
        }
        let response = request.send().map_err(|e| self.fail(format!("{}: {e}", self.url)))?;
        let status = response.status();
        let body = response.bytes().map_err(|e| self.fail(format!("{}: {e}", self.url)))?;
        if !status.is_success() {
            // RFC 9457: the detail says why.
            let detail = serde_json::from_slice::<serde_json::Value>(&body)
                .ok()
                .and_then(|v| v.get("detail").and_then(|d| d.as_str()).map(str::to_owned))
                .unwrap_or_else(|| String::from_utf8_lossy(&body).chars().take(300).collect());
            return Err(self.fail(format!("the service answered {status}: {detail}")));
        }
        let answer: RemoteArtifact = serde_json::from_slice(&body)
            .map_err(|e| self.fail(format!("the service's answer is not an artifact: {e}")))?;
        let mut files = Vec::with_capacity(answer.files.len());
        for f in answer.files {
            if f.name.is_empty() || f.name.contains('/') || f.name.contains('\\') || f.name.starts_with('.') {
                return Err(self.fail(format!("the service named a file {:?}", f.name)));
            }
            let bytes = base64::engine::general_purpose::STANDARD
                .decode(&f.base64)
                .map_err(|e| self.fail(format!("{}: bad base64: {e}", f.name)))?;
            files.push(ArtifactFile { name: f.name, bytes });
        }
        if files.is_empty() {
            return Err(self.fail("the service returned no file".into()));
        }
        Ok(Artifact {
            files,
            log: answer.log,
            runnable: match answer.runnable.as_deref() {
                Some("onnx") => Some(Runnable::Onnx(0)),
                Some("nnef") => Some(Runnable::Nnef(0)),
                Some("tflite") => Some(Runnable::Tflite(0)),
                _ => None,
            },
            device_bytes: None,
        })
    }
}
