//! W3C WoT Thing Descriptions as registry objects.
//!
//! A TD is checked against the W3C TD 1.1 JSON Schema (`ontology/wot/`, bundled; no remote
//! reference is ever resolved) before it is read as JSON-LD; it is then one object of the
//! registry: the named graph keyed by its `id`, replaced when the same TD is loaded again (its
//! blank nodes never pile up). An anonymous TD gets a `urn:uuid:` id, written into it before it
//! is read, so that it can be addressed later; a TD that does not say it is a `td:Thing` is
//! typed as one.

use std::sync::OnceLock;

use oxigraph::io::{JsonLdProfileSet, RdfFormat};
use oxigraph::model::vocab::rdf;
use oxigraph::model::{GraphName, NamedNode, Quad};
use serde_json::Value;

use super::{parse_document, Diagnostic, Document, IngestError};
use crate::vocab::TD;

/// The context URLs that make a JSON-LD document a Thing Description.
const TD_CONTEXTS: [&str; 2] = [
    "https://www.w3.org/2019/wot/td/v1",
    "https://www.w3.org/2022/wot/td/v1.1",
];

/// The W3C TD 1.1 JSON Schema, as published (w3c/wot-thing-description, `validation/`).
const TD_SCHEMA: &str = include_str!("../../../ontology/wot/td-json-schema-validation.json");

/// A Thing Description read, checked and ready to store in its own graph.
#[derive(Debug, Clone)]
pub struct Thing {
    /// Its id: the IRI of the Thing and the name of its graph.
    pub id: NamedNode,
    /// Whether SEAM assigned the id (the TD had none).
    pub assigned: bool,
    /// Its triples.
    pub document: Document,
}

/// One way a TD breaks the TD JSON Schema.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct SchemaViolation {
    /// Where, as a JSON pointer into the TD (empty: the whole TD).
    pub path: String,
    /// The JSON Schema keyword that failed (`required`, `type`, `minimum`, …).
    pub constraint: String,
    /// What is wrong.
    pub message: String,
}

/// Whether `value` (a parsed JSON document) is a Thing Description: an object whose
/// `@context` names a TD context, or one with no `@context` that has `securityDefinitions`
/// (a TD that forgot its context: refused by the schema, not read as JSON-LD giving nothing).
pub fn is_thing_description(value: &Value) -> bool {
    let names_td = |v: &Value| {
        v.as_str()
            .is_some_and(|s| TD_CONTEXTS.contains(&s.trim_end_matches('/')))
    };
    match value.get("@context") {
        Some(Value::Array(list)) => list.iter().any(names_td),
        Some(v) => names_td(v),
        None => value.get("securityDefinitions").is_some(),
    }
}

/// JSON that refuses a member name given twice in one object (TDs' names are keys: a second
/// `"status"` property would silently replace the first).
struct NoDuplicateNames;

impl<'de> serde::Deserialize<'de> for NoDuplicateNames {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(NoDuplicateNamesVisitor)
    }
}

struct NoDuplicateNamesVisitor;

impl<'de> serde::de::Visitor<'de> for NoDuplicateNamesVisitor {
    type Value = NoDuplicateNames;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("JSON")
    }

    fn visit_bool<E>(self, _: bool) -> Result<Self::Value, E> {
        Ok(NoDuplicateNames)
    }
    fn visit_i64<E>(self, _: i64) -> Result<Self::Value, E> {
        Ok(NoDuplicateNames)
    }
    fn visit_u64<E>(self, _: u64) -> Result<Self::Value, E> {
        Ok(NoDuplicateNames)
    }
    fn visit_f64<E>(self, _: f64) -> Result<Self::Value, E> {
        Ok(NoDuplicateNames)
    }
    fn visit_str<E>(self, _: &str) -> Result<Self::Value, E> {
        Ok(NoDuplicateNames)
    }
    fn visit_unit<E>(self) -> Result<Self::Value, E> {
        Ok(NoDuplicateNames)
    }
    fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        while seq.next_element::<NoDuplicateNames>()?.is_some() {}
        Ok(NoDuplicateNames)
    }
    fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut seen = std::collections::HashSet::new();
        while let Some(name) = map.next_key::<String>()? {
            if !seen.insert(name.clone()) {
                return Err(serde::de::Error::custom(format!(
                    "the member name {name:?} is given twice in one object"
                )));
            }
            map.next_value::<NoDuplicateNames>()?;
        }
        Ok(NoDuplicateNames)
    }
}

/// The TD assertions the JSON Schema cannot state, checked on `td`: every security scheme named
/// (by the Thing or by a form) is defined in `securityDefinitions`; at most one link has
/// `"rel": "type"` (a TD comes from one Thing Model).
fn assertion_violations(td: &Value) -> Vec<SchemaViolation> {
    let mut found = Vec::new();
    let defined: std::collections::HashSet<&str> = td
        .get("securityDefinitions")
        .and_then(Value::as_object)
        .map(|m| m.keys().map(String::as_str).collect())
        .unwrap_or_default();
    let mut check = |security: &Value, path: String| {
        let names: Vec<&str> = match security {
            Value::String(s) => vec![s.as_str()],
            Value::Array(list) => list.iter().filter_map(Value::as_str).collect(),
            _ => Vec::new(),
        };
        for name in names {
            if !defined.contains(name) {
                found.push(SchemaViolation {
                    path: path.clone(),
                    constraint: "td-security-definitions".into(),
                    message: format!("the security scheme {name:?} is not defined in securityDefinitions"),
                });
            }
        }
    };
    if let Some(security) = td.get("security") {
        check(security, "/security".into());
    }
    let mut forms: Vec<(String, &Value)> = Vec::new();
    if let Some(list) = td.get("forms").and_then(Value::as_array) {
        forms.extend(list.iter().enumerate().map(|(i, f)| (format!("/forms/{i}"), f)));
    }
    for kind in ["properties", "actions", "events"] {
        for (name, affordance) in td.get(kind).and_then(Value::as_object).into_iter().flatten() {
            for (i, f) in affordance
                .get("forms")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .enumerate()
            {
                forms.push((
                    format!("/{kind}/{}/forms/{i}", name.replace('~', "~0").replace('/', "~1")),
                    f,
                ));
            }
        }
    }
    for (path, form) in forms {
        if let Some(security) = form.get("security") {
            check(security, format!("{path}/security"));
        }
    }
    let types = td.get("links").and_then(Value::as_array).map_or(0, |links| {
        links
            .iter()
            .filter(|l| l.get("rel").and_then(Value::as_str) == Some("type"))
            .count()
    });
    if types > 1 {
        found.push(SchemaViolation {
            path: "/links".into(),
            constraint: "td-links-rel-type".into(),
            message: format!("{types} links have \"rel\": \"type\"; a TD names at most one Thing Model it comes from"),
        });
    }
    found
}

fn validator() -> Result<&'static jsonschema::Validator, String> {
    static VALIDATOR: OnceLock<Result<jsonschema::Validator, String>> = OnceLock::new();
    VALIDATOR
        .get_or_init(|| {
            let schema: Value = serde_json::from_str(TD_SCHEMA).map_err(|e| e.to_string())?;
            jsonschema::options()
                .should_validate_formats(false)
                .build(&schema)
                .map_err(|e| e.to_string())
        })
        .as_ref()
        .map_err(Clone::clone)
}

/// The ways `td` breaks the TD JSON Schema (none: it conforms).
pub fn schema_violations(td: &Value) -> Result<Vec<SchemaViolation>, IngestError> {
    let validator = validator().map_err(|e| IngestError::Bundled(format!("the TD JSON Schema: {e}")))?;
    let mut found: Vec<SchemaViolation> = validator
        .iter_errors(td)
        .map(|e| SchemaViolation {
            path: e.instance_path().to_string(),
            constraint: e.kind().keyword().to_owned(),
            message: e.to_string(),
        })
        .collect();
    found.sort_by(|a, b| a.path.cmp(&b.path).then_with(|| a.constraint.cmp(&b.constraint)));
    found.dedup();
    Ok(found)
}

/// `text` (the file `name`) as JSON, or its syntax error at its line and column.
pub fn parse_json(name: &str, text: &str) -> Result<Value, IngestError> {
    serde_json::from_str(text).map_err(|e| {
        IngestError::Invalid(vec![Diagnostic {
            file: name.to_owned(),
            line: Some(e.line() as u64),
            column: Some(e.column() as u64),
            message: format!("not JSON: {e}"),
        }])
    })
}

/// Refuses JSON text (the file `name`) that gives a member name twice in one object, at the
/// second one's position.
pub fn no_duplicate_names(name: &str, text: &str) -> Result<(), IngestError> {
    serde_json::from_str::<NoDuplicateNames>(text).map(|_| ()).map_err(|e| {
        IngestError::Invalid(vec![Diagnostic {
            file: name.to_owned(),
            line: Some(e.line() as u64),
            column: Some(e.column() as u64),
            message: e.to_string().split(" at line ").next().unwrap_or_default().to_owned(),
        }])
    })
}

/// Every way `td` breaks the TD JSON Schema or the assertions it cannot state (none: valid).
pub fn violations(td: &Value) -> Result<Vec<SchemaViolation>, IngestError> {
    let mut found = schema_violations(td)?;
    found.extend(assertion_violations(td));
    Ok(found)
}

/// Where the member a JSON pointer ends at is written in `text` (1-based line and column): each
/// key of the pointer looked for after the previous one, array indices skipped (the last key
/// found stands for them). Good enough to point a person at the place; not a JSON parser.
fn locate_pointer(text: &str, pointer: &str) -> (Option<u64>, Option<u64>) {
    let mut at = None;
    let mut from = 0;
    for key in pointer.split('/').skip(1) {
        let key = key.replace("~1", "/").replace("~0", "~");
        if key.is_empty() || key.parse::<usize>().is_ok() {
            continue;
        }
        if let Some(found) = text[from..].find(&format!("\"{key}\"")) {
            at = Some(from + found);
            from += found + key.len() + 2;
        }
    }
    let (line, column) = at.map_or((1, 1), |at| super::locate::position(text, at));
    (Some(line), Some(column))
}

/// Reads the file at `path` as a Thing Description when it is one (a `.jsonld` or `.json` file
/// whose `@context` names a TD context); `None` for any other file. A `.jsonld` or `.json` file
/// that is not JSON is refused here, at its position.
pub fn read_file_if_thing(path: &std::path::Path) -> Result<Option<Thing>, IngestError> {
    let json = path
        .extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| e.eq_ignore_ascii_case("jsonld") || e.eq_ignore_ascii_case("json"));
    if !json {
        return Ok(None);
    }
    let name = path.display().to_string();
    let text = std::fs::read_to_string(path).map_err(|source| IngestError::Io {
        path: path.to_owned(),
        source,
    })?;
    let value = parse_json(&name, &text)?;
    if !is_thing_description(&value) {
        return Ok(None);
    }
    read_thing(&name, text).map(Some)
}

/// Reads `text` (the file `name`) as a Thing Description: JSON, the TD JSON Schema, JSON-LD,
/// then the registry object (id, graph, `td:Thing`).
pub fn read_thing(name: &str, text: String) -> Result<Thing, IngestError> {
    let value = parse_json(name, &text)?;
    no_duplicate_names(name, &text)?;
    let violations = violations(&value)?;
    if !violations.is_empty() {
        return Err(IngestError::Invalid(
            violations
                .iter()
                .map(|v| {
                    let (line, column) = locate_pointer(&text, &v.path);
                    Diagnostic {
                        file: name.to_owned(),
                        line,
                        column,
                        message: format!(
                            "TD: {} ({} at {})",
                            v.message,
                            v.constraint,
                            if v.path.is_empty() { "/" } else { &v.path }
                        ),
                    }
                })
                .collect(),
        ));
    }
    let (id, assigned, text) = match value.get("id") {
        Some(Value::String(id)) => {
            let iri = NamedNode::new(id.as_str()).map_err(|e| {
                let (line, column) = locate_pointer(&text, "/id");
                IngestError::Invalid(vec![Diagnostic {
                    file: name.to_owned(),
                    line,
                    column,
                    message: format!("the TD's id {id:?} is not an absolute IRI ({e}): a registry object needs one"),
                }])
            })?;
            (iri, false, text)
        }
        _ => {
            // Written just inside the opening brace: every line keeps its number, so that a
            // later diagnostic still points at the file as it was given.
            let iri = NamedNode::new_unchecked(format!("urn:uuid:{}", uuid::Uuid::new_v4()));
            let brace = text.find('{').unwrap_or(0);
            let mut with_id = String::with_capacity(text.len() + 60);
            with_id.push_str(&text[..=brace.min(text.len().saturating_sub(1))]);
            with_id.push_str(&format!("\"id\":{},", Value::String(iri.as_str().to_owned())));
            with_id.push_str(&text[brace + 1..]);
            (iri, true, with_id)
        }
    };
    let mut document = parse_document(
        name,
        text,
        RdfFormat::JsonLd {
            profile: JsonLdProfileSet::empty(),
        },
        None,
    )?;
    let thing = NamedNode::new_unchecked(format!("{TD}Thing"));
    let typed = document.quads.iter().any(|q| {
        q.subject.to_string() == id.to_string() && q.predicate == rdf::TYPE && q.object == thing.clone().into()
    });
    if !typed {
        document
            .quads
            .push(Quad::new(id.clone(), rdf::TYPE, thing, GraphName::DefaultGraph));
    }
    Ok(Thing { id, assigned, document })
}

#[cfg(test)]
mod tests {
    use super::*;

    const LAMP: &str = r#"{
  "@context": "https://www.w3.org/2022/wot/td/v1.1",
  "id": "urn:example:lamp",
  "title": "Lamp",
  "securityDefinitions": {"nosec_sc": {"scheme": "nosec"}},
  "security": "nosec_sc",
  "properties": {"on": {"type": "boolean", "forms": [{"href": "https://lamp.example.com/on"}]}}
}"#;

    #[test]
    fn a_td_is_a_thing_in_a_graph_named_by_its_id() {
        let thing = read_thing("lamp.jsonld", LAMP.into()).unwrap();
        assert_eq!(thing.id.as_str(), "urn:example:lamp");
        assert!(!thing.assigned);
        assert!(thing
            .document
            .quads
            .iter()
            .any(|q| q.subject.to_string() == "<urn:example:lamp>"
                && q.predicate == rdf::TYPE
                && q.object.to_string() == "<https://www.w3.org/2019/wot/td#Thing>"));
    }

    #[test]
    fn an_anonymous_td_gets_a_uuid_and_keeps_its_line_numbers() {
        let anonymous = LAMP.replace("  \"id\": \"urn:example:lamp\",\n", "");
        let thing = read_thing("anon.jsonld", anonymous).unwrap();
        assert!(thing.assigned);
        assert!(thing.id.as_str().starts_with("urn:uuid:"), "{}", thing.id);
        assert!(thing
            .document
            .quads
            .iter()
            .any(|q| q.subject.to_string() == thing.id.to_string()));
        assert_eq!(thing.document.text.lines().count(), LAMP.lines().count() - 1);
    }

    #[test]
    fn a_td_that_breaks_the_schema_is_refused_with_where_and_which_constraint() {
        // No title, no security, and a minimum that is not a number.
        let bad = r#"{
  "@context": "https://www.w3.org/2022/wot/td/v1.1",
  "id": "urn:example:bad",
  "securityDefinitions": {"nosec_sc": {"scheme": "nosec"}},
  "properties": {"level": {"type": "integer", "minimum": "ten", "forms": [{"href": "https://x.example/level"}]}}
}"#;
        let err = read_thing("bad.jsonld", bad.into()).unwrap_err();
        let IngestError::Invalid(diagnostics) = err else {
            panic!("{err}")
        };
        let text: Vec<String> = diagnostics.iter().map(ToString::to_string).collect();
        let text = text.join("\n");
        assert_eq!(diagnostics.len(), 3, "{text}");
        assert!(
            text.contains("\"title\" is a required property (required at /)"),
            "{text}"
        );
        assert!(text.contains("\"security\" is a required property"), "{text}");
        assert!(text.contains("(type at /properties/level/minimum)"), "{text}");
        let minimum = diagnostics
            .iter()
            .find(|d| d.message.contains("/properties/level/minimum"))
            .unwrap();
        assert_eq!(minimum.line, Some(5), "{minimum}");
    }

    #[test]
    fn not_json_is_refused_at_its_position() {
        let err = read_thing("broken.jsonld", "{\n  \"title\": \"x\",\n  oops\n}".into()).unwrap_err();
        let IngestError::Invalid(diagnostics) = err else {
            panic!("{err}")
        };
        assert_eq!(diagnostics[0].line, Some(3));
    }

    #[test]
    fn an_id_that_is_not_an_iri_is_refused() {
        let err = read_thing("rel.jsonld", LAMP.replace("urn:example:lamp", "lamp 1")).unwrap_err();
        assert!(err.to_string().contains("not an absolute IRI"), "{err}");
    }
}
