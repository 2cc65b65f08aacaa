//! `POST /devices/credentials` and `DELETE /devices/credentials/{endpoint}`: devices' DTLS
//! keys, kept in the data folder's secret file. The key goes in and never comes out: the
//! answer names the endpoint and identity only, and no route reads keys.

use actix_web::http::StatusCode;
use actix_web::{web, HttpResponse};

use super::problem::Problem;
use super::sparql::read_body;
use super::AppState;
use crate::access::{CredentialFile, SecretFileError};

#[derive(serde::Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct NewCredential {
    endpoint: String,
    identity: String,
    key_hex: String,
}

fn refusal(e: SecretFileError) -> Problem {
    match e {
        SecretFileError::Refused(detail) => Problem::new(
            StatusCode::BAD_REQUEST,
            "invalid-credential",
            "Invalid credential",
            detail,
        ),
        other => Problem::internal(other),
    }
}

pub(super) async fn add(state: web::Data<AppState>, payload: web::Payload) -> Result<HttpResponse, Problem> {
    let body = read_body(payload, 64 * 1024).await?;
    let new: NewCredential = serde_json::from_str(&body).map_err(|e| {
        Problem::new(
            StatusCode::BAD_REQUEST,
            "invalid-request",
            "Malformed credential",
            format!(
                "line {} column {}: the body is {{\"endpoint\", \"identity\", \"keyHex\"}}: {}",
                e.line(),
                e.column(),
                // serde's message may quote a value; never a key's.
                if matches!(e.classify(), serde_json::error::Category::Data) {
                    "a member is missing, unknown or not a string".to_owned()
                } else {
                    e.to_string()
                }
            ),
        )
    })?;
    let file = CredentialFile::at(state.data.credentials());
    let endpoint = new.endpoint.clone();
    let identity = new.identity.clone();
    let replaced = web::block(move || file.add_psk(&new.endpoint, &new.identity, &new.key_hex))
        .await
        .map_err(Problem::internal)?
        .map_err(refusal)?;
    tracing::info!(target: "seam", %endpoint, %identity, replaced, "device credentials provisioned");
    let status = if replaced { StatusCode::OK } else { StatusCode::CREATED };
    Ok(HttpResponse::build(status).json(serde_json::json!({
        "endpoint": endpoint,
        "identity": identity,
        "replaced": replaced,
    })))
}

pub(super) async fn remove(state: web::Data<AppState>, path: web::Path<String>) -> Result<HttpResponse, Problem> {
    let endpoint = path.into_inner();
    let file = CredentialFile::at(state.data.credentials());
    let name = endpoint.clone();
    web::block(move || file.remove(&name))
        .await
        .map_err(Problem::internal)?
        .map_err(|e| match e {
            SecretFileError::Refused(detail) => {
                Problem::new(StatusCode::NOT_FOUND, "not-found", "No such credential", detail)
            }
            other => Problem::internal(other),
        })?;
    tracing::info!(target: "seam", %endpoint, "device credentials removed");
    Ok(HttpResponse::NoContent().finish())
}
