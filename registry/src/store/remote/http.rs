//! The store's HTTP side: SPARQL text posted as a form, on a runtime of the store's own, with
//! retries where a request may be sent again; what came back, or why nothing did.

use std::time::Duration;

const FORM: &str = "application/x-www-form-urlencoded";
/// Attempts of a request the engine rolled back to break a deadlock.
pub(super) const DEADLOCK_RETRIES: usize = 8;

/// An HTTP client of one store: its connections, its token, the runtime its requests run on.
pub(super) struct Http {
    client: reqwest::Client,
    token: Option<String>,
    driver: Driver,
}

impl Http {
    /// A client sending `token` as `Authorization: Bearer` on every request.
    pub(super) fn new(token: Option<String>) -> Result<Self, String> {
        crate::remote::install_tls_provider();
        let client = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(5))
            .build()
            .map_err(|e| e.to_string())?;
        let driver = Driver::start().map_err(|e| e.to_string())?;
        Ok(Self { client, token, driver })
    }

    /// Sends one request, `field` (`query` or `update`) the SPARQL text, URL-encoded in the
    /// body (the one way of the protocol every engine takes: Virtuoso 7.2 never answers a direct
    /// `application/sparql-query` POST), retrying while the engine cannot be reached (reads
    /// always; writes only when the request never left). Returns the content type and body.
    pub(super) fn request(&self, exchange: Exchange) -> Result<Response, Failure> {
        let Exchange {
            url,
            field,
            accept,
            body,
            timeout,
            idempotent,
            cancel,
        } = exchange;
        const BACKOFF: [u64; 3] = [100, 400, 1600];
        let mut attempt = 0;
        loop {
            let client = self.client.clone();
            let token = self.token.clone();
            let url = url.clone();
            let body = serde_urlencoded::to_string([(field, body.as_str())]).unwrap_or_default();
            let cancel = cancel.clone();
            let result = self
                .driver
                .run(async move {
                    let mut request = client
                        .post(url)
                        .header(reqwest::header::CONTENT_TYPE, FORM)
                        .header(reqwest::header::ACCEPT, accept)
                        .timeout(timeout)
                        .body(body);
                    if let Some(token) = &token {
                        request = request.bearer_auth(token);
                    }
                    let exchange = async {
                        let response = request.send().await.map_err(|e| Failure::Unreachable {
                            sent: !e.is_connect(),
                            message: crate::remote::describe(&e),
                        })?;
                        let status = response.status().as_u16();
                        let headers = response.headers();
                        let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
                        let content_type = crate::answer::media_type_essence(header("content-type").unwrap_or(""));
                        // Virtuoso answers a query stopped at MaxQueryExecutionTime with what it
                        // had found so far ("anytime query"), saying so only in these headers: a
                        // partial answer is an error here, never an answer.
                        if let Some(state) = header("x-sql-state") {
                            let message = header("x-sql-message").unwrap_or("");
                            // Concurrent writers: Virtuoso rolled this transaction back.
                            if state == "40001" || message.contains("SR172") || message.contains("deadlock") {
                                return Err(Failure::Deadlocked(format!("X-SQL-State {state}: {message}")));
                            }
                            return Err(Failure::Status {
                                status,
                                body: format!(
                                    "X-SQL-State {state}: {message} (a partial answer: MaxQueryExecutionTime)"
                                ),
                            });
                        }
                        let server = header("server").unwrap_or("").to_owned();
                        // Virtuoso says where it cut an answer (its ResultSetMaxRows).
                        let cut_at = header("x-sparql-maxrows").and_then(|v| v.trim().parse().ok());
                        let body = response.bytes().await.map_err(|e| Failure::Unreachable {
                            sent: true,
                            message: crate::remote::describe(&e),
                        })?;
                        if (200..300).contains(&status) {
                            Ok(Response {
                                content_type,
                                body: body.to_vec(),
                                cut_at,
                                server,
                            })
                        } else if status == 500 && deadlock_said(&body) {
                            // Virtuoso says it so too, in the body of an update's 500 without
                            // the headers: "Virtuoso 40001 Error SR172: Transaction deadlocked".
                            Err(Failure::Deadlocked(String::from_utf8_lossy(&body).trim().to_owned()))
                        } else {
                            Err(Failure::Status {
                                status,
                                body: String::from_utf8_lossy(&body).into_owned(),
                            })
                        }
                    };
                    match cancel {
                        Some(cancel) => tokio::select! {
                            r = exchange => r,
                            () = cancelled(cancel) => Err(Failure::Cancelled),
                        },
                        None => exchange.await,
                    }
                })
                .unwrap_or_else(|| {
                    Err(Failure::Unreachable {
                        message: "the remote store's runtime stopped".into(),
                        sent: false,
                    })
                });
            let retry = match &result {
                Err(Failure::Unreachable { sent, .. }) => idempotent || !sent,
                Err(Failure::Status { status, .. }) => idempotent && matches!(status, 502..=504),
                Err(Failure::Deadlocked(_)) => true,
                _ => false,
            };
            // A deadlock is broken by waiting a different while on each side.
            let deadlocked = matches!(result, Err(Failure::Deadlocked(_)));
            let limit = if deadlocked { DEADLOCK_RETRIES } else { BACKOFF.len() };
            if !retry || attempt >= limit {
                return result;
            }
            let wait = if deadlocked {
                20 + u64::from(uuid::Uuid::new_v4().as_bytes()[0]) * 2
            } else {
                BACKOFF[attempt]
            };
            std::thread::sleep(Duration::from_millis(wait));
            attempt += 1;
        }
    }
}

/// Whether an error body says the engine rolled the transaction back to break a deadlock
/// (Virtuoso's SQL state 40001, error SR172).
fn deadlock_said(body: &[u8]) -> bool {
    let text = String::from_utf8_lossy(&body[..body.len().min(512)]);
    text.contains("SR172") || text.contains(" 40001 ")
}

/// The runtime that carries the store's requests: its own thread, so that the store can be
/// called from any thread (evaluation threads, Tokio's blocking pool, the CLI) and dropped
/// anywhere, without a runtime inside a runtime.
struct Driver {
    handle: tokio::runtime::Handle,
    /// Dropped with the store: the runtime's thread then ends.
    _stop: tokio::sync::oneshot::Sender<()>,
}

impl Driver {
    fn start() -> Result<Self, std::io::Error> {
        let (handle_tx, handle_rx) = std::sync::mpsc::channel();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        std::thread::Builder::new()
            .name("seam-remote-store".into())
            .spawn(
                move || match tokio::runtime::Builder::new_current_thread().enable_all().build() {
                    Ok(runtime) => {
                        let _ = handle_tx.send(Ok(runtime.handle().clone()));
                        runtime.block_on(async {
                            let _ = stopped.await;
                        });
                    }
                    Err(e) => {
                        let _ = handle_tx.send(Err(e));
                    }
                },
            )?;
        let handle = handle_rx
            .recv()
            .map_err(|_| std::io::Error::other("the remote store's runtime did not start"))??;
        Ok(Self { handle, _stop: stop })
    }

    /// Runs `future` on the store's runtime and waits for it.
    fn run<T: Send + 'static>(&self, future: impl std::future::Future<Output = T> + Send + 'static) -> Option<T> {
        let (tx, rx) = std::sync::mpsc::sync_channel(1);
        self.handle.spawn(async move {
            let _ = tx.send(future.await);
        });
        rx.recv().ok()
    }
}

/// One request to the engine.
pub(super) struct Exchange {
    pub(super) url: reqwest::Url,
    /// `query` or `update`: the form field the SPARQL text goes in.
    pub(super) field: &'static str,
    pub(super) accept: &'static str,
    pub(super) body: String,
    pub(super) timeout: Duration,
    /// Whether it may be sent again after it may have arrived (reads).
    pub(super) idempotent: bool,
    pub(super) cancel: Option<oxigraph::sparql::CancellationToken>,
}

/// An engine's answer.
pub(super) struct Response {
    pub(super) content_type: String,
    pub(super) body: Vec<u8>,
    /// The row count the engine says it cut the answer at (`X-SPARQL-MaxRows`).
    pub(super) cut_at: Option<usize>,
    /// The engine's `Server` header (which engine it is).
    pub(super) server: String,
}

/// What a failed request was.
#[derive(Debug)]
pub(super) enum Failure {
    /// The engine could not be reached; `sent` says whether the request may have arrived.
    Unreachable { message: String, sent: bool },
    /// The engine answered with an error status.
    Status { status: u16, body: String },
    /// The caller's deadline or cancellation came first.
    Cancelled,
    /// The engine rolled the request's transaction back to break a deadlock with another
    /// writer (Virtuoso's SR172): nothing of it was applied, and it may be sent again.
    Deadlocked(String),
}

async fn cancelled(cancel: oxigraph::sparql::CancellationToken) {
    while !cancel.is_cancelled() {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[cfg(test)]
mod tests {
    use super::deadlock_said;

    #[test]
    fn a_deadlock_said_in_the_body_is_told_from_other_errors() {
        // What Virtuoso 7.2 answered an update that met a concurrent writer (seen in CI).
        assert!(deadlock_said(b"Virtuoso 40001 Error SR172: Transaction deadlocked\n"));
        assert!(!deadlock_said(
            b"Virtuoso 37000 Error SP030: SPARQL compiler, line 1: syntax error"
        ));
        assert!(!deadlock_said(b"Virtuoso 42000 Error SR186: No permission to execute"));
        assert!(!deadlock_said(b""));
    }
}
