//! The HTTP service (actix-web): SPARQL 1.1 Protocol query and update, health.
//!
//! Only this module knows HTTP. Handlers parse the request at the edge, run store work on the
//! blocking pool (`web::block`, since Oxigraph is synchronous), and map every error to an
//! RFC 9457 problem in one place ([`problem::Problem`]).

mod compile;
mod deploy;
pub mod graphql;
mod models;
mod named;
pub mod negotiate;
mod page;
pub mod problem;
mod rollouts;
mod sparql;
mod things;

use std::net::SocketAddr;
use std::time::Instant;

use actix_web::dev::{Server, Service as _};
use actix_web::http::StatusCode;
use actix_web::{web, App, HttpResponse, HttpServer};

use crate::data_dir::DataDir;
use crate::graph::{QueryLimits, Registry};
use crate::matching::FleetIndex;
use problem::Problem;

/// How the service behaves.
#[derive(Debug, Clone)]
pub struct ServiceConfig {
    /// Bearer token required for writes; `None` refuses every write.
    pub token: Option<String>,
    /// Limits of every query.
    pub limits: QueryLimits,
    /// Largest accepted request body, in bytes.
    pub max_body_bytes: usize,
    /// Worker threads (0: one per core).
    pub workers: usize,
    /// The LwM2M bridge, when the service runs its LwM2M server (packages and deployments).
    pub lwm2m: Option<crate::live::Lwm2mBridge>,
    /// The data folder (signing key, compile cache, model files); `None`: a scratch folder
    /// made for this service (an in-memory registry).
    pub data: Option<DataDir>,
    /// The rollouts, when the service runs them (it needs its LwM2M server).
    pub rollouts: Option<crate::rollout::Rollouts>,
    /// The Thing Description Directory's events, when something besides the HTTP service
    /// changes the directory (the purge of expired TDs); `None`: the service makes its own.
    pub directory_events: Option<std::sync::Arc<crate::directory::Events>>,
    /// The metrics, when something besides the HTTP service counts into them (the LwM2M
    /// bridge); `None`: the service makes its own.
    pub metrics: Option<std::sync::Arc<crate::metrics::Metrics>>,
}

impl Default for ServiceConfig {
    fn default() -> Self {
        Self {
            token: None,
            limits: QueryLimits::default(),
            max_body_bytes: 8 * 1024 * 1024,
            workers: 0,
            lwm2m: None,
            data: None,
            rollouts: None,
            directory_events: None,
            metrics: None,
        }
    }
}

/// Shared state of the handlers.
pub(crate) struct AppState {
    pub(crate) registry: Registry,
    pub(crate) fleet: FleetIndex,
    /// Where the signing key, the compile cache and model files live.
    pub(crate) data: DataDir,
    pub(crate) config: ServiceConfig,
    pub(crate) graphql: crate::graphql::SeamSchema,
    /// The Thing Description Directory's events (one stream for every worker).
    pub(crate) directory_events: std::sync::Arc<crate::directory::Events>,
    /// Event streams open now, bounded.
    pub(crate) event_streams: std::sync::Arc<std::sync::atomic::AtomicUsize>,
    /// Requests and their latency, for `GET /metrics`.
    pub(crate) metrics: std::sync::Arc<crate::metrics::Metrics>,
}

/// Binds the service over the registry `fleet` indexes on `addr` (use port 0 for an ephemeral
/// port) and returns the server (to be awaited or spawned) and the address it listens on.
pub fn bind(fleet: FleetIndex, config: ServiceConfig, addr: &str) -> std::io::Result<(Server, SocketAddr)> {
    let workers = config.workers;
    let registry = fleet.registry().clone();
    let graphql = crate::graphql::schema(fleet.clone(), config.rollouts.clone());
    let data = match &config.data {
        Some(data) => data.clone(),
        None => DataDir::scratch()?,
    };
    let state = web::Data::new(AppState {
        registry,
        fleet,
        data,
        graphql,
        directory_events: config.directory_events.clone().unwrap_or_default(),
        event_streams: std::sync::Arc::default(),
        metrics: config.metrics.clone().unwrap_or_default(),
        config,
    });
    let mut server = HttpServer::new(move || {
        let body_limit = state.config.max_body_bytes;
        let metrics = state.metrics.clone();
        App::new()
            .app_data(state.clone())
            .wrap_fn(move |req, srv| {
                // A body declared larger than the limit is refused before a byte of it is read
                // (a client announcing 10^11 bytes must not hold a worker while it trickles).
                let declared = req
                    .headers()
                    .get(actix_web::http::header::CONTENT_LENGTH)
                    .and_then(|v| v.to_str().ok())
                    .and_then(|v| v.trim().parse::<u64>().ok());
                let refused = declared.is_some_and(|n| n > body_limit as u64);
                let (early, call) = if refused {
                    (Some(req), None)
                } else {
                    (None, Some(srv.call(req)))
                };
                async move {
                    if let Some(req) = early {
                        let response = actix_web::ResponseError::error_response(&Problem::too_large(body_limit));
                        return Ok(req.into_response(response));
                    }
                    let Some(call) = call else {
                        return Err(actix_web::error::ErrorInternalServerError("no request"));
                    };
                    let res = call.await?.map_into_boxed_body();
                    Ok(problem_for_bare_errors(res))
                }
            })
            .wrap_fn(move |req, srv| {
                let started = Instant::now();
                let method = req.method().clone();
                let path = req.path().to_owned();
                let fut = srv.call(req);
                let metrics = metrics.clone();
                async move {
                    let res = fut.await?;
                    metrics.observe(
                        method.as_str(),
                        res.request().match_pattern().as_deref(),
                        res.status().as_u16(),
                        started.elapsed().as_secs_f64(),
                    );
                    tracing::info!(
                        target: "seam::http",
                        %method, %path, status = res.status().as_u16(),
                        micros = started.elapsed().as_micros() as u64,
                        "request"
                    );
                    Ok(res)
                }
            })
            .service(
                web::resource("/")
                    .route(web::get().to(page::index))
                    .route(web::head().to(page::index)),
            )
            .service(
                web::resource("/ui/{file}")
                    .route(web::get().to(page::asset))
                    .route(web::head().to(page::asset)),
            )
            .service(
                web::resource("/things")
                    .route(web::get().to(things::list))
                    .route(web::head().to(things::list))
                    .route(web::post().to(things::create)),
            )
            .service(
                web::resource("/things/{id:.*}")
                    .route(web::get().to(things::get))
                    .route(web::head().to(things::get))
                    .route(web::put().to(things::put))
                    .route(web::patch().to(things::patch))
                    .route(web::delete().to(things::delete)),
            )
            .route("/events", web::get().to(things::events))
            .route("/events/{kind}", web::get().to(things::events))
            .service(
                web::resource("/search/sparql")
                    .route(web::get().to(sparql::query_get))
                    .route(web::head().to(sparql::query_get))
                    .route(web::post().to(sparql::query_post)),
            )
            .service(
                web::resource("/.well-known/wot")
                    .route(web::get().to(things::well_known))
                    .route(web::head().to(things::well_known)),
            )
            .route("/health", web::get().to(health))
            .route("/metrics", web::get().to(serve_metrics))
            .service(
                web::resource("/sparql")
                    .route(web::get().to(sparql::query_get))
                    .route(web::post().to(sparql::query_post)),
            )
            .service(web::resource("/update").route(web::post().to(sparql::update)))
            .route("/queries", web::get().to(named::list))
            .service(
                web::resource("/queries/{name}")
                    .route(web::get().to(named::run_get))
                    .route(web::post().to(named::run_post)),
            )
            .route("/match/{device}", web::get().to(named::match_device))
            .route("/packages", web::post().to(deploy::add_package))
            .route("/models", web::post().to(models::add_model))
            .service(
                web::resource("/compile")
                    .route(web::get().to(compile::list))
                    .route(web::post().to(compile::compile)),
            )
            .route("/compilations", web::post().to(compile::compilations))
            .route("/deployments", web::post().to(deploy::deploy))
            .service(
                web::resource("/rollouts")
                    .route(web::get().to(rollouts::list))
                    .route(web::post().to(rollouts::start)),
            )
            .route("/rollouts/{id}", web::get().to(rollouts::get))
            .route("/rollouts/{id}/{action}", web::post().to(rollouts::act))
            .service(
                web::resource("/graphql")
                    .route(web::get().to(graphql::get))
                    .route(web::post().to(graphql::post)),
            )
            .route("/graphql/ws", web::get().to(graphql::ws))
            .route("/graphql/assets/{file}", web::get().to(graphql::asset))
            .default_service(web::to(not_found))
    })
    .disable_signals();
    if workers > 0 {
        server = server.workers(workers);
    }
    let server = server.bind(addr)?;
    let local = server
        .addrs()
        .first()
        .copied()
        .ok_or_else(|| std::io::Error::other("the server bound no address"))?;
    Ok((server.run(), local))
}

/// Gives the errors actix-web answers by itself (a method a resource does not take) the same
/// RFC 9457 body as SEAM's own.
fn problem_for_bare_errors(
    res: actix_web::dev::ServiceResponse<actix_web::body::BoxBody>,
) -> actix_web::dev::ServiceResponse<actix_web::body::BoxBody> {
    if res.status() != StatusCode::METHOD_NOT_ALLOWED
        || res.headers().contains_key(actix_web::http::header::CONTENT_TYPE)
    {
        return res;
    }
    let detail = format!(
        "{} {} is not supported; the README lists the methods each path takes",
        res.request().method(),
        res.request().path()
    );
    let problem = Problem::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "method-not-allowed",
        "Method not allowed",
        detail,
    );
    res.into_response(actix_web::ResponseError::error_response(&problem))
}

async fn health(state: web::Data<AppState>) -> Result<HttpResponse, Problem> {
    let registry = state.registry.clone();
    let triples = web::block(move || registry.len())
        .await
        .map_err(Problem::internal)?
        .map_err(|e| {
            Problem::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "storage",
                "Storage failure",
                e.to_string(),
            )
        })?;
    Ok(HttpResponse::Ok().json(serde_json::json!({
        "status": "ok",
        "version": env!("CARGO_PKG_VERSION"),
        "triples": triples,
        "writable": state.config.token.is_some(),
    })))
}

/// `GET /metrics`: OpenMetrics text for Prometheus.
async fn serve_metrics(state: web::Data<AppState>) -> Result<HttpResponse, Problem> {
    let registry = state.registry.clone();
    let quads = web::block(move || registry.len())
        .await
        .map_err(Problem::internal)?
        .map_err(Problem::internal)?;
    let streams = state.event_streams.load(std::sync::atomic::Ordering::SeqCst);
    let text = state.metrics.render(quads, streams).map_err(Problem::internal)?;
    Ok(HttpResponse::Ok()
        .content_type("application/openmetrics-text; version=1.0.0; charset=utf-8")
        .body(text))
}

async fn not_found(req: actix_web::HttpRequest) -> Result<HttpResponse, Problem> {
    Err(Problem::new(
        StatusCode::NOT_FOUND,
        "not-found",
        "No such resource",
        format!("{} {} is not a SEAM endpoint", req.method(), req.path()),
    ))
}
