//! A query's answer, owned and independent of where it was computed (embedded store or remote
//! endpoint), with the standard serialisations and a table for people.

use std::io::Write;

use oxigraph::io::{JsonLdProfileSet, RdfFormat, RdfParser, RdfSerializer};
use oxigraph::model::TermRef;
/// The RDF terms and triples answers are made of (re-exported so callers need no oxigraph dependency).
pub use oxigraph::model::{Term, Triple};
use oxigraph::sparql::results::{
    QueryResultsFormat, QueryResultsParser, QueryResultsSerializer, SliceQueryResultsParserOutput,
};
use oxigraph::sparql::{QueryResults, Variable};

use crate::error::QueryError;
use crate::vocab::PREFIXES;

/// The answer to a SPARQL query.
#[derive(Debug, Clone, PartialEq)]
pub enum QueryAnswer {
    /// SELECT: the projected variables and one row per solution (`None` where unbound).
    Solutions {
        /// Projected variables, in order.
        variables: Vec<Variable>,
        /// Rows, each as long as `variables`.
        rows: Vec<Vec<Option<Term>>>,
    },
    /// ASK.
    Boolean(bool),
    /// CONSTRUCT or DESCRIBE.
    Graph(Vec<Triple>),
}

/// Serialisations of SELECT and ASK results.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ResultsFormat {
    /// `application/sparql-results+json`
    Json,
    /// `application/sparql-results+xml`
    Xml,
    /// `text/csv`
    Csv,
    /// `text/tab-separated-values`
    Tsv,
}

impl ResultsFormat {
    fn oxigraph(self) -> QueryResultsFormat {
        match self {
            Self::Json => QueryResultsFormat::Json,
            Self::Xml => QueryResultsFormat::Xml,
            Self::Csv => QueryResultsFormat::Csv,
            Self::Tsv => QueryResultsFormat::Tsv,
        }
    }

    /// The media type of this format.
    pub fn media_type(self) -> &'static str {
        match self {
            Self::Json => "application/sparql-results+json",
            Self::Xml => "application/sparql-results+xml",
            Self::Csv => "text/csv; charset=utf-8",
            Self::Tsv => "text/tab-separated-values; charset=utf-8",
        }
    }
}

/// Serialisations of CONSTRUCT and DESCRIBE results.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GraphFormat {
    /// `text/turtle`
    Turtle,
    /// `application/n-triples`
    NTriples,
    /// `application/ld+json`
    JsonLd,
    /// `application/rdf+xml`
    RdfXml,
}

impl GraphFormat {
    fn oxigraph(self) -> RdfFormat {
        match self {
            Self::Turtle => RdfFormat::Turtle,
            Self::NTriples => RdfFormat::NTriples,
            Self::JsonLd => RdfFormat::JsonLd {
                profile: JsonLdProfileSet::empty(),
            },
            Self::RdfXml => RdfFormat::RdfXml,
        }
    }

    /// The media type of this format.
    pub fn media_type(self) -> &'static str {
        match self {
            Self::Turtle => "text/turtle; charset=utf-8",
            Self::NTriples => "application/n-triples",
            Self::JsonLd => "application/ld+json",
            Self::RdfXml => "application/rdf+xml",
        }
    }
}

/// The essence of a `Content-Type` value (`type/subtype`, lowercase, parameters dropped).
pub fn media_type_essence(value: &str) -> String {
    value.split(';').next().unwrap_or("").trim().to_ascii_lowercase()
}

/// What a term costs in memory, roughly: its text and a fixed overhead.
fn term_bytes(term: TermRef<'_>) -> usize {
    const OVERHEAD: usize = 32;
    OVERHEAD
        + match term {
            TermRef::NamedNode(n) => n.as_str().len(),
            TermRef::BlankNode(b) => b.as_str().len(),
            TermRef::Literal(l) => l.value().len() + l.datatype().as_str().len() + l.language().map_or(0, str::len),
            #[allow(unreachable_patterns)]
            _ => 64,
        }
}

impl QueryAnswer {
    /// Materialises evaluation results, refusing more than `max_rows` solutions or triples, or
    /// more than `max_bytes` of terms (their text plus a fixed overhead each).
    pub fn collect(results: QueryResults<'_>, max_rows: usize, max_bytes: usize) -> Result<Self, QueryError> {
        let mut bytes = 0usize;
        let mut count = |more: usize| -> Result<(), QueryError> {
            bytes = bytes.saturating_add(more);
            if bytes > max_bytes {
                return Err(QueryError::ResultTooBig(max_bytes));
            }
            Ok(())
        };
        let eval = |e: oxigraph::sparql::QueryEvaluationError| match e {
            oxigraph::sparql::QueryEvaluationError::Cancelled => QueryError::Evaluation("cancelled".into()),
            other => QueryError::Evaluation(other.to_string()),
        };
        Ok(match results {
            QueryResults::Boolean(b) => Self::Boolean(b),
            QueryResults::Solutions(solutions) => {
                let variables = solutions.variables().to_vec();
                let mut rows = Vec::new();
                for solution in solutions {
                    if rows.len() == max_rows {
                        return Err(QueryError::TooLarge(max_rows));
                    }
                    let row = solution.map_err(eval)?.values().to_vec();
                    count(row.iter().flatten().map(|t| term_bytes(t.as_ref())).sum())?;
                    rows.push(row);
                }
                Self::Solutions { variables, rows }
            }
            QueryResults::Graph(triples) => {
                let mut out = Vec::new();
                for triple in triples {
                    if out.len() == max_rows {
                        return Err(QueryError::TooLarge(max_rows));
                    }
                    let triple = triple.map_err(eval)?;
                    count(
                        term_bytes(triple.subject.as_ref().into())
                            + term_bytes(triple.predicate.as_ref().into())
                            + term_bytes(triple.object.as_ref()),
                    )?;
                    out.push(triple);
                }
                Self::Graph(out)
            }
        })
    }

    /// Parses a SPARQL results document (SELECT/ASK) as a remote endpoint returned it.
    pub fn parse_results(format: ResultsFormat, body: &[u8]) -> Result<Self, String> {
        let parser = QueryResultsParser::from_format(format.oxigraph());
        match parser.for_slice(body).map_err(|e| e.to_string())? {
            SliceQueryResultsParserOutput::Boolean(b) => Ok(Self::Boolean(b)),
            SliceQueryResultsParserOutput::Solutions(solutions) => {
                let variables = solutions.variables().to_vec();
                let rows = solutions
                    .map(|s| s.map(|s| s.values().to_vec()))
                    .collect::<Result<Vec<_>, _>>()
                    .map_err(|e| e.to_string())?;
                Ok(Self::Solutions { variables, rows })
            }
        }
    }

    /// Parses an RDF graph (CONSTRUCT/DESCRIBE) as a remote endpoint returned it.
    pub fn parse_graph(format: GraphFormat, body: &[u8]) -> Result<Self, String> {
        let triples = RdfParser::from_format(format.oxigraph())
            .for_slice(body)
            .map(|q| q.map(Triple::from).map_err(|e| e.to_string()))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Self::Graph(triples))
    }

    /// Number of rows (solutions, triples, or 1 for a boolean).
    pub fn len(&self) -> usize {
        match self {
            Self::Solutions { rows, .. } => rows.len(),
            Self::Boolean(_) => 1,
            Self::Graph(t) => t.len(),
        }
    }

    /// Whether there is no solution and no triple.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Writes SELECT/ASK results in `format`; a graph answer is written as N-Triples instead,
    /// since the results formats cannot hold one.
    pub fn write_results(&self, format: ResultsFormat, out: impl Write) -> std::io::Result<()> {
        let serializer = QueryResultsSerializer::from_format(format.oxigraph());
        match self {
            Self::Boolean(b) => {
                serializer.serialize_boolean_to_writer(out, *b)?;
            }
            Self::Solutions { variables, rows } => {
                let mut w = serializer.serialize_solutions_to_writer(out, variables.clone())?;
                for row in rows {
                    w.serialize(
                        variables
                            .iter()
                            .zip(row)
                            .filter_map(|(v, t)| t.as_ref().map(|t| (v, t))),
                    )?;
                }
                w.finish()?;
            }
            Self::Graph(_) => self.write_graph(GraphFormat::NTriples, out)?,
        }
        Ok(())
    }

    /// Writes a graph answer in `format` with SEAM's prefixes; other answers write nothing.
    pub fn write_graph(&self, format: GraphFormat, out: impl Write) -> std::io::Result<()> {
        let Self::Graph(triples) = self else {
            return Ok(());
        };
        let mut serializer = RdfSerializer::from_format(format.oxigraph());
        if format != GraphFormat::NTriples {
            for (prefix, ns) in PREFIXES {
                serializer = serializer
                    .with_prefix(*prefix, *ns)
                    .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidInput, e))?;
            }
        }
        let mut w = serializer.for_writer(out);
        for t in triples {
            w.serialize_triple(t)?;
        }
        w.finish()?;
        Ok(())
    }

    /// Renders the answer as an aligned text table for people, with IRIs shortened by SEAM's
    /// prefixes and literals shown by their lexical form.
    pub fn to_table(&self) -> String {
        let (header, rows): (Vec<String>, Vec<Vec<String>>) = match self {
            Self::Boolean(b) => return format!("{b}\n"),
            Self::Solutions { variables, rows } => (
                variables.iter().map(|v| v.as_str().to_owned()).collect(),
                rows.iter()
                    .map(|r| r.iter().map(|t| t.as_ref().map(compact).unwrap_or_default()).collect())
                    .collect(),
            ),
            Self::Graph(triples) => (
                vec!["subject".into(), "predicate".into(), "object".into()],
                triples
                    .iter()
                    .map(|t| {
                        vec![
                            compact(&t.subject.clone().into()),
                            compact(&t.predicate.clone().into()),
                            compact(&t.object),
                        ]
                    })
                    .collect(),
            ),
        };
        let mut out = aligned(&header, &rows);
        out.push_str(&format!(
            "({} {})\n",
            rows.len(),
            if rows.len() == 1 { "row" } else { "rows" }
        ));
        out
    }
}

/// Columns separated by ` | `, the header underlined (`-+-` where columns meet), no outer
/// border, no trailing blanks: comfy-table, styled so.
fn aligned(header: &[String], rows: &[Vec<String>]) -> String {
    use comfy_table::{presets, Table, TableComponent};
    let mut table = Table::new();
    table.load_preset(presets::NOTHING);
    table.set_style(TableComponent::VerticalLines, '|');
    table.set_style(TableComponent::HeaderLines, '-');
    table.set_style(TableComponent::MiddleHeaderIntersections, '+');
    table.set_header(header);
    for row in rows {
        table.add_row(row);
    }
    let last = header.len().saturating_sub(1);
    for (i, column) in table.column_iter_mut().enumerate() {
        column.set_padding((u16::from(i > 0), u16::from(i < last)));
    }
    let mut out = String::new();
    for line in table.lines() {
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

/// An IRI as people read it: `dev:line3-vibration-01` rather than the full IRI.
pub fn compact_iri(iri: &str) -> String {
    match oxigraph::model::NamedNode::new(iri) {
        Ok(n) => compact(&n.into()),
        Err(_) => iri.to_owned(),
    }
}

/// A term as people read it: `seam:Board` rather than the full IRI, `64000000` rather than the
/// typed literal.
pub fn compact(term: &Term) -> String {
    match term {
        Term::NamedNode(n) => {
            let iri = n.as_str();
            PREFIXES
                .iter()
                .find_map(|(p, ns)| {
                    iri.strip_prefix(ns)
                        .filter(|local| !local.is_empty() && !local.contains(['/', '#']))
                        .map(|local| format!("{p}:{local}"))
                })
                .unwrap_or_else(|| format!("<{iri}>"))
        }
        Term::BlankNode(b) => b.to_string(),
        Term::Literal(l) => match l.language() {
            Some(lang) => format!("{}@{lang}", l.value()),
            None => l.value().to_owned(),
        },
        #[allow(unreachable_patterns)]
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use oxigraph::model::{Literal, NamedNode};

    fn sample() -> QueryAnswer {
        QueryAnswer::Solutions {
            variables: vec![Variable::new_unchecked("board"), Variable::new_unchecked("ram")],
            rows: vec![vec![
                Some(NamedNode::new_unchecked("https://w3id.org/seam/catalog/raspberrypi-pico").into()),
                Some(Literal::from(270_336).into()),
            ]],
        }
    }

    #[test]
    fn tables_align_columns_under_an_underlined_header() {
        let answer = QueryAnswer::Solutions {
            variables: vec![Variable::new_unchecked("b"), Variable::new_unchecked("label")],
            rows: vec![
                vec![
                    Some(Literal::new_simple_literal("ünï").into()),
                    Some(Literal::new_simple_literal("x").into()),
                ],
                vec![Some(Literal::new_simple_literal("longer").into()), None],
            ],
        };
        assert_eq!(
            answer.to_table(),
            "b      | label\n-------+------\nünï    | x\nlonger |\n(2 rows)\n"
        );
        let empty = QueryAnswer::Solutions {
            variables: vec![Variable::new_unchecked("n")],
            rows: Vec::new(),
        };
        assert_eq!(empty.to_table(), "n\n-\n(0 rows)\n");
    }

    #[test]
    fn table_compacts_iris_and_counts_rows() {
        let table = sample().to_table();
        assert!(table.contains("cat:raspberrypi-pico | 270336"), "{table}");
        assert!(table.ends_with("(1 row)\n"), "{table}");
    }

    #[test]
    fn json_round_trips_through_the_remote_parser() {
        let mut buf = Vec::new();
        sample().write_results(ResultsFormat::Json, &mut buf).unwrap();
        let back = QueryAnswer::parse_results(ResultsFormat::Json, &buf).unwrap();
        assert_eq!(back, sample());
    }

    #[test]
    fn garbage_results_are_an_error_not_a_panic() {
        assert!(QueryAnswer::parse_results(ResultsFormat::Json, b"{\"head\":").is_err());
        assert!(QueryAnswer::parse_graph(GraphFormat::Turtle, b"<a> <b> .").is_err());
    }
}
