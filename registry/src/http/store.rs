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
use oxigraph::model::{GraphName, NamedNode, Quad, Triple};

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

fn graph_quads(state: &AppState, target: &Target) -> Result<Vec<Quad>, Problem> {
    let graph = target.graph_name();
    state
        .registry
        .quads_for_pattern(QuadPattern {
            subject: None,
            predicate: None,
            object: None,
            graph: Some(&graph),
        })
        .map_err(Problem::internal)
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
    let state_for_read = state.clone();
    let quads = web::block(move || graph_quads(&state_for_read, &target).map(|q| (q, target)))
        .await
        .map_err(Problem::internal)??;
    let (quads, target) = quads;
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
    let Target::Named(graph) = target(&req)? else {
        return Err(default_graph_is_the_registry());
    };
    let document = body(&req, payload, &state).await?;
    let registry = state.registry.clone();
    let created = web::block(move || {
        let existed = !registry
            .quads_for_pattern(QuadPattern {
                subject: None,
                predicate: None,
                object: None,
                graph: Some(&graph.clone().into()),
            })
            .map_err(Problem::internal)?
            .is_empty();
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
    let Target::Named(graph) = target(&req)? else {
        return Err(default_graph_is_the_registry());
    };
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
    let target = target(&req)?;
    let Target::Named(graph) = &target else {
        return Err(default_graph_is_the_registry());
    };
    let graph = graph.clone();
    let registry = state.registry.clone();
    let state_for_read = state.clone();
    let removed = web::block(move || {
        if graph_quads(&state_for_read, &target)?.is_empty() {
            return Ok::<_, Problem>(Err(target));
        }
        registry.replace_graph(&graph, &[]).map_err(Problem::from)?;
        Ok(Ok(()))
    })
    .await
    .map_err(Problem::internal)??;
    match removed {
        Ok(()) => Ok(HttpResponse::NoContent().finish()),
        Err(target) => Err(no_such_graph(&target)),
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
