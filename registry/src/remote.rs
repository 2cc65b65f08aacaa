//! A SPARQL 1.1 Protocol client, so that the CLI (and later the service) can query any endpoint
//! (a running `seam serve`, Oxigraph server, Fuseki, GraphDB, ...) the same way as the embedded
//! store.

use std::time::Duration;

use crate::answer::{GraphFormat, QueryAnswer, ResultsFormat};
use crate::error::QueryError;

/// A remote SPARQL query endpoint.
#[derive(Debug, Clone)]
pub struct SparqlEndpoint {
    url: String,
    client: reqwest::Client,
}

const ACCEPT: &str = "application/sparql-results+json, text/turtle;q=0.9, application/n-triples;q=0.8";

impl SparqlEndpoint {
    /// An endpoint at `url` (e.g. `http://127.0.0.1:8080/sparql`), with a request timeout.
    pub fn new(url: &str, timeout: Duration) -> Result<Self, QueryError> {
        let remote = |message: String| QueryError::Remote {
            endpoint: url.to_owned(),
            status: None,
            message,
        };
        let parsed = reqwest::Url::parse(url).map_err(|e| remote(format!("not a valid URL: {e}")))?;
        if !matches!(parsed.scheme(), "http" | "https") {
            return Err(remote("only http and https endpoints are supported".into()));
        }
        install_tls_provider();
        let client = reqwest::Client::builder()
            .timeout(timeout)
            .build()
            .map_err(|e| remote(e.to_string()))?;
        Ok(Self {
            url: url.to_owned(),
            client,
        })
    }

    /// The endpoint URL.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// Sends `sparql` as `application/sparql-query` and parses the answer by its content type.
    pub async fn query(&self, sparql: &str) -> Result<QueryAnswer, QueryError> {
        let err = |status: Option<u16>, message: String| QueryError::Remote {
            endpoint: self.url.clone(),
            status,
            message,
        };
        let response = self
            .client
            .post(&self.url)
            .header(reqwest::header::CONTENT_TYPE, "application/sparql-query")
            .header(reqwest::header::ACCEPT, ACCEPT)
            .body(sparql.to_owned())
            .send()
            .await
            .map_err(|e| err(None, describe(&e)))?;
        let status = response.status();
        let content_type = crate::answer::media_type_essence(
            response
                .headers()
                .get(reqwest::header::CONTENT_TYPE)
                .and_then(|v| v.to_str().ok())
                .unwrap_or(""),
        );
        let body = response
            .bytes()
            .await
            .map_err(|e| err(Some(status.as_u16()), describe(&e)))?;
        if !status.is_success() {
            return Err(error_from_body(&self.url, status.as_u16(), &content_type, &body));
        }
        let parsed = match content_type.as_str() {
            "application/sparql-results+json" | "application/json" => {
                QueryAnswer::parse_results(ResultsFormat::Json, &body)
            }
            "application/sparql-results+xml" | "application/xml" => {
                QueryAnswer::parse_results(ResultsFormat::Xml, &body)
            }
            "text/tab-separated-values" => QueryAnswer::parse_results(ResultsFormat::Tsv, &body),
            "text/turtle" => QueryAnswer::parse_graph(GraphFormat::Turtle, &body),
            "application/n-triples" => QueryAnswer::parse_graph(GraphFormat::NTriples, &body),
            "application/rdf+xml" => QueryAnswer::parse_graph(GraphFormat::RdfXml, &body),
            "application/ld+json" => QueryAnswer::parse_graph(GraphFormat::JsonLd, &body),
            other => Err(format!("unsupported response content type {other:?}")),
        };
        parsed.map_err(|m| err(Some(status.as_u16()), format!("malformed response: {m}")))
    }
}

/// GETs a JSON document from a SEAM server, mapping problem+json errors to [`QueryError`] (a 4xx
/// other than 404 becomes an invalid-input error).
pub async fn get_json(url: &str, timeout: Duration) -> Result<serde_json::Value, QueryError> {
    install_tls_provider();
    let err = |status: Option<u16>, message: String| QueryError::Remote {
        endpoint: url.to_owned(),
        status,
        message,
    };
    let client = reqwest::Client::builder()
        .timeout(timeout)
        .build()
        .map_err(|e| err(None, e.to_string()))?;
    let response = client
        .get(url)
        .header(reqwest::header::ACCEPT, "application/json")
        .send()
        .await
        .map_err(|e| err(None, describe(&e)))?;
    let status = response.status().as_u16();
    let content_type = response
        .headers()
        .get(reqwest::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_owned();
    let body = response.bytes().await.map_err(|e| err(Some(status), describe(&e)))?;
    if !(200..300).contains(&status) {
        return Err(error_from_body(
            url,
            status,
            content_type.split(';').next().unwrap_or(""),
            &body,
        ));
    }
    serde_json::from_slice(&body).map_err(|e| err(Some(status), format!("malformed JSON: {e}")))
}

/// Makes rustls use the `ring` provider (SEAM builds reqwest without aws-lc, to keep C builds
/// small). Idempotent; every HTTP client in the process needs it before it is built.
pub fn install_tls_provider() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}

/// A failed request in words: a refused connection and a timeout said plainly.
pub(crate) fn describe(e: &reqwest::Error) -> String {
    if e.is_connect() {
        "cannot connect (is the server running?)".into()
    } else if e.is_timeout() {
        "no answer before the timeout".into()
    } else {
        e.to_string()
    }
}

/// A 4xx/5xx answer: keep a problem+json `detail` (SEAM's own server) or the body's first line,
/// and turn a 400 into a syntax error so that callers can exit with "invalid input".
fn error_from_body(url: &str, status: u16, content_type: &str, body: &[u8]) -> QueryError {
    let text = String::from_utf8_lossy(body);
    let detail = if content_type == "application/problem+json" {
        serde_json::from_slice::<serde_json::Value>(body)
            .ok()
            .and_then(|v| v.get("detail").and_then(|d| d.as_str()).map(str::to_owned))
            .unwrap_or_else(|| text.to_string())
    } else {
        text.lines().next().unwrap_or("").chars().take(500).collect()
    };
    if status == 400 {
        QueryError::syntax(detail)
    } else {
        QueryError::Remote {
            endpoint: url.to_owned(),
            status: Some(status),
            message: format!("HTTP {status}: {detail}"),
        }
    }
}
