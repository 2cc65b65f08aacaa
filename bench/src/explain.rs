//! `seam-bench explain`: how Oxigraph plans and evaluates a query on a store directory, for
//! finding where a named query spends its time.

use std::time::Instant;

use anyhow::Context as _;
use oxigraph::store::Store;

use crate::median;

/// What a query is evaluated on.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum On {
    /// The RocksDB store itself.
    RocksDb,
    /// A copy in the compact replica `seam serve` answers from.
    Compact,
    /// A copy in Oxigraph's in-memory store.
    OxigraphMemory,
}

/// Evaluates `file` on the store at `data` (`runs` times, timed) and prints Oxigraph's plan as
/// JSON, with rows and time per node when `stats`; on RocksDB or a copy in memory (`on`).
pub fn run(
    data: &std::path::Path,
    file: &std::path::Path,
    bind: &[String],
    stats: bool,
    runs: usize,
    on: On,
) -> anyhow::Result<()> {
    use oxigraph::sparql::{QueryExplanation, QueryResults, SparqlEvaluator};
    let text = std::fs::read_to_string(file)?;
    let text = format!("{}{text}", seam_registry::vocab::sparql_prefixes());
    // Bound as the service binds a named query's parameters: written into the algebra as
    // constants (or joined as a VALUES leaf where a constant would change the query).
    let mut one = Vec::new();
    for b in bind {
        let (name, value) = b.split_once('=').context("--bind takes name=IRI or name=number")?;
        let term: oxigraph::model::Term = match value.parse::<i64>() {
            Ok(n) => oxigraph::model::Literal::from(n).into(),
            Err(_) => oxigraph::model::NamedNode::new(value)?.into(),
        };
        one.push((name.to_owned(), term));
    }
    let parsed = spargebra::SparqlParser::new().parse_query(&text)?;
    let query = seam_registry::bind::Bindings::of(one).apply(parsed)?;
    let mut store = Store::open(data)?;
    let mut compact = None;
    match on {
        On::RocksDb => {}
        On::OxigraphMemory => {
            let copy = Store::new()?;
            let mut loader = copy.bulk_loader();
            loader.load_ok_quads::<oxigraph::store::StorageError, oxigraph::store::StorageError>(store.iter())?;
            loader.commit()?;
            store = copy;
        }
        On::Compact => {
            compact = Some(
                seam_registry::store::embedded::compact::Compact::of(store.iter(), store.named_graphs())?
                    .map_err(|e| anyhow::anyhow!(e))?,
            );
        }
    }
    let count = |results: QueryResults<'_>| match results {
        QueryResults::Solutions(s) => s.count(),
        QueryResults::Boolean(_) => 1,
        QueryResults::Graph(g) => g.count(),
    };
    let mut times = Vec::new();
    let mut last: Option<(usize, QueryExplanation)> = None;
    for _ in 0..runs {
        let evaluator = SparqlEvaluator::new().for_query(query.clone());
        let started = Instant::now();
        let (rows, explanation) = match &compact {
            Some(compact) => {
                let mut bound = evaluator.on_queryable_dataset(compact.view());
                if stats {
                    bound = bound.compute_statistics();
                }
                let (results, explanation) = bound.explain();
                (count(results?), explanation)
            }
            None => {
                let mut bound = evaluator.on_store(&store);
                if stats {
                    bound = bound.compute_statistics();
                }
                let (results, explanation) = bound.explain();
                (count(results?), explanation)
            }
        };
        times.push(started.elapsed().as_secs_f64());
        last = Some((rows, explanation));
    }
    if let Some((rows, explanation)) = last {
        let mut json = Vec::new();
        explanation.write_in_json(&mut json)?;
        println!("{}", String::from_utf8_lossy(&json));
        eprintln!("{rows} rows, median {:.1} ms over {runs} runs", median(times) * 1e3);
    }
    Ok(())
}
