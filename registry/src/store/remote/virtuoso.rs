//! Virtuoso 7.2's SPARQL-to-SQL compiler fails (SQ074) on a boolean operator between `EXISTS`
//! patterns inside a `BIND` (`BIND((EXISTS {…} || EXISTS {…}) AS ?x)`), and its `IF` yields
//! nothing when a branch is the constant `true`. The same question asked with `IF`s over
//! integers compiles: `a || b` becomes `IF(a, 1, IF(b, 1, 0))`, `a && b` becomes
//! `IF(a, IF(b, 1, 0), 0)`. Only where both operands can never be an error (`EXISTS`, `NOT
//! EXISTS`, and such operators over them): there the two forms have the same effective boolean
//! value; an operand that may be an error keeps SPARQL's `||` and `&&`, whose error rules `IF`
//! does not share.
//!
//! Virtuoso also divides an integer by an integer as integers (`7 / 2` is 3; SPARQL says 3.5):
//! every division's dividend is multiplied by the decimal 1.0 first, which changes no value and
//! no type under SPARQL's rules (an integer or decimal dividend gives a decimal quotient anyway;
//! a float or double stays one).
//!
//! And it casts a string that is no number to 0 (`xsd:decimal("")` is 0; SPARQL says an error,
//! which leaves the variable unbound): a cast of a string function's result to `xsd:decimal` or
//! `xsd:integer` is guarded by the lexical form XSD defines, and gives nothing when it does not
//! match, as SPARQL does.
//!
//! One difference is not fitted here but avoided in the named queries' text: after an `OPTIONAL`
//! that finds nothing for a variable (`OPTIONAL { ?runs seam:accuracy/seam:value ?a }` on a
//! model without an accuracy figure), Virtuoso evaluates a later `EXISTS` on that variable as if
//! it were unbound, so `BIND(IF(EXISTS { ?runs … }, …))` took the wrong branch. The queries state
//! such bindings before their optional facts (`?operatorClass` in `compatible-models`).

use oxigraph::model::Literal;
use spargebra::algebra::{Expression, Function, GraphPattern, OrderExpression};
use spargebra::term::Variable;

/// Unbound everywhere (no pattern binds it): an `IF` branch that gives nothing.
const NOTHING: &str = "seam_virtuoso_nothing";

/// The lexical forms of `xsd:integer` and `xsd:decimal` (XSD 1.1 Part 2, 3.3.13 and 3.3.3).
fn lexical_form(datatype: &str) -> Option<&'static str> {
    match datatype {
        "http://www.w3.org/2001/XMLSchema#integer" => Some("^[+-]?[0-9]+$"),
        "http://www.w3.org/2001/XMLSchema#decimal" => Some("^[+-]?([0-9]+([.][0-9]*)?|[.][0-9]+)$"),
        _ => None,
    }
}

/// Whether `e` gives a simple string (so that a cast of it is one of a lexical form).
fn is_string_function(e: &Expression) -> bool {
    matches!(
        e,
        Expression::FunctionCall(
            Function::StrAfter
                | Function::StrBefore
                | Function::SubStr
                | Function::Concat
                | Function::Str
                | Function::Replace
                | Function::UCase
                | Function::LCase,
            _
        )
    )
}

/// The query with its `EXISTS` combinations written as Virtuoso compiles them.
pub(super) fn fit_query(mut query: spargebra::Query) -> spargebra::Query {
    match &mut query {
        spargebra::Query::Select { pattern, .. }
        | spargebra::Query::Construct { pattern, .. }
        | spargebra::Query::Describe { pattern, .. }
        | spargebra::Query::Ask { pattern, .. } => pattern_(pattern),
    }
    query
}

fn pattern_(p: &mut GraphPattern) {
    match p {
        GraphPattern::Bgp { .. } | GraphPattern::Path { .. } | GraphPattern::Values { .. } => {}
        GraphPattern::Join { left, right }
        | GraphPattern::Lateral { left, right }
        | GraphPattern::Union { left, right }
        | GraphPattern::Minus { left, right } => {
            pattern_(left);
            pattern_(right);
        }
        GraphPattern::LeftJoin {
            left,
            right,
            expression,
        } => {
            pattern_(left);
            pattern_(right);
            if let Some(e) = expression {
                expression_(e);
            }
        }
        GraphPattern::Filter { expr, inner } => {
            expression_(expr);
            pattern_(inner);
        }
        GraphPattern::Extend { inner, expression, .. } => {
            pattern_(inner);
            expression_(expression);
        }
        GraphPattern::OrderBy { inner, expression } => {
            pattern_(inner);
            for e in expression {
                match e {
                    OrderExpression::Asc(e) | OrderExpression::Desc(e) => expression_(e),
                }
            }
        }
        GraphPattern::Graph { inner, .. }
        | GraphPattern::Project { inner, .. }
        | GraphPattern::Distinct { inner }
        | GraphPattern::Reduced { inner }
        | GraphPattern::Slice { inner, .. }
        | GraphPattern::Group { inner, .. }
        | GraphPattern::Service { inner, .. } => pattern_(inner),
    }
}

/// Whether `e` is a boolean that can never be an error.
fn never_fails(e: &Expression) -> bool {
    match e {
        Expression::Exists(_) => true,
        Expression::Not(inner) => never_fails(inner),
        Expression::Or(a, b) | Expression::And(a, b) => never_fails(a) && never_fails(b),
        Expression::If(c, a, b) => never_fails(c) && never_fails(a) && never_fails(b),
        Expression::Literal(l) => l.datatype() == oxigraph::model::vocab::xsd::INTEGER,
        _ => false,
    }
}

fn int(v: i64) -> Expression {
    Expression::Literal(Literal::from(v))
}

fn expression_(e: &mut Expression) {
    // Inside out: the operands first, then this node.
    match e {
        Expression::Exists(p) => pattern_(p),
        Expression::Or(a, b)
        | Expression::And(a, b)
        | Expression::Equal(a, b)
        | Expression::SameTerm(a, b)
        | Expression::Greater(a, b)
        | Expression::GreaterOrEqual(a, b)
        | Expression::Less(a, b)
        | Expression::LessOrEqual(a, b)
        | Expression::Add(a, b)
        | Expression::Subtract(a, b)
        | Expression::Multiply(a, b)
        | Expression::Divide(a, b) => {
            expression_(a);
            expression_(b);
        }
        Expression::In(a, list) => {
            expression_(a);
            list.iter_mut().for_each(expression_);
        }
        Expression::UnaryPlus(a) | Expression::UnaryMinus(a) | Expression::Not(a) => expression_(a),
        Expression::If(a, b, c) => {
            expression_(a);
            expression_(b);
            expression_(c);
        }
        Expression::Coalesce(list) | Expression::FunctionCall(_, list) => list.iter_mut().for_each(expression_),
        Expression::NamedNode(_) | Expression::Literal(_) | Expression::Variable(_) | Expression::Bound(_) => {}
    }
    let rewritten = match e {
        Expression::FunctionCall(Function::Custom(datatype), args)
            if args.len() == 1 && is_string_function(&args[0]) && lexical_form(datatype.as_str()).is_some() =>
        {
            let pattern = lexical_form(datatype.as_str()).unwrap_or_default();
            Some(Expression::If(
                Box::new(Expression::FunctionCall(
                    Function::Regex,
                    vec![
                        args[0].clone(),
                        Expression::Literal(Literal::new_simple_literal(pattern)),
                    ],
                )),
                Box::new(e.clone()),
                Box::new(Expression::Variable(Variable::new_unchecked(NOTHING))),
            ))
        }
        Expression::Divide(a, b) => Some(Expression::Divide(
            Box::new(Expression::Multiply(
                a.clone(),
                Box::new(Expression::Literal(Literal::new_typed_literal(
                    "1.0",
                    oxigraph::model::vocab::xsd::DECIMAL,
                ))),
            )),
            b.clone(),
        )),
        Expression::Or(a, b) if never_fails(a) && never_fails(b) => Some(Expression::If(
            a.clone(),
            Box::new(int(1)),
            Box::new(Expression::If(b.clone(), Box::new(int(1)), Box::new(int(0)))),
        )),
        Expression::And(a, b) if never_fails(a) && never_fails(b) => Some(Expression::If(
            a.clone(),
            Box::new(Expression::If(b.clone(), Box::new(int(1)), Box::new(int(0)))),
            Box::new(int(0)),
        )),
        _ => None,
    };
    if let Some(r) = rewritten {
        *e = r;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exists_combinations_become_ifs_and_the_rest_stays() {
        let parse = |t: &str| spargebra::SparqlParser::new().parse_query(t).unwrap();
        let fitted = fit_query(parse(
            "SELECT ?x ?y WHERE { ?s ?p ?o BIND((EXISTS { ?s ?p 1 } || NOT EXISTS { ?s ?p 2 }) AS ?x) BIND((?o > 1 || EXISTS { ?s ?p 3 }) AS ?y) }",
        ))
        .to_string();
        assert!(fitted.contains("IF(EXISTS"), "{fitted}");
        assert!(fitted.contains("IF(NOT EXISTS"), "{fitted}");
        // An operand that may be an error keeps `||`.
        assert!(fitted.contains("|| EXISTS"), "{fitted}");
        assert_eq!(fitted.matches("||").count(), 1, "{fitted}");
    }

    #[test]
    fn a_cast_of_a_string_is_guarded_by_its_lexical_form() {
        let fitted = fit_query(
            spargebra::SparqlParser::new()
                .parse_query("SELECT ?x WHERE { BIND(\"a 1\" AS ?s) BIND(<http://www.w3.org/2001/XMLSchema#decimal>(STRAFTER(?s, \" \")) AS ?x) }")
                .unwrap(),
        )
        .to_string();
        assert!(fitted.contains("IF(REGEX(STRAFTER("), "{fitted}");
        assert!(fitted.contains("?seam_virtuoso_nothing"), "{fitted}");
    }

    #[test]
    fn a_division_is_never_an_integer_division() {
        let fitted = fit_query(
            spargebra::SparqlParser::new()
                .parse_query("SELECT ?x WHERE { BIND(7 / 2 AS ?x) }")
                .unwrap(),
        )
        .to_string();
        assert!(
            fitted.contains("* \"1.0\"^^<http://www.w3.org/2001/XMLSchema#decimal>) /"),
            "{fitted}"
        );
    }
}
