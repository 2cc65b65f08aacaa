//! Relay connections over IRIs in order: a cursor is the last IRI of a page, base64url-encoded;
//! the next page asks for `STR(?x) > after`, with `after` bound as a literal in the algebra.

use async_graphql::connection::{Connection, Edge};
use async_graphql::Result;
use base64::Engine as _;
use oxigraph::model::{Literal, Term};

use super::bad_input;
use super::rows::{select_text, text, Row};
use crate::bind::Bindings;
use crate::graph::Registry;

fn decode_cursor(cursor: &str) -> Result<String> {
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(cursor)
        .map_err(|_| bad_input("invalid cursor"))?;
    String::from_utf8(bytes).map_err(|_| bad_input("invalid cursor"))
}

fn encode_cursor(iri: &str) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(iri)
}

/// What a connection pages over: a grouped SELECT on `?{var}`, with extra patterns (constant
/// text) whose variables the bindings give values.
pub(super) struct Listing<T> {
    /// The SELECT clause.
    pub select: &'static str,
    /// The WHERE pattern.
    pub pattern: &'static str,
    /// The variable paged over.
    pub var: &'static str,
    /// Extra patterns and filters, constant text.
    pub filters: String,
    /// Values of the filters' variables.
    pub bindings: Vec<(String, Term)>,
    /// A node from a row.
    pub from_row: fn(&Row) -> Option<T>,
}

/// One page: `LIMIT first + 1` tells whether there is a next.
pub(super) async fn page<T: async_graphql::OutputType>(
    registry: &Registry,
    listing: Listing<T>,
    first: Option<i32>,
    after: Option<String>,
) -> Result<Connection<String, T>> {
    let Listing {
        select,
        pattern,
        var,
        filters,
        mut bindings,
        from_row,
    } = listing;
    let first = first.unwrap_or(50);
    if !(0..=500).contains(&first) {
        return Err(bad_input("`first` must be between 0 and 500"));
    }
    let after = after.as_deref().map(decode_cursor).transpose()?;
    let after_filter = match &after {
        Some(a) => {
            bindings.push(("after".into(), Literal::new_simple_literal(a).into()));
            format!("FILTER(STR(?{var}) > ?after)")
        }
        None => String::new(),
    };
    let rows = select_text(
        registry,
        format!(
            "{select} WHERE {{ {pattern} {filters} {after_filter} }} GROUP BY ?{var} ORDER BY STR(?{var}) LIMIT {}",
            first + 1
        ),
        Bindings::of(bindings),
    )
    .await?;
    let has_next = rows.len() > first as usize;
    let mut connection = Connection::new(after.is_some(), has_next);
    for r in rows.iter().take(first as usize) {
        if let Some(node) = from_row(r) {
            let key = text(r, 0).unwrap_or_default();
            connection.edges.push(Edge::new(encode_cursor(&key), node));
        }
    }
    Ok(connection)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_round_trip_and_garbage_is_a_clear_error() {
        let iri = "https://w3id.org/seam/device/line3-acoustic-02";
        assert_eq!(decode_cursor(&encode_cursor(iri)).unwrap(), iri);
        assert!(decode_cursor("not base64!").is_err());
        // Valid base64 of bytes that are not UTF-8.
        assert!(decode_cursor(&base64::engine::general_purpose::URL_SAFE_NO_PAD.encode([0xff, 0xfe])).is_err());
    }
}
