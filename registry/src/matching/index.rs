//! The fleet index: the matching facts of the whole fleet, read from the graph once per store
//! version and shared until the next write.

use std::sync::{Arc, Mutex};

use super::facts::Fleet;
use super::load::load_fleet;
use crate::error::QueryError;
use crate::graph::Registry;

/// The index and the store version it was read at.
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
        let version = self.registry.version();
        let cached = self.cached.lock().ok()?;
        cached.as_ref().filter(|(v, _)| *v == version).map(|(_, f)| f.clone())
    }

    /// The index, read again if the store was written since it was last read. The version is
    /// taken before the read: a write that lands during the read makes the next call read again.
    pub fn fleet(&self) -> Result<Arc<Fleet>, QueryError> {
        if let Some(fleet) = self.cached() {
            return Ok(fleet);
        }
        let version = self.registry.version();
        let fleet = Arc::new(load_fleet(&self.registry)?);
        if let Ok(mut cached) = self.cached.lock() {
            *cached = Some((version, fleet.clone()));
        }
        Ok(fleet)
    }
}
