//! The compact replica: a store's quads in memory as numbered terms, for Oxigraph's evaluator.
//!
//! Oxigraph's own in-memory store keeps about 360 bytes a quad (each quad in several
//! concurrent hash maps, with the versions that saw it), keeps every removed quad for readers
//! that may still see it, and looks a subject's quads up by walking all of them. Here a quad is
//! four 32-bit numbers in three persistent ordered sets (`quads`), and each term is kept once
//! (`terms`): a lookup is a descent of a B-tree, a removed quad is freed with the last version
//! that held it, and a query holds each term in 16 bytes. Writes are made on a new version
//! (the sets share their nodes with the one before), which takes the old one's place when the
//! write is done: a query reads one version from its start to its end (`view`).

use std::sync::Arc;

use oxigraph::model::{GraphNameRef, NamedOrBlankNodeRef, Quad, QuadRef, TermRef};
use spareval::{DeleteInsertQuad, QueryEvaluator};
use spargebra::algebra::GraphTarget;
use spargebra::GraphUpdateOperation;

mod quads;
mod terms;
mod view;

pub use self::terms::{Held, TableFull};
pub use self::view::View;

use self::quads::{Graphs, Ids, Quads};
use self::terms::{Terms, DEFAULT_GRAPH};

/// A version of the compact replica, and the term table every version shares. Cheap to clone.
#[derive(Clone, Default)]
pub struct Compact {
    terms: Arc<Terms>,
    quads: Arc<Quads>,
}

/// A write the compact replica cannot repeat.
#[derive(Debug, thiserror::Error)]
pub enum ReplayError {
    /// The term table is full.
    #[error(transparent)]
    Full(#[from] TableFull),
    /// A `LOAD`: what it reads may have changed since RocksDB took it.
    #[error("a LOAD is not repeated on the replica")]
    Load,
    /// The update's pattern failed to evaluate here.
    #[error("the update could not be repeated on the replica: {0}")]
    Evaluation(String),
}

impl Compact {
    /// The quads of `quads` and the named graphs of `graphs` (those with no quads among them
    /// too).
    pub fn of<E>(
        quads: impl IntoIterator<Item = Result<Quad, E>>,
        graphs: impl IntoIterator<Item = Result<oxigraph::model::NamedOrBlankNode, E>>,
    ) -> Result<Result<Self, TableFull>, E> {
        let mut writer = Self::default().writer();
        for graph in graphs {
            let graph = graph?;
            if let Err(full) = writer.name_graph(graph.as_ref()) {
                return Ok(Err(full));
            }
        }
        for quad in quads {
            if let Err(full) = writer.insert(quad?.as_ref()) {
                return Ok(Err(full));
            }
        }
        Ok(Ok(writer.finish()))
    }

    /// This version, for queries.
    pub fn view(&self) -> View {
        View {
            terms: Arc::clone(&self.terms),
            quads: Arc::clone(&self.quads),
            within: self.terms.len(),
        }
    }

    /// How many quads this version holds.
    pub fn len(&self) -> usize {
        self.quads.len()
    }

    /// How many terms the table holds (used by this version or not).
    pub fn terms(&self) -> usize {
        self.terms.len() as usize
    }

    /// Whether this version holds no quad.
    pub fn is_empty(&self) -> bool {
        self.quads.is_empty()
    }

    /// A new version to write, beginning as this one.
    pub fn writer(&self) -> Writer {
        Writer {
            terms: Arc::clone(&self.terms),
            quads: (*self.quads).clone(),
        }
    }

    /// The quads matching a pattern (`None`: any; the graph `Some(DefaultGraph)` is the
    /// default graph, `None` every graph).
    pub fn quads_for_pattern(
        &self,
        subject: Option<NamedOrBlankNodeRef<'_>>,
        predicate: Option<oxigraph::model::NamedNodeRef<'_>>,
        object: Option<TermRef<'_>>,
        graph: Option<GraphNameRef<'_>>,
    ) -> Vec<Quad> {
        let view = self.view();
        let number = |term: Option<TermRef<'_>>| match term {
            None => Ok(None),
            Some(term) => self.terms.number(term, view.within).map(Some).ok_or(()),
        };
        let numbers = (|| {
            let s = number(subject.map(Into::into))?;
            let p = number(predicate.map(Into::into))?;
            let o = number(object)?;
            let graphs = match graph {
                None => Graphs::All,
                Some(GraphNameRef::DefaultGraph) => Graphs::Only(DEFAULT_GRAPH),
                Some(GraphNameRef::NamedNode(g)) => Graphs::Only(number(Some(g.into()))?.unwrap_or(DEFAULT_GRAPH)),
                Some(GraphNameRef::BlankNode(g)) => Graphs::Only(number(Some(g.into()))?.unwrap_or(DEFAULT_GRAPH)),
            };
            Ok::<_, ()>((s, p, o, graphs))
        })();
        let Ok((s, p, o, graphs)) = numbers else {
            return Vec::new();
        };
        view.scan(s, p, o, graphs).filter_map(|ids| self.quad(ids)).collect()
    }

    /// The quad numbered `ids`; `None` if one of its terms is not of the right kind (a table
    /// that lost its order: not made by this module).
    fn quad(&self, [s, p, o, g]: Ids) -> Option<Quad> {
        let subject = match self.terms.term(s) {
            oxigraph::model::Term::NamedNode(n) => oxigraph::model::NamedOrBlankNode::from(n),
            oxigraph::model::Term::BlankNode(b) => b.into(),
            _ => return None,
        };
        let oxigraph::model::Term::NamedNode(predicate) = self.terms.term(p) else {
            return None;
        };
        let graph = match g {
            DEFAULT_GRAPH => oxigraph::model::GraphName::DefaultGraph,
            g => match self.terms.term(g) {
                oxigraph::model::Term::NamedNode(n) => n.into(),
                oxigraph::model::Term::BlankNode(b) => b.into(),
                _ => return None,
            },
        };
        Some(Quad::new(subject, predicate, self.terms.term(o), graph))
    }
}

/// A new version of the replica being written; [`Writer::finish`] gives it.
pub struct Writer {
    terms: Arc<Terms>,
    quads: Quads,
}

impl Writer {
    /// The numbers of `quad`'s terms, added to the table where missing.
    fn add_terms(&self, quad: QuadRef<'_>) -> Result<Ids, TableFull> {
        Ok([
            self.terms.add(quad.subject.into())?,
            self.terms.add(quad.predicate.into())?,
            self.terms.add(quad.object)?,
            self.graph_number(quad.graph_name)?,
        ])
    }

    fn graph_number(&self, graph: GraphNameRef<'_>) -> Result<u32, TableFull> {
        match graph {
            GraphNameRef::DefaultGraph => Ok(DEFAULT_GRAPH),
            GraphNameRef::NamedNode(g) => self.terms.add(g.into()),
            GraphNameRef::BlankNode(g) => self.terms.add(g.into()),
        }
    }

    /// The numbers of `quad`'s terms, if the table has them all (else no version holds it).
    fn numbers(&self, quad: QuadRef<'_>) -> Option<Ids> {
        let within = u32::MAX;
        Some([
            self.terms.number(quad.subject.into(), within)?,
            self.terms.number(quad.predicate.into(), within)?,
            self.terms.number(quad.object, within)?,
            match quad.graph_name {
                GraphNameRef::DefaultGraph => DEFAULT_GRAPH,
                GraphNameRef::NamedNode(g) => self.terms.number(g.into(), within)?,
                GraphNameRef::BlankNode(g) => self.terms.number(g.into(), within)?,
            },
        ])
    }

    /// Adds `quad`.
    pub fn insert(&mut self, quad: QuadRef<'_>) -> Result<(), TableFull> {
        let ids = self.add_terms(quad)?;
        self.quads.insert(ids);
        Ok(())
    }

    /// Removes `quad`, if it is there.
    pub fn remove(&mut self, quad: QuadRef<'_>) {
        if let Some(ids) = self.numbers(quad) {
            self.quads.remove(&ids);
        }
    }

    /// Names `graph`, with no quads if it has none.
    pub fn name_graph(&mut self, graph: NamedOrBlankNodeRef<'_>) -> Result<(), TableFull> {
        let g = self.graph_number(graph.into())?;
        self.quads.name_graph(g);
        Ok(())
    }

    /// Removes every quad of `graph`, which stays named (a named graph that was not is named).
    pub fn clear_graph(&mut self, graph: GraphNameRef<'_>) -> Result<(), TableFull> {
        let g = self.graph_number(graph)?;
        self.quads.clear_graph(g);
        self.quads.name_graph(g);
        Ok(())
    }

    /// Repeats a SPARQL update that RocksDB took, operation by operation as Oxigraph runs it
    /// (each sees what the ones before it wrote; a `DELETE … INSERT … WHERE` finds every
    /// solution first, then deletes, then inserts), on the store's default graph unless the
    /// operation names its dataset.
    pub fn update(&mut self, update: &spargebra::Update) -> Result<(), ReplayError> {
        for operation in &update.operations {
            match operation {
                GraphUpdateOperation::InsertData { data } => {
                    for quad in data {
                        let quad = Quad::new(
                            quad.subject.clone(),
                            quad.predicate.clone(),
                            quad.object.clone(),
                            graph_name(&quad.graph_name),
                        );
                        self.insert(quad.as_ref())?;
                    }
                }
                GraphUpdateOperation::DeleteData { data } => {
                    for quad in data {
                        let quad = Quad::new(
                            quad.subject.clone(),
                            quad.predicate.clone(),
                            oxigraph::model::Term::from(quad.object.clone()),
                            graph_name(&quad.graph_name),
                        );
                        self.remove(quad.as_ref());
                    }
                }
                GraphUpdateOperation::DeleteInsert {
                    delete,
                    insert,
                    using,
                    pattern,
                } => {
                    let evaluator = QueryEvaluator::new();
                    let prepared = evaluator.prepare_delete_insert(
                        delete.clone(),
                        insert.clone(),
                        update.base_iri.clone(),
                        using.clone(),
                        pattern,
                    );
                    let version = Compact {
                        terms: Arc::clone(&self.terms),
                        quads: Arc::new(self.quads.clone()),
                    };
                    let changes = prepared
                        .execute(version.view())
                        .and_then(|changes| changes.collect::<Result<Vec<_>, _>>())
                        .map_err(|e| ReplayError::Evaluation(e.to_string()))?;
                    for change in &changes {
                        if let DeleteInsertQuad::Delete(quad) = change {
                            self.remove(quad.as_ref());
                        }
                    }
                    for change in &changes {
                        if let DeleteInsertQuad::Insert(quad) = change {
                            self.insert(quad.as_ref())?;
                        }
                    }
                }
                GraphUpdateOperation::Load { .. } => return Err(ReplayError::Load),
                GraphUpdateOperation::Clear { graph, .. } => match graph {
                    GraphTarget::NamedNode(g) => {
                        if let Some(g) = self.terms.number(g.as_ref().into(), u32::MAX) {
                            self.quads.clear_graph(g);
                        }
                    }
                    GraphTarget::DefaultGraph => self.quads.clear_graph(DEFAULT_GRAPH),
                    GraphTarget::NamedGraphs => self.quads.clear_named_graphs(),
                    GraphTarget::AllGraphs => {
                        self.quads.clear_named_graphs();
                        self.quads.clear_graph(DEFAULT_GRAPH);
                    }
                },
                GraphUpdateOperation::Create { graph, .. } => self.name_graph(graph.as_ref().into())?,
                GraphUpdateOperation::Drop { graph, .. } => match graph {
                    GraphTarget::NamedNode(g) => {
                        if let Some(g) = self.terms.number(g.as_ref().into(), u32::MAX) {
                            self.quads.drop_graph(g);
                        }
                    }
                    GraphTarget::DefaultGraph => self.quads.clear_graph(DEFAULT_GRAPH),
                    GraphTarget::NamedGraphs => self.quads.drop_named_graphs(),
                    GraphTarget::AllGraphs => {
                        self.quads.drop_named_graphs();
                        self.quads.clear_graph(DEFAULT_GRAPH);
                    }
                },
            }
        }
        Ok(())
    }

    /// The version written.
    pub fn finish(self) -> Compact {
        Compact {
            terms: self.terms,
            quads: Arc::new(self.quads),
        }
    }
}

/// A graph name of the SPARQL algebra as a graph name of a quad.
fn graph_name(graph: &spargebra::term::GraphName) -> oxigraph::model::GraphName {
    match graph {
        spargebra::term::GraphName::NamedNode(g) => g.clone().into(),
        spargebra::term::GraphName::DefaultGraph => oxigraph::model::GraphName::DefaultGraph,
    }
}
