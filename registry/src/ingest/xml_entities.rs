//! A bound on XML entity expansion, checked before an RDF/XML document is parsed.
//!
//! The RDF/XML parser expands `<!ENTITY name "value">` declarations of the internal DTD subset,
//! including references to earlier entities, and every `&name;` in the document: a few hundred
//! bytes can declare a gigabyte ("billion laughs"). This module computes, without expanding
//! anything, how large each entity and the whole document would become, and refuses the document
//! when either passes a limit. The declarations are read the way the parser reads them.

use std::collections::HashMap;

use crate::error::Diagnostic;

/// Largest expansion of one entity, in bytes.
pub const MAX_ENTITY_BYTES: u64 = 64 * 1024;
/// Largest total of all entity references' expansions in one document, in bytes.
pub const MAX_EXPANDED_BYTES: u64 = 8 * 1024 * 1024;

/// Checks the entity declarations and references of an RDF/XML text.
pub fn check(name: &str, text: &str) -> Result<(), Diagnostic> {
    let Some(doctype) = text.find("<!DOCTYPE") else {
        return Ok(()); // No DTD, no custom entities: predefined ones expand to one character.
    };
    let subset_start = match text[doctype..].find('[') {
        Some(i) => doctype + i + 1,
        None => return Ok(()),
    };
    let subset_end = text[subset_start..].find("]>").map_or(text.len(), |i| subset_start + i);
    let subset = &text[subset_start..subset_end];
    let mut sizes: HashMap<&str, u64> = HashMap::new();
    let mut rest = subset;
    let mut offset = subset_start;
    while let Some(i) = rest.find("<!ENTITY") {
        let declaration_at = offset + i;
        let after = &rest[i + "<!ENTITY".len()..];
        let after = after.trim_start();
        let Some((entity, after)) = after.split_once(|c: char| c.is_ascii_whitespace()) else {
            break;
        };
        let after = after.trim_start();
        let Some(after) = after.strip_prefix('"') else {
            break;
        };
        let Some((value, _)) = after.split_once('"') else {
            break;
        };
        let size = expanded_size(value, &sizes);
        if size > MAX_ENTITY_BYTES {
            return Err(refusal(
                name,
                text,
                declaration_at,
                format!("entity &{entity}; expands to {size} bytes, more than the limit of {MAX_ENTITY_BYTES}"),
            ));
        }
        sizes.insert(entity, size);
        let consumed = (value.as_ptr() as usize + value.len()) - rest.as_ptr() as usize;
        offset += consumed;
        rest = &rest[consumed..];
    }
    if sizes.is_empty() {
        return Ok(());
    }
    let body = &text[subset_end.min(text.len())..];
    let total = expanded_size(body, &sizes);
    if total > MAX_EXPANDED_BYTES.saturating_add(body.len() as u64) {
        return Err(refusal(
            name,
            text,
            subset_end,
            format!(
                "entity references expand the document to about {total} bytes, more than the limit of \
                 {MAX_EXPANDED_BYTES} bytes of expansions"
            ),
        ));
    }
    Ok(())
}

/// The length of `text` once every known entity reference in it is replaced by its expansion.
fn expanded_size(text: &str, sizes: &HashMap<&str, u64>) -> u64 {
    let mut total = 0u64;
    let mut rest = text;
    while let Some(amp) = rest.find('&') {
        total = total.saturating_add(amp as u64);
        let after = &rest[amp + 1..];
        match after.find(';') {
            Some(end) if end <= 64 => {
                let name = &after[..end];
                total = total.saturating_add(sizes.get(name).copied().unwrap_or(end as u64 + 2));
                rest = &after[end + 1..];
            }
            _ => {
                total = total.saturating_add(1);
                rest = after;
            }
        }
    }
    total.saturating_add(rest.len() as u64)
}

fn refusal(name: &str, text: &str, at: usize, message: String) -> Diagnostic {
    let (line, column) = super::locate::position(text, at);
    Diagnostic {
        file: name.to_owned(),
        line: Some(line),
        column: Some(column),
        message,
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// An RDF/XML document whose entity `l{levels-1}` expands to 10^(levels-1) × "ha",
    /// referenced `refs_in_body` times.
    pub(crate) fn laughs(levels: usize, refs_in_body: usize) -> String {
        let mut dtd = String::from("<!ENTITY l0 \"ha\">\n");
        for i in 1..levels {
            dtd.push_str(&format!("<!ENTITY l{i} \"{}\">\n", format!("&l{};", i - 1).repeat(10)));
        }
        let top = format!("&l{};", levels - 1).repeat(refs_in_body);
        format!(
            "<?xml version=\"1.0\"?>\n<!DOCTYPE rdf:RDF [\n{dtd}]>\n<rdf:RDF xmlns:rdf=\"http://www.w3.org/1999/02/22-rdf-syntax-ns#\" \
             xmlns:ex=\"urn:ex:\"><rdf:Description rdf:about=\"urn:x\"><ex:p>{top}</ex:p></rdf:Description></rdf:RDF>"
        )
    }

    #[test]
    fn billion_laughs_are_refused_at_their_declaration() {
        let err = check("laughs.rdf", &laughs(9, 1)).unwrap_err();
        assert!(err.message.contains("expands to"), "{err}");
        assert!(err.line.is_some_and(|l| l > 2), "{err}");
    }

    #[test]
    fn many_references_to_a_modest_entity_are_refused() {
        let err = check("wide.rdf", &laughs(5, 2000)).unwrap_err();
        assert!(err.message.contains("expand the document"), "{err}");
    }

    #[test]
    fn ordinary_entities_pass() {
        assert!(check("ok.rdf", &laughs(3, 3)).is_ok());
        assert!(check("plain.rdf", "<rdf:RDF>&amp;&lt;</rdf:RDF>").is_ok());
    }
}
