//! A document handed to `seam load`, `POST /update` bodies aside: Turtle, TriG, N-Triples,
//! N-Quads, RDF/XML, or JSON-LD (a WoT Thing Description included), parsed with positions and,
//! for JSON, checked as a TD (the first byte picks the format).
#![no_main]

use oxigraph::io::{JsonLdProfileSet, RdfFormat};

libfuzzer_sys::fuzz_target!(|bytes: &[u8]| {
    let Some((&pick, rest)) = bytes.split_first() else {
        return;
    };
    let Ok(text) = std::str::from_utf8(rest) else {
        return;
    };
    let formats = [
        RdfFormat::Turtle,
        RdfFormat::TriG,
        RdfFormat::NTriples,
        RdfFormat::NQuads,
        RdfFormat::RdfXml,
        RdfFormat::JsonLd {
            profile: JsonLdProfileSet::empty(),
        },
    ];
    let format = formats[usize::from(pick) % formats.len()];
    let _ = seam_registry::ingest::parse_document("fuzz", text.to_owned(), format, Some("https://example.org/"));
    if matches!(format, RdfFormat::JsonLd { .. }) {
        let _ = seam_registry::ingest::td::read_thing("fuzz", text.to_owned());
    }
});
