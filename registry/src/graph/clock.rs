//! The version of what the graph *describes*, as opposed to the store's version, which every
//! write moves.
//!
//! A fleet checks in all the time: every LwM2M Update writes the device's `seam:lastSeen`, and a
//! delivery writes its progress at every step. What is derived from the description of devices,
//! boards, runtimes and models (the fleet index, about 150 ms to read again at 10,000 devices)
//! does not change with them, yet it was read again after each such write: under a fleet of
//! 1,000 devices updating every 20 s, a match took 200 to 300 ms instead of 3. Writes SEAM makes
//! itself, whose change sets touch only the [`VOLATILE`] predicates or deployments, leave this
//! version as it was; every other write moves it, and so does any change of the store SEAM
//! cannot account for (another service on a shared remote store, a write that bypassed
//! [`super::Registry`]).

use std::sync::Mutex;

use oxigraph::model::{NamedOrBlankNode, Quad};

use crate::store::ChangeSet;
use crate::vocab::{PROV, SEAM};

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

/// Whether applying `changes` may change what the graph describes.
pub fn describes(changes: &ChangeSet) -> bool {
    !changes.delete.iter().chain(&changes.insert).all(is_volatile)
}

/// Counts the changes of what the graph describes (see the module documentation).
#[derive(Debug, Default)]
pub(super) struct FactsClock {
    inner: Mutex<Ticks>,
}

#[derive(Debug, Default)]
struct Ticks {
    /// The store's version up to which every write is accounted for.
    seen: u64,
    /// The version of the description.
    facts: u64,
}

impl FactsClock {
    fn ticks(&self) -> std::sync::MutexGuard<'_, Ticks> {
        self.inner.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The version of the description, given the store's version now: a store version not
    /// accounted for is a change of the description. (A version older than the one accounted
    /// for was read before a write this clock has seen: what it returns covers that write.)
    pub(super) fn read(&self, store_version: u64) -> u64 {
        let mut ticks = self.ticks();
        if store_version > ticks.seen {
            ticks.facts += 1;
            ticks.seen = store_version;
        }
        ticks.facts
    }

    /// Accounts for one write of SEAM's own, which moved the store from `before` to `after`
    /// (read under the registry's writer lock). It leaves the description's version only when
    /// it changed nothing described and it alone moved the store: anything else between the
    /// two readings, or since the last accounting, counts as a change.
    pub(super) fn wrote(&self, before: u64, after: u64, describes: bool) {
        let mut ticks = self.ticks();
        if describes || ticks.seen != before || after != before.wrapping_add(1) {
            ticks.facts += 1;
        }
        ticks.seen = after;
    }
}

#[cfg(test)]
mod tests {
    use oxigraph::model::{GraphName, Literal, NamedNode};

    use super::*;

    fn quad(predicate: &str) -> Quad {
        Quad::new(
            NamedNode::new_unchecked("https://w3id.org/seam/device/a"),
            NamedNode::new_unchecked(predicate),
            Literal::from(1),
            GraphName::DefaultGraph,
        )
    }

    #[test]
    fn only_state_predicates_are_volatile() {
        assert!(is_volatile(&quad("https://w3id.org/seam/ontology#lastSeen")));
        assert!(is_volatile(&quad("http://www.w3.org/ns/prov#endedAtTime")));
        // The same local name in another namespace, or a longer one, describes.
        assert!(!is_volatile(&quad("https://example.org/lastSeen")));
        assert!(!is_volatile(&quad("https://w3id.org/seam/ontology#lastSeenBy")));
        assert!(!is_volatile(&quad("https://w3id.org/seam/ontology#freeRamBytes")));
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
            delete: vec![quad("https://w3id.org/seam/ontology#lastSeen")],
            insert: vec![quad("https://w3id.org/seam/ontology#lastSeen")],
        };
        assert!(!describes(&check_in));
        let mut described = check_in.clone();
        described
            .insert
            .push(quad("https://w3id.org/seam/ontology#freeFlashBytes"));
        assert!(describes(&described));
    }

    #[test]
    fn the_clock_moves_for_what_it_cannot_account_for() {
        let clock = FactsClock::default();
        let v0 = clock.read(0);
        // A check-in: the store moved by one, nothing described.
        clock.wrote(0, 1, false);
        assert_eq!(clock.read(1), v0);
        // A described change.
        clock.wrote(1, 2, true);
        let v1 = clock.read(2);
        assert_ne!(v1, v0);
        // A write nobody accounted for (a load, another service), then a check-in.
        assert_ne!(clock.read(3), v1);
        let v2 = clock.read(3);
        clock.wrote(3, 4, false);
        assert_eq!(clock.read(4), v2);
        // A check-in that another write overtook: the store moved by two.
        clock.wrote(4, 6, false);
        assert_ne!(clock.read(6), v2);
        // A check-in after an unaccounted write that no reader saw.
        let v3 = clock.read(6);
        clock.wrote(7, 8, false);
        assert_ne!(clock.read(8), v3);
    }
}
