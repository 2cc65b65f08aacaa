//! Change sets: the writes SEAM derives itself (device facts from LwM2M, deployments,
//! provenance), as quads to delete and then quads to insert.
//!
//! A [`Draft`] builds one while reading the store *through* it: a read sees the store as it
//! was, minus what the draft deletes, plus what it inserts, so a batch of events can be written
//! by code that asks "does the device have a board yet?" after an earlier event of the same
//! batch gave it one. The registry holds its writer lock from the first read to the commit,
//! which makes the draft's reads and its change set one atomic step among SEAM's writers.

use std::cell::RefCell;
use std::collections::{HashMap, HashSet};

use oxigraph::model::{GraphName, NamedNode, NamedOrBlankNode, Quad, Term};

use super::{GraphStore, QuadPattern};
use crate::error::StoreError;
use crate::vocab::{PROV, SEAM};

/// Quads to delete, then quads to insert, applied atomically by [`GraphStore::apply`]. A quad
/// never appears in both lists.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ChangeSet {
    /// Removed first (absent quads are ignored).
    pub delete: Vec<Quad>,
    /// Added after the deletions.
    pub insert: Vec<Quad>,
}

impl ChangeSet {
    /// Whether applying it would change nothing.
    pub fn is_empty(&self) -> bool {
        self.delete.is_empty() && self.insert.is_empty()
    }

    /// Whether applying it may change what the graph describes: some quad of it is not
    /// [`is_volatile`] (a check-in or a delivery step changes only state).
    pub fn describes(&self) -> bool {
        !self.delete.iter().chain(&self.insert).all(is_volatile)
    }
}

/// The predicates that say what state a device or a delivery is in, not what it is: written at
/// every check-in or delivery step. Nothing derived from the description and cached may read
/// them (the fleet index does not; a test keeps it so).
pub const VOLATILE: [(&str, &str); 8] = [
    (SEAM, "lastSeen"),
    (SEAM, "status"),
    (SEAM, "lwm2mVersion"),
    (SEAM, "servedBy"),
    (SEAM, "result"),
    (SEAM, "updateResult"),
    (PROV, "endedAtTime"),
    // What a device runs: set when a delivery ends (a rollout reads it from the store itself).
    (SEAM, "runs"),
];

/// Whether `quad` states only a device's or a delivery's state: its predicate is one of
/// [`VOLATILE`], or it is about a deployment (a delivery to one device: it starts, moves on and
/// ends while a rollout runs, and nothing derived from descriptions reads it).
pub fn is_volatile(quad: &Quad) -> bool {
    let predicate = quad.predicate.as_str();
    let about_a_deployment = match &quad.subject {
        NamedOrBlankNode::NamedNode(n) => crate::iri::is_deployment(n.as_str()),
        _ => false,
    };
    about_a_deployment
        || VOLATILE.iter().any(|(ns, local)| {
            predicate.len() == ns.len() + local.len() && predicate.starts_with(ns) && predicate.ends_with(local)
        })
}

/// A change set being built over a store (see the module documentation). Reads that fail are
/// remembered, and [`Draft::finish`] refuses to produce a change set from a draft that read
/// wrongly.
pub struct Draft<'a> {
    store: &'a dyn GraphStore,
    /// What the draft deletes, each with the order it was deleted in.
    deleted: HashMap<Quad, usize>,
    deletions: usize,
    inserted: Vec<Quad>,
    /// Positions in `inserted` by the hash of their subject and of their predicate, for reads
    /// that name either (a batch of a thousand registrations reads its own inserts thousands of
    /// times); hashes rather than copies of the terms, every candidate is matched anyway.
    by_subject: HashMap<u64, Vec<usize>>,
    by_predicate: HashMap<u64, Vec<usize>>,
    /// And by predicate and object together: "which device has this endpoint name" is asked
    /// once per event of a batch.
    by_predicate_object: HashMap<u64, Vec<usize>>,
    /// Inserted quads since deleted again (their positions stay, marked dead).
    dead: HashSet<usize>,
    failed: RefCell<Option<StoreError>>,
}

/// The hash a term is indexed by.
fn key(term: &impl std::hash::Hash) -> u64 {
    use std::hash::BuildHasher as _;
    static STATE: std::sync::LazyLock<std::collections::hash_map::RandomState> =
        std::sync::LazyLock::new(std::collections::hash_map::RandomState::new);
    STATE.hash_one(term)
}

impl std::fmt::Debug for Draft<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Draft")
            .field("deleted", &self.deleted.len())
            .field("inserted", &(self.inserted.len() - self.dead.len()))
            .finish_non_exhaustive()
    }
}

impl<'a> Draft<'a> {
    /// An empty draft over `store`.
    pub fn new(store: &'a dyn GraphStore) -> Self {
        Self {
            store,
            deleted: HashMap::new(),
            deletions: 0,
            inserted: Vec::new(),
            by_subject: HashMap::new(),
            by_predicate: HashMap::new(),
            by_predicate_object: HashMap::new(),
            dead: HashSet::new(),
            failed: RefCell::new(None),
        }
    }

    /// The quads matching `pattern` as the store will hold them once the draft is applied.
    pub fn quads(&self, pattern: QuadPattern<'_>) -> Vec<Quad> {
        let mut out = match self.store.quads_for_pattern(pattern) {
            Ok(quads) => quads,
            Err(e) => {
                self.failed.borrow_mut().get_or_insert(e);
                Vec::new()
            }
        };
        out.retain(|q| !self.deleted.contains_key(q));
        let candidates: Box<dyn Iterator<Item = usize> + '_> =
            match (pattern.subject, pattern.predicate, pattern.object) {
                (Some(s), _, _) => Box::new(self.by_subject.get(&key(s)).into_iter().flatten().copied()),
                (None, Some(p), Some(o)) => Box::new(
                    self.by_predicate_object
                        .get(&key(&(p, o)))
                        .into_iter()
                        .flatten()
                        .copied(),
                ),
                (None, Some(p), None) => Box::new(self.by_predicate.get(&key(p)).into_iter().flatten().copied()),
                (None, None, _) => Box::new(0..self.inserted.len()),
            };
        for i in candidates {
            let q = &self.inserted[i];
            if !self.dead.contains(&i) && pattern.matches(q) && !out.contains(q) {
                out.push(q.clone());
            }
        }
        out
    }

    /// Whether the default graph holds `subject predicate object` (any object when `None`).
    pub fn has(&self, subject: &NamedNode, predicate: &NamedNode, object: Option<&Term>) -> bool {
        let subject = NamedOrBlankNode::from(subject.clone());
        !self
            .quads(QuadPattern {
                subject: Some(&subject),
                predicate: Some(predicate),
                object,
                graph: Some(&GraphName::DefaultGraph),
            })
            .is_empty()
    }

    /// The objects of `subject predicate` in the default graph.
    pub fn objects(&self, subject: &NamedNode, predicate: &NamedNode) -> Vec<Term> {
        self.values(subject, predicate).into_iter().map(|q| q.object).collect()
    }

    /// The quads `subject predicate ?` of the default graph.
    fn values(&self, subject: &NamedNode, predicate: &NamedNode) -> Vec<Quad> {
        let subject = NamedOrBlankNode::from(subject.clone());
        self.quads(QuadPattern {
            subject: Some(&subject),
            predicate: Some(predicate),
            object: None,
            graph: Some(&GraphName::DefaultGraph),
        })
    }

    /// The named subjects of `predicate object` in the default graph.
    pub fn subjects(&self, predicate: &NamedNode, object: &Term) -> Vec<NamedNode> {
        self.quads(QuadPattern {
            subject: None,
            predicate: Some(predicate),
            object: Some(object),
            graph: Some(&GraphName::DefaultGraph),
        })
        .into_iter()
        .filter_map(|q| match q.subject {
            NamedOrBlankNode::NamedNode(n) => Some(n),
            _ => None,
        })
        .collect()
    }

    /// Adds a quad.
    pub fn insert(&mut self, quad: Quad) {
        let was_deleted = self.deleted.remove(&quad).is_some();
        if self.position(&quad).is_some() {
            return;
        }
        // Put back after the draft deleted it (`set` to the value it has, announced sensors
        // replaced by the same): the store keeps it, and the change set stays free of quads
        // that change nothing, which is what tells a device's check-in from a new description.
        if was_deleted && self.store_holds(&quad) {
            return;
        }
        let i = self.inserted.len();
        self.by_subject.entry(key(&quad.subject)).or_default().push(i);
        self.by_predicate.entry(key(&quad.predicate)).or_default().push(i);
        self.by_predicate_object
            .entry(key(&(&quad.predicate, &quad.object)))
            .or_default()
            .push(i);
        self.inserted.push(quad);
    }

    /// Removes a quad (from the store, or from what this draft inserted).
    pub fn remove(&mut self, quad: &Quad) {
        if let Some(i) = self.position(quad) {
            self.dead.insert(i);
        }
        let order = self.deletions;
        self.deletions += 1;
        self.deleted.entry(quad.clone()).or_insert(order);
    }

    /// Adds `subject predicate value` to the default graph.
    pub fn add(&mut self, subject: &NamedNode, predicate: &NamedNode, value: impl Into<Term>) {
        self.insert(Quad::new(
            subject.clone(),
            predicate.clone(),
            value.into(),
            GraphName::DefaultGraph,
        ));
    }

    /// Sets `subject predicate value` in the default graph, removing the predicate's other values.
    pub fn set(&mut self, subject: &NamedNode, predicate: &NamedNode, value: impl Into<Term>) {
        let value = value.into();
        let current = self.values(subject, predicate);
        // Already the one value: nothing to write (a check-in sets most of what it sets to
        // what it was), and no second read to find that out.
        if let [only] = current.as_slice() {
            if only.object == value {
                return;
            }
        }
        for quad in &current {
            self.remove(quad);
        }
        self.add(subject, predicate, value);
    }

    /// Removes every value of `subject predicate` in the default graph.
    pub fn remove_all(&mut self, subject: &NamedNode, predicate: &NamedNode) {
        for quad in self.values(subject, predicate) {
            self.remove(&quad);
        }
    }

    /// Whether the store itself (not the draft) holds `quad`.
    fn store_holds(&self, quad: &Quad) -> bool {
        let found = self.store.quads_for_pattern(QuadPattern {
            subject: Some(&quad.subject),
            predicate: Some(&quad.predicate),
            object: Some(&quad.object),
            graph: Some(&quad.graph_name),
        });
        match found {
            Ok(quads) => !quads.is_empty(),
            Err(e) => {
                self.failed.borrow_mut().get_or_insert(e);
                false
            }
        }
    }

    fn position(&self, quad: &Quad) -> Option<usize> {
        self.by_subject
            .get(&key(&quad.subject))?
            .iter()
            .copied()
            .find(|i| !self.dead.contains(i) && self.inserted[*i] == *quad)
    }

    /// The change set, or the first read error (nothing is to be written then: the draft may
    /// have decided on a partial view).
    pub fn finish(self) -> Result<ChangeSet, StoreError> {
        if let Some(e) = self.failed.into_inner() {
            return Err(e);
        }
        let dead = self.dead;
        let insert: Vec<Quad> = self
            .inserted
            .into_iter()
            .enumerate()
            .filter(|(i, _)| !dead.contains(i))
            .map(|(_, q)| q)
            .collect();
        // In the order the draft deleted them: a remote store receives the same request for the
        // same change.
        let mut deleted: Vec<(Quad, usize)> = self.deleted.into_iter().collect();
        deleted.sort_by_key(|(_, order)| *order);
        let delete = deleted.into_iter().map(|(q, _)| q).collect();
        Ok(ChangeSet { delete, insert })
    }
}

#[cfg(test)]
mod tests {
    use oxigraph::model::{GraphName, Literal, NamedNode, Quad};

    use super::*;
    use crate::store::EmbeddedStore;

    fn node(local: &str) -> NamedNode {
        NamedNode::new_unchecked(format!("https://example.org/{local}"))
    }

    fn stored(quads: &[(&str, &str, i64)]) -> EmbeddedStore {
        let store = EmbeddedStore::in_memory().unwrap();
        let insert = quads
            .iter()
            .map(|(s, p, o)| Quad::new(node(s), node(p), Literal::from(*o), GraphName::DefaultGraph))
            .collect();
        store
            .apply(&ChangeSet {
                delete: Vec::new(),
                insert,
            })
            .unwrap();
        store
    }

    fn state_quad(predicate: &str) -> Quad {
        Quad::new(
            NamedNode::new_unchecked("https://w3id.org/seam/device/a"),
            NamedNode::new_unchecked(predicate),
            Literal::from(1),
            GraphName::DefaultGraph,
        )
    }

    #[test]
    fn only_state_predicates_are_volatile() {
        assert!(is_volatile(&state_quad("https://w3id.org/seam/ontology#lastSeen")));
        assert!(is_volatile(&state_quad("http://www.w3.org/ns/prov#endedAtTime")));
        // The same local name in another namespace, or a longer one, describes.
        assert!(!is_volatile(&state_quad("https://example.org/lastSeen")));
        assert!(!is_volatile(&state_quad("https://w3id.org/seam/ontology#lastSeenBy")));
        assert!(!is_volatile(&state_quad("https://w3id.org/seam/ontology#freeRamBytes")));
        // Anything about a deployment, its type included; not about another subject.
        let about = |subject: &str| {
            Quad::new(
                NamedNode::new_unchecked(subject),
                NamedNode::new_unchecked("http://www.w3.org/1999/02/22-rdf-syntax-ns#type"),
                NamedNode::new_unchecked("https://w3id.org/seam/ontology#Deployment"),
                GraphName::DefaultGraph,
            )
        };
        assert!(is_volatile(&about("https://w3id.org/seam/deployment/a-1-2")));
        assert!(!is_volatile(&about("https://w3id.org/seam/device/deployment/a")));
        let check_in = ChangeSet {
            delete: vec![state_quad("https://w3id.org/seam/ontology#lastSeen")],
            insert: vec![state_quad("https://w3id.org/seam/ontology#lastSeen")],
        };
        assert!(!check_in.describes());
        let mut described = check_in.clone();
        described
            .insert
            .push(state_quad("https://w3id.org/seam/ontology#freeFlashBytes"));
        assert!(described.describes());
    }

    #[test]
    fn a_change_set_holds_only_what_changes() {
        let store = stored(&[("d", "free", 5), ("d", "kind", 1), ("d", "kind", 2)]);
        let mut draft = Draft::new(&store);
        // Set to the value it has; a value removed and put back; an existing quad added again
        // after its removal.
        draft.set(&node("d"), &node("free"), Literal::from(5));
        draft.remove_all(&node("d"), &node("kind"));
        draft.add(&node("d"), &node("kind"), Literal::from(1));
        draft.add(&node("d"), &node("kind"), Literal::from(2));
        assert_eq!(draft.finish().unwrap(), ChangeSet::default());

        // A new quad inserted, removed and inserted again is inserted; a value replaced is.
        let mut draft = Draft::new(&store);
        draft.add(&node("d"), &node("new"), Literal::from(1));
        draft.remove_all(&node("d"), &node("new"));
        draft.add(&node("d"), &node("new"), Literal::from(1));
        draft.set(&node("d"), &node("free"), Literal::from(6));
        draft.remove_all(&node("d"), &node("kind"));
        draft.add(&node("d"), &node("kind"), Literal::from(2));
        let changes = draft.finish().unwrap();
        let quad = |p: &str, o: i64| Quad::new(node("d"), node(p), Literal::from(o), GraphName::DefaultGraph);
        assert_eq!(changes.insert, vec![quad("new", 1), quad("free", 6)]);
        let mut deleted = changes.delete.clone();
        deleted.sort_by_key(ToString::to_string);
        assert_eq!(deleted, vec![quad("free", 5), quad("kind", 1)]);
    }
}
