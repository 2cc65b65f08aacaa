//! The compile service: `GET /compile` lists the backends this server runs, and
//! `POST /compile?backend=NAME&stem=STEM[&target=T]` (token; the body is an ONNX model) runs one
//! and answers the artifact's files (`seam_compiler_bridge::remote::RemoteArtifact`). This is the
//! server side of the remote backend: a workstation without a toolchain compiles through a
//! server that has one, and packages, signs and validates locally.
//!
//! The service runs built-in backends only: an external compiler runs arbitrary commands, which a
//! network request must not be able to choose.

use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use seam_compiler_bridge::backend::{Backends, Job};
use seam_compiler_bridge::remote::{RemoteArtifact, RemoteBackendInfo};

use super::problem::Problem;
use super::sparql::{authorize, decode_pairs, read_bytes};
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
    authorize(&req, &state)?;
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
    if Backends::builtin().get(&backend).is_none() {
        return Err(Problem::new(
            StatusCode::NOT_FOUND,
            "unknown-backend",
            "Unknown backend",
            format!(
                "no backend {backend:?}; there are {}",
                Backends::builtin().names().join(", ")
            ),
        ));
    }
    let body = read_bytes(payload, state.config.max_body_bytes).await?;
    let answer = web::block(move || -> Result<RemoteArtifact, Problem> {
        let backends = Backends::builtin();
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
