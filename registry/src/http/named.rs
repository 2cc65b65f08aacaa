//! `GET /queries` (the named queries with their parameters), `GET,POST /queries/{name}` (run one,
//! parameters bound as typed terms) and `GET /match/{device}` (the matching report as JSON).

use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};

use super::problem::Problem;
use super::sparql::{decode_pairs, media_type, read_body, respond};
use super::AppState;
use crate::matching::{self, MatchOptions};
use crate::named::{self, NamedQuery};

fn catalog() -> Result<Vec<NamedQuery>, Problem> {
    named::all().map_err(|e| {
        Problem::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            "Broken named query",
            e.to_string(),
        )
    })
}

pub(super) async fn list() -> Result<HttpResponse, Problem> {
    Ok(HttpResponse::Ok().json(catalog()?))
}

pub(super) async fn run_get(
    req: HttpRequest,
    path: web::Path<String>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, Problem> {
    let given = decode_pairs(req.query_string())?;
    run(&req, &state, &path, given).await
}

pub(super) async fn run_post(
    req: HttpRequest,
    path: web::Path<String>,
    payload: web::Payload,
    state: web::Data<AppState>,
) -> Result<HttpResponse, Problem> {
    let body = read_body(payload, state.config.max_body_bytes).await?;
    let mut given = decode_pairs(req.query_string())?;
    match media_type(req.headers()).as_str() {
        "application/x-www-form-urlencoded" | "" => given.extend(decode_pairs(&body)?),
        "application/json" => {
            let object: serde_json::Map<String, serde_json::Value> = serde_json::from_str(&body).map_err(|e| {
                Problem::new(
                    StatusCode::BAD_REQUEST,
                    "invalid-request",
                    "Malformed JSON",
                    format!("the body must be a JSON object of parameters: {e}"),
                )
            })?;
            for (k, v) in object {
                let value = match v {
                    serde_json::Value::String(s) => s,
                    serde_json::Value::Number(n) => n.to_string(),
                    serde_json::Value::Bool(b) => b.to_string(),
                    other => {
                        return Err(Problem::invalid_parameter(format!(
                            "parameter `{k}` must be a string, number or boolean, not {other}"
                        )))
                    }
                };
                given.push((k, value));
            }
        }
        other => {
            return Err(Problem::unsupported_media_type(
                "POST /queries/{name}",
                "application/x-www-form-urlencoded or application/json",
                other,
            ))
        }
    }
    run(&req, &state, &path, given).await
}

async fn run(
    req: &HttpRequest,
    state: &AppState,
    name: &str,
    given: Vec<(String, String)>,
) -> Result<HttpResponse, Problem> {
    let query = catalog()?.into_iter().find(|q| q.name == name).ok_or_else(|| {
        Problem::new(
            StatusCode::NOT_FOUND,
            "unknown-query",
            "No such named query",
            format!("there is no named query `{name}` (GET /queries lists them)"),
        )
    })?;
    // The query itself, for an editor (the web page's "open in editor"): its text with the
    // prefixes it uses declared, so that it runs as it is on /sparql.
    let wants_text = req
        .headers()
        .get(actix_web::http::header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|a| a.trim() == "application/sparql-query");
    if wants_text {
        return Ok(HttpResponse::Ok()
            .content_type("application/sparql-query; charset=utf-8")
            .body(format!(
                "{}\n{}",
                crate::vocab::sparql_prefixes(),
                query.text.trim_start()
            )));
    }
    let registry = state.registry.clone();
    let limits = state.config.limits;
    let started = std::time::Instant::now();
    let answer = web::block(move || {
        let resolver = |short: &str| registry.device_by_short_name(short).ok().flatten();
        let bindings = query
            .bind(&given, &resolver)
            .map_err(|e| Problem::invalid_parameter(e.to_string()))?;
        registry.query_named(&query, bindings, &limits).map_err(Problem::from)
    })
    .await
    .map_err(Problem::internal)?;
    state.metrics.query_observed("named", started.elapsed().as_secs_f64());
    respond(req, answer?)
}

/// `GET /match/{device}?explain=true&headroomPct=10&latencyBudgetMs=50`
pub(super) async fn match_device(
    req: HttpRequest,
    path: web::Path<String>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, Problem> {
    let mut explain = false;
    let mut opts = MatchOptions::default();
    let bad = |name: &str, value: &str, what: &str| {
        Problem::invalid_parameter(format!("parameter `{name}`: {value:?} is not {what}"))
    };
    for (k, v) in decode_pairs(req.query_string())? {
        match k.as_str() {
            "explain" => explain = v.parse().map_err(|_| bad(&k, &v, "true or false"))?,
            "headroomPct" => opts.headroom_pct = v.parse().map_err(|_| bad(&k, &v, "a non-negative integer"))?,
            "latencyBudgetMs" => {
                let ms: f64 = v.parse().map_err(|_| bad(&k, &v, "a number"))?;
                if !(ms.is_finite() && ms > 0.0) {
                    return Err(bad(&k, &v, "a positive number of milliseconds"));
                }
                opts.latency_budget_s = Some(ms / 1e3);
            }
            other => {
                return Err(Problem::unknown_parameter(format!(
                    "unknown parameter `{other}` (this endpoint takes explain, headroomPct, latencyBudgetMs)"
                )))
            }
        }
    }
    let opts = MatchOptions::checked(opts.headroom_pct, opts.latency_budget_s).map_err(Problem::invalid_parameter)?;
    let index = state.fleet.clone();
    let device = crate::vocab::expand(&path);
    let report = web::block(move || {
        index
            .fleet()
            .map(|fleet| matching::match_device(&fleet, &device, &opts, explain))
    })
    .await
    .map_err(Problem::internal)?
    .map_err(Problem::from)?;
    match report {
        Some(r) => Ok(HttpResponse::Ok().json(r)),
        None => Err(Problem::new(
            StatusCode::NOT_FOUND,
            "unknown-device",
            "No such device",
            format!(
                "there is no device or board {:?} (give a device's IRI, prefixed name or short name, or a board's IRI or catalog name)",
                path.as_str()
            ),
        )),
    }
}
