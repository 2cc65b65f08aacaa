//! SEAM patch: the patterns whose answers are a function of the values of the variables they
//! mention, nothing else. Such a pattern can be evaluated on a tuple of those values alone (a
//! query's row is about 80 variables wide in SEAM's matching queries, and every step copies it),
//! and its answer kept under them (`exists_memo`). Excluded: sub-selects (a projection hides
//! variables the walk of used variables does not see), `SERVICE`, and functions whose value
//! changes from call to call (`RAND`, `UUID`, `STRUUID`, `BNODE`) or that SEAM does not know
//! (custom functions).

use oxrdf::Variable;
use sparopt::algebra::{Expression, GraphPattern};
use spargebra::algebra::Function;

/// Every variable `pattern` mentions, when its answers are a function of their values (see the
/// module); `None` when they are not.
pub fn own_variables(pattern: &GraphPattern) -> Option<Vec<Variable>> {
    let mut variables = Vec::new();
    if !pattern_is_pure(pattern) {
        return None;
    }
    pattern.lookup_used_variables(&mut |v| {
        if !variables.contains(v) {
            variables.push(v.clone());
        }
    });
    Some(variables)
}

fn pattern_is_pure(pattern: &GraphPattern) -> bool {
    match pattern {
        GraphPattern::QuadPattern { .. }
        | GraphPattern::Path { .. }
        | GraphPattern::Graph { .. }
        | GraphPattern::Values { .. } => true,
        GraphPattern::Join { left, right, .. } | GraphPattern::Minus { left, right, .. } => {
            pattern_is_pure(left) && pattern_is_pure(right)
        }
        #[cfg(feature = "sep-0006")]
        GraphPattern::Lateral { left, right } => pattern_is_pure(left) && pattern_is_pure(right),
        GraphPattern::LeftJoin {
            left,
            right,
            expression,
            ..
        } => pattern_is_pure(left) && pattern_is_pure(right) && expression_is_pure(expression),
        GraphPattern::Filter { inner, expression } | GraphPattern::Extend { inner, expression, .. } => {
            pattern_is_pure(inner) && expression_is_pure(expression)
        }
        GraphPattern::Union { inner } => inner.iter().all(pattern_is_pure),
        // Sub-selects and their modifiers (a projection hides variables the walk of used
        // variables does not see), and a remote service.
        GraphPattern::OrderBy { .. }
        | GraphPattern::Project { .. }
        | GraphPattern::Distinct { .. }
        | GraphPattern::Reduced { .. }
        | GraphPattern::Slice { .. }
        | GraphPattern::Group { .. }
        | GraphPattern::Service { .. } => false,
    }
}

fn expression_is_pure(expression: &Expression) -> bool {
    match expression {
        Expression::NamedNode(_)
        | Expression::Literal(_)
        | Expression::Variable(_)
        | Expression::Bound(_) => true,
        Expression::Or(v) | Expression::And(v) | Expression::Coalesce(v) => {
            v.iter().all(expression_is_pure)
        }
        Expression::FunctionCall(function, v) => {
            !matches!(
                function,
                Function::Rand
                    | Function::Uuid
                    | Function::StrUuid
                    | Function::BNode
                    | Function::Custom(_)
            ) && v.iter().all(expression_is_pure)
        }
        Expression::Equal(a, b)
        | Expression::SameTerm(a, b)
        | Expression::Greater(a, b)
        | Expression::GreaterOrEqual(a, b)
        | Expression::Less(a, b)
        | Expression::LessOrEqual(a, b)
        | Expression::Add(a, b)
        | Expression::Subtract(a, b)
        | Expression::Multiply(a, b)
        | Expression::Divide(a, b) => expression_is_pure(a) && expression_is_pure(b),
        Expression::UnaryPlus(a) | Expression::UnaryMinus(a) | Expression::Not(a) => {
            expression_is_pure(a)
        }
        Expression::Exists(p) => pattern_is_pure(p),
        Expression::If(a, b, c) => {
            expression_is_pure(a) && expression_is_pure(b) && expression_is_pure(c)
        }
    }
}
