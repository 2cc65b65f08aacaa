//! Validation of incoming data against SEAM's SHACL shapes (`ontology/shapes.ttl`).
//!
//! A SHACL Core subset, enough for SEAM's classes: `sh:targetClass` (with subclasses),
//! property shapes on a single predicate path with `sh:minCount`, `sh:maxCount`, `sh:datatype`
//! (checking the lexical form too), `sh:class`, `sh:nodeKind`, `sh:minInclusive` and
//! `sh:maxInclusive`. The focus nodes are the subjects of the incoming data; their values and types
//! are read from the incoming data together with what the store already holds, so that adding a
//! device that points at a board of the catalog validates, and adding a second RAM figure to an
//! existing board does not.

use std::cell::RefCell;
use std::collections::{HashMap, HashSet};

use oxigraph::io::RdfFormat;
use oxigraph::model::vocab::{rdf, rdfs, xsd};
use oxigraph::model::{Graph, NamedNode, NamedNodeRef, NamedOrBlankNode, Term, TermRef};
use oxigraph::store::Store;

use crate::answer::compact;
use crate::error::{Diagnostic, IngestError, StoreError};
use crate::ingest::locate::locate_iri;
use crate::ingest::Document;
use crate::vocab::SH;

/// Node kinds `sh:nodeKind` can require.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum NodeKind {
    Iri,
    Literal,
    BlankNodeOrIri,
}

#[derive(Debug, Clone)]
struct PropertyShape {
    path: NamedNode,
    min_count: Option<usize>,
    max_count: Option<usize>,
    datatype: Option<NamedNode>,
    class: Option<NamedNode>,
    node_kind: Option<NodeKind>,
    min_inclusive: Option<f64>,
    max_inclusive: Option<f64>,
}

#[derive(Debug, Clone)]
struct NodeShape {
    name: String,
    target_class: NamedNode,
    properties: Vec<PropertyShape>,
}

/// The parsed shapes.
#[derive(Debug, Clone, Default)]
pub struct Shapes {
    shapes: Vec<NodeShape>,
}

fn sh(local: &str) -> NamedNode {
    NamedNode::new_unchecked(format!("{SH}{local}"))
}

fn numeric(term: TermRef<'_>) -> Option<f64> {
    match term {
        TermRef::Literal(l) if is_numeric_datatype(l.datatype()) => l.value().parse().ok(),
        _ => None,
    }
}

fn is_numeric_datatype(dt: NamedNodeRef<'_>) -> bool {
    [
        xsd::INTEGER,
        xsd::DECIMAL,
        xsd::DOUBLE,
        xsd::FLOAT,
        xsd::INT,
        xsd::LONG,
        xsd::SHORT,
        xsd::BYTE,
        xsd::NON_NEGATIVE_INTEGER,
        xsd::POSITIVE_INTEGER,
        xsd::UNSIGNED_INT,
        xsd::UNSIGNED_LONG,
    ]
    .contains(&dt)
}

impl Shapes {
    /// Parses shapes from Turtle.
    pub fn parse(turtle: &str) -> Result<Self, IngestError> {
        let doc = crate::ingest::parse_document("shapes.ttl", turtle.to_owned(), RdfFormat::Turtle, None)?;
        let graph: Graph = doc.quads.into_iter().map(oxigraph::model::Triple::from).collect();
        let object =
            |s: &NamedOrBlankNode, p: &NamedNode| graph.object_for_subject_predicate(s, p).map(|t| t.into_owned());
        let count = |s: &NamedOrBlankNode, p: &NamedNode| {
            object(s, p).and_then(|t| match t {
                Term::Literal(l) => l.value().parse::<usize>().ok(),
                _ => None,
            })
        };
        let mut shapes = Vec::new();
        for target in graph.triples_for_predicate(&sh("targetClass")) {
            let Term::NamedNode(target_class) = target.object.into_owned() else {
                continue;
            };
            let node: NamedOrBlankNode = target.subject.into_owned();
            let mut properties = Vec::new();
            for p in graph.objects_for_subject_predicate(&node, &sh("property")) {
                let Some(p) = (match p.into_owned() {
                    Term::BlankNode(b) => Some(NamedOrBlankNode::from(b)),
                    Term::NamedNode(n) => Some(n.into()),
                    _ => None,
                }) else {
                    continue;
                };
                let Some(Term::NamedNode(path)) = object(&p, &sh("path")) else {
                    continue;
                };
                let named = |pred: &str| match object(&p, &sh(pred)) {
                    Some(Term::NamedNode(n)) => Some(n),
                    _ => None,
                };
                properties.push(PropertyShape {
                    path,
                    min_count: count(&p, &sh("minCount")),
                    max_count: count(&p, &sh("maxCount")),
                    datatype: named("datatype"),
                    class: named("class"),
                    node_kind: named("nodeKind").and_then(|k| match k.as_str().strip_prefix(SH) {
                        Some("IRI") => Some(NodeKind::Iri),
                        Some("Literal") => Some(NodeKind::Literal),
                        Some("BlankNodeOrIRI") => Some(NodeKind::BlankNodeOrIri),
                        _ => None,
                    }),
                    min_inclusive: object(&p, &sh("minInclusive")).and_then(|t| numeric(t.as_ref())),
                    max_inclusive: object(&p, &sh("maxInclusive")).and_then(|t| numeric(t.as_ref())),
                });
            }
            shapes.push(NodeShape {
                name: compact(&node.clone().into()),
                target_class,
                properties,
            });
        }
        Ok(Self { shapes })
    }

    /// Number of node shapes.
    pub fn len(&self) -> usize {
        self.shapes.len()
    }

    /// Whether there are no shapes.
    pub fn is_empty(&self) -> bool {
        self.shapes.is_empty()
    }

    /// Validates the documents (read together with `store`) and lists every violation, each
    /// located in the document that mentions the offending node.
    pub fn validate(&self, docs: &[Document], store: &Store) -> Result<Vec<Diagnostic>, StoreError> {
        let facts = Facts::new(docs, store)?;
        let mut out = Vec::new();
        let mut seen_subjects = HashSet::new();
        for (doc_index, doc) in docs.iter().enumerate() {
            for quad in &doc.quads {
                if !seen_subjects.insert(quad.subject.clone()) {
                    continue;
                }
                let focus = &quad.subject;
                let types = facts.types_with_superclasses(focus)?;
                for shape in self.shapes.iter().filter(|s| types.contains(&s.target_class)) {
                    for p in &shape.properties {
                        for message in facts.check(focus, p)? {
                            out.push(facts.diagnostic(doc_index, focus, format!("{message} ({})", shape.name)));
                        }
                    }
                }
            }
        }
        Ok(out)
    }
}

/// Incoming data indexed by (subject, predicate), plus the store, plus the class hierarchy.
///
/// Bulk loads are mostly new nodes, so the store is asked once per node whether it knows it at
/// all, and type sets are cached: validation costs a few hash lookups per triple, not a store
/// read per (node, property).
struct Facts<'a> {
    docs: &'a [Document],
    incoming: HashMap<(NamedOrBlankNode, NamedNode), Vec<Term>>,
    store: &'a Store,
    superclasses: HashMap<NamedNode, Vec<NamedNode>>,
    in_store: RefCell<HashMap<NamedOrBlankNode, bool>>,
    types: RefCell<HashMap<NamedOrBlankNode, std::rc::Rc<HashSet<NamedNode>>>>,
}

impl<'a> Facts<'a> {
    fn new(docs: &'a [Document], store: &'a Store) -> Result<Self, StoreError> {
        let mut incoming: HashMap<(NamedOrBlankNode, NamedNode), Vec<Term>> = HashMap::new();
        let mut superclasses: HashMap<NamedNode, Vec<NamedNode>> = HashMap::new();
        let mut add_edge = |s: &NamedOrBlankNode, o: &Term| {
            if let (NamedOrBlankNode::NamedNode(s), Term::NamedNode(o)) = (s, o) {
                superclasses.entry(s.clone()).or_default().push(o.clone());
            }
        };
        for q in docs.iter().flat_map(|d| &d.quads) {
            if q.predicate == rdfs::SUB_CLASS_OF {
                add_edge(&q.subject, &q.object);
            }
            incoming
                .entry((q.subject.clone(), q.predicate.clone()))
                .or_default()
                .push(q.object.clone());
        }
        for q in store.quads_for_pattern(None, Some(rdfs::SUB_CLASS_OF), None, None) {
            let q = q?;
            add_edge(&q.subject, &q.object);
        }
        Ok(Self {
            docs,
            incoming,
            store,
            superclasses,
            in_store: RefCell::default(),
            types: RefCell::default(),
        })
    }

    /// Whether the store holds any fact about `s` (cached).
    fn known_to_store(&self, s: &NamedOrBlankNode) -> Result<bool, StoreError> {
        // Blank nodes of a new document are new nodes: the store cannot know them.
        let NamedOrBlankNode::NamedNode(n) = s else {
            return Ok(false);
        };
        if let Some(known) = self.in_store.borrow().get(s) {
            return Ok(*known);
        }
        let known = self
            .store
            .quads_for_pattern(Some(n.into()), None, None, None)
            .next()
            .transpose()?
            .is_some();
        self.in_store.borrow_mut().insert(s.clone(), known);
        Ok(known)
    }

    fn values(&self, s: &NamedOrBlankNode, p: &NamedNode) -> Result<Vec<Term>, StoreError> {
        let mut out: Vec<Term> = self.incoming.get(&(s.clone(), p.clone())).cloned().unwrap_or_default();
        if self.known_to_store(s)? {
            for q in self
                .store
                .quads_for_pattern(Some(s.as_ref()), Some(p.as_ref()), None, None)
            {
                let o = q?.object;
                if !out.contains(&o) {
                    out.push(o);
                }
            }
        }
        Ok(out)
    }

    fn types_with_superclasses(&self, node: &NamedOrBlankNode) -> Result<std::rc::Rc<HashSet<NamedNode>>, StoreError> {
        if let Some(t) = self.types.borrow().get(node) {
            return Ok(t.clone());
        }
        let mut todo: Vec<NamedNode> = self
            .values(node, &rdf::TYPE.into_owned())?
            .into_iter()
            .filter_map(|t| match t {
                Term::NamedNode(n) => Some(n),
                _ => None,
            })
            .collect();
        let mut all = HashSet::new();
        while let Some(c) = todo.pop() {
            if all.insert(c.clone()) {
                todo.extend(self.superclasses.get(&c).into_iter().flatten().cloned());
            }
        }
        let all = std::rc::Rc::new(all);
        self.types.borrow_mut().insert(node.clone(), all.clone());
        Ok(all)
    }

    fn check(&self, focus: &NamedOrBlankNode, p: &PropertyShape) -> Result<Vec<String>, StoreError> {
        let values = self.values(focus, &p.path)?;
        let node = compact(&focus.clone().into());
        let path = compact(&p.path.clone().into());
        let mut out = Vec::new();
        if let Some(min) = p.min_count {
            if values.len() < min {
                out.push(if values.is_empty() {
                    format!("{node} has no {path}, which is required (sh:minCount {min})")
                } else {
                    format!(
                        "{node} has {} values of {path}, at least {min} are required (sh:minCount)",
                        values.len()
                    )
                });
            }
        }
        if let Some(max) = p.max_count {
            if values.len() > max {
                out.push(format!(
                    "{node} has {} values of {path}, at most {max} allowed (sh:maxCount): {}",
                    values.len(),
                    values.iter().map(compact).collect::<Vec<_>>().join(", ")
                ));
            }
        }
        for value in &values {
            let shown = compact(value);
            if let Some(dt) = &p.datatype {
                match value {
                    Term::Literal(l) if l.datatype() == dt.as_ref() => {
                        if !lexical_form_is_valid(l.value(), dt.as_ref()) {
                            out.push(format!(
                                "{node} {path} \"{}\" is not a valid {}",
                                l.value(),
                                compact(&dt.clone().into())
                            ));
                        }
                    }
                    _ => out.push(format!(
                        "{node} {path} {shown} must be a literal of type {} (sh:datatype)",
                        compact(&dt.clone().into())
                    )),
                }
            }
            if let Some(kind) = p.node_kind {
                let ok = match kind {
                    NodeKind::Iri => matches!(value, Term::NamedNode(_)),
                    NodeKind::Literal => matches!(value, Term::Literal(_)),
                    NodeKind::BlankNodeOrIri => matches!(value, Term::NamedNode(_) | Term::BlankNode(_)),
                };
                if !ok {
                    out.push(format!("{node} {path} {shown} must be an IRI (sh:nodeKind)"));
                }
            }
            if let Some(class) = &p.class {
                let is_instance = match value {
                    Term::NamedNode(n) => self.types_with_superclasses(&n.clone().into())?.contains(class),
                    Term::BlankNode(b) => self.types_with_superclasses(&b.clone().into())?.contains(class),
                    _ => false,
                };
                if !is_instance {
                    out.push(format!(
                        "{node} {path} {shown} is not a known {} (sh:class; declare it or load its description first)",
                        compact(&class.clone().into())
                    ));
                }
            }
            if p.min_inclusive.is_some() || p.max_inclusive.is_some() {
                match numeric(value.as_ref()) {
                    None => out.push(format!("{node} {path} {shown} must be a number")),
                    Some(v) => {
                        if let Some(min) = p.min_inclusive.filter(|m| v < *m) {
                            out.push(format!(
                                "{node} {path} is {shown}, below the minimum {min} (sh:minInclusive)"
                            ));
                        }
                        if let Some(max) = p.max_inclusive.filter(|m| v > *m) {
                            out.push(format!(
                                "{node} {path} is {shown}, above the maximum {max} (sh:maxInclusive)"
                            ));
                        }
                    }
                }
            }
        }
        Ok(out)
    }

    /// A diagnostic at the node's first mention in the document it came from; a blank node is
    /// located at the node that refers to it.
    fn diagnostic(&self, doc_index: usize, focus: &NamedOrBlankNode, message: String) -> Diagnostic {
        let doc = &self.docs[doc_index];
        let mut node = focus.clone();
        let mut position = None;
        for _ in 0..4 {
            match &node {
                NamedOrBlankNode::NamedNode(n) => {
                    position = locate_iri(doc, n.as_str());
                    break;
                }
                NamedOrBlankNode::BlankNode(b) => {
                    let target = Term::from(b.clone());
                    match doc.quads.iter().find(|q| q.object == target) {
                        Some(q) => node = q.subject.clone(),
                        None => break,
                    }
                }
            }
        }
        Diagnostic {
            file: doc.name.clone(),
            line: position.map(|p| p.0),
            column: position.map(|p| p.1),
            message,
        }
    }
}

fn lexical_form_is_valid(value: &str, datatype: NamedNodeRef<'_>) -> bool {
    if datatype == xsd::INTEGER {
        value.trim().parse::<i128>().is_ok()
    } else if datatype == xsd::DECIMAL || datatype == xsd::DOUBLE || datatype == xsd::FLOAT {
        value.trim().parse::<f64>().is_ok()
    } else if datatype == xsd::BOOLEAN {
        matches!(value, "true" | "false" | "1" | "0")
    } else {
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ingest::parse_document;

    const SHAPES: &str = r#"
        @prefix sh: <http://www.w3.org/ns/shacl#> .
        @prefix xsd: <http://www.w3.org/2001/XMLSchema#> .
        @prefix ex: <http://e/> .
        ex:S a sh:NodeShape ; sh:targetClass ex:Board ;
          sh:property [ sh:path ex:ram ; sh:minCount 1 ; sh:maxCount 1 ; sh:datatype xsd:integer ; sh:minInclusive 1 ] ;
          sh:property [ sh:path ex:sensor ; sh:class ex:Sensor ] ."#;

    fn check(data: &str, store: &Store) -> Vec<Diagnostic> {
        let shapes = Shapes::parse(SHAPES).unwrap();
        let doc = parse_document("d.ttl", data.into(), RdfFormat::Turtle, None).unwrap();
        shapes.validate(&[doc], store).unwrap()
    }

    #[test]
    fn valid_data_passes_and_subclasses_are_targets() {
        let store = Store::new().unwrap();
        let d = check(
            "@prefix ex: <http://e/> . @prefix rdfs: <http://www.w3.org/2000/01/rdf-schema#> .
             ex:Kit rdfs:subClassOf ex:Board . ex:s a ex:Sensor .
             ex:b a ex:Kit ; ex:ram 5 ; ex:sensor ex:s .",
            &store,
        );
        assert!(d.is_empty(), "{d:?}");
    }

    #[test]
    fn each_violation_is_reported_with_its_position() {
        let store = Store::new().unwrap();
        let d = check(
            "@prefix ex: <http://e/> .\n\nex:b a ex:Board ; ex:ram -3 , \"x\" ; ex:sensor ex:unknown .\nex:c a ex:Board .\n",
            &store,
        );
        let text: Vec<String> = d.iter().map(ToString::to_string).collect();
        assert!(
            text.iter()
                .any(|t| t.starts_with("d.ttl:3:1: ex:b") || t.contains("at most 1")),
            "{text:?}"
        );
        assert!(text.iter().any(|t| t.contains("below the minimum 1")), "{text:?}");
        assert!(text.iter().any(|t| t.contains("is not a known")), "{text:?}");
        assert!(
            text.iter()
                .any(|t| t.starts_with("d.ttl:4:1:") && t.contains("sh:minCount")),
            "{text:?}"
        );
    }

    #[test]
    fn store_facts_count_toward_constraints() {
        let store = Store::new().unwrap();
        store
            .load_from_slice(
                RdfFormat::Turtle,
                "<http://e/b> a <http://e/Board> ; <http://e/ram> 4 . <http://e/s> a <http://e/Sensor> .",
            )
            .unwrap();
        // The sensor is known from the store: fine. A second RAM figure: too many.
        let d = check("@prefix ex: <http://e/> . ex:b ex:sensor ex:s ; ex:ram 8 .", &store);
        assert_eq!(d.len(), 1, "{d:?}");
        assert!(d[0].message.contains("at most 1"));
    }
}
