//! The SPARQL text a remote store sends, and what it does to answers: writes (direct or
//! staged), quad reads and counts, pages of a cut answer, blank nodes skolemised and restored,
//! updates fitted to the engine's default graph.

use oxigraph::model::{BlankNode, GraphName, NamedNode, NamedOrBlankNode, Quad, Term, Variable};
use spargebra::algebra::{AggregateExpression, Expression, GraphPattern, OrderExpression};

use super::engine::Engine;
use super::{ChangeSet, Commit, QuadPattern, MARKER_GRAPH, STAGING_PREFIX};
use crate::answer::QueryAnswer;

/// Blank nodes are written to a remote store as IRIs under this prefix (RDF 1.1 skolem IRIs)
/// and read back as blank nodes with the same label.
pub const SKOLEM_PREFIX: &str = "urn:seam:genid:";

/// A term as SPARQL text, blank nodes skolemised.
fn term(t: &Term) -> String {
    match t {
        Term::BlankNode(b) => format!("<{SKOLEM_PREFIX}{}>", b.as_str()),
        other => other.to_string(),
    }
}

fn subject(s: &NamedOrBlankNode) -> String {
    match s {
        NamedOrBlankNode::BlankNode(b) => format!("<{SKOLEM_PREFIX}{}>", b.as_str()),
        NamedOrBlankNode::NamedNode(n) => n.to_string(),
    }
}

fn triple(q: &Quad) -> String {
    format!("{} {} {} .", subject(&q.subject), q.predicate, term(&q.object))
}

/// What one graph gets in a write.
#[derive(Debug)]
struct Target {
    graph: GraphName,
    /// Emptied before its inserts (a replaced graph).
    clear: bool,
    delete: Vec<Quad>,
    insert: Vec<Quad>,
}

/// A write, per graph, in the order the embedded store applies it: deletions, insertions into
/// graphs that stay, graphs emptied, insertions into the emptied graphs.
#[derive(Debug, Default)]
pub(super) struct Write {
    targets: Vec<Target>,
}

impl Write {
    fn target(&mut self, graph: &GraphName, clear: bool) -> &mut Target {
        let at = match self.targets.iter().position(|t| t.graph == *graph && t.clear == clear) {
            Some(at) => at,
            None => {
                self.targets.push(Target {
                    graph: graph.clone(),
                    clear,
                    delete: Vec::new(),
                    insert: Vec::new(),
                });
                self.targets.len() - 1
            }
        };
        &mut self.targets[at]
    }

    fn add(&mut self, quads: impl IntoIterator<Item = Quad>) {
        for q in quads {
            let graph = q.graph_name.clone();
            self.target(&graph, false).insert.push(q);
        }
    }

    fn replace(&mut self, graph: &NamedNode, quads: impl IntoIterator<Item = Quad>) {
        let name = GraphName::NamedNode(graph.clone());
        let target = self.target(&name, true);
        target.insert.extend(
            quads
                .into_iter()
                .map(|q| Quad::new(q.subject, q.predicate, q.object, name.clone())),
        );
    }

    /// A commit as a write.
    pub(super) fn of_commit(commit: Commit<'_>) -> Self {
        let mut write = Self::default();
        match commit {
            Commit::Load { parts } => write.add(parts.iter().flat_map(|p| p.iter().cloned())),
            Commit::ReplaceGraph { graph, seed, parts } => {
                write.add(seed.iter().flat_map(|p| p.iter().cloned()));
                write.replace(graph, parts.iter().flat_map(|p| p.iter().cloned()));
            }
            Commit::ReplaceGraphs { seed, graphs } => {
                write.add(seed.iter().flat_map(|p| p.iter().cloned()));
                for (graph, quads) in graphs {
                    write.replace(graph, quads.iter().cloned());
                }
            }
        }
        write
    }

    /// A change set as a write.
    pub(super) fn of_changes(changes: &ChangeSet) -> Self {
        let mut write = Self::default();
        for q in &changes.delete {
            write.target(&q.graph_name, false).delete.push(q.clone());
        }
        write.add(changes.insert.iter().cloned());
        write
    }

    pub(super) fn is_empty(&self) -> bool {
        self.targets
            .iter()
            .all(|t| !t.clear && t.delete.is_empty() && t.insert.is_empty())
    }

    /// Quads written (deleted or inserted).
    pub(super) fn len(&self) -> usize {
        self.targets.iter().map(|t| t.delete.len() + t.insert.len()).sum()
    }

    /// The targets in the order their step runs: `step(target)` yields the text of one kind.
    fn ordered<'a>(&'a self) -> impl Iterator<Item = (usize, &'a Target)> + 'a {
        self.targets.iter().enumerate()
    }

    /// The whole write as one update request.
    pub(super) fn direct(&self, default_graph: Option<&NamedNode>) -> String {
        let mut ops = Vec::new();
        let deletes = data_block(self.ordered().flat_map(|(_, t)| t.delete.iter()), default_graph);
        if let Some(block) = deletes {
            ops.push(format!("DELETE DATA {{\n{block}}}"));
        }
        if let Some(block) = data_block(
            self.ordered()
                .filter(|(_, t)| !t.clear)
                .flat_map(|(_, t)| t.insert.iter()),
            default_graph,
        ) {
            ops.push(format!("INSERT DATA {{\n{block}}}"));
        }
        for (_, t) in self.ordered().filter(|(_, t)| t.clear) {
            ops.push(format!("CLEAR SILENT {}", graph_target(&t.graph, default_graph)));
        }
        if let Some(block) = data_block(
            self.ordered()
                .filter(|(_, t)| t.clear)
                .flat_map(|(_, t)| t.insert.iter()),
            default_graph,
        ) {
            ops.push(format!("INSERT DATA {{\n{block}}}"));
        }
        ops.join(" ;\n")
    }

    /// The staging requests: every quad into its staging graph, `limit` quads a request.
    pub(super) fn chunks(&self, staging: &Staging, limit: usize, _default_graph: Option<&NamedNode>) -> Vec<String> {
        let mut items: Vec<(String, &Quad)> = Vec::new();
        for (i, t) in self.ordered() {
            items.extend(t.delete.iter().map(|q| (staging.name(i, "del"), q)));
            items.extend(t.insert.iter().map(|q| (staging.name(i, "ins"), q)));
        }
        items
            .chunks(limit.max(1))
            .map(|chunk| {
                let mut text = String::from("INSERT DATA {\n");
                let mut current: Option<&str> = None;
                for (graph, q) in chunk {
                    if current != Some(graph.as_str()) {
                        if current.is_some() {
                            text.push_str("}\n");
                        }
                        text.push_str(&format!("GRAPH <{graph}> {{\n"));
                        current = Some(graph.as_str());
                    }
                    text.push_str(&triple(q));
                    text.push('\n');
                }
                if current.is_some() {
                    text.push_str("}\n");
                }
                text.push('}');
                text
            })
            .collect()
    }

    /// The last request of a staged write: everything moved into place, the staging dropped.
    pub(super) fn finish(&self, staging: &Staging, default_graph: Option<&NamedNode>) -> String {
        let mut ops = Vec::new();
        for (i, t) in self.ordered().filter(|(_, t)| !t.delete.is_empty()) {
            let into = match target_graph(&t.graph, default_graph) {
                Some(g) => format!("GRAPH <{g}> {{ ?s ?p ?o }}"),
                None => "?s ?p ?o".to_owned(),
            };
            ops.push(format!(
                "DELETE {{ {into} }} WHERE {{ GRAPH <{}> {{ ?s ?p ?o }} }}",
                staging.name(i, "del")
            ));
        }
        let add = |i: usize, t: &Target| {
            format!(
                "ADD SILENT GRAPH <{}> TO {}",
                staging.name(i, "ins"),
                graph_target(&t.graph, default_graph)
            )
        };
        for (i, t) in self.ordered().filter(|(_, t)| !t.clear && !t.insert.is_empty()) {
            ops.push(add(i, t));
        }
        for (_, t) in self.ordered().filter(|(_, t)| t.clear) {
            ops.push(format!("CLEAR SILENT {}", graph_target(&t.graph, default_graph)));
        }
        for (i, t) in self.ordered().filter(|(_, t)| t.clear && !t.insert.is_empty()) {
            ops.push(add(i, t));
        }
        ops.push(staging.drop_all(self));
        ops.join(" ;\n")
    }
}

/// The quads grouped by graph as the body of `INSERT DATA` / `DELETE DATA`; `None` when empty.
fn data_block<'a>(quads: impl Iterator<Item = &'a Quad>, default_graph: Option<&NamedNode>) -> Option<String> {
    let mut by_graph: Vec<(Option<String>, String)> = Vec::new();
    for q in quads {
        let graph = target_graph(&q.graph_name, default_graph);
        let at = match by_graph.iter().position(|(g, _)| *g == graph) {
            Some(at) => at,
            None => {
                by_graph.push((graph, String::new()));
                by_graph.len() - 1
            }
        };
        by_graph[at].1.push_str(&triple(q));
        by_graph[at].1.push('\n');
    }
    if by_graph.is_empty() {
        return None;
    }
    let mut text = String::new();
    for (graph, triples) in by_graph {
        match graph {
            Some(g) => text.push_str(&format!("GRAPH <{g}> {{\n{triples}}}\n")),
            None => text.push_str(&triples),
        }
    }
    Some(text)
}

/// The graph a quad of `graph` is written to; `None`: the engine's default graph.
fn target_graph(graph: &GraphName, default_graph: Option<&NamedNode>) -> Option<String> {
    match graph {
        GraphName::NamedNode(n) => Some(n.as_str().to_owned()),
        GraphName::BlankNode(b) => Some(format!("{SKOLEM_PREFIX}{}", b.as_str())),
        GraphName::DefaultGraph => default_graph.map(|g| g.as_str().to_owned()),
    }
}

/// `GRAPH <g>` or `DEFAULT`, for CLEAR and ADD.
fn graph_target(graph: &GraphName, default_graph: Option<&NamedNode>) -> String {
    match target_graph(graph, default_graph) {
        Some(g) => format!("GRAPH <{g}>"),
        None => "DEFAULT".to_owned(),
    }
}

/// The names of one staged write's graphs: `urn:seam:staging:<unix seconds>:<uuid>:<target>:<kind>`.
pub(super) struct Staging {
    stamp: String,
}

impl Staging {
    pub(super) fn new(now: u64) -> Self {
        Self {
            stamp: format!("{now}:{}", uuid::Uuid::new_v4()),
        }
    }

    fn name(&self, target: usize, kind: &str) -> String {
        format!("{STAGING_PREFIX}{}:{target}:{kind}", self.stamp)
    }

    /// Drops every staging graph of `write`.
    pub(super) fn drop_all(&self, write: &Write) -> String {
        write
            .ordered()
            .flat_map(|(i, _)| ["del", "ins"].map(|kind| format!("DROP SILENT GRAPH <{}>", self.name(i, kind))))
            .collect::<Vec<_>>()
            .join(" ;\n")
    }
}

/// How old a staging graph is, from its name; `None` for a name SEAM did not make.
pub(super) fn staging_age(graph: &str, now: u64) -> Option<u64> {
    let stamp: u64 = graph.strip_prefix(STAGING_PREFIX)?.split(':').next()?.parse().ok()?;
    Some(now.saturating_sub(stamp))
}

/// The filter that keeps SEAM's graphs: not the bookkeeping, not the engine's own.
fn own_graphs(engine: &Engine) -> String {
    let mut filter = format!("!STRSTARTS(STR(?g), \"{STAGING_PREFIX}\") && ?g != <{MARKER_GRAPH}>");
    for g in engine.system_graphs() {
        filter.push_str(&format!(" && ?g != <{g}>"));
    }
    filter
}

/// The pattern's positions as SPARQL: a constant, or its variable.
fn positions(pattern: &QuadPattern<'_>) -> (String, String, String) {
    (
        pattern.subject.map_or_else(|| "?s".to_owned(), subject),
        pattern.predicate.map_or_else(|| "?p".to_owned(), ToString::to_string),
        pattern.object.map_or_else(|| "?o".to_owned(), term),
    )
}

/// The group that reads `s p o` from SEAM's graphs (default graph included), binding `?g` to
/// the graph (unbound: the default graph, where the engine has one).
fn quads_group(pattern: &QuadPattern<'_>, engine: &Engine) -> String {
    let (s, p, o) = positions(pattern);
    let default_graph = engine.default_graph();
    let in_default = match &default_graph {
        Some(dg) => format!(
            "{{ GRAPH <{dg}> {{ {s} {p} {o} }} BIND(<{dg}> AS ?g) }}",
            dg = dg.as_str()
        ),
        None => format!("{{ {s} {p} {o} }}"),
    };
    match pattern.graph {
        Some(GraphName::DefaultGraph) => in_default,
        Some(GraphName::NamedNode(g)) => {
            format!("{{ GRAPH <{g}> {{ {s} {p} {o} }} BIND(<{g}> AS ?g) }}", g = g.as_str())
        }
        Some(GraphName::BlankNode(b)) => {
            let g = format!("{SKOLEM_PREFIX}{}", b.as_str());
            format!("{{ GRAPH <{g}> {{ {s} {p} {o} }} BIND(<{g}> AS ?g) }}")
        }
        None => {
            let named = format!("{{ GRAPH ?g {{ {s} {p} {o} }} FILTER({}) }}", own_graphs(engine));
            match default_graph {
                // On Virtuoso SEAM's default graph is one of the named graphs.
                Some(_) => named,
                None => format!("{in_default} UNION {named}"),
            }
        }
    }
}

/// The quads matching a pattern: `SELECT ?s ?p ?o ?g`.
pub(super) fn pattern_query(pattern: &QuadPattern<'_>, engine: &Engine) -> String {
    format!("SELECT ?s ?p ?o ?g WHERE {{ {} }}", quads_group(pattern, engine))
}

/// The number of quads in SEAM's graphs.
pub(super) fn count_query(engine: &Engine) -> String {
    format!(
        "SELECT (COUNT(*) AS ?n) WHERE {{ {} }}",
        quads_group(&QuadPattern::default(), engine)
    )
}

/// One quad of SEAM's graphs, if there is any.
pub(super) fn any_query(engine: &Engine) -> String {
    format!(
        "SELECT ?s WHERE {{ {} }} LIMIT 1",
        quads_group(&QuadPattern::default(), engine)
    )
}

/// A row of [`pattern_query`] as a quad (blank nodes already restored).
pub(super) fn quad_of_row(
    row: Vec<Option<Term>>,
    pattern: &QuadPattern<'_>,
    default_graph: Option<&NamedNode>,
) -> Result<Quad, String> {
    let mut row = row.into_iter();
    let mut next = || row.next().flatten();
    let (s, p, o, g) = (next(), next(), next(), next());
    let subject = match pattern.subject {
        Some(s) => s.clone(),
        None => match s {
            Some(Term::NamedNode(n)) => n.into(),
            Some(Term::BlankNode(b)) => b.into(),
            other => return Err(format!("subject {other:?}")),
        },
    };
    let predicate = match pattern.predicate {
        Some(p) => p.clone(),
        None => match p {
            Some(Term::NamedNode(n)) => n,
            other => return Err(format!("predicate {other:?}")),
        },
    };
    let object = match pattern.object {
        Some(o) => o.clone(),
        None => o.ok_or("no object")?,
    };
    let graph = match g {
        None => GraphName::DefaultGraph,
        Some(Term::NamedNode(n)) if default_graph.is_some_and(|dg| *dg == n) => GraphName::DefaultGraph,
        Some(Term::NamedNode(n)) => n.into(),
        Some(Term::BlankNode(b)) => b.into(),
        Some(other) => return Err(format!("graph {other}")),
    };
    Ok(Quad::new(subject, predicate, object, graph))
}

/// The answer with skolem IRIs turned back into the blank nodes they stand for.
pub(super) fn restore_blank_nodes(answer: QueryAnswer) -> QueryAnswer {
    fn restore(t: Term) -> Term {
        match t {
            Term::NamedNode(n) => match n.as_str().strip_prefix(SKOLEM_PREFIX).map(BlankNode::new) {
                Some(Ok(b)) => b.into(),
                _ => n.into(),
            },
            other => other,
        }
    }
    fn restore_subject(s: NamedOrBlankNode) -> NamedOrBlankNode {
        match s {
            NamedOrBlankNode::NamedNode(n) => match n.as_str().strip_prefix(SKOLEM_PREFIX).map(BlankNode::new) {
                Some(Ok(b)) => b.into(),
                _ => n.into(),
            },
            blank => blank,
        }
    }
    match answer {
        QueryAnswer::Solutions { variables, rows } => QueryAnswer::Solutions {
            variables,
            rows: rows
                .into_iter()
                .map(|row| row.into_iter().map(|t| t.map(restore)).collect())
                .collect(),
        },
        QueryAnswer::Graph(triples) => QueryAnswer::Graph(
            triples
                .into_iter()
                .map(|t| oxigraph::model::Triple::new(restore_subject(t.subject), t.predicate, restore(t.object)))
                .collect(),
        ),
        other => other,
    }
}

/// The variables a SELECT projects, when its algebra says so plainly.
pub(super) fn projected(pattern: &GraphPattern) -> Option<Vec<Variable>> {
    match pattern {
        GraphPattern::Project { variables, .. } => Some(variables.clone()),
        GraphPattern::Distinct { inner } | GraphPattern::Reduced { inner } | GraphPattern::Slice { inner, .. } => {
            projected(inner)
        }
        _ => None,
    }
}

/// Whether the SELECT has its own LIMIT or OFFSET.
pub(super) fn has_own_slice(pattern: &GraphPattern) -> bool {
    match pattern {
        GraphPattern::Slice { .. } => true,
        GraphPattern::Distinct { inner } | GraphPattern::Reduced { inner } => has_own_slice(inner),
        _ => false,
    }
}

/// One page: the SELECT ordered by its variables inside a subquery, `LIMIT`/`OFFSET` outside
/// (what Virtuoso pages without hitting its sort limit).
pub(super) fn page(pattern: &GraphPattern, variables: &[Variable], offset: usize, length: usize) -> GraphPattern {
    let ordered = GraphPattern::Project {
        inner: Box::new(GraphPattern::OrderBy {
            inner: Box::new(pattern.clone()),
            expression: variables
                .iter()
                .map(|v| OrderExpression::Asc(Expression::Variable(v.clone())))
                .collect(),
        }),
        variables: variables.to_vec(),
    };
    GraphPattern::Slice {
        inner: Box::new(GraphPattern::Project {
            inner: Box::new(ordered),
            variables: variables.to_vec(),
        }),
        start: offset,
        length: Some(length),
    }
}

/// `SELECT (COUNT(*) AS ?n) { the SELECT }`.
pub(super) fn count_of(pattern: &GraphPattern) -> GraphPattern {
    let n = Variable::new_unchecked("seam_count");
    let aggregate = Variable::new_unchecked("seam_count_aggregate");
    GraphPattern::Project {
        inner: Box::new(GraphPattern::Extend {
            inner: Box::new(GraphPattern::Group {
                inner: Box::new(pattern.clone()),
                variables: Vec::new(),
                aggregates: vec![(
                    aggregate.clone(),
                    AggregateExpression::CountSolutions { distinct: false },
                )],
            }),
            variable: n.clone(),
            expression: Expression::Variable(aggregate),
        }),
        variables: vec![n],
    }
}

/// The answer's columns in the order the query projects them (engines order `SELECT *` their
/// own way).
pub(super) fn in_projection_order(answer: QueryAnswer, query: &spargebra::Query) -> QueryAnswer {
    let spargebra::Query::Select { pattern, .. } = query else {
        return answer;
    };
    let (Some(wanted), QueryAnswer::Solutions { variables, rows }) = (projected(pattern), &answer) else {
        return answer;
    };
    if *variables == wanted {
        return answer;
    }
    let at: Vec<Option<usize>> = wanted.iter().map(|w| variables.iter().position(|v| v == w)).collect();
    QueryAnswer::Solutions {
        rows: rows
            .iter()
            .map(|row| {
                at.iter()
                    .map(|i| i.and_then(|i| row.get(i).cloned().flatten()))
                    .collect()
            })
            .collect(),
        variables: wanted,
    }
}

/// An update fitted to an engine without a default graph to write into: what it writes to the
/// default graph goes to `default_graph`. Operations over all graphs are refused there: they
/// would reach the engine's own graphs.
pub(super) fn update_for_engine(
    mut update: spargebra::Update,
    default_graph: Option<&NamedNode>,
) -> Result<spargebra::Update, String> {
    use spargebra::algebra::GraphTarget;
    use spargebra::term::{GraphName as UGraph, GraphNamePattern};
    skolemise_inserted_data(&mut update);
    let Some(dg) = default_graph else {
        return Ok(update);
    };
    let named = || UGraph::NamedNode(dg.clone());
    for op in &mut update.operations {
        match op {
            spargebra::GraphUpdateOperation::InsertData { data } => {
                for q in data.iter_mut().filter(|q| q.graph_name == UGraph::DefaultGraph) {
                    q.graph_name = named();
                }
            }
            spargebra::GraphUpdateOperation::DeleteData { data } => {
                for q in data.iter_mut().filter(|q| q.graph_name == UGraph::DefaultGraph) {
                    q.graph_name = named();
                }
            }
            spargebra::GraphUpdateOperation::DeleteInsert { delete, insert, .. } => {
                for q in delete.iter_mut().filter(|q| q.graph_name == GraphNamePattern::DefaultGraph) {
                    q.graph_name = GraphNamePattern::NamedNode(dg.clone());
                }
                for q in insert.iter_mut().filter(|q| q.graph_name == GraphNamePattern::DefaultGraph) {
                    q.graph_name = GraphNamePattern::NamedNode(dg.clone());
                }
            }
            spargebra::GraphUpdateOperation::Clear { graph, .. } | spargebra::GraphUpdateOperation::Drop { graph, .. } => {
                match graph {
                    GraphTarget::DefaultGraph => *graph = GraphTarget::NamedNode(dg.clone()),
                    GraphTarget::NamedNode(_) => {}
                    GraphTarget::AllGraphs | GraphTarget::NamedGraphs => {
                        return Err("CLEAR or DROP of ALL or NAMED graphs is refused on this store: it would reach the engine's own graphs; name the graphs".into())
                    }
                }
            }
            spargebra::GraphUpdateOperation::Load { destination, .. } => {
                if *destination == UGraph::DefaultGraph {
                    *destination = named();
                }
            }
            spargebra::GraphUpdateOperation::Create { .. } => {}
        }
    }
    Ok(update)
}

/// Blank nodes of `INSERT DATA` become skolem IRIs, fresh for this update (a label names one
/// blank node within one request only), as SEAM's own writes do: every blank node of a remote
/// store can then be deleted again, and Virtuoso, which refuses blank nodes there, takes them.
fn skolemise_inserted_data(update: &mut spargebra::Update) {
    let mut fresh: std::collections::HashMap<String, NamedNode> = std::collections::HashMap::new();
    let mut skolem = |b: &BlankNode| {
        fresh
            .entry(b.as_str().to_owned())
            .or_insert_with(|| NamedNode::new_unchecked(format!("{SKOLEM_PREFIX}{}", BlankNode::default().as_str())))
            .clone()
    };
    for op in &mut update.operations {
        if let spargebra::GraphUpdateOperation::InsertData { data } = op {
            for q in data.iter_mut() {
                if let NamedOrBlankNode::BlankNode(b) = &q.subject {
                    q.subject = skolem(b).into();
                }
                if let Term::BlankNode(b) = &q.object {
                    q.object = skolem(b).into();
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn round_trip(text: &str) {
        let query = spargebra::SparqlParser::new().parse_query(text).unwrap();
        let again = spargebra::SparqlParser::new().parse_query(&query.to_string()).unwrap();
        assert_eq!(query, again, "{text} came back as {query}");
    }

    #[test]
    fn arithmetic_is_written_with_its_grouping() {
        round_trip("SELECT ?x WHERE { ?s ?p ?a BIND(CEIL((?a + 1) * (100 + ?a) / 100) AS ?x) }");
        round_trip("SELECT ?x WHERE { ?s ?p ?a BIND(-(?a - 2) AS ?x) FILTER(?a / (2 * ?a) > 0) }");
    }

    #[test]
    fn blank_nodes_are_written_as_skolem_iris_and_read_back() {
        let b = BlankNode::new("b1").unwrap();
        let q = Quad::new(
            b.clone(),
            NamedNode::new_unchecked("http://e/p"),
            b.clone(),
            GraphName::DefaultGraph,
        );
        assert_eq!(
            triple(&q),
            format!("<{SKOLEM_PREFIX}b1> <http://e/p> <{SKOLEM_PREFIX}b1> .")
        );
        let answer = restore_blank_nodes(QueryAnswer::Solutions {
            variables: vec![Variable::new_unchecked("x")],
            rows: vec![vec![Some(
                NamedNode::new_unchecked(format!("{SKOLEM_PREFIX}b1")).into(),
            )]],
        });
        let QueryAnswer::Solutions { rows, .. } = answer else {
            unreachable!()
        };
        assert_eq!(rows[0][0], Some(Term::BlankNode(b)));
    }

    #[test]
    fn a_staged_write_moves_everything_in_the_embedded_order_and_drops_its_staging() {
        let g = NamedNode::new_unchecked("http://e/g");
        let q = |s: &str| {
            Quad::new(
                NamedNode::new_unchecked(s),
                g.clone(),
                g.clone(),
                GraphName::DefaultGraph,
            )
        };
        let seed = [q("http://e/seed")];
        let parts = [q("http://e/part")];
        let write = Write::of_commit(Commit::ReplaceGraph {
            graph: &g,
            seed: &[&seed],
            parts: &[&parts],
        });
        let staging = Staging::new(1);
        let finish = write.finish(&staging, None);
        let add_seed = finish.find("TO DEFAULT").unwrap();
        let clear = finish.find("CLEAR SILENT GRAPH <http://e/g>").unwrap();
        let add_part = finish.find("TO GRAPH <http://e/g>").unwrap();
        assert!(add_seed < clear && clear < add_part, "{finish}");
        assert_eq!(finish.matches("DROP SILENT GRAPH <urn:seam:staging:1:").count(), 4);
        assert_eq!(staging_age(&staging.name(0, "ins"), 3_601), Some(3_600));
        assert_eq!(write.chunks(&staging, 1, None).len(), 2);
    }
}
