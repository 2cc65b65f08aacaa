//! The version of what the graph *describes*, as opposed to the store's version, which every
//! write moves.
//!
//! A fleet checks in all the time: every LwM2M Update writes the device's `seam:lastSeen`, and a
//! delivery writes its progress at every step. What is derived from the description of devices,
//! boards, runtimes and models (the fleet index, about 150 ms to read again at 10,000 devices)
//! does not change with them, yet it was read again after each such write: under a fleet of
//! 1,000 devices updating every 20 s, a match took 200 to 300 ms instead of 3. Writes SEAM makes
//! itself whose change sets touch only state (`ChangeSet::describes`: the predicates of
//! [`crate::store::change::VOLATILE`], deployments) leave this version as it was. Every other
//! write moves it, and so does any change of the store SEAM cannot account for: a write that
//! bypassed [`super::Registry`], or another service's write of descriptions on a shared remote
//! store ([`crate::store::GraphStore::described_version`]).

use std::sync::Mutex;

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
    use super::*;

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
