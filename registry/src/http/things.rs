//! The Thing Description Directory API (W3C WoT Discovery): `/things` and `/things/{id}`,
//! `/search/sparql`, and `/.well-known/wot` (the directory's own TD). Writes need the token;
//! reads are open. An invalid TD is a 400 problem with `validationErrors`, and nothing is stored.

use actix_web::http::header;
use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use serde_json::{json, Value};

use super::problem::Problem;
use super::sparql::{decode_pairs, media_type, read_body};
use super::AppState;
use crate::directory::{Directory, DirectoryError};

const TD_JSON: &str = "application/td+json";

/// Most TDs one listing page holds.
const MOST_PER_PAGE: usize = 500;

fn problem(e: DirectoryError) -> Problem {
    match e {
        DirectoryError::Invalid(violations) => Problem::new(
            StatusCode::BAD_REQUEST,
            "invalid-thing-description",
            "Invalid Thing Description",
            DirectoryError::Invalid(violations.clone()).to_string(),
        )
        .with(
            "validationErrors",
            Value::Array(
                violations
                    .iter()
                    .map(|v| {
                        json!({
                            "field": if v.path.is_empty() { "/" } else { v.path.as_str() },
                            "constraint": v.constraint,
                            "description": v.message,
                        })
                    })
                    .collect(),
            ),
        ),
        DirectoryError::NotFound(id) => Problem::new(
            StatusCode::NOT_FOUND,
            "not-found",
            "No such Thing Description",
            format!("no Thing Description has the id {id}"),
        ),
        DirectoryError::Conflict(detail) => Problem::new(
            StatusCode::BAD_REQUEST,
            "invalid-thing-description",
            "Invalid Thing Description",
            detail,
        ),
        DirectoryError::Ingest(e) => Problem::from(e),
    }
}

fn directory(state: &AppState) -> Directory {
    Directory::new(state.registry.clone(), state.directory_events.clone())
}

/// Most event streams open at once: each holds a connection and a receiver; a flood of
/// subscribers gets 503s, not the memory.
const MOST_EVENT_STREAMS: usize = 256;

/// One event in the SSE format.
fn sse(event: &crate::directory::DirectoryEvent, with_diff: bool) -> actix_web::web::Bytes {
    let mut data = serde_json::Map::new();
    data.insert("id".into(), Value::String(event.id.clone()));
    if with_diff {
        if let Some(Value::Object(diff)) = &event.diff {
            for (k, v) in diff {
                if k != "id" {
                    data.insert(k.clone(), v.clone());
                }
            }
        }
    }
    actix_web::web::Bytes::from(format!(
        "id: {}\nevent: {}\ndata: {}\n\n",
        event.number,
        event.kind.as_str(),
        Value::Object(data)
    ))
}

/// Counts an open event stream; uncounted when the stream is dropped (the client went away).
/// `GET /events` and `GET /events/{thing_created|thing_updated|thing_deleted}`: Server-Sent
/// Events, `?diff=true` for the TD created or the merge patch of an update, `Last-Event-ID` to
/// resume (from the last 1,024 events).
pub(super) async fn events(req: HttpRequest, state: web::Data<AppState>) -> Result<HttpResponse, Problem> {
    let kind = req.match_info().get("kind").map(str::to_owned);
    if let Some(k) = &kind {
        if !["thing_created", "thing_updated", "thing_deleted"].contains(&k.as_str()) {
            return Err(Problem::new(
                StatusCode::NOT_FOUND,
                "not-found",
                "No such event type",
                format!("{k} is not an event type (thing_created, thing_updated, thing_deleted)"),
            ));
        }
    }
    let mut with_diff = false;
    for (key, value) in decode_pairs(req.query_string())? {
        match (key.as_str(), value.as_str()) {
            ("diff", "true") => with_diff = true,
            ("diff", "false") => with_diff = false,
            _ => {
                return Err(Problem::unknown_parameter(format!(
                    "unknown parameter {key}={value:?} (diff=true|false)"
                )))
            }
        }
    }
    let last = match req.headers().get("Last-Event-ID").and_then(|v| v.to_str().ok()) {
        Some(v) => Some(v.trim().parse::<u64>().map_err(|_| {
            Problem::invalid_parameter(format!("Last-Event-ID {v:?} is not an event number of this directory"))
        })?),
        None => None,
    };
    let slot = super::Slot::take(&state.event_streams, MOST_EVENT_STREAMS).ok_or_else(|| {
        Problem::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "busy",
            "Too many event streams",
            format!("{MOST_EVENT_STREAMS} event streams are open; try again later"),
        )
    })?;
    let (replay, receiver) = state.directory_events.subscribe(last);
    let wanted = move |e: &crate::directory::DirectoryEvent| kind.as_deref().is_none_or(|k| k == e.kind.as_str());
    let replayed: Vec<actix_web::web::Bytes> = replay.iter().filter(|e| wanted(e)).map(|e| sse(e, with_diff)).collect();
    let live = async_graphql::futures_util::stream::unfold((receiver, slot), move |(mut receiver, slot)| {
        let wanted = wanted.clone();
        async move {
            loop {
                match receiver.recv().await {
                    Ok(e) if wanted(&e) => {
                        return Some((Ok::<_, actix_web::Error>(sse(&e, with_diff)), (receiver, slot)))
                    }
                    Ok(_) | Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => continue,
                    Err(tokio::sync::broadcast::error::RecvError::Closed) => return None,
                }
            }
        }
    });
    // A comment first, so that a client knows the stream is open before any event.
    let opening = async_graphql::futures_util::stream::iter(
        std::iter::once(actix_web::web::Bytes::from_static(b": SEAM directory events\n\n"))
            .chain(replayed)
            .map(Ok::<_, actix_web::Error>),
    );
    Ok(HttpResponse::Ok()
        .content_type("text/event-stream")
        .insert_header((header::CACHE_CONTROL, "no-cache"))
        .streaming(async_graphql::futures_util::StreamExt::chain(opening, live)))
}

fn td_body(req: &HttpRequest) -> Result<(), Problem> {
    match media_type(req.headers()).as_str() {
        "application/td+json" | "application/json" | "application/ld+json" | "" => Ok(()),
        other => Err(Problem::unsupported_media_type(
            "a Thing Description",
            "application/td+json",
            other,
        )),
    }
}

/// `POST /things`: an anonymous TD; answers 201 with its new `urn:uuid:` id as the `Location`.
pub(super) async fn create(
    req: HttpRequest,
    state: web::Data<AppState>,
    payload: web::Payload,
) -> Result<HttpResponse, Problem> {
    td_body(&req)?;
    let body = read_body(payload, state.config.max_body_bytes).await?;
    let dir = directory(&state);
    let put = web::block(move || dir.put(None, &body, true))
        .await
        .map_err(Problem::internal)?
        .map_err(problem)?;
    // The Location is the new id itself, as WoT Discovery clients read it (the W3C TDD test
    // suite and Eclipse Thingweb's domus-tdd-api): `GET /things/{that id}` reads the TD back.
    Ok(HttpResponse::Created()
        .insert_header((header::LOCATION, put.id.as_str()))
        .finish())
}

/// `PUT /things/{id}`: creates (201) or replaces (204) the TD of `id`.
pub(super) async fn put(
    req: HttpRequest,
    path: web::Path<String>,
    state: web::Data<AppState>,
    payload: web::Payload,
) -> Result<HttpResponse, Problem> {
    td_body(&req)?;
    let id = path.into_inner();
    let body = read_body(payload, state.config.max_body_bytes).await?;
    let dir = directory(&state);
    let put = web::block(move || dir.put(Some(&id), &body, false))
        .await
        .map_err(Problem::internal)?
        .map_err(problem)?;
    Ok(if put.created {
        HttpResponse::Created()
            .insert_header((header::LOCATION, put.id.as_str()))
            .finish()
    } else {
        HttpResponse::NoContent().finish()
    })
}

/// `GET /things/{id}` (and HEAD): the TD as stored, with its registration information.
pub(super) async fn get(path: web::Path<String>, state: web::Data<AppState>) -> Result<HttpResponse, Problem> {
    let id = path.into_inner();
    let dir = directory(&state);
    let wanted = id.clone();
    let td = web::block(move || dir.get(&wanted))
        .await
        .map_err(Problem::internal)?
        .map_err(problem)?
        .ok_or_else(|| problem(DirectoryError::NotFound(id)))?;
    Ok(HttpResponse::Ok().content_type(TD_JSON).json(td))
}

/// `PATCH /things/{id}`: a JSON merge patch (`application/merge-patch+json`); 204.
pub(super) async fn patch(
    req: HttpRequest,
    path: web::Path<String>,
    state: web::Data<AppState>,
    payload: web::Payload,
) -> Result<HttpResponse, Problem> {
    let kind = media_type(req.headers());
    if kind != "application/merge-patch+json" {
        return Err(Problem::unsupported_media_type(
            "PATCH /things/{id}",
            "application/merge-patch+json",
            &kind,
        ));
    }
    let body = read_body(payload, state.config.max_body_bytes).await?;
    let patch: Value = serde_json::from_str(&body).map_err(|e| {
        Problem::new(
            StatusCode::BAD_REQUEST,
            "invalid-request",
            "Malformed JSON",
            format!("the merge patch is not JSON: {e}"),
        )
    })?;
    let id = path.into_inner();
    let dir = directory(&state);
    web::block(move || dir.patch(&id, &patch))
        .await
        .map_err(Problem::internal)?
        .map_err(problem)?;
    Ok(HttpResponse::NoContent().finish())
}

/// `DELETE /things/{id}`: the TD and its graph; 204.
pub(super) async fn delete(path: web::Path<String>, state: web::Data<AppState>) -> Result<HttpResponse, Problem> {
    let id = path.into_inner();
    let dir = directory(&state);
    web::block(move || dir.delete(&id))
        .await
        .map_err(Problem::internal)?
        .map_err(problem)?;
    Ok(HttpResponse::NoContent().finish())
}

/// `GET /things?offset=&limit=` (and HEAD): the TDs in id order, as a JSON array, with a
/// `Link` to the next page and the canonical one, and the total in `X-Total-Count`.
pub(super) async fn list(req: HttpRequest, state: web::Data<AppState>) -> Result<HttpResponse, Problem> {
    let (mut offset, mut limit) = (0usize, 100usize);
    for (key, value) in decode_pairs(req.query_string())? {
        let number = || {
            value
                .parse::<usize>()
                .map_err(|_| Problem::invalid_parameter(format!("{key} {value:?} is not a non-negative integer")))
        };
        match key.as_str() {
            "offset" => offset = number()?,
            "limit" => limit = number()?.min(MOST_PER_PAGE),
            "format" if value == "array" => {}
            other => {
                return Err(Problem::unknown_parameter(format!(
                    "unknown parameter {other:?} (offset, limit, format=array)"
                )))
            }
        }
    }
    let dir = directory(&state);
    let (page, total) = web::block(move || dir.list(offset, limit))
        .await
        .map_err(Problem::internal)?
        .map_err(problem)?;
    let mut links = vec![format!("</things?offset={offset}&limit={limit}>; rel=\"canonical\"")];
    if offset + page.len() < total {
        links.push(format!(
            "</things?offset={}&limit={limit}>; rel=\"next\"",
            offset + page.len()
        ));
    }
    Ok(HttpResponse::Ok()
        .content_type("application/ld+json")
        .insert_header((header::LINK, links.join(", ")))
        .insert_header(("X-Total-Count", total.to_string()))
        .json(page))
}

/// `GET /.well-known/wot`: the directory's own TD, made from the W3C directory Thing Model (its
/// affordances are this API).
pub(super) async fn well_known(req: HttpRequest, state: web::Data<AppState>) -> Result<HttpResponse, Problem> {
    let base = format!("{}://{}", req.connection_info().scheme(), req.connection_info().host());
    let td = crate::directory::description::describe(&base, state.policy.reads()).map_err(Problem::internal)?;
    Ok(HttpResponse::Ok().content_type(TD_JSON).json(td))
}
