//! The store conformance suite, run against every implementation SEAM has: the embedded store
//! in memory and on RocksDB, and the remote store on Oxigraph server and on Virtuoso.

use oxigraph::model::Quad;
use seam_registry::answer::QueryAnswer;
use seam_registry::error::{QueryError, StoreError};
use seam_registry::store::{ChangeSet, Commit, EmbeddedStore, Evaluation, GraphStore, QuadPattern};

seam_registry::graph_store_conformance!(embedded_in_memory, || EmbeddedStore::in_memory().unwrap());

seam_registry::graph_store_conformance!(embedded_on_rocksdb, || {
    // The folder outlives the store handle only as long as the test: leaked on purpose, in
    // the system's temporary folder, so that each test has a fresh RocksDB of its own.
    let dir = tempfile::tempdir().unwrap().keep();
    EmbeddedStore::open(&dir).unwrap()
});

seam_registry::graph_store_conformance!(embedded_on_rocksdb_with_a_replica, || {
    let dir = tempfile::tempdir().unwrap().keep();
    EmbeddedStore::open_with_replica(&dir, 1_000_000).unwrap()
});

/// A checked bulk load large enough for the embedded store to load it in several batches on
/// several threads while the check runs (250,000 quads): a no leaves RocksDB and the replica as
/// they were, a yes writes it all.
#[test]
fn a_checked_bulk_load_in_several_batches_writes_only_after_a_yes() {
    let dir = tempfile::tempdir().unwrap();
    seam_registry::store::conformance::checked_commits_of(
        &EmbeddedStore::open(&dir.path().join("a")).unwrap(),
        250_000,
    );
    let replicated = EmbeddedStore::open_with_replica(&dir.path().join("b"), 1_000_000).unwrap();
    seam_registry::store::conformance::checked_commits_of(&replicated, 250_000);
    assert_eq!(replicated.quads_on_disk().unwrap().len(), replicated.len().unwrap());
}

/// The replica in memory of a store on RocksDB: every kind of write leaves it holding what
/// RocksDB holds, concurrent writers included, and past its bound it gives way to RocksDB.
mod replica {
    use oxigraph::model::{BlankNode, GraphName, Literal, NamedNode, Quad, Term};
    use seam_registry::store::{ChangeSet, Commit, EmbeddedStore, Evaluation, GraphStore, QuadPattern};

    fn iri(s: &str) -> NamedNode {
        NamedNode::new(s).unwrap()
    }

    fn sorted(mut quads: Vec<Quad>) -> Vec<String> {
        let mut text: Vec<String> = quads.drain(..).map(|q| q.to_string()).collect();
        text.sort();
        text
    }

    /// What queries see is what RocksDB holds.
    fn agree(store: &EmbeddedStore) -> Vec<String> {
        assert!(store.has_replica());
        let seen = sorted(store.quads_for_pattern(QuadPattern::default()).unwrap());
        assert_eq!(seen, sorted(store.quads_on_disk().unwrap()));
        assert_eq!(store.len().unwrap(), seen.len());
        seen
    }

    fn update(store: &EmbeddedStore, text: &str) {
        let parsed = spargebra::SparqlParser::new().parse_update(text).unwrap();
        store.update(parsed, &Evaluation::unbounded()).unwrap();
    }

    #[test]
    fn every_kind_of_write_leaves_the_replica_holding_what_rocksdb_holds() {
        let dir = tempfile::tempdir().unwrap();
        let store = EmbeddedStore::open_with_replica(dir.path(), 1_000_000).unwrap();
        let (p, g) = (iri("urn:p"), iri("urn:g"));
        let b = BlankNode::default();
        let loaded = vec![
            Quad::new(iri("urn:a"), p.clone(), Literal::from(1), GraphName::DefaultGraph),
            Quad::new(b.clone(), p.clone(), Literal::from("x"), GraphName::DefaultGraph),
            Quad::new(iri("urn:b"), p.clone(), Term::from(b), g.clone()),
        ];
        store.commit(Commit::Load { parts: &[&loaded] }).unwrap();
        assert_eq!(agree(&store).len(), 3);
        let replacement = [Quad::new(
            iri("urn:c"),
            p.clone(),
            Literal::from(2),
            GraphName::DefaultGraph,
        )];
        store
            .commit(Commit::ReplaceGraph {
                graph: &g,
                seed: &[],
                parts: &[&replacement],
            })
            .unwrap();
        agree(&store);
        let h = iri("urn:h");
        store
            .commit(Commit::ReplaceGraphs {
                seed: &[&loaded[..1]],
                graphs: &[(&g, &loaded[..2]), (&h, &replacement)],
            })
            .unwrap();
        agree(&store);
        store
            .apply(&ChangeSet {
                delete: vec![loaded[0].clone()],
                insert: vec![Quad::new(
                    iri("urn:d"),
                    p.clone(),
                    Literal::from(3),
                    GraphName::DefaultGraph,
                )],
            })
            .unwrap();
        agree(&store);
        // Updates the replica repeats, and ones whose quads only RocksDB's run knows (made
        // blank nodes, UUIDs, the time): after each, the two agree.
        for text in [
            "DELETE { ?s <urn:p> ?o } INSERT { ?s <urn:q> ?o } WHERE { ?s <urn:p> ?o FILTER(isLiteral(?o)) }",
            "INSERT { ?s <urn:id> ?id } WHERE { ?s <urn:q> ?o BIND(STRUUID() AS ?id) }",
            "INSERT { ?s <urn:at> ?t } WHERE { ?s <urn:q> ?o BIND(NOW() AS ?t) }",
            "INSERT { [] <urn:made-from> ?s } WHERE { ?s <urn:q> ?o }",
            "INSERT DATA { _:x <urn:p> 4 . GRAPH <urn:g> { <urn:e> <urn:p> 5 } }",
            "CLEAR GRAPH <urn:h>",
            "DELETE WHERE { ?s <urn:at> ?t }",
        ] {
            update(&store, text);
            agree(&store);
        }
        // A replica made anew from the same folder holds the same.
        let before = agree(&store);
        drop(store);
        let again = EmbeddedStore::open_with_replica(dir.path(), 1_000_000).unwrap();
        assert_eq!(agree(&again), before);
    }

    #[test]
    fn concurrent_writers_leave_the_replica_holding_what_rocksdb_holds() {
        let dir = tempfile::tempdir().unwrap();
        let store = EmbeddedStore::open_with_replica(dir.path(), 1_000_000).unwrap();
        let writers: Vec<_> = (0..4)
            .map(|w| {
                let store = store.clone();
                std::thread::spawn(move || {
                    // Each writer moves one shared subject's value back and forth and adds its
                    // own: the order the writes land in decides what is left.
                    for i in 0..50 {
                        let shared = |v: i64| {
                            Quad::new(
                                iri("urn:shared"),
                                iri("urn:v"),
                                Literal::from(v),
                                GraphName::DefaultGraph,
                            )
                        };
                        store
                            .apply(&ChangeSet {
                                delete: (0..4).map(|k| shared(k * 100 + i - 1)).collect(),
                                insert: vec![
                                    shared(w * 100 + i),
                                    Quad::new(
                                        iri(&format!("urn:w{w}")),
                                        iri("urn:n"),
                                        Literal::from(i),
                                        GraphName::DefaultGraph,
                                    ),
                                ],
                            })
                            .unwrap();
                        if i % 10 == 0 {
                            let parsed = spargebra::SparqlParser::new()
                                .parse_update(&format!("DELETE WHERE {{ <urn:w{w}> <urn:n> ?n }}"))
                                .unwrap();
                            store.update(parsed, &Evaluation::unbounded()).unwrap();
                        }
                    }
                })
            })
            .collect();
        for w in writers {
            w.join().unwrap();
        }
        assert!(agree(&store).len() >= 4);
    }

    /// Waits for the copy made beside the replica to take its place, as its `made`-th.
    fn made_again(store: &EmbeddedStore, made: u64) {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
        while store.replica_made() < made || store.replica_copy_in_progress() {
            assert!(std::time::Instant::now() < deadline, "the replica was not made again");
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
        assert_eq!(store.replica_made(), made);
    }

    #[test]
    fn writes_made_while_the_replica_is_copied_beside_it_are_kept() {
        // The copy reads a snapshot of RocksDB on a thread of its own; check-ins, a SPARQL
        // update and a change of a device's sensors go on meanwhile, into RocksDB, the replica
        // and the copy's journal, and the copy that takes the replica's place holds them all.
        let dir = tempfile::tempdir().unwrap();
        let store = EmbeddedStore::open_with_replica(dir.path(), 1_000_000).unwrap();
        let quad = |s: String, p: &str, o: Term| Quad::new(iri(&s), iri(p), o, GraphName::DefaultGraph);
        let devices = 20_000;
        let fleet: Vec<Quad> = (0..devices)
            .map(|d| quad(format!("urn:device{d}"), "urn:lastSeen", Literal::from(0).into()))
            .collect();
        store
            .apply(&ChangeSet {
                delete: Vec::new(),
                insert: fleet.clone(),
            })
            .unwrap();
        // One check-in of the whole fleet: 20,000 replaced quads, past the bound.
        let seen = |d: usize, at: i64| quad(format!("urn:device{d}"), "urn:lastSeen", Literal::from(at).into());
        store
            .apply(&ChangeSet {
                delete: fleet,
                insert: (0..devices).map(|d| seen(d, 1)).collect(),
            })
            .unwrap();
        let mut during = 0;
        let mut round = 1;
        let mut last = vec![1_i64; 100];
        while store.replica_copy_in_progress() && round < 5_000 {
            round += 1;
            let d = round % 100;
            let now = 1000 + round as i64;
            store
                .apply(&ChangeSet {
                    delete: vec![seen(d, last[d])],
                    insert: vec![seen(d, now)],
                })
                .unwrap();
            last[d] = now;
            if round == 50 {
                update(
                    &store,
                    "INSERT DATA { <urn:device7> <urn:hasSensor> <urn:device7/sensor/3303-0> }",
                );
            }
            during += usize::from(store.replica_copy_in_progress());
        }
        assert!(during > 50, "only {during} writes were made while the copy was made");
        made_again(&store, 2);
        let held = agree(&store);
        assert_eq!(held.len(), devices + 1);
        assert!(held.iter().any(|q| q.contains("<urn:device7/sensor/3303-0>")));
        for (d, at) in last.iter().enumerate() {
            let quad = seen(d, *at).to_string();
            assert!(held.contains(&quad), "{quad} missing");
        }
    }

    #[test]
    fn a_fleet_checking_in_makes_the_replica_let_go_of_what_it_removed() {
        // Oxigraph's in-memory store keeps every quad removed from it; each check-in replaces a
        // device's last-seen time. Past 16,384 replaced quads (the bound for a small store) the
        // replica is made again from RocksDB, holding what RocksDB holds.
        let dir = tempfile::tempdir().unwrap();
        let store = EmbeddedStore::open_with_replica(dir.path(), 1_000_000).unwrap();
        assert_eq!(store.replica_made(), 1);
        let seen = |device: usize, at: i64| {
            Quad::new(
                iri(&format!("urn:device{device}")),
                iri("urn:lastSeen"),
                Literal::from(at),
                GraphName::DefaultGraph,
            )
        };
        let devices = 500;
        let first = (0..devices).map(|d| seen(d, 0)).collect();
        store
            .apply(&ChangeSet {
                delete: Vec::new(),
                insert: first,
            })
            .unwrap();
        let check_in = |round: i64| ChangeSet {
            delete: (0..devices).map(|d| seen(d, round - 1)).collect(),
            insert: (0..devices).map(|d| seen(d, round)).collect(),
        };
        // 32 rounds: 16,000 replaced, under the bound.
        for round in 1..=32 {
            store.apply(&check_in(round)).unwrap();
        }
        assert_eq!(store.replica_made(), 1, "made again before the bound");
        for round in 33..=34 {
            store.apply(&check_in(round)).unwrap();
        }
        made_again(&store, 2);
        let held = agree(&store);
        assert_eq!(held.len(), devices);
        assert!(
            held.iter()
                .all(|q| q.ends_with("\"34\"^^<http://www.w3.org/2001/XMLSchema#integer>")),
            "{held:?}"
        );
        // Written after it was made again, it takes writes as before.
        store.apply(&check_in(35)).unwrap();
        assert_eq!(agree(&store).len(), devices);
        assert_eq!(store.replica_made(), 2);
    }

    #[test]
    fn past_its_bound_the_replica_gives_way_to_rocksdb() {
        let dir = tempfile::tempdir().unwrap();
        let store = EmbeddedStore::open_with_replica(dir.path(), 10).unwrap();
        assert!(store.has_replica());
        let quads: Vec<Quad> = (0..20)
            .map(|i| {
                Quad::new(
                    iri(&format!("urn:s{i}")),
                    iri("urn:p"),
                    Literal::from(i),
                    GraphName::DefaultGraph,
                )
            })
            .collect();
        store.commit(Commit::Load { parts: &[&quads] }).unwrap();
        assert!(!store.has_replica());
        assert_eq!(store.len().unwrap(), 20);
        assert_eq!(store.quads_for_pattern(QuadPattern::default()).unwrap().len(), 20);
        // Reopened past the bound: no replica; with a larger bound: one again.
        drop(store);
        assert!(!EmbeddedStore::open_with_replica(dir.path(), 10).unwrap().has_replica());
        assert!(EmbeddedStore::open_with_replica(dir.path(), 100).unwrap().has_replica());
    }
}

/// A remote store and the engine it runs on, which lives as long as the store.
#[derive(Debug)]
struct OnPeer {
    store: seam_registry::store::RemoteStore,
    _peer: PeerHandle,
}

struct PeerHandle(crate::peers::Peer);

impl std::fmt::Debug for PeerHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0.query_url)
    }
}

fn on(peer: crate::peers::Peer) -> OnPeer {
    OnPeer {
        store: peer.store(),
        _peer: PeerHandle(peer),
    }
}

impl GraphStore for OnPeer {
    fn query(&self, query: spargebra::Query, run: &Evaluation) -> Result<QueryAnswer, QueryError> {
        self.store.query(query, run)
    }
    fn update(&self, update: spargebra::Update, run: &Evaluation) -> Result<(), QueryError> {
        self.store.update(update, run)
    }
    fn commit(&self, commit: Commit<'_>) -> Result<(), StoreError> {
        self.store.commit(commit)
    }
    fn apply(&self, changes: &ChangeSet) -> Result<(), StoreError> {
        self.store.apply(changes)
    }
    fn quads_for_pattern(&self, pattern: QuadPattern<'_>) -> Result<Vec<Quad>, StoreError> {
        self.store.quads_for_pattern(pattern)
    }
    fn len(&self) -> Result<usize, StoreError> {
        self.store.len()
    }
    fn is_empty(&self) -> Result<bool, StoreError> {
        self.store.is_empty()
    }
    fn version(&self) -> u64 {
        self.store.version()
    }
}

seam_registry::graph_store_conformance!(oxigraph_server, || on(crate::peers::oxigraph()));

seam_registry::graph_store_conformance!(virtuoso, || on(crate::peers::virtuoso()));

mod remote {
    //! What the remote store does beyond the suite: engines' limits, writes too large for one
    //! request, a store that refuses or disappears.

    use std::time::Duration;

    use oxigraph::model::{BlankNode, GraphName, Literal, NamedNode, Quad, Term};
    use seam_registry::answer::QueryAnswer;
    use seam_registry::error::{QueryError, StoreError};
    use seam_registry::store::{ChangeSet, Commit, Evaluation, GraphStore, QuadPattern, RemoteConfig, RemoteStore};

    use crate::peers;

    fn iri(local: &str) -> NamedNode {
        NamedNode::new_unchecked(format!("http://example.org/{local}"))
    }

    /// `n` quads `<s{i}> <p> i`, every tenth with a blank node object and its own triple.
    fn quads(n: usize, graph: &GraphName) -> Vec<Quad> {
        let mut out = Vec::new();
        for i in 0..n {
            if i % 10 == 0 {
                let b = BlankNode::default();
                out.push(Quad::new(iri(&format!("s{i}")), iri("p"), b.clone(), graph.clone()));
                out.push(Quad::new(b, iri("kind"), Literal::from(i as i64), graph.clone()));
            } else {
                out.push(Quad::new(
                    iri(&format!("s{i}")),
                    iri("p"),
                    Literal::from(i as i64),
                    graph.clone(),
                ));
            }
        }
        out
    }

    fn select(store: &RemoteStore, text: &str) -> Result<Vec<Vec<Option<Term>>>, QueryError> {
        let query = spargebra::SparqlParser::new().parse_query(text).unwrap();
        match store.query(query, &Evaluation::unbounded())? {
            QueryAnswer::Solutions { rows, .. } => Ok(rows),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn virtuoso_answers_beyond_its_cut_off_are_read_page_by_page() {
        let peer = peers::virtuoso_with(1_000);
        let store = peer.store();
        let quads = quads(2_500, &GraphName::DefaultGraph);
        store.commit(Commit::Load { parts: &[&quads] }).unwrap();
        assert_eq!(store.len().unwrap(), quads.len());
        let rows = select(&store, "SELECT ?s ?o WHERE { ?s <http://example.org/p> ?o }").unwrap();
        assert_eq!(rows.len(), 2_500, "every row, past the engine's 1,000");
        let read = store.quads_for_pattern(QuadPattern::default()).unwrap();
        assert_eq!(read.len(), quads.len());
        // Blank nodes come back as the blank nodes they were, joined to their own triples.
        let blank = read
            .iter()
            .find(|q| matches!(q.object, Term::BlankNode(_)))
            .expect("a blank node read back");
        let Term::BlankNode(b) = &blank.object else {
            unreachable!()
        };
        assert!(read.iter().any(|q| q.subject == b.clone().into()));
        // Its own LIMIT cannot be paged: a clear refusal, not a short answer.
        let error = select(&store, "SELECT ?s WHERE { ?s <http://example.org/p> ?o } LIMIT 2000").unwrap_err();
        assert!(error.to_string().contains("ResultSetMaxRows"), "{error}");
        // An answer under the cut-off is not paged.
        assert_eq!(
            select(&store, "SELECT ?s WHERE { ?s <http://example.org/kind> ?o }")
                .unwrap()
                .len(),
            250
        );
    }

    fn staged_writes_are_whole(store: &RemoteStore) {
        let g = iri("g");
        let quads = quads(1_000, &GraphName::NamedNode(g.clone()));
        store.commit(Commit::Load { parts: &[&quads] }).unwrap();
        assert_eq!(store.len().unwrap(), 1_100);
        // A staged replacement of the graph: exactly the new content.
        let fresh = quads_in(&g, 300);
        store
            .commit(Commit::ReplaceGraph {
                graph: &g,
                seed: &[],
                parts: &[&fresh],
            })
            .unwrap();
        assert_eq!(store.len().unwrap(), 330);
        // A staged change set: its deletions (blank nodes among them), then its insertions.
        let now = store
            .quads_for_pattern(QuadPattern {
                graph: Some(&GraphName::NamedNode(g.clone())),
                ..QuadPattern::default()
            })
            .unwrap();
        let changes = ChangeSet {
            delete: now,
            insert: quads_in(&iri("h"), 150),
        };
        store.apply(&changes).unwrap();
        assert_eq!(store.len().unwrap(), 165);
        let graphs = select(store, "SELECT DISTINCT ?g WHERE { GRAPH ?g { ?s ?p ?o } }").unwrap();
        assert!(
            graphs.iter().all(|r| !format!("{r:?}").contains("urn:seam:staging:")),
            "no staging graph is left: {graphs:?}"
        );
    }

    fn quads_in(g: &NamedNode, n: usize) -> Vec<Quad> {
        quads(n, &GraphName::NamedNode(g.clone()))
    }

    #[test]
    fn oxigraph_server_takes_writes_larger_than_one_request_whole() {
        let peer = peers::oxigraph();
        staged_writes_are_whole(&peer.store_with(|c| c.max_quads_per_request = Some(100)));
    }

    #[test]
    fn virtuoso_takes_writes_larger_than_one_request_whole() {
        let peer = peers::virtuoso();
        staged_writes_are_whole(&peer.store_with(|c| c.max_quads_per_request = Some(100)));
    }

    fn refused_halfway_leaves_nothing(peer: &peers::Peer) {
        let store = peer.store();
        let before = quads_in(&iri("kept"), 10);
        store.commit(Commit::Load { parts: &[&before] }).unwrap();
        let count = store.len().unwrap();
        // Through an intermediary that refuses the third update: the third chunk of a write
        // staged in chunks of 100.
        let proxy = peers::refusing(peer, 3);
        let mut config = RemoteConfig::new(&proxy.query_url);
        config.max_quads_per_request = Some(100);
        config.engine = store.engine().kind;
        let through = RemoteStore::connect(config).unwrap();
        let load = quads(1_000, &GraphName::DefaultGraph);
        let error = through.commit(Commit::Load { parts: &[&load] }).unwrap_err();
        assert!(matches!(error, StoreError::Refused { .. }), "{error}");
        assert_eq!(store.len().unwrap(), count, "the refused load left nothing behind");
        let graphs = select(&store, "SELECT DISTINCT ?g WHERE { GRAPH ?g { ?s ?p ?o } }").unwrap();
        assert!(
            graphs.iter().all(|r| !format!("{r:?}").contains("urn:seam:staging:")),
            "{graphs:?}"
        );
        // A write small enough for one request is refused whole too.
        let proxy = peers::refusing(peer, 1);
        let mut config = RemoteConfig::new(&proxy.query_url);
        config.engine = store.engine().kind;
        let through = RemoteStore::connect(config).unwrap();
        assert!(through.commit(Commit::Load { parts: &[&load[..50]] }).is_err());
        assert_eq!(store.len().unwrap(), count);
    }

    #[test]
    fn a_load_oxigraph_server_refuses_halfway_leaves_its_count_unchanged() {
        refused_halfway_leaves_nothing(&peers::oxigraph());
    }

    #[test]
    fn a_load_virtuoso_refuses_halfway_leaves_its_count_unchanged() {
        refused_halfway_leaves_nothing(&peers::virtuoso());
    }

    #[test]
    fn a_store_that_is_gone_is_unavailable_and_one_that_never_was_does_not_open() {
        let mut peer = peers::oxigraph();
        let store = peer.store();
        store
            .commit(Commit::Load {
                parts: &[&quads(5, &GraphName::DefaultGraph)],
            })
            .unwrap();
        peer.kill();
        let error = select(&store, "SELECT * WHERE { ?s ?p ?o }").unwrap_err();
        assert!(
            matches!(error, QueryError::Store(StoreError::Unavailable { .. })),
            "{error:?}"
        );
        let error = store.len().unwrap_err();
        assert!(matches!(error, StoreError::Unavailable { .. }), "{error:?}");
        let mut config = RemoteConfig::new(peer.query_url.clone());
        config.request_timeout = Duration::from_secs(2);
        let error = RemoteStore::connect(config).unwrap_err();
        assert!(error.to_string().contains("cannot be reached"), "{error}");
        // The store comes back where it was: the same handle reaches it, no restart.
        let port = reqwest::Url::parse(&peer.query_url).unwrap().port().unwrap();
        let _back = peers::oxigraph_on(port);
        assert_eq!(store.len().unwrap(), 0);
        store
            .commit(Commit::Load {
                parts: &[&quads(5, &GraphName::DefaultGraph)],
            })
            .unwrap();
        assert_eq!(store.len().unwrap(), 6);
    }

    #[test]
    fn another_instances_writes_move_the_version_within_the_staleness() {
        let peer = peers::oxigraph();
        let a = peer.store();
        let b = peer.store();
        let seen = b.version();
        a.commit(Commit::Load {
            parts: &[&quads(3, &GraphName::DefaultGraph)],
        })
        .unwrap();
        let deadline = std::time::Instant::now() + Duration::from_secs(5);
        while b.version() == seen {
            assert!(std::time::Instant::now() < deadline, "B never saw A's write");
            std::thread::sleep(Duration::from_millis(50));
        }
        // Its own writes are not counted twice once the watch reads them back.
        let own = a.version();
        std::thread::sleep(Duration::from_millis(600));
        assert_eq!(a.version(), own);
    }

    /// A device checking in with one instance moves the other's version, not its description's;
    /// a description written by one moves both of the other's.
    #[test]
    fn another_instances_check_ins_leave_the_description_version() {
        let peer = peers::oxigraph();
        let a = peer.store();
        let b = peer.store();
        let device = NamedNode::new_unchecked("https://w3id.org/seam/device/line-1");
        let fact = |local: &str, value: i64| {
            Quad::new(
                device.clone(),
                NamedNode::new_unchecked(format!("https://w3id.org/seam/ontology#{local}")),
                Literal::from(value),
                GraphName::DefaultGraph,
            )
        };
        let moved = |version: &dyn Fn() -> u64, from: u64, what: &str| {
            let deadline = std::time::Instant::now() + Duration::from_secs(5);
            while version() == from {
                assert!(std::time::Instant::now() < deadline, "B never saw {what}");
                std::thread::sleep(Duration::from_millis(50));
            }
        };
        let (seen, described) = (b.version(), b.described_version());
        let check_in = ChangeSet {
            delete: Vec::new(),
            insert: vec![fact("lastSeen", 1)],
        };
        assert!(!check_in.describes());
        a.apply(&check_in).unwrap();
        moved(&|| b.version(), seen, "the check-in");
        // Two watch periods more: the description's version stays.
        std::thread::sleep(Duration::from_millis(600));
        assert_eq!(b.described_version(), described);

        let description = ChangeSet {
            delete: Vec::new(),
            insert: vec![fact("freeRamBytes", 2048)],
        };
        assert!(description.describes());
        a.apply(&description).unwrap();
        moved(&|| b.described_version(), described, "the description");
        // A's own writes moved both of its versions once each.
        let (own, own_described) = (a.version(), a.described_version());
        std::thread::sleep(Duration::from_millis(600));
        assert_eq!((a.version(), a.described_version()), (own, own_described));
    }
}

mod virtuoso_limits {
    use seam_registry::answer::QueryAnswer;
    use seam_registry::error::QueryError;
    use seam_registry::store::{Evaluation, GraphStore};

    /// A query Virtuoso stops at its MaxQueryExecutionTime is an error naming the setting, never
    /// the partial answer Virtuoso sends (its "anytime" rows).
    #[test]
    fn a_query_stopped_at_the_engines_time_limit_is_an_error_not_a_partial_answer() {
        // The cost estimate's limit far above anything: the default (400 s) refused this query
        // by its estimate (464 s) once on a loaded machine, before the time limit was reached.
        let peer = crate::peers::virtuoso_configured(10_000_000, 1, 1_000_000);
        let store = peer.store();
        // Virtuoso's own graphs hold 2,500 triples: their cube is 15 billion rows to count.
        let query = spargebra::SparqlParser::new()
            .parse_query("SELECT (COUNT(*) AS ?n) WHERE { ?a ?b ?c . ?d ?e ?f . ?g ?h ?i }")
            .unwrap();
        match store.query(query, &Evaluation::unbounded()) {
            Err(QueryError::Evaluation(m)) => assert!(m.contains("MaxQueryExecutionTime"), "{m}"),
            Err(other) => panic!("{other:?}"),
            Ok(QueryAnswer::Solutions { rows, .. }) => panic!("a partial answer was taken: {rows:?}"),
            Ok(other) => panic!("{other:?}"),
        }
    }

    /// A query Virtuoso refuses by its cost estimate (MaxQueryCostEstimationTime) is an error
    /// naming the setting, and the service answers it with a 400 problem that says so.
    #[test]
    fn a_query_refused_by_the_engines_cost_estimate_names_the_setting() {
        let peer = crate::peers::virtuoso_configured(10_000, 60, 1);
        let store = peer.store();
        let cube = "SELECT (COUNT(*) AS ?n) WHERE { ?a ?b ?c . ?d ?e ?f . ?g ?h ?i . ?j ?k ?l }";
        let query = spargebra::SparqlParser::new().parse_query(cube).unwrap();
        match store.query(query, &Evaluation::unbounded()) {
            Err(QueryError::Evaluation(m)) => {
                assert!(m.contains("MaxQueryCostEstimationTime"), "{m}");
                assert!(m.contains("estimated execution time"), "{m}");
            }
            other => panic!("{other:?}"),
        }
        // The same through the service (which seeds the store and reads its fleet index within
        // the estimate), and a query the estimate lets through still answers.
        let mut settings = seam_registry::app::Settings::ephemeral("");
        settings.coap = None;
        settings.service.workers = 1;
        settings.store = Some(seam_registry::store::RemoteConfig::new(peer.query_url.clone()));
        let (addr, _) = crate::helpers::start_application(settings);
        let client = reqwest::blocking::Client::new();
        let url = format!("http://{addr}/sparql");
        let response = client.get(&url).query(&[("query", cube)]).send().unwrap();
        assert_eq!(response.status().as_u16(), 400);
        let problem: serde_json::Value = response.json().unwrap();
        assert!(
            problem["detail"]
                .as_str()
                .unwrap_or_default()
                .contains("MaxQueryCostEstimationTime"),
            "{problem:#}"
        );
        let response = client
            .get(&url)
            .query(&[("query", "ASK { ?s ?p ?o }")])
            .header("Accept", "application/sparql-results+json")
            .send()
            .unwrap();
        assert_eq!(response.status().as_u16(), 200);
    }
}
