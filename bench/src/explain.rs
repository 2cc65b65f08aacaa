//! `seam-bench explain`: how Oxigraph plans and evaluates a query on a store directory, for
//! finding where a named query spends its time.

use std::time::Instant;

use anyhow::Context as _;
use oxigraph::store::Store;

use crate::median;

/// Evaluates `file` on the store at `data` (`runs` times, timed) and prints Oxigraph's plan as
/// JSON, with rows and time per node when `stats`. With `memory`, on a copy of the store in
/// memory, as `seam serve` answers from its replica.
pub fn run(
    data: &std::path::Path,
    file: &std::path::Path,
    bind: &[String],
    stats: bool,
    runs: usize,
    memory: bool,
) -> anyhow::Result<()> {
    use oxigraph::sparql::{QueryResults, SparqlEvaluator};
    let mut text = std::fs::read_to_string(file)?;
    for b in bind {
        let (name, iri) = b.split_once('=').context("--bind takes name=IRI")?;
        text = replace_variable(&text, &format!("?{name}"), &format!("<{iri}>"));
    }
    let text = format!("{}{text}", seam_registry::vocab::sparql_prefixes());
    let mut store = Store::open(data)?;
    if memory {
        let copy = Store::new()?;
        let mut loader = copy.bulk_loader();
        loader.load_ok_quads::<oxigraph::store::StorageError, oxigraph::store::StorageError>(store.iter())?;
        loader.commit()?;
        store = copy;
    }
    let mut times = Vec::new();
    let mut last = None;
    for _ in 0..runs {
        let mut evaluator = SparqlEvaluator::new().parse_query(&text)?.on_store(&store);
        if stats {
            evaluator = evaluator.compute_statistics();
        }
        let started = Instant::now();
        let (results, explanation) = evaluator.explain();
        let rows = match results? {
            QueryResults::Solutions(s) => s.count(),
            QueryResults::Boolean(_) => 1,
            QueryResults::Graph(g) => g.count(),
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

/// `text` with every `var` (a `?name`) not followed by a name character replaced by `with`.
fn replace_variable(text: &str, var: &str, with: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find(var) {
        let after = &rest[at + var.len()..];
        out.push_str(&rest[..at]);
        if after.starts_with(|c: char| c.is_alphanumeric() || c == '_') {
            out.push_str(var);
        } else {
            out.push_str(with);
        }
        rest = after;
    }
    out.push_str(rest);
    out
}
