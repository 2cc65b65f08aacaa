//! A store SEAM does not embed: any engine that speaks the SPARQL 1.1 Protocol (query and
//! update), reached with reqwest. Oxigraph server and Virtuoso are tested; others run as
//! `generic`.
//!
//! How the contract of [`GraphStore`] is kept over HTTP:
//!
//! - **One write, one request.** A commit or a change set is one SPARQL update request, which
//!   the engine applies in one transaction (Oxigraph server and Virtuoso both do). A write
//!   larger than the engine takes in one request ([`Engine::max_quads_per_request`]) is
//!   *staged*: its quads go into staging graphs of its own, chunk by chunk, and one last request
//!   moves them into place (`ADD`, and `DELETE … WHERE` for deletions) and drops the staging
//!   graphs. If any chunk fails the staging graphs are dropped and nothing else was touched. A
//!   staged write is visible in the union default graph while its chunks are sent; nothing in
//!   SEAM reads the staging graphs (`urn:seam:staging:`), and [`GraphStore::len`] and the pattern
//!   reads skip them.
//! - **Blank nodes are skolemised** (RDF 1.1 Concepts §3.5): written as IRIs under
//!   [`SKOLEM_PREFIX`], read back as the blank nodes they were. Engines give blank nodes of an
//!   update fresh labels (and Virtuoso refuses them in `INSERT DATA`), so without this a quad
//!   with a blank node could never be deleted, and a staged write would split its blank nodes.
//! - **The default graph.** Queries see the union of all graphs (Oxigraph server: the
//!   `union-default-graph` parameter; Virtuoso: its own default). Virtuoso has no default graph
//!   to write into, so SEAM's default graph is the named graph [`VIRTUOSO_DEFAULT_GRAPH`] there.
//! - **Other writers.** Every write also replaces a marker triple ([`MARKER_GRAPH`]) with a
//!   fresh value: `urn:seam:lastWrite` for a write that may change what the graph describes,
//!   `urn:seam:lastStateWrite` for a change set of state alone (a check-in, a delivery step). A
//!   task reads the markers every `staleness` and, when another instance changed one, moves
//!   [`GraphStore::version`] (and, for the first, [`GraphStore::described_version`]), so what is
//!   derived from the graph (the fleet index) is rebuilt within that bound, and not because a
//!   device checked in with another instance. (An instance that knows only the first marker
//!   writes it for every write, and reads only it: the two mix.)
//! - **Engines' limits.** Virtuoso cuts every answer at `ResultSetMaxRows`, saying so only in an
//!   `X-SPARQL-MaxRows` header (an answer exactly as long as the configured cut-off counts as cut
//!   where the header is missing): such an answer is read again page by page (`ORDER BY` inside a subquery, `LIMIT`
//!   and `OFFSET` outside, Virtuoso's documented way) and the total checked against a `COUNT`.
//!   A refusal by its cost estimate or execution limit is reported as such, naming the setting.
//! - **Failures.** An engine that cannot be reached is [`StoreError::Unavailable`] (HTTP 503);
//!   reads are retried with back-off, writes only when the request never left (a refused
//!   connection) or when the engine rolled it back to break a deadlock with another writer
//!   (Virtuoso's SR172), so that a write is never applied twice.

mod engine;
mod http;
mod marker;
mod text;
mod virtuoso;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use oxigraph::model::{Quad, Term};

use super::{ChangeSet, Commit, Evaluation, GraphStore, QuadPattern};
use crate::answer::{GraphFormat, QueryAnswer, ResultsFormat};
use crate::error::{QueryError, StoreError};
use http::{Exchange, Failure, Http, Response, DEADLOCK_RETRIES};

pub use engine::{Engine, EngineKind};
pub use marker::MARKER_GRAPH;
use marker::{Mark, Markers};
pub use text::SKOLEM_PREFIX;

/// The named graph that holds SEAM's default graph on Virtuoso, which has no default graph to
/// write into.
pub const VIRTUOSO_DEFAULT_GRAPH: &str = "urn:seam:graph:default";
/// Staging graphs of a write too large for one request are named under this prefix.
pub const STAGING_PREFIX: &str = "urn:seam:staging:";

/// Where the store is and how to speak to it.
#[derive(Debug, Clone)]
pub struct RemoteConfig {
    /// The SPARQL 1.1 query endpoint (`http://host:7878/query`, `http://host:8890/sparql`).
    pub query_url: String,
    /// The update endpoint; `None`: the query URL (Virtuoso), or `/update` beside an Oxigraph
    /// server's `/query`.
    pub update_url: Option<String>,
    /// Sent as `Authorization: Bearer` on every request.
    pub token: Option<String>,
    /// Which engine; `Auto` reads the endpoint's `Server` header.
    pub engine: EngineKind,
    /// Longest wait for one request (a query's own deadline is shorter when it has one).
    pub request_timeout: Duration,
    /// How stale what this instance derived from the graph may be after another instance
    /// writes: the marker is read this often.
    pub staleness: Duration,
    /// Overrides the engine's largest write in one request (quads); staged above it.
    pub max_quads_per_request: Option<usize>,
    /// Overrides the engine's answer cut-off (Virtuoso's `ResultSetMaxRows`).
    pub result_set_max_rows: Option<usize>,
}

impl RemoteConfig {
    /// A store at `query_url` with the defaults: engine detected, 60 s requests, 2 s staleness.
    pub fn new(query_url: impl Into<String>) -> Self {
        Self {
            query_url: query_url.into(),
            update_url: None,
            token: None,
            engine: EngineKind::Auto,
            request_timeout: Duration::from_secs(60),
            staleness: Duration::from_secs(2),
            max_quads_per_request: None,
            result_set_max_rows: None,
        }
    }
}

/// A SPARQL 1.1 Protocol store. Cheap to clone (a shared handle).
#[derive(Clone)]
pub struct RemoteStore {
    inner: Arc<Inner>,
}

struct Inner {
    query_url: reqwest::Url,
    update_url: reqwest::Url,
    engine: Engine,
    http: Http,
    request_timeout: Duration,
    /// Bumped by every write through this handle.
    local_writes: AtomicU64,
    /// Bumped when a marker shows another instance's write.
    remote_writes: AtomicU64,
    /// Bumped when the description marker shows another instance's write.
    remote_described_writes: AtomicU64,
    /// The write markers' values of this instance's last writes, and the last values seen.
    markers: Mutex<Markers>,
}

impl std::fmt::Debug for RemoteStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "RemoteStore({}, {})",
            self.inner.query_url,
            self.inner.engine.kind.name()
        )
    }
}

impl RemoteStore {
    /// Connects: checks that the endpoint answers a query (an unreachable store is an error
    /// now, not at the first request) and settles which engine it is.
    pub fn connect(config: RemoteConfig) -> Result<Self, StoreError> {
        let open_error = |message: String| StoreError::Unavailable {
            store: config.query_url.clone(),
            message,
        };
        let query_url = parse_url(&config.query_url).map_err(open_error)?;
        let http = Http::new(config.token.clone()).map_err(open_error)?;
        // The probe: an ASK every engine answers at once, whose Server header names the engine.
        let server = http
            .request(Exchange {
                url: query_url.clone(),
                field: "query",
                accept: "application/sparql-results+json",
                body: "ASK {}".into(),
                timeout: Duration::from_secs(10),
                idempotent: true,
                cancel: None,
            })
            .map(|response| response.server)
            .map_err(|failure| {
                open_error(match failure {
                    Failure::Unreachable { message, .. } => message,
                    Failure::Status { status, body } => {
                        format!("HTTP {status} to a probe query: {}", engine::summary(&body))
                    }
                    other => format!("{other:?}"),
                })
            })?;
        let mut engine = Engine::for_kind(config.engine.resolve(&server));
        if let Some(n) = config.max_quads_per_request {
            engine.max_quads_per_request = n.max(1);
        }
        if let Some(n) = config.result_set_max_rows {
            engine.result_set_max_rows = Some(n.max(1));
        }
        let update_url = match &config.update_url {
            Some(url) => parse_url(url).map_err(open_error)?,
            None => engine.update_url_beside(&query_url),
        };
        tracing::info!(target: "seam", store = %query_url, engine = engine.kind.name(), server = %server, "remote SPARQL store");
        let store = Self {
            inner: Arc::new(Inner {
                query_url,
                update_url,
                engine,
                http,
                request_timeout: config.request_timeout,
                local_writes: AtomicU64::new(0),
                remote_writes: AtomicU64::new(0),
                remote_described_writes: AtomicU64::new(0),
                markers: Mutex::new(Markers::default()),
            }),
        };
        store.remove_abandoned_staging();
        store.watch_markers(config.staleness);
        Ok(store)
    }

    /// Which engine SEAM speaks to.
    pub fn engine(&self) -> &Engine {
        &self.inner.engine
    }

    /// Drops staging graphs an interrupted write left behind more than an hour ago (their names
    /// carry the time they were made; a younger one may belong to another instance's write in
    /// progress).
    fn remove_abandoned_staging(&self) {
        let text = format!(
            "SELECT DISTINCT ?g WHERE {{ GRAPH ?g {{ ?s ?p ?o }} FILTER(STRSTARTS(STR(?g), \"{STAGING_PREFIX}\")) }}"
        );
        let Ok(rows) = self.select_text(&text, false, Duration::from_secs(30)) else {
            return;
        };
        let now = unix_seconds();
        let stale: Vec<String> = rows
            .into_iter()
            .filter_map(|row| match row.into_iter().next() {
                Some(Some(Term::NamedNode(g))) => Some(g.into_string()),
                _ => None,
            })
            .filter(|g| text::staging_age(g, now).is_some_and(|age| age > 3600))
            .collect();
        if stale.is_empty() {
            return;
        }
        let update: String = stale
            .iter()
            .map(|g| format!("DROP SILENT GRAPH <{g}>"))
            .collect::<Vec<_>>()
            .join(" ;\n");
        match self.send_update(update, Mark::Unmarked) {
            Ok(()) => {
                tracing::info!(target: "seam", graphs = stale.len(), "dropped staging graphs of interrupted writes")
            }
            Err(e) => tracing::warn!(target: "seam", error = %e, "could not drop abandoned staging graphs"),
        }
    }

    // --- requests ---------------------------------------------------------------------------

    /// Runs SPARQL text that SEAM wrote itself (bounded reads) and returns its rows.
    fn select_text(&self, text: &str, union: bool, timeout: Duration) -> Result<Vec<Vec<Option<Term>>>, StoreError> {
        let query = spargebra::SparqlParser::new()
            .parse_query(text)
            .map_err(|e| StoreError::Storage(format!("a query of the remote store does not parse: {e}").into()))?;
        let run = Evaluation {
            timeout,
            ..Evaluation::unbounded()
        };
        match self.evaluate(query, &run, union) {
            Ok(QueryAnswer::Solutions { rows, .. }) => Ok(rows),
            Ok(_) => Err(StoreError::Storage("a SELECT was answered with something else".into())),
            Err(QueryError::Store(e)) => Err(e),
            Err(e) => Err(StoreError::Storage(Box::new(e))),
        }
    }

    /// Evaluates a query: text out, answer in, blank nodes restored, Virtuoso's cut-off undone.
    fn evaluate(&self, query: spargebra::Query, run: &Evaluation, union: bool) -> Result<QueryAnswer, QueryError> {
        let (answer, cut_at) = self.evaluate_once(&query, run, union)?;
        // The engine's own word first; else an answer exactly as long as the configured cut-off.
        let cap = match (&answer, cut_at, self.inner.engine.result_set_max_rows) {
            (QueryAnswer::Solutions { rows, .. }, Some(cap), _) if rows.len() >= cap => cap,
            (QueryAnswer::Solutions { rows, .. }, None, Some(cap)) if rows.len() >= cap => cap,
            _ => return Ok(answer),
        };
        self.evaluate_in_pages(query, run, union, cap)
    }

    fn evaluate_once(
        &self,
        query: &spargebra::Query,
        run: &Evaluation,
        union: bool,
    ) -> Result<(QueryAnswer, Option<usize>), QueryError> {
        if run.cancel.is_cancelled() {
            return Err(QueryError::Evaluation("cancelled".into()));
        }
        let timeout = run.timeout.min(self.inner.request_timeout);
        let mut url = self.inner.query_url.clone();
        self.inner.engine.query_parameters(&mut url, union, timeout);
        let graph = matches!(
            query,
            spargebra::Query::Construct { .. } | spargebra::Query::Describe { .. }
        );
        let accept = if graph {
            "application/n-triples, text/turtle;q=0.9"
        } else {
            "application/sparql-results+json"
        };
        let text = query.to_string();
        let Response {
            content_type,
            body,
            cut_at,
            ..
        } = self
            .inner
            .http
            .request(Exchange {
                url,
                field: "query",
                accept,
                body: text,
                // The engine's own limit comes first; this one is for an engine that ignores it.
                timeout: timeout + Duration::from_secs(2),
                idempotent: true,
                cancel: Some(run.cancel.clone()),
            })
            .map_err(|f| self.query_failure(f, timeout))?;
        if body.len() > run.max_result_bytes.saturating_mul(2).max(1 << 16) {
            return Err(QueryError::ResultTooBig(run.max_result_bytes));
        }
        let parsed = match content_type.as_str() {
            "application/sparql-results+json" | "application/json" => {
                QueryAnswer::parse_results(ResultsFormat::Json, &body)
            }
            "application/sparql-results+xml" | "application/xml" => {
                QueryAnswer::parse_results(ResultsFormat::Xml, &body)
            }
            "application/n-triples" | "text/plain" => QueryAnswer::parse_graph(GraphFormat::NTriples, &body),
            "text/turtle" => QueryAnswer::parse_graph(GraphFormat::Turtle, &body),
            other => Err(format!("unsupported content type {other:?}")),
        }
        .map_err(|m| self.remote_error(None, format!("malformed answer: {m}")))?;
        let answer = text::restore_blank_nodes(text::in_projection_order(parsed, query));
        if answer.len() > run.max_rows {
            return Err(QueryError::TooLarge(run.max_rows));
        }
        Ok((answer, cut_at))
    }

    /// Reads an answer the engine cut at `cap` rows page by page, then checks the total.
    fn evaluate_in_pages(
        &self,
        query: spargebra::Query,
        run: &Evaluation,
        union: bool,
        cap: usize,
    ) -> Result<QueryAnswer, QueryError> {
        let spargebra::Query::Select {
            dataset,
            pattern,
            base_iri,
        } = query
        else {
            return Err(QueryError::Internal("paging applies to SELECT only".into()));
        };
        let variables = text::projected(&pattern).ok_or_else(|| self.truncated(cap))?;
        if text::has_own_slice(&pattern) {
            // Its own LIMIT or OFFSET cannot be paged without changing what it selects.
            return Err(self.truncated(cap));
        }
        let mut rows = Vec::new();
        let mut offset = 0;
        loop {
            let page = spargebra::Query::Select {
                dataset: dataset.clone(),
                pattern: text::page(&pattern, &variables, offset, cap),
                base_iri: base_iri.clone(),
            };
            let (QueryAnswer::Solutions { rows: got, .. }, _) = self.evaluate_once(&page, run, union)? else {
                return Err(QueryError::Internal("a page of a SELECT was not solutions".into()));
            };
            let n = got.len();
            rows.extend(got);
            if rows.len() > run.max_rows {
                return Err(QueryError::TooLarge(run.max_rows));
            }
            if n < cap {
                break;
            }
            offset += n;
        }
        let count = spargebra::Query::Select {
            dataset,
            pattern: text::count_of(&pattern),
            base_iri,
        };
        let expected = match self.evaluate_once(&count, run, union)?.0 {
            QueryAnswer::Solutions { rows, .. } => {
                rows.first()
                    .and_then(|r| r.first().cloned().flatten())
                    .and_then(|t| match t {
                        Term::Literal(l) => l.value().parse::<usize>().ok(),
                        _ => None,
                    })
            }
            _ => None,
        };
        if expected != Some(rows.len()) {
            return Err(QueryError::Evaluation(format!(
                "the store answered {} rows page by page but counts {}: the answer changed while it was read, or the engine still cuts it (ResultSetMaxRows {cap})",
                rows.len(),
                expected.map_or("nothing".to_owned(), |n| n.to_string())
            )));
        }
        Ok(QueryAnswer::Solutions { variables, rows })
    }

    fn truncated(&self, cap: usize) -> QueryError {
        QueryError::Evaluation(format!(
            "the answer reached the store's cut-off of {cap} rows (Virtuoso's ResultSetMaxRows) and cannot be read page by page (it has its own LIMIT or OFFSET); raise ResultSetMaxRows in virtuoso.ini's [SPARQL] section, or narrow the query"
        ))
    }

    fn remote_error(&self, status: Option<u16>, message: String) -> QueryError {
        QueryError::Remote {
            endpoint: self.inner.query_url.to_string(),
            status,
            message,
        }
    }

    fn query_failure(&self, failure: Failure, timeout: Duration) -> QueryError {
        match failure {
            Failure::Cancelled => QueryError::Evaluation("cancelled".into()),
            Failure::Deadlocked(m) => QueryError::Store(StoreError::Unavailable {
                store: self.inner.query_url.to_string(),
                message: format!("still deadlocked with other writers after {DEADLOCK_RETRIES} attempts: {m}"),
            }),
            Failure::Unreachable { message, .. } if message.contains("timeout") => QueryError::Timeout(timeout),
            Failure::Unreachable { message, .. } => QueryError::Store(StoreError::Unavailable {
                store: self.inner.query_url.to_string(),
                message,
            }),
            Failure::Status { status, body } => match self.inner.engine.classify(status, &body) {
                engine::Refusal::Syntax(m) => QueryError::syntax(m),
                engine::Refusal::Timeout => QueryError::Timeout(timeout),
                engine::Refusal::Limit(m) => QueryError::Evaluation(m),
                engine::Refusal::Unavailable(m) => QueryError::Store(StoreError::Unavailable {
                    store: self.inner.query_url.to_string(),
                    message: m,
                }),
                engine::Refusal::Other(m) => self.remote_error(Some(status), m),
            },
        }
    }

    fn write_failure(&self, failure: Failure) -> StoreError {
        let store = self.inner.update_url.to_string();
        match failure {
            Failure::Unreachable { message, .. } => StoreError::Unavailable { store, message },
            Failure::Cancelled => StoreError::Storage("the write was cancelled".into()),
            Failure::Deadlocked(message) => StoreError::Unavailable {
                store,
                message: format!("still deadlocked with other writers after {DEADLOCK_RETRIES} attempts: {message}"),
            },
            Failure::Status { status, body } => match self.inner.engine.classify(status, &body) {
                engine::Refusal::Unavailable(message) => StoreError::Unavailable { store, message },
                engine::Refusal::Syntax(m) | engine::Refusal::Limit(m) | engine::Refusal::Other(m) => {
                    StoreError::Refused {
                        store,
                        message: format!("HTTP {status}: {m}"),
                    }
                }
                engine::Refusal::Timeout => StoreError::Refused {
                    store,
                    message: format!("HTTP {status}: the write ran out of time"),
                },
            },
        }
    }

    /// Sends update text; a `mark` appends the replacement of that write marker, so that other
    /// instances see the write.
    fn send_update(&self, mut text: String, mark: Mark) -> Result<(), StoreError> {
        let own = mark.append_to(&mut text);
        let result = self.inner.http.request(Exchange {
            url: self.inner.update_url.clone(),
            field: "update",
            accept: "*/*",
            body: text,
            timeout: self.inner.request_timeout,
            idempotent: false,
            cancel: None,
        });
        if let Err(f) = &result {
            tracing::warn!(target: "seam", failure = ?f, "a write to the remote store failed");
        }
        if let Some(value) = own {
            // Even a failed write may have landed (an answer lost on the way back): what is
            // derived from the store is rebuilt either way.
            self.inner.local_writes.fetch_add(1, Ordering::SeqCst);
            if result.is_ok() {
                self.marked(mark, value);
            }
        }
        result.map(drop).map_err(|f| self.write_failure(f))
    }

    // --- writes -----------------------------------------------------------------------------

    /// Applies a write: in one request when it is small enough, else staged.
    fn write(&self, write: text::Write, mark: Mark) -> Result<(), StoreError> {
        if write.is_empty() {
            return Ok(());
        }
        let default_graph = self.inner.engine.default_graph();
        let limit = self.inner.engine.max_quads_per_request;
        if write.len() <= limit {
            return self.send_update(write.direct(default_graph.as_ref()), mark);
        }
        let staging = text::Staging::new(unix_seconds());
        let staged = (|| {
            for chunk in write.chunks(&staging, limit, default_graph.as_ref()) {
                self.send_update(chunk, Mark::Unmarked)?;
            }
            self.send_update(write.finish(&staging, default_graph.as_ref()), mark)
        })();
        if staged.is_err() {
            // Nothing but the staging graphs was written; they go (a failure here leaves them to
            // the next start's clean-up).
            let drop = staging.drop_all(&write);
            if let Err(e) = self.send_update(drop, Mark::Unmarked) {
                tracing::warn!(target: "seam", error = %e, "the staging graphs of a failed write could not be dropped");
            }
        }
        staged
    }

    /// The quads of the store, default graph first, optionally in one graph or matching a
    /// pattern; SEAM's own bookkeeping graphs and the engine's system graphs are skipped.
    fn read_pattern(&self, pattern: QuadPattern<'_>) -> Result<Vec<Quad>, StoreError> {
        let text = text::pattern_query(&pattern, &self.inner.engine);
        let rows = self.select_text(&text, false, self.inner.request_timeout)?;
        let default_graph = self.inner.engine.default_graph();
        rows.into_iter()
            .map(|row| text::quad_of_row(row, &pattern, default_graph.as_ref()))
            .collect::<Result<Vec<_>, String>>()
            .map_err(|m| StoreError::Storage(format!("the remote store answered a quad read wrongly: {m}").into()))
    }
}

impl GraphStore for RemoteStore {
    fn query(&self, query: spargebra::Query, run: &Evaluation) -> Result<QueryAnswer, QueryError> {
        // SERVICE would be evaluated by the engine, which SEAM's allow-list cannot bound: with
        // no endpoint allowed the registry has refused it already; with some, it is refused here.
        if !run.services.is_empty()
            && crate::guard::check_query(&query, &crate::guard::ShapeLimits::default(), &[]).is_err()
        {
            return Err(QueryError::Refused(
                "SERVICE is not evaluated on a remote store: the engine would call the endpoint itself".into(),
            ));
        }
        let union = query_uses_default_dataset(&query);
        let query = if self.inner.engine.kind == EngineKind::Virtuoso {
            virtuoso::fit_query(query)
        } else {
            query
        };
        self.evaluate(query, run, union)
    }

    fn update(&self, update: spargebra::Update, run: &Evaluation) -> Result<(), QueryError> {
        if run.cancel.is_cancelled() {
            return Err(QueryError::Evaluation("cancelled".into()));
        }
        let default_graph = self.inner.engine.default_graph();
        let update = text::update_for_engine(update, default_graph.as_ref()).map_err(QueryError::Refused)?;
        self.send_update(update.to_string(), Mark::Description)
            .map_err(|e| match e {
                StoreError::Refused { message, .. } => QueryError::Evaluation(message),
                other => QueryError::Store(other),
            })
    }

    fn commit(&self, commit: Commit<'_>) -> Result<(), StoreError> {
        self.write(text::Write::of_commit(commit), Mark::Description)
    }

    fn apply(&self, changes: &ChangeSet) -> Result<(), StoreError> {
        let mark = if changes.describes() {
            Mark::Description
        } else {
            Mark::State
        };
        self.write(text::Write::of_changes(changes), mark)
    }

    fn quads_for_pattern(&self, pattern: QuadPattern<'_>) -> Result<Vec<Quad>, StoreError> {
        self.read_pattern(pattern)
    }

    fn len(&self) -> Result<usize, StoreError> {
        let text = text::count_query(&self.inner.engine);
        let rows = self.select_text(&text, false, self.inner.request_timeout)?;
        rows.first()
            .and_then(|r| r.first().cloned().flatten())
            .and_then(|t| match t {
                Term::Literal(l) => l.value().parse().ok(),
                _ => None,
            })
            .ok_or_else(|| StoreError::Storage("the remote store's count is not a number".into()))
    }

    fn is_empty(&self) -> Result<bool, StoreError> {
        let text = text::any_query(&self.inner.engine);
        Ok(self.select_text(&text, false, self.inner.request_timeout)?.is_empty())
    }

    fn version(&self) -> u64 {
        self.inner.local_writes.load(Ordering::SeqCst) + self.inner.remote_writes.load(Ordering::SeqCst)
    }

    fn described_version(&self) -> u64 {
        self.inner.local_writes.load(Ordering::SeqCst) + self.inner.remote_described_writes.load(Ordering::SeqCst)
    }
}

fn query_uses_default_dataset(query: &spargebra::Query) -> bool {
    let dataset = match query {
        spargebra::Query::Select { dataset, .. }
        | spargebra::Query::Construct { dataset, .. }
        | spargebra::Query::Describe { dataset, .. }
        | spargebra::Query::Ask { dataset, .. } => dataset,
    };
    dataset.is_none()
}

fn parse_url(url: &str) -> Result<reqwest::Url, String> {
    let parsed = reqwest::Url::parse(url).map_err(|e| format!("{url:?} is not a URL: {e}"))?;
    if !matches!(parsed.scheme(), "http" | "https") {
        return Err(format!("{url:?}: only http and https stores are supported"));
    }
    Ok(parsed)
}

fn unix_seconds() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}
