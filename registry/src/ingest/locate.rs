//! Finding where a node is written in a document, so that a constraint violation found on the
//! parsed graph can be reported as `file:line:column` like a syntax error.
//!
//! The parsers do not keep positions per triple, so this searches the text for the node's first
//! occurrence as `<iri>` or as a prefixed name the document declared. Blank nodes have no text
//! form; callers locate the node that refers to them instead.

use super::Document;

/// 1-based (line, column) of the first occurrence of `iri` in the document, written in full or
/// with one of the document's prefixes.
pub fn locate_iri(doc: &Document, iri: &str) -> Option<(u64, u64)> {
    let full = format!("<{iri}>");
    let mut best = doc.text.find(&full);
    for (prefix, ns) in &doc.prefixes {
        if let Some(local) = iri.strip_prefix(ns.as_str()) {
            let name = format!("{prefix}:{local}");
            if let Some(pos) = find_token(&doc.text, &name) {
                best = Some(best.map_or(pos, |b| b.min(pos)));
            }
        }
    }
    best.map(|offset| line_col(&doc.text, offset))
}

/// Finds `token` where it stands alone: not preceded or followed by a name character.
fn find_token(text: &str, token: &str) -> Option<usize> {
    let is_name = |c: char| c.is_alphanumeric() || matches!(c, '_' | '-' | ':' | '.' | '%');
    let mut start = 0;
    while let Some(found) = text[start..].find(token) {
        let at = start + found;
        let before_ok = text[..at].chars().next_back().is_none_or(|c| !is_name(c));
        let after = &text[at + token.len()..];
        let mut after_chars = after.chars();
        let after_ok = match after_chars.next() {
            None => true,
            // A '.' right after a name ends the statement unless a name character follows it.
            Some('.') => after_chars.next().is_none_or(|c| !is_name(c) || c == '.'),
            Some(c) => !is_name(c),
        };
        if before_ok && after_ok {
            return Some(at);
        }
        start = at + token.len().max(1);
    }
    None
}

fn line_col(text: &str, offset: usize) -> (u64, u64) {
    let before = &text[..offset];
    let line = before.matches('\n').count() as u64 + 1;
    let column = before
        .rfind('\n')
        .map_or(before.chars().count(), |nl| before[nl + 1..].chars().count()) as u64
        + 1;
    (line, column)
}

#[cfg(test)]
mod tests {
    use super::*;
    use oxigraph::io::RdfFormat;

    fn doc(text: &str) -> Document {
        crate::ingest::parse_document("t.ttl", text.into(), RdfFormat::Turtle, None).unwrap()
    }

    #[test]
    fn finds_prefixed_and_full_iris() {
        let d = doc("@prefix ex: <http://e/> .\n\nex:board1 ex:p 1 .\n<http://e/board2> ex:p ex:board1x .\n");
        assert_eq!(locate_iri(&d, "http://e/board1"), Some((3, 1)));
        assert_eq!(locate_iri(&d, "http://e/board2"), Some((4, 1)));
        assert_eq!(locate_iri(&d, "http://e/missing"), None);
    }

    #[test]
    fn a_longer_name_is_not_a_match() {
        let d = doc("@prefix ex: <http://e/> .\nex:ab ex:p 1 .\nex:a ex:p 2 .\n");
        assert_eq!(locate_iri(&d, "http://e/a"), Some((3, 1)));
    }
}
