//! Binding query parameters in the algebra, never in the text.
//!
//! Parameters (one term each) are written as constants into the WHERE pattern ([`constants`]):
//! the planner then starts every group and every EXISTS from them. Where a constant would change
//! what the query means, and for a variable bound to a list of terms (one solution each), a
//! `VALUES` block is joined at the leftmost leaf of the WHERE pattern instead, as if the query
//! text began with it.
//!
//! Oxigraph's own variable substitution binds through the projection and is applied after the
//! pattern is planned, so a named query bound to one device still evaluated every device (seconds
//! on a 10,000-device registry). A subquery keeps its own scope, as SPARQL's scoping rules
//! require: only a parameter it projects and groups by is written into it.

mod constants;

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

    /// `query` with every binding written or joined into its WHERE pattern.
    pub fn apply(&self, query: Query) -> Result<Query, UnbindableTerm> {
        let query = bind(query, &self.one)?;
        match &self.each {
            Some((variable, terms)) => bind_each(query, variable, terms),
            None => Ok(query),
        }
    }
}

/// Writes `bindings` into `query`'s WHERE pattern as constants, or, where a constant would change
/// the query's meaning, joins them there as a one-row `VALUES`.
pub fn bind(query: Query, bindings: &[(String, Term)]) -> Result<Query, UnbindableTerm> {
    if bindings.is_empty() {
        return Ok(query);
    }
    let parameters = bindings
        .iter()
        .map(|(name, term)| {
            let term = ground(term).ok_or_else(|| UnbindableTerm(name.clone()))?;
            Ok((Variable::new_unchecked(name.clone()), term))
        })
        .collect::<Result<Vec<_>, _>>()?;
    let constants = constants::Constants(&parameters);
    Ok(at_where(query, &mut |pattern| {
        constants.substitute(&pattern).unwrap_or_else(|| {
            let values = GraphPattern::Values {
                variables: parameters.iter().map(|(v, _)| v.clone()).collect(),
                bindings: vec![parameters.iter().map(|(_, t)| Some(t.clone())).collect()],
            };
            leftmost(pattern, values)
        })
    }))
}

/// `term` as the algebra writes a bound value; a blank node cannot be one.
fn ground(term: &Term) -> Option<GroundTerm> {
    match term {
        Term::NamedNode(n) => Some(GroundTerm::NamedNode(n.clone())),
        Term::Literal(l) => Some(GroundTerm::Literal(l.clone())),
        _ => None,
    }
}

/// Joins a `VALUES ?variable { … }` of `terms` (one row each) into `query`'s WHERE pattern: a
/// list of IRIs or literals bound as terms of the algebra, never as text.
pub fn bind_each(query: Query, variable: &str, terms: &[Term]) -> Result<Query, UnbindableTerm> {
    let rows = terms
        .iter()
        .map(|term| {
            ground(term)
                .map(|t| vec![Some(t)])
                .ok_or_else(|| UnbindableTerm(variable.to_owned()))
        })
        .collect::<Result<Vec<_>, _>>()?;
    let values = GraphPattern::Values {
        variables: vec![Variable::new_unchecked(variable)],
        bindings: rows,
    };
    Ok(at_where(query, &mut |pattern| leftmost(pattern, values.clone())))
}

/// `query` with `change` applied to its WHERE pattern.
fn at_where(query: Query, change: &mut dyn FnMut(GraphPattern) -> GraphPattern) -> Query {
    match query {
        Query::Select {
            dataset,
            pattern,
            base_iri,
        } => Query::Select {
            dataset,
            pattern: top(pattern, change, false),
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
            pattern: top(pattern, change, true),
            base_iri,
        },
        Query::Describe {
            dataset,
            pattern,
            base_iri,
        } => Query::Describe {
            dataset,
            pattern: top(pattern, change, false),
            base_iri,
        },
        Query::Ask {
            dataset,
            pattern,
            base_iri,
        } => Query::Ask {
            dataset,
            pattern: top(pattern, change, true),
            base_iri,
        },
    }
}

/// Walks down the solution modifiers (slice, distinct, the top projection, order, select
/// expressions, HAVING, GROUP BY) to the WHERE pattern, and applies `change` to it.
fn top(pattern: GraphPattern, change: &mut dyn FnMut(GraphPattern) -> GraphPattern, projected: bool) -> GraphPattern {
    match pattern {
        GraphPattern::Slice { inner, start, length } => GraphPattern::Slice {
            inner: Box::new(top(*inner, change, projected)),
            start,
            length,
        },
        GraphPattern::Distinct { inner } => GraphPattern::Distinct {
            inner: Box::new(top(*inner, change, projected)),
        },
        GraphPattern::Reduced { inner } => GraphPattern::Reduced {
            inner: Box::new(top(*inner, change, projected)),
        },
        GraphPattern::Project { inner, variables } if !projected => GraphPattern::Project {
            inner: Box::new(top(*inner, change, true)),
            variables,
        },
        GraphPattern::OrderBy { inner, expression } => GraphPattern::OrderBy {
            inner: Box::new(top(*inner, change, projected)),
            expression,
        },
        GraphPattern::Extend {
            inner,
            variable,
            expression,
        } => GraphPattern::Extend {
            inner: Box::new(top(*inner, change, projected)),
            variable,
            expression,
        },
        GraphPattern::Filter { expr, inner } => GraphPattern::Filter {
            expr,
            inner: Box::new(top(*inner, change, projected)),
        },
        GraphPattern::Group {
            inner,
            variables,
            aggregates,
        } => GraphPattern::Group {
            inner: Box::new(change(*inner)),
            variables,
            aggregates,
        },
        other => change(other),
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
    fn parameters_become_constants_in_every_group_and_exists() {
        let b = [("x".to_owned(), Term::from(NamedNode::new_unchecked("urn:a")))];
        let out = bound(
            "SELECT ?x ?n WHERE { ?x ?p ?o OPTIONAL { ?x ?q ?n } BIND(BOUND(?x) AS ?b) FILTER EXISTS { ?x ?p ?z } } GROUP BY ?x ?n",
            &b,
        );
        assert!(!out.contains("VALUES"), "{out}");
        assert!(!out.contains("?x ?p"), "every ?x written as <urn:a>: {out}");
        assert!(out.contains("<urn:a> ?q ?n"), "{out}");
        assert!(out.contains("EXISTS { <urn:a> ?p ?z"), "{out}");
        assert!(out.contains("#boolean> AS ?b)"), "BOUND(?x) is true: {out}");
        assert!(
            out.contains("BIND(<urn:a> AS ?x)"),
            "the projection still sees ?x: {out}"
        );
    }

    #[test]
    fn a_subquery_grouping_by_a_parameter_is_written_for_it_alone() {
        let b = [
            ("x".to_owned(), Term::from(NamedNode::new_unchecked("urn:a"))),
            ("y".to_owned(), Term::from(NamedNode::new_unchecked("urn:b"))),
        ];
        let out = bound(
            "SELECT ?x ?n WHERE { ?x ?p ?y { SELECT ?x (COUNT(?y) AS ?n) WHERE { ?x ?q ?y } GROUP BY ?x } }",
            &b,
        );
        assert!(!out.contains("VALUES"), "{out}");
        // The subquery's ?y is its own: only ?x, which it projects, is written in.
        assert!(out.contains("<urn:a> ?q ?y"), "{out}");
        assert!(out.contains("<urn:a> ?p <urn:b>"), "{out}");
        // Grouped over rows that may lack ?x (an OPTIONAL), or not grouped by it: joined.
        for q in [
            "SELECT ?x ?n WHERE { ?s ?p ?o { SELECT ?x (COUNT(*) AS ?n) WHERE { ?s ?p ?o OPTIONAL { ?s ?q ?x } } GROUP BY ?x } }",
            "SELECT ?x WHERE { ?s ?p ?o { SELECT ?x WHERE { ?x ?q ?r } LIMIT 1 } }",
        ] {
            let out = bound(q, &b);
            assert!(out.contains("VALUES ( ?x ?y )"), "{q}: {out}");
        }
    }

    #[test]
    fn a_parameter_the_query_assigns_or_shares_with_minus_is_joined_instead() {
        let b = [("x".to_owned(), Term::from(NamedNode::new_unchecked("urn:a")))];
        for q in [
            "SELECT ?x WHERE { ?s ?p ?o MINUS { ?x ?p ?o } }",
            "SELECT ?x WHERE { ?s ?p ?o BIND(?s AS ?x) ?x ?q ?r }",
            "SELECT ?x WHERE { VALUES ?x { <urn:b> } ?x ?p ?o }",
        ] {
            let out = bound(q, &b);
            assert!(out.contains("VALUES ( ?x ) { ( <urn:a> )"), "{q}: {out}");
        }
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
