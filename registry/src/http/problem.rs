//! RFC 9457 problem details: every HTTP error SEAM returns is one of these.

use actix_web::http::header::{self, HeaderValue};
use actix_web::http::StatusCode;
use actix_web::{HttpResponse, ResponseError};
use serde_json::{json, Map, Value};

use crate::error::{IngestError, QueryError, StoreError};

/// An HTTP error with an `application/problem+json` body.
#[derive(Debug, Clone)]
pub struct Problem {
    status: StatusCode,
    kind: &'static str,
    title: &'static str,
    detail: String,
    extensions: Map<String, Value>,
    www_authenticate: Option<String>,
    /// Seconds after which a client may try again (`Retry-After`), for 503s.
    retry_after: Option<u32>,
}

impl std::fmt::Display for Problem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}: {}", self.status.as_u16(), self.title, self.detail)
    }
}

impl Problem {
    /// A problem of `status`, with a short stable `kind` (the last segment of its type URI),
    /// a title that names the class of problem and a detail about this occurrence.
    pub fn new(status: StatusCode, kind: &'static str, title: &'static str, detail: impl Into<String>) -> Self {
        Self {
            status,
            kind,
            title,
            detail: detail.into(),
            extensions: Map::new(),
            www_authenticate: None,
            retry_after: None,
        }
    }

    /// Adds an extension member.
    pub fn with(mut self, key: &str, value: impl Into<Value>) -> Self {
        self.extensions.insert(key.to_owned(), value.into());
        self
    }

    /// 400 for a query or form parameter whose value is not what the endpoint takes.
    pub fn invalid_parameter(detail: impl Into<String>) -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            "invalid-parameter",
            "Invalid parameter",
            detail,
        )
    }

    /// 400 for a parameter the endpoint does not know; `detail` names the ones it does.
    pub fn unknown_parameter(detail: impl Into<String>) -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            "invalid-parameter",
            "Unknown parameter",
            detail,
        )
    }

    /// 401 asking for a bearer token.
    pub fn unauthorized(detail: impl Into<String>) -> Self {
        let mut p = Self::new(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            "Authentication required",
            detail,
        );
        p.www_authenticate = Some("Bearer realm=\"seam\"".to_owned());
        p
    }

    /// 401 or 403 for a request its caller may not make, with the challenge RFC 6750 asks for.
    pub fn denied(denied: &crate::access::Denied) -> Self {
        use crate::access::Denied;
        let detail = denied.to_string();
        let (status, kind, title, challenge) = match denied {
            Denied::Missing(_) => (
                StatusCode::UNAUTHORIZED,
                "unauthorized",
                "Authentication required",
                Some("Bearer realm=\"seam\"".to_owned()),
            ),
            Denied::Invalid => (
                StatusCode::UNAUTHORIZED,
                "unauthorized",
                "Authentication required",
                Some("Bearer realm=\"seam\", error=\"invalid_token\"".to_owned()),
            ),
            Denied::InsufficientScope { needed, .. } => (
                StatusCode::FORBIDDEN,
                "insufficient-scope",
                "Insufficient scope",
                Some(format!(
                    "Bearer realm=\"seam\", error=\"insufficient_scope\", scope=\"{needed}\""
                )),
            ),
            Denied::NoTokens(_) => (StatusCode::FORBIDDEN, "writes-disabled", "Writes are disabled", None),
        };
        let mut p = Self::new(status, kind, title, detail);
        if let Denied::InsufficientScope { needed, .. } | Denied::Missing(needed) | Denied::NoTokens(needed) = denied {
            p = p.with("scope", needed.as_str());
        }
        p.www_authenticate = challenge;
        p
    }

    /// 413 for a request body over the limit.
    pub fn too_large(limit: usize) -> Self {
        Self::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "body-too-large",
            "Request body too large",
            format!("the request body exceeds the limit of {limit} bytes"),
        )
        .with("limit", limit)
    }

    /// 500 for a failure of SEAM itself (a worker that panicked, a write to a response buffer).
    pub fn internal(e: impl std::fmt::Display) -> Self {
        let detail = e.to_string();
        // A remote store that cannot be reached reaches many handlers wrapped in their own
        // errors: whatever carried it, the client hears 503 and may retry.
        if StoreError::is_unavailable_text(&detail) {
            return Self::store_unavailable(detail);
        }
        Self::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", "Internal error", detail)
    }

    /// 503: the store cannot be reached now; `Retry-After` says when to try again.
    pub fn store_unavailable(detail: String) -> Self {
        let mut p = Self::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "store-unavailable",
            "Store unavailable",
            detail,
        );
        p.retry_after = Some(5);
        p
    }

    /// 415 for a request body in a media type the endpoint does not take.
    pub fn unsupported_media_type(endpoint: &str, accepted: &str, given: &str) -> Self {
        Self::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported-media-type",
            "Unsupported request content type",
            format!("{endpoint} takes {accepted}, not {given:?}"),
        )
    }

    /// The HTTP status.
    pub fn status(&self) -> StatusCode {
        self.status
    }
}

impl ResponseError for Problem {
    fn status_code(&self) -> StatusCode {
        self.status
    }

    fn error_response(&self) -> HttpResponse {
        let mut body = json!({
            "type": format!("https://w3id.org/seam/problems/{}", self.kind),
            "title": self.title,
            "status": self.status.as_u16(),
            "detail": self.detail,
        });
        if let Value::Object(map) = &mut body {
            map.extend(self.extensions.clone());
        }
        let mut response = HttpResponse::build(self.status);
        response.insert_header((
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/problem+json"),
        ));
        if let Some(challenge) = self.www_authenticate.as_deref() {
            response.insert_header((header::WWW_AUTHENTICATE, challenge));
        }
        if let Some(seconds) = self.retry_after {
            response.insert_header((header::RETRY_AFTER, seconds));
        }
        response.body(body.to_string())
    }
}

impl From<QueryError> for Problem {
    fn from(e: QueryError) -> Self {
        let detail = e.to_string();
        match e {
            QueryError::Syntax { message, line, column } => {
                let mut p = Self::new(StatusCode::BAD_REQUEST, "invalid-query", "Malformed SPARQL", message);
                if let Some(l) = line {
                    p = p.with("line", l);
                }
                if let Some(c) = column {
                    p = p.with("column", c);
                }
                p
            }
            QueryError::Timeout(limit) => Self::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "query-timeout",
                "Query time limit reached",
                detail,
            )
            .with("limitSeconds", limit.as_secs_f64()),
            QueryError::TooLarge(rows) => Self::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "result-too-large",
                "Result size limit reached",
                detail,
            )
            .with("limitRows", rows),
            QueryError::Evaluation(_) => Self::new(
                StatusCode::BAD_REQUEST,
                "query-evaluation",
                "Query cannot be evaluated",
                detail,
            ),
            QueryError::ResultTooBig(bytes) => Self::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "result-too-large",
                "Result size limit reached",
                detail,
            )
            .with("limitBytes", bytes),
            QueryError::TooComplex(_) => Self::new(
                StatusCode::BAD_REQUEST,
                "query-too-complex",
                "Query too complex",
                detail,
            ),
            QueryError::Refused(_) => {
                Self::new(StatusCode::FORBIDDEN, "operation-refused", "Operation refused", detail)
            }
            QueryError::Busy { .. } => {
                let mut p = Self::new(StatusCode::SERVICE_UNAVAILABLE, "busy", "Service busy", detail);
                p.retry_after = Some(1);
                p
            }
            QueryError::Internal(_) => Self::internal(detail),
            QueryError::ShuttingDown => Self::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "shutting-down",
                "Service stopping",
                detail,
            ),
            QueryError::Remote { .. } => Self::new(
                StatusCode::BAD_GATEWAY,
                "upstream",
                "Upstream SPARQL endpoint failed",
                detail,
            ),
            QueryError::Store(e) => Self::from(e),
        }
    }
}

impl From<StoreError> for Problem {
    fn from(e: StoreError) -> Self {
        Self::from(&e)
    }
}

impl From<&StoreError> for Problem {
    fn from(e: &StoreError) -> Self {
        let detail = e.to_string();
        match e {
            StoreError::Unavailable { .. } => Self::store_unavailable(detail),
            StoreError::Refused { .. } => Self::new(
                StatusCode::BAD_GATEWAY,
                "store-refused",
                "Store refused the write",
                detail,
            ),
            _ => Self::new(StatusCode::INTERNAL_SERVER_ERROR, "storage", "Storage failure", detail),
        }
    }
}

impl From<IngestError> for Problem {
    fn from(e: IngestError) -> Self {
        match &e {
            IngestError::Invalid(diagnostics) => {
                Self::new(
                    StatusCode::BAD_REQUEST,
                    "invalid-data",
                    "Invalid RDF data",
                    e.to_string(),
                )
                .with("errorCount", diagnostics.len())
                // The first hundred problems; errorCount says how many there are.
                .with(
                    "errors",
                    serde_json::to_value(&diagnostics[..diagnostics.len().min(100)]).unwrap_or(Value::Null),
                )
            }
            IngestError::UnknownFormat { .. } => Self::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "unsupported-format",
                "Unsupported RDF format",
                e.to_string(),
            ),
            IngestError::Bundled(_) => Self::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "internal",
                "Internal error",
                e.to_string(),
            ),
            IngestError::Store(store) => Self::from(store),
            IngestError::Io { .. } => Self::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "storage",
                "Storage failure",
                e.to_string(),
            ),
        }
    }
}
