//! SEAM patch: the answers of an `EXISTS` kept for the rows it is asked from.
//!
//! Upstream evaluates the pattern of an `EXISTS` again for every row it is asked from. The answer
//! depends only on the values the row gives the variables the pattern mentions, and rows that
//! agree on those are common. In SEAM's matching queries, whether a runtime supports an operator
//! is asked again for every model that uses it, and whether a board's sensors give a model's
//! inputs again for every runtime the model was joined with. [`ExistsMemo`] keeps each answer
//! under those values.
//!
//! Only patterns whose answer is a function of those values are remembered
//! ([`crate::own_variables`]). A memo that
//! finds few of its rows again stops looking once it is full ([`MAX_ENTRIES`]): rows that repeat
//! may come only after every distinct one has been seen (a hash join gives a board's devices
//! together, board after board, then again for the next runtime), so no shorter trial judges it.
//! Until then a pattern asked once per distinct row costs a hash lookup more per row.

use rustc_hash::FxHashMap;
use std::cell::{Cell, RefCell};
use std::hash::Hash;

/// The most answers kept at a time. A memo that fills up finding fewer than one row in
/// [`MIN_HIT_RATIO`] again stops looking; one that finds more starts over.
pub const MAX_ENTRIES: usize = 1 << 14;
/// See [`MAX_ENTRIES`].
pub const MIN_HIT_RATIO: u64 = 8;

/// The answers of one `EXISTS`, kept under the values a row gives its pattern's variables
/// ([`crate::own_variables::own_variables`]).
pub struct ExistsMemo<T> {
    answers: RefCell<FxHashMap<Vec<Option<T>>, bool>>,
    asked: Cell<u64>,
    hits: Cell<u64>,
    /// Whether it still looks (see [`MAX_ENTRIES`]).
    looking: Cell<bool>,
}

impl<T: Clone + Eq + Hash> ExistsMemo<T> {
    /// An empty memo.
    pub fn new() -> Self {
        Self {
            answers: RefCell::default(),
            asked: Cell::new(0),
            hits: Cell::new(0),
            looking: Cell::new(true),
        }
    }

    /// The answer for a row whose values are `key`: kept, or made by `compute` from them and
    /// kept (`None`: an answer not to keep, an error's, which counts as `true`). When full, the
    /// memo forgets every answer and starts over, or stops looking (see [`MAX_ENTRIES`]).
    pub fn answer(
        &self,
        key: Vec<Option<T>>,
        compute: impl FnOnce(&[Option<T>]) -> Option<bool>,
    ) -> bool {
        if !self.looking.get() {
            return compute(&key).unwrap_or(true);
        }
        self.asked.set(self.asked.get() + 1);
        if let Some(answer) = self.answers.borrow().get(&key) {
            self.hits.set(self.hits.get() + 1);
            return *answer;
        }
        let Some(answer) = compute(&key) else {
            return true;
        };
        let mut answers = self.answers.borrow_mut();
        if answers.len() >= MAX_ENTRIES {
            if self.hits.get() * MIN_HIT_RATIO < self.asked.get() {
                self.looking.set(false);
                *answers = FxHashMap::default();
                return answer;
            }
            answers.clear();
        }
        answers.insert(key, answer);
        answer
    }
}
