//! Import of SeLoC-ML's published knowledge graph (`description/` and `schema/` of its
//! repository), repairing its known defects and deriving SEAM's canonical facts.
//!
//! Repairs, each reported with its place:
//! - `sosa_extend::Magnetometer` (a double colon, which parses as a wrong IRI) → `sosa_extend:Magnetometer`;
//! - `https://schema.org/` → `http://schema.org/`, the IRI the WoT TD context uses;
//! - relative IRIs: placeholders such as `<None>` and `<N.A.>` → the triple is dropped; a host name
//!   that lost its scheme (`<download.tensorflow.org/...>`) → `http://` restored;
//! - TD 1.0-era `td:` terms → their TD 1.1 IRIs (`td:href` → `hctl:hasTarget`, `td:op` →
//!   `hctl:hasOperationType` with `td:readProperty`-style IRIs, `td:minimum` → `jsonschema:minimum`, ...).
//!
//! Then `ontology/mappings/seloc-ml.rq` derives bytes and MAC counts from SeLoC's kilobyte
//! patterns; SeLoC's own triples are kept beside the derived ones.

use std::path::Path;

use oxigraph::io::RdfFormat;
use oxigraph::model::{Literal, NamedNode, Quad, Term};

use super::{parse_document, Document};
use crate::answer::QueryAnswer;
use crate::error::{Diagnostic, IngestError};
use crate::graph::{LoadReport, Registry};
use crate::store::{Commit, EmbeddedStore, Evaluation, GraphStore};
use crate::vocab::{HCTL, SCHEMA, TD, XSD};

/// The named graph SeLoC-ML's import lives in (replaced on re-import).
pub const GRAPH: &str = "https://w3id.org/seam/graph/seloc-ml";

/// The mapping query, as shipped in `ontology/mappings/seloc-ml.rq`.
pub const MAPPING_QUERY: &str = include_str!("../../../ontology/mappings/seloc-ml.rq");

const JSONSCHEMA: &str = "https://www.w3.org/2019/wot/json-schema#";
const NONE_SENTINEL: &str = "urn:seam:seloc-ml:unknown-dataset";

/// One repair the importer made.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Repair {
    /// The file repaired.
    pub file: String,
    /// 1-based line, for text repairs.
    pub line: Option<u64>,
    /// What was changed.
    pub description: String,
}

impl std::fmt::Display for Repair {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.line {
            Some(l) => write!(f, "{}:{l}: {}", self.file, self.description),
            None => write!(f, "{}: {}", self.file, self.description),
        }
    }
}

/// The repaired SeLoC-ML graph, the derived SEAM facts, and the list of repairs.
#[derive(Debug, Clone)]
pub struct SelocImport {
    /// Repaired SeLoC documents, then one document of derived facts.
    pub documents: Vec<Document>,
    /// Every repair, in file order.
    pub repairs: Vec<Repair>,
}

impl SelocImport {
    /// Replaces what an earlier import left in the named graph [`GRAPH`] with this one,
    /// validated, in one step; a new store gets the ontology and catalog in that same step.
    /// Returns the load and whether the store was seeded.
    pub fn load_into(&self, registry: &Registry) -> Result<(LoadReport, bool), IngestError> {
        registry.replace_graph_seeding(&NamedNode::new_unchecked(GRAPH), &self.documents)
    }
}

/// Reads `dir/description/*.ttl` and `dir/schema/*.ttl` of a SeLoC-ML checkout.
pub fn import(dir: &Path) -> Result<SelocImport, IngestError> {
    let mut files = Vec::new();
    for sub in ["schema", "description"] {
        let folder = dir.join(sub);
        let entries = std::fs::read_dir(&folder).map_err(|source| IngestError::Io {
            path: folder.clone(),
            source,
        })?;
        let mut found: Vec<_> = entries
            .filter_map(Result::ok)
            .map(|e| e.path())
            .filter(|p| p.extension().is_some_and(|e| e == "ttl"))
            .collect();
        found.sort();
        files.extend(found);
    }
    if files.is_empty() {
        return Err(IngestError::Invalid(vec![Diagnostic {
            file: dir.display().to_string(),
            line: None,
            column: None,
            message: "no SeLoC-ML Turtle files under description/ or schema/".into(),
        }]));
    }
    let mut repairs = Vec::new();
    let mut documents = Vec::new();
    for path in files {
        let name = path.display().to_string();
        let text = std::fs::read_to_string(&path).map_err(|source| IngestError::Io {
            path: path.clone(),
            source,
        })?;
        let text = repair_text(&name, &text, &mut repairs);
        let mut doc = parse_document(&name, text, RdfFormat::Turtle, None)?;
        repair_quads(&mut doc, &mut repairs);
        documents.push(doc);
    }
    // One scratch store serves both queries: the model query sees the derived facts too.
    let scratch = EmbeddedStore::in_memory()?;
    let parts: Vec<&[Quad]> = documents.iter().map(|d| d.quads.as_slice()).collect();
    scratch.commit(Commit::Load { parts: &parts })?;
    let derived = derive(&scratch)?;
    scratch.commit(Commit::Load {
        parts: &[derived.quads.as_slice()],
    })?;
    documents.push(derived);
    let (measured, notes) = measure_models(&dir.join("models"), &scratch)?;
    repairs.extend(notes);
    documents.push(measured);
    Ok(SelocImport { documents, repairs })
}

fn repair_text(file: &str, text: &str, repairs: &mut Vec<Repair>) -> String {
    let mut out = String::with_capacity(text.len());
    for (i, line) in text.split_inclusive('\n').enumerate() {
        let mut line = line.to_owned();
        let mut note = |description: &str| {
            repairs.push(Repair {
                file: file.to_owned(),
                line: Some(i as u64 + 1),
                description: description.to_owned(),
            })
        };
        if line.contains("sosa_extend::") {
            line = line.replace("sosa_extend::", "sosa_extend:");
            note("`sosa_extend::` (double colon) read as `sosa_extend:`");
        }
        if line.contains("<https://schema.org/>") {
            line = line.replace("<https://schema.org/>", "<http://schema.org/>");
            note("schema.org namespace https://schema.org/ replaced by http://schema.org/ (as in the WoT TD context)");
        }
        let (repaired, notes) = repair_relative_iris(&line);
        if !notes.is_empty() {
            line = repaired;
            for n in notes {
                note(&n);
            }
        }
        out.push_str(&line);
    }
    out
}

/// Rewrites the relative IRI references of one line: placeholders for "unknown" (`<None>`,
/// `<N.A.>`) become a sentinel whose triples are dropped after parsing; a reference that starts
/// with a host name (`<download.tensorflow.org/...>`) gets the `http://` it lost.
fn repair_relative_iris(line: &str) -> (String, Vec<String>) {
    let mut out = String::with_capacity(line.len());
    let mut notes = Vec::new();
    let mut rest = line;
    while let Some(open) = rest.find('<') {
        out.push_str(&rest[..open]);
        let after = &rest[open + 1..];
        let Some(close) = after.find('>') else {
            out.push_str(&rest[open..]);
            rest = "";
            break;
        };
        let reference = &after[..close];
        let is_iri_token =
            !reference.is_empty() && !reference.contains(|c: char| c.is_whitespace() || "<\"{}|^`\\".contains(c));
        if is_iri_token && !reference.contains(':') {
            let host_like = reference
                .split('/')
                .next()
                .is_some_and(|h| h.contains('.') && h.len() > 3 && !h.ends_with('.'));
            if host_like {
                out.push_str(&format!("<http://{reference}>"));
                notes.push(format!("relative IRI <{reference}> read as <http://{reference}>"));
            } else {
                out.push_str(&format!("<{NONE_SENTINEL}>"));
                notes.push(format!("relative IRI <{reference}> (an unknown value): triple dropped"));
            }
        } else {
            out.push('<');
            out.push_str(reference);
            out.push('>');
        }
        rest = &after[close + 1..];
    }
    out.push_str(rest);
    (out, notes)
}

fn repair_quads(doc: &mut Document, repairs: &mut Vec<Repair>) {
    let sentinel = Term::NamedNode(NamedNode::new_unchecked(NONE_SENTINEL));
    let mut renamed: std::collections::BTreeMap<String, usize> = Default::default();
    let mut quads = Vec::with_capacity(doc.quads.len());
    for mut q in std::mem::take(&mut doc.quads) {
        if q.object == sentinel {
            continue;
        }
        if let Some(local) = q.predicate.as_str().strip_prefix(TD).map(str::to_owned) {
            let local = local.as_str();
            let replacement = match local {
                "href" => Some((format!("{HCTL}hasTarget"), Some(format!("{XSD}anyURI")))),
                "op" => Some((format!("{HCTL}hasOperationType"), None)),
                "contentType" => Some((format!("{HCTL}forContentType"), None)),
                "minimum" | "maximum" | "readOnly" | "writeOnly" => Some((format!("{JSONSCHEMA}{local}"), None)),
                "unit" => Some((format!("{SCHEMA}unitCode"), None)),
                _ => None,
            };
            if let Some((predicate, datatype)) = replacement {
                *renamed
                    .entry(format!("td:{local} → {}", short(&predicate)))
                    .or_default() += 1;
                q.predicate = NamedNode::new_unchecked(predicate);
                if let Term::Literal(l) = &q.object {
                    if local == "op" {
                        if let Some(op) = operation_iri(l.value()) {
                            q.object = op.into();
                        }
                    } else if let Some(dt) = datatype {
                        q.object = Literal::new_typed_literal(l.value(), NamedNode::new_unchecked(dt)).into();
                    }
                }
            }
        }
        quads.push(q);
    }
    doc.quads = quads;
    for (what, n) in renamed {
        repairs.push(Repair {
            file: doc.name.clone(),
            line: None,
            description: format!("{n} × {what} (TD 1.1 IRIs)"),
        });
    }
}

fn short(iri: &str) -> String {
    for (p, ns) in [("hctl", HCTL), ("jsonschema", JSONSCHEMA), ("schema", SCHEMA)] {
        if let Some(l) = iri.strip_prefix(ns) {
            return format!("{p}:{l}");
        }
    }
    iri.to_owned()
}

/// `readproperty` → `td:readProperty`, as the TD 1.1 context maps operation types.
fn operation_iri(op: &str) -> Option<NamedNode> {
    let local = match op.to_ascii_lowercase().as_str() {
        "readproperty" => "readProperty",
        "writeproperty" => "writeProperty",
        "observeproperty" => "observeProperty",
        "unobserveproperty" => "unobserveProperty",
        "invokeaction" => "invokeAction",
        "subscribeevent" => "subscribeEvent",
        "unsubscribeevent" => "unsubscribeEvent",
        "readallproperties" => "readAllProperties",
        "writeallproperties" => "writeAllProperties",
        "readmultipleproperties" => "readMultipleProperties",
        "writemultipleproperties" => "writeMultipleProperties",
        _ => return None,
    };
    Some(NamedNode::new_unchecked(format!("{TD}{local}")))
}

/// Evaluates one of the import's own queries over the scratch store.
fn run(scratch: &EmbeddedStore, query: &str) -> Result<QueryAnswer, IngestError> {
    let parsed = spargebra::SparqlParser::new()
        .parse_query(query)
        .map_err(|e| invalid_mapping(e.to_string()))?;
    scratch
        .query(parsed, &Evaluation::unbounded())
        .map_err(|e| invalid_mapping(e.to_string()))
}

/// Runs the mapping query over the repaired graph and returns the derived facts as a document.
fn derive(scratch: &EmbeddedStore) -> Result<Document, IngestError> {
    let QueryAnswer::Graph(triples) = run(scratch, MAPPING_QUERY)? else {
        return Err(invalid_mapping("the mapping is not a CONSTRUCT query".into()));
    };
    let quads = triples
        .into_iter()
        .map(|t| {
            Quad::new(
                t.subject,
                t.predicate,
                t.object,
                oxigraph::model::GraphName::DefaultGraph,
            )
        })
        .collect();
    Ok(Document {
        name: "ontology/mappings/seloc-ml.rq".into(),
        text: String::new(),
        format: RdfFormat::NTriples,
        prefixes: Vec::new(),
        quads,
    })
}

/// SeLoC's models as models SEAM matches: each `nnet:NeuralNetwork` whose file
/// `models/<schema:name>.tflite` ships with the graph is measured by the compiler bridge, as
/// `seam load` measures a TFLite file (operators by their ONNX names, the flatbuffer as its
/// weights, the greedy arena as its activations), and described on SeLoC's own IRI; its task is
/// SeLoC's category (`nnet:hasCategory`). SeLoC's MAC count stays the model's (the mapping's; the
/// two agree for all 23 files). A model without its file is reported and stays SeLoC's only.
fn measure_models(models: &Path, scratch: &EmbeddedStore) -> Result<(Document, Vec<Repair>), IngestError> {
    let query = "PREFIX nnet: <https://w3id.org/tinyml-schema/neural-network-schema#>
        PREFIX schema: <http://schema.org/>
        SELECT ?m ?name (SAMPLE(?c) AS ?category) WHERE { ?m a nnet:NeuralNetwork ; schema:name ?name
          OPTIONAL { ?m nnet:hasCategory ?c } } GROUP BY ?m ?name ORDER BY ?name";
    let QueryAnswer::Solutions { variables, rows } = run(scratch, query)? else {
        return Err(invalid_mapping("the model query is not a SELECT".into()));
    };
    let column = |name: &str| variables.iter().position(|v| v.as_str() == name);
    let (Some(m_at), Some(name_at), category_at) = (column("m"), column("name"), column("category")) else {
        return Err(invalid_mapping("the model query does not select ?m and ?name".into()));
    };
    let seam_iri = |local: &str| NamedNode::new_unchecked(format!("{}{local}", crate::vocab::SEAM));
    let mut quads = Vec::new();
    let mut notes = Vec::new();
    let mut add = |s: &NamedNode, p: NamedNode, o: Term| {
        quads.push(Quad::new(s.clone(), p, o, oxigraph::model::GraphName::DefaultGraph));
    };
    for row in &rows {
        let cell = |at: usize| row.get(at).and_then(Option::as_ref);
        let (Some(Term::NamedNode(model)), Some(Term::Literal(name))) = (cell(m_at), cell(name_at)) else {
            continue;
        };
        let file = models.join(format!("{}.tflite", name.value()));
        let Ok(bytes) = std::fs::read(&file) else {
            notes.push(Repair {
                file: file.display().to_string(),
                line: None,
                description: format!(
                    "model {} has no file here: it stays SeLoC-ML's description only",
                    name.value()
                ),
            });
            continue;
        };
        let analysis = match seam_compiler_bridge::analysis::analyze_bytes(&bytes, None) {
            Ok(a) => a,
            Err(e) => {
                notes.push(Repair {
                    file: file.display().to_string(),
                    line: None,
                    description: format!(
                        "model {} could not be measured ({e}): it stays SeLoC-ML's description only",
                        name.value()
                    ),
                });
                continue;
            }
        };
        let dtype = match super::onnx::measured_dtype(&analysis) {
            "uint8" => "uint8",
            "int8" => "int8",
            "int16" => "int16",
            _ => "float32",
        };
        let rdf_type = NamedNode::new_unchecked("http://www.w3.org/1999/02/22-rdf-syntax-ns#type");
        add(model, rdf_type, seam_iri("Model").into());
        let task = match category_at.and_then(cell) {
            Some(Term::NamedNode(c)) => c.clone(),
            _ => NamedNode::new_unchecked("https://w3id.org/tinyml-schema/neural-network-schema#Classification"),
        };
        add(model, seam_iri("task"), task.into());
        add(model, seam_iri("dtype"), seam_iri(dtype).into());
        add(model, seam_iri("params"), Literal::from(analysis.params as i64).into());
        add(
            model,
            seam_iri("weightBytes"),
            Literal::from(super::onnx::stored_weight_bytes(&analysis) as i64).into(),
        );
        add(
            model,
            seam_iri("peakActivationBytes"),
            Literal::from(analysis.arena_bytes as i64).into(),
        );
        for op in super::onnx::onnx_operator_names(&analysis) {
            add(
                model,
                seam_iri("requiresOperator"),
                Literal::new_simple_literal(op).into(),
            );
        }
        add(model, seam_iri("method"), seam_iri("Measured").into());
    }
    Ok((
        Document {
            name: models.display().to_string(),
            text: String::new(),
            format: RdfFormat::NTriples,
            prefixes: Vec::new(),
            quads,
        },
        notes,
    ))
}

fn invalid_mapping(message: String) -> IngestError {
    IngestError::Invalid(vec![Diagnostic {
        file: "ontology/mappings/seloc-ml.rq".into(),
        line: None,
        column: None,
        message,
    }])
}
