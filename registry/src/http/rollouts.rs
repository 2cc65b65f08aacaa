//! `/rollouts`: start a rollout (a model to devices), follow it, steer it. Starting and steering
//! need the write token; reading is open like every other read.

use actix_web::http::StatusCode;
use actix_web::{web, HttpResponse};

use super::problem::Problem;
use super::sparql::read_bytes;
use super::AppState;
use crate::rollout::{RolloutError, RolloutRequest, Rollouts};

fn rollouts(state: &AppState) -> Result<&Rollouts, Problem> {
    state.config.rollouts.as_ref().ok_or_else(|| {
        Problem::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "lwm2m-disabled",
            "Rollouts are not running",
            "this service was started without its LwM2M server: nothing can be rolled out",
        )
    })
}

/// A rollout error as a problem: what the request got wrong is a 4xx, and nothing was started.
pub(crate) fn problem(e: RolloutError) -> Problem {
    let (status, kind, title) = match &e {
        RolloutError::Invalid(_) => (StatusCode::BAD_REQUEST, "invalid-rollout", "Invalid rollout"),
        RolloutError::Selection(_) | RolloutError::NamedQuery(_) => {
            (StatusCode::BAD_REQUEST, "invalid-selection", "Invalid device selection")
        }
        RolloutError::NoDevices => (StatusCode::UNPROCESSABLE_ENTITY, "no-devices", "No devices selected"),
        RolloutError::UnknownModel(_) => (StatusCode::UNPROCESSABLE_ENTITY, "unknown-model", "Unknown model"),
        RolloutError::NoModelFile(_) => (
            StatusCode::UNPROCESSABLE_ENTITY,
            "no-model-file",
            "The model has no file",
        ),
        RolloutError::UnknownDevices(_) => (StatusCode::UNPROCESSABLE_ENTITY, "unknown-devices", "Unknown devices"),
        RolloutError::RunsNowhere(_) => (
            StatusCode::UNPROCESSABLE_ENTITY,
            "runs-nowhere",
            "The model runs on none of the devices",
        ),
        RolloutError::Busy(_) => (StatusCode::CONFLICT, "devices-busy", "Devices already in a rollout"),
        RolloutError::WrongState { .. } => (StatusCode::CONFLICT, "wrong-state", "Not possible in this state"),
        RolloutError::NotFound(_) => (StatusCode::NOT_FOUND, "unknown-rollout", "No such rollout"),
        RolloutError::NoLwm2m => (
            StatusCode::SERVICE_UNAVAILABLE,
            "lwm2m-disabled",
            "LwM2M is not running",
        ),
        RolloutError::Graph(_) => return Problem::internal(e),
    };
    let mut p = Problem::new(status, kind, title, e.to_string());
    if let RolloutError::RunsNowhere(reasons) = &e {
        let reasons: serde_json::Map<String, serde_json::Value> =
            reasons.iter().map(|(d, r)| (d.clone(), r.clone().into())).collect();
        p = p.with("reasons", serde_json::Value::Object(reasons));
    }
    p
}

/// `POST /rollouts`: plans and starts a rollout; `202 Accepted` with `Location: /rollouts/{id}`
/// and the rollout as planned.
pub(super) async fn start(state: web::Data<AppState>, payload: web::Payload) -> Result<HttpResponse, Problem> {
    let rollouts = rollouts(&state)?.clone();
    let body = read_bytes(payload, state.config.max_body_bytes).await?;
    let parsed: RolloutRequest = serde_json::from_slice(&body).map_err(|e| {
        Problem::new(
            StatusCode::BAD_REQUEST,
            "invalid-json",
            "Invalid rollout request",
            format!("line {} column {}: {e}", e.line(), e.column()),
        )
    })?;
    let spec = parsed
        .into_spec()
        .map_err(|e| Problem::new(StatusCode::BAD_REQUEST, "invalid-rollout", "Invalid rollout", e))?;
    let rollout = rollouts.begin(spec).await.map_err(problem)?;
    Ok(HttpResponse::Accepted()
        .insert_header(("Location", format!("/rollouts/{}", rollout.id)))
        .json(rollout.to_json()))
}

/// `GET /rollouts`: every rollout, oldest first, in short.
pub(super) async fn list(state: web::Data<AppState>) -> Result<HttpResponse, Problem> {
    let all = rollouts(&state)?.summaries();
    Ok(HttpResponse::Ok().json(serde_json::json!({ "rollouts": all })))
}

/// `GET /rollouts/{id}`: the rollout, its counts per state and per group, and every device.
pub(super) async fn get(state: web::Data<AppState>, id: web::Path<String>) -> Result<HttpResponse, Problem> {
    let rollouts = rollouts(&state)?.clone();
    let id = id.into_inner();
    let wanted = id.clone();
    let rollout = web::block(move || rollouts.find(&wanted))
        .await
        .map_err(Problem::internal)?
        .map_err(problem)?
        .ok_or_else(|| problem(RolloutError::NotFound(id)))?;
    Ok(HttpResponse::Ok().json(rollout.to_json()))
}

/// `POST /rollouts/{id}/{pause|resume|cancel|retry-failed}`.
pub(super) async fn act(
    state: web::Data<AppState>,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, Problem> {
    let rollouts = rollouts(&state)?;
    let (id, action) = path.into_inner();
    let done = match action.as_str() {
        "pause" => rollouts.pause(&id).await,
        "resume" => rollouts.resume(&id).await,
        "cancel" => rollouts.cancel(&id).await,
        "retry-failed" => rollouts.retry_failed(&id).await,
        other => {
            return Err(Problem::new(
                StatusCode::NOT_FOUND,
                "unknown-action",
                "No such action",
                format!("{other:?} is not an action of a rollout (pause, resume, cancel, retry-failed)"),
            ))
        }
    };
    Ok(HttpResponse::Ok().json(done.map_err(problem)?.to_json()))
}
