//! The compact replica: a store's quads in memory as numbered terms, for Oxigraph's evaluator.
//!
//! Oxigraph's own in-memory store keeps 360–490 bytes a quad (each quad in several concurrent
//! hash maps, with the versions that saw it), keeps every removed quad for readers that may
//! still see it, and looks a subject's quads up by walking all of them. Here a quad is four
//! 32-bit numbers in three sorted arrays (`quads`; a default graph's triple is two of them in
//! each, under a table of where each first field's run starts: `runs`), and each term is kept
//! once, as a record of bytes (`terms`, `records`): a lookup is two reads and a short binary
//! search, a removed quad is freed with the last version that held it, and a query holds each
//! term in 16 bytes. Writes make a new version (sharing the large arrays
//! with the one before), which takes the old one's place when the write is done: a query reads
//! one version from its start to its end (`view`).

use std::sync::Arc;

use oxigraph::model::{GraphNameRef, NamedOrBlankNodeRef, Quad, QuadRef, TermRef};
use rustc_hash::FxHashMap;
use spareval::{DeleteInsertQuad, QueryEvaluator};
use spargebra::algebra::GraphTarget;
use spargebra::GraphUpdateOperation;

mod quads;
mod records;
mod runs;
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
        let writer = Self::default().writer();
        let mut named = Vec::new();
        for graph in graphs {
            match writer.graph_number(graph?.as_ref().into()) {
                Ok(g) => named.push(g),
                Err(full) => return Ok(Err(full)),
            }
        }
        let mut all = Vec::new();
        for quad in quads {
            match writer.add_terms(quad?.as_ref()) {
                Ok(ids) => all.push(ids),
                Err(full) => return Ok(Err(full)),
            }
        }
        Ok(Ok(Self {
            terms: writer.terms,
            quads: Arc::new(Quads::of(all, named)),
        }))
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

    /// About how many bytes of memory this version and the term table take (the arrays it
    /// shares with other versions counted once, here).
    pub fn bytes(&self) -> usize {
        self.terms.bytes() + self.quads.bytes()
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
            pending: FxHashMap::default(),
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
                Some(GraphNameRef::NamedNode(g)) => Graphs::Only(self.terms.number(g.into(), view.within).ok_or(())?),
                Some(GraphNameRef::BlankNode(g)) => Graphs::Only(self.terms.number(g.into(), view.within).ok_or(())?),
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
    /// The version written, but for `pending`.
    quads: Quads,
    /// Quads inserted (`true`) or removed (`false`) since `quads`, the last write of each.
    pending: FxHashMap<Ids, bool>,
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
        self.pending.insert(ids, true);
        Ok(())
    }

    /// Removes `quad`, if it is there.
    pub fn remove(&mut self, quad: QuadRef<'_>) {
        if let Some(ids) = self.numbers(quad) {
            self.pending.insert(ids, false);
        }
    }

    /// `quads` with the pending writes made.
    fn flush(&mut self) {
        if !self.pending.is_empty() {
            self.quads = self.quads.with(self.pending.drain());
        }
    }

    /// Names `graph`, with no quads if it has none.
    pub fn name_graph(&mut self, graph: NamedOrBlankNodeRef<'_>) -> Result<(), TableFull> {
        let g = self.graph_number(graph.into())?;
        self.flush();
        self.quads = self.quads.with_graph_named(g);
        Ok(())
    }

    /// Removes every quad of graph `g` (`None`: of every named graph).
    fn empty_graph(&mut self, g: Option<u32>) {
        self.flush();
        let doomed = self.quads.in_graph(g);
        self.quads = self.quads.with(doomed.into_iter().map(|q| (q, false)));
    }

    /// Removes every quad of `graph`, which stays named (a named graph that was not is named).
    pub fn clear_graph(&mut self, graph: GraphNameRef<'_>) -> Result<(), TableFull> {
        let g = self.graph_number(graph)?;
        self.empty_graph(Some(g));
        self.quads = self.quads.with_graph_named(g);
        Ok(())
    }

    /// Removes every named graph and its quads.
    fn drop_named_graphs(&mut self) {
        self.empty_graph(None);
        let named: Vec<u32> = self.quads.named_graphs().collect();
        for g in named {
            self.quads = self.quads.with_graph_unnamed(g);
        }
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
                    // The pattern reads what the operations before wrote.
                    self.flush();
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
                            self.empty_graph(Some(g));
                        }
                    }
                    GraphTarget::DefaultGraph => self.empty_graph(Some(DEFAULT_GRAPH)),
                    GraphTarget::NamedGraphs => self.empty_graph(None),
                    GraphTarget::AllGraphs => {
                        self.empty_graph(None);
                        self.empty_graph(Some(DEFAULT_GRAPH));
                    }
                },
                GraphUpdateOperation::Create { graph, .. } => self.name_graph(graph.as_ref().into())?,
                GraphUpdateOperation::Drop { graph, .. } => match graph {
                    GraphTarget::NamedNode(g) => {
                        if let Some(g) = self.terms.number(g.as_ref().into(), u32::MAX) {
                            self.empty_graph(Some(g));
                            self.quads = self.quads.with_graph_unnamed(g);
                        }
                    }
                    GraphTarget::DefaultGraph => self.empty_graph(Some(DEFAULT_GRAPH)),
                    GraphTarget::NamedGraphs => self.drop_named_graphs(),
                    GraphTarget::AllGraphs => {
                        self.drop_named_graphs();
                        self.empty_graph(Some(DEFAULT_GRAPH));
                    }
                },
            }
        }
        Ok(())
    }

    /// The version written.
    pub fn finish(mut self) -> Compact {
        self.flush();
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

#[cfg(test)]
mod tests {
    use oxigraph::model::{GraphName, Literal, NamedNode, NamedOrBlankNode, Quad, Term};
    use oxigraph::sparql::{QueryResults, SparqlEvaluator};
    use oxigraph::store::Store;

    use super::Compact;

    fn iri(local: &str) -> NamedNode {
        NamedNode::new(format!("http://example.org/{local}")).unwrap()
    }

    fn typed(text: &str, datatype: &str) -> Term {
        Literal::new_typed_literal(
            text,
            NamedNode::new(format!("http://www.w3.org/2001/XMLSchema#{datatype}")).unwrap(),
        )
        .into()
    }

    /// Quads over a few subjects, predicates, objects and graphs, every kind of term among them.
    fn sample() -> Vec<Quad> {
        let objects: Vec<Term> = vec![
            iri("a").into(),
            iri("b").into(),
            Literal::from(1).into(),
            typed("01", "integer"),
            Literal::from(true).into(),
            typed("1", "boolean"),
            Literal::new_simple_literal("x").into(),
            Literal::new_language_tagged_literal("x", "en").unwrap().into(),
            oxigraph::model::BlankNode::new("b1").unwrap().into(),
            typed("2.50", "decimal"),
        ];
        let graphs = [GraphName::DefaultGraph, iri("g1").into(), iri("g2").into()];
        let mut quads = Vec::new();
        for (i, o) in objects.iter().enumerate() {
            for s in 0..3 {
                let graph = graphs[(i + s) % 3].clone();
                let p = iri(&format!("p{}", (i * s) % 3));
                quads.push(Quad::new(iri(&format!("s{s}")), p, o.clone(), graph));
            }
        }
        quads.push(Quad::new(iri("a"), iri("p0"), iri("s0"), GraphName::DefaultGraph));
        quads
    }

    fn both(quads: &[Quad]) -> (Store, Compact) {
        let store = Store::new().unwrap();
        store.extend(quads.iter().cloned()).unwrap();
        let compact = Compact::of(
            quads.iter().cloned().map(Ok::<_, std::convert::Infallible>),
            std::iter::empty(),
        )
        .unwrap()
        .unwrap();
        (store, compact)
    }

    fn sorted(quads: impl IntoIterator<Item = Quad>) -> Vec<String> {
        let mut text: Vec<String> = quads.into_iter().map(|q| q.to_string()).collect();
        text.sort();
        text
    }

    fn select(store: &Store, compact: &Compact, sparql: &str) -> (Vec<String>, Vec<String>) {
        let rows = |results: QueryResults<'_>| {
            let QueryResults::Solutions(solutions) = results else {
                panic!("not a SELECT")
            };
            let mut rows: Vec<String> = solutions
                .map(|s| {
                    let s = s.unwrap();
                    s.iter().map(|(v, t)| format!("{v}={t}")).collect::<Vec<_>>().join(" ")
                })
                .collect();
            rows.sort();
            rows
        };
        let query = spargebra::SparqlParser::new().parse_query(sparql).unwrap();
        let mut on_store = SparqlEvaluator::new().for_query(query.clone());
        on_store.dataset_mut().set_default_graph_as_union();
        let mut on_compact = SparqlEvaluator::new().for_query(query);
        on_compact.dataset_mut().set_default_graph_as_union();
        (
            rows(on_store.on_store(store).execute().unwrap()),
            rows(on_compact.on_queryable_dataset(compact.view()).execute().unwrap()),
        )
    }

    /// Every combination of a bound or free subject, predicate, object and graph reads what
    /// Oxigraph's store reads.
    #[test]
    fn every_pattern_reads_what_oxigraph_reads() {
        let quads = sample();
        let (store, compact) = both(&quads);
        assert_eq!(compact.len(), store.len().unwrap());
        let mut checked = 0;
        for q in quads
            .iter()
            .chain([&Quad::new(iri("zz"), iri("zz"), iri("zz"), iri("zz"))])
        {
            for mask in 0..16 {
                let s = (mask & 1 != 0).then(|| q.subject.as_ref());
                let p = (mask & 2 != 0).then(|| q.predicate.as_ref());
                let o = (mask & 4 != 0).then(|| q.object.as_ref());
                let g = (mask & 8 != 0).then(|| q.graph_name.as_ref());
                let want = sorted(store.quads_for_pattern(s, p, o, g).map(Result::unwrap));
                let got = sorted(compact.quads_for_pattern(s, p, o, g));
                assert_eq!(got, want, "pattern {mask:04b} of {q}");
                checked += want.len();
            }
        }
        assert!(checked > 300, "{checked}");
    }

    /// A literal held by value is the same term as the stored one it stands for, computed or
    /// stored, and terms are kept as Oxigraph keeps them (`"01"^^xsd:integer` as `1`, `"1"^^
    /// xsd:boolean` as `true`, `"2.50"^^xsd:decimal` as `2.5`), so that joins, groups and
    /// `sameTerm` answer as they do on RocksDB.
    #[test]
    fn terms_held_by_value_join_exactly_the_same_terms() {
        let (store, compact) = both(&sample());
        for sparql in [
            "SELECT ?s WHERE { ?s ?p ?x VALUES ?x { 1 } }",
            "SELECT ?s WHERE { ?s ?p ?x VALUES ?x { \"01\"^^<http://www.w3.org/2001/XMLSchema#integer> } }",
            "SELECT ?s WHERE { ?s ?p ?x VALUES ?x { true } }",
            "SELECT ?s WHERE { ?s ?p ?x VALUES ?x { \"1\"^^<http://www.w3.org/2001/XMLSchema#boolean> } }",
            "SELECT ?s ?x WHERE { ?s ?p ?x BIND(0 + 1 AS ?y) FILTER(sameTerm(?x, ?y)) }",
            "SELECT ?s WHERE { ?s ?p ?x { SELECT (2 - 1 AS ?x) WHERE {} } }",
            "SELECT ?x (COUNT(*) AS ?n) WHERE { ?s ?p ?x } GROUP BY ?x",
            "SELECT DISTINCT ?x WHERE { { ?s ?p ?x } UNION { BIND(1 AS ?x) } UNION { BIND(true AS ?x) } }",
            "SELECT ?s WHERE { ?s ?p ?x FILTER(?x) }",
            "SELECT ?g ?s WHERE { GRAPH ?g { ?s ?p 1 } }",
            "SELECT ?g WHERE { GRAPH ?g { } }",
            "SELECT ?s ?o WHERE { ?s <http://example.org/p0> ?o . ?o <http://example.org/p0> ?x }",
        ] {
            let (want, got) = select(&store, &compact, sparql);
            assert_eq!(got, want, "{sparql}");
            assert!(!want.is_empty(), "{sparql} found nothing: it tests nothing");
        }
    }

    /// A query reads the version it started on to its end, whatever is written meanwhile.
    #[test]
    fn a_query_reads_the_version_it_started_on() {
        let quads = sample();
        let (_, compact) = both(&quads);
        let query = spargebra::SparqlParser::new()
            .parse_query("SELECT * WHERE { ?s ?p ?o }")
            .unwrap();
        let QueryResults::Solutions(mut solutions) = SparqlEvaluator::new()
            .for_query(query)
            .on_queryable_dataset(compact.view())
            .execute()
            .unwrap()
        else {
            panic!("not a SELECT")
        };
        let first = solutions.next();
        let mut writer = compact.writer();
        for q in &quads {
            writer.remove(q.as_ref());
        }
        writer
            .insert(Quad::new(iri("new"), iri("p0"), iri("a"), GraphName::DefaultGraph).as_ref())
            .unwrap();
        let emptied = writer.finish();
        assert_eq!(emptied.len(), 1);
        assert_eq!(compact.len(), quads.len());
        let seen = first.into_iter().chain(solutions).count();
        assert_eq!(seen, quads.iter().filter(|q| q.graph_name.is_default_graph()).count());
    }

    /// SPARQL updates repeated on the replica leave what they leave in Oxigraph's store, named
    /// graphs (empty ones too) included.
    #[test]
    fn updates_leave_what_they_leave_in_oxigraph() {
        let quads = sample();
        let (store, compact) = both(&quads);
        let mut compact = compact;
        let updates = [
            "INSERT DATA { <http://example.org/n> <http://example.org/p0> 7 . GRAPH <http://example.org/g3> { <http://example.org/n> <http://example.org/p1> \"y\" } }",
            "DELETE DATA { <http://example.org/s0> <http://example.org/p0> <http://example.org/a> }",
            "DELETE { ?s ?p 1 } INSERT { ?s ?p 2 } WHERE { ?s ?p 1 }",
            "WITH <http://example.org/g1> DELETE { ?s ?p ?o } INSERT { ?s <http://example.org/moved> ?o } WHERE { ?s ?p ?o FILTER(isLiteral(?o)) }",
            "INSERT { GRAPH <http://example.org/g4> { ?s ?p ?o } } USING <http://example.org/g2> WHERE { ?s ?p ?o }",
            "DELETE WHERE { ?s <http://example.org/p2> ?o }",
            "CLEAR GRAPH <http://example.org/g2>",
            "CREATE GRAPH <http://example.org/empty>",
            "DROP GRAPH <http://example.org/g3>",
            "CLEAR SILENT GRAPH <http://example.org/none>",
            "DELETE { ?s ?p ?o } INSERT { ?o ?p ?s } WHERE { ?s ?p ?o FILTER(isIRI(?o)) }",
            "CLEAR DEFAULT",
            "DROP NAMED",
        ];
        for text in updates {
            let update = spargebra::SparqlParser::new().parse_update(text).unwrap();
            SparqlEvaluator::new()
                .for_update(update.clone())
                .on_store(&store)
                .execute()
                .unwrap();
            let mut writer = compact.writer();
            writer.update(&update).unwrap();
            compact = writer.finish();
            let want = sorted(store.iter().map(Result::unwrap));
            let got = sorted(compact.quads_for_pattern(None, None, None, None));
            assert_eq!(got, want, "after {text}");
            let mut want_graphs: Vec<String> = store.named_graphs().map(|g| g.unwrap().to_string()).collect::<Vec<_>>();
            want_graphs.sort();
            let view = compact.view();
            let mut got_graphs: Vec<String> = view
                .quads
                .named_graphs()
                .map(|g| match compact.terms.term(g) {
                    Term::NamedNode(n) => NamedOrBlankNode::from(n).to_string(),
                    other => other.to_string(),
                })
                .collect();
            got_graphs.sort();
            assert_eq!(got_graphs, want_graphs, "named graphs after {text}");
        }
    }
}
