//! The IRIs SEAM mints, each written once: artifacts, models, compilations, keys, deployments,
//! devices. Content-addressed resources are named by their SHA-256 (lowercase hex).

use oxigraph::model::NamedNode;
use percent_encoding::{utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};

/// Everything but RFC 3986's unreserved characters (`A-Z a-z 0-9 - . _ ~`) is encoded.
const SEGMENT: &AsciiSet = &NON_ALPHANUMERIC.remove(b'-').remove(b'.').remove(b'_').remove(b'~');

/// `text` as one IRI path segment: unreserved characters as they are, every other byte
/// percent-encoded (an LwM2M endpoint name is whatever the device chose; `urn:imei:…` is common).
pub fn encode_segment(text: &str) -> String {
    utf8_percent_encode(text, SEGMENT).to_string()
}

const BASE: &str = "https://w3id.org/seam/";

fn minted(kind: &str, id: &str) -> NamedNode {
    // The ids are lowercase hex digests or already-encoded segments: always a valid IRI.
    NamedNode::new_unchecked(format!("{BASE}{kind}/{id}"))
}

/// The artifact (a package or compiled file) with digest `sha256`.
pub fn artifact(sha256: &str) -> NamedNode {
    minted("artifact", sha256)
}

/// The model whose file has digest `sha256`.
pub fn model(sha256: &str) -> NamedNode {
    minted("model", sha256)
}

/// The compilation that produced the package with digest `sha256`.
pub fn compilation(sha256: &str) -> NamedNode {
    minted("compilation", sha256)
}

/// The signing key with this public key (hex).
pub fn signing_key(public_key_hex: &str) -> NamedNode {
    minted("key", public_key_hex)
}

/// The compiler backend (a `prov:SoftwareAgent`) of this name.
pub fn backend(name: &str) -> NamedNode {
    minted("backend", &encode_segment(name))
}

/// The deployment with this id, made of IRI-safe parts (see `live`).
pub fn deployment(id: &str) -> NamedNode {
    minted("deployment", id)
}

/// Whether `iri` is a deployment's (see [`deployment`]).
pub fn is_deployment(iri: &str) -> bool {
    iri.strip_prefix(BASE)
        .is_some_and(|rest| rest.starts_with("deployment/"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn segments_keep_unreserved_characters_and_encode_the_rest() {
        assert_eq!(encode_segment("node-1.a_b~"), "node-1.a_b~");
        assert_eq!(encode_segment("urn:imei:49 01"), "urn%3Aimei%3A49%2001");
        assert_eq!(encode_segment("é/#?"), "%C3%A9%2F%23%3F");
    }

    #[test]
    fn minted_iris_are_stable() {
        assert_eq!(artifact("ab").as_str(), "https://w3id.org/seam/artifact/ab");
        assert_eq!(model("cd").as_str(), "https://w3id.org/seam/model/cd");
    }
}
