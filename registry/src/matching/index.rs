//! The fleet index: the matching facts of the whole fleet, read from the graph once per version
//! of what the graph describes ([`Registry::facts_version`]) and shared until the next write that
//! changes a description (a device checking in does not).

use std::sync::{Arc, Mutex};

use super::facts::Fleet;
use super::load::load_fleet;
use crate::error::QueryError;
use crate::graph::Registry;

/// The index and the description's version it was read at.
type Cached = Option<(u64, Arc<Fleet>)>;

/// A handle on the fleet index of one registry. Cheap to clone; clones share the index.
#[derive(Debug, Clone)]
pub struct FleetIndex {
    registry: Registry,
    cached: Arc<Mutex<Cached>>,
}

impl FleetIndex {
    /// An index over `registry`, read on first use.
    pub fn new(registry: Registry) -> Self {
        Self {
            registry,
            cached: Arc::new(Mutex::new(None)),
        }
    }

    /// The registry the index is read from.
    pub fn registry(&self) -> &Registry {
        &self.registry
    }

    /// The index if it is current, without touching the store (never blocks on I/O).
    pub fn cached(&self) -> Option<Arc<Fleet>> {
        let version = self.registry.facts_version();
        let cached = self.cached.lock().ok()?;
        cached.as_ref().filter(|(v, _)| *v == version).map(|(_, f)| f.clone())
    }

    /// The index, read again if a description changed since it was last read. The version is
    /// taken before the read: a write that lands during the read makes the next call read again.
    pub fn fleet(&self) -> Result<Arc<Fleet>, QueryError> {
        if let Some(fleet) = self.cached() {
            return Ok(fleet);
        }
        let version = self.registry.facts_version();
        let fleet = Arc::new(load_fleet(&self.registry)?);
        if let Ok(mut cached) = self.cached.lock() {
            *cached = Some((version, fleet.clone()));
        }
        Ok(fleet)
    }
}

#[cfg(test)]
mod tests {
    use oxigraph::model::{Literal, NamedNode, Term};

    use super::*;

    fn seam(local: &str) -> NamedNode {
        NamedNode::new_unchecked(format!("{}{local}", crate::vocab::SEAM))
    }

    fn catalog_device(registry: &Registry) -> NamedNode {
        let fleet = load_fleet(registry).unwrap();
        let device = fleet.devices.keys().next().expect("the catalog has devices");
        NamedNode::new_unchecked(device.clone())
    }

    #[test]
    fn a_check_in_keeps_the_index_and_a_new_description_replaces_it() {
        let registry = Registry::in_memory().unwrap();
        registry.seed_if_empty().unwrap();
        let index = FleetIndex::new(registry.clone());
        let device = catalog_device(&registry);
        let first = index.fleet().unwrap();

        // Every state predicate written at once, on a device: the same index.
        registry
            .change(|t| {
                for (ns, local) in crate::store::change::VOLATILE {
                    t.set(
                        &device,
                        &NamedNode::new_unchecked(format!("{ns}{local}")),
                        Literal::from(1),
                    );
                }
            })
            .unwrap();
        let kept = index.cached().expect("a check-in leaves the index current");
        assert!(Arc::ptr_eq(&first, &kept));

        // The device's free RAM: a description, read again.
        registry
            .change(|t| t.set(&device, &seam("freeRamBytes"), Literal::from(12_345)))
            .unwrap();
        assert!(index.cached().is_none());
        let again = index.fleet().unwrap();
        assert_eq!(again.devices[device.as_str()].free_ram_bytes, Some(12_345));

        // A write SEAM cannot tell apart (a SPARQL update, even of a state predicate): read again.
        let version = registry.facts_version();
        registry
            .update(&format!(
                "INSERT DATA {{ <{device}> seam:lastSeen 2 }}",
                device = device.as_str()
            ))
            .unwrap();
        assert_ne!(registry.facts_version(), version);
        assert!(index.cached().is_none());
    }

    #[test]
    fn the_index_reads_no_state_predicate() {
        // Writing every state predicate on every subject of the fleet leaves what matching
        // reads as it was: nothing derived from descriptions may depend on them.
        let registry = Registry::in_memory().unwrap();
        registry.seed_if_empty().unwrap();
        let before = load_fleet(&registry).unwrap();
        let subjects: Vec<NamedNode> = before
            .devices
            .keys()
            .chain(before.boards.keys())
            .chain(before.runtimes.keys())
            .chain(before.models.keys())
            .map(|iri| NamedNode::new_unchecked(iri.clone()))
            .collect();
        registry
            .change(|t| {
                for subject in &subjects {
                    for (ns, local) in crate::store::change::VOLATILE {
                        let predicate = NamedNode::new_unchecked(format!("{ns}{local}"));
                        t.set(subject, &predicate, Term::from(seam("Offline")));
                    }
                }
            })
            .unwrap();
        let after = load_fleet(&registry).unwrap();
        assert_eq!(before.devices, after.devices);
        assert_eq!(before.boards, after.boards);
        assert_eq!(before.runtimes, after.runtimes);
        assert_eq!(before.models, after.models);
    }
}
