//! The Thing Description Directory (W3C WoT Discovery): TDs put, read, patched, listed and
//! deleted as registry objects.
//!
//! Each TD is the named graph of its id ([`crate::ingest::td`]). The graph holds the TD's
//! triples, its registration information (created, modified: WoT Discovery's terms), and the
//! TD as the directory serves it, enriched with that information and the Discovery context, as
//! one `rdf:JSON` literal (`seam:thingDescription`): what was put is what is read back, member
//! for member, whatever its triples are.

pub mod description;

use oxigraph::model::{GraphName, Literal, NamedNode, NamedOrBlankNode, Quad, Term};
use oxsdatatypes::DateTime;
use serde_json::{Map, Value};

use crate::error::IngestError;
use crate::graph::Registry;
use crate::ingest::td::{self, SchemaViolation, Thing};
use crate::store::QuadPattern;
use crate::vocab::SEAM;

/// The WoT Discovery context, added to every TD the directory serves.
pub const DISCOVERY_CONTEXT: &str = "https://www.w3.org/2022/wot/discovery";

const RDF_JSON: &str = "http://www.w3.org/1999/02/22-rdf-syntax-ns#JSON";

/// Why the directory refused a request.
#[derive(Debug, thiserror::Error)]
pub enum DirectoryError {
    /// The TD breaks the TD JSON Schema or an assertion it cannot state.
    #[error("the Thing Description is not valid: {}", .0.first().map_or(String::new(), |v| format!("{} ({} at {})", v.message, v.constraint, if v.path.is_empty() { "/" } else { &v.path })))]
    Invalid(Vec<SchemaViolation>),
    /// The TD is not JSON, not an object, or its JSON-LD or shapes refuse it.
    #[error(transparent)]
    Ingest(#[from] IngestError),
    /// No TD has this id.
    #[error("no Thing Description has the id {0}")]
    NotFound(String),
    /// The request is inconsistent (an id in the path and another in the TD, an id on POST).
    #[error("{0}")]
    Conflict(String),
}

/// A TD put: its id, and whether it was new.
#[derive(Debug, Clone)]
pub struct Put {
    /// The TD's id.
    pub id: NamedNode,
    /// Whether no TD had that id before.
    pub created: bool,
}

fn seam(local: &str) -> NamedNode {
    NamedNode::new_unchecked(format!("{SEAM}{local}"))
}

/// What happened to a TD.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventKind {
    /// A TD was created.
    Created,
    /// A TD was replaced or patched.
    Updated,
    /// A TD was deleted.
    Deleted,
}

impl EventKind {
    /// Its name in WoT Discovery (the SSE event type).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Created => "thing_created",
            Self::Updated => "thing_updated",
            Self::Deleted => "thing_deleted",
        }
    }
}

/// One change of the directory, as its event stream tells it.
#[derive(Debug, Clone)]
pub struct DirectoryEvent {
    /// Its number: increasing, the SSE `id` a client resumes after (`Last-Event-ID`).
    pub number: u64,
    /// What happened.
    pub kind: EventKind,
    /// The TD's id.
    pub id: String,
    /// With `diff=true`: the TD created, or the merge patch an update made (none for a delete).
    pub diff: Option<Value>,
}

/// How many past events a reconnecting client can resume from.
const KEPT_EVENTS: usize = 1024;

/// The directory's events: a broadcast for the streams that are open, and the last
/// [`KEPT_EVENTS`] for those that reconnect.
pub struct Events {
    sender: tokio::sync::broadcast::Sender<DirectoryEvent>,
    kept: std::sync::Mutex<(u64, std::collections::VecDeque<DirectoryEvent>)>,
}

impl std::fmt::Debug for Events {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Events")
            .field("subscribers", &self.sender.receiver_count())
            .finish_non_exhaustive()
    }
}

impl Default for Events {
    fn default() -> Self {
        Self {
            sender: tokio::sync::broadcast::channel(KEPT_EVENTS).0,
            kept: std::sync::Mutex::new((0, std::collections::VecDeque::new())),
        }
    }
}

impl Events {
    fn publish(&self, kind: EventKind, id: &str, diff: Option<Value>) {
        let mut kept = self.kept.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        kept.0 += 1;
        let event = DirectoryEvent {
            number: kept.0,
            kind,
            id: id.to_owned(),
            diff,
        };
        if kept.1.len() == KEPT_EVENTS {
            kept.1.pop_front();
        }
        kept.1.push_back(event.clone());
        // Sent under the lock: a subscriber that replays then listens sees every event once.
        let _ = self.sender.send(event);
    }

    /// The events after `last` that are still kept, and a receiver of the ones to come.
    pub fn subscribe(
        &self,
        last: Option<u64>,
    ) -> (Vec<DirectoryEvent>, tokio::sync::broadcast::Receiver<DirectoryEvent>) {
        let kept = self.kept.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let receiver = self.sender.subscribe();
        let replay = match last {
            Some(last) => kept.1.iter().filter(|e| e.number > last).cloned().collect(),
            None => Vec::new(),
        };
        (replay, receiver)
    }
}

/// The directory over a registry.
#[derive(Clone)]
pub struct Directory {
    registry: Registry,
    events: std::sync::Arc<Events>,
}

impl Directory {
    /// The directory of `registry`, telling `events` what changes.
    pub fn new(registry: Registry, events: std::sync::Arc<Events>) -> Self {
        Self { registry, events }
    }

    /// The TD of `id` as stored (enriched), if there is one and it has not expired (an expired
    /// one is purged on the way).
    pub fn get(&self, id: &str) -> Result<Option<Value>, DirectoryError> {
        let Some(td) = self.stored(id)? else {
            return Ok(None);
        };
        if expired(&td) {
            self.purge(id)?;
            return Ok(None);
        }
        Ok(Some(td))
    }

    fn purge(&self, id: &str) -> Result<(), DirectoryError> {
        self.registry.replace_graph(&NamedNode::new_unchecked(id), &[])?;
        self.events.publish(EventKind::Deleted, id, None);
        Ok(())
    }

    /// The TD of `id` as stored, expired or not.
    fn stored(&self, id: &str) -> Result<Option<Value>, DirectoryError> {
        let Ok(iri) = NamedNode::new(id) else {
            return Ok(None);
        };
        let subject = NamedOrBlankNode::from(iri.clone());
        let graph = GraphName::from(iri);
        let predicate = seam("thingDescription");
        let quads = self
            .registry
            .quads_for_pattern(QuadPattern {
                subject: Some(&subject),
                predicate: Some(&predicate),
                object: None,
                graph: Some(&graph),
            })
            .map_err(IngestError::from)?;
        Ok(quads.first().and_then(|q| match &q.object {
            Term::Literal(l) => serde_json::from_str(l.value()).ok(),
            _ => None,
        }))
    }

    /// Puts the TD `text`: at `path_id` (PUT /things/{id}), or at the id it carries, or, when
    /// it has none and no id is given, at a new `urn:uuid:` (POST /things, `anonymous`).
    pub fn put(&self, path_id: Option<&str>, text: &str, anonymous: bool) -> Result<Put, DirectoryError> {
        td::no_duplicate_names("request body", text)?;
        let mut value = td::parse_json("request body", text)?;
        let Value::Object(object) = &mut value else {
            return Err(DirectoryError::Conflict("a Thing Description is a JSON object".into()));
        };
        match (object.get("id").and_then(Value::as_str), path_id) {
            (Some(_), None) if anonymous => {
                return Err(DirectoryError::Conflict(
                    "this TD has an id: put it with PUT /things/{id} (POST /things is for anonymous TDs)".into(),
                ))
            }
            (Some(own), Some(path)) if own != path => {
                return Err(DirectoryError::Conflict(format!(
                    "the TD's id {own} is not the id of the path, {path}"
                )))
            }
            (None, Some(path)) => {
                object.insert("id".into(), Value::String(path.to_owned()));
            }
            (None, None) => {
                // Anonymous: the id the directory gives it is part of the TD it serves.
                object.insert("id".into(), Value::String(format!("urn:uuid:{}", uuid::Uuid::new_v4())));
            }
            _ => {}
        }
        // What the client says of its registration is the directory's to say, but for how long
        // it should stay: `ttl` (seconds from now) or `expires` (a date-time).
        let lifetime = object
            .remove("registration")
            .map(|r| requested_expiry(&r))
            .transpose()?
            .flatten();
        let violations = td::violations(&value)?;
        if !violations.is_empty() {
            return Err(DirectoryError::Invalid(violations));
        }
        let previous = match value.get("id").and_then(Value::as_str) {
            Some(id) => self.get(id)?,
            None => None,
        };
        let now_time = DateTime::now();
        if let Some(Lifetime::Until(at)) = lifetime {
            if at <= now_time {
                return Err(DirectoryError::Conflict(format!(
                    "registration.expires {at} is already past"
                )));
            }
        }
        let now = DateTime::now().to_string();
        let created = previous
            .as_ref()
            .and_then(|p| p.pointer("/registration/created"))
            .and_then(Value::as_str)
            .map_or_else(|| now.clone(), str::to_owned);
        let expires = match lifetime {
            Some(Lifetime::Ttl(seconds)) => Some(
                DateTime::now()
                    .checked_add_day_time_duration(oxsdatatypes::DayTimeDuration::new(seconds))
                    .ok_or_else(|| DirectoryError::Conflict(format!("registration.ttl {seconds} is out of range")))?,
            ),
            Some(Lifetime::Until(at)) => Some(at),
            None => None,
        };
        let mut enriched = enrich(value, &created, &now);
        if let (Some(expires), Some(registration)) = (expires, enriched.get_mut("registration")) {
            registration["expires"] = Value::String(expires.to_string());
            if let Some(Lifetime::Ttl(seconds)) = lifetime {
                registration["ttl"] = Value::from(seconds);
            }
        }
        let enriched_text = serde_json::to_string(&enriched)
            .map_err(|e| DirectoryError::Conflict(format!("the TD cannot be written back as JSON: {e}")))?;
        let mut thing: Thing = td::read_thing("request body", enriched_text.clone())?;
        thing.document.quads.push(Quad::new(
            thing.id.clone(),
            seam("thingDescription"),
            Literal::new_typed_literal(enriched_text, NamedNode::new_unchecked(RDF_JSON)),
            GraphName::DefaultGraph,
        ));
        self.registry.put_things(&[], std::slice::from_ref(&thing))?;
        match &previous {
            None => self
                .events
                .publish(EventKind::Created, thing.id.as_str(), Some(enriched)),
            Some(before) => {
                let changes = diff(&strip(before.clone()), &strip(enriched));
                self.events
                    .publish(EventKind::Updated, thing.id.as_str(), Some(changes));
            }
        }
        Ok(Put {
            id: thing.id,
            created: previous.is_none(),
        })
    }

    /// Applies a JSON merge patch (RFC 7396) to the TD of `id`, checks the result like a put,
    /// and stores it.
    pub fn patch(&self, id: &str, patch: &Value) -> Result<(), DirectoryError> {
        let mut current = self.get(id)?.ok_or_else(|| DirectoryError::NotFound(id.to_owned()))?;
        merge_patch(&mut current, patch);
        if current.get("id").and_then(Value::as_str) != Some(id) {
            return Err(DirectoryError::Conflict(
                "a patch cannot change or remove the TD's id".into(),
            ));
        }
        let text = serde_json::to_string(&strip(current))
            .map_err(|e| DirectoryError::Conflict(format!("the patched TD cannot be written as JSON: {e}")))?;
        self.put(Some(id), &text, false).map(|_| ())
    }

    /// Deletes the TD of `id`: its whole graph, nothing else.
    pub fn delete(&self, id: &str) -> Result<(), DirectoryError> {
        if self.get(id)?.is_none() {
            return Err(DirectoryError::NotFound(id.to_owned()));
        }
        let iri = NamedNode::new_unchecked(id);
        self.registry.replace_graph(&iri, &[])?;
        self.events.publish(EventKind::Deleted, id, None);
        Ok(())
    }

    /// Purges every expired TD; answers how many there were.
    pub fn purge_expired(&self) -> Result<usize, DirectoryError> {
        self.live().map(|(_, purged)| purged)
    }

    /// The stored TDs' `seam:thingDescription` quads, each in its own graph.
    fn registrations(&self) -> Result<Vec<Quad>, DirectoryError> {
        let predicate = seam("thingDescription");
        let mut all = self
            .registry
            .quads_for_pattern(QuadPattern {
                subject: None,
                predicate: Some(&predicate),
                object: None,
                graph: None,
            })
            .map_err(IngestError::from)?;
        // A TD's own graph only: a copy elsewhere is not a registration.
        all.retain(|q| matches!(&q.graph_name, GraphName::NamedNode(g) if q.subject.to_string() == g.to_string()));
        Ok(all)
    }

    /// The TDs in id order, `offset` skipped, at most `limit`; and how many there are.
    pub fn list(&self, offset: usize, limit: usize) -> Result<(Vec<Value>, usize), DirectoryError> {
        let (live, _) = self.live()?;
        let total = live.len();
        // Only the page's TDs are read as JSON.
        let page = live
            .iter()
            .skip(offset)
            .take(limit)
            .filter_map(|text| serde_json::from_str::<Value>(text).ok())
            .collect();
        Ok((page, total))
    }

    /// The text of every TD that has not expired, in id order, and how many expired ones were
    /// purged on the way: one read of the registrations for the listing and the sweep alike.
    fn live(&self) -> Result<(Vec<String>, usize), DirectoryError> {
        let mut all = self.registrations()?;
        all.sort_by_cached_key(|q| q.subject.to_string());
        let mut live: Vec<String> = Vec::with_capacity(all.len());
        let mut purged = 0;
        for q in all {
            let Term::Literal(l) = q.object else { continue };
            // Only a TD whose text names an expiry can have expired, and only those are read as
            // JSON here: a listing of thousands of TDs read them all for every page.
            if l.value().contains("\"expires\"") {
                let Ok(td) = serde_json::from_str::<Value>(l.value()) else {
                    continue;
                };
                if expired(&td) {
                    if let GraphName::NamedNode(g) = &q.graph_name {
                        self.purge(g.as_str())?;
                        purged += 1;
                    }
                    continue;
                }
            }
            live.push(l.destruct().0);
        }
        Ok((live, purged))
    }
}

/// How long a client asks its TD to stay.
#[derive(Debug, Clone, Copy)]
enum Lifetime {
    /// Seconds from its registration.
    Ttl(u32),
    /// Until then.
    Until(DateTime),
}

/// The lifetime a client's `registration` asks for: `ttl` in seconds (an unsigned 32-bit
/// integer, as WoT Discovery types it) or `expires`, a date-time; `ttl` wins when both are given.
fn requested_expiry(registration: &Value) -> Result<Option<Lifetime>, DirectoryError> {
    if let Some(ttl) = registration.get("ttl") {
        let seconds = ttl.as_u64().and_then(|s| u32::try_from(s).ok()).ok_or_else(|| {
            DirectoryError::Conflict(format!(
                "registration.ttl {ttl} is not a number of seconds (0 to 4294967295)"
            ))
        })?;
        return Ok(Some(Lifetime::Ttl(seconds)));
    }
    if let Some(expires) = registration.get("expires") {
        let at = expires
            .as_str()
            .and_then(|s| s.parse::<DateTime>().ok())
            .ok_or_else(|| {
                DirectoryError::Conflict(format!("registration.expires {expires} is not an xsd:dateTime"))
            })?;
        return Ok(Some(Lifetime::Until(at)));
    }
    Ok(None)
}

/// Whether a stored TD's registration has expired.
fn expired(td: &Value) -> bool {
    td.pointer("/registration/expires")
        .and_then(Value::as_str)
        .and_then(|s| s.parse::<DateTime>().ok())
        .is_some_and(|at| at <= DateTime::now())
}

/// `td` with its registration information and the Discovery context.
fn enrich(mut td: Value, created: &str, modified: &str) -> Value {
    if let Value::Object(object) = &mut td {
        let context = object.remove("@context").unwrap_or(Value::Null);
        let mut contexts = match context {
            Value::Array(list) => list,
            Value::Null => Vec::new(),
            one => vec![one],
        };
        if !contexts.iter().any(|c| c.as_str() == Some(DISCOVERY_CONTEXT)) {
            contexts.push(Value::String(DISCOVERY_CONTEXT.into()));
        }
        let mut registration = Map::new();
        registration.insert("created".into(), Value::String(created.to_owned()));
        registration.insert("modified".into(), Value::String(modified.to_owned()));
        let mut enriched = Map::new();
        enriched.insert("@context".into(), Value::Array(contexts));
        enriched.extend(std::mem::take(object));
        enriched.insert("registration".into(), Value::Object(registration));
        *object = enriched;
    }
    td
}

/// `td` without what the directory added (registration, the Discovery context).
fn strip(mut td: Value) -> Value {
    if let Value::Object(object) = &mut td {
        object.remove("registration");
        if let Some(Value::Array(contexts)) = object.get_mut("@context") {
            contexts.retain(|c| c.as_str() != Some(DISCOVERY_CONTEXT));
        }
    }
    td
}

/// The merge patch that turns `before` into `after` (RFC 7396: members removed are null).
fn diff(before: &Value, after: &Value) -> Value {
    match (before, after) {
        (Value::Object(old), Value::Object(new)) => {
            let mut patch = Map::new();
            for (name, value) in new {
                match old.get(name) {
                    Some(previous) if previous == value => {}
                    Some(previous) if previous.is_object() && value.is_object() => {
                        patch.insert(name.clone(), diff(previous, value));
                    }
                    _ => {
                        patch.insert(name.clone(), value.clone());
                    }
                }
            }
            for name in old.keys().filter(|n| !new.contains_key(*n)) {
                patch.insert(name.clone(), Value::Null);
            }
            Value::Object(patch)
        }
        _ => after.clone(),
    }
}

/// RFC 7396 JSON merge patch, as the RFC states it (section 2).
fn merge_patch(target: &mut Value, patch: &Value) {
    let Value::Object(members) = patch else {
        *target = patch.clone();
        return;
    };
    if !target.is_object() {
        *target = Value::Object(Map::new());
    }
    if let Value::Object(object) = target {
        for (name, value) in members {
            if value.is_null() {
                object.remove(name);
            } else {
                merge_patch(object.entry(name.clone()).or_insert(Value::Null), value);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_diff_is_the_merge_patch_that_makes_the_change() {
        let before = json!({"title": "a", "gone": 1, "nested": {"x": 1, "y": 2}, "list": [1]});
        let after = json!({"title": "b", "nested": {"x": 1, "y": 3}, "list": [1, 2], "new": true});
        let patch = diff(&before, &after);
        assert_eq!(
            patch,
            json!({"title": "b", "gone": null, "nested": {"y": 3}, "list": [1, 2], "new": true})
        );
        let mut patched = before.clone();
        merge_patch(&mut patched, &patch);
        assert_eq!(patched, after);
    }

    #[test]
    fn merge_patch_follows_rfc_7396_appendix_a() {
        let cases = [
            (json!({"a": "b"}), json!({"a": "c"}), json!({"a": "c"})),
            (json!({"a": "b"}), json!({"b": "c"}), json!({"a": "b", "b": "c"})),
            (json!({"a": "b"}), json!({"a": null}), json!({})),
            (json!({"a": "b", "b": "c"}), json!({"a": null}), json!({"b": "c"})),
            (json!({"a": ["b"]}), json!({"a": "c"}), json!({"a": "c"})),
            (json!({"a": "c"}), json!({"a": ["b"]}), json!({"a": ["b"]})),
            (
                json!({"a": {"b": "c"}}),
                json!({"a": {"b": "d", "c": null}}),
                json!({"a": {"b": "d"}}),
            ),
            (json!({"a": [{"b": "c"}]}), json!({"a": [1]}), json!({"a": [1]})),
            (json!(["a", "b"]), json!(["c", "d"]), json!(["c", "d"])),
            (json!({"a": "b"}), json!(["c"]), json!(["c"])),
            (json!({"a": "foo"}), json!(null), json!(null)),
            (json!({"a": "foo"}), json!("bar"), json!("bar")),
            (json!({"e": null}), json!({"a": 1}), json!({"e": null, "a": 1})),
            (json!([1, 2]), json!({"a": "b", "c": null}), json!({"a": "b"})),
            (json!({}), json!({"a": {"bb": {"ccc": null}}}), json!({"a": {"bb": {}}})),
        ];
        for (mut target, patch, expected) in cases {
            merge_patch(&mut target, &patch);
            assert_eq!(target, expected, "patch {patch}");
        }
    }
}
