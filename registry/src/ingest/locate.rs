//! Finding where a node is written in a document, so that a constraint violation found on the
//! parsed graph can be reported as `file:line:column` like a syntax error.
//!
//! The parsers do not keep positions per triple, so this finds the node's first occurrence in the
//! text as `<iri>` or as a prefixed name the document declared (comments and string literals
//! skipped). Blank nodes have no text form; callers locate the node that refers to them instead.

use super::Document;

/// The 1-based line and column (in characters) of byte offset `at` of `text`.
pub fn position(text: &str, at: usize) -> (u64, u64) {
    let before = &text[..at.min(text.len())];
    let line = before.matches('\n').count() as u64 + 1;
    let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) as u64 + 1;
    (line, column)
}

/// Finds many nodes in one document: the text is scanned once for its tokens, then each lookup
/// is a few hash probes (a search per node would make a file with thousands of problems take
/// minutes).
pub struct Locator<'a> {
    doc: &'a Document,
    first: std::collections::HashMap<&'a str, usize>,
    line_starts: Vec<usize>,
}

impl<'a> Locator<'a> {
    /// Indexes `doc`'s text.
    pub fn new(doc: &'a Document) -> Self {
        let text = doc.text.as_str();
        let mut first = std::collections::HashMap::new();
        let mut line_starts = vec![0];
        let bytes = text.as_bytes();
        let mut i = 0;
        while i < bytes.len() {
            match bytes[i] {
                b'\n' => {
                    line_starts.push(i + 1);
                    i += 1;
                }
                b'<' => {
                    let end = text[i..].find('>').map_or(bytes.len(), |e| i + e + 1);
                    first.entry(&text[i..end]).or_insert(i);
                    i = end;
                }
                b'#' => {
                    // A comment runs to the end of the line.
                    i = text[i..].find('\n').map_or(bytes.len(), |e| i + e);
                }
                b'"' => {
                    // Skip string literals, which may hold anything.
                    let mut j = i + 1;
                    while j < bytes.len() && bytes[j] != b'"' {
                        if bytes[j] == b'\\' {
                            j += 1;
                        }
                        if j < bytes.len() && bytes[j] == b'\n' {
                            line_starts.push(j + 1);
                        }
                        j += 1;
                    }
                    i = j + 1;
                }
                c if c.is_ascii_alphabetic() || c == b':' || c >= 0x80 => {
                    let start = i;
                    while i < bytes.len()
                        && !matches!(
                            bytes[i],
                            b' ' | b'\t' | b'\r' | b'\n' | b';' | b',' | b'(' | b')' | b'[' | b']' | b'<' | b'"'
                        )
                    {
                        i += 1;
                    }
                    let mut token = &text[start..i];
                    // A final '.' ends the statement.
                    while let Some(t) = token.strip_suffix('.') {
                        token = t;
                    }
                    first.entry(token).or_insert(start);
                }
                _ => i += 1,
            }
        }
        Self {
            doc,
            first,
            line_starts,
        }
    }

    /// 1-based (line, column) of the first occurrence of `iri`, in full or prefixed.
    pub fn locate(&self, iri: &str) -> Option<(u64, u64)> {
        let mut best = self.first.get(format!("<{iri}>").as_str()).copied();
        for (prefix, ns) in &self.doc.prefixes {
            if let Some(local) = iri.strip_prefix(ns.as_str()) {
                if let Some(&pos) = self.first.get(format!("{prefix}:{local}").as_str()) {
                    best = Some(best.map_or(pos, |b| b.min(pos)));
                }
            }
        }
        let offset = best?;
        let line = self.line_starts.partition_point(|&s| s <= offset);
        let start = self.line_starts[line - 1];
        Some((line as u64, self.doc.text[start..offset].chars().count() as u64 + 1))
    }
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
        let l = Locator::new(&d);
        assert_eq!(l.locate("http://e/board1"), Some((3, 1)));
        assert_eq!(l.locate("http://e/board2"), Some((4, 1)));
        assert_eq!(l.locate("http://e/missing"), None);
    }

    #[test]
    fn comments_and_strings_are_not_mentions() {
        let d = doc("@prefix ex: <http://e/> .\n# ex:b in a comment\nex:a ex:p \"ex:b\" .\n<http://e/b> ex:p ex:a.\nex:c ex:p (ex:a) .\n");
        let l = Locator::new(&d);
        assert_eq!(l.locate("http://e/a"), Some((3, 1)));
        assert_eq!(l.locate("http://e/b"), Some((4, 1)));
        assert_eq!(l.locate("http://e/c"), Some((5, 1)));
        assert_eq!(l.locate("http://e/zzz"), None);
    }

    #[test]
    fn a_longer_name_is_not_a_match() {
        let d = doc("@prefix ex: <http://e/> .\nex:ab ex:p 1 .\nex:a ex:p 2 .\n");
        assert_eq!(Locator::new(&d).locate("http://e/a"), Some((3, 1)));
    }
}
