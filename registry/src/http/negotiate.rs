//! Content negotiation for SPARQL results: the `Accept` header, weighed by `q`.

use crate::answer::{GraphFormat, ResultsFormat};

/// Media types in `accept`, most preferred first (stable for equal weights); `q=0` dropped.
fn ranked(accept: &str) -> Vec<String> {
    let mut items: Vec<(f32, usize, String)> = accept
        .split(',')
        .enumerate()
        .filter_map(|(i, item)| {
            let mut parts = item.split(';');
            let media = parts.next()?.trim().to_ascii_lowercase();
            if media.is_empty() {
                return None;
            }
            let q = parts
                .filter_map(|p| p.trim().strip_prefix("q=").and_then(|v| v.trim().parse::<f32>().ok()))
                .next()
                .unwrap_or(1.0);
            (q > 0.0).then_some((q, i, media))
        })
        .collect();
    items.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)));
    items.into_iter().map(|(_, _, m)| m).collect()
}

/// The results format for SELECT/ASK; JSON when the client accepts anything. `None`: nothing
/// acceptable (406).
pub fn results_format(accept: Option<&str>) -> Option<ResultsFormat> {
    results_media(accept).map(|(format, _)| format)
}

/// The results format for SELECT/ASK and the media type to label it with: the format's own,
/// but `application/json` for JSON results asked for by that name (WoT Discovery's search
/// answers `application/json`, and clients that follow its directory model check the label).
pub fn results_media(accept: Option<&str>) -> Option<(ResultsFormat, &'static str)> {
    let Some(accept) = accept.filter(|a| !a.trim().is_empty()) else {
        return Some((ResultsFormat::Json, ResultsFormat::Json.media_type()));
    };
    ranked(accept).iter().find_map(|m| {
        let format = match m.as_str() {
            "application/json" => return Some((ResultsFormat::Json, "application/json")),
            "application/sparql-results+json" | "*/*" | "application/*" => ResultsFormat::Json,
            "application/sparql-results+xml" | "application/xml" | "text/xml" => ResultsFormat::Xml,
            "text/csv" => ResultsFormat::Csv,
            "text/tab-separated-values" => ResultsFormat::Tsv,
            "text/*" => ResultsFormat::Tsv,
            _ => return None,
        };
        Some((format, format.media_type()))
    })
}

/// The RDF format for CONSTRUCT/DESCRIBE; Turtle when the client accepts anything.
pub fn graph_format(accept: Option<&str>) -> Option<GraphFormat> {
    let Some(accept) = accept.filter(|a| !a.trim().is_empty()) else {
        return Some(GraphFormat::Turtle);
    };
    ranked(accept).iter().find_map(|m| match m.as_str() {
        "text/turtle" | "*/*" | "text/*" | "application/x-turtle" => Some(GraphFormat::Turtle),
        "application/n-triples" | "text/plain" => Some(GraphFormat::NTriples),
        "application/ld+json" | "application/json" => Some(GraphFormat::JsonLd),
        "application/rdf+xml" | "application/xml" => Some(GraphFormat::RdfXml),
        _ => None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn weights_and_order_decide() {
        assert_eq!(results_format(None), Some(ResultsFormat::Json));
        assert_eq!(
            results_format(Some("text/csv;q=0.5, application/sparql-results+xml")),
            Some(ResultsFormat::Xml)
        );
        assert_eq!(
            results_format(Some("text/tab-separated-values")),
            Some(ResultsFormat::Tsv)
        );
        assert_eq!(results_format(Some("image/png")), None);
        assert_eq!(
            results_format(Some("text/csv;q=0, */*;q=0.1")),
            Some(ResultsFormat::Json)
        );
        assert_eq!(graph_format(Some("application/n-triples")), Some(GraphFormat::NTriples));
        assert_eq!(
            graph_format(Some("application/ld+json;q=0.9,text/turtle")),
            Some(GraphFormat::Turtle)
        );
    }
}
