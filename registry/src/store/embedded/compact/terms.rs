//! The terms of the compact replica: each stored term once, under a number, and the form a query
//! holds a term in ([`Held`]).
//!
//! Numbers are what the quad indexes hold (four of them make a quad, 16 bytes). Canonical
//! `xsd:integer` and `xsd:boolean` literals are also held by value: a query computes such
//! values on every row (`BIND(IF(… , 1, 0) AS ?memoryOk)`), and holding them by value spares a
//! look-up in the table for each. The table only grows; the replica is made anew from RocksDB
//! often enough to let go of terms no quad uses any more (see `embedded::replica`).
//!
//! A term is kept as one record in a chunk of bytes (`records`): its kind, its text, and a
//! literal's language or the place of its datatype. An Oxigraph `Term` is 56 bytes and one or two
//! allocations of its own, about 150 bytes for a term of 30 characters with its entry beside
//! it; the record is its text and two or three bytes, and the table adds about ten more (where
//! the record is, and the hash table's slot). The `Term` is made when a query asks for it, as a
//! clone of a kept one was.

use std::hash::BuildHasher;
use std::sync::{Arc, PoisonError, RwLock};

use hashbrown::HashTable;
use oxigraph::model::vocab::xsd;
use oxigraph::model::{Literal, NamedNode, Term, TermRef};
use oxsdatatypes::{
    Boolean, Date, DateTime, DayTimeDuration, Decimal, Double, Duration, Float, GDay, GMonth, GMonthDay, GYear,
    GYearMonth, Integer, Time, YearMonthDuration,
};
use rustc_hash::FxBuildHasher;

use super::records::{form_at, record, Form, Records};

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
    fn by_value(form: &Form<'_>) -> Option<Self> {
        let Form::Literal {
            value,
            language: None,
            datatype,
        } = *form
        else {
            return None;
        };
        if datatype == xsd::INTEGER.as_str().as_bytes() {
            let text = std::str::from_utf8(value).ok()?;
            let value: i64 = text.parse().ok()?;
            // Only the canonical text: "01" and "+1" are other terms than "1".
            (value.to_string() == text).then_some(Self::Integer(value))
        } else if datatype == xsd::BOOLEAN.as_str().as_bytes() {
            match value {
                b"true" => Some(Self::Boolean(true)),
                b"false" => Some(Self::Boolean(false)),
                _ => None,
            }
        } else {
            None
        }
    }

    /// The value of a term the table holds by value (its text was found canonical when it was
    /// added): read on every quad a scan gives with such an object, so no more than a parse.
    fn of_value(form: &Form<'_>) -> Option<Self> {
        let Form::Literal { value, datatype, .. } = *form else {
            return None;
        };
        if datatype == xsd::INTEGER.as_str().as_bytes() {
            Some(Self::Integer(std::str::from_utf8(value).ok()?.parse().ok()?))
        } else if datatype == xsd::BOOLEAN.as_str().as_bytes() {
            Some(Self::Boolean(value == b"true"))
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

/// The table: where each term's record is (by the term's place, see [`number_at`]), the
/// records, and the numbers by their term's hash.
#[derive(Default)]
struct Table {
    places: Vec<u32>,
    records: Records,
    numbers: HashTable<u32>,
}

/// The term numbered `n`.
fn form_of<'t>(records: &'t Records, places: &[u32], n: u32) -> Option<Form<'t>> {
    form_at(records, places, index_of(n)?)
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

/// The table is full (over two billion terms, or 4 GiB of their text).
#[derive(Debug, thiserror::Error)]
#[error("the replica's term table is full ({MAX_TERMS} terms or 4 GiB of text)")]
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
        let form = Form::of(term);
        let hash = self.hasher.hash_one(form);
        let table = self.table.read().unwrap_or_else(PoisonError::into_inner);
        table
            .numbers
            .find(hash, |n| form_of(&table.records, &table.places, *n) == Some(form))
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
        let form = Form::of(term);
        // A typed literal's datatype is a term of the table too; the record holds its place.
        let datatype = match term {
            TermRef::Literal(l) if l.language().is_none() && l.datatype() != xsd::STRING => {
                index_of(self.add(l.datatype().into())?)
            }
            _ => None,
        };
        let record = record(&form, datatype);
        let hash = self.hasher.hash_one(form);
        let mut table = self.table.write().unwrap_or_else(PoisonError::into_inner);
        let Table {
            places,
            records,
            numbers,
        } = &mut *table;
        // Another writer may have added it since the look-up above.
        if let Some(n) = numbers.find(hash, |n| form_of(records, places, *n) == Some(form)) {
            return Ok(*n);
        }
        if places.len() >= MAX_TERMS {
            return Err(TableFull);
        }
        let n = number_at(places.len(), Held::by_value(&form).is_some());
        places.push(records.push(&record).ok_or(TableFull)?);
        let hasher = &self.hasher;
        numbers.insert_unique(hash, n, |n| {
            form_of(records, places, *n).map_or(0, |f| hasher.hash_one(f))
        });
        Ok(n)
    }

    /// How many terms the table holds (the `within` of a query that starts now).
    pub fn len(&self) -> u32 {
        // At most MAX_TERMS entries: the conversion cannot fail.
        u32::try_from(self.table.read().unwrap_or_else(PoisonError::into_inner).places.len()).unwrap_or(u32::MAX)
    }

    /// About how many bytes of memory the table takes: its records, where they are, and the
    /// hash table's slots (a number and a control byte, at most seven eighths full).
    pub fn bytes(&self) -> usize {
        let table = self.table.read().unwrap_or_else(PoisonError::into_inner);
        table.records.bytes() + table.places.capacity() * 4 + table.numbers.capacity() * 8 / 7 * 5
    }

    /// The term numbered `n`. A number that is not in the table (none is handed out) gives the
    /// default graph's stand-in, an empty IRI, rather than a panic.
    pub fn term(&self, n: u32) -> Term {
        let table = self.table.read().unwrap_or_else(PoisonError::into_inner);
        match form_of(&table.records, &table.places, n) {
            Some(form) => form.to_term(),
            None => NamedNode::new_unchecked("").into(),
        }
    }

    /// How a query holds the term numbered `n`.
    pub fn held(&self, n: u32) -> Held {
        if held_by_number(n) {
            return Held::Stored(n);
        }
        let table = self.table.read().unwrap_or_else(PoisonError::into_inner);
        form_of(&table.records, &table.places, n)
            .and_then(|form| Held::of_value(&form))
            .unwrap_or(Held::Stored(n))
    }

    /// How a query that reads the first `within` terms holds `term`.
    pub fn hold(&self, term: Term, within: u32) -> Held {
        let term = as_stored(term.as_ref()).unwrap_or(term);
        if let Some(held) = Held::by_value(&Form::of(term.as_ref())) {
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::embedded::compact::records::CHUNK;
    use oxigraph::model::BlankNode;

    fn terms() -> Vec<Term> {
        let long = "x".repeat(CHUNK + 10);
        vec![
            NamedNode::new_unchecked("https://example.org/device/1").into(),
            NamedNode::new_unchecked("").into(),
            BlankNode::new_unchecked("b0").into(),
            Literal::new_simple_literal("").into(),
            Literal::new_simple_literal("Grüße, 世界").into(),
            Literal::new_language_tagged_literal_unchecked("chat", "fr").into(),
            Literal::new_language_tagged_literal_unchecked("colour", "en-gb").into(),
            Literal::new_typed_literal("12", xsd::INTEGER).into(),
            Literal::new_typed_literal("012", xsd::INTEGER).into(),
            Literal::new_typed_literal("abc", xsd::INTEGER).into(),
            Literal::new_typed_literal("true", xsd::BOOLEAN).into(),
            Literal::new_typed_literal("2.5", xsd::DECIMAL).into(),
            Literal::new_typed_literal("3.3", NamedNode::new_unchecked("https://example.org/units#volt")).into(),
            Literal::new_typed_literal("https://example.org/device/1", xsd::ANY_URI).into(),
            // A record larger than a chunk, and one after it.
            Literal::new_simple_literal(long.clone()).into(),
            Literal::new_language_tagged_literal_unchecked(long, "de").into(),
            NamedNode::new_unchecked("https://example.org/after").into(),
        ]
    }

    #[test]
    fn every_kind_of_term_comes_back_as_it_went_in() {
        let table = Terms::default();
        let numbers: Vec<u32> = terms().iter().map(|t| table.add(t.as_ref()).unwrap()).collect();
        for (term, n) in terms().iter().zip(&numbers) {
            let stored = as_stored(term.as_ref()).unwrap_or_else(|| term.clone());
            assert_eq!(table.term(*n), stored, "{term}");
            assert_eq!(table.number(term.as_ref(), u32::MAX), Some(*n), "{term}");
            assert_eq!(table.add(term.as_ref()).unwrap(), *n, "added twice: {term}");
        }
        let distinct: std::collections::BTreeSet<u32> = numbers.iter().copied().collect();
        // "12" and "012" (as stored: 12) are one term.
        assert_eq!(distinct.len(), numbers.len() - 1);
        // The datatypes are terms of the table too.
        assert!(table
            .number(
                NamedNode::new_unchecked("https://example.org/units#volt")
                    .as_ref()
                    .into(),
                u32::MAX
            )
            .is_some());
        // A literal and an IRI of the same text, a language tag's case: other terms.
        assert_eq!(
            table.number(
                Literal::new_simple_literal("https://example.org/device/1")
                    .as_ref()
                    .into(),
                u32::MAX
            ),
            None
        );
        assert_eq!(
            table.number(
                Literal::new_language_tagged_literal_unchecked("chat", "de")
                    .as_ref()
                    .into(),
                u32::MAX
            ),
            None
        );
    }

    #[test]
    fn integers_and_booleans_are_held_by_value_and_the_rest_by_number() {
        let table = Terms::default();
        let twelve = table.add(Literal::from(12).as_ref().into()).unwrap();
        assert!(!held_by_number(twelve));
        assert_eq!(table.held(twelve), Held::Integer(12));
        let yes = table.add(Literal::from(true).as_ref().into()).unwrap();
        assert_eq!(table.held(yes), Held::Boolean(true));
        let name = table.add(Literal::new_simple_literal("12").as_ref().into()).unwrap();
        assert!(held_by_number(name));
        assert_eq!(table.held(name), Held::Stored(name));
        let huge = Literal::new_typed_literal("99999999999999999999999", xsd::INTEGER);
        let n = table.add(huge.as_ref().into()).unwrap();
        assert_eq!(table.held(n), Held::Stored(n), "beyond i64: by number");
        assert_eq!(table.hold(Literal::from(12).into(), table.len()), Held::Integer(12));
        assert_eq!(table.hold(huge.clone().into(), table.len()), Held::Stored(n));
        assert_eq!(table.hold(huge.clone().into(), 0), Held::Other(Arc::new(huge.into())));
    }

    #[test]
    fn a_query_sees_only_the_terms_that_were_there_when_it_started() {
        let table = Terms::default();
        let a = NamedNode::new_unchecked("https://example.org/a");
        let b = NamedNode::new_unchecked("https://example.org/b");
        table.add(a.as_ref().into()).unwrap();
        let within = table.len();
        table.add(b.as_ref().into()).unwrap();
        assert!(table.number(a.as_ref().into(), within).is_some());
        assert_eq!(table.number(b.as_ref().into(), within), None);
        assert!(table.number(b.as_ref().into(), table.len()).is_some());
    }

    #[test]
    fn a_term_costs_its_text_and_a_few_bytes() {
        let table = Terms::default();
        let count = 20_000;
        let mut text = 0;
        for i in 0..count {
            let iri = format!("https://example.org/fleet/device-{i:06}");
            text += iri.len();
            table.add(NamedNode::new_unchecked(iri).as_ref().into()).unwrap();
            let serial = format!("SN-{i:08}");
            text += serial.len();
            table.add(Literal::new_simple_literal(serial).as_ref().into()).unwrap();
            let seen = format!("2026-11-30T{:02}:{:02}:{:02}Z", i / 3600, i / 60 % 60, i % 60);
            text += seen.len();
            table
                .add(Literal::new_typed_literal(seen, xsd::DATE_TIME).as_ref().into())
                .unwrap();
        }
        let terms = table.len() as usize;
        let overhead = table.bytes().saturating_sub(text) as f64 / terms as f64;
        // An Oxigraph `Term` kept whole costs about 100 bytes beyond its text.
        assert!(overhead < 24.0, "{overhead:.1} bytes a term beyond its text");
    }
}
