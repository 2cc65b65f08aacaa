//! "One truth": the SPARQL rules of `queries/compatible-models.rq` and the fast path must give
//! the same verdicts, pair by pair. The tests and the differential fuzz target ask this module.

use oxigraph::model::Term;

use super::{load_fleet, match_device, MatchOptions, Via};
use crate::answer::QueryAnswer;
use crate::graph::{QueryLimits, Registry};

/// One compatible pair as both sides state it: model, via, runtime, RAM, flash, latency (ms),
/// accuracy.
pub type Row = (String, String, String, u64, u64, Option<f64>, Option<f64>);

fn value(term: &Option<Term>) -> Option<String> {
    match term.as_ref()? {
        Term::NamedNode(n) => Some(n.as_str().to_owned()),
        Term::Literal(l) => Some(l.value().to_owned()),
        other => Some(other.to_string()),
    }
}

/// What the SPARQL rules say runs on `device`, with `params` (the named query's parameters
/// besides `device`, as text).
pub fn sparql_rows(registry: &Registry, device: &str, params: &[(&str, &str)]) -> Result<Vec<Row>, String> {
    let rows = named_rows(registry, "compatible-models", ("device", device), params)?;
    Ok(rows.into_iter().map(|(_, row)| row).collect())
}

/// The devices the SPARQL rules say `model` runs on, each with its row, by `compatible-devices`
/// (the same rules, stated from the model).
pub fn sparql_rows_of_model(
    registry: &Registry,
    model: &str,
    params: &[(&str, &str)],
) -> Result<Vec<(String, Row)>, String> {
    named_rows(registry, "compatible-devices", ("model", model), params)
}

/// The rows of the named query `name` bound by `given` and `params`, each with its device.
fn named_rows(
    registry: &Registry,
    name: &str,
    given: (&str, &str),
    params: &[(&str, &str)],
) -> Result<Vec<(String, Row)>, String> {
    let query = crate::named::all()
        .map_err(|e| e.to_string())?
        .into_iter()
        .find(|q| q.name == name)
        .ok_or_else(|| format!("no {name} query"))?;
    let given: Vec<(String, String)> = std::iter::once(given)
        .chain(params.iter().copied())
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
    let bindings = query.bind(&given, &|_| None).map_err(|e| e.to_string())?;
    let answer = registry
        .query_named(&query, bindings, &QueryLimits::default())
        .map_err(|e| e.to_string())?;
    let QueryAnswer::Solutions { variables, rows } = answer else {
        return Err(format!("{name} answered no solutions"));
    };
    let column = |name: &str| variables.iter().position(|v| v.as_str() == name);
    let mut out = Vec::with_capacity(rows.len());
    for row in &rows {
        let get = |name: &str| column(name).and_then(|i| value(&row[i]));
        let number = |name: &str| -> Result<u64, String> {
            get(name)
                .ok_or_else(|| format!("no {name}"))?
                .parse()
                .map_err(|e| format!("{name}: {e}"))
        };
        let decimal = |name: &str| -> Result<Option<f64>, String> {
            get(name)
                .map(|v| v.parse().map_err(|e| format!("{name}: {e}")))
                .transpose()
        };
        out.push((
            get("device").ok_or("no device")?,
            (
                get("model").ok_or("no model")?,
                get("via").ok_or("no via")?,
                get("runtime").ok_or("no runtime")?,
                number("ramBytes")?,
                number("flashBytes")?,
                decimal("latencyMs")?,
                decimal("accuracy")?,
            ),
        ));
    }
    Ok(out)
}

/// What the fast path says runs on `device`.
pub fn fast_rows(fleet: &super::Fleet, device: &str, opts: &MatchOptions) -> Vec<Row> {
    match_device(fleet, device, opts, false)
        .map(|report| {
            report
                .compatible
                .into_iter()
                .map(|c| {
                    let via = match c.via {
                        Via::AsIs => "as-is",
                        Via::Int8 => "int8",
                    };
                    (
                        c.model.to_string(),
                        via.to_owned(),
                        c.runtime.to_string(),
                        c.ram_bytes,
                        c.flash_bytes,
                        c.estimated_latency_ms,
                        c.accuracy,
                    )
                })
                .collect()
        })
        .unwrap_or_default()
}

/// Every way the two sides differ on `device`, said for people (empty: they agree). Latencies
/// agree to 1.5 µs (the query rounds to the microsecond).
pub fn differences(device: &str, sparql: &[Row], fast: &[Row]) -> Vec<String> {
    let key = |r: &Row| (r.0.clone(), r.1.clone(), r.2.clone(), r.3, r.4);
    let (s, f): (Vec<_>, Vec<_>) = (sparql.iter().map(key).collect(), fast.iter().map(key).collect());
    if s != f {
        return vec![format!("verdicts differ for {device}: SPARQL {s:?}, fast path {f:?}")];
    }
    let mut found = Vec::new();
    for (a, b) in sparql.iter().zip(fast) {
        let latency_agrees = match (a.5, b.5) {
            (Some(x), Some(y)) => (x - y).abs() < 0.0015,
            (x, y) => x.is_some() == y.is_some(),
        };
        if !latency_agrees {
            found.push(format!("latency of {} on {device}: {:?} vs {:?}", a.0, a.5, b.5));
        }
        if a.6 != b.6 {
            found.push(format!("accuracy of {} on {device}: {:?} vs {:?}", a.0, a.6, b.6));
        }
    }
    found
}

/// Compares both sides on every device of `registry`; returns the compatible pairs seen and
/// every difference.
pub fn compare_everywhere(
    registry: &Registry,
    params: &[(&str, &str)],
    opts: &MatchOptions,
) -> Result<(usize, Vec<String>), String> {
    let fleet = load_fleet(registry).map_err(|e| e.to_string())?;
    let mut pairs = 0;
    let mut found = Vec::new();
    for device in fleet.devices.keys() {
        let sparql = sparql_rows(registry, device, params)?;
        let fast = fast_rows(&fleet, device, opts);
        found.extend(differences(device, &sparql, &fast));
        pairs += fast.len();
    }
    Ok((pairs, found))
}

/// Compares both sides model by model on `registry`: `compatible-devices` for each model against
/// the fast path's rows of that model on every device. Returns the compatible pairs seen and
/// every difference.
pub fn compare_by_model(
    registry: &Registry,
    params: &[(&str, &str)],
    opts: &MatchOptions,
) -> Result<(usize, Vec<String>), String> {
    use std::collections::BTreeMap;
    let fleet = load_fleet(registry).map_err(|e| e.to_string())?;
    // The fast path answers by device: its rows regrouped by model, then by device.
    let mut fast: BTreeMap<String, BTreeMap<String, Row>> = BTreeMap::new();
    for device in fleet.devices.keys() {
        for row in fast_rows(&fleet, device, opts) {
            fast.entry(row.0.clone()).or_default().insert(device.clone(), row);
        }
    }
    let mut pairs = 0;
    let mut found = Vec::new();
    for model in fleet.models.keys() {
        let sparql: BTreeMap<String, Row> = sparql_rows_of_model(registry, model, params)?.into_iter().collect();
        let expected = fast.remove(model).unwrap_or_default();
        if sparql.keys().ne(expected.keys()) {
            found.push(format!(
                "devices differ for {model}: SPARQL {:?}, fast path {:?}",
                sparql.keys().collect::<Vec<_>>(),
                expected.keys().collect::<Vec<_>>()
            ));
            continue;
        }
        for (device, row) in &expected {
            found.extend(differences(
                device,
                std::slice::from_ref(&sparql[device]),
                std::slice::from_ref(row),
            ));
        }
        pairs += expected.len();
    }
    Ok((pairs, found))
}
