//! SPARQL 1.1 Protocol: `GET /sparql?query=`, `POST /sparql` (form or `application/sparql-query`),
//! `POST /update` (form or `application/sparql-update`, bearer token).

use actix_web::http::header::{self, HeaderMap};
use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};

use super::negotiate;
use super::problem::Problem;
use super::AppState;
use crate::answer::QueryAnswer;

/// The parameters of a protocol request, from the query string or a form body.
#[derive(Debug, Default)]
struct Params {
    query: Vec<String>,
    update: Vec<String>,
    dataset: bool,
}

/// Decodes `application/x-www-form-urlencoded` text (a query string or a form body).
pub(super) fn decode_pairs(encoded: &str) -> Result<Vec<(String, String)>, Problem> {
    serde_urlencoded::from_str(encoded).map_err(|e| {
        Problem::new(
            StatusCode::BAD_REQUEST,
            "invalid-request",
            "Malformed parameters",
            format!("cannot decode the parameters: {e}"),
        )
    })
}

fn parse_params(encoded: &str) -> Result<Params, Problem> {
    let pairs = decode_pairs(encoded)?;
    let mut p = Params::default();
    for (k, v) in pairs {
        match k.as_str() {
            "query" => p.query.push(v),
            "update" => p.update.push(v),
            "default-graph-uri" | "named-graph-uri" | "using-graph-uri" | "using-named-graph-uri" => p.dataset = true,
            _ => {}
        }
    }
    Ok(p)
}

pub(super) fn media_type(headers: &HeaderMap) -> String {
    crate::answer::media_type_essence(
        headers
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or(""),
    )
}

/// The request body as bytes, refused with 413 past `limit`.
pub(super) async fn read_bytes(payload: web::Payload, limit: usize) -> Result<web::Bytes, Problem> {
    payload
        .to_bytes_limited(limit)
        .await
        .map_err(|_| Problem::too_large(limit))?
        .map_err(|e| {
            Problem::new(
                StatusCode::BAD_REQUEST,
                "invalid-request",
                "Unreadable request body",
                e.to_string(),
            )
        })
}

pub(super) async fn read_body(payload: web::Payload, limit: usize) -> Result<String, Problem> {
    let bytes = read_bytes(payload, limit).await?;
    String::from_utf8(bytes.to_vec()).map_err(|_| {
        Problem::new(
            StatusCode::BAD_REQUEST,
            "invalid-request",
            "Request body is not UTF-8",
            "the request body must be UTF-8 text",
        )
    })
}

fn one(mut values: Vec<String>, name: &str) -> Result<String, Problem> {
    match values.len() {
        1 => Ok(values.remove(0)),
        0 => Err(Problem::new(
            StatusCode::BAD_REQUEST,
            "invalid-request",
            "Missing parameter",
            format!("the `{name}` parameter is required"),
        )),
        n => Err(Problem::new(
            StatusCode::BAD_REQUEST,
            "invalid-request",
            "Repeated parameter",
            format!("exactly one `{name}` parameter is allowed, {n} were given"),
        )),
    }
}

fn refuse_dataset(p: &Params) -> Result<(), Problem> {
    if p.dataset {
        return Err(Problem::new(
            StatusCode::BAD_REQUEST,
            "unsupported-parameter",
            "Dataset parameters are not supported",
            "default-graph-uri and named-graph-uri are not supported; use FROM / FROM NAMED in the query",
        ));
    }
    Ok(())
}

pub(super) async fn query_get(req: HttpRequest, state: web::Data<AppState>) -> Result<HttpResponse, Problem> {
    let params = parse_params(req.query_string())?;
    refuse_dataset(&params)?;
    let query = one(params.query, "query")?;
    answer(&req, &state, query).await
}

pub(super) async fn query_post(
    req: HttpRequest,
    payload: web::Payload,
    state: web::Data<AppState>,
) -> Result<HttpResponse, Problem> {
    let body = read_body(payload, state.config.max_body_bytes).await?;
    let url_params = parse_params(req.query_string())?;
    refuse_dataset(&url_params)?;
    let query = match media_type(req.headers()).as_str() {
        "application/sparql-query" => body,
        "application/x-www-form-urlencoded" => {
            let form = parse_params(&body)?;
            refuse_dataset(&form)?;
            one(form.query, "query")?
        }
        other => {
            return Err(Problem::unsupported_media_type(
                "POST /sparql",
                "application/sparql-query or application/x-www-form-urlencoded",
                other,
            ))
        }
    };
    answer(&req, &state, query).await
}

async fn answer(req: &HttpRequest, state: &AppState, query: String) -> Result<HttpResponse, Problem> {
    let registry = state.registry.clone();
    let limits = state.config.limits;
    let started = std::time::Instant::now();
    let result = web::block(move || registry.query(&query, &limits))
        .await
        .map_err(internal)?;
    state.metrics.query_observed("query", started.elapsed().as_secs_f64());
    respond(req, result?)
}

/// Serialises an answer in the format the request's `Accept` header prefers.
pub(super) fn respond(req: &HttpRequest, result: QueryAnswer) -> Result<HttpResponse, Problem> {
    let accept = req.headers().get(header::ACCEPT).and_then(|v| v.to_str().ok());
    let mut body = Vec::new();
    let content_type = match &result {
        QueryAnswer::Graph(_) => {
            let format = negotiate::graph_format(accept).ok_or_else(|| {
                not_acceptable(
                    "an RDF graph",
                    "text/turtle, application/n-triples, application/ld+json, application/rdf+xml",
                )
            })?;
            result.write_graph(format, &mut body).map_err(internal)?;
            format.media_type()
        }
        _ => {
            let (format, media_type) = negotiate::results_media(accept).ok_or_else(|| not_acceptable("SPARQL results", "application/sparql-results+json, application/sparql-results+xml, text/csv, text/tab-separated-values"))?;
            result.write_results(format, &mut body).map_err(internal)?;
            media_type
        }
    };
    Ok(HttpResponse::Ok().content_type(content_type).body(body))
}

pub(super) async fn update(
    req: HttpRequest,
    payload: web::Payload,
    state: web::Data<AppState>,
) -> Result<HttpResponse, Problem> {
    let body = read_body(payload, state.config.max_body_bytes).await?;
    let update = match media_type(req.headers()).as_str() {
        "application/sparql-update" => body,
        "application/x-www-form-urlencoded" => {
            let form = parse_params(&body)?;
            refuse_dataset(&form)?;
            one(form.update, "update")?
        }
        other => {
            return Err(Problem::unsupported_media_type(
                "POST /update",
                "application/sparql-update or application/x-www-form-urlencoded",
                other,
            ))
        }
    };
    let registry = state.registry.clone();
    let limits = state.config.limits;
    let started = std::time::Instant::now();
    let done = web::block(move || registry.update_within(&update, &limits))
        .await
        .map_err(internal)?;
    state.metrics.query_observed("update", started.elapsed().as_secs_f64());
    done?;
    Ok(HttpResponse::NoContent().finish())
}

/// The credentials of an `Authorization: Bearer <token>` value. The scheme is matched without
/// regard to case (RFC 9110 §11.1) and may be followed by any run of spaces.
pub(super) fn bearer_token(value: &str) -> Option<&str> {
    let (scheme, rest) = value.trim_start().split_once([' ', '\t'])?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| rest.trim())
        .filter(|t| !t.is_empty())
}

fn not_acceptable(what: &str, offered: &str) -> Problem {
    Problem::new(
        StatusCode::NOT_ACCEPTABLE,
        "not-acceptable",
        "No acceptable representation",
        format!("{what} can be returned as {offered}"),
    )
}

fn internal(e: impl std::fmt::Display) -> Problem {
    Problem::internal(e)
}

#[cfg(test)]
mod tests {
    use super::bearer_token;

    #[test]
    fn the_bearer_scheme_is_case_insensitive() {
        for value in ["Bearer t0k", "bearer t0k", "BEARER   t0k ", "bEaReR\tt0k"] {
            assert_eq!(bearer_token(value), Some("t0k"), "{value:?}");
        }
        for value in ["Basic t0k", "Bearer", "Bearer   ", "Bearert0k"] {
            assert_eq!(bearer_token(value), None, "{value:?}");
        }
    }
}
