//! The default graph's triples of a base (see `quads`) in one order, in half the bytes of a
//! packed key: the graph is not written (it is the default one), and neither is the first
//! field: the triples are sorted, and a table says where each first field's run of triples
//! starts, so a triple is only its other two fields, eight bytes. Almost every quad SEAM holds
//! is in the default graph (devices, boards, models, what the fleet reports); the named graphs
//! (Thing Descriptions, SeLoC-ML's documents) keep the packed keys.
//!
//! The table has a place for each term up to the highest first field (four bytes each, as the
//! packed keys' own table: see `quads::Keys`), and one bit beside it that says whether the term
//! of that place has an odd number (numbers are `place << 1 | held by value`, see `terms`), so
//! that a walk of every triple gives back the first field's number, not only its place.

use std::ops::Range;

/// A triple's numbers in the order of its runs: first, second, third.
pub(super) type Triple = [u32; 3];

/// The place of number `n` in a table of starts: its term's place in the term table (the low
/// bit of a number says only how a query holds the term; no two terms share a place).
pub(super) fn slot(n: u32) -> usize {
    (n >> 1) as usize
}

/// The second and third fields of a triple, packed so that they compare as the pair does.
fn tail(second: u32, third: u32) -> u64 {
    (u64::from(second) << 32) | u64::from(third)
}

/// The table of starts of `sorted` entries whose first field `first` gives: at `slot(v)`, the
/// position of the first entry whose first field is `v` or more, and one more place at the end,
/// the number of entries. `None` when it would have more than four places an entry (a few
/// entries under the newest terms of a large table) or a position would not fit in 32 bits.
pub(super) fn starts_of<T>(sorted: &[T], first: impl Fn(&T) -> u32) -> Option<Vec<u32>> {
    let end = u32::try_from(sorted.len()).ok()?;
    let top = sorted.last().map_or(0, |e| slot(first(e)));
    if top > sorted.len().saturating_mul(4) {
        return None;
    }
    let mut starts = Vec::with_capacity(top + 2);
    for (i, entry) in sorted.iter().enumerate() {
        // Positions fit: checked above. Places with no entry start where the next one does, so
        // that their ranges are empty.
        #[expect(clippy::cast_possible_truncation)]
        starts.resize(slot(first(entry)) + 1, i as u32);
    }
    starts.push(end);
    Some(starts)
}

/// Sorted triples of one order, as runs of tails under their first field.
pub(super) struct Runs {
    /// `starts[slot(v)]`: the position of the first triple whose first field is `v` or more;
    /// one more entry at the end, the number of triples.
    starts: Vec<u32>,
    /// Bit `slot(v)`: `v` is odd (the first field of that place's triples).
    odd: Vec<u64>,
    /// Each triple's second and third fields, in the triples' order.
    tails: Vec<u64>,
}

impl Runs {
    /// The runs of `sorted` (sorted, no repeats), or `None` when the table of starts would be
    /// larger than four places a triple (a few triples whose first fields are among the newest
    /// terms of a large table: the packed keys take them instead) or a position would not fit
    /// in 32 bits.
    pub(super) fn of(sorted: &[Triple]) -> Option<Self> {
        let starts = starts_of(sorted, |t| t[0])?;
        let mut odd = vec![0_u64; starts.len() / 64 + 1];
        for (i, &[first, ..]) in sorted.iter().enumerate() {
            debug_assert!(
                i == 0 || slot(sorted[i - 1][0]) != slot(first) || sorted[i - 1][0] == first,
                "two numbers of one place"
            );
            if first & 1 == 1 {
                let place = slot(first);
                odd[place / 64] |= 1 << (place % 64);
            }
        }
        let tails = sorted.iter().map(|&[_, second, third]| tail(second, third)).collect();
        Some(Self { starts, odd, tails })
    }

    /// How many triples.
    pub(super) fn len(&self) -> usize {
        self.tails.len()
    }

    /// The bytes the runs take.
    pub(super) fn bytes(&self) -> usize {
        self.starts.capacity() * 4 + self.odd.capacity() * 8 + self.tails.capacity() * 8
    }

    /// Where the run of place `place` starts (the end of the triples past the table).
    fn start(&self, place: usize) -> usize {
        self.starts.get(place).map_or(self.tails.len(), |p| *p as usize)
    }

    /// Whether the first field of place `place` is odd.
    fn is_odd(&self, place: usize) -> bool {
        self.odd.get(place / 64).is_some_and(|w| (w >> (place % 64)) & 1 == 1)
    }

    /// The positions of the triples whose first field is `first`.
    fn run(&self, first: u32) -> Range<usize> {
        let place = slot(first);
        if self.is_odd(place) != (first & 1 == 1) {
            // The other number of the place: not a term of the table.
            return 0..0;
        }
        self.start(place)..self.start(place + 1)
    }

    /// The positions of the triples that start with `prefix` (of any length up to three).
    pub(super) fn range(&self, prefix: &[u32]) -> Range<usize> {
        let Some((&first, rest)) = prefix.split_first() else {
            return 0..self.len();
        };
        let run = self.run(first);
        // Tails from `from` up to (not including) `to`.
        let (from, to) = match *rest {
            [] => return run,
            [second] => (tail(second, 0), tail(second, 0).saturating_add(1 << 32)),
            [second, third, ..] => (tail(second, third), tail(second, third).saturating_add(1)),
        };
        let tails = &self.tails[run.clone()];
        let start = tails.partition_point(|t| *t < from);
        let end = start + tails[start..].partition_point(|t| *t < to);
        run.start + start..run.start + end
    }

    /// Whether the runs hold `triple`.
    pub(super) fn contains(&self, [first, second, third]: Triple) -> bool {
        self.tails[self.run(first)].binary_search(&tail(second, third)).is_ok()
    }
}

/// A walk along positions of [`Runs`], giving back each triple whole: the first field is
/// followed from run to run as the walk crosses their starts.
pub(super) struct Walk {
    positions: Range<usize>,
    /// The place of the run the walk is in.
    place: usize,
}

impl Walk {
    /// A walk of the triples of `runs` that start with `prefix`.
    pub(super) fn new(runs: &Runs, prefix: &[u32]) -> Self {
        Self {
            positions: runs.range(prefix),
            place: prefix.first().map_or(0, |first| slot(*first)),
        }
    }

    /// The next triple of `runs` (those the walk was made for).
    pub(super) fn next(&mut self, runs: &Runs) -> Option<Triple> {
        let i = self.positions.next()?;
        while runs.start(self.place + 1) <= i {
            self.place += 1;
        }
        // Places are below 2^31: numbers are 32 bits.
        #[expect(clippy::cast_possible_truncation)]
        let first = ((self.place as u32) << 1) | u32::from(runs.is_odd(self.place));
        let tail = runs.tails[i];
        // The truncations take each half of the tail.
        #[expect(clippy::cast_possible_truncation)]
        Some([first, (tail >> 32) as u32, tail as u32])
    }
}

#[cfg(test)]
mod tests {
    use super::{Runs, Triple, Walk};

    fn walk(runs: &Runs, prefix: &[u32]) -> Vec<Triple> {
        let mut walk = Walk::new(runs, prefix);
        std::iter::from_fn(|| walk.next(runs)).collect()
    }

    /// Every prefix of every triple, and some of none, walks to exactly the triples that start
    /// with it; odd first fields come back odd, and the even number of an odd one's place
    /// (which no term has) finds nothing.
    #[test]
    fn every_prefix_walks_to_its_triples() {
        let mut triples: Vec<Triple> = vec![
            [2, 4, 6],
            [2, 4, 7],
            [2, 9, 1],
            [5, 2, 2],
            [5, 2, 3],
            [8, 0, 0],
            [8, u32::MAX - 1, u32::MAX - 1],
            [13, 6, 4],
        ];
        triples.sort_unstable();
        let runs = Runs::of(&triples).expect("a small table");
        assert_eq!(walk(&runs, &[]), triples);
        for t in &triples {
            for n in 1..=3 {
                let want: Vec<Triple> = triples.iter().filter(|u| u[..n] == t[..n]).copied().collect();
                assert_eq!(walk(&runs, &t[..n]), want, "prefix {:?}", &t[..n]);
            }
            assert!(runs.contains(*t));
        }
        for absent in [[4, 2, 2], [3, 4, 6], [12, 6, 4], [2, 4, 8], [8, 1, 0], [40, 0, 0]] {
            assert!(!runs.contains(absent), "{absent:?}");
        }
        assert!(walk(&runs, &[4]).is_empty(), "4 shares 5's place");
        assert!(walk(&runs, &[12]).is_empty(), "12 shares 13's place");
        assert!(walk(&runs, &[40]).is_empty(), "past the table");
    }

    /// A few triples under a first field far up the term table are left to the packed keys
    /// (the table of starts would be larger than they are), and an empty set has runs.
    #[test]
    fn a_table_larger_than_its_triples_is_not_made() {
        assert!(Runs::of(&[[2, 3, 4], [1_000_000, 1, 1]]).is_none());
        let empty = Runs::of(&[]).expect("no triples");
        assert!(walk(&empty, &[]).is_empty() && walk(&empty, &[2]).is_empty() && !empty.contains([2, 3, 4]));
    }
}
