//! A client of a running SEAM service: what the CLI asks of `seam serve` over HTTP (matching,
//! device selection, package delivery in waves), typed, with problem+json errors turned into
//! sentences.

use std::time::Duration;

use crate::matching::{MatchOptions, MatchReport};
use crate::remote::{get_json, install_tls_provider, SparqlEndpoint};
use crate::selection::{self, SelectionError};

/// A request to a service failed.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// The service could not be reached.
    #[error("cannot reach {base}: {message}")]
    Unreachable {
        /// The service's base URL.
        base: String,
        /// What failed.
        message: String,
    },
    /// The service refused the request (its problem's detail).
    #[error("{what}: {status}: {detail}")]
    Refused {
        /// What was asked.
        what: &'static str,
        /// The HTTP status.
        status: u16,
        /// The problem's detail.
        detail: String,
    },
    /// The service answered something this client does not understand.
    #[error("{0}")]
    Malformed(String),
    /// A query failed.
    #[error(transparent)]
    Query(#[from] crate::error::QueryError),
    /// The device selection failed.
    #[error(transparent)]
    Selection(#[from] SelectionError),
    /// The model cannot run on the target at all (the service's reasons).
    #[error("{0}")]
    DoesNotRun(String),
    /// The package the service sent does not verify.
    #[error(transparent)]
    Package(#[from] seam_compiler_bridge::package::PackageError),
}

impl ClientError {
    /// Whether the request itself was at fault (a 4xx), rather than the service or the network.
    pub fn is_client_error(&self) -> bool {
        matches!(self, Self::Refused { status, .. } if (400..500).contains(status))
    }
}

/// A compilation done by a service: its report (the `CompileReport` JSON, without the package),
/// the package, and the package's files (verified: signature and every digest).
#[derive(Debug, Clone)]
pub struct RemoteCompiled {
    /// The report.
    pub report: serde_json::Value,
    /// The `.seampkg` bytes.
    pub package: Vec<u8>,
    /// The files inside it.
    pub files: Vec<seam_compiler_bridge::backend::ArtifactFile>,
}

/// A running SEAM service.
#[derive(Debug, Clone)]
pub struct Service {
    base: String,
    token: String,
    client: reqwest::Client,
}

/// What a delivery in waves did.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Delivered {
    /// The package's SHA-256.
    pub package: String,
    /// Its size, as the service stored it.
    #[serde(rename = "sizeBytes")]
    pub size_bytes: u64,
    /// Devices that installed it.
    pub installed: usize,
    /// Devices that did not.
    pub failed: usize,
    /// Devices never asked (a canary wave failed before their turn).
    pub skipped: usize,
    /// The service's result for each device asked, in order.
    pub results: Vec<serde_json::Value>,
    /// Whether the canary wave failed and the rest were not touched.
    #[serde(skip)]
    pub stopped_after_canary: bool,
}

impl Service {
    /// The service at `base` (e.g. `http://127.0.0.1:8080`), with the write token (may be empty).
    pub fn new(base: &str, token: &str) -> Result<Self, ClientError> {
        install_tls_provider();
        let base = base.trim_end_matches('/').to_owned();
        let client = reqwest::Client::builder()
            .build()
            .map_err(|e| ClientError::Unreachable {
                base: base.clone(),
                message: e.to_string(),
            })?;
        Ok(Self {
            base,
            token: token.to_owned(),
            client,
        })
    }

    /// `GET /match/{device}`: the models ranked for a device or board type.
    pub async fn match_device(
        &self,
        device: &str,
        opts: &MatchOptions,
        explain: bool,
    ) -> Result<MatchReport, ClientError> {
        let mut url = format!(
            "{}/match/{}?explain={explain}&headroomPct={}",
            self.base,
            crate::iri::encode_segment(device),
            opts.headroom_pct
        );
        if let Some(s) = opts.latency_budget_s {
            // Milliseconds on the wire, rounded to a nanosecond: no binary fraction shows.
            url.push_str(&format!("&latencyBudgetMs={}", (s * 1e9).round() / 1e6));
        }
        let body = get_json(&url, Duration::from_secs(60)).await?;
        serde_json::from_value(body)
            .map_err(|e| ClientError::Malformed(format!("the service's match report is malformed: {e}")))
    }

    /// The device names a SELECT picks, asked of the service's SPARQL endpoint.
    pub async fn devices_where(&self, select: &str) -> Result<Vec<String>, ClientError> {
        let endpoint = SparqlEndpoint::new(&format!("{}/sparql", self.base), Duration::from_secs(60))?;
        Ok(selection::devices_where_remote(&endpoint, select).await?)
    }

    /// Stores the package (`POST /packages`) and delivers it (`POST /deployments`) to `devices`
    /// in waves: with a canary share, to that share first and to the rest only if every
    /// canary installed it. `progress` hears of each wave as it starts.
    pub async fn deliver(
        &self,
        package: Vec<u8>,
        devices: &[String],
        canary_pct: Option<f64>,
        push: bool,
        mut progress: impl FnMut(&str),
    ) -> Result<Delivered, ClientError> {
        let stored = self
            .post(
                "the package was not accepted",
                "/packages",
                self.client.post(format!("{}/packages", self.base)).body(package),
            )
            .await?;
        let sha = stored["sha256"]
            .as_str()
            .ok_or_else(|| ClientError::Malformed("the service did not name the stored package".into()))?
            .to_owned();
        let size_bytes = stored["sizeBytes"].as_u64().unwrap_or(0);
        progress(&format!("package {sha} stored ({size_bytes} bytes)"));
        let waves = selection::waves(devices, canary_pct);
        let mut results = Vec::new();
        let mut stopped_after_canary = false;
        for (i, wave) in waves.iter().enumerate() {
            if waves.len() > 1 {
                progress(&format!(
                    "{} wave: {} devices",
                    if i == 0 { "canary" } else { "rollout" },
                    wave.len()
                ));
            }
            let body = serde_json::json!({
                "package": sha,
                "devices": wave,
                "method": if push { "push" } else { "pull" },
            });
            let report = self
                .post(
                    "the deployment was refused",
                    "/deployments",
                    self.client.post(format!("{}/deployments", self.base)).json(&body),
                )
                .await?;
            let failed = report["failed"].as_u64().unwrap_or(0);
            results.extend(report["results"].as_array().cloned().unwrap_or_default());
            if failed > 0 && i + 1 < waves.len() {
                stopped_after_canary = true;
                break;
            }
        }
        let installed = results
            .iter()
            .filter(|r| r["installed"].as_bool() == Some(true))
            .count();
        Ok(Delivered {
            package: sha,
            size_bytes,
            installed,
            failed: results.len() - installed,
            skipped: devices.len() - results.len(),
            results,
            stopped_after_canary,
        })
    }

    /// `POST /compilations`: the service plans from its graph, compiles, signs with its key and
    /// records the provenance. A package that does not fit comes back with its whole report
    /// (the fit says so); one that cannot run there at all is [`ClientError::DoesNotRun`].
    pub async fn compile(&self, order: &crate::packaging::CompileOrder<'_>) -> Result<RemoteCompiled, ClientError> {
        use base64::Engine as _;
        let mut query: Vec<(&str, String)> = vec![("stem", order.stem.clone())];
        if let Some(t) = &order.target {
            query.push(("target", t.clone()));
        }
        if let Some(b) = &order.backend {
            query.push(("backend", b.clone()));
        }
        if order.quantize_int8 {
            query.push(("quantize", "int8".into()));
        }
        if let Some(p) = order.prune {
            query.push(("prune", p.to_string()));
        }
        query.push(("max-relative-error", order.thresholds.max_relative_error.to_string()));
        query.push(("min-top1", order.thresholds.min_top1_agreement.to_string()));
        query.push(("headroom", order.headroom_pct.to_string()));
        if !order.use_cache {
            query.push(("cache", "false".into()));
        }
        let url = format!("{}/compilations", self.base);
        let response = self
            .client
            .post(&url)
            .timeout(Duration::from_secs(600))
            .query(&query)
            .header(reqwest::header::CONTENT_TYPE, "application/octet-stream")
            .bearer_auth(&self.token)
            .body(order.model.to_vec())
            .send()
            .await
            .map_err(|e| ClientError::Unreachable {
                base: self.base.clone(),
                message: format!("/compilations: {e}"),
            })?;
        let status = response.status();
        let body: serde_json::Value = response
            .json()
            .await
            .map_err(|e| ClientError::Malformed(format!("{url} answered {status} without JSON: {e}")))?;
        let kind = |suffix: &str| body["type"].as_str().is_some_and(|t| t.ends_with(suffix));
        let mut report =
            if status == reqwest::StatusCode::CONFLICT && kind("/does-not-fit") && body["report"].is_object() {
                body["report"].clone()
            } else if !status.is_success() {
                let detail = body["detail"].as_str().unwrap_or("").to_owned();
                if kind("/does-not-run") {
                    return Err(ClientError::DoesNotRun(detail));
                }
                return Err(ClientError::Refused {
                    what: "the compilation was refused",
                    status: status.as_u16(),
                    detail,
                });
            } else {
                body
            };
        let package = base64::engine::general_purpose::STANDARD
            .decode(report["package"].as_str().unwrap_or(""))
            .map_err(|e| ClientError::Malformed(format!("the service's package is not base64: {e}")))?;
        // The service's answer is checked like any package: signature and every digest.
        let opened = seam_compiler_bridge::package::verify(&package, None)?;
        if let Some(map) = report.as_object_mut() {
            map.remove("package");
        }
        Ok(RemoteCompiled {
            report,
            package,
            files: opened.files,
        })
    }

    /// `POST /models`: registers a model from its file, with what the file cannot say (`task`,
    /// `accuracy`, `input-sensor`, ... as `POST /models` takes them); answers its IRI.
    pub async fn register_model(
        &self,
        file_name: &str,
        bytes: Vec<u8>,
        facts: &[(&str, String)],
    ) -> Result<String, ClientError> {
        let url = format!("{}/models", self.base);
        let mut query: Vec<(&str, String)> = vec![("name", file_name.to_owned())];
        query.extend(facts.iter().cloned());
        let request = self.client.post(&url).query(&query).body(bytes);
        let answer = self.post("the model was not registered", "/models", request).await?;
        answer["model"]
            .as_str()
            .map(str::to_owned)
            .ok_or_else(|| ClientError::Malformed("the service did not name the registered model".into()))
    }

    /// `POST /rollouts`: starts a rollout (the body as the service takes it); answers it as
    /// planned.
    pub async fn start_rollout(&self, body: &serde_json::Value) -> Result<serde_json::Value, ClientError> {
        let request = self.client.post(format!("{}/rollouts", self.base)).json(body);
        self.post("the rollout was refused", "/rollouts", request).await
    }

    /// `GET /rollouts/{id}`, or every rollout (`GET /rollouts`) without an id.
    pub async fn rollout(&self, id: Option<&str>) -> Result<serde_json::Value, ClientError> {
        let url = match id {
            Some(id) => format!("{}/rollouts/{}", self.base, crate::iri::encode_segment(id)),
            None => format!("{}/rollouts", self.base),
        };
        get_json(&url, Duration::from_secs(60)).await.map_err(|e| match e {
            crate::error::QueryError::Remote {
                status: Some(status),
                message,
                ..
            } => ClientError::Refused {
                what: "the rollout could not be read",
                status,
                detail: message,
            },
            other => ClientError::Query(other),
        })
    }

    /// `POST /rollouts/{id}/{action}` (pause, resume, cancel, retry-failed).
    pub async fn steer_rollout(&self, id: &str, action: &str) -> Result<serde_json::Value, ClientError> {
        let path = format!(
            "/rollouts/{}/{}",
            crate::iri::encode_segment(id),
            crate::iri::encode_segment(action)
        );
        let request = self.client.post(format!("{}{path}", self.base));
        self.post("the rollout could not be changed", "/rollouts", request)
            .await
    }

    /// Sends a write with the token; the JSON body of a success, or the problem's detail.
    async fn post(
        &self,
        what: &'static str,
        path: &str,
        request: reqwest::RequestBuilder,
    ) -> Result<serde_json::Value, ClientError> {
        let response = request
            .bearer_auth(&self.token)
            .send()
            .await
            .map_err(|e| ClientError::Unreachable {
                base: self.base.clone(),
                message: format!("{path}: {e}"),
            })?;
        let status = response.status();
        let body: serde_json::Value = response.json().await.map_err(|e| {
            ClientError::Malformed(format!("{path}: the service answered something other than JSON: {e}"))
        })?;
        if status.is_success() {
            Ok(body)
        } else {
            Err(ClientError::Refused {
                what,
                status: status.as_u16(),
                detail: body["detail"].as_str().unwrap_or("no detail").to_owned(),
            })
        }
    }
}
