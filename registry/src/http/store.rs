//! `/store`: the SPARQL 1.1 Graph Store HTTP Protocol (indirect graph identification:
//! `?graph=IRI` or `?default`), beside the query and update endpoints, as the Oxigraph server
//! serves it. `GET`/`HEAD` read a graph; `PUT` replaces one, `POST` adds to one, `DELETE` drops
//! one (write scope). Bodies go through the same ingest as `seam load` — Turtle, N-Triples,
//! N-Quads' triples, RDF/XML, JSON-LD with the bundled contexts — and the same validation: an
//! invalid body is a 400 with every diagnostic and changes nothing.
//!
//! A Thing Description's graph belongs to the directory (`/things`): replacing it here keeps
//! its triples but not the directory's registration information.

use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use oxigraph::io::RdfFormat;
use oxigraph::model::{GraphName, NamedNode, Triple};

use super::problem::Problem;
use super::sparql::{decode_pairs, media_type, read_body, respond};
use super::AppState;
use crate::answer::QueryAnswer;
use crate::store::QuadPattern;

/// The graph a request names.
enum Target {
    Default,
    Named(NamedNode),
}

impl Target {
    fn graph_name(&self) -> GraphName {
        match self {
            Target::Default => GraphName::DefaultGraph,
            Target::Named(n) => n.clone().into(),
        }
    }
}

fn target(req: &HttpRequest) -> Result<Target, Problem> {
    let mut found = None;
    for (key, value) in decode_pairs(req.query_string())? {
        let this = match key.as_str() {
            "default" => Target::Default,
            "graph" => Target::Named(
                NamedNode::new(value.clone())
                    .map_err(|e| Problem::invalid_parameter(format!("graph {value:?} is not an absolute IRI: {e}")))?,
            ),
            other => {
                return Err(Problem::unknown_parameter(format!(
                    "unknown parameter {other:?} (graph=IRI or default)"
                )))
            }
        };
        if found.replace(this).is_some() {
            return Err(Problem::invalid_parameter("name one graph: graph=IRI or default, once"));
        }
    }
    found.ok_or_else(|| Problem::invalid_parameter("name a graph: /store?graph=IRI or /store?default"))
}

/// The named graph a write names (the default graph is not written here).
fn named_target(req: &HttpRequest) -> Result<NamedNode, Problem> {
    match target(req)? {
        Target::Named(graph) => Ok(graph),
        Target::Default => Err(default_graph_is_the_registry()),
    }
}

/// Whether `graph` holds a triple (an ASK, not a read of the graph).
fn holds_triples(registry: &crate::graph::Registry, graph: &NamedNode) -> Result<bool, Problem> {
    let answer = registry.query(
        &format!("ASK {{ GRAPH {graph} {{ ?s ?p ?o }} }}"),
        &crate::graph::QueryLimits::default(),
    )?;
    Ok(matches!(answer, QueryAnswer::Boolean(true)))
}

fn no_such_graph(target: &Target) -> Problem {
    let name = match target {
        Target::Default => "the default graph".to_owned(),
        Target::Named(n) => n.to_string(),
    };
    Problem::new(
        StatusCode::NOT_FOUND,
        "not-found",
        "No such graph",
        format!("{name} holds no triples"),
    )
}

/// `GET` and `HEAD /store?graph=IRI|default`.
pub(super) async fn get(req: HttpRequest, state: web::Data<AppState>) -> Result<HttpResponse, Problem> {
    let target = target(&req)?;
    let registry = state.registry.clone();
    let graph = target.graph_name();
    let quads = web::block(move || {
        registry.quads_for_pattern(QuadPattern {
            subject: None,
            predicate: None,
            object: None,
            graph: Some(&graph),
        })
    })
    .await
    .map_err(Problem::internal)?
    .map_err(Problem::internal)?;
    if quads.is_empty() && matches!(target, Target::Named(_)) {
        return Err(no_such_graph(&target));
    }
    let triples: Vec<Triple> = quads.into_iter().map(Triple::from).collect();
    respond(&req, QueryAnswer::Graph(triples))
}

/// The body as a document, in the format its media type names.
async fn body(req: &HttpRequest, payload: web::Payload, state: &AppState) -> Result<crate::ingest::Document, Problem> {
    let kind = media_type(req.headers());
    let format = match kind.as_str() {
        "application/ld+json" | "application/td+json" | "application/json" => RdfFormat::JsonLd {
            profile: oxigraph::io::JsonLdProfileSet::empty(),
        },
        other => RdfFormat::from_media_type(other)
            .filter(|f| !f.supports_datasets() || *f == RdfFormat::NQuads)
            .ok_or_else(|| {
                Problem::unsupported_media_type(
                "/store",
                "text/turtle, application/n-triples, application/n-quads, application/rdf+xml or application/ld+json",
                other,
            )
            })?,
    };
    let text = read_body(payload, state.config.max_body_bytes).await?;
    let document = web::block(move || crate::ingest::parse_document("<request>", text, format, None))
        .await
        .map_err(Problem::internal)??;
    Ok(document)
}

/// `PUT /store?graph=IRI`: the graph becomes the body (201 when it was empty, else 204).
pub(super) async fn put(
    req: HttpRequest,
    payload: web::Payload,
    state: web::Data<AppState>,
) -> Result<HttpResponse, Problem> {
    let graph = named_target(&req)?;
    let document = body(&req, payload, &state).await?;
    let registry = state.registry.clone();
    let created = web::block(move || {
        let existed = holds_triples(&registry, &graph)?;
        registry.replace_graph(&graph, &[document]).map_err(Problem::from)?;
        Ok::<_, Problem>(!existed)
    })
    .await
    .map_err(Problem::internal)??;
    Ok(if created {
        HttpResponse::Created().finish()
    } else {
        HttpResponse::NoContent().finish()
    })
}

/// `POST /store?graph=IRI`: the body's triples are added to the graph.
pub(super) async fn post(
    req: HttpRequest,
    payload: web::Payload,
    state: web::Data<AppState>,
) -> Result<HttpResponse, Problem> {
    let graph = named_target(&req)?;
    let mut document = body(&req, payload, &state).await?;
    for quad in &mut document.quads {
        quad.graph_name = graph.clone().into();
    }
    let registry = state.registry.clone();
    web::block(move || registry.load(&[document]))
        .await
        .map_err(Problem::internal)??;
    Ok(HttpResponse::NoContent().finish())
}

/// `DELETE /store?graph=IRI`: the graph and every triple in it.
pub(super) async fn delete(req: HttpRequest, state: web::Data<AppState>) -> Result<HttpResponse, Problem> {
    let graph = named_target(&req)?;
    let registry = state.registry.clone();
    let dropped = graph.clone();
    let removed = web::block(move || {
        if !holds_triples(&registry, &dropped)? {
            return Ok::<_, Problem>(false);
        }
        registry.replace_graph(&dropped, &[]).map_err(Problem::from)?;
        Ok(true)
    })
    .await
    .map_err(Problem::internal)??;
    if removed {
        Ok(HttpResponse::NoContent().finish())
    } else {
        Err(no_such_graph(&Target::Named(graph)))
    }
}

/// The default graph holds the ontology, the catalog and loaded files: it is changed through
/// `seam load` and `/update`, where SEAM's shapes see every change, not replaced wholesale.
fn default_graph_is_the_registry() -> Problem {
    Problem::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "method-not-allowed",
        "Method not allowed",
        "the default graph is read-only here (it holds the ontology and the catalog); change it with SPARQL Update at /update, or write a named graph (?graph=IRI)",
    )
}
