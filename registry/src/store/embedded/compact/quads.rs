//! The quads of the compact replica, as numbers (see `terms`), in three persistent ordered sets:
//! by subject, by predicate and by object, each ending with the graph. A version is cheap to
//! copy (the sets share their nodes), so a write makes a new version beside the one queries
//! read, and a query reads the version it started on to its end.

use std::ops::Bound;
use std::sync::Arc;

use imbl::{OrdMap, OrdSet};

use super::terms::DEFAULT_GRAPH;

/// A quad as numbers: subject, predicate, object, graph (0: the default graph).
pub type Ids = [u32; 4];

/// One version of the replica's quads.
#[derive(Clone, Default)]
pub struct Quads {
    /// `[s, p, o, g]`.
    spog: OrdSet<Ids>,
    /// `[p, o, s, g]`.
    posg: OrdSet<Ids>,
    /// `[o, s, p, g]`.
    ospg: OrdSet<Ids>,
    /// The named graphs, with how many quads each holds. A graph stays named with none (as in
    /// Oxigraph: cleared, or created empty) until it is dropped.
    graphs: OrdMap<u32, usize>,
}

/// Which set a scan reads, and so the order of its keys.
#[derive(Clone, Copy)]
enum Order {
    Spog,
    Posg,
    Ospg,
}

impl Order {
    /// The key of `quad` in this order.
    fn key(self, [s, p, o, g]: Ids) -> Ids {
        match self {
            Self::Spog => [s, p, o, g],
            Self::Posg => [p, o, s, g],
            Self::Ospg => [o, s, p, g],
        }
    }

    /// The quad a key of this order stands for.
    fn quad(self, key: Ids) -> Ids {
        match self {
            Self::Spog => key,
            Self::Posg => [key[2], key[0], key[1], key[3]],
            Self::Ospg => [key[1], key[2], key[0], key[3]],
        }
    }
}

/// Which graphs a scan takes quads from.
#[derive(Clone, Copy, Debug)]
pub enum Graphs {
    /// Only this one (the default graph: [`DEFAULT_GRAPH`]).
    Only(u32),
    /// Every graph, the default one too.
    All,
}

impl Graphs {
    fn admits(self, g: u32) -> bool {
        match self {
            Self::Only(only) => g == only,
            Self::All => true,
        }
    }
}

impl Quads {
    /// How many quads it holds.
    pub fn len(&self) -> usize {
        self.spog.len()
    }

    /// Whether it holds none.
    pub fn is_empty(&self) -> bool {
        self.spog.is_empty()
    }

    /// Adds `quad`; whether it was not there.
    pub fn insert(&mut self, quad: Ids) -> bool {
        if self.spog.insert(quad).is_some() {
            return false;
        }
        self.posg.insert(Order::Posg.key(quad));
        self.ospg.insert(Order::Ospg.key(quad));
        if quad[3] != DEFAULT_GRAPH {
            *self.graphs.entry(quad[3]).or_insert(0) += 1;
        }
        true
    }

    /// Removes `quad`; whether it was there.
    pub fn remove(&mut self, quad: &Ids) -> bool {
        if self.spog.remove(quad).is_none() {
            return false;
        }
        self.posg.remove(&Order::Posg.key(*quad));
        self.ospg.remove(&Order::Ospg.key(*quad));
        if let Some(count) = self.graphs.get_mut(&quad[3]) {
            *count = count.saturating_sub(1);
        }
        true
    }

    /// Names graph `g` (with no quads, if it has none yet).
    pub fn name_graph(&mut self, g: u32) {
        if g != DEFAULT_GRAPH {
            self.graphs.entry(g).or_insert(0);
        }
    }

    /// Removes every quad of graph `g`, which stays named.
    pub fn clear_graph(&mut self, g: u32) {
        let doomed: Vec<Ids> = if g != DEFAULT_GRAPH && self.graphs.get(&g).is_none_or(|n| *n == 0) {
            Vec::new()
        } else {
            self.spog.iter().filter(|q| q[3] == g).copied().collect()
        };
        for quad in &doomed {
            self.remove(quad);
        }
    }

    /// Removes every quad of every named graph; they stay named.
    pub fn clear_named_graphs(&mut self) {
        let doomed: Vec<Ids> = self.spog.iter().filter(|q| q[3] != DEFAULT_GRAPH).copied().collect();
        for quad in &doomed {
            self.remove(quad);
        }
    }

    /// Removes graph `g` and its quads.
    pub fn drop_graph(&mut self, g: u32) {
        self.clear_graph(g);
        self.graphs.remove(&g);
    }

    /// Removes every named graph and its quads.
    pub fn drop_named_graphs(&mut self) {
        self.clear_named_graphs();
        self.graphs.clear();
    }

    /// The named graphs, with or without quads.
    pub fn named_graphs(&self) -> impl Iterator<Item = u32> + '_ {
        self.graphs.keys().copied()
    }

    /// Whether `g` is a named graph.
    pub fn has_graph(&self, g: u32) -> bool {
        self.graphs.contains_key(&g)
    }

    /// Whether any graph is named.
    pub fn has_named_graphs(&self) -> bool {
        !self.graphs.is_empty()
    }
}

/// The quads matching a pattern, read from one version as they are asked for.
pub struct Scan {
    quads: Arc<Quads>,
    order: Order,
    /// The next key to read from (inclusive, or past the last one read).
    from: Bound<Ids>,
    /// The end of the range (exclusive), `None`: the end of the set.
    to: Option<Ids>,
    /// Fields checked on each key, beyond the range: `[s, p, o]`.
    must: [Option<u32>; 3],
    graphs: Graphs,
    /// Keys read ahead, in reverse (the next is last).
    buffer: Vec<Ids>,
    done: bool,
}

/// How many keys a scan reads from the set at a time: each read finds its place in the tree
/// again, so a scan over many quads reads them in batches.
const BATCH: usize = 64;

impl Scan {
    /// The quads of `quads` with the given subject, predicate and object (`None`: any), in
    /// `graphs`.
    pub fn new(quads: Arc<Quads>, s: Option<u32>, p: Option<u32>, o: Option<u32>, graphs: Graphs) -> Self {
        // The set whose keys start with the most bound fields, in a row.
        let (order, prefix): (Order, Vec<u32>) = match (s, p, o) {
            (Some(s), Some(p), Some(o)) => (Order::Spog, vec![s, p, o]),
            (Some(s), Some(p), None) => (Order::Spog, vec![s, p]),
            (Some(s), None, Some(o)) => (Order::Ospg, vec![o, s]),
            (Some(s), None, None) => (Order::Spog, vec![s]),
            (None, Some(p), Some(o)) => (Order::Posg, vec![p, o]),
            (None, Some(p), None) => (Order::Posg, vec![p]),
            (None, None, Some(o)) => (Order::Ospg, vec![o]),
            (None, None, None) => (Order::Spog, Vec::new()),
        };
        let mut from = [0; 4];
        from[..prefix.len()].copy_from_slice(&prefix);
        // The first key past the prefix: its last field one higher (numbers stay below
        // u32::MAX, see `terms`).
        let to = prefix.last().map(|last| {
            let mut to = [0; 4];
            to[..prefix.len()].copy_from_slice(&prefix);
            to[prefix.len() - 1] = last.saturating_add(1);
            to
        });
        Self {
            quads,
            order,
            from: Bound::Included(from),
            to,
            must: [s, p, o],
            graphs,
            buffer: Vec::with_capacity(if prefix.len() >= 2 { 4 } else { BATCH }),
            done: false,
        }
    }

    /// Reads the next batch of keys into the buffer; whether it read any.
    fn refill(&mut self) -> bool {
        if self.done {
            return false;
        }
        let set = match self.order {
            Order::Spog => &self.quads.spog,
            Order::Posg => &self.quads.posg,
            Order::Ospg => &self.quads.ospg,
        };
        let to = self.to.map_or(Bound::Unbounded, Bound::Excluded);
        let mut last = None;
        for key in set.range((self.from, to)).take(BATCH) {
            self.buffer.push(*key);
            last = Some(*key);
        }
        match last {
            Some(last) => {
                if self.buffer.len() < BATCH {
                    self.done = true;
                }
                self.from = Bound::Excluded(last);
                self.buffer.reverse();
                true
            }
            None => {
                self.done = true;
                false
            }
        }
    }
}

impl Iterator for Scan {
    type Item = Ids;

    fn next(&mut self) -> Option<Ids> {
        loop {
            let Some(key) = self.buffer.pop() else {
                if self.refill() {
                    continue;
                }
                return None;
            };
            let quad = self.order.quad(key);
            let fits = self
                .must
                .iter()
                .zip(&quad)
                .all(|(must, got)| must.is_none_or(|m| m == *got));
            if fits && self.graphs.admits(quad[3]) {
                return Some(quad);
            }
        }
    }
}
