//! The compile service: `GET /compile` lists the backends this server runs, and
//! `POST /compile?backend=NAME&stem=STEM[&target=T]` (token; the body is an ONNX model) runs one
//! and answers the artifact's files (`seam_compiler_bridge::remote::RemoteArtifact`). This is the
//! server side of the remote backend: a workstation without a toolchain compiles through a
//! server that has one, and packages, signs and validates locally.
//!
//! `POST /compilations?target=DEV|backend=NAME[&quantize=int8&prune=S&…]` (token; the body is the
//! model) is the whole of `seam compile` run by the service: plan from its graph, compile, sign
//! with its key, cache, record the provenance, judge the fit, keep the package on the LwM2M shelf
//! when LwM2M runs (ready for `/deployments`). It answers the report and the package (base64).
//!
//! The service runs built-in backends only: an external compiler runs arbitrary commands, which a
//! network request must not be able to choose.

use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use seam_compiler_bridge::backend::Job;
use seam_compiler_bridge::backends::Backends;
use seam_compiler_bridge::remote::{RemoteArtifact, RemoteBackendInfo};

use super::problem::Problem;
use super::sparql::{decode_pairs, read_bytes};
use super::AppState;

fn bad(title: &'static str, detail: String) -> Problem {
    Problem::new(StatusCode::BAD_REQUEST, "invalid-parameter", title, detail)
}

pub(super) async fn list() -> HttpResponse {
    let backends: Vec<RemoteBackendInfo> = Backends::builtin()
        .iter()
        .map(|b| RemoteBackendInfo {
            name: b.name().to_owned(),
            version: b.version(),
            description: b.description(),
        })
        .collect();
    HttpResponse::Ok().json(backends)
}

pub(super) async fn compile(
    req: HttpRequest,
    state: web::Data<AppState>,
    payload: web::Payload,
) -> Result<HttpResponse, Problem> {
    let (mut backend, mut stem, mut target) = (None, None, None);
    for (key, value) in decode_pairs(req.query_string())? {
        match key.as_str() {
            "backend" => backend = Some(value),
            "stem" => stem = Some(value),
            "target" => target = Some(value),
            other => {
                return Err(bad(
                    "Unknown parameter",
                    format!("unknown parameter {other:?} (backend, stem, target)"),
                ))
            }
        }
    }
    let backend = backend.ok_or_else(|| bad("Missing parameter", "the backend parameter is required".into()))?;
    let stem = seam_compiler_bridge::compile::safe_stem(stem.as_deref().unwrap_or("model"));
    // Refused before the body is read.
    let backends = Backends::builtin();
    if backends.get(&backend).is_none() {
        return Err(Problem::new(
            StatusCode::NOT_FOUND,
            "unknown-backend",
            "Unknown backend",
            format!("no backend {backend:?}; there are {}", backends.names().join(", ")),
        ));
    }
    let body = read_bytes(payload, state.config.max_body_bytes).await?;
    let answer = web::block(move || -> Result<RemoteArtifact, Problem> {
        let chosen = backends
            .get(&backend)
            .ok_or_else(|| Problem::internal("backend vanished"))?;
        let job = Job {
            model: &body,
            stem: &stem,
            target: target.as_deref(),
        };
        let artifact = chosen.compile(&job).map_err(|e| {
            Problem::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "compile-failed",
                "The model could not be compiled",
                e.to_string(),
            )
        })?;
        Ok(RemoteArtifact::from_artifact(chosen, &artifact))
    })
    .await
    .map_err(Problem::internal)??;
    Ok(HttpResponse::Ok().json(answer))
}

fn number<T: std::str::FromStr>(key: &str, value: &str) -> Result<T, Problem> {
    value
        .parse()
        .map_err(|_| bad("Invalid parameter", format!("{key} {value:?} is not a number")))
}

pub(super) async fn compilations(
    req: HttpRequest,
    state: web::Data<AppState>,
    payload: web::Payload,
) -> Result<HttpResponse, Problem> {
    use crate::packaging::{compile_model, CompileError, CompileOrder, Packager, PlanError};
    use base64::Engine as _;

    let (mut stem, mut target, mut backend, mut quantize, mut prune) = (None, None, None, false, None);
    let mut thresholds = seam_compiler_bridge::validate::Thresholds::default();
    let (mut headroom, mut use_cache) = (10u64, true);
    for (key, value) in decode_pairs(req.query_string())? {
        match key.as_str() {
            "stem" => stem = Some(value),
            "target" => target = Some(value),
            "backend" => backend = Some(value),
            "quantize" if value == "int8" => quantize = true,
            "quantize" => return Err(bad("Invalid parameter", format!("quantize {value:?}: only int8"))),
            "prune" => prune = Some(number::<f64>(&key, &value)?),
            "max-relative-error" => thresholds.max_relative_error = number(&key, &value)?,
            "min-top1" => thresholds.min_top1_agreement = number(&key, &value)?,
            "headroom" => headroom = number(&key, &value)?,
            "cache" => use_cache = value != "false",
            other => {
                return Err(bad(
                    "Unknown parameter",
                    format!(
                        "unknown parameter {other:?} (stem, target, backend, quantize, prune, \
                         max-relative-error, min-top1, headroom, cache)"
                    ),
                ))
            }
        }
    }
    crate::matching::MatchOptions::checked(headroom, None).map_err(|e| bad("Invalid parameter", e))?;
    let body = read_bytes(payload, state.config.max_body_bytes).await?;
    let index = state.fleet.clone();
    let data = state.data.clone();
    let shelf = state.config.lwm2m.clone();
    let result = web::block(move || -> Result<_, Problem> {
        // The service's own key and cache (a scratch folder's for an in-memory registry).
        let packager = Packager::open(&data, &[]).map_err(Problem::internal)?;
        let order = CompileOrder {
            model: &body,
            stem: seam_compiler_bridge::compile::safe_stem(stem.as_deref().unwrap_or("model")),
            target,
            backend,
            quantize_int8: quantize,
            prune,
            thresholds,
            headroom_pct: headroom,
            use_cache,
        };
        let report = compile_model(&index, &packager, &order).map_err(|e| match e {
            CompileError::Plan(PlanError::UnknownDevice(d)) => Problem::new(
                StatusCode::NOT_FOUND,
                "unknown-device",
                "Unknown device",
                format!("no device {d:?} in the graph"),
            ),
            CompileError::Plan(e @ PlanError::DoesNotRun { .. }) => Problem::new(
                StatusCode::CONFLICT,
                "does-not-run",
                "The model does not run on the device",
                e.to_string(),
            ),
            CompileError::Bridge(e @ seam_compiler_bridge::BridgeError::ToolUnavailable { .. }) => Problem::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "tool-unavailable",
                "A compiler this service needs is not available",
                e.to_string(),
            ),
            CompileError::Bridge(e) => Problem::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "compile-failed",
                "The model could not be compiled",
                e.to_string(),
            ),
            CompileError::Graph(e) => Problem::internal(e),
            other => bad("Invalid request", other.to_string()),
        })?;
        // Ready for /deployments: the package on the shelf the LwM2M server serves — unless it
        // does not fit its target, which no delivery should then be offered.
        let fits = report.to_json()["fit"]["fits"].as_bool() != Some(false);
        let package_uri = match &shelf {
            Some(bridge) if fits => {
                let sha = bridge
                    .add_package(report.compiled.package.clone())
                    .map_err(Problem::internal)?;
                Some(bridge.server().package_uri(&sha).map_err(Problem::internal)?)
            }
            _ => None,
        };
        Ok((report, package_uri))
    })
    .await
    .map_err(Problem::internal)??;
    let (report, package_uri) = result;
    let mut body = report.to_json();
    body["packageUri"] = serde_json::json!(package_uri);
    body["package"] = serde_json::json!(base64::engine::general_purpose::STANDARD.encode(&report.compiled.package));
    // What `seam compile --target` exits 4 for is a refusal here too (409), with the whole
    // report: the figures that do not fit, and the package for inspection (not shelved).
    if body["fit"]["fits"].as_bool() == Some(false) {
        let detail = format!(
            "the compiled model does not fit the device: RAM {} of {} B free, flash {} of {} B free",
            body["fit"]["ramNeededBytes"],
            body["fit"]["ramFreeBytes"],
            body["fit"]["flashNeededBytes"],
            body["fit"]["flashFreeBytes"]
        );
        return Err(Problem::new(
            StatusCode::CONFLICT,
            "does-not-fit",
            "The compiled model does not fit the device",
            detail,
        )
        .with("report", body));
    }
    Ok(HttpResponse::Created()
        .insert_header(("Location", report.artifact.clone()))
        .json(body))
}
