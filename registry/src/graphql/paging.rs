//! Relay connections over IRIs in order: a cursor is the last IRI of a page, base64url-encoded.
//!
//! A page is two store queries: the keys the filters select (no ORDER BY: Oxigraph sorts by
//! decoding every term it compares, about a second for 20,000 devices, where reading the keys
//! takes milliseconds), ordered here, cut after the cursor; then the page's nodes with all their
//! properties, the keys bound in the algebra. A page's cost grows with the keys, not with the
//! properties of every node.

use async_graphql::connection::{Connection, Edge};
use async_graphql::Result;
use base64::Engine as _;
use oxigraph::model::Term;

use super::bad_input;
use super::rows::{iris, select_text, text, Row};
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
    /// The pattern that gives `?{var}` its values (e.g. `?d a seam:Device`).
    pub key: &'static str,
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

/// One page: the key after the page's last tells whether there is a next.
pub(super) async fn page<T: async_graphql::OutputType>(
    registry: &Registry,
    listing: Listing<T>,
    first: Option<i32>,
    after: Option<String>,
) -> Result<Connection<String, T>> {
    let Listing {
        key,
        select,
        pattern,
        var,
        filters,
        bindings,
        from_row,
    } = listing;
    let first = first.unwrap_or(50);
    if !(0..=500).contains(&first) {
        return Err(bad_input("`first` must be between 0 and 500"));
    }
    let first = first as usize;
    let after = after.as_deref().map(decode_cursor).transpose()?;
    let keys = select_text(
        registry,
        format!("SELECT DISTINCT ?{var} WHERE {{ {key} {filters} FILTER(isIRI(?{var})) }}"),
        Bindings::of(bindings),
    )
    .await?;
    let mut keys: Vec<String> = keys.iter().filter_map(|r| text(r, 0)).collect();
    keys.sort_unstable();
    let start = after
        .as_deref()
        .map_or(0, |a| keys.partition_point(|k| k.as_str() <= a));
    let window: Vec<String> = keys.iter().skip(start).take(first).cloned().collect();
    let has_next = keys.len() > start + window.len();
    let mut connection = Connection::new(after.is_some(), has_next);
    if window.is_empty() {
        return Ok(connection);
    }
    let rows = select_text(
        registry,
        format!("{select} WHERE {{ {pattern} }} GROUP BY ?{var}"),
        Bindings::each(var, iris(&window)),
    )
    .await?;
    let mut nodes: std::collections::HashMap<String, T> =
        rows.iter().filter_map(|r| Some((text(r, 0)?, from_row(r)?))).collect();
    for iri in window {
        // A node deleted between the two queries is left out of the page, not an error.
        if let Some(node) = nodes.remove(&iri) {
            connection.edges.push(Edge::new(encode_cursor(&iri), node));
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
