//! The answers of queries whose plan SEAM's patched SPARQL optimizer changes (vendor/README.md):
//! the joins inside an EXISTS are ordered from the evaluated row, and a filter may move to the
//! side of a join that binds everything it reads or that the other side never binds. Each
//! query here is one the move would answer wrongly if the rule were looser. And the operands of
//! `||` and `&&` that hold no EXISTS are evaluated before those that do (read from the plan).
//! An EXISTS's answer is kept for rows that agree on every variable it reads, and only then.
//! A join evaluated row by row gives each row what its right side binds from the row's values.

use oxigraph::io::RdfFormat;
use seam_registry::answer::QueryAnswer;
use seam_registry::ingest::parse_document;
use seam_registry::{QueryLimits, Registry};

const DATA: &str = r#"
@prefix ex: <http://example.com/> .
ex:a ex:p 1 ; ex:q 2 ; ex:r 3 .
ex:b ex:p 1 .
ex:c ex:p 1 ; ex:q 4 ; ex:r 4 .
ex:m ex:requires ex:req1 , ex:req2 .
ex:req1 ex:kind ex:k1 .
ex:req2 ex:kind ex:k2 .
ex:n ex:requires ex:req3 .
ex:req3 ex:kind ex:k1 .
ex:dev1 ex:has ex:s1 .
ex:s1 ex:kind ex:k1 .
ex:dev2 ex:has ex:s2 , ex:s3 .
ex:s2 ex:kind ex:k1 .
ex:s3 ex:kind ex:k2 .
"#;

fn registry() -> Registry {
    let r = Registry::in_memory().unwrap();
    r.load(&[parse_document("data.ttl", DATA.into(), RdfFormat::Turtle, None).unwrap()])
        .unwrap();
    r
}

/// The first column of every row, as text, sorted.
fn column(r: &Registry, query: &str) -> Vec<String> {
    let text = format!("PREFIX ex: <http://example.com/>\n{query}");
    let QueryAnswer::Solutions { rows, .. } = r.query(&text, &QueryLimits::default()).unwrap() else {
        panic!("not a SELECT")
    };
    let mut out: Vec<String> = rows
        .into_iter()
        .map(|row| row[0].as_ref().map_or("UNBOUND".into(), ToString::to_string))
        .collect();
    out.sort();
    out
}

#[test]
fn a_filter_reading_what_an_optional_may_bind_stays_above_it() {
    // ?x is bound by the OPTIONAL for ex:a (2) and ex:c (4): the EXISTS must see it bound.
    // Evaluated under the OPTIONAL, it would see ?x unbound and exclude ex:a (ex:a ex:r 3).
    let got = column(
        &registry(),
        "SELECT ?s WHERE { ?s ex:p ?o OPTIONAL { ?s ex:q ?x } FILTER NOT EXISTS { ?s ex:r ?x } }",
    );
    assert_eq!(got, ["<http://example.com/a>", "<http://example.com/b>"]);
}

#[test]
fn a_filter_reading_what_the_other_side_of_a_join_binds_stays_above_it() {
    let got = column(
        &registry(),
        "SELECT ?s WHERE { ?s ex:p ?o . ?s ex:q ?x FILTER NOT EXISTS { ?s ex:r ?x } }",
    );
    assert_eq!(got, ["<http://example.com/a>"]);
}

#[test]
fn a_filter_with_variables_of_its_own_keeps_its_meaning_when_it_moves() {
    // Models with every required kind among a device's sensors (the shape of SEAM's sensor
    // rule): ?req and ?kind are the EXISTS' own, ?sensor the inner EXISTS'.
    let got = column(
        &registry(),
        "SELECT (CONCAT(STR(?model), ' ', STR(?device)) AS ?pair) WHERE {
           ?model ex:requires ?any . ?device ex:has ?some .
           FILTER NOT EXISTS {
             ?model ex:requires ?req . ?req ex:kind ?kind .
             FILTER NOT EXISTS { ?device ex:has ?sensor . ?sensor ex:kind ?kind }
           }
         } GROUP BY ?model ?device",
    );
    assert_eq!(
        got,
        [
            "\"http://example.com/m http://example.com/dev2\"",
            "\"http://example.com/n http://example.com/dev1\"",
            "\"http://example.com/n http://example.com/dev2\"",
        ]
    );
}

#[test]
fn an_exists_in_a_bind_sees_the_row_it_is_evaluated_from() {
    let got = column(
        &registry(),
        "SELECT (CONCAT(STR(?device), ' ', STR(?covered)) AS ?row) WHERE {
           ?device ex:has ?some .
           BIND(EXISTS { ?device ex:has ?sensor . ?sensor ex:kind ex:k2 } AS ?covered)
         } GROUP BY ?device ?covered",
    );
    assert_eq!(
        got,
        ["\"http://example.com/dev1 false\"", "\"http://example.com/dev2 true\""]
    );
}

/// The names of a query's plan nodes, as the evaluator will run them, and the plan.
fn plan_nodes(query: &str) -> (Vec<String>, String) {
    use oxigraph::sparql::SparqlEvaluator;
    use oxigraph::store::Store;
    let store = Store::new().unwrap();
    store.load_from_slice(RdfFormat::Turtle, DATA.as_bytes()).unwrap();
    let text = format!("PREFIX ex: <http://example.com/>\n{query}");
    let (results, explanation) = SparqlEvaluator::new()
        .parse_query(&text)
        .unwrap()
        .on_store(&store)
        .explain();
    results.unwrap();
    let mut json = Vec::new();
    explanation.write_in_json(&mut json).unwrap();
    let plan: serde_json::Value = serde_json::from_slice(&json).unwrap();
    let mut out = Vec::new();
    let mut stack = vec![&plan["plan"]];
    while let Some(node) = stack.pop() {
        if let Some(name) = node["name"].as_str() {
            out.push(name.to_owned());
        }
        stack.extend(node["children"].as_array().into_iter().flatten());
    }
    (out, plan.to_string())
}

/// The filter expressions of a query's plan, as the evaluator will run them.
fn planned_filters(query: &str) -> (Vec<String>, String) {
    let (nodes, plan) = plan_nodes(query);
    (nodes.into_iter().filter(|n| n.starts_with("Filter(")).collect(), plan)
}

#[test]
fn an_operand_without_exists_is_evaluated_before_one_with() {
    // `||` and `&&` stop at the first operand that decides them: a flag known from the row must
    // come before the EXISTS it spares. Upstream orders operands by their hash, which puts the
    // EXISTS first for about half of all variable names; eight names make a pass by chance 1/256.
    for name in [
        "known",
        "flag",
        "covered",
        "ok",
        "boardSensorsSuffice",
        "x",
        "done",
        "y",
    ] {
        for operator in ["||", "&&"] {
            let query = format!(
                "SELECT ?s WHERE {{ ?s ex:p ?o BIND(?o = 1 AS ?{name})
                   FILTER(EXISTS {{ ?s ex:q ?any }} {operator} ?{name}) }}"
            );
            let (filters, plan) = planned_filters(&query);
            let filter = filters
                .iter()
                .find(|f| f.contains("EXISTS"))
                .unwrap_or_else(|| panic!("no filter with EXISTS in {plan}"));
            let exists = filter.find("EXISTS").unwrap_or_default();
            match filter.find(&format!("?{name}")) {
                Some(flag) => assert!(flag < exists, "{operator} with ?{name}: {filter}"),
                // A conjunction may be split into filters of their own; a disjunction never is.
                None => assert_eq!(operator, "&&", "?{name} left the disjunction: {filters:?}"),
            }
        }
    }
    // And the answers are those of the query as written.
    let r = registry();
    let got = column(
        &r,
        "SELECT ?s WHERE { ?s ex:p ?o BIND(?o = 1 AS ?known) FILTER(EXISTS { ?s ex:r 4 } || !?known) }",
    );
    assert_eq!(got, ["<http://example.com/c>"]);
    let got = column(
        &r,
        "SELECT ?s WHERE { ?s ex:p ?o BIND(?o = 1 AS ?known) FILTER(EXISTS { ?s ex:r ?r } && ?known) }",
    );
    assert_eq!(got, ["<http://example.com/a>", "<http://example.com/c>"]);
}

/// `VALUES ?copy { 1 … n }`: the rows of a query repeated `n` times, so that an EXISTS is asked
/// the same question again and again.
fn copies(n: usize) -> String {
    let values: Vec<String> = (1..=n).map(|i| i.to_string()).collect();
    format!("VALUES ?copy {{ {} }}", values.join(" "))
}

#[test]
fn an_exists_answer_is_kept_only_for_rows_that_agree_on_every_variable_it_reads() {
    let r = registry();
    // ?limit is read by a filter inside the EXISTS only (first query), or by an EXISTS inside it
    // only (second): an answer kept for ?s alone would be given to rows of another ?limit. The
    // copies make the evaluator ask each question a hundred times, which keeps the memo looking.
    let repeat = copies(100);
    let count = |query: &str| {
        let mut counts = std::collections::BTreeMap::<String, usize>::new();
        for row in column(&r, query) {
            *counts.entry(row).or_default() += 1;
        }
        counts
    };
    let in_filter = count(&format!(
        "SELECT (CONCAT(STRAFTER(STR(?s), 'com/'), STR(?limit)) AS ?row) WHERE {{
           VALUES ?s {{ ex:a ex:c }} VALUES ?limit {{ 1 3 5 }} {repeat}
           FILTER EXISTS {{ ?s ex:q ?o FILTER(?o > ?limit) }} }}"
    ));
    assert_eq!(
        in_filter.into_iter().collect::<Vec<_>>(),
        [("\"a1\"".into(), 100), ("\"c1\"".into(), 100), ("\"c3\"".into(), 100)]
    );
    let in_nested = count(&format!(
        "SELECT (CONCAT(STRAFTER(STR(?s), 'com/'), STR(?limit)) AS ?row) WHERE {{
           VALUES ?s {{ ex:a ex:c }} VALUES ?limit {{ 1 3 5 }} {repeat}
           FILTER EXISTS {{ ?s ex:q ?o FILTER NOT EXISTS {{ ?s ex:r ?limit }} }} }}"
    ));
    let expected: Vec<(String, usize)> = ["a1", "a5", "c1", "c3", "c5"]
        .iter()
        .map(|row| (format!("\"{row}\""), 100))
        .collect();
    assert_eq!(in_nested.into_iter().collect::<Vec<_>>(), expected);
}

#[test]
fn an_exists_whose_answer_changes_from_call_to_call_is_asked_every_time() {
    // RAND() differs at each call: were the answer kept (the EXISTS reads no variable, so every
    // row would share it), all rows or none would pass. 1,000 draws at one half: some pass and
    // some do not, but for a chance of 2^-999.
    let got = column(
        &registry(),
        &format!(
            "SELECT ?copy WHERE {{ {} FILTER EXISTS {{ FILTER(RAND() < 0.5) }} }}",
            copies(1000)
        ),
    );
    assert!(!got.is_empty() && got.len() < 1000, "{} rows of 1000", got.len());
}

#[test]
fn a_join_evaluated_row_by_row_gives_each_row_what_its_right_side_binds() {
    // The right side of a row-by-row join sees only its own variables' values: here ?skip, read
    // by its filter alone, and ?d. A device with no sensor left after the filter keeps its row
    // (OPTIONAL); one with two keeps two rows; the same device with another ?skip is a row of
    // its own.
    let optional = "SELECT (CONCAT(STRAFTER(STR(?d), 'com/'), ':', COALESCE(STRAFTER(STR(?s), 'com/'), '-')) AS ?row)
        WHERE { VALUES (?d ?skip) { (ex:dev1 ex:s1) (ex:dev2 ex:s2) (ex:a ex:s1) (ex:dev2 ex:none) }
                OPTIONAL { ?d ex:has ?s FILTER(?s != ?skip) } }";
    let lateral = "SELECT (CONCAT(STRAFTER(STR(?m), 'com/'), ':', STRAFTER(STR(?k), 'com/'), ':', STR(?tag)) AS ?row)
        WHERE { VALUES (?m ?tag) { (ex:m 1) (ex:n 2) (ex:a 3) } ?m ex:requires ?req . ?req ex:kind ?k }";
    for (query, node) in [(optional, "ForLoopLeftJoin"), (lateral, "Lateral")] {
        let (nodes, plan) = plan_nodes(query);
        assert!(nodes.iter().any(|n| n.starts_with(node)), "no {node} in {plan}");
    }
    let r = registry();
    assert_eq!(
        column(&r, optional),
        ["\"a:-\"", "\"dev1:-\"", "\"dev2:s2\"", "\"dev2:s3\"", "\"dev2:s3\""]
    );
    assert_eq!(column(&r, lateral), ["\"m:k1:1\"", "\"m:k2:1\"", "\"n:k1:2\""]);
}
