//! The write markers through which instances sharing a store see each other's writes (see the
//! parent module's documentation): two triples in [`MARKER_GRAPH`], each replaced with a fresh
//! value by the writes of its kind and read by every instance every `staleness`.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use oxigraph::model::Term;

use super::RemoteStore;
use crate::error::StoreError;

/// The graph of the markers, so that other instances see that the store changed.
pub const MARKER_GRAPH: &str = "urn:seam:graph:writes";
const SUBJECT: &str = "urn:seam:store";
/// Replaced by every write that may change what the graph describes (and, by an instance that
/// knows no other marker, by every write).
const DESCRIPTION: &str = "urn:seam:lastWrite";
/// Replaced by a change set of state alone.
const STATE: &str = "urn:seam:lastStateWrite";

/// Which marker a write replaces.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Mark {
    /// None: a staging step of a larger write, or SEAM's own clean-up.
    Unmarked,
    /// A change set of state alone.
    State,
    /// Anything else.
    Description,
}

impl Mark {
    /// Appends to `text` the replacement of this marker with a fresh value, and returns the
    /// value (`None`: unmarked, nothing appended).
    pub(super) fn append_to(self, text: &mut String) -> Option<String> {
        let predicate = match self {
            Self::Unmarked => return None,
            Self::State => STATE,
            Self::Description => DESCRIPTION,
        };
        let value = uuid::Uuid::new_v4().to_string();
        // spargebra ends every operation with `;`: one separator only.
        let end = text.trim_end().trim_end_matches(';').trim_end().len();
        text.truncate(end);
        text.push_str(&format!(
            " ;\nDELETE WHERE {{ GRAPH <{MARKER_GRAPH}> {{ <{SUBJECT}> <{predicate}> ?v }} }} ;\nINSERT DATA {{ GRAPH <{MARKER_GRAPH}> {{ <{SUBJECT}> <{predicate}> \"{value}\" }} }}"
        ));
        Some(value)
    }
}

/// One marker: the value of this instance's last write of it, and the last value read.
#[derive(Debug, Default)]
struct Seen {
    own: Option<String>,
    seen: Option<String>,
}

impl Seen {
    /// Takes a value read; whether it is another instance's write not seen before (this
    /// instance's own writes moved its versions already).
    fn observe(&mut self, value: Option<String>) -> bool {
        if value == self.seen {
            return false;
        }
        let theirs = value.is_some() && value != self.own;
        self.seen = value;
        theirs
    }

    fn wrote(&mut self, value: String) {
        self.own = Some(value.clone());
        self.seen = Some(value);
    }
}

/// Both markers, as this instance knows them.
#[derive(Debug, Default)]
pub(super) struct Markers {
    description: Seen,
    state: Seen,
}

impl RemoteStore {
    fn lock_markers(&self) -> std::sync::MutexGuard<'_, Markers> {
        self.inner
            .markers
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Reads the markers as they are, then starts the task that reads them every `staleness`
    /// and moves the versions when another instance wrote. The task holds the store weakly: it
    /// ends with the last handle.
    pub(super) fn watch_markers(&self, staleness: Duration) {
        let (description, state) = self.read_markers().unwrap_or((None, None));
        let mut markers = self.lock_markers();
        (markers.description.seen, markers.state.seen) = (description, state);
        drop(markers);
        let weak = Arc::downgrade(&self.inner);
        let period = staleness.max(Duration::from_millis(50));
        std::thread::Builder::new()
            .name("seam-store-watch".into())
            .spawn(move || loop {
                std::thread::sleep(period);
                let Some(inner) = weak.upgrade() else { return };
                let store = RemoteStore { inner };
                match store.read_markers() {
                    Ok((description, state)) => {
                        let mut markers = store.lock_markers();
                        if markers.description.observe(description) {
                            store.inner.remote_writes.fetch_add(1, Ordering::SeqCst);
                            store.inner.remote_described_writes.fetch_add(1, Ordering::SeqCst);
                        }
                        if markers.state.observe(state) {
                            store.inner.remote_writes.fetch_add(1, Ordering::SeqCst);
                        }
                    }
                    Err(e) => tracing::debug!(target: "seam", error = %e, "reading the store's write markers failed"),
                }
            })
            .map(drop)
            .unwrap_or_else(|e| tracing::warn!(target: "seam", error = %e, "no watch of other instances' writes"));
    }

    /// Notes this instance's write of `mark` with `value`, once the store took it.
    pub(super) fn marked(&self, mark: Mark, value: String) {
        let mut markers = self.lock_markers();
        match mark {
            Mark::Unmarked => {}
            Mark::State => markers.state.wrote(value),
            Mark::Description => markers.description.wrote(value),
        }
    }

    /// The two markers' values: the description's, the state's.
    fn read_markers(&self) -> Result<(Option<String>, Option<String>), StoreError> {
        let text = format!("SELECT ?p ?v WHERE {{ GRAPH <{MARKER_GRAPH}> {{ <{SUBJECT}> ?p ?v }} }}");
        let answer = self.select_text(&text, false, Duration::from_secs(10))?;
        let mut values = (None, None);
        for row in answer {
            let mut row = row.into_iter();
            let (Some(Some(Term::NamedNode(p))), Some(Some(Term::Literal(v)))) = (row.next(), row.next()) else {
                continue;
            };
            match p.as_str() {
                DESCRIPTION => values.0 = Some(v.value().to_owned()),
                STATE => values.1 = Some(v.value().to_owned()),
                _ => {}
            }
        }
        Ok(values)
    }
}
