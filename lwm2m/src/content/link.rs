//! CoRE Link Format (RFC 6690) as LwM2M registrations and Discover answers use it:
//! `</>;rt="oma.lwm2m";ct=110,</1/0>,</3/0>;ver=1.1,</3303/0>`.

use coap_lite::link_format::LinkFormatParser;

use super::ResourcePath;
use crate::Lwm2mError;

/// One link: its target and attributes.
#[derive(Debug, Clone, PartialEq)]
pub struct Link {
    /// The target as written (`/3/0`, `/`, `/lwm2m`).
    pub target: String,
    /// The target as an LwM2M path, when it is one (relative to the alternate path).
    pub path: Option<ResourcePath>,
    /// Attributes in order, values unquoted (`rt`, `ct`, `ver`, ...).
    pub attributes: Vec<(String, String)>,
}

impl Link {
    /// The value of attribute `key`.
    pub fn attribute(&self, key: &str) -> Option<&str> {
        self.attributes.iter().find(|(k, _)| k == key).map(|(_, v)| v.as_str())
    }
}

/// Parses a link-format payload. An LwM2M client may announce an alternate root path
/// (`</lwm2m>;rt="oma.lwm2m"`); object links below it are read relative to it.
pub fn parse_links(payload: &[u8]) -> Result<Vec<Link>, Lwm2mError> {
    let text =
        std::str::from_utf8(payload).map_err(|e| Lwm2mError::Malformed(format!("link format is not UTF-8: {e}")))?;
    let mut links = Vec::new();
    let mut root = String::new();
    for item in LinkFormatParser::new(text) {
        let (target, attrs) = item.map_err(|e| Lwm2mError::Malformed(format!("link format: {e:?} in {text:?}")))?;
        let mut attributes = Vec::new();
        for (key, value) in attrs {
            attributes.push((key.to_owned(), unquote(value.into_raw_str())?));
        }
        let is_root = attributes.iter().any(|(k, v)| k == "rt" && v == "oma.lwm2m");
        if is_root && target != "/" {
            root = target.trim_end_matches('/').to_owned();
        }
        let relative = target.strip_prefix(root.as_str()).unwrap_or(target);
        links.push(Link {
            target: target.to_owned(),
            path: if is_root { None } else { ResourcePath::parse(relative) },
            attributes,
        });
    }
    Ok(links)
}

/// An attribute value without its quotes and escapes (RFC 6690 §2: a quoted-string). Done
/// here, not by coap-lite's `to_cow`, which panics on a value that is a lone `"` (found by
/// fuzzing the registration payload).
fn unquote(raw: &str) -> Result<String, Lwm2mError> {
    let Some(inner) = raw.strip_prefix('"') else {
        return Ok(raw.to_owned());
    };
    let inner = inner
        .strip_suffix('"')
        .ok_or_else(|| Lwm2mError::Malformed(format!("link format: an unterminated quoted value {raw:?}")))?;
    let mut out = String::with_capacity(inner.len());
    let mut chars = inner.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => out.extend(chars.next()),
            c => out.push(c),
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_registration_payloads() {
        let links = parse_links(br#"</>;rt="oma.lwm2m";ct=11543,</1/0>,</3/0>;ver=1.1,</3303/0>,</3313/0>"#).unwrap();
        assert_eq!(links.len(), 5);
        assert_eq!(links[0].attribute("rt"), Some("oma.lwm2m"));
        assert_eq!(links[0].attribute("ct"), Some("11543"));
        assert_eq!(links[0].path, None);
        assert_eq!(links[2].path, Some(ResourcePath::instance(3, 0)));
        assert_eq!(links[2].attribute("ver"), Some("1.1"));
        assert_eq!(links[4].path, Some(ResourcePath::instance(3313, 0)));
    }

    #[test]
    fn alternate_root_paths_are_stripped() {
        let links = parse_links(br#"</lwm2m>;rt="oma.lwm2m",</lwm2m/3/0>,</lwm2m/9>"#).unwrap();
        assert_eq!(links[1].path, Some(ResourcePath::instance(3, 0)));
        assert_eq!(links[2].path, Some(ResourcePath::object(9)));
    }

    #[test]
    fn lone_quotes_are_errors_not_panics() {
        // Found by the lwm2m_payload fuzz target.
        assert!(parse_links(b"</3/>;ver=\"").is_err());
        assert!(parse_links(b"</3/0>;ver=\"1.1").is_err());
        let links = parse_links(br#"</3/0>;ver="1.\1",</4/0>;rt="a\"b""#).unwrap();
        assert_eq!(links[0].attribute("ver"), Some("1.1"));
        assert_eq!(links[1].attribute("rt"), Some("a\"b"));
    }

    #[test]
    fn garbage_is_an_error() {
        assert!(parse_links(b"hello").is_err());
        assert!(parse_links(&[0xff, 0x00]).is_err());
        assert!(parse_links(b"").unwrap().is_empty());
    }
}
