//! Reading RDF: formats by file extension, parsing with precise positions, and the SeLoC-ML
//! importer. Parsing never touches the store; [`crate::Registry::load`] validates and commits.

pub mod locate;
pub mod onnx;
pub mod seloc;
pub mod td;
pub mod thing_model;
pub mod xml_entities;

use std::path::Path;

use oxigraph::io::{JsonLdProfileSet, LoadedDocument, RdfFormat, RdfParser, RdfSyntaxError};
use oxigraph::model::Quad;

use crate::error::{Diagnostic, IngestError};

/// A parsed input: its quads, plus what is needed to point back into its text.
#[derive(Debug, Clone)]
pub struct Document {
    /// File name (or another label) used in diagnostics.
    pub name: String,
    /// The source text, kept to locate diagnostics.
    pub text: String,
    /// The RDF format it was parsed as.
    pub format: RdfFormat,
    /// Prefixes the document declared, to find prefixed names in its text.
    pub prefixes: Vec<(String, String)>,
    /// The parsed quads.
    pub quads: Vec<Quad>,
}

/// The RDF format a file name's extension names, if any.
pub fn format_for_path(path: &Path) -> Option<RdfFormat> {
    let ext = path.extension()?.to_str()?.to_ascii_lowercase();
    Some(match ext.as_str() {
        "ttl" | "turtle" => RdfFormat::Turtle,
        "nt" => RdfFormat::NTriples,
        "nq" => RdfFormat::NQuads,
        "trig" => RdfFormat::TriG,
        "rdf" | "owl" | "xml" => RdfFormat::RdfXml,
        "jsonld" | "json" => RdfFormat::JsonLd {
            profile: JsonLdProfileSet::empty(),
        },
        _ => return None,
    })
}

/// Reads and parses one file, choosing the format by extension.
///
/// The file is parsed as a stream: a file that is not what its name says (a gigabyte of
/// garbage, say) is refused at its first error without being read into memory. Only a file that
/// parses is then read whole, since its text points later diagnostics at their line.
pub fn read_file(path: &Path) -> Result<Document, IngestError> {
    let format = format_for_path(path).ok_or_else(|| IngestError::UnknownFormat { path: path.to_owned() })?;
    let name = path.display().to_string();
    // RDF/XML is not streamed: its entity declarations are bounded on the text before any
    // parser may expand them.
    let streamed = match format {
        RdfFormat::RdfXml => None,
        _ => parse_stream(path, format)?,
    };
    let bytes = std::fs::read(path).map_err(|source| IngestError::Io {
        path: path.to_owned(),
        source,
    })?;
    let text = String::from_utf8(bytes).map_err(|e| {
        IngestError::Invalid(vec![Diagnostic {
            file: name.clone(),
            line: None,
            column: None,
            message: format!(
                "not UTF-8 text (invalid byte at offset {})",
                e.utf8_error().valid_up_to()
            ),
        }])
    })?;
    match streamed {
        Some((quads, prefixes)) => Ok(Document {
            name,
            text,
            format,
            prefixes,
            quads,
        }),
        None => parse_document(&name, text, format, None),
    }
}

/// Quads and prefixes, as a parser reports them.
type Parsed = (Vec<Quad>, Vec<(String, String)>);

/// Parses the file as a stream and reports its first syntax error; `None` when it is not UTF-8
/// (the whole read then says where, as it always has).
fn parse_stream(path: &Path, format: RdfFormat) -> Result<Option<Parsed>, IngestError> {
    let io = |source| IngestError::Io {
        path: path.to_owned(),
        source,
    };
    let file = std::fs::File::open(path).map_err(io)?;
    let mut reader = RdfParser::from_format(format)
        .for_reader(std::io::BufReader::new(file))
        .with_document_loader(load_bundled_context);
    let mut quads = Vec::new();
    for quad in reader.by_ref() {
        match quad {
            Ok(q) => quads.push(q),
            Err(oxigraph::io::RdfParseError::Syntax(e)) => {
                return Err(IngestError::Invalid(vec![parse_diagnostic(
                    &path.display().to_string(),
                    e,
                )]))
            }
            Err(oxigraph::io::RdfParseError::Io(e)) if e.kind() == std::io::ErrorKind::InvalidData => return Ok(None),
            Err(oxigraph::io::RdfParseError::Io(e)) => return Err(io(e)),
        }
    }
    let prefixes = reader.prefixes().map(|(p, ns)| (p.to_owned(), ns.to_owned())).collect();
    Ok(Some((quads, prefixes)))
}

/// Parses `text` as `format`. Relative IRIs are an error unless `base_iri` is given; JSON-LD
/// documents may reference the W3C WoT TD contexts, which are bundled (no network access).
pub fn parse_document(
    name: &str,
    text: String,
    format: RdfFormat,
    base_iri: Option<&str>,
) -> Result<Document, IngestError> {
    let mut parser = RdfParser::from_format(format);
    if let Some(base) = base_iri {
        parser = parser.with_base_iri(base).map_err(|e| {
            IngestError::Invalid(vec![Diagnostic {
                file: name.to_owned(),
                line: None,
                column: None,
                message: format!("invalid base IRI {base}: {e}"),
            }])
        })?;
    }
    if matches!(format, RdfFormat::RdfXml) {
        xml_entities::check(name, &text).map_err(|d| IngestError::Invalid(vec![d]))?;
    }
    let mut quads = Vec::new();
    let mut reader = parser.for_slice(&text).with_document_loader(load_bundled_context);
    for quad in reader.by_ref() {
        match quad {
            Ok(q) => quads.push(q),
            Err(e) => {
                let mut diagnostic = parse_diagnostic(name, e);
                if diagnostic.line.is_none() && matches!(format, RdfFormat::JsonLd { .. }) {
                    (diagnostic.line, diagnostic.column) = locate_json_ld_error(&text, &diagnostic.message);
                }
                return Err(IngestError::Invalid(vec![diagnostic]));
            }
        }
    }
    let prefixes = reader.prefixes().map(|(p, ns)| (p.to_owned(), ns.to_owned())).collect();
    Ok(Document {
        name: name.to_owned(),
        text,
        format,
        prefixes,
        quads,
    })
}

/// Where a JSON-LD error is in `text`, when the parser gave no position (its expansion errors
/// carry none): the first place the text writes, as a JSON string, what the message names: an
/// IRI (a context that is not bundled), a keyword (`@type`), or a quoted value. `None` when the
/// message names nothing the text holds.
fn locate_json_ld_error(text: &str, message: &str) -> (Option<u64>, Option<u64>) {
    let mut candidates: Vec<String> = Vec::new();
    for word in message.split_whitespace() {
        let word = word.trim_matches(|c: char| matches!(c, ',' | ';' | ':' | '.' | '(' | ')' | '\'' | '`'));
        if word.starts_with("http://") || word.starts_with("https://") || word.starts_with('@') {
            candidates.push(word.trim_matches('"').to_owned());
        }
    }
    candidates.extend(message.split('"').skip(1).step_by(2).map(str::to_owned));
    for candidate in candidates.iter().filter(|c| !c.is_empty()) {
        if let Some(at) = text.find(&format!("\"{candidate}\"")) {
            let (line, column) = locate::position(text, at);
            return (Some(line), Some(column));
        }
    }
    (None, None)
}

fn parse_diagnostic(file: &str, error: RdfSyntaxError) -> Diagnostic {
    let start = error.location().map(|l| l.start);
    // The parsers prefix their message with the position; the diagnostic carries it already.
    let text = error.to_string();
    let message = match text.strip_prefix("Parser error") {
        Some(rest) => rest.split_once(": ").map_or(rest, |(_, m)| m).to_owned(),
        None => text,
    };
    Diagnostic {
        file: file.to_owned(),
        line: start.as_ref().map(|p| p.line + 1),
        column: start.as_ref().map(|p| p.column + 1),
        message,
    }
}

/// The JSON-LD contexts SEAM resolves without the network: W3C WoT TD 1.0 and 1.1, WoT
/// Discovery (the context of directories' own TDs and of registration information), and SEAM's
/// own terms for TDs that describe devices.
const BUNDLED_CONTEXTS: &[(&str, &str)] = &[
    (
        "https://www.w3.org/2019/wot/td/v1",
        include_str!("../../../ontology/contexts/td-context-1.0.jsonld"),
    ),
    (
        "https://www.w3.org/2022/wot/td/v1.1",
        include_str!("../../../ontology/contexts/td-context-1.1.jsonld"),
    ),
    (
        "https://www.w3.org/2022/wot/discovery",
        include_str!("../../../ontology/contexts/discovery-core.jsonld"),
    ),
    (
        "https://w3id.org/seam/context/v1",
        include_str!("../../../ontology/contexts/seam-context-v1.jsonld"),
    ),
];

/// Contexts an operator registered (`--context URL=FILE`): for the life of the process, read
/// from local files when registered, never fetched.
fn registered_contexts() -> &'static std::sync::RwLock<Vec<(String, String)>> {
    static REGISTERED: std::sync::OnceLock<std::sync::RwLock<Vec<(String, String)>>> = std::sync::OnceLock::new();
    REGISTERED.get_or_init(Default::default)
}

/// Registers the JSON-LD context at `url` as the contents of the local file `path` (a JSON
/// object with an `@context` member), for every document this process reads afterwards; the
/// bundled W3C contexts cannot be replaced.
pub fn register_context(url: &str, path: &Path) -> Result<(), IngestError> {
    let name = path.display().to_string();
    let invalid = |line: Option<u64>, column: Option<u64>, message: String| {
        IngestError::Invalid(vec![Diagnostic {
            file: name.clone(),
            line,
            column,
            message,
        }])
    };
    let wanted = url.trim_end_matches('/');
    if oxigraph::model::NamedNode::new(wanted).is_err() {
        return Err(invalid(
            None,
            None,
            format!("the context URL {url:?} is not an absolute IRI"),
        ));
    }
    if BUNDLED_CONTEXTS.iter().any(|(u, _)| *u == wanted) {
        return Err(invalid(
            None,
            None,
            format!("{url} is bundled with SEAM and cannot be replaced"),
        ));
    }
    let text = std::fs::read_to_string(path).map_err(|source| IngestError::Io {
        path: path.to_owned(),
        source,
    })?;
    let value: serde_json::Value = serde_json::from_str(&text)
        .map_err(|e| invalid(Some(e.line() as u64), Some(e.column() as u64), format!("not JSON: {e}")))?;
    if value.get("@context").is_none() {
        return Err(invalid(
            Some(1),
            Some(1),
            "a JSON-LD context document has an \"@context\" member".into(),
        ));
    }
    let mut registered = registered_contexts()
        .write()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    registered.retain(|(u, _)| u != wanted);
    registered.push((wanted.to_owned(), text));
    Ok(())
}

fn load_bundled_context(url: &str) -> Result<LoadedDocument, Box<dyn std::error::Error + Send + Sync>> {
    let wanted = url.trim_end_matches('/');
    let document = |u: &str, text: &str| LoadedDocument {
        url: u.to_owned(),
        content: text.as_bytes().to_vec(),
        format: RdfFormat::JsonLd {
            profile: JsonLdProfileSet::empty(),
        },
    };
    if let Some((u, text)) = BUNDLED_CONTEXTS.iter().find(|(u, _)| *u == wanted) {
        return Ok(document(u, text));
    }
    let registered = registered_contexts()
        .read()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    registered
        .iter()
        .find(|(u, _)| u == wanted)
        .map(|(u, text)| document(u, text))
        .ok_or_else(|| {
            format!(
                "JSON-LD context {url} is neither bundled with SEAM nor registered (--context URL=FILE); remote contexts are not fetched"
            )
            .into()
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn syntax_error_names_line_and_column() {
        let text = "@prefix ex: <http://example.com/> .\nex:a ex:b ex:c .\nex:d ex:e \"unterminated .\n";
        let err = parse_document("bad.ttl", text.into(), RdfFormat::Turtle, None).unwrap_err();
        let d = &err.diagnostics()[0];
        assert_eq!(d.file, "bad.ttl");
        assert_eq!(d.line, Some(3), "{d}");
        assert!(d.column.is_some());
    }

    #[test]
    fn relative_iris_are_rejected_without_base() {
        let err = parse_document(
            "rel.ttl",
            "<None> <http://e/p> <http://e/o> .".into(),
            RdfFormat::Turtle,
            None,
        )
        .unwrap_err();
        assert_eq!(err.diagnostics()[0].line, Some(1));
    }

    /// `text` parsed as a `.jsonld` file named `name`.
    fn jsonld(name: &str, text: &str) -> Result<Document, IngestError> {
        parse_document(name, text.into(), format_for_path(Path::new("a.jsonld")).unwrap(), None)
    }

    #[test]
    fn wot_td_json_ld_parses_with_the_bundled_context() {
        let td = r#"{"@context":"https://www.w3.org/2022/wot/td/v1.1","id":"urn:dev:1","title":"Lamp",
            "securityDefinitions":{"nosec_sc":{"scheme":"nosec"}},"security":"nosec_sc",
            "properties":{"on":{"type":"boolean","forms":[{"href":"coap://127.0.0.1/on"}]}}}"#;
        let doc = jsonld("td.jsonld", td).unwrap();
        assert!(doc
            .quads
            .iter()
            .any(|q| q.predicate.as_str() == "https://www.w3.org/2019/wot/hypermedia#hasTarget"));
    }

    /// The members of a nested object schema are named by `jsonschema:propertyName` (the TD
    /// context's index key for them), an affordance by `td:name`; a security definition's name
    /// is an IRI without a base, so it gives no triple (as in jsonld.js, which the interop test
    /// compares on real TDs).
    #[test]
    fn nested_schema_members_are_named_as_the_td_context_says() {
        let td = r#"{"@context":"https://www.w3.org/2022/wot/td/v1.1","id":"urn:example:lamp","title":"Lamp",
            "securityDefinitions":{"nosec_sc":{"scheme":"nosec"}},"security":"nosec_sc",
            "properties":{"status":{"type":"object","forms":[{"href":"https://lamp.example.com/status"}],
              "properties":{"brightness":{"type":"integer","minimum":0},"on":{"type":"boolean"}}}}}"#;
        let doc = jsonld("lamp.jsonld", td).unwrap();
        let named = |predicate: &str| -> Vec<String> {
            let mut names: Vec<String> = doc
                .quads
                .iter()
                .filter(|q| q.predicate.as_str() == predicate)
                .map(|q| q.object.to_string())
                .collect();
            names.sort();
            names
        };
        assert_eq!(named("https://www.w3.org/2019/wot/td#name"), ["\"status\""]);
        assert_eq!(
            named("https://www.w3.org/2019/wot/json-schema#propertyName"),
            ["\"brightness\"", "\"on\""]
        );
        assert!(named("https://www.w3.org/2019/wot/td#hasInstanceConfiguration").is_empty());
    }

    /// A directory's own TD uses the WoT Discovery context, bundled too.
    #[test]
    fn the_discovery_context_is_bundled() {
        let td = r#"{"@context":["https://www.w3.org/2022/wot/td/v1.1","https://www.w3.org/2022/wot/discovery"],
            "@type":"ThingDirectory","id":"urn:example:tdd","title":"TDD",
            "securityDefinitions":{"nosec_sc":{"scheme":"nosec"}},"security":"nosec_sc"}"#;
        let doc = jsonld("tdd.jsonld", td).unwrap();
        assert!(doc
            .quads
            .iter()
            .any(|q| q.object.to_string() == "<https://www.w3.org/2022/wot/discovery-ontology#ThingDirectory>"));
    }

    /// JSON-LD's own errors carry no position from the parser: SEAM finds what they name.
    #[test]
    fn json_ld_errors_name_their_line_and_column() {
        let text = "{\n  \"@context\": [\"https://www.w3.org/2022/wot/td/v1.1\",\n    \"https://example.com/unknown\"],\n  \"id\": \"urn:x\"\n}";
        let err = jsonld("ctx.jsonld", text).unwrap_err();
        let d = &err.diagnostics()[0];
        assert_eq!((d.line, d.column), (Some(3), Some(5)), "{d}");
        let text =
            "{\n  \"@context\": \"https://www.w3.org/2022/wot/td/v1.1\",\n  \"id\": \"urn:x\",\n  \"@type\": 5\n}";
        let err = jsonld("type.jsonld", text).unwrap_err();
        let d = &err.diagnostics()[0];
        assert_eq!((d.line, d.column), (Some(4), Some(3)), "{d}");
    }

    #[test]
    fn unknown_remote_context_is_a_clear_error() {
        let err = parse_document(
            "x.jsonld",
            r#"{"@context":"https://example.com/ctx","@id":"urn:a"}"#.into(),
            format_for_path(Path::new("a.jsonld")).unwrap(),
            None,
        )
        .unwrap_err();
        assert!(err.to_string().contains("neither bundled"), "{err}");
    }

    #[test]
    fn a_file_that_does_not_parse_is_refused_at_its_first_error_with_its_position() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("half.ttl");
        let mut text = String::from("@prefix ex: <urn:ex:> .\nex:a ex:p 1 .\n");
        text.push_str("this is not turtle\n");
        text.push_str(&"ex:a ex:p 2 .\n".repeat(10_000));
        std::fs::write(&path, text).unwrap();
        let err = read_file(&path).unwrap_err();
        let d = &err.diagnostics()[0];
        assert_eq!(d.line, Some(3), "{err}");
        assert!(d.file.ends_with("half.ttl"), "{err}");
    }

    #[test]
    fn an_rdf_xml_entity_bomb_is_refused_before_it_is_expanded() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("bomb.rdf");
        let bomb = xml_entities::tests::laughs(10, 1);
        std::fs::write(&path, bomb).unwrap();
        let err = read_file(&path).unwrap_err();
        assert!(err.to_string().contains("expands to"), "{err}");
    }
}
