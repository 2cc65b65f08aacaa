//! SPARQL 1.1 Federated Query, for the endpoints an operator allows (`--allow-service PREFIX`)
//! and no others: a `SERVICE <IRI>` whose IRI starts with an allowed prefix is sent over the
//! SPARQL 1.1 Protocol; any other is refused before evaluation (`guard`), so the registry never
//! becomes a client of an address a caller chose (an internal service, a `file:` IRI).

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use oxigraph::model::NamedNode;
use oxigraph::sparql::{DefaultServiceHandler, QuerySolution, QuerySolutionIter};
use oxiri::Iri;
use spargebra::algebra::GraphPattern;

use crate::answer::{QueryAnswer, ResultsFormat};

/// Whether `service` is one of `allowed` (an `http:` or `https:` IRI starting with one of the
/// prefixes).
pub fn is_allowed(service: &str, allowed: &[String]) -> bool {
    (service.starts_with("http://") || service.starts_with("https://"))
        && allowed.iter().any(|prefix| service.starts_with(prefix.as_str()))
}

/// A SERVICE call that failed.
#[derive(Debug, thiserror::Error)]
pub enum FederationError {
    /// The IRI is not allowed (the guard refuses these first; this is the second lock).
    #[error("SERVICE <{0}> is not an allowed endpoint")]
    NotAllowed(String),
    /// The endpoint could not be reached or answered with an error.
    #[error("SERVICE <{endpoint}>: {message}")]
    Remote {
        /// The endpoint.
        endpoint: String,
        /// What went wrong.
        message: String,
    },
}

/// The handler the embedded store evaluates SERVICE with.
pub(crate) struct Federation {
    allowed: Arc<[String]>,
    timeout: Duration,
}

impl Federation {
    pub(crate) fn new(allowed: Arc<[String]>, timeout: Duration) -> Self {
        Self { allowed, timeout }
    }
}

fn client() -> Option<&'static reqwest::blocking::Client> {
    static CLIENT: OnceLock<Option<reqwest::blocking::Client>> = OnceLock::new();
    CLIENT
        .get_or_init(|| {
            crate::remote::install_tls_provider();
            reqwest::blocking::Client::builder()
                // An endpoint is asked what the query names, never sent elsewhere.
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .ok()
        })
        .as_ref()
}

/// Largest answer read from an endpoint.
const MAX_ANSWER_BYTES: u64 = 64 * 1024 * 1024;

impl DefaultServiceHandler for Federation {
    type Error = FederationError;

    fn handle(
        &self,
        service_name: &NamedNode,
        pattern: &GraphPattern,
        base_iri: Option<&Iri<String>>,
    ) -> Result<QuerySolutionIter<'static>, Self::Error> {
        let endpoint = service_name.as_str().to_owned();
        if !is_allowed(&endpoint, &self.allowed) {
            return Err(FederationError::NotAllowed(endpoint));
        }
        let remote = |message: String| FederationError::Remote {
            endpoint: endpoint.clone(),
            message,
        };
        let query = spargebra::Query::Select {
            dataset: None,
            pattern: pattern.clone(),
            base_iri: base_iri.cloned(),
        };
        let client = client().ok_or_else(|| remote("no HTTP client".into()))?;
        let response = client
            .post(&endpoint)
            .timeout(self.timeout)
            .header(reqwest::header::ACCEPT, "application/sparql-results+json")
            .form(&[("query", query.to_string())])
            .send()
            .map_err(|e| remote(e.to_string()))?;
        if !response.status().is_success() {
            return Err(remote(format!("answered {}", response.status())));
        }
        if response.content_length().is_some_and(|n| n > MAX_ANSWER_BYTES) {
            return Err(remote(format!("the answer is larger than {MAX_ANSWER_BYTES} bytes")));
        }
        let mut body = Vec::new();
        std::io::Read::read_to_end(&mut std::io::Read::take(response, MAX_ANSWER_BYTES + 1), &mut body)
            .map_err(|e| remote(e.to_string()))?;
        if body.len() as u64 > MAX_ANSWER_BYTES {
            return Err(remote(format!("the answer is larger than {MAX_ANSWER_BYTES} bytes")));
        }
        let QueryAnswer::Solutions { variables, rows } =
            QueryAnswer::parse_results(ResultsFormat::Json, &body).map_err(remote)?
        else {
            return Err(remote("the answer is not a solution sequence".into()));
        };
        let variables: Arc<[oxigraph::sparql::Variable]> = variables.into();
        let shared = variables.clone();
        Ok(QuerySolutionIter::new(
            variables,
            rows.into_iter()
                .map(move |row| Ok(QuerySolution::from((shared.clone(), row)))),
        ))
    }
}
