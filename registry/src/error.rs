//! One error enum per API surface: opening the store, ingesting data, querying.

use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

/// Opening, reading or writing the store failed.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// Another process (usually a running `seam serve`) holds the store's lock.
    #[error("the store at {} is in use by another process (is `seam serve` running on it?)", path.display())]
    Locked {
        /// The store directory.
        path: PathBuf,
    },
    /// The store could not be opened for another reason.
    #[error("cannot open the store at {}: {source}", path.display())]
    Open {
        /// The store directory.
        path: PathBuf,
        /// What the storage said.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// A read or write of the store failed.
    #[error("storage error: {0}")]
    Storage(#[source] Box<dyn std::error::Error + Send + Sync>),
    /// A remote store cannot be reached now (HTTP 503 to SEAM's clients; reads were retried).
    #[error("the store at {store} cannot be reached: {message}")]
    Unavailable {
        /// The store's endpoint.
        store: String,
        /// What failed.
        message: String,
    },
    /// A remote store refused a write (a limit of its configuration, usually); nothing of the
    /// write was kept.
    #[error("the store at {store} refused the write: {message}")]
    Refused {
        /// The store's endpoint.
        store: String,
        /// What it said.
        message: String,
    },
}

impl StoreError {
    /// Whether an error's text is that of [`StoreError::Unavailable`] (errors that wrap it reach
    /// the HTTP layer as text).
    pub fn is_unavailable_text(text: &str) -> bool {
        text.contains("the store at ") && text.contains(" cannot be reached: ")
    }
}

/// One precise complaint about an input: where it is and what is wrong.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Diagnostic {
    /// The file (or `<request>` for HTTP bodies).
    pub file: String,
    /// 1-based line, when known.
    pub line: Option<u64>,
    /// 1-based column, when known.
    pub column: Option<u64>,
    /// What is wrong, in one sentence.
    pub message: String,
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (self.line, self.column) {
            (Some(l), Some(c)) => write!(f, "{}:{l}:{c}: {}", self.file, self.message),
            (Some(l), None) => write!(f, "{}:{l}: {}", self.file, self.message),
            _ => write!(f, "{}: {}", self.file, self.message),
        }
    }
}

/// Ingesting data failed; nothing was written.
#[derive(Debug, thiserror::Error)]
pub enum IngestError {
    /// The input is not valid: a syntax error or failed constraints. Every problem found is listed.
    #[error("{}", summarize(.0))]
    Invalid(Vec<Diagnostic>),
    /// A file could not be read.
    #[error("cannot read {}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// The file's extension names no RDF format SEAM reads.
    #[error("{}: unknown RDF format (use .ttl, .nt, .nq, .trig, .rdf/.owl/.xml or .jsonld)", path.display())]
    UnknownFormat {
        /// The file.
        path: PathBuf,
    },
    /// The store failed while writing; the transaction was not committed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A file SEAM bundles (a schema, a context) could not be used: a defect of the build.
    #[error("a file bundled with SEAM is broken: {0}")]
    Bundled(String),
}

impl IngestError {
    /// The diagnostics of an invalid input (empty for other errors).
    pub fn diagnostics(&self) -> &[Diagnostic] {
        match self {
            Self::Invalid(d) => d,
            _ => &[],
        }
    }
}

fn summarize(diagnostics: &[Diagnostic]) -> String {
    match diagnostics {
        [] => "invalid input".to_owned(),
        [one] => one.to_string(),
        [first, rest @ ..] => format!("{first} (and {} more problems)", rest.len()),
    }
}

/// A query or update could not be answered.
#[derive(Debug, thiserror::Error)]
pub enum QueryError {
    /// The SPARQL text does not parse.
    #[error("SPARQL syntax error{}: {message}", position(*.line, *.column))]
    Syntax {
        /// The parser's message.
        message: String,
        /// 1-based line of the error, when the parser gave it.
        line: Option<u64>,
        /// 1-based column of the error, when the parser gave it.
        column: Option<u64>,
    },
    /// The query ran longer than allowed and was cancelled.
    #[error("the query was cancelled after {}s (the time limit); narrow it or raise the limit", .0.as_secs_f64())]
    Timeout(Duration),
    /// The result has more rows than allowed.
    #[error("the result has more than {0} rows (the size limit); add a LIMIT or narrow the query")]
    TooLarge(usize),
    /// The result is larger, in bytes, than allowed.
    #[error("the result is larger than {0} bytes (the size limit); add a LIMIT or select fewer or shorter values")]
    ResultTooBig(usize),
    /// The query was valid but evaluation failed.
    #[error("query evaluation failed: {0}")]
    Evaluation(String),
    /// The query is valid SPARQL but larger or deeper than the service evaluates (see
    /// `guard::ShapeLimits`).
    #[error("the query is too complex: {0}")]
    TooComplex(String),
    /// The query or update asks for something the registry never does for a client: fetch
    /// another endpoint (`SERVICE`) or a document (`LOAD`), whatever the IRI (`http:`, `file:`).
    #[error("{0}")]
    Refused(String),
    /// Every evaluator is busy and the queue in front of them is full; try again shortly.
    #[error("the service is busy ({running} queries running, {waiting} waiting); try again shortly")]
    Busy {
        /// Evaluations that run at once.
        running: usize,
        /// Evaluations that may wait.
        waiting: usize,
    },
    /// The service is stopping: evaluations in flight were cancelled, new ones are refused.
    #[error("the service is shutting down")]
    ShuttingDown,
    /// A defect of SEAM or of its evaluator (it panicked); this request failed, the next ones
    /// are unaffected.
    #[error("internal error: {0}")]
    Internal(String),
    /// A remote endpoint could not be reached or answered with an error.
    #[error("SPARQL endpoint {endpoint}: {message}")]
    Remote {
        /// The endpoint URL.
        endpoint: String,
        /// HTTP status, when the endpoint answered.
        status: Option<u16>,
        /// What went wrong.
        message: String,
    },
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

fn position(line: Option<u64>, column: Option<u64>) -> String {
    match (line, column) {
        (Some(l), Some(c)) => format!(" at line {l}, column {c}"),
        (Some(l), None) => format!(" at line {l}"),
        _ => String::new(),
    }
}

impl QueryError {
    /// Builds a syntax error from the SPARQL parser's message, extracting `line:column` when the
    /// message carries it (the parser reports "error at L:C: expected ...").
    pub fn syntax(message: impl Into<String>) -> Self {
        let message = message.into();
        let (line, column) = parse_line_col(&message);
        Self::Syntax { message, line, column }
    }
}

fn parse_line_col(message: &str) -> (Option<u64>, Option<u64>) {
    let Some(rest) = message.split("error at ").nth(1) else {
        return (None, None);
    };
    let mut parts = rest.splitn(2, ':');
    let line = parts.next().and_then(|l| l.trim().parse().ok());
    let column = parts.next().and_then(|c| {
        let digits: String = c.chars().take_while(char::is_ascii_digit).collect();
        digits.parse().ok()
    });
    (line, column)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn syntax_error_position_is_extracted() {
        let QueryError::Syntax { line, column, .. } = QueryError::syntax("error at 3:17: expected one of \"{\"") else {
            panic!("not a syntax error")
        };
        assert_eq!((line, column), (Some(3), Some(17)));
        let QueryError::Syntax { line, column, .. } = QueryError::syntax("no position") else {
            panic!("not a syntax error")
        };
        assert_eq!((line, column), (None, None));
    }

    #[test]
    fn diagnostics_render_as_file_line_column() {
        let d = Diagnostic {
            file: "a.ttl".into(),
            line: Some(4),
            column: Some(2),
            message: "bad".into(),
        };
        assert_eq!(d.to_string(), "a.ttl:4:2: bad");
        let e = IngestError::Invalid(vec![d.clone(), d]);
        assert_eq!(e.to_string(), "a.ttl:4:2: bad (and 1 more problems)");
    }
}
