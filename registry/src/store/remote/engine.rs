//! What differs between SPARQL engines behind the same protocol: how a query asks for the
//! union default graph and a time limit, where SEAM's default graph is written, how large one
//! write may be, where answers are cut, which graphs are the engine's own, and what its refusals
//! mean.

use std::time::Duration;

use oxigraph::model::NamedNode;

/// The engine a store runs on, as configured.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EngineKind {
    /// Read from the endpoint's `Server` header at connection.
    Auto,
    /// Oxigraph server (`oxigraph serve`).
    Oxigraph,
    /// OpenLink Virtuoso.
    Virtuoso,
    /// Any other SPARQL 1.1 engine: the protocol as written, the default graph as the engine
    /// defines it (configure it as the union of all graphs for SEAM's queries).
    Generic,
}

impl EngineKind {
    /// The name used in settings and logs.
    pub fn name(self) -> &'static str {
        match self {
            Self::Auto => "auto",
            Self::Oxigraph => "oxigraph",
            Self::Virtuoso => "virtuoso",
            Self::Generic => "generic",
        }
    }

    /// Parses a setting (`auto`, `oxigraph`, `virtuoso`, `generic`).
    pub fn parse(text: &str) -> Option<Self> {
        match text.to_ascii_lowercase().as_str() {
            "auto" => Some(Self::Auto),
            "oxigraph" => Some(Self::Oxigraph),
            "virtuoso" => Some(Self::Virtuoso),
            "generic" => Some(Self::Generic),
            _ => None,
        }
    }

    /// `Auto` settled from a `Server` header; the others stay.
    pub fn resolve(self, server: &str) -> Self {
        match self {
            Self::Auto if server.starts_with("Oxigraph") => Self::Oxigraph,
            Self::Auto if server.starts_with("Virtuoso") => Self::Virtuoso,
            Self::Auto => Self::Generic,
            other => other,
        }
    }
}

/// An engine's settings.
#[derive(Debug, Clone)]
pub struct Engine {
    /// Which engine.
    pub kind: EngineKind,
    /// The largest write sent in one request, in quads; larger ones are staged.
    pub max_quads_per_request: usize,
    /// Where the engine cuts an answer without saying so (Virtuoso's `ResultSetMaxRows`).
    pub result_set_max_rows: Option<usize>,
}

/// What an engine's error answer means.
pub(super) enum Refusal {
    Syntax(String),
    Timeout,
    Limit(String),
    Unavailable(String),
    Other(String),
}

/// Graphs a fresh Virtuoso holds for itself; SEAM's counts and reads skip them.
const VIRTUOSO_SYSTEM_GRAPHS: &[&str] = &[
    "http://www.openlinksw.com/schemas/virtrdf#",
    "http://www.w3.org/ns/ldp#",
    "http://localuriqaserver/sparql",
    "http://www.w3.org/2002/07/owl#",
];

impl Engine {
    /// The settings of `kind` (`Auto` is taken as `Generic`).
    pub fn for_kind(kind: EngineKind) -> Self {
        match kind {
            // One request is one transaction of any size; 100,000 quads keep a request's text
            // near 15 MB.
            EngineKind::Oxigraph => Self {
                kind,
                max_quads_per_request: 100_000,
                result_set_max_rows: None,
            },
            // Virtuoso compiles INSERT DATA into one SQL text of at most 10,000 lines: 2,750
            // triples exceed it, 1,000 are taken. ResultSetMaxRows is 10,000 in the
            // virtuoso.ini Virtuoso ships.
            EngineKind::Virtuoso => Self {
                kind,
                max_quads_per_request: 1_000,
                result_set_max_rows: Some(10_000),
            },
            EngineKind::Auto | EngineKind::Generic => Self {
                kind: EngineKind::Generic,
                max_quads_per_request: 10_000,
                result_set_max_rows: None,
            },
        }
    }

    /// The named graph standing for SEAM's default graph, where the engine has no default
    /// graph to write into.
    pub fn default_graph(&self) -> Option<NamedNode> {
        (self.kind == EngineKind::Virtuoso).then(|| NamedNode::new_unchecked(super::VIRTUOSO_DEFAULT_GRAPH))
    }

    /// Graphs that are the engine's own.
    pub fn system_graphs(&self) -> &'static [&'static str] {
        match self.kind {
            EngineKind::Virtuoso => VIRTUOSO_SYSTEM_GRAPHS,
            _ => &[],
        }
    }

    /// The update endpoint when none is configured: Oxigraph server's `/update` beside its
    /// `/query`; the query endpoint itself for the others.
    pub fn update_url_beside(&self, query: &reqwest::Url) -> reqwest::Url {
        if self.kind == EngineKind::Oxigraph && query.path().ends_with("/query") {
            let mut update = query.clone();
            let path = format!("{}update", query.path().trim_end_matches("query"));
            update.set_path(&path);
            return update;
        }
        query.clone()
    }

    /// Adds what a query needs on this engine: the union default graph, the time limit.
    pub(super) fn query_parameters(&self, url: &mut reqwest::Url, union: bool, timeout: Duration) {
        match self.kind {
            EngineKind::Oxigraph => {
                if union {
                    url.query_pairs_mut().append_pair("union-default-graph", "true");
                }
            }
            // Virtuoso's default graph is already the union; its `timeout` is in milliseconds
            // (an anytime query returns partial answers: SEAM never asks for one).
            EngineKind::Virtuoso => {
                let ms = timeout.as_millis().clamp(1, u128::from(u32::MAX));
                url.query_pairs_mut().append_pair("timeout", &ms.to_string());
            }
            EngineKind::Auto | EngineKind::Generic => {}
        }
    }

    /// What an error answer means.
    pub(super) fn classify(&self, status: u16, body: &str) -> Refusal {
        let text = body.trim();
        let line = summary(text);
        match self.kind {
            EngineKind::Virtuoso => {
                // Virtuoso's error codes: SP030/SP031 the SPARQL compiler, 37000 syntax,
                // SR171/S1T00 a transaction or query that timed out; the cost estimate refusal
                // names itself.
                if text.contains("exceeds the limit of") && text.contains("estimated") {
                    return Refusal::Limit(format!(
                        "the store refused the query by its cost estimate (Virtuoso's MaxQueryCostEstimationTime in virtuoso.ini [SPARQL]): {line}"
                    ));
                }
                if text.contains("S1T00") || text.contains("SR171") || text.contains("MaxQueryExecutionTime") {
                    return Refusal::Limit(format!(
                        "the store stopped the query at its time limit (Virtuoso's MaxQueryExecutionTime in virtuoso.ini [SPARQL], or SEAM's query timeout): {line}"
                    ));
                }
                if text.contains("37000") || text.contains("SP030") {
                    return Refusal::Syntax(line);
                }
            }
            EngineKind::Oxigraph => {
                if status == 400 {
                    return Refusal::Syntax(line);
                }
                if text.contains("timeout") || text.contains("cancelled") {
                    return Refusal::Timeout;
                }
            }
            EngineKind::Auto | EngineKind::Generic => {
                if status == 400 {
                    return Refusal::Syntax(line);
                }
            }
        }
        match status {
            502..=504 => Refusal::Unavailable(format!("HTTP {status}: {line}")),
            _ => Refusal::Other(format!("HTTP {status}: {line}")),
        }
    }
}

/// An error body in one line: what comes before the echo of the query (Virtuoso repeats the
/// whole text after `SPARQL query:`), at most 600 characters.
pub(super) fn summary(text: &str) -> String {
    let before = text.split("SPARQL query:").next().unwrap_or(text);
    let joined = before.split_whitespace().collect::<Vec<_>>().join(" ");
    joined.chars().take(600).collect()
}
