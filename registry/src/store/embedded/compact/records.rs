//! How the term table keeps its terms: one record of bytes a term, in chunks that never move.
//!
//! A record is its kind, its text, and a literal's language or the place of its datatype (itself a
//! term of the table): two or three bytes beyond the text. An Oxigraph `Term` is made from it when
//! a query asks; [`Form`] is the term as borrowed parts, which the table hashes and compares
//! without making one.

use std::borrow::Cow;

use oxigraph::model::vocab::{rdf, xsd};
use oxigraph::model::{BlankNode, Literal, NamedNode, Term, TermRef};

/// A term as its parts, borrowed from a record of the table or from a term: what the table
/// hashes and compares. A literal always has its datatype (`rdf:langString` with a language,
/// `xsd:string` for a simple one), whichever way it was read.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub(super) enum Form<'a> {
    Iri(&'a [u8]),
    Blank(&'a [u8]),
    Literal {
        value: &'a [u8],
        language: Option<&'a [u8]>,
        datatype: &'a [u8],
    },
}

impl<'a> Form<'a> {
    pub(super) fn of(term: TermRef<'a>) -> Self {
        match term {
            TermRef::NamedNode(n) => Self::Iri(n.as_str().as_bytes()),
            TermRef::BlankNode(b) => Self::Blank(b.as_str().as_bytes()),
            TermRef::Literal(l) => Self::Literal {
                value: l.value().as_bytes(),
                language: l.language().map(str::as_bytes),
                datatype: l.datatype().as_str().as_bytes(),
            },
        }
    }

    /// The term, made anew.
    pub(super) fn to_term(self) -> Term {
        // Records are written from `str`s: the lossy path is never taken, and is there so that
        // a damaged record gives a wrong term rather than a panic.
        let text = |bytes: &[u8]| -> String {
            match String::from_utf8_lossy(bytes) {
                Cow::Borrowed(s) => s.to_owned(),
                Cow::Owned(s) => s,
            }
        };
        match self {
            Self::Iri(iri) => NamedNode::new_unchecked(text(iri)).into(),
            Self::Blank(id) => BlankNode::new_unchecked(text(id)).into(),
            Self::Literal {
                value,
                language: Some(language),
                ..
            } => Literal::new_language_tagged_literal_unchecked(text(value), text(language)).into(),
            Self::Literal {
                value,
                language: None,
                datatype,
            } => Literal::new_typed_literal(text(value), NamedNode::new_unchecked(text(datatype))).into(),
        }
    }
}

/// The kinds of record; a record is `[length of the rest][kind][parts]`, lengths and numbers
/// as LEB128.
mod kind {
    /// An IRI: its text.
    pub const IRI: u8 = 0;
    /// A blank node: its identifier.
    pub const BLANK: u8 = 1;
    /// A simple literal (`xsd:string`): its text.
    pub const SIMPLE: u8 = 2;
    /// A literal with a language: the tag's length, the tag, the text.
    pub const LANGUAGE: u8 = 3;
    /// A literal of another datatype: the datatype's place in the table, the text.
    pub const TYPED: u8 = 4;
}

fn put_number(out: &mut Vec<u8>, mut n: usize) {
    while n >= 0x80 {
        // The low seven bits, with the bit that says more follow.
        out.push((n & 0x7f) as u8 | 0x80);
        n >>= 7;
    }
    out.push(n as u8);
}

fn read_number(bytes: &[u8]) -> Option<(usize, &[u8])> {
    let mut n = 0usize;
    for (i, byte) in bytes.iter().enumerate().take(5) {
        n |= usize::from(byte & 0x7f) << (7 * i);
        if byte & 0x80 == 0 {
            return Some((n, &bytes[i + 1..]));
        }
    }
    None
}

/// The record of `form`; `datatype`: the place in the table of a typed literal's datatype.
pub(super) fn record(form: &Form<'_>, datatype: Option<usize>) -> Vec<u8> {
    let mut body = Vec::with_capacity(16);
    match (*form, datatype) {
        (Form::Iri(iri), _) => {
            body.push(kind::IRI);
            body.extend_from_slice(iri);
        }
        (Form::Blank(id), _) => {
            body.push(kind::BLANK);
            body.extend_from_slice(id);
        }
        (
            Form::Literal {
                value,
                language: Some(language),
                ..
            },
            _,
        ) => {
            body.push(kind::LANGUAGE);
            put_number(&mut body, language.len());
            body.extend_from_slice(language);
            body.extend_from_slice(value);
        }
        (Form::Literal { value, .. }, Some(datatype)) => {
            body.push(kind::TYPED);
            put_number(&mut body, datatype);
            body.extend_from_slice(value);
        }
        (Form::Literal { value, .. }, None) => {
            body.push(kind::SIMPLE);
            body.extend_from_slice(value);
        }
    }
    let mut out = Vec::with_capacity(body.len() + 3);
    put_number(&mut out, body.len());
    out.extend_from_slice(&body);
    out
}

/// Records are written into chunks of this many bytes (a larger record has a chunk of its
/// own): a chunk is never moved, so the table grows without copying what it holds, and a
/// record's place is one 32-bit number, the chunk's in its high bits.
const CHUNK_BITS: u32 = 20;
pub(super) const CHUNK: usize = 1 << CHUNK_BITS;
const MAX_CHUNKS: usize = 1 << (32 - CHUNK_BITS);

/// The records, in chunks.
#[derive(Default)]
pub(super) struct Records {
    chunks: Vec<Vec<u8>>,
}

impl Records {
    /// Writes `record`; its place, or `None` when the chunks are all used (4 GiB).
    pub(super) fn push(&mut self, record: &[u8]) -> Option<u32> {
        let fits = self.chunks.last().is_some_and(|c| c.len() + record.len() <= CHUNK);
        if !fits {
            if self.chunks.len() >= MAX_CHUNKS {
                return None;
            }
            self.chunks.push(Vec::with_capacity(CHUNK.max(record.len())));
        }
        let at = self.chunks.len() - 1;
        let chunk = &mut self.chunks[at];
        // Below CHUNK: a record starts in a chunk only where it ends in it, or at 0.
        let offset = chunk.len();
        chunk.extend_from_slice(record);
        Some(((at as u32) << CHUNK_BITS) | offset as u32)
    }

    /// The kind and parts of the record at `place`.
    fn at(&self, place: u32) -> Option<(u8, &[u8])> {
        let chunk = self.chunks.get((place >> CHUNK_BITS) as usize)?;
        let rest = chunk.get(place as usize & (CHUNK - 1)..)?;
        let (len, rest) = read_number(rest)?;
        let (&kind, parts) = rest.get(..len)?.split_first()?;
        Some((kind, parts))
    }

    /// The bytes the chunks hold.
    pub(super) fn bytes(&self) -> usize {
        self.chunks.iter().map(Vec::len).sum()
    }
}

/// The term at `index` of the table.
pub(super) fn form_at<'t>(records: &'t Records, places: &[u32], index: usize) -> Option<Form<'t>> {
    let (kind, parts) = records.at(*places.get(index)?)?;
    Some(match kind {
        kind::IRI => Form::Iri(parts),
        kind::BLANK => Form::Blank(parts),
        kind::SIMPLE => Form::Literal {
            value: parts,
            language: None,
            datatype: xsd::STRING.as_str().as_bytes(),
        },
        kind::LANGUAGE => {
            let (len, rest) = read_number(parts)?;
            Form::Literal {
                value: rest.get(len..)?,
                language: Some(rest.get(..len)?),
                datatype: rdf::LANG_STRING.as_str().as_bytes(),
            }
        }
        kind::TYPED => {
            let (datatype, value) = read_number(parts)?;
            // Read directly, not through `form_at`: a datatype is an IRI, and a record that
            // said otherwise must not send this into a loop.
            let (kind::IRI, datatype) = records.at(*places.get(datatype)?)? else {
                return None;
            };
            Form::Literal {
                value,
                language: None,
                datatype,
            }
        }
        _ => return None,
    })
}
