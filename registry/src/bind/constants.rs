//! Parameters written as constants: every occurrence of a parameter's variable in the WHERE
//! pattern replaced by its term, the variable then bound to the term above the pattern.
//!
//! The planner sees `<device>` where the text says `?device`, in every group and every EXISTS,
//! so each part of the pattern starts from it. A `VALUES` leaf binds the variable in one group
//! only: Oxigraph plans each group on its own (a `BIND` or an `OPTIONAL` closes one), so a model
//! bound in the first group of `compatible-devices` only met its patterns after every device
//! had been joined, and `explain`'s subqueries read every device and model (299 ms for one pair
//! at 10,000 devices × 1,000 models; 15 ms written as constants).
//!
//! A constant means what joining the parameter at the start of the pattern means wherever the
//! variable is matched, filtered or tested for being bound in the pattern's own scope. Where it
//! would not, [`Constants::substitute`] declines and the caller joins a `VALUES` leaf instead: a parameter
//! assigned by the query (`BIND … AS`, `VALUES`), shared with the right side of a `MINUS` or with
//! a `SERVICE` pattern (both evaluated on their own), projected by a subquery other than one
//! grouping by it over rows that all bind it, or in predicate or graph position with a literal
//! term. `MINUS` right sides and `SERVICE` patterns are left as written, and so is a subquery,
//! but for the parameters it projects: its other variables are its own.

use spargebra::algebra::{Expression, GraphPattern};
use spargebra::term::{GroundTerm, NamedNodePattern, TermPattern, TriplePattern, Variable};

/// The parameters: each variable and the term written in its place.
pub(super) struct Constants<'a>(pub(super) &'a [(Variable, GroundTerm)]);

impl Constants<'_> {
    fn term_of(&self, variable: &Variable) -> Option<&GroundTerm> {
        self.0.iter().find(|(v, _)| v == variable).map(|(_, t)| t)
    }

    fn is_parameter(&self, variable: &Variable) -> bool {
        self.term_of(variable).is_some()
    }

    /// Whether `pattern` has a parameter among its in-scope variables.
    fn binds_a_parameter(&self, pattern: &GraphPattern) -> bool {
        let mut found = false;
        pattern.on_in_scope_variable(|v| found |= self.is_parameter(v));
        found
    }

    /// `pattern` with the parameters written in, then bound above it; `None` where a constant
    /// would change its meaning (see the module documentation).
    pub(super) fn substitute(&self, pattern: &GraphPattern) -> Option<GraphPattern> {
        let mut out = self.pattern(pattern)?;
        for (variable, term) in self.0 {
            out = GraphPattern::Extend {
                inner: Box::new(out),
                variable: variable.clone(),
                expression: match term {
                    GroundTerm::NamedNode(n) => Expression::NamedNode(n.clone()),
                    GroundTerm::Literal(l) => Expression::Literal(l.clone()),
                    #[allow(unreachable_patterns)]
                    _ => return None,
                },
            };
        }
        Some(out)
    }

    fn pattern(&self, pattern: &GraphPattern) -> Option<GraphPattern> {
        let boxed = |p: &GraphPattern| self.pattern(p).map(Box::new);
        Some(match pattern {
            GraphPattern::Bgp { patterns } => GraphPattern::Bgp {
                patterns: patterns.iter().map(|t| self.triple(t)).collect::<Option<_>>()?,
            },
            GraphPattern::Path { subject, path, object } => GraphPattern::Path {
                subject: self.term(subject),
                path: path.clone(),
                object: self.term(object),
            },
            GraphPattern::Join { left, right } => GraphPattern::Join {
                left: boxed(left)?,
                right: boxed(right)?,
            },
            GraphPattern::LeftJoin {
                left,
                right,
                expression,
            } => GraphPattern::LeftJoin {
                left: boxed(left)?,
                right: boxed(right)?,
                expression: match expression {
                    Some(e) => Some(self.expression(e)?),
                    None => None,
                },
            },
            GraphPattern::Lateral { left, right } => GraphPattern::Lateral {
                left: boxed(left)?,
                right: boxed(right)?,
            },
            GraphPattern::Filter { expr, inner } => GraphPattern::Filter {
                expr: self.expression(expr)?,
                inner: boxed(inner)?,
            },
            GraphPattern::Union { left, right } => GraphPattern::Union {
                left: boxed(left)?,
                right: boxed(right)?,
            },
            GraphPattern::Graph { name, inner } => GraphPattern::Graph {
                name: self.named_node(name)?,
                inner: boxed(inner)?,
            },
            GraphPattern::Extend {
                inner,
                variable,
                expression,
            } => {
                if self.is_parameter(variable) {
                    return None;
                }
                GraphPattern::Extend {
                    inner: boxed(inner)?,
                    variable: variable.clone(),
                    expression: self.expression(expression)?,
                }
            }
            GraphPattern::Minus { left, right } => {
                if self.binds_a_parameter(right) {
                    return None;
                }
                GraphPattern::Minus {
                    left: boxed(left)?,
                    right: right.clone(),
                }
            }
            GraphPattern::Values { variables, .. } => {
                if variables.iter().any(|v| self.is_parameter(v)) {
                    return None;
                }
                pattern.clone()
            }
            GraphPattern::Project { inner, variables } => {
                if !variables.iter().any(|v| self.is_parameter(v)) {
                    // A subquery's other variables are its own.
                    return Some(pattern.clone());
                }
                GraphPattern::Project {
                    inner: Box::new(self.grouped_subquery(inner, variables)?),
                    variables: variables.clone(),
                }
            }
            // A SERVICE pattern is evaluated elsewhere, on its own.
            GraphPattern::Service { .. } => {
                if self.binds_a_parameter(pattern) {
                    return None;
                }
                pattern.clone()
            }
            // Solution modifiers only occur inside a subquery's projection, never bare here.
            GraphPattern::OrderBy { .. }
            | GraphPattern::Distinct { .. }
            | GraphPattern::Reduced { .. }
            | GraphPattern::Slice { .. }
            | GraphPattern::Group { .. } => return None,
        })
    }

    /// The body of a subquery that projects parameters: accepted when it groups by each of them
    /// and every row of its WHERE pattern binds them (a triple pattern of its main group reads
    /// them), so that keeping the groups whose key is the parameter's term, which joining the
    /// subquery's answer with it does, is grouping only the rows whose variable is that term.
    /// Only the projected parameters are written in: the subquery's other variables are its own.
    fn grouped_subquery(&self, body: &GraphPattern, projected: &[Variable]) -> Option<GraphPattern> {
        Some(match body {
            GraphPattern::Distinct { inner } => GraphPattern::Distinct {
                inner: Box::new(self.grouped_subquery(inner, projected)?),
            },
            GraphPattern::Reduced { inner } => GraphPattern::Reduced {
                inner: Box::new(self.grouped_subquery(inner, projected)?),
            },
            GraphPattern::OrderBy { inner, expression } => GraphPattern::OrderBy {
                inner: Box::new(self.grouped_subquery(inner, projected)?),
                expression: expression.clone(),
            },
            // Select expressions and HAVING, over the groups.
            GraphPattern::Extend {
                inner,
                variable,
                expression,
            } => GraphPattern::Extend {
                inner: Box::new(self.grouped_subquery(inner, projected)?),
                variable: variable.clone(),
                expression: expression.clone(),
            },
            GraphPattern::Filter { expr, inner } => GraphPattern::Filter {
                expr: expr.clone(),
                inner: Box::new(self.grouped_subquery(inner, projected)?),
            },
            GraphPattern::Group {
                inner,
                variables,
                aggregates,
            } => {
                let own: Vec<(Variable, GroundTerm)> =
                    self.0.iter().filter(|(v, _)| projected.contains(v)).cloned().collect();
                if !own.iter().all(|(v, _)| variables.contains(v) && always_binds(inner, v)) {
                    return None;
                }
                GraphPattern::Group {
                    inner: Box::new(Constants(&own).substitute(inner)?),
                    variables: variables.clone(),
                    aggregates: aggregates.clone(),
                }
            }
            _ => return None,
        })
    }

    fn triple(&self, triple: &TriplePattern) -> Option<TriplePattern> {
        Some(TriplePattern {
            subject: self.term(&triple.subject),
            predicate: self.named_node(&triple.predicate)?,
            object: self.term(&triple.object),
        })
    }

    fn term(&self, term: &TermPattern) -> TermPattern {
        match term {
            TermPattern::Variable(v) => match self.term_of(v) {
                Some(GroundTerm::NamedNode(n)) => TermPattern::NamedNode(n.clone()),
                Some(GroundTerm::Literal(l)) => TermPattern::Literal(l.clone()),
                _ => term.clone(),
            },
            _ => term.clone(),
        }
    }

    fn named_node(&self, name: &NamedNodePattern) -> Option<NamedNodePattern> {
        match name {
            NamedNodePattern::Variable(v) => match self.term_of(v) {
                Some(GroundTerm::NamedNode(n)) => Some(NamedNodePattern::NamedNode(n.clone())),
                Some(_) => None,
                None => Some(name.clone()),
            },
            NamedNodePattern::NamedNode(_) => Some(name.clone()),
        }
    }

    fn expression(&self, expression: &Expression) -> Option<Expression> {
        let one = |e: &Expression| self.expression(e).map(Box::new);
        let all = |v: &[Expression]| v.iter().map(|e| self.expression(e)).collect::<Option<Vec<_>>>();
        Some(match expression {
            Expression::Variable(v) => match self.term_of(v) {
                Some(GroundTerm::NamedNode(n)) => Expression::NamedNode(n.clone()),
                Some(GroundTerm::Literal(l)) => Expression::Literal(l.clone()),
                _ => expression.clone(),
            },
            Expression::Bound(v) if self.is_parameter(v) => Expression::Literal(true.into()),
            Expression::NamedNode(_) | Expression::Literal(_) | Expression::Bound(_) => expression.clone(),
            Expression::Exists(p) => Expression::Exists(Box::new(self.pattern(p)?)),
            Expression::Or(a, b) => Expression::Or(one(a)?, one(b)?),
            Expression::And(a, b) => Expression::And(one(a)?, one(b)?),
            Expression::Equal(a, b) => Expression::Equal(one(a)?, one(b)?),
            Expression::SameTerm(a, b) => Expression::SameTerm(one(a)?, one(b)?),
            Expression::Greater(a, b) => Expression::Greater(one(a)?, one(b)?),
            Expression::GreaterOrEqual(a, b) => Expression::GreaterOrEqual(one(a)?, one(b)?),
            Expression::Less(a, b) => Expression::Less(one(a)?, one(b)?),
            Expression::LessOrEqual(a, b) => Expression::LessOrEqual(one(a)?, one(b)?),
            Expression::In(a, b) => Expression::In(one(a)?, all(b)?),
            Expression::Add(a, b) => Expression::Add(one(a)?, one(b)?),
            Expression::Subtract(a, b) => Expression::Subtract(one(a)?, one(b)?),
            Expression::Multiply(a, b) => Expression::Multiply(one(a)?, one(b)?),
            Expression::Divide(a, b) => Expression::Divide(one(a)?, one(b)?),
            Expression::UnaryPlus(a) => Expression::UnaryPlus(one(a)?),
            Expression::UnaryMinus(a) => Expression::UnaryMinus(one(a)?),
            Expression::Not(a) => Expression::Not(one(a)?),
            Expression::If(a, b, c) => Expression::If(one(a)?, one(b)?, one(c)?),
            Expression::Coalesce(v) => Expression::Coalesce(all(v)?),
            Expression::FunctionCall(f, v) => Expression::FunctionCall(f.clone(), all(v)?),
        })
    }
}

/// Whether every solution of `pattern` binds `variable`: a triple pattern of its main group (not
/// of an OPTIONAL, a UNION branch or a MINUS) reads it.
fn always_binds(pattern: &GraphPattern, variable: &Variable) -> bool {
    let reads = |t: &TermPattern| matches!(t, TermPattern::Variable(v) if v == variable);
    match pattern {
        GraphPattern::Bgp { patterns } => patterns.iter().any(|t| {
            reads(&t.subject)
                || reads(&t.object)
                || matches!(&t.predicate, NamedNodePattern::Variable(v) if v == variable)
        }),
        GraphPattern::Path { subject, object, .. } => reads(subject) || reads(object),
        GraphPattern::Join { left, right } | GraphPattern::Lateral { left, right } => {
            always_binds(left, variable) || always_binds(right, variable)
        }
        GraphPattern::LeftJoin { left, .. } | GraphPattern::Minus { left, .. } => always_binds(left, variable),
        GraphPattern::Filter { inner, .. } | GraphPattern::Graph { inner, .. } => always_binds(inner, variable),
        GraphPattern::Extend { inner, .. } => always_binds(inner, variable),
        _ => false,
    }
}
