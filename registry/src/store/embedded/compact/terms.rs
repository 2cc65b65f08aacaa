//! The terms of the compact replica: each stored term once, under a number, and the form a query
//! holds a term in ([`Held`]).
//!
//! Numbers are what the quad indexes hold (four of them make a quad, 16 bytes). Canonical
//! `xsd:integer` and `xsd:boolean` literals are also held by value: a query computes such
//! values on every row (`BIND(IF(… , 1, 0) AS ?memoryOk)`), and holding them by value spares a
//! look-up in the table for each. The table only grows; the replica is made anew from RocksDB
//! often enough to let go of terms no quad uses any more (see `embedded::replica`).

use std::hash::BuildHasher;
use std::sync::{Arc, PoisonError, RwLock};

use hashbrown::HashTable;
use oxigraph::model::vocab::xsd;
use oxigraph::model::{Literal, Term, TermRef};
use oxsdatatypes::{
    Boolean, Date, DateTime, DayTimeDuration, Decimal, Double, Duration, Float, GDay, GMonth, GMonthDay, GYear,
    GYearMonth, Integer, Time, YearMonthDuration,
};
use rustc_hash::FxBuildHasher;

/// The number of the default graph in a quad's graph position; no term has it.
pub(super) const DEFAULT_GRAPH: u32 = 0;

/// A term as a query evaluated on the replica holds it. Two held terms are equal exactly when
/// the terms are (RDF term equality): a term of the table is always held by its number, except
/// canonical integers and booleans, which are always held by value, and a term outside the
/// table is never equal to one inside it.
#[derive(Clone, PartialEq, Eq, Hash, Debug)]
pub enum Held {
    /// A term of the table, by its number.
    Stored(u32),
    /// An `xsd:integer` literal whose text is the canonical form of this value.
    Integer(i64),
    /// An `xsd:boolean` literal, `"true"` or `"false"`.
    Boolean(bool),
    /// A term not in the table (computed by the query, or asked for and not stored).
    Other(Arc<Term>),
}

/// `term` as Oxigraph stores it: a literal of a datatype it keeps by value (booleans, numbers,
/// dates, times and durations; the integer types as `xsd:integer`) in its canonical form, when
/// its text parses. RocksDB gives back `"01"^^xsd:int` as `"1"^^xsd:integer`, so the replica
/// must keep and look up the same term for it.
pub(super) fn as_stored(term: TermRef<'_>) -> Option<Term> {
    let TermRef::Literal(literal) = term else {
        return None;
    };
    let text = literal.value();
    let datatype = literal.datatype().as_str();
    let local = datatype.strip_prefix("http://www.w3.org/2001/XMLSchema#")?;
    let stored: Literal = match local {
        "boolean" => text.parse::<Boolean>().ok()?.into(),
        "float" => text.parse::<Float>().ok()?.into(),
        "double" => text.parse::<Double>().ok()?.into(),
        "integer" | "byte" | "short" | "int" | "long" | "unsignedByte" | "unsignedShort" | "unsignedInt"
        | "unsignedLong" | "positiveInteger" | "negativeInteger" | "nonPositiveInteger" | "nonNegativeInteger" => {
            text.parse::<Integer>().ok()?.into()
        }
        "decimal" => text.parse::<Decimal>().ok()?.into(),
        "dateTime" | "dateTimeStamp" => text.parse::<DateTime>().ok()?.into(),
        "time" => text.parse::<Time>().ok()?.into(),
        "date" => text.parse::<Date>().ok()?.into(),
        "gYearMonth" => text.parse::<GYearMonth>().ok()?.into(),
        "gYear" => text.parse::<GYear>().ok()?.into(),
        "gMonthDay" => text.parse::<GMonthDay>().ok()?.into(),
        "gDay" => text.parse::<GDay>().ok()?.into(),
        "gMonth" => text.parse::<GMonth>().ok()?.into(),
        "duration" => text.parse::<Duration>().ok()?.into(),
        "yearMonthDuration" => text.parse::<YearMonthDuration>().ok()?.into(),
        "dayTimeDuration" => text.parse::<DayTimeDuration>().ok()?.into(),
        _ => return None,
    };
    (stored.as_ref() != literal).then(|| stored.into())
}

impl Held {
    /// The value of a literal held by value; `None`: it goes in the table.
    fn by_value(term: TermRef<'_>) -> Option<Self> {
        let TermRef::Literal(literal) = term else {
            return None;
        };
        let text = literal.value();
        if literal.datatype() == xsd::INTEGER {
            let value: i64 = text.parse().ok()?;
            // Only the canonical text: "01" and "+1" are other terms than "1".
            (value.to_string() == text).then_some(Self::Integer(value))
        } else if literal.datatype() == xsd::BOOLEAN {
            match text {
                "true" => Some(Self::Boolean(true)),
                "false" => Some(Self::Boolean(false)),
                _ => None,
            }
        } else {
            None
        }
    }

    /// The literal a term held by value stands for.
    fn value_term(&self) -> Option<Term> {
        match self {
            Self::Integer(v) => Some(Literal::from(*v).into()),
            Self::Boolean(v) => Some(Literal::from(*v).into()),
            Self::Stored(_) | Self::Other(_) => None,
        }
    }
}

/// One term of the table.
struct Entry {
    term: Term,
    /// How queries hold it: by number, or by value.
    held: Held,
}

/// The table: terms by number (see [`number_at`]), and numbers by term.
#[derive(Default)]
struct Table {
    entries: Vec<Entry>,
    /// The numbers, found by their term's hash (the term is kept once, in `entries`).
    numbers: HashTable<u32>,
}

/// Every term the replica's quads use. Shared by every version of the quads: numbers are only
/// added, so a reader of an older version finds all of its terms.
///
/// The term at `i` in the table is numbered `(i + 1) * 2`, plus one when queries hold it by
/// value: the numbers read from a quad's object say without a look-up (and its lock) whether
/// the term is held by its number, which is most of them.
#[derive(Default)]
pub struct Terms {
    table: RwLock<Table>,
    hasher: FxBuildHasher,
}

/// The table holds at most this many terms (numbers must stay clear of `u32::MAX`, which the
/// indexes' range bounds step past).
const MAX_TERMS: usize = (u32::MAX / 2 - 2) as usize;

/// The number of the term at `index` in the table, held by value or not.
fn number_at(index: usize, by_value: bool) -> u32 {
    // index < MAX_TERMS: fits.
    ((index as u32 + 1) << 1) | u32::from(by_value)
}

/// The place in the table of the term numbered `n` (the default graph's 0 has none).
fn index_of(n: u32) -> Option<usize> {
    ((n >> 1) as usize).checked_sub(1)
}

/// Whether the term numbered `n` is held by its number.
pub(super) fn held_by_number(n: u32) -> bool {
    n & 1 == 0
}

/// The table is full (over two billion terms).
#[derive(Debug, thiserror::Error)]
#[error("the replica's term table is full ({MAX_TERMS} terms)")]
pub struct TableFull;

impl Terms {
    /// The number of `term`, if the table has it among its first `within` terms.
    ///
    /// A query reads the terms the table held when it started: one added meanwhile by a write
    /// is, for that query, a term outside the table, as it was on the rows before (else the
    /// same term could be held two ways in one answer).
    pub fn number(&self, term: TermRef<'_>, within: u32) -> Option<u32> {
        if let Some(stored) = as_stored(term) {
            return self.number(stored.as_ref(), within);
        }
        let hash = self.hasher.hash_one(term);
        let table = self.table.read().unwrap_or_else(PoisonError::into_inner);
        table
            .numbers
            .find(hash, |n| {
                entry(&table.entries, *n).is_some_and(|e| e.term.as_ref() == term)
            })
            .copied()
            .filter(|n| *n >> 1 <= within)
    }

    /// The number of `term`, added to the table if it is not there.
    pub fn add(&self, term: TermRef<'_>) -> Result<u32, TableFull> {
        if let Some(stored) = as_stored(term) {
            return self.add(stored.as_ref());
        }
        if let Some(n) = self.number(term, u32::MAX) {
            return Ok(n);
        }
        let hash = self.hasher.hash_one(term);
        let mut table = self.table.write().unwrap_or_else(PoisonError::into_inner);
        let Table { entries, numbers } = &mut *table;
        // Another writer may have added it since the look-up above.
        if let Some(n) = numbers.find(hash, |n| entry(entries, *n).is_some_and(|e| e.term.as_ref() == term)) {
            return Ok(*n);
        }
        if entries.len() >= MAX_TERMS {
            return Err(TableFull);
        }
        let by_value = Held::by_value(term);
        let n = number_at(entries.len(), by_value.is_some());
        entries.push(Entry {
            term: term.into_owned(),
            held: by_value.unwrap_or(Held::Stored(n)),
        });
        let hasher = &self.hasher;
        numbers.insert_unique(hash, n, |n| {
            entry(entries, *n).map_or(0, |e| hasher.hash_one(e.term.as_ref()))
        });
        Ok(n)
    }

    /// How many terms the table holds (the `within` of a query that starts now).
    pub fn len(&self) -> u32 {
        // At most MAX_TERMS entries: the conversion cannot fail.
        u32::try_from(self.table.read().unwrap_or_else(PoisonError::into_inner).entries.len()).unwrap_or(u32::MAX)
    }

    /// The term numbered `n`. A number that is not in the table (none is handed out) gives the
    /// default graph's stand-in, an empty IRI, rather than a panic.
    pub fn term(&self, n: u32) -> Term {
        let table = self.table.read().unwrap_or_else(PoisonError::into_inner);
        match entry(&table.entries, n) {
            Some(entry) => entry.term.clone(),
            None => oxigraph::model::NamedNode::new_unchecked("").into(),
        }
    }

    /// How a query holds the term numbered `n`.
    pub fn held(&self, n: u32) -> Held {
        if held_by_number(n) {
            return Held::Stored(n);
        }
        let table = self.table.read().unwrap_or_else(PoisonError::into_inner);
        match entry(&table.entries, n) {
            Some(entry) => entry.held.clone(),
            None => Held::Stored(n),
        }
    }

    /// How a query that reads the first `within` terms holds `term`.
    pub fn hold(&self, term: Term, within: u32) -> Held {
        let term = as_stored(term.as_ref()).unwrap_or(term);
        if let Some(held) = Held::by_value(term.as_ref()) {
            return held;
        }
        match self.number(term.as_ref(), within) {
            Some(n) => Held::Stored(n),
            None => Held::Other(Arc::new(term)),
        }
    }

    /// The number of a held term among the first `within` of the table, if it is there (so
    /// that a quad can hold it).
    pub fn number_of(&self, held: &Held, within: u32) -> Option<u32> {
        match held {
            Held::Stored(n) => Some(*n),
            Held::Integer(_) | Held::Boolean(_) => self.number(held.value_term()?.as_ref(), within),
            // Held so because it was not among them.
            Held::Other(_) => None,
        }
    }

    /// The term a held term stands for.
    pub fn term_of(&self, held: &Held) -> Term {
        match held {
            Held::Stored(n) => self.term(*n),
            Held::Integer(v) => Literal::from(*v).into(),
            Held::Boolean(v) => Literal::from(*v).into(),
            Held::Other(term) => (**term).clone(),
        }
    }
}

/// The entry of the term numbered `n`.
fn entry(entries: &[Entry], n: u32) -> Option<&Entry> {
    entries.get(index_of(n)?)
}
