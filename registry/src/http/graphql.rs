//! `/graphql`: GraphQL over HTTP (POST JSON, GET with `?query=`), GraphiQL for browsers.

use actix_web::http::header;
use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use async_graphql::http::GraphiQLSource;

use super::problem::Problem;
use super::sparql::{media_type, read_body, token_status, TokenStatus};
use super::AppState;
use crate::graphql::{loaders, Authorized};

fn wants_html(req: &HttpRequest) -> bool {
    req.headers()
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|a| a.contains("text/html"))
}

pub(super) async fn get(req: HttpRequest, state: web::Data<AppState>) -> Result<HttpResponse, Problem> {
    if req.query_string().is_empty() && wants_html(&req) {
        return Ok(HttpResponse::Ok().content_type("text/html; charset=utf-8").body(
            GraphiQLSource::build()
                .endpoint("/graphql")
                .title("SEAM GraphQL")
                .finish(),
        ));
    }
    let request = async_graphql::http::parse_query_string(req.query_string()).map_err(|e| {
        Problem::new(
            StatusCode::BAD_REQUEST,
            "invalid-request",
            "Malformed GraphQL request",
            e.to_string(),
        )
    })?;
    // GET never mutates (GraphQL over HTTP): mutations must be POSTed.
    execute(&req, &state, request.data(GetRequest)).await
}

/// Marks a request that came by GET: mutations refuse to run in it.
#[derive(Debug, Clone, Copy)]
pub struct GetRequest;

pub(super) async fn post(
    req: HttpRequest,
    payload: web::Payload,
    state: web::Data<AppState>,
) -> Result<HttpResponse, Problem> {
    let body = read_body(payload, state.config.max_body_bytes).await?;
    let request: async_graphql::Request = match media_type(req.headers()).as_str() {
        "application/json" | "application/graphql-response+json" | "" => serde_json::from_str(&body).map_err(|e| {
            Problem::new(
                StatusCode::BAD_REQUEST,
                "invalid-request",
                "Malformed GraphQL request",
                format!("the body must be a GraphQL request object: {e}"),
            )
        })?,
        "application/graphql" => async_graphql::Request::new(body),
        other => {
            return Err(Problem::unsupported_media_type(
                "POST /graphql",
                "application/json or application/graphql",
                other,
            ))
        }
    };
    execute(&req, &state, request).await
}

async fn execute(
    req: &HttpRequest,
    state: &AppState,
    request: async_graphql::Request,
) -> Result<HttpResponse, Problem> {
    let authorized = match token_status(req, state) {
        TokenStatus::Valid => true,
        TokenStatus::Missing | TokenStatus::NotConfigured => false,
        TokenStatus::Invalid => return Err(Problem::unauthorized("the bearer token is not valid")),
    };
    let (boards, sensors, artifacts) = loaders(&state.registry);
    let request = request
        .data(Authorized(authorized))
        .data(boards)
        .data(sensors)
        .data(artifacts);
    let response = state.graphql.execute(request).await;
    Ok(HttpResponse::Ok().content_type("application/json").json(response))
}
