//! Binding query parameters in the algebra: a one-row `VALUES` block joined at the leftmost leaf
//! of the query's WHERE pattern, as if the query text began with it.
//!
//! Oxigraph's own variable substitution binds through the projection and is applied after the
//! pattern is planned, so a named query bound to one device still evaluated every device (seconds
//! on a 10,000-device registry). A `VALUES` leaf is planned with the pattern: the device is bound
//! before the first triple pattern is read. Subqueries keep their own scope: parameters are not
//! injected into them, as SPARQL's scoping rules require.

use oxigraph::model::Term;
use spargebra::algebra::GraphPattern;
use spargebra::term::{GroundTerm, Variable};
use spargebra::Query;

/// A parameter value that cannot be bound (a blank node).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("parameter ?{0} cannot be bound to a blank node")]
pub struct UnbindableTerm(pub String);

/// What a query is bound to: parameters (one row: each variable one term) and, optionally, one
/// variable bound to each of a list of terms (one row each, e.g. the keys of a batch).
#[derive(Debug, Clone, Default)]
pub struct Bindings {
    /// One term per variable.
    pub one: Vec<(String, Term)>,
    /// A variable and the terms it takes, one solution each.
    pub each: Option<(String, Vec<Term>)>,
}

impl Bindings {
    /// Parameters, one term each.
    pub fn of(one: Vec<(String, Term)>) -> Self {
        Self { one, each: None }
    }

    /// `variable` bound to each of `terms`.
    pub fn each(variable: &str, terms: Vec<Term>) -> Self {
        Self {
            one: Vec::new(),
            each: Some((variable.to_owned(), terms)),
        }
    }

    /// Whether nothing is bound.
    pub fn is_empty(&self) -> bool {
        self.one.is_empty() && self.each.is_none()
    }

    /// `query` with every binding joined into its WHERE pattern.
    pub fn apply(&self, query: Query) -> Result<Query, UnbindableTerm> {
        let query = bind(query, &self.one)?;
        match &self.each {
            Some((variable, terms)) => bind_each(query, variable, terms),
            None => Ok(query),
        }
    }
}

/// Joins a one-row `VALUES` of `bindings` into `query`'s WHERE pattern.
pub fn bind(query: Query, bindings: &[(String, Term)]) -> Result<Query, UnbindableTerm> {
    if bindings.is_empty() {
        return Ok(query);
    }
    let mut variables = Vec::with_capacity(bindings.len());
    let mut row = Vec::with_capacity(bindings.len());
    for (name, term) in bindings {
        variables.push(Variable::new_unchecked(name.clone()));
        row.push(Some(match term {
            Term::NamedNode(n) => GroundTerm::NamedNode(n.clone()),
            Term::Literal(l) => GroundTerm::Literal(l.clone()),
            _ => return Err(UnbindableTerm(name.clone())),
        }));
    }
    Ok(join_values(
        query,
        GraphPattern::Values {
            variables,
            bindings: vec![row],
        },
    ))
}

/// Joins a `VALUES ?variable { … }` of `terms` (one row each) into `query`'s WHERE pattern: a
/// list of IRIs or literals bound as terms of the algebra, never as text.
pub fn bind_each(query: Query, variable: &str, terms: &[Term]) -> Result<Query, UnbindableTerm> {
    let rows = terms
        .iter()
        .map(|term| match term {
            Term::NamedNode(n) => Ok(vec![Some(GroundTerm::NamedNode(n.clone()))]),
            Term::Literal(l) => Ok(vec![Some(GroundTerm::Literal(l.clone()))]),
            _ => Err(UnbindableTerm(variable.to_owned())),
        })
        .collect::<Result<Vec<_>, _>>()?;
    Ok(join_values(
        query,
        GraphPattern::Values {
            variables: vec![Variable::new_unchecked(variable)],
            bindings: rows,
        },
    ))
}

fn join_values(query: Query, values: GraphPattern) -> Query {
    match query {
        Query::Select {
            dataset,
            pattern,
            base_iri,
        } => Query::Select {
            dataset,
            pattern: top(pattern, values, false),
            base_iri,
        },
        Query::Construct {
            template,
            dataset,
            pattern,
            base_iri,
        } => Query::Construct {
            template,
            dataset,
            pattern: top(pattern, values, true),
            base_iri,
        },
        Query::Describe {
            dataset,
            pattern,
            base_iri,
        } => Query::Describe {
            dataset,
            pattern: top(pattern, values, false),
            base_iri,
        },
        Query::Ask {
            dataset,
            pattern,
            base_iri,
        } => Query::Ask {
            dataset,
            pattern: top(pattern, values, true),
            base_iri,
        },
    }
}

/// Walks down the solution modifiers (slice, distinct, the top projection, order, select
/// expressions, HAVING, GROUP BY) to the WHERE pattern.
fn top(pattern: GraphPattern, values: GraphPattern, projected: bool) -> GraphPattern {
    match pattern {
        GraphPattern::Slice { inner, start, length } => GraphPattern::Slice {
            inner: Box::new(top(*inner, values, projected)),
            start,
            length,
        },
        GraphPattern::Distinct { inner } => GraphPattern::Distinct {
            inner: Box::new(top(*inner, values, projected)),
        },
        GraphPattern::Reduced { inner } => GraphPattern::Reduced {
            inner: Box::new(top(*inner, values, projected)),
        },
        GraphPattern::Project { inner, variables } if !projected => GraphPattern::Project {
            inner: Box::new(top(*inner, values, true)),
            variables,
        },
        GraphPattern::OrderBy { inner, expression } => GraphPattern::OrderBy {
            inner: Box::new(top(*inner, values, projected)),
            expression,
        },
        GraphPattern::Extend {
            inner,
            variable,
            expression,
        } => GraphPattern::Extend {
            inner: Box::new(top(*inner, values, projected)),
            variable,
            expression,
        },
        GraphPattern::Filter { expr, inner } => GraphPattern::Filter {
            expr,
            inner: Box::new(top(*inner, values, projected)),
        },
        GraphPattern::Group {
            inner,
            variables,
            aggregates,
        } => GraphPattern::Group {
            inner: Box::new(leftmost(*inner, values)),
            variables,
            aggregates,
        },
        other => leftmost(other, values),
    }
}

/// Joins `values` at the leftmost leaf of a WHERE pattern (never inside a subquery).
fn leftmost(pattern: GraphPattern, values: GraphPattern) -> GraphPattern {
    match pattern {
        GraphPattern::Join { left, right } => GraphPattern::Join {
            left: Box::new(leftmost(*left, values)),
            right,
        },
        GraphPattern::LeftJoin {
            left,
            right,
            expression,
        } => GraphPattern::LeftJoin {
            left: Box::new(leftmost(*left, values)),
            right,
            expression,
        },
        GraphPattern::Minus { left, right } => GraphPattern::Minus {
            left: Box::new(leftmost(*left, values)),
            right,
        },
        GraphPattern::Lateral { left, right } => GraphPattern::Lateral {
            left: Box::new(leftmost(*left, values)),
            right,
        },
        GraphPattern::Extend {
            inner,
            variable,
            expression,
        } => GraphPattern::Extend {
            inner: Box::new(leftmost(*inner, values)),
            variable,
            expression,
        },
        GraphPattern::Filter { expr, inner } => GraphPattern::Filter {
            expr,
            inner: Box::new(leftmost(*inner, values)),
        },
        leaf => GraphPattern::Join {
            left: Box::new(values),
            right: Box::new(leaf),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use oxigraph::model::{Literal, NamedNode};
    use spargebra::SparqlParser;

    fn bound(q: &str, bindings: &[(String, Term)]) -> String {
        let query = SparqlParser::new().parse_query(q).unwrap();
        bind(query, bindings).unwrap().to_string()
    }

    #[test]
    fn values_join_the_leftmost_leaf_not_a_subquery() {
        let b = [("x".to_owned(), Term::from(NamedNode::new_unchecked("urn:a")))];
        let out = bound(
            "SELECT ?x (COUNT(*) AS ?n) WHERE { { SELECT ?x WHERE { ?x ?p ?o } } ?x ?q ?r } GROUP BY ?x",
            &b,
        );
        assert!(out.contains("VALUES ( ?x ) { ( <urn:a> )"), "{out}");
        let inner = out.find("SELECT ?x WHERE").unwrap();
        let values = out.find("VALUES").unwrap();
        assert!(values < inner, "VALUES must stay outside the subquery: {out}");
    }

    #[test]
    fn a_literal_carrying_sparql_stays_a_literal() {
        let b = [(
            "s".to_owned(),
            Term::from(Literal::new_simple_literal("\"> } ; DROP ALL ; #")),
        )];
        let out = bound("SELECT ?s WHERE { ?x ?p ?s }", &b);
        let reparsed = SparqlParser::new().parse_query(&out).unwrap();
        assert!(reparsed.to_string().contains("DROP ALL"), "{out}");
        assert!(matches!(reparsed, Query::Select { .. }));
    }
}
