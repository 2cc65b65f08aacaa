//! The conformance suite of [`GraphStore`]: what every implementation must do, as functions
//! over a fresh, empty store, and [`graph_store_conformance!`](crate::graph_store_conformance)
//! to run them all as tests of one implementation (after sophia's `test_graph_impl!`):
//!
//! ```ignore
//! seam_registry::graph_store_conformance!(in_memory, || EmbeddedStore::in_memory().unwrap());
//! ```
//!
//! The checks panic with what failed; they are meant for tests.

use std::fmt::Debug;

use oxigraph::model::{BlankNode, GraphName, Literal, NamedNode, NamedOrBlankNode, Quad, Term};

use super::{ChangeSet, Commit, Draft, Evaluation, GraphStore, QuadPattern};
use crate::answer::QueryAnswer;
use crate::error::QueryError;

fn ok<T, E: Debug>(result: Result<T, E>, what: &str) -> T {
    match result {
        Ok(v) => v,
        Err(e) => panic!("{what}: {e:?}"),
    }
}

fn iri(local: &str) -> NamedNode {
    NamedNode::new_unchecked(format!("http://example.org/{local}"))
}

fn quad(s: &str, p: &str, o: impl Into<Term>, g: Option<&str>) -> Quad {
    Quad::new(
        iri(s),
        iri(p),
        o.into(),
        g.map_or(GraphName::DefaultGraph, |g| iri(g).into()),
    )
}

fn select(store: &dyn GraphStore, sparql: &str) -> Vec<Vec<Option<Term>>> {
    let query = ok(
        spargebra::SparqlParser::new().parse_query(sparql),
        "the suite's query parses",
    );
    match ok(store.query(query, &Evaluation::unbounded()), sparql) {
        QueryAnswer::Solutions { rows, .. } => rows,
        other => panic!("{sparql}: expected solutions, got {other:?}"),
    }
}

fn count(store: &dyn GraphStore, sparql: &str) -> usize {
    select(store, sparql).len()
}

fn load(store: &dyn GraphStore, quads: &[Quad]) {
    ok(store.commit(Commit::Load { parts: &[quads] }), "commit a load");
}

/// An empty store has no quads, and says so.
pub fn starts_empty(store: &dyn GraphStore) {
    assert_eq!(ok(store.len(), "len"), 0);
    assert!(ok(store.is_empty(), "is_empty"));
    assert!(ok(store.quads_for_pattern(QuadPattern::default()), "read").is_empty());
}

/// A load keeps every quad with its graph and every kind of term as it was given; its length
/// counts each quad once, however often it was loaded.
pub fn loads_keep_terms_and_graphs(store: &dyn GraphStore) {
    let blank = BlankNode::default();
    let quads = vec![
        quad("b", "ram", Literal::from(262_144_i64), None),
        quad(
            "b",
            "label",
            Literal::new_language_tagged_literal_unchecked("carte", "fr"),
            None,
        ),
        quad(
            "b",
            "clock",
            Literal::new_typed_literal("64.5", oxigraph::model::vocab::xsd::DECIMAL),
            None,
        ),
        Quad::new(iri("b"), iri("sensor"), blank.clone(), GraphName::DefaultGraph),
        Quad::new(blank, iri("kind"), iri("microphone"), GraphName::DefaultGraph),
        quad("m", "task", iri("kws"), Some("import")),
    ];
    load(store, &quads);
    load(store, &quads[..1]);
    assert_eq!(ok(store.len(), "len"), quads.len());
    let all = ok(store.quads_for_pattern(QuadPattern::default()), "read all");
    for q in quads
        .iter()
        .filter(|q| !matches!(q.subject, NamedOrBlankNode::BlankNode(_)))
    {
        assert!(
            all.iter()
                .any(|a| a.predicate == q.predicate && a.object == q.object && a.graph_name == q.graph_name),
            "{q} was not kept as it was given"
        );
    }
    let import = GraphName::from(iri("import"));
    let in_import = ok(
        store.quads_for_pattern(QuadPattern {
            graph: Some(&import),
            ..QuadPattern::default()
        }),
        "read a named graph",
    );
    assert_eq!(in_import.len(), 1);
}

/// Reads match on every position of a pattern, alone and together.
pub fn patterns_match_each_position(store: &dyn GraphStore) {
    load(
        store,
        &[
            quad("d1", "board", iri("nano"), None),
            quad("d2", "board", iri("nano"), None),
            quad("d2", "status", iri("online"), None),
            quad("d3", "board", iri("esp32"), Some("g")),
        ],
    );
    let board = iri("board");
    let nano = Term::from(iri("nano"));
    let d2 = NamedOrBlankNode::from(iri("d2"));
    let default = GraphName::DefaultGraph;
    let read = |pattern| ok(store.quads_for_pattern(pattern), "read");
    assert_eq!(
        read(QuadPattern {
            predicate: Some(&board),
            ..QuadPattern::default()
        })
        .len(),
        3
    );
    assert_eq!(
        read(QuadPattern {
            predicate: Some(&board),
            object: Some(&nano),
            ..QuadPattern::default()
        })
        .len(),
        2
    );
    assert_eq!(
        read(QuadPattern {
            subject: Some(&d2),
            ..QuadPattern::default()
        })
        .len(),
        2
    );
    assert_eq!(
        read(QuadPattern {
            predicate: Some(&board),
            graph: Some(&default),
            ..QuadPattern::default()
        })
        .len(),
        2
    );
}

/// Replacing a named graph removes what it held, adds the new content in that graph whatever
/// graph the new quads named, adds the seed as it is, and leaves other graphs alone.
pub fn replacing_a_graph_is_exact(store: &dyn GraphStore) {
    load(
        store,
        &[
            quad("old", "p", iri("x"), Some("import")),
            quad("keep", "p", iri("y"), Some("other")),
            quad("keep", "p", iri("z"), None),
        ],
    );
    let graph = iri("import");
    let seed = [quad("seed", "p", iri("s"), None)];
    let new = [quad("new", "p", iri("n"), None)];
    ok(
        store.commit(Commit::ReplaceGraph {
            graph: &graph,
            seed: &[&seed],
            parts: &[&new],
        }),
        "replace a graph",
    );
    assert_eq!(
        count(
            store,
            "SELECT * WHERE { GRAPH <http://example.org/import> { ?s ?p ?o } }"
        ),
        1
    );
    assert_eq!(
        count(
            store,
            "SELECT * WHERE { GRAPH <http://example.org/import> { <http://example.org/new> ?p ?o } }"
        ),
        1
    );
    assert_eq!(
        count(
            store,
            "SELECT * WHERE { GRAPH <http://example.org/other> { ?s ?p ?o } }"
        ),
        1
    );
    assert_eq!(ok(store.len(), "len"), 4);
}

/// A change set deletes, then inserts, atomically; deleting what is absent is no error.
pub fn change_sets_delete_then_insert(store: &dyn GraphStore) {
    load(store, &[quad("d", "status", iri("online"), None)]);
    let before = store.version();
    let changes = ChangeSet {
        delete: vec![
            quad("d", "status", iri("online"), None),
            quad("d", "never", iri("there"), None),
        ],
        insert: vec![quad("d", "status", iri("offline"), None)],
    };
    ok(store.apply(&changes), "apply");
    assert!(store.version() != before, "a change set must change the version");
    let rows = select(
        store,
        "SELECT ?o WHERE { <http://example.org/d> <http://example.org/status> ?o }",
    );
    assert_eq!(rows, vec![vec![Some(Term::from(iri("offline")))]]);
    let unchanged = store.version();
    ok(store.apply(&ChangeSet::default()), "apply nothing");
    assert_eq!(store.version(), unchanged, "an empty change set changes nothing");
}

/// A draft reads the store through its own changes, and its change set says exactly those.
pub fn drafts_read_their_own_writes(store: &dyn GraphStore) {
    load(store, &[quad("d", "status", iri("online"), None)]);
    let (d, status) = (iri("d"), iri("status"));
    let mut draft = Draft::new(store);
    assert!(draft.has(&d, &status, Some(&iri("online").into())));
    draft.set(&d, &status, iri("offline"));
    assert_eq!(draft.objects(&d, &status), vec![Term::from(iri("offline"))]);
    draft.add(&d, &iri("board"), iri("nano"));
    draft.remove(&quad("d", "board", iri("nano"), None));
    assert!(!draft.has(&d, &iri("board"), None));
    let changes = ok(draft.finish(), "finish");
    assert_eq!(changes.insert, vec![quad("d", "status", iri("offline"), None)]);
    assert!(changes.delete.contains(&quad("d", "status", iri("online"), None)));
    assert!(!store
        .quads_for_pattern(QuadPattern::default())
        .is_ok_and(|q| q.len() != 1));
    ok(store.apply(&changes), "apply");
    assert_eq!(
        count(
            store,
            "SELECT * WHERE { ?s <http://example.org/status> <http://example.org/offline> }"
        ),
        1
    );
}

/// The default graph of a query is the union of all graphs unless it names its dataset.
pub fn the_default_graph_is_the_union(store: &dyn GraphStore) {
    load(
        store,
        &[quad("a", "p", iri("x"), None), quad("b", "p", iri("y"), Some("g"))],
    );
    assert_eq!(count(store, "SELECT * WHERE { ?s <http://example.org/p> ?o }"), 2);
    assert_eq!(
        count(
            store,
            "SELECT * FROM <http://example.org/g> WHERE { ?s <http://example.org/p> ?o }"
        ),
        1
    );
}

/// Answers are bounded: more rows than allowed is an error, not a silent truncation; a
/// cancelled evaluation stops with an error.
pub fn answers_are_bounded_and_cancellable(store: &dyn GraphStore) {
    let quads: Vec<Quad> = (0..50)
        .map(|i| quad(&format!("s{i}"), "p", Literal::from(i), None))
        .collect();
    load(store, &quads);
    let query = |text: &str| ok(spargebra::SparqlParser::new().parse_query(text), "parses");
    let mut run = Evaluation::unbounded();
    run.max_rows = 10;
    match store.query(query("SELECT * WHERE { ?s ?p ?o }"), &run) {
        Err(QueryError::TooLarge(10)) => {}
        other => panic!("expected TooLarge(10), got {other:?}"),
    }
    let cancelled = Evaluation::unbounded();
    cancelled.cancel.cancel();
    let heavy = "SELECT (COUNT(*) AS ?n) WHERE { ?a ?p ?b . ?c ?q ?d . ?e ?r ?f }";
    assert!(
        store.query(query(heavy), &cancelled).is_err(),
        "a cancelled query must not answer"
    );
}

/// An update writes all of itself and changes the version; a cancelled one writes nothing.
pub fn updates_are_atomic(store: &dyn GraphStore) {
    let before = store.version();
    let update = |text: &str| ok(spargebra::SparqlParser::new().parse_update(text), "parses");
    ok(
        store.update(
            update("INSERT DATA { <http://example.org/a> <http://example.org/p> 1 . <http://example.org/b> <http://example.org/p> 2 }"),
            &Evaluation::unbounded(),
        ),
        "update",
    );
    assert_eq!(ok(store.len(), "len"), 2);
    assert!(store.version() != before);
    let cancelled = Evaluation::unbounded();
    cancelled.cancel.cancel();
    let _ = store.update(
        update("INSERT { ?s <http://example.org/q> ?o } WHERE { ?s ?p ?o . ?a ?b ?c . ?d ?e ?f }"),
        &cancelled,
    );
    assert_eq!(ok(store.len(), "len"), 2, "a cancelled update must write nothing");
}

/// Writers on several threads all land, none lost.
pub fn concurrent_change_sets_all_land(store: &dyn GraphStore) {
    std::thread::scope(|scope| {
        for t in 0..4 {
            scope.spawn(move || {
                for i in 0..25 {
                    let changes = ChangeSet {
                        delete: Vec::new(),
                        insert: vec![quad(&format!("t{t}-{i}"), "p", Literal::from(i), None)],
                    };
                    ok(store.apply(&changes), "apply");
                }
            });
        }
    });
    assert_eq!(ok(store.len(), "len"), 100);
}

/// A checked commit of `size` quads writes nothing when its check says no and everything when it
/// says yes; the check reads the store as it was before the write.
pub fn checked_commits_of(store: &dyn GraphStore, size: usize) {
    load(store, &[quad("before", "p", Literal::from(0), None)]);
    let quads: Vec<Quad> = (0..size)
        .map(|i| quad(&format!("s{size}-{i}"), "p", Literal::from(i as i64), None))
        .collect();
    let parts: Vec<&[Quad]> = vec![quads.as_slice()];
    let before = ok(store.len(), "len");
    let seen = std::sync::Mutex::new(0usize);
    let refuse = || -> Result<bool, crate::error::StoreError> {
        *seen.lock().unwrap_or_else(|p| p.into_inner()) = store.len()?;
        Ok(false)
    };
    let wrote = ok(
        store.commit_checked(Commit::Load { parts: &parts }, &refuse),
        "checked commit",
    );
    assert!(!wrote, "a no must be answered as not written");
    assert_eq!(ok(store.len(), "len"), before, "a no must write nothing ({size} quads)");
    assert_eq!(
        *seen.lock().unwrap_or_else(|p| p.into_inner()),
        before,
        "the check reads the store before the write"
    );
    let accept = || -> Result<bool, crate::error::StoreError> { Ok(true) };
    let wrote = ok(
        store.commit_checked(Commit::Load { parts: &parts }, &accept),
        "checked commit",
    );
    assert!(wrote);
    assert_eq!(ok(store.len(), "len"), before + size, "a yes writes all ({size} quads)");
}

/// [`checked_commits_of`] three quads.
pub fn checked_commits_write_only_after_a_yes(store: &dyn GraphStore) {
    checked_commits_of(store, 3);
}

/// Runs the whole conformance suite of [`GraphStore`] as tests in a module `$name`, each on a
/// fresh store from `$make` (a closure returning a `GraphStore`).
#[macro_export]
macro_rules! graph_store_conformance {
    (@tests $($check:ident),*) => {
        $(
            #[test]
            fn $check() {
                suite::$check(&fresh());
            }
        )*
    };
    ($name:ident, $make:expr) => {
        mod $name {
            #[allow(unused_imports)]
            use super::*;
            use $crate::store::conformance as suite;

            fn fresh() -> impl $crate::store::GraphStore {
                ($make)()
            }

            $crate::graph_store_conformance!(@tests
                starts_empty,
                loads_keep_terms_and_graphs,
                patterns_match_each_position,
                replacing_a_graph_is_exact,
                change_sets_delete_then_insert,
                drafts_read_their_own_writes,
                the_default_graph_is_the_union,
                answers_are_bounded_and_cancellable,
                updates_are_atomic,
                concurrent_change_sets_all_land,
                checked_commits_write_only_after_a_yes
            );
        }
    };
}
