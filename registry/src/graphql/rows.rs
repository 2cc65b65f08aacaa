//! Reading the store from resolvers: SELECTs whose values from outside are bound in the algebra
//! (`Bindings`), never written into the text, run off the async workers; and the cells of
//! their rows as GraphQL values.

use async_graphql::Result;
use oxigraph::model::{NamedNode, Term};

use super::scalars::Long;
use super::{bad_input, internal};
use crate::answer::QueryAnswer;
use crate::bind::Bindings;
use crate::graph::{QueryLimits, Registry};
use crate::vocab::expand;

/// One solution: a term or nothing per projected variable.
pub(super) type Row = Vec<Option<Term>>;

/// Runs a SELECT with `bindings` on the blocking pool.
pub(super) async fn select(registry: &Registry, sparql: &'static str, bindings: Bindings) -> Result<Vec<Row>> {
    select_text(registry, sparql.to_owned(), bindings).await
}

/// Like [`select`], for a text assembled from constant pieces (optional filters).
pub(super) async fn select_text(registry: &Registry, sparql: String, bindings: Bindings) -> Result<Vec<Row>> {
    let registry = registry.clone();
    let answer = tokio::task::spawn_blocking(move || registry.query_bound(&sparql, bindings, &QueryLimits::default()))
        .await
        .map_err(internal)?
        .map_err(internal)?;
    match answer {
        QueryAnswer::Solutions { rows, .. } => Ok(rows),
        _ => Err(internal("expected solutions")),
    }
}

/// An IRI (or prefixed name) from a client, as a term to bind; refused when it is not an IRI.
pub(super) fn iri(text: &str) -> Result<Term> {
    let expanded = expand(text);
    NamedNode::new(expanded.as_str())
        .map(Term::from)
        .map_err(|e| bad_input(format!("{text:?} is not an IRI: {e}")))
}

/// Batch keys as terms (keys that are not IRIs match nothing and are left out).
pub(super) fn iris(keys: &[String]) -> Vec<Term> {
    keys.iter()
        .filter_map(|k| NamedNode::new(k.as_str()).ok())
        .map(Term::from)
        .collect()
}

pub(super) fn text(row: &Row, i: usize) -> Option<String> {
    match row.get(i)?.as_ref()? {
        Term::NamedNode(n) => Some(n.as_str().to_owned()),
        Term::Literal(l) => Some(l.value().to_owned()),
        Term::BlankNode(b) => Some(format!("_:{}", b.as_str())),
        #[allow(unreachable_patterns)]
        _ => None,
    }
}

pub(super) fn long(row: &Row, i: usize) -> Option<Long> {
    text(row, i).and_then(|v| v.parse().ok()).map(Long)
}

pub(super) fn float(row: &Row, i: usize) -> Option<f64> {
    text(row, i).and_then(|v| v.parse().ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn client_iris_are_checked_and_prefixes_expanded() {
        assert_eq!(
            iri("dev:line3-acoustic-02").unwrap(),
            Term::NamedNode(NamedNode::new_unchecked(
                "https://w3id.org/seam/device/line3-acoustic-02"
            ))
        );
        // What would end a term in a text is refused, not escaped.
        assert!(iri("http://e/x> } ?s ?p ?o {").is_err());
        assert!(iri("no scheme").is_err());
        // Batch keys that are not IRIs are left out rather than failing the batch.
        assert_eq!(iris(&["urn:a".into(), "bad key".into()]).len(), 1);
    }

    #[test]
    fn cells_read_as_text_numbers_or_nothing() {
        let row: Row = vec![
            Some(Term::NamedNode(NamedNode::new_unchecked("urn:x"))),
            Some(oxigraph::model::Literal::from(42_i64).into()),
            Some(oxigraph::model::Literal::new_simple_literal("n/a").into()),
            None,
        ];
        assert_eq!(text(&row, 0).as_deref(), Some("urn:x"));
        assert_eq!(long(&row, 1), Some(Long(42)));
        assert_eq!(long(&row, 2), None);
        assert_eq!(float(&row, 3), None);
        assert_eq!(text(&row, 9), None);
    }
}
