//! The quads of the compact replica, as numbers (see `terms`), each in three sorted arrays: by
//! subject, by predicate and by object, each key ending with the graph. A lookup is a binary
//! search and a walk along one array.
//!
//! Arrays are not written in place: queries read a version from their start to their end while
//! writes go on. A version is a **base** (every quad as of when it was last rebuilt) and a small
//! **delta** beside it: the quads added since (in the three orders too) and the base's quads
//! removed since. A write copies the delta, never the base, and the base is rebuilt, merging the
//! delta in, once the delta outgrows a share of it ([`delta_bound`]). The base keeps the default
//! graph's triples in half the bytes of a key (`runs`).

use std::collections::BTreeMap;
use std::sync::Arc;

use rustc_hash::FxHashSet;

use super::runs::{slot, starts_of, Runs, Triple, Walk};
use super::terms::DEFAULT_GRAPH;

/// A quad as numbers: subject, predicate, object, graph (0: the default graph).
pub type Ids = [u32; 4];

/// A quad's numbers in one order, packed in one integer (the first field in the highest bits),
/// so that keys compare as the numbers do, field by field, in one comparison.
type Key = u128;

/// `fields` packed into a key.
fn pack([a, b, c, d]: Ids) -> Key {
    (u128::from(a) << 96) | (u128::from(b) << 64) | (u128::from(c) << 32) | u128::from(d)
}

/// The fields a key packs.
fn unpack(key: Key) -> Ids {
    // Each shift leaves the field in the low 32 bits: the truncations are the point.
    #[expect(clippy::cast_possible_truncation)]
    [(key >> 96) as u32, (key >> 64) as u32, (key >> 32) as u32, key as u32]
}

/// Quads in the three orders, each array sorted, with where each first field's keys start.
#[derive(Default)]
struct Sorted {
    /// `[s, p, o, g]`.
    spog: Keys,
    /// `[p, o, s, g]`.
    posg: Keys,
    /// `[o, s, p, g]`.
    ospg: Keys,
}

/// Sorted keys, and where the keys of each first field start: a lookup by subject (predicate,
/// object) finds its range in two reads instead of a binary search of the whole array (about
/// seventeen reads, most of them cache misses, at 75,000 quads). The table has a place for each
/// term up to the highest first field, four bytes each: it is kept only where that is at most
/// the keys' own size (a base, where it is about a sixth of it), not for a delta of a few
/// thousand quads that use the newest terms, whose table would be as large as a base's and be
/// made again on every write.
#[derive(Default)]
struct Keys {
    keys: Vec<Key>,
    /// `starts[slot(v)]`: the first key whose first field is `v` or more (empty: not kept).
    starts: Vec<u32>,
}

impl Keys {
    fn of(keys: Vec<Key>) -> Self {
        let starts = starts_of(&keys, |k| unpack(*k)[0]).unwrap_or_default();
        Self { keys, starts }
    }

    /// The positions of the keys whose first field is `first`, or of every key if `None` (or
    /// the table is not kept).
    fn of_first(&self, first: Option<u32>) -> std::ops::Range<usize> {
        match first {
            Some(first) if !self.starts.is_empty() => {
                let at = |v: usize| self.starts.get(v).map_or(self.keys.len(), |p| *p as usize);
                at(slot(first))..at(slot(first) + 1)
            }
            _ => 0..self.keys.len(),
        }
    }

    /// The bytes the keys and the table of starts take.
    fn bytes(&self) -> usize {
        self.keys.capacity() * std::mem::size_of::<Key>() + self.starts.capacity() * 4
    }
}

impl Sorted {
    /// The quads of `spog` (sorted in that order, no repeats) in the three orders.
    fn of(spog: Vec<Key>) -> Self {
        let in_order = |order: Order| {
            let mut keys: Vec<Key> = spog.iter().map(|q| order.key(unpack(*q))).collect();
            keys.sort_unstable();
            Keys::of(keys)
        };
        Self {
            posg: in_order(Order::Posg),
            ospg: in_order(Order::Ospg),
            spog: Keys::of(spog),
        }
    }

    fn keys(&self, order: Order) -> &Keys {
        match order {
            Order::Spog => &self.spog,
            Order::Posg => &self.posg,
            Order::Ospg => &self.ospg,
        }
    }

    fn bytes(&self) -> usize {
        self.spog.bytes() + self.posg.bytes() + self.ospg.bytes()
    }

    fn contains(&self, quad: &Ids) -> bool {
        let range = self.spog.of_first(Some(quad[0]));
        self.spog.keys[range].binary_search(&pack(*quad)).is_ok()
    }
}

/// The default graph's triples of a base in the three orders (`[s, p, o]`, `[p, o, s]`,
/// `[o, s, p]`).
struct Triples {
    spo: Runs,
    pos: Runs,
    osp: Runs,
}

impl Triples {
    fn runs(&self, order: Order) -> &Runs {
        match order {
            Order::Spog => &self.spo,
            Order::Posg => &self.pos,
            Order::Ospg => &self.osp,
        }
    }
}

/// Every quad of a version as of when its base was built: the default graph's triples as runs
/// where their table of starts is not too large for them, and every other quad as keys.
#[derive(Default)]
struct Base {
    triples: Option<Triples>,
    /// The named graphs' quads, and the default graph's when `triples` is `None`.
    rest: Sorted,
}

impl Base {
    /// The quads of `spog` (sorted in that order, no repeats).
    fn of(spog: Vec<Key>) -> Self {
        let (default, named): (Vec<Key>, Vec<Key>) = spog.into_iter().partition(|k| unpack(*k)[3] == DEFAULT_GRAPH);
        let in_order = |order: Order| {
            let mut triples: Vec<Triple> = default.iter().map(|k| order.triple(unpack(*k))).collect();
            triples.sort_unstable();
            Runs::of(&triples)
        };
        let triples = in_order(Order::Spog).and_then(|spo| {
            Some(Triples {
                spo,
                pos: in_order(Order::Posg)?,
                osp: in_order(Order::Ospg)?,
            })
        });
        let rest = if triples.is_some() {
            named
        } else {
            let mut all = default;
            all.extend(named);
            all.sort_unstable();
            all
        };
        Self {
            triples,
            rest: Sorted::of(rest),
        }
    }

    fn len(&self) -> usize {
        self.triples.as_ref().map_or(0, |t| t.spo.len()) + self.rest.spog.keys.len()
    }

    fn bytes(&self) -> usize {
        self.triples
            .as_ref()
            .map_or(0, |t| t.spo.bytes() + t.pos.bytes() + t.osp.bytes())
            + self.rest.bytes()
    }

    fn contains(&self, quad: &Ids) -> bool {
        match &self.triples {
            Some(triples) if quad[3] == DEFAULT_GRAPH => triples.spo.contains(Order::Spog.triple(*quad)),
            _ => self.rest.contains(quad),
        }
    }

    /// Every quad, as `spog` keys (in no particular order).
    fn keys(&self) -> impl Iterator<Item = Key> + '_ {
        let triples = self.triples.as_ref().map(|t| {
            let mut walk = Walk::new(&t.spo, &[]);
            std::iter::from_fn(move || walk.next(&t.spo)).map(|t| pack(Order::Spog.of_triple(t)))
        });
        triples.into_iter().flatten().chain(self.rest.spog.keys.iter().copied())
    }
}

/// One version of the replica's quads. Cheap to clone.
#[derive(Clone, Default)]
pub struct Quads {
    base: Arc<Base>,
    /// Quads not in the base, added since it was built.
    added: Arc<Sorted>,
    /// Quads of the base removed since it was built, sorted (`spog` keys).
    removed: Arc<Vec<Key>>,
    /// The named graphs, with how many quads each holds. A graph stays named with none (as in
    /// Oxigraph: cleared, or created empty) until it is dropped.
    graphs: Arc<BTreeMap<u32, usize>>,
    len: usize,
}

/// How large the delta of a base of `base` quads grows before the base is rebuilt: a
/// thirty-second of it, at least 2,048 quads. A write copies the delta (at most ~100 KB at
/// 64,000 quads, or a thirty-second of the base's arrays), and a rebuild, a sort of the whole
/// store, is paid once per that many quads written.
fn delta_bound(base: usize) -> usize {
    (base / 32).max(2_048)
}

/// Which array a scan reads, and so the order of its keys.
#[derive(Clone, Copy)]
enum Order {
    Spog,
    Posg,
    Ospg,
}

impl Order {
    /// The key of `quad` in this order.
    fn key(self, [s, p, o, g]: Ids) -> Key {
        pack(match self {
            Self::Spog => [s, p, o, g],
            Self::Posg => [p, o, s, g],
            Self::Ospg => [o, s, p, g],
        })
    }

    /// The triple of `quad` in this order (its graph left out).
    fn triple(self, [s, p, o, _]: Ids) -> Triple {
        match self {
            Self::Spog => [s, p, o],
            Self::Posg => [p, o, s],
            Self::Ospg => [o, s, p],
        }
    }

    /// The default graph's quad a triple of this order stands for.
    fn of_triple(self, [a, b, c]: Triple) -> Ids {
        match self {
            Self::Spog => [a, b, c, DEFAULT_GRAPH],
            Self::Posg => [c, a, b, DEFAULT_GRAPH],
            Self::Ospg => [b, c, a, DEFAULT_GRAPH],
        }
    }

    /// The quad a key of this order stands for.
    fn quad(self, key: Key) -> Ids {
        let key = unpack(key);
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
    /// The quads of `quads` (in any order, repeats allowed), naming `named` graphs besides
    /// theirs.
    pub fn of(quads: Vec<Ids>, named: impl IntoIterator<Item = u32>) -> Self {
        let mut keys: Vec<Key> = quads.iter().map(|q| pack(*q)).collect();
        drop(quads);
        keys.sort_unstable();
        keys.dedup();
        let mut graphs = BTreeMap::new();
        for g in named {
            if g != DEFAULT_GRAPH {
                graphs.insert(g, 0);
            }
        }
        for q in &keys {
            let g = unpack(*q)[3];
            if g != DEFAULT_GRAPH {
                *graphs.entry(g).or_insert(0) += 1;
            }
        }
        Self {
            len: keys.len(),
            base: Arc::new(Base::of(keys)),
            added: Arc::default(),
            removed: Arc::default(),
            graphs: Arc::new(graphs),
        }
    }

    /// The bytes this version's arrays take (shared with the versions that share them).
    pub fn bytes(&self) -> usize {
        self.base.bytes() + self.added.bytes() + self.removed.capacity() * std::mem::size_of::<Key>()
    }

    /// How many quads this version holds.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether it holds none.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// This version with `changes` made: each quad present (`true`) or absent (`false`) after
    /// it.
    pub fn with(&self, changes: impl IntoIterator<Item = (Ids, bool)>) -> Self {
        let mut added: Vec<Key> = self.added.spog.keys.clone();
        let mut removed: Vec<Key> = (*self.removed).clone();
        let mut graphs = (*self.graphs).clone();
        let mut len = self.len;
        let (mut to_add, mut to_unadd, mut to_remove, mut to_unremove) =
            (Vec::new(), Vec::new(), Vec::new(), Vec::new());
        for (quad, present) in changes {
            let in_base = self.base.contains(&quad);
            let was_removed = in_base && self.removed.binary_search(&pack(quad)).is_ok();
            let was_added = !in_base && self.added.contains(&quad);
            let held = (in_base && !was_removed) || was_added;
            if held == present {
                continue;
            }
            match (present, in_base) {
                (true, true) => to_unremove.push(pack(quad)),
                (true, false) => to_add.push(pack(quad)),
                (false, true) => to_remove.push(pack(quad)),
                (false, false) => to_unadd.push(pack(quad)),
            }
            if present {
                len += 1;
                if quad[3] != DEFAULT_GRAPH {
                    *graphs.entry(quad[3]).or_insert(0) += 1;
                }
            } else {
                len -= 1;
                if let Some(count) = graphs.get_mut(&quad[3]) {
                    *count = count.saturating_sub(1);
                }
            }
        }
        let changed = !(to_add.is_empty() && to_unadd.is_empty() && to_remove.is_empty() && to_unremove.is_empty());
        let graphs = Arc::new(graphs);
        if !changed {
            return Self { graphs, ..self.clone() };
        }
        merge(&mut added, to_add, &to_unadd);
        merge(&mut removed, to_remove, &to_unremove);
        if added.len() + removed.len() > delta_bound(self.base.len()) {
            // The base rebuilt: what it held, less what was removed, with what was added.
            let gone: FxHashSet<Key> = removed.into_iter().collect();
            let mut all: Vec<Key> = self.base.keys().filter(|q| !gone.contains(q)).collect();
            all.extend(added);
            all.sort_unstable();
            return Self {
                base: Arc::new(Base::of(all)),
                added: Arc::default(),
                removed: Arc::default(),
                graphs,
                len,
            };
        }
        Self {
            base: Arc::clone(&self.base),
            added: Arc::new(Sorted::of(added)),
            removed: Arc::new(removed),
            graphs,
            len,
        }
    }

    /// This version with `g` named (with no quads, if it has none yet).
    pub fn with_graph_named(&self, g: u32) -> Self {
        let mut quads = self.clone();
        if g != DEFAULT_GRAPH && !self.graphs.contains_key(&g) {
            Arc::make_mut(&mut quads.graphs).insert(g, 0);
        }
        quads
    }

    /// This version without the name of `g` (whose quads must be gone).
    pub fn with_graph_unnamed(&self, g: u32) -> Self {
        let mut quads = self.clone();
        Arc::make_mut(&mut quads.graphs).remove(&g);
        quads
    }

    /// The quads of graph `g`, or of every named graph (`None`).
    pub fn in_graph(&self, g: Option<u32>) -> Vec<Ids> {
        if let Some(g) = g {
            if g != DEFAULT_GRAPH && self.graphs.get(&g).is_none_or(|n| *n == 0) {
                return Vec::new();
            }
        }
        let of = |q: &Ids| g.map_or(q[3] != DEFAULT_GRAPH, |g| q[3] == g);
        Scan::new(Arc::new(self.clone()), None, None, None, Graphs::All)
            .filter(of)
            .collect()
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

/// `sorted` with `add` merged in and `drop` taken out (`add` and `drop` in any order).
fn merge(sorted: &mut Vec<Key>, mut add: Vec<Key>, drop: &[Key]) {
    if !drop.is_empty() {
        let drop: FxHashSet<&Key> = drop.iter().collect();
        sorted.retain(|q| !drop.contains(q));
    }
    if !add.is_empty() {
        sorted.append(&mut add);
        sorted.sort_unstable();
        sorted.dedup();
    }
}

/// The quads matching a pattern, read from one version as they are asked for: the base's
/// default triples and its other keys, less what was removed, then the delta's keys.
pub struct Scan {
    quads: Arc<Quads>,
    order: Order,
    /// The base's default triples still to read (`None`: none, or not asked for).
    triples: Option<Walk>,
    /// The base's other keys still to read, then the delta's.
    base: std::ops::Range<usize>,
    added: std::ops::Range<usize>,
    /// Fields checked on each key, beyond the range: `[s, p, o]`.
    must: [Option<u32>; 3],
    graphs: Graphs,
}

impl Scan {
    /// The quads of `quads` with the given subject, predicate and object (`None`: any), in
    /// `graphs`.
    pub fn new(quads: Arc<Quads>, s: Option<u32>, p: Option<u32>, o: Option<u32>, graphs: Graphs) -> Self {
        // The array whose keys start with the most bound fields, in a row.
        let (order, prefix): (Order, &[u32]) = match (s, p, o) {
            (Some(s), Some(p), Some(o)) => (Order::Spog, &[s, p, o]),
            (Some(s), Some(p), None) => (Order::Spog, &[s, p]),
            (Some(s), None, Some(o)) => (Order::Ospg, &[o, s]),
            (Some(s), None, None) => (Order::Spog, &[s]),
            (None, Some(p), Some(o)) => (Order::Posg, &[p, o]),
            (None, Some(p), None) => (Order::Posg, &[p]),
            (None, None, Some(o)) => (Order::Ospg, &[o]),
            (None, None, None) => (Order::Spog, &[]),
        };
        // The keys from the prefix followed by zeros, up to (not including) the prefix with its
        // last field one higher (numbers stay below u32::MAX, see `terms`).
        let mut from = [0; 4];
        from[..prefix.len()].copy_from_slice(prefix);
        let mut to = from;
        if let Some(last) = prefix.len().checked_sub(1) {
            to[last] = to[last].saturating_add(1);
        }
        let (from, to) = (pack(from), if prefix.is_empty() { Key::MAX } else { pack(to) });
        let range = |keys: &Keys| {
            let within = keys.of_first(prefix.first().copied());
            let keys = &keys.keys[within.clone()];
            let start = keys.partition_point(|k| *k < from);
            let end = start + keys[start..].partition_point(|k| *k < to);
            within.start + start..within.start + end
        };
        let triples = match (&quads.base.triples, graphs.admits(DEFAULT_GRAPH)) {
            (Some(triples), true) => Some(Walk::new(triples.runs(order), prefix)),
            _ => None,
        };
        let base = range(quads.base.rest.keys(order));
        let added = range(quads.added.keys(order));
        Self {
            quads,
            order,
            triples,
            base,
            added,
            must: [s, p, o],
            graphs,
        }
    }

    /// The next of the base's default triples, as a quad.
    fn next_triple(&mut self) -> Option<Ids> {
        let runs = self.quads.base.triples.as_ref()?.runs(self.order);
        let triple = self.triples.as_mut()?.next(runs);
        if triple.is_none() {
            self.triples = None;
        }
        triple.map(|t| self.order.of_triple(t))
    }
}

impl Iterator for Scan {
    type Item = Ids;

    fn next(&mut self) -> Option<Ids> {
        loop {
            let (quad, from_base) = if let Some(quad) = self.next_triple() {
                (quad, true)
            } else if let Some(i) = self.base.next() {
                (self.order.quad(self.quads.base.rest.keys(self.order).keys[i]), true)
            } else {
                (
                    self.order
                        .quad(self.quads.added.keys(self.order).keys[self.added.next()?]),
                    false,
                )
            };
            let fits = self
                .must
                .iter()
                .zip(&quad)
                .all(|(must, got)| must.is_none_or(|m| m == *got));
            if !fits || !self.graphs.admits(quad[3]) {
                continue;
            }
            if from_base && !self.quads.removed.is_empty() && self.quads.removed.binary_search(&pack(quad)).is_ok() {
                continue;
            }
            return Some(quad);
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;
    use std::sync::Arc;

    use super::{delta_bound, Graphs, Ids, Quads, Scan};

    /// A small generator of numbers (the test must not depend on a seedless source).
    struct Lcg(u64);

    impl Lcg {
        fn below(&mut self, n: u32) -> u32 {
            self.0 = self
                .0
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            ((self.0 >> 33) % u64::from(n)) as u32
        }
    }

    /// Writes of every size, inserting and removing quads present and absent, across several
    /// rebuilds of the base: after each, every pattern reads exactly what a plain set holds,
    /// and the versions before are untouched.
    #[test]
    fn every_version_reads_what_a_plain_set_holds() {
        let mut rng = Lcg(7);
        // As the term table numbers terms: each place one number, some of them odd (held by value).
        let number = |place: u32| (place << 1) | u32::from(place.is_multiple_of(3));
        let quad = |rng: &mut Lcg| -> Ids {
            [
                number(1 + rng.below(40)),
                number(1 + rng.below(4)),
                number(1 + rng.below(40)),
                rng.below(3),
            ]
        };
        let mut model: BTreeSet<Ids> = (0..300).map(|_| quad(&mut rng)).collect();
        let mut quads = Quads::of(model.iter().copied().collect(), [5]);
        let mut versions = vec![(quads.clone(), model.clone())];
        let mut rebuilds = 0;
        for round in 0..400 {
            let size = if round % 50 == 0 {
                2_500
            } else {
                1 + rng.below(8) as usize
            };
            let mut changes = std::collections::HashMap::new();
            for _ in 0..size {
                changes.insert(quad(&mut rng), rng.below(2) == 0);
            }
            for (q, present) in &changes {
                if *present {
                    model.insert(*q);
                } else {
                    model.remove(q);
                }
            }
            let before = Arc::as_ptr(&quads.base);
            quads = quads.with(changes);
            if Arc::as_ptr(&quads.base) != before {
                rebuilds += 1;
            }
            assert_eq!(quads.len(), model.len(), "round {round}");
            if round % 40 == 0 {
                versions.push((quads.clone(), model.clone()));
            }
        }
        assert!(
            rebuilds >= 2,
            "the delta never outgrew its bound ({}): the rebuild is not tested",
            delta_bound(300)
        );
        assert!(
            quads.base.triples.is_some(),
            "the default graph's triples are not in runs"
        );
        let version = Arc::new(quads);
        for (version, model) in versions
            .iter()
            .map(|(q, m)| (Arc::new(q.clone()), m))
            .chain([(version, &model)])
        {
            reads_as(&version, model, [number(3), number(2), number(5)]);
        }
        // Graph 5 was named with no quads, and stays named.
        assert!(versions[0].0.has_graph(5));
    }

    /// Every pattern over the fields `bound` (each bound or not) and each graph reads from
    /// `version` exactly what `model` holds.
    fn reads_as(version: &Arc<Quads>, model: &BTreeSet<Ids>, bound: [u32; 3]) {
        for graphs in [Graphs::All, Graphs::Only(0), Graphs::Only(1)] {
            for mask in 0..8u32 {
                let [s, p, o] = [0, 1, 2].map(|i| (mask & (1 << i) != 0).then_some(bound[i]));
                let mut got: Vec<Ids> = Scan::new(Arc::clone(version), s, p, o, graphs).collect();
                got.sort_unstable();
                let want: Vec<Ids> = model
                    .iter()
                    .filter(|q| {
                        s.is_none_or(|s| q[0] == s) && p.is_none_or(|p| q[1] == p) && o.is_none_or(|o| q[2] == o)
                    })
                    .filter(|q| graphs.admits(q[3]))
                    .copied()
                    .collect();
                assert_eq!(got, want, "pattern {mask:03b} in {graphs:?}");
            }
        }
    }

    /// A base whose default triples would need a table of starts larger than they are (a
    /// subject among the newest of many terms) keeps them as keys, and reads the same.
    #[test]
    fn default_triples_left_as_keys_read_the_same() {
        let model: BTreeSet<Ids> = [
            [2_000_000, 4, 6, 0],
            [2_000_000, 4, 10, 0],
            [8, 4, 6, 0],
            [8, 4, 6, 1],
            [13, 2, 2_000_000, 1],
        ]
        .into_iter()
        .collect();
        let quads = Quads::of(model.iter().copied().collect(), []);
        assert!(quads.base.triples.is_none());
        reads_as(&Arc::new(quads), &model, [8, 4, 6]);
        let small = Quads::of(vec![[8, 4, 6, 0], [8, 4, 10, 0], [8, 4, 6, 1]], []);
        assert!(small.base.triples.is_some());
    }
}
