//! Guards around SPARQL that arrives from outside, so that no query or update can end the process.
//!
//! Three independent bounds, because each failure mode needs its own:
//! - the text's bracket nesting is checked before parsing ([`check_text`]): the parser recurses
//!   once per bracket, so a query of a thousand parentheses overflows its stack;
//! - the parsed algebra's depth is checked before evaluation ([`check_query`], [`check_update`]):
//!   chains such as `?a && ?b && …`, `p1/p2/…` or `{…} UNION {…} UNION …` parse iteratively but
//!   build trees as deep as they are long, and the optimiser and evaluator recurse over them;
//! - the walk itself never recurses deeper than the limit, and the text's length bounds how deep
//!   a tree the parser can build at all, so that dropping a refused tree stays within the stack of
//!   the evaluation thread ([`crate::executor`]).

use spargebra::algebra::{AggregateExpression, Expression, GraphPattern, OrderExpression, PropertyPathExpression};
use spargebra::term::NamedNodePattern;
use spargebra::{GraphUpdateOperation, Query, Update};

use crate::error::QueryError;

/// Bounds on the shape of a query or update.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ShapeLimits {
    /// Longest accepted text, in bytes.
    pub max_text_bytes: usize,
    /// Deepest nesting of `(`, `{` and `[` in the text.
    pub max_nesting: usize,
    /// Deepest tree of patterns, expressions and paths once parsed.
    pub max_depth: usize,
    /// Most triple and path patterns in one query. The optimiser orders joins in time that
    /// grows with the cube of their number (measured: 200 patterns 0.4 s, 400 3 s, 1,000 52 s),
    /// before evaluation starts and without looking at the time limit.
    pub max_patterns: usize,
}

impl Default for ShapeLimits {
    fn default() -> Self {
        Self {
            // Generous for hand-written and generated queries alike (SEAM's own longest named
            // query is under 8 KiB), and small enough that the deepest tree such a text can
            // build is dropped well within an evaluation thread's stack.
            max_text_bytes: 512 * 1024,
            max_nesting: 64,
            max_depth: 256,
            max_patterns: 256,
        }
    }
}

fn too_complex(detail: String) -> QueryError {
    QueryError::TooComplex(detail)
}

/// Checks the text's length and bracket nesting without parsing it. Strings, IRIs and comments
/// are skipped, so brackets inside them do not count.
pub fn check_text(text: &str, limits: &ShapeLimits) -> Result<(), QueryError> {
    if text.len() > limits.max_text_bytes {
        return Err(too_complex(format!(
            "the text is {} bytes long, more than the limit of {} bytes",
            text.len(),
            limits.max_text_bytes
        )));
    }
    let bytes = text.as_bytes();
    let mut depth = 0usize;
    let mut line = 1usize;
    let mut line_start = 0usize;
    let mut i = 0usize;
    while i < bytes.len() {
        match bytes[i] {
            b'\n' => {
                line += 1;
                line_start = i + 1;
            }
            b'#' => {
                while i < bytes.len() && bytes[i] != b'\n' {
                    i += 1;
                }
                continue;
            }
            quote @ (b'"' | b'\'') => {
                i = skip_string(bytes, i, quote, &mut line, &mut line_start);
                continue;
            }
            b'<' => {
                if let Some(end) = iri_end(bytes, i) {
                    i = end;
                    continue;
                }
            }
            b'(' | b'{' | b'[' => {
                depth += 1;
                if depth > limits.max_nesting {
                    let column = text[line_start..i].chars().count() + 1;
                    return Err(too_complex(format!(
                        "brackets are nested more than {} deep (at line {line}, column {column})",
                        limits.max_nesting
                    )));
                }
            }
            b')' | b'}' | b']' => depth = depth.saturating_sub(1),
            _ => {}
        }
        i += 1;
    }
    Ok(())
}

/// The index just past the string that starts at `start` (short or long form, with escapes).
fn skip_string(bytes: &[u8], start: usize, quote: u8, line: &mut usize, line_start: &mut usize) -> usize {
    let long = bytes.get(start + 1) == Some(&quote) && bytes.get(start + 2) == Some(&quote);
    let mut i = start + if long { 3 } else { 1 };
    while i < bytes.len() {
        match bytes[i] {
            b'\\' => i += 1,
            b'\n' => {
                *line += 1;
                *line_start = i + 1;
            }
            b if b == quote => {
                if !long {
                    return i + 1;
                }
                if bytes.get(i + 1) == Some(&quote) && bytes.get(i + 2) == Some(&quote) {
                    return i + 3;
                }
            }
            _ => {}
        }
        i += 1;
    }
    bytes.len()
}

/// The index just past an IRI reference starting at `start` (`<` … `>`), or `None` when the `<`
/// is a comparison operator (the SPARQL grammar's IRIREF excludes spaces and these characters).
fn iri_end(bytes: &[u8], start: usize) -> Option<usize> {
    let mut i = start + 1;
    while i < bytes.len() {
        match bytes[i] {
            b'>' => return Some(i + 1),
            b'<' | b'"' | b'{' | b'}' | b'|' | b'^' | b'`' | b'\\' | 0..=b' ' => return None,
            _ => i += 1,
        }
    }
    None
}

/// Checks the depth of a parsed query.
pub fn check_query(query: &Query, limits: &ShapeLimits, services: &[String]) -> Result<(), QueryError> {
    let pattern = match query {
        Query::Select { pattern, .. }
        | Query::Construct { pattern, .. }
        | Query::Describe { pattern, .. }
        | Query::Ask { pattern, .. } => pattern,
    };
    Depth::new(limits, services).pattern(pattern, 1)
}

/// Checks the depth of every operation's pattern in a parsed update.
pub fn check_update(update: &Update, limits: &ShapeLimits) -> Result<(), QueryError> {
    // An update calls no SERVICE, allowed or not: what it writes comes from this store.
    let depth = Depth::new(limits, &[]);
    for operation in &update.operations {
        match operation {
            GraphUpdateOperation::DeleteInsert { pattern, .. } => depth.pattern(pattern, 1)?,
            GraphUpdateOperation::Load { source, .. } => {
                return Err(QueryError::Refused(format!(
                    "LOAD {source} is refused: the registry fetches no document for a client (a file: IRI would \
                     read its own disk); load data with `seam load` or POST it, where it is validated"
                )))
            }
            _ => {}
        }
    }
    Ok(())
}

/// A walk that stops as soon as it is `max` deep, so that it never recurses further than that
/// whatever the tree's depth.
struct Depth<'a> {
    max: usize,
    max_patterns: usize,
    patterns: std::cell::Cell<usize>,
    /// The SERVICE endpoints allowed (IRI prefixes).
    services: &'a [String],
}

impl<'a> Depth<'a> {
    fn new(limits: &ShapeLimits, services: &'a [String]) -> Self {
        Self {
            max: limits.max_depth,
            max_patterns: limits.max_patterns,
            patterns: std::cell::Cell::new(0),
            services,
        }
    }

    fn count_patterns(&self, n: usize) -> Result<(), QueryError> {
        let total = self.patterns.get().saturating_add(n);
        self.patterns.set(total);
        if total > self.max_patterns {
            return Err(too_complex(format!(
                "the query has more than {} triple and path patterns (a path of n steps counts n)",
                self.max_patterns
            )));
        }
        Ok(())
    }

    fn at(&self, depth: usize) -> Result<(), QueryError> {
        if depth > self.max {
            return Err(too_complex(format!(
                "the query's patterns and expressions nest more than {} deep once parsed (long chains of \
                 &&, ||, arithmetic, UNION, OPTIONAL or path steps count one level each)",
                self.max
            )));
        }
        Ok(())
    }

    fn pattern(&self, p: &GraphPattern, d: usize) -> Result<(), QueryError> {
        self.at(d)?;
        let next = d + 1;
        match p {
            GraphPattern::Values { .. } => Ok(()),
            GraphPattern::Bgp { patterns } => self.count_patterns(patterns.len()),
            GraphPattern::Path { path, .. } => {
                self.count_patterns(1)?;
                self.path(path, next)
            }
            GraphPattern::Join { left, right }
            | GraphPattern::Union { left, right }
            | GraphPattern::Minus { left, right }
            | GraphPattern::Lateral { left, right } => {
                self.pattern(left, next)?;
                self.pattern(right, next)
            }
            GraphPattern::LeftJoin {
                left,
                right,
                expression,
            } => {
                self.pattern(left, next)?;
                self.pattern(right, next)?;
                expression.as_ref().map_or(Ok(()), |e| self.expression(e, next))
            }
            GraphPattern::Filter { expr, inner } => {
                self.expression(expr, next)?;
                self.pattern(inner, next)
            }
            GraphPattern::Extend { inner, expression, .. } => {
                self.expression(expression, next)?;
                self.pattern(inner, next)
            }
            GraphPattern::OrderBy { inner, expression } => {
                for e in expression {
                    match e {
                        OrderExpression::Asc(e) | OrderExpression::Desc(e) => self.expression(e, next)?,
                    }
                }
                self.pattern(inner, next)
            }
            GraphPattern::Group { inner, aggregates, .. } => {
                for (_, aggregate) in aggregates {
                    if let AggregateExpression::FunctionCall { expr, .. } = aggregate {
                        self.expression(expr, next)?;
                    }
                }
                self.pattern(inner, next)
            }
            GraphPattern::Graph { inner, .. }
            | GraphPattern::Project { inner, .. }
            | GraphPattern::Distinct { inner }
            | GraphPattern::Reduced { inner }
            | GraphPattern::Slice { inner, .. } => self.pattern(inner, next),
            // Federation would make the registry a client of any address a caller names (an
            // internal service, a `file:` IRI): refused before evaluation, SILENT or not.
            GraphPattern::Service {
                name: NamedNodePattern::NamedNode(endpoint),
                inner,
                ..
            } if crate::federation::is_allowed(endpoint.as_str(), self.services) => self.pattern(inner, next),
            GraphPattern::Service { name, .. } => Err(QueryError::Refused(format!(
                "SERVICE {name} is refused: this registry calls only the endpoints its operator allows \
                 (seam serve --allow-service PREFIX), and no file: IRI or variable endpoint"
            ))),
        }
    }

    fn expression(&self, e: &Expression, d: usize) -> Result<(), QueryError> {
        self.at(d)?;
        let next = d + 1;
        match e {
            Expression::NamedNode(_) | Expression::Literal(_) | Expression::Variable(_) | Expression::Bound(_) => {
                Ok(())
            }
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
                self.expression(a, next)?;
                self.expression(b, next)
            }
            Expression::UnaryPlus(a) | Expression::UnaryMinus(a) | Expression::Not(a) => self.expression(a, next),
            Expression::In(a, list) => {
                self.expression(a, next)?;
                list.iter().try_for_each(|e| self.expression(e, next))
            }
            Expression::Exists(p) => self.pattern(p, next),
            Expression::If(a, b, c) => {
                self.expression(a, next)?;
                self.expression(b, next)?;
                self.expression(c, next)
            }
            Expression::Coalesce(list) | Expression::FunctionCall(_, list) => {
                list.iter().try_for_each(|e| self.expression(e, next))
            }
        }
    }

    fn path(&self, p: &PropertyPathExpression, d: usize) -> Result<(), QueryError> {
        self.at(d)?;
        let next = d + 1;
        match p {
            PropertyPathExpression::NamedNode(_) | PropertyPathExpression::NegatedPropertySet(_) => Ok(()),
            PropertyPathExpression::Reverse(a)
            | PropertyPathExpression::ZeroOrMore(a)
            | PropertyPathExpression::OneOrMore(a)
            | PropertyPathExpression::ZeroOrOne(a) => self.path(a, next),
            PropertyPathExpression::Sequence(a, b) | PropertyPathExpression::Alternative(a, b) => {
                self.path(a, next)?;
                self.path(b, next)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits() -> ShapeLimits {
        ShapeLimits::default()
    }

    #[test]
    fn brackets_in_strings_iris_and_comments_do_not_count() {
        let deep = "(".repeat(100);
        let q = format!("SELECT * WHERE {{ ?s ?p \"{deep}\" . ?s <urn:{deep}> ?o }} # {deep}\n");
        assert!(check_text(&q, &limits()).is_ok());
        let q = format!("SELECT * WHERE {{ ?s ?p '''{deep}\n''' }}");
        assert!(check_text(&q, &limits()).is_ok());
    }

    #[test]
    fn deep_brackets_are_refused_with_their_position() {
        let q = format!("SELECT * WHERE {{\n FILTER({}1{}) }}", "(".repeat(200), ")".repeat(200));
        let err = check_text(&q, &limits()).unwrap_err().to_string();
        assert!(err.contains("64 deep") && err.contains("line 2"), "{err}");
    }

    #[test]
    fn less_than_is_not_an_iri() {
        let q = "SELECT * WHERE { ?s ?p ?o FILTER(?o < 3 && ?o > 1) }";
        assert!(check_text(q, &limits()).is_ok());
    }

    #[test]
    fn long_chains_are_refused_after_parsing() {
        let chain = vec!["?o"; 1000].join(" && ");
        let q = format!("SELECT * WHERE {{ ?s ?p ?o FILTER({chain}) }}");
        assert!(check_text(&q, &limits()).is_ok());
        let parsed = spargebra::SparqlParser::new().parse_query(&q).unwrap();
        assert!(matches!(
            check_query(&parsed, &limits(), &[]),
            Err(QueryError::TooComplex(_))
        ));
        // (A sequence of plain IRIs parses into a flat list of triple patterns; alternatives stay
        // a nested path.)
        let path = vec!["<urn:p>"; 1000].join("|");
        let parsed = spargebra::SparqlParser::new()
            .parse_query(&format!("SELECT * WHERE {{ ?s {path} ?o }}"))
            .unwrap();
        assert!(check_query(&parsed, &limits(), &[]).is_err());
        let union = vec!["{ ?s ?p ?o }"; 1000].join(" UNION ");
        let parsed = spargebra::SparqlParser::new()
            .parse_update(&format!("DELETE {{ ?s ?p ?o }} WHERE {{ {union} }}"))
            .unwrap();
        assert!(check_update(&parsed, &limits()).is_err());
    }

    #[test]
    fn too_many_patterns_are_refused() {
        let steps = vec!["<urn:p>"; 300].join("/");
        let parsed = spargebra::SparqlParser::new()
            .parse_query(&format!("SELECT * WHERE {{ ?s {steps} ?o }}"))
            .unwrap();
        let err = check_query(&parsed, &limits(), &[]).unwrap_err().to_string();
        assert!(err.contains("256 triple"), "{err}");
    }

    #[test]
    fn service_and_load_are_refused_whatever_the_iri() {
        use spargebra::SparqlParser;
        for text in [
            "SELECT * WHERE { SERVICE <http://169.254.169.254/latest> { ?s ?p ?o } }",
            "SELECT * WHERE { SERVICE SILENT <file:///etc/passwd> { ?s ?p ?o } }",
            "ASK { FILTER EXISTS { SERVICE <http://x/> { ?s ?p ?o } } }",
        ] {
            let query = SparqlParser::new().parse_query(text).unwrap();
            let err = check_query(&query, &limits(), &[]).unwrap_err();
            assert!(matches!(err, QueryError::Refused(_)), "{text}: {err}");
        }
        for text in [
            "LOAD <file:///etc/passwd>",
            "LOAD SILENT <http://x/> INTO GRAPH <urn:g>",
        ] {
            let update = SparqlParser::new().parse_update(text).unwrap();
            let err = check_update(&update, &limits()).unwrap_err();
            assert!(matches!(err, QueryError::Refused(_)), "{text}: {err}");
        }
    }

    #[test]
    fn ordinary_queries_pass() {
        for query in crate::named::all().unwrap() {
            let text = &query.text;
            check_text(text, &limits()).unwrap();
            let parsed = spargebra::SparqlParser::new();
            let parsed = crate::vocab::PREFIXES
                .iter()
                .fold(parsed, |p, (prefix, ns)| p.with_prefix(*prefix, *ns).unwrap())
                .parse_query(text)
                .unwrap();
            check_query(&parsed, &limits(), &[]).unwrap();
        }
    }
}
