//! How a command fails: the exit code (DESIGN §4) and what is printed.

use std::io::Write as _;

use seam_registry::{IngestError, QueryError, StoreError};

/// A failure, with the exit code it maps to.
pub(crate) enum Failure {
    /// Exit 1: the machine, the network, the store.
    Runtime(anyhow::Error),
    /// Exit 3: the input was invalid.
    Invalid(anyhow::Error),
    /// Exit 4 (`seam compile --target`): the model cannot run on the device (already reported).
    DoesNotFit,
}

impl From<anyhow::Error> for Failure {
    fn from(e: anyhow::Error) -> Self {
        let invalid = e.chain().any(|c| {
            matches!(
                c.downcast_ref::<IngestError>(),
                Some(IngestError::Invalid(_) | IngestError::UnknownFormat { .. })
            ) || matches!(
                c.downcast_ref::<QueryError>(),
                Some(QueryError::Syntax { .. } | QueryError::TooComplex(_) | QueryError::Refused(_))
            ) || c.is::<seam_registry::bridge::package::PackageError>()
                || c.downcast_ref::<seam_registry::bridge::BridgeError>()
                    .is_some_and(|e| !matches!(e, seam_registry::bridge::BridgeError::ToolUnavailable { .. }))
        });
        if invalid {
            Self::Invalid(e)
        } else {
            Self::Runtime(e)
        }
    }
}

/// One sentence, then the detail: every diagnostic of an invalid input, the cause chain otherwise.
pub(crate) fn report(error: &anyhow::Error) {
    let mut stderr = std::io::stderr().lock();
    let _ = writeln!(stderr, "error: {error}");
    if let Some(ingest) = error.chain().find_map(|c| c.downcast_ref::<IngestError>()) {
        // Every problem up to a screenful; a count for the rest.
        const SHOWN: usize = 50;
        let diagnostics = ingest.diagnostics();
        if diagnostics.len() > 1 {
            for d in diagnostics.iter().take(SHOWN) {
                let _ = writeln!(stderr, "  {d}");
            }
            if diagnostics.len() > SHOWN {
                let _ = writeln!(stderr, "  … and {} more", diagnostics.len() - SHOWN);
            }
        }
    }
    for cause in error.chain().skip(1) {
        let _ = writeln!(stderr, "  caused by: {cause}");
    }
    if let Some(StoreError::Locked { .. }) = error.chain().find_map(|c| c.downcast_ref::<StoreError>()) {
        let _ = writeln!(
            stderr,
            "  hint: ask the running server instead, e.g. `seam query --endpoint http://127.0.0.1:8080 '...'`"
        );
    }
}

/// A runtime failure from a library error.
/// A running service's refusal: exit 3 when the request was at fault (a 4xx), 1 otherwise.
pub(crate) fn client_failure(e: seam_registry::client::ClientError) -> Failure {
    if e.is_client_error() {
        Failure::Invalid(e.into())
    } else {
        runtime(e)
    }
}

pub(crate) fn runtime(e: impl Into<anyhow::Error>) -> Failure {
    Failure::from(e.into())
}
