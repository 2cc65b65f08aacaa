//! `POST /packages` (store a package, content-addressed) and `POST /deployments` (deliver one
//! to devices over LwM2M and report each outcome). Both need the write token; both need the
//! service to run with its LwM2M server.

use actix_web::http::StatusCode;
use actix_web::{web, HttpResponse};
use seam_lwm2m::server::DeliveryMethod;
use serde::Deserialize;

use super::problem::Problem;
use super::sparql::read_bytes;
use super::AppState;
use crate::live::{DeployRequest, Lwm2mBridge};

fn bridge(state: &AppState) -> Result<&Lwm2mBridge, Problem> {
    state.config.lwm2m.as_ref().ok_or_else(|| {
        Problem::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "lwm2m-disabled",
            "LwM2M is not running",
            "this service was started without its LwM2M server",
        )
    })
}

/// `POST /packages`: the body is the package; answers its SHA-256 and Package URI.
pub(super) async fn add_package(state: web::Data<AppState>, payload: web::Payload) -> Result<HttpResponse, Problem> {
    let bridge = bridge(&state)?.clone();
    let body = read_bytes(payload, state.config.max_body_bytes).await?;
    if body.is_empty() {
        return Err(Problem::new(
            StatusCode::BAD_REQUEST,
            "empty-package",
            "Empty package",
            "the request body is empty",
        ));
    }
    let size = body.len();
    let stored = bridge.clone();
    let sha = web::block(move || stored.add_package(body.to_vec()))
        .await
        .map_err(Problem::internal)?
        .map_err(Problem::internal)?;
    let uri = bridge.server().package_uri(&sha).map_err(Problem::internal)?;
    Ok(HttpResponse::Created()
        .insert_header(("Location", format!("/packages/{sha}")))
        .json(serde_json::json!({ "sha256": sha, "sizeBytes": size, "packageUri": uri })))
}

/// The body of `POST /deployments`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub(super) struct DeploymentBody {
    /// SHA-256 of a stored package.
    package: String,
    /// Device short names.
    devices: Vec<String>,
    /// `pull` (default) or `push`.
    #[serde(default)]
    method: Option<String>,
}

/// `POST /deployments`: delivers the package to every device and answers 200 with each
/// device's outcome once all are known (`installed` and `failed` count them); a request that
/// cannot start (unknown package, unregistered devices, bad JSON) is a problem instead.
pub(super) async fn deploy(state: web::Data<AppState>, payload: web::Payload) -> Result<HttpResponse, Problem> {
    let body = read_bytes(payload, state.config.max_body_bytes).await?;
    let bridge = bridge(&state)?.clone();
    let parsed: DeploymentBody = serde_json::from_slice(&body).map_err(|e| {
        Problem::new(
            StatusCode::BAD_REQUEST,
            "invalid-json",
            "Invalid deployment request",
            format!("line {} column {}: {e}", e.line(), e.column()),
        )
    })?;
    let method = match parsed.method.as_deref() {
        None | Some("pull") => DeliveryMethod::Pull,
        Some("push") => DeliveryMethod::Push,
        Some(other) => {
            return Err(Problem::new(
                StatusCode::BAD_REQUEST,
                "invalid-method",
                "Unknown delivery method",
                format!("method {other:?} is neither \"pull\" nor \"push\""),
            ))
        }
    };
    if parsed.devices.is_empty() {
        return Err(Problem::new(
            StatusCode::BAD_REQUEST,
            "no-devices",
            "No devices",
            "`devices` is empty",
        ));
    }
    if !bridge.has_package(&parsed.package) {
        return Err(Problem::new(
            StatusCode::NOT_FOUND,
            "unknown-package",
            "Unknown package",
            format!(
                "no package with SHA-256 {:?}; POST it to /packages first",
                parsed.package
            ),
        ));
    }
    let offline: Vec<&String> = parsed
        .devices
        .iter()
        .filter(|d| bridge.server().registration(d).is_none())
        .collect();
    if !offline.is_empty() {
        return Err(Problem::new(
            StatusCode::CONFLICT,
            "devices-not-registered",
            "Devices not registered",
            format!(
                "not registered over LwM2M: {}",
                offline.iter().map(|d| d.as_str()).collect::<Vec<_>>().join(", ")
            ),
        ));
    }
    let request = DeployRequest {
        sha256: parsed.package,
        devices: parsed.devices,
        method,
    };
    let results = bridge.deploy(&request).await;
    let installed = results.iter().filter(|r| r.installed).count();
    Ok(HttpResponse::Ok().json(serde_json::json!({
        "package": request.sha256,
        "installed": installed,
        "failed": results.len() - installed,
        "results": results,
    })))
}
