//! The HTTP service (actix-web): SPARQL 1.1 Protocol query and update, health.
//!
//! Only this module knows HTTP. Handlers parse the request at the edge, run store work on the
//! blocking pool (`web::block`, since Oxigraph is synchronous), and map every error to an
//! RFC 9457 problem in one place ([`problem::Problem`]).

mod compile;
mod credentials;
mod deploy;
pub mod graphql;
mod models;
mod named;
pub mod negotiate;
mod openapi;
mod page;
pub mod problem;
mod rollouts;
pub mod routes;
mod sparql;
mod store;
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
    /// A token given at start (`--token`), with every scope; besides it, the tokens of
    /// `tokens_file`. With neither, every write is refused.
    pub token: Option<String>,
    /// The token file (`seam tokens`), re-read when it changes; `None`: the data folder's,
    /// when the service has a data folder of its own.
    pub tokens_file: Option<std::path::PathBuf>,
    /// Whether reads need a token.
    pub reads: crate::access::Reads,
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
    /// How `/metrics` reads what the memory allocator holds: the binary knows its allocator
    /// (`seam` reads jemalloc's statistics); `None`: not reported.
    pub heap: Option<fn() -> Option<crate::metrics::HeapReading>>,
}

impl Default for ServiceConfig {
    fn default() -> Self {
        Self {
            token: None,
            tokens_file: None,
            reads: crate::access::Reads::Open,
            limits: QueryLimits::default(),
            max_body_bytes: 8 * 1024 * 1024,
            workers: 0,
            lwm2m: None,
            data: None,
            rollouts: None,
            directory_events: None,
            metrics: None,
            heap: None,
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
    /// GraphQL WebSocket connections open now, bounded.
    pub(crate) graphql_sockets: std::sync::Arc<std::sync::atomic::AtomicUsize>,
    /// Requests and their latency, for `GET /metrics`.
    pub(crate) metrics: std::sync::Arc<crate::metrics::Metrics>,
    /// Who may do what.
    pub(crate) policy: std::sync::Arc<crate::access::Policy>,
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
    let tokens_file = config
        .tokens_file
        .clone()
        .or_else(|| config.data.as_ref().filter(|d| !d.is_scratch()).map(DataDir::tokens));
    let fixed: Vec<&str> = config.token.as_deref().into_iter().collect();
    let keyring = crate::access::Keyring::new(&fixed, tokens_file.map(crate::access::TokenFile::at));
    let policy = std::sync::Arc::new(crate::access::Policy::new(keyring, config.reads));
    let state = web::Data::new(AppState {
        policy,
        registry,
        fleet,
        data,
        graphql,
        directory_events: config.directory_events.clone().unwrap_or_default(),
        event_streams: std::sync::Arc::default(),
        graphql_sockets: std::sync::Arc::default(),
        metrics: config.metrics.clone().unwrap_or_default(),
        config,
    });
    let mut server = HttpServer::new(move || {
        let body_limit = state.config.max_body_bytes;
        let metrics = state.metrics.clone();
        let policy = state.policy.clone();
        App::new()
            .app_data(state.clone())
            .wrap_fn(move |req, srv| {
                // Who may call the route is checked here, before its handler reads a byte of
                // the body; the caller goes into the request for GraphQL's own checks.
                let checked = check_access(&policy, &req);
                let (early, call) = match checked {
                    Err(problem) => (Some((req, problem)), None),
                    Ok(()) => (None, Some(srv.call(req))),
                };
                async move {
                    if let Some((req, problem)) = early {
                        let response = actix_web::ResponseError::error_response(&problem);
                        return Ok(req.into_response(response));
                    }
                    match call {
                        Some(call) => call.await,
                        None => Err(actix_web::error::ErrorInternalServerError("no request")),
                    }
                }
            })
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
            .configure(routes::register)
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

/// One of a bounded number of long-lived connections (event streams, WebSockets): taken while
/// fewer than `most` are open, given back when dropped.
pub(crate) struct Slot(std::sync::Arc<std::sync::atomic::AtomicUsize>);

impl Slot {
    pub(crate) fn take(open: &std::sync::Arc<std::sync::atomic::AtomicUsize>, most: usize) -> Option<Self> {
        use std::sync::atomic::Ordering;
        if open.fetch_add(1, Ordering::SeqCst) >= most {
            open.fetch_sub(1, Ordering::SeqCst);
            return None;
        }
        Some(Self(open.clone()))
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        self.0.fetch_sub(1, std::sync::atomic::Ordering::SeqCst);
    }
}

/// Identifies the caller of `req` and checks the route's need; a route the table does not
/// know goes on to be answered 404 or 405.
fn check_access(policy: &crate::access::Policy, req: &actix_web::dev::ServiceRequest) -> Result<(), Problem> {
    use actix_web::HttpMessage as _;
    let Some(access) = req.match_pattern().and_then(|p| routes::access(req.method(), &p)) else {
        return Ok(());
    };
    let bearer = req
        .headers()
        .get(actix_web::http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(sparql::bearer_token);
    let caller = policy.admit(bearer, access).map_err(|d| Problem::denied(&d))?;
    req.extensions_mut().insert(caller);
    Ok(())
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
        "writable": state.policy.has_tokens(),
        "reads": match state.policy.reads() {
            crate::access::Reads::Open => "open",
            crate::access::Reads::Closed => "closed",
        },
    })))
}

/// `GET /metrics`: OpenMetrics text for Prometheus.
async fn serve_metrics(state: web::Data<AppState>) -> Result<HttpResponse, Problem> {
    let registry = state.registry.clone();
    let quads = web::block(move || registry.len())
        .await
        .map_err(Problem::internal)?
        .map_err(Problem::internal)?;
    let mut snapshot = crate::metrics::Snapshot {
        store_quads: quads,
        event_streams: state.event_streams.load(std::sync::atomic::Ordering::SeqCst),
        resident_bytes: crate::metrics::resident_bytes(),
        store_memory_bytes: state.registry.store().memory_bytes(),
        // Reading the allocator takes its arenas' locks, briefly: once a scrape.
        heap: state.config.heap.and_then(|read| read()),
        ..Default::default()
    };
    if let Some(bridge) = &state.config.lwm2m {
        let server = bridge.server();
        if let Some(secure) = server.secure_endpoint() {
            snapshot.coap.push(("coaps", secure.stats()));
            snapshot.dtls_sessions = secure.dtls_sessions();
        }
        // Without plain CoAP the primary endpoint is the DTLS one, counted above.
        if !server.endpoint().is_secure() {
            snapshot.coap.push(("coap", server.endpoint().stats()));
        }
    }
    let text = state.metrics.render(&snapshot).map_err(Problem::internal)?;
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
