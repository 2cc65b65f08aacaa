//! Which devices a deployment (or a rollout) targets: names given, or the first column of a
//! SPARQL SELECT. A selected device is delivered to by its LwM2M endpoint name; IRIs the query
//! selects are resolved to names by a query whose IRIs are bound in its algebra as `VALUES`,
//! never spliced into its text. The same steps serve the embedded registry and a remote service.

use oxigraph::model::Term;

use crate::answer::QueryAnswer;
use crate::error::QueryError;
use crate::graph::{QueryLimits, Registry};
use crate::remote::SparqlEndpoint;

/// Why a selection names no devices it can deliver to.
#[derive(Debug, thiserror::Error)]
pub enum SelectionError {
    /// The query is not a SELECT.
    #[error("the device selection must be a SELECT query whose first column names the devices")]
    NotASelect,
    /// Some selected devices have no name to be reached by.
    #[error("{0} of the selected devices have no seam:shortName (their LwM2M endpoint name)")]
    Unnamed(usize),
    /// The query failed.
    #[error(transparent)]
    Query(#[from] QueryError),
}

/// The literals (names) and the distinct IRIs of column `at` of a SELECT's answer.
fn column(answer: QueryAnswer, at: usize) -> Result<(Vec<String>, Vec<Term>), SelectionError> {
    let QueryAnswer::Solutions { rows, .. } = answer else {
        return Err(SelectionError::NotASelect);
    };
    let mut names = Vec::new();
    let mut iris = Vec::new();
    for row in rows {
        match row.into_iter().nth(at).flatten() {
            Some(iri @ Term::NamedNode(_)) if !iris.contains(&iri) => iris.push(iri),
            Some(Term::Literal(l)) => names.push(l.value().to_owned()),
            _ => {}
        }
    }
    Ok((names, iris))
}

/// `SELECT ?d ?n WHERE { VALUES ?d { … } ?d seam:shortName ?n }`, the IRIs bound as terms.
fn names_of(iris: &[Term]) -> Result<spargebra::Query, SelectionError> {
    let query = spargebra::SparqlParser::new()
        .parse_query(&format!(
            "SELECT ?d ?n WHERE {{ ?d <{}shortName> ?n }}",
            crate::vocab::SEAM
        ))
        .map_err(|e| QueryError::Internal(e.to_string()))?;
    crate::bind::bind_each(query, "d", iris).map_err(|e| SelectionError::Query(QueryError::Internal(e.to_string())))
}

/// The names picked, with those the lookup of `iris` IRIs found (each IRI must have one).
fn finish(mut names: Vec<String>, iris: usize, resolved: QueryAnswer) -> Result<Vec<String>, SelectionError> {
    let (found, _) = column(resolved, 1)?;
    if found.len() < iris {
        return Err(SelectionError::Unnamed(iris - found.len()));
    }
    names.extend(found);
    Ok(sorted(names))
}

/// The device names `select` picks, asked of the registry (sorted, without repeats).
pub fn devices_where(registry: &Registry, select: &str, limits: &QueryLimits) -> Result<Vec<String>, SelectionError> {
    devices_answered(registry, registry.query(select, limits)?, limits)
}

/// The device names the first column of a SELECT's `answer` picks (a named query's, say), IRIs
/// resolved through the registry.
pub fn devices_answered(
    registry: &Registry,
    answer: QueryAnswer,
    limits: &QueryLimits,
) -> Result<Vec<String>, SelectionError> {
    let (names, iris) = column(answer, 0)?;
    if iris.is_empty() {
        return Ok(sorted(names));
    }
    let resolved = registry.query_algebra(names_of(&iris)?, limits)?;
    finish(names, iris.len(), resolved)
}

/// The device names `select` picks, asked of a SPARQL endpoint (a running SEAM service). The
/// lookup query is sent as the algebra's own serialisation.
pub async fn devices_where_remote(endpoint: &SparqlEndpoint, select: &str) -> Result<Vec<String>, SelectionError> {
    let (names, iris) = column(endpoint.query(select).await?, 0)?;
    if iris.is_empty() {
        return Ok(sorted(names));
    }
    let resolved = endpoint.query(&names_of(&iris)?.to_string()).await?;
    finish(names, iris.len(), resolved)
}

fn sorted(mut names: Vec<String>) -> Vec<String> {
    names.sort();
    names.dedup();
    names
}

/// Splits `devices` into a canary wave of `canary_pct` percent (at least one device, never all)
/// and the rest; without a canary (or with one device), one wave.
pub fn waves(devices: &[String], canary_pct: Option<f64>) -> Vec<&[String]> {
    match canary_pct {
        Some(pct) if devices.len() > 1 => {
            let first = ((devices.len() as f64 * pct / 100.0).ceil() as usize).clamp(1, devices.len() - 1);
            vec![&devices[..first], &devices[first..]]
        }
        _ => vec![devices],
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(n: usize) -> Vec<String> {
        (0..n).map(|i| format!("d{i}")).collect()
    }

    #[test]
    fn canary_waves_take_at_least_one_device_and_never_all() {
        assert_eq!(
            waves(&names(10), Some(10.0))
                .iter()
                .map(|w| w.len())
                .collect::<Vec<_>>(),
            [1, 9]
        );
        assert_eq!(
            waves(&names(10), Some(0.1)).iter().map(|w| w.len()).collect::<Vec<_>>(),
            [1, 9]
        );
        assert_eq!(
            waves(&names(3), Some(99.0)).iter().map(|w| w.len()).collect::<Vec<_>>(),
            [2, 1]
        );
        assert_eq!(waves(&names(1), Some(50.0)).len(), 1);
        assert_eq!(waves(&names(4), None).len(), 1);
    }

    #[test]
    fn selected_iris_are_resolved_through_the_algebra() {
        let registry = Registry::in_memory().unwrap();
        registry.seed_if_empty().unwrap();
        let limits = QueryLimits::default();
        let picked = devices_where(
            &registry,
            "SELECT ?d WHERE { ?d a seam:Device ; seam:board cat:arduino-nano-33-ble-sense }",
            &limits,
        )
        .unwrap();
        assert_eq!(picked, ["line3-acoustic-02"]);
        let both = devices_where(
            &registry,
            "SELECT ?d WHERE { VALUES ?d { dev:line3-acoustic-02 dev:dock-camera-01 } }",
            &limits,
        )
        .unwrap();
        assert_eq!(both, ["dock-camera-01", "line3-acoustic-02"]);
        assert!(matches!(
            devices_where(
                &registry,
                "SELECT ?d WHERE { VALUES ?d { <http://e/unnamed> } }",
                &limits
            ),
            Err(SelectionError::Unnamed(1))
        ));
        let by_literal = devices_where(&registry, "SELECT ?n WHERE { ?d seam:shortName ?n } LIMIT 2", &limits).unwrap();
        assert_eq!(by_literal.len(), 2);
        assert!(matches!(
            devices_where(&registry, "ASK { ?d a seam:Device }", &limits),
            Err(SelectionError::NotASelect)
        ));
    }
}
