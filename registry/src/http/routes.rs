//! Every route of the service, with what it needs, in one table.
//!
//! The service is built from this table and checks it before any handler runs, so a route
//! cannot exist without saying who may call it; the same table is what the access tests walk.

use actix_web::http::Method;
use actix_web::{web, Route};

use super::{compile, deploy, graphql, models, named, page, rollouts, sparql, things};
use crate::access::{Access, Scope};

/// One method on one path.
#[derive(Clone)]
pub struct Endpoint {
    /// The method (HEAD is listed where a GET answers it).
    pub method: Method,
    /// The path pattern, as actix-web matches it.
    pub path: &'static str,
    /// Who may call it.
    pub access: Access,
    /// What it does, in a line.
    pub summary: &'static str,
    handler: fn() -> Route,
}

impl std::fmt::Debug for Endpoint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {} ({:?})", self.method, self.path, self.access)
    }
}

const fn at(
    method: Method,
    path: &'static str,
    access: Access,
    summary: &'static str,
    handler: fn() -> Route,
) -> Endpoint {
    Endpoint {
        method,
        path,
        access,
        summary,
        handler,
    }
}

const PUBLIC: Access = Access::Public;
const READ: Access = Access::Read;
const WRITE: Access = Access::Scoped(Scope::Write);
const DEPLOY: Access = Access::Scoped(Scope::Deploy);
const ADMIN: Access = Access::Scoped(Scope::Admin);

/// The service's routes. A path's methods are kept together: they become one resource.
pub static ENDPOINTS: &[Endpoint] = &[
    // The web page carries no data: its files are public; what it shows comes from reads.
    at(Method::GET, "/", PUBLIC, "The web page", || {
        web::route().to(page::index)
    }),
    at(Method::HEAD, "/", PUBLIC, "The web page (headers only)", || {
        web::route().to(page::index)
    }),
    at(Method::GET, "/ui/{file}", PUBLIC, "One of the web page's files", || {
        web::route().to(page::asset)
    }),
    at(
        Method::HEAD,
        "/ui/{file}",
        PUBLIC,
        "One of the web page's files (headers only)",
        || web::route().to(page::asset),
    ),
    at(
        Method::GET,
        "/health",
        PUBLIC,
        "Liveness, version and store size",
        || web::route().to(super::health),
    ),
    at(
        Method::GET,
        "/openapi.json",
        PUBLIC,
        "This description of the REST routes (OpenAPI 3.1)",
        || web::route().to(super::openapi::serve),
    ),
    at(
        Method::GET,
        "/metrics",
        READ,
        "Metrics in the OpenMetrics text format",
        || web::route().to(super::serve_metrics),
    ),
    // The Thing Description Directory (W3C WoT Discovery).
    at(
        Method::GET,
        "/things",
        READ,
        "The Thing Descriptions in the directory, paged",
        || web::route().to(things::list),
    ),
    at(
        Method::HEAD,
        "/things",
        READ,
        "The Thing Descriptions in the directory (headers only)",
        || web::route().to(things::list),
    ),
    at(
        Method::POST,
        "/things",
        WRITE,
        "Add an anonymous Thing Description (the directory gives it an id)",
        || web::route().to(things::create),
    ),
    at(Method::GET, "/things/{id:.*}", READ, "One Thing Description", || {
        web::route().to(things::get)
    }),
    at(
        Method::HEAD,
        "/things/{id:.*}",
        READ,
        "One Thing Description (headers only)",
        || web::route().to(things::get),
    ),
    at(
        Method::PUT,
        "/things/{id:.*}",
        WRITE,
        "Create or replace a Thing Description",
        || web::route().to(things::put),
    ),
    at(
        Method::PATCH,
        "/things/{id:.*}",
        WRITE,
        "Change a Thing Description by JSON merge patch",
        || web::route().to(things::patch),
    ),
    at(
        Method::DELETE,
        "/things/{id:.*}",
        WRITE,
        "Remove a Thing Description",
        || web::route().to(things::delete),
    ),
    at(
        Method::GET,
        "/events",
        READ,
        "Directory notifications (server-sent events)",
        || web::route().to(things::events),
    ),
    at(
        Method::GET,
        "/events/{kind}",
        READ,
        "Directory notifications of one kind (server-sent events)",
        || web::route().to(things::events),
    ),
    at(
        Method::GET,
        "/search/sparql",
        READ,
        "SPARQL over the Thing Descriptions (WoT Discovery search)",
        || web::route().to(sparql::query_get),
    ),
    at(
        Method::HEAD,
        "/search/sparql",
        READ,
        "SPARQL over the Thing Descriptions (headers only)",
        || web::route().to(sparql::query_get),
    ),
    at(
        Method::POST,
        "/search/sparql",
        READ,
        "SPARQL over the Thing Descriptions, the query in the body",
        || web::route().to(sparql::query_post),
    ),
    at(
        Method::GET,
        "/.well-known/wot",
        READ,
        "The directory's own Thing Description",
        || web::route().to(things::well_known),
    ),
    at(
        Method::HEAD,
        "/.well-known/wot",
        READ,
        "The directory's own Thing Description (headers only)",
        || web::route().to(things::well_known),
    ),
    // SPARQL, named queries, matching.
    at(Method::GET, "/sparql", READ, "SPARQL 1.1 Protocol query", || {
        web::route().to(sparql::query_get)
    }),
    at(
        Method::POST,
        "/sparql",
        READ,
        "SPARQL 1.1 Protocol query, the query in the body",
        || web::route().to(sparql::query_post),
    ),
    // The Graph Store HTTP Protocol, on named graphs.
    at(
        Method::GET,
        "/store",
        READ,
        "Read a graph (Graph Store Protocol: ?graph=IRI or ?default)",
        || web::route().to(super::store::get),
    ),
    at(Method::HEAD, "/store", READ, "Read a graph (headers only)", || {
        web::route().to(super::store::get)
    }),
    at(
        Method::PUT,
        "/store",
        WRITE,
        "Replace a named graph with the body (validated)",
        || web::route().to(super::store::put),
    ),
    at(
        Method::POST,
        "/store",
        WRITE,
        "Add the body's triples to a named graph (validated)",
        || web::route().to(super::store::post),
    ),
    at(Method::DELETE, "/store", WRITE, "Drop a named graph", || {
        web::route().to(super::store::delete)
    }),
    at(
        Method::POST,
        "/update",
        WRITE,
        "SPARQL 1.1 Update (validated; all or nothing)",
        || web::route().to(sparql::update),
    ),
    at(
        Method::GET,
        "/queries",
        READ,
        "The named queries and their parameters",
        || web::route().to(named::list),
    ),
    at(
        Method::GET,
        "/queries/{name}",
        READ,
        "Run a named query, parameters bound as typed RDF terms",
        || web::route().to(named::run_get),
    ),
    at(
        Method::POST,
        "/queries/{name}",
        READ,
        "Run a named query, parameters in the body",
        || web::route().to(named::run_post),
    ),
    at(
        Method::GET,
        "/match/{device}",
        READ,
        "The models that run on a device or board type, ranked, with reasons",
        || web::route().to(named::match_device),
    ),
    // Models, compilation, delivery.
    at(
        Method::POST,
        "/models",
        WRITE,
        "Register an ONNX or TFLite model (measured, described, stored)",
        || web::route().to(models::add_model),
    ),
    at(
        Method::GET,
        "/compile",
        READ,
        "The compiler backends this service has",
        || web::route().to(compile::list),
    ),
    at(
        Method::POST,
        "/compile",
        WRITE,
        "Compile a model into a signed package",
        || web::route().to(compile::compile),
    ),
    at(
        Method::POST,
        "/compilations",
        WRITE,
        "Compile a registered model for a target, with provenance",
        || web::route().to(compile::compilations),
    ),
    at(Method::POST, "/packages", DEPLOY, "Offer a package to devices", || {
        web::route().to(deploy::add_package)
    }),
    at(
        Method::POST,
        "/deployments",
        DEPLOY,
        "Deliver a ready package to devices",
        || web::route().to(deploy::deploy),
    ),
    at(Method::GET, "/rollouts", READ, "Every rollout", || {
        web::route().to(rollouts::list)
    }),
    at(
        Method::POST,
        "/rollouts",
        DEPLOY,
        "Start a rollout of a model to devices",
        || web::route().to(rollouts::start),
    ),
    at(
        Method::GET,
        "/rollouts/{id}",
        READ,
        "One rollout, per group and per device",
        || web::route().to(rollouts::get),
    ),
    at(
        Method::POST,
        "/rollouts/{id}/{action}",
        DEPLOY,
        "Pause, resume, cancel or retry the failed devices of a rollout",
        || web::route().to(rollouts::act),
    ),
    // Device credentials: secrets that go in and never come out.
    at(
        Method::POST,
        "/devices/credentials",
        ADMIN,
        "Provision a device's DTLS pre-shared key",
        || web::route().to(super::credentials::add),
    ),
    at(
        Method::DELETE,
        "/devices/credentials/{endpoint}",
        ADMIN,
        "Remove a device's DTLS pre-shared key",
        || web::route().to(super::credentials::remove),
    ),
    // GraphQL: each mutation checks its own scope against the caller.
    at(
        Method::GET,
        "/graphql",
        READ,
        "GraphQL query by GET (GraphiQL for browsers)",
        || web::route().to(graphql::get),
    ),
    at(Method::POST, "/graphql", READ, "GraphQL queries and mutations", || {
        web::route().to(graphql::post)
    }),
    // Browsers cannot send headers on a WebSocket: the token may come in `connection_init`,
    // where reads are checked too.
    at(
        Method::GET,
        "/graphql/ws",
        PUBLIC,
        "GraphQL over WebSocket (graphql-transport-ws): subscriptions",
        || web::route().to(graphql::ws),
    ),
    at(
        Method::GET,
        "/graphql/assets/{file}",
        PUBLIC,
        "GraphiQL's files",
        || web::route().to(graphql::asset),
    ),
];

/// The routes, for tests and documentation: method name, path pattern, what it needs.
pub fn surface() -> impl Iterator<Item = (&'static str, &'static str, Access)> {
    ENDPOINTS.iter().map(|e| (e.method.as_str(), e.path, e.access))
}

/// What the route `pattern` needs for `method`; `None` when the table has no such route (the
/// request will be answered 404 or 405 without reaching a handler).
pub(super) fn access(method: &Method, pattern: &str) -> Option<Access> {
    ENDPOINTS
        .iter()
        .find(|e| e.method == *method && e.path == pattern)
        .map(|e| e.access)
}

/// Adds every route of the table to `config`, one resource per path.
pub(super) fn register(config: &mut web::ServiceConfig) {
    let mut paths: Vec<&'static str> = Vec::new();
    for endpoint in ENDPOINTS {
        if !paths.contains(&endpoint.path) {
            paths.push(endpoint.path);
        }
    }
    for path in paths {
        let mut resource = web::resource(path);
        for endpoint in ENDPOINTS.iter().filter(|e| e.path == path) {
            resource = resource.route((endpoint.handler)().method(endpoint.method.clone()));
        }
        config.service(resource);
    }
}
