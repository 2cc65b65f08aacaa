//! `/graphql`: GraphQL over HTTP (POST JSON, GET with `?query=`), GraphiQL for browsers.

use actix_web::http::header;
use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};

use super::problem::Problem;
use super::sparql::{media_type, read_body, token_status, TokenStatus};
use super::AppState;

fn wants_html(req: &HttpRequest) -> bool {
    req.headers()
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|a| a.contains("text/html"))
}

pub(super) async fn get(req: HttpRequest, state: web::Data<AppState>) -> Result<HttpResponse, Problem> {
    if req.query_string().is_empty() && wants_html(&req) {
        return Ok(HttpResponse::Ok()
            .content_type("text/html; charset=utf-8")
            .body(GRAPHIQL_PAGE));
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

/// GraphiQL's page and assets, compiled in (`registry/assets/graphiql/`): the page loads nothing
/// from outside this service.
const GRAPHIQL_PAGE: &str = include_str!("../../assets/graphiql/index.html");
const GRAPHIQL_ASSETS: &[(&str, &str, &[u8])] = &[
    (
        "graphiql.min.js",
        "text/javascript; charset=utf-8",
        include_bytes!("../../assets/graphiql/graphiql.min.js"),
    ),
    (
        "graphiql.min.css",
        "text/css; charset=utf-8",
        include_bytes!("../../assets/graphiql/graphiql.min.css"),
    ),
    (
        "react.production.min.js",
        "text/javascript; charset=utf-8",
        include_bytes!("../../assets/graphiql/react.production.min.js"),
    ),
    (
        "react-dom.production.min.js",
        "text/javascript; charset=utf-8",
        include_bytes!("../../assets/graphiql/react-dom.production.min.js"),
    ),
    (
        "seam-graphiql.js",
        "text/javascript; charset=utf-8",
        include_bytes!("../../assets/graphiql/seam-graphiql.js"),
    ),
];

/// `GET /graphql/assets/{file}`: GraphiQL's scripts and styles.
pub(super) async fn asset(path: web::Path<String>) -> Result<HttpResponse, Problem> {
    let name = path.into_inner();
    let (_, content_type, bytes) = GRAPHIQL_ASSETS.iter().find(|(n, _, _)| *n == name).ok_or_else(|| {
        Problem::new(
            StatusCode::NOT_FOUND,
            "not-found",
            "No such resource",
            format!("GET /graphql/assets/{name} is not one of GraphiQL's files"),
        )
    })?;
    Ok(HttpResponse::Ok()
        .content_type(*content_type)
        // The files change only with the binary.
        .insert_header((header::CACHE_CONTROL, "public, max-age=86400"))
        .body(*bytes))
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
    let request = crate::graphql::prepare(request, &state.registry, authorized);
    let response = state.graphql.execute(request).await;
    Ok(HttpResponse::Ok().content_type("application/json").json(response))
}
