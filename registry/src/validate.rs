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

use crate::answer::compact;
use crate::error::{Diagnostic, IngestError, StoreError};
use crate::ingest::locate::Locator;
use crate::ingest::Document;
use crate::store::{GraphStore, QuadPattern};
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
    pub fn validate(&self, docs: &[Document], store: &dyn GraphStore) -> Result<Vec<Diagnostic>, StoreError> {
        self.validate_replacing(docs, store, &[])
    }

    /// Like [`Self::validate`], for documents that replace the content of the named graphs
    /// `replaced`: what those graphs hold now is left out (it is about to go, and its blank
    /// nodes are not those of the documents).
    pub fn validate_replacing(
        &self,
        docs: &[Document],
        store: &dyn GraphStore,
        replaced: &[NamedNode],
    ) -> Result<Vec<Diagnostic>, StoreError> {
        let facts = Facts::new(docs, store, replaced.iter().cloned().collect())?;
        let mut found: Vec<(usize, &NamedOrBlankNode, String)> = Vec::new();
        for &(focus, doc_index) in &facts.subjects {
            let types = facts.types(focus)?;
            for shape in self
                .shapes
                .iter()
                .filter(|s| facts.is_instance(&types, &s.target_class))
            {
                for p in &shape.properties {
                    for message in facts.check(focus, p)? {
                        found.push((doc_index, focus, format!("{message} ({})", shape.name)));
                    }
                }
            }
        }
        if found.is_empty() {
            return Ok(Vec::new());
        }
        let mut locators: HashMap<usize, Locator<'_>> = HashMap::new();
        Ok(found
            .into_iter()
            .map(|(doc_index, focus, message)| {
                let locator = locators
                    .entry(doc_index)
                    .or_insert_with(|| Locator::new(&docs[doc_index]));
                facts.diagnostic(locator, doc_index, focus, message)
            })
            .collect())
    }
}

/// Incoming data indexed by subject, plus the store, plus the class hierarchy.
///
/// Bulk loads are mostly new nodes, so the store is asked once per node whether it knows it at
/// all; a node's incoming facts are a short list scanned by predicate. Validation costs a hash
/// lookup per subject and a few comparisons per triple, not a store read per (node, property).
struct Facts<'a> {
    docs: &'a [Document],
    by_subject: HashMap<&'a NamedOrBlankNode, Vec<(&'a NamedNode, &'a Term)>>,
    /// Subjects in order of first appearance, with the document they first appear in.
    subjects: Vec<(&'a NamedOrBlankNode, usize)>,
    store: &'a dyn GraphStore,
    /// Every class with all its superclasses (itself included).
    ancestors: HashMap<NamedNode, HashSet<NamedNode>>,
    in_store: RefCell<HashMap<NamedOrBlankNode, bool>>,
    value_types: RefCell<HashMap<Term, Vec<NamedNode>>>,
    /// Named graphs of the store being replaced: their facts do not count.
    replaced: HashSet<NamedNode>,
}

impl<'a> Facts<'a> {
    fn new(docs: &'a [Document], store: &'a dyn GraphStore, replaced: HashSet<NamedNode>) -> Result<Self, StoreError> {
        let mut by_subject: HashMap<&'a NamedOrBlankNode, Vec<(&'a NamedNode, &'a Term)>> = HashMap::new();
        let mut subjects = Vec::new();
        let mut parents: HashMap<NamedNode, Vec<NamedNode>> = HashMap::new();
        for (doc_index, doc) in docs.iter().enumerate() {
            for q in &doc.quads {
                let entry = by_subject.entry(&q.subject).or_insert_with(|| {
                    subjects.push((&q.subject, doc_index));
                    Vec::new()
                });
                entry.push((&q.predicate, &q.object));
                if q.predicate == rdfs::SUB_CLASS_OF {
                    if let (NamedOrBlankNode::NamedNode(c), Term::NamedNode(parent)) = (&q.subject, &q.object) {
                        parents.entry(c.clone()).or_default().push(parent.clone());
                    }
                }
            }
        }
        let sub_class_of = rdfs::SUB_CLASS_OF.into_owned();
        for q in store.quads_for_pattern(QuadPattern {
            predicate: Some(&sub_class_of),
            ..QuadPattern::default()
        })? {
            if let (NamedOrBlankNode::NamedNode(c), Term::NamedNode(parent)) = (q.subject, q.object) {
                parents.entry(c).or_default().push(parent);
            }
        }
        let mut ancestors = HashMap::new();
        for class in parents.keys() {
            let mut all = HashSet::new();
            let mut todo = vec![class.clone()];
            while let Some(c) = todo.pop() {
                if all.insert(c.clone()) {
                    todo.extend(parents.get(&c).into_iter().flatten().cloned());
                }
            }
            ancestors.insert(class.clone(), all);
        }
        Ok(Self {
            docs,
            by_subject,
            subjects,
            store,
            ancestors,
            in_store: RefCell::default(),
            value_types: RefCell::default(),
            replaced,
        })
    }

    /// Whether a stored quad counts (it is not in the graph being replaced).
    fn counts(&self, q: &oxigraph::model::Quad) -> bool {
        match &q.graph_name {
            oxigraph::model::GraphName::NamedNode(g) => !self.replaced.contains(g),
            _ => true,
        }
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
        let _ = n;
        let known = self
            .store
            .quads_for_pattern(QuadPattern {
                subject: Some(s),
                ..QuadPattern::default()
            })?
            .iter()
            .any(|q| self.counts(q));
        self.in_store.borrow_mut().insert(s.clone(), known);
        Ok(known)
    }

    fn values(&self, s: &NamedOrBlankNode, p: &NamedNode) -> Result<Vec<Term>, StoreError> {
        let mut out: Vec<Term> = self
            .by_subject
            .get(s)
            .into_iter()
            .flatten()
            .filter(|(pred, _)| *pred == p)
            .map(|(_, o)| (*o).clone())
            .collect();
        if self.known_to_store(s)? {
            for q in self.store.quads_for_pattern(QuadPattern {
                subject: Some(s),
                predicate: Some(p),
                ..QuadPattern::default()
            })? {
                if !self.counts(&q) {
                    continue;
                }
                let o = q.object;
                if !out.contains(&o) {
                    out.push(o);
                }
            }
        }
        Ok(out)
    }

    /// The declared types of a node (incoming and stored).
    fn types(&self, node: &NamedOrBlankNode) -> Result<Vec<NamedNode>, StoreError> {
        Ok(self
            .values(node, &rdf::TYPE.into_owned())?
            .into_iter()
            .filter_map(|t| match t {
                Term::NamedNode(n) => Some(n),
                _ => None,
            })
            .collect())
    }

    /// Whether a node with these declared types is an instance of `class` (through subclasses).
    fn is_instance(&self, types: &[NamedNode], class: &NamedNode) -> bool {
        types
            .iter()
            .any(|t| t == class || self.ancestors.get(t).is_some_and(|a| a.contains(class)))
    }

    fn value_is_instance(&self, value: &Term, class: &NamedNode) -> Result<bool, StoreError> {
        if let Some(types) = self.value_types.borrow().get(value) {
            return Ok(self.is_instance(types, class));
        }
        let types = match value {
            Term::NamedNode(n) => self.types(&n.clone().into())?,
            Term::BlankNode(b) => self.types(&b.clone().into())?,
            _ => Vec::new(),
        };
        let result = self.is_instance(&types, class);
        self.value_types.borrow_mut().insert(value.clone(), types);
        Ok(result)
    }

    fn check(&self, focus: &NamedOrBlankNode, p: &PropertyShape) -> Result<Vec<String>, StoreError> {
        let values = self.values(focus, &p.path)?;
        // Names for messages are built only when there is something to say.
        let node = Lazy::new(|| compact(&focus.clone().into()));
        let path = Lazy::new(|| compact(&p.path.clone().into()));
        let (node, path) = (&node, &path);
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
            let shown = Lazy::new(|| compact(value));
            let shown = &shown;
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
                if !self.value_is_instance(value, class)? {
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
    fn diagnostic(
        &self,
        locator: &Locator<'_>,
        doc_index: usize,
        focus: &NamedOrBlankNode,
        message: String,
    ) -> Diagnostic {
        let doc = &self.docs[doc_index];
        let mut node = focus.clone();
        let mut position = None;
        for _ in 0..4 {
            match &node {
                NamedOrBlankNode::NamedNode(n) => {
                    position = locator.locate(n.as_str());
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

/// A message fragment computed on first use.
struct Lazy<F: Fn() -> String>(F);

impl<F: Fn() -> String> Lazy<F> {
    fn new(f: F) -> Self {
        Self(f)
    }
}

impl<F: Fn() -> String> std::fmt::Display for Lazy<F> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&(self.0)())
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

    fn check(data: &str, store: &dyn GraphStore) -> Vec<Diagnostic> {
        let shapes = Shapes::parse(SHAPES).unwrap();
        let doc = parse_document("d.ttl", data.into(), RdfFormat::Turtle, None).unwrap();
        shapes.validate(&[doc], store).unwrap()
    }

    #[test]
    fn valid_data_passes_and_subclasses_are_targets() {
        let store = crate::store::EmbeddedStore::in_memory().unwrap();
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
        let store = crate::store::EmbeddedStore::in_memory().unwrap();
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
        let store = crate::store::EmbeddedStore::in_memory().unwrap();
        let stored = parse_document(
            "s.ttl",
            "<http://e/b> a <http://e/Board> ; <http://e/ram> 4 . <http://e/s> a <http://e/Sensor> .".into(),
            RdfFormat::Turtle,
            None,
        )
        .unwrap();
        store
            .commit(crate::store::Commit::Load {
                parts: &[stored.quads.as_slice()],
            })
            .unwrap();
        // The sensor is known from the store: fine. A second RAM figure: too many.
        let d = check("@prefix ex: <http://e/> . ex:b ex:sensor ex:s ; ex:ram 8 .", &store);
        assert_eq!(d.len(), 1, "{d:?}");
        assert!(d[0].message.contains("at most 1"));
    }
}
