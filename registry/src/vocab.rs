//! Namespaces and the few IRIs the Rust code names directly.
//!
//! Queries and shapes name everything else; keeping this list short keeps the ontology the one
//! place where the vocabulary is defined.

/// SEAM's ontology namespace.
pub const SEAM: &str = "https://w3id.org/seam/ontology#";
/// Namespace of the example catalog's boards, sensors, runtimes and models.
pub const CATALOG: &str = "https://w3id.org/seam/catalog/";
/// Namespace of devices.
pub const DEVICE: &str = "https://w3id.org/seam/device/";
/// SEAM's SHACL shapes.
pub const SHAPES: &str = "https://w3id.org/seam/shapes#";
/// The TinyML neural-network schema (SeLoC-ML).
pub const NNET: &str = "https://w3id.org/tinyml-schema/neural-network-schema#";
/// S3N.
pub const S3N: &str = "http://w3id.org/s3n/";
/// SOSA.
pub const SOSA: &str = "http://www.w3.org/ns/sosa/";
/// SSN.
pub const SSN: &str = "http://www.w3.org/ns/ssn/";
/// SSN systems.
pub const SSN_SYSTEM: &str = "http://www.w3.org/ns/ssn/systems/";
/// WoT Thing Description.
pub const TD: &str = "https://www.w3.org/2019/wot/td#";
/// WoT hypermedia controls.
pub const HCTL: &str = "https://www.w3.org/2019/wot/hypermedia#";
/// schema.org as the WoT TD context uses it (http, not https).
pub const SCHEMA: &str = "http://schema.org/";
/// PROV-O.
pub const PROV: &str = "http://www.w3.org/ns/prov#";
/// RDF.
pub const RDF: &str = "http://www.w3.org/1999/02/22-rdf-syntax-ns#";
/// RDFS.
pub const RDFS: &str = "http://www.w3.org/2000/01/rdf-schema#";
/// XML Schema datatypes.
pub const XSD: &str = "http://www.w3.org/2001/XMLSchema#";
/// OWL.
pub const OWL: &str = "http://www.w3.org/2002/07/owl#";
/// SHACL.
pub const SH: &str = "http://www.w3.org/ns/shacl#";
/// Units of measure (OM 2), as SeLoC-ML uses them.
pub const OM: &str = "http://www.ontology-of-units-of-measure.org/resource/om-2/";

/// The prefixes SEAM prints and declares by default, in display order.
pub const PREFIXES: &[(&str, &str)] = &[
    ("seam", SEAM),
    ("cat", CATALOG),
    ("dev", DEVICE),
    ("shape", SHAPES),
    ("nnet", NNET),
    ("s3n", S3N),
    ("sosa", SOSA),
    ("ssn", SSN),
    ("ssn-system", SSN_SYSTEM),
    ("td", TD),
    ("hctl", HCTL),
    ("schema", SCHEMA),
    ("prov", PROV),
    ("rdf", RDF),
    ("rdfs", RDFS),
    ("xsd", XSD),
    ("owl", OWL),
    ("om", OM),
];

/// The SPARQL `PREFIX` declarations of [`PREFIXES`], to prepend to a query that uses them.
pub fn sparql_prefixes() -> String {
    PREFIXES.iter().map(|(p, ns)| format!("PREFIX {p}: <{ns}>\n")).collect()
}

/// Expands a prefixed name (`dev:line3-vibration-01`) with SEAM's prefixes; anything else
/// (a full IRI, a short name) is returned unchanged.
pub fn expand(name: &str) -> String {
    if let Some((prefix, local)) = name.split_once(':') {
        if !local.starts_with("//") {
            if let Some((_, ns)) = PREFIXES.iter().find(|(p, _)| *p == prefix) {
                return format!("{ns}{local}");
            }
        }
    }
    name.to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefixed_names_expand_and_others_stay() {
        assert_eq!(expand("dev:line3-vibration-01"), format!("{DEVICE}line3-vibration-01"));
        assert_eq!(expand("https://example.com/x"), "https://example.com/x");
        assert_eq!(expand("line3-vibration-01"), "line3-vibration-01");
        assert_eq!(expand("urn:x:y"), "urn:x:y");
    }
}
