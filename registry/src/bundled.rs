//! The ontology, SHACL shapes and example catalog, compiled into the binary (see `build.rs`).
//!
//! `ONTOLOGY` holds `ontology/*.ttl` (including `shapes.ttl`), `CATALOG` holds
//! `examples/catalog/*.ttl`, `QUERIES` the named queries `queries/*.rq`, each as
//! `(file name, text)`.

include!(concat!(env!("OUT_DIR"), "/bundled.rs"));

/// The SHACL shapes `seam load` enforces (`ontology/shapes.ttl`).
pub fn shapes() -> &'static str {
    ONTOLOGY
        .iter()
        .find(|(name, _)| *name == "shapes.ttl")
        .map(|(_, text)| *text)
        .unwrap_or("")
}
