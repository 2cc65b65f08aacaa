//! The SeLoC-ML import on SeLoC-ML's published graph (`../shared/interop/seloc-ml`).

use std::path::PathBuf;

use seam_registry::ingest::seloc;
use seam_registry::{QueryAnswer, QueryLimits, Registry};

fn seloc_dir() -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared/interop/seloc-ml");
    assert!(
        dir.join("description").is_dir(),
        "SeLoC-ML's graph is expected at {}",
        dir.display()
    );
    dir
}

fn rows(r: &Registry, q: &str) -> Vec<Vec<String>> {
    match r.query(q, &QueryLimits::default()).unwrap() {
        QueryAnswer::Solutions { rows, .. } => rows
            .into_iter()
            .map(|row| {
                row.into_iter()
                    .map(|t| {
                        t.map(|t| match t {
                            oxigraph::model::Term::Literal(l) => l.value().to_owned(),
                            other => other.to_string(),
                        })
                        .unwrap_or_default()
                    })
                    .collect()
            })
            .collect(),
        other => panic!("{other:?}"),
    }
}

#[test]
fn seloc_graph_imports_with_repairs_and_bytes() {
    let import = seloc::import(&seloc_dir()).unwrap();
    let text: Vec<String> = import.repairs.iter().map(ToString::to_string).collect();
    assert!(
        text.iter()
            .any(|r| r.contains("ms200.ttl:") && r.contains("double colon")),
        "{text:#?}"
    );
    assert_eq!(text.iter().filter(|r| r.contains("<None>")).count(), 3, "{text:#?}");
    assert!(text.iter().any(|r| r.contains("td:href → hctl:hasTarget")), "{text:#?}");
    assert!(text.iter().any(|r| r.contains("https://schema.org/")), "{text:#?}");

    let registry = Registry::in_memory().unwrap();
    registry.seed_if_empty().unwrap();
    let graph = seam_registry::graph::NamedNode::new(seloc::GRAPH).unwrap();
    let first = registry.replace_graph(&graph, &import.documents).unwrap();
    // Re-importing replaces the graph: blank nodes are not duplicated.
    let again = seloc::import(&seloc_dir()).unwrap();
    assert_eq!(
        registry.replace_graph(&graph, &again.documents).unwrap().store_size,
        first.store_size
    );

    let models = rows(
        &registry,
        "SELECT (COUNT(DISTINCT ?m) AS ?n) WHERE { ?m a nnet:NeuralNetwork ; schema:identifier ?id }",
    );
    assert_eq!(models[0][0], "23");
    let devices = rows(
        &registry,
        "SELECT (COUNT(DISTINCT ?d) AS ?n) WHERE { ?d a s3n:SmartSensor, seam:Device ; seam:ramBytes ?r ; seam:flashBytes ?f ;
           seam:freeRamBytes ?r ; seam:freeFlashBytes ?f FILTER NOT EXISTS { ?d a seam:Board } }",
    );
    // SeLoC's nine smart sensors are devices SEAM matches, offering what SeLoC says they have.
    assert_eq!(devices[0][0], "9");
    // The Arduino Nano 33 BLE TinyML kit: 187 kB RAM, 785 kB flash (om:kilobyte = 1000 bytes).
    let kit = rows(
        &registry,
        "SELECT ?r ?f WHERE { <https://w3id.org/tinyml-schema/neural-network-schema/tinyml-demo/arduino_nano_ble_33_tinyml_kit-322-000-000-003> seam:ramBytes ?r ; seam:flashBytes ?f }",
    );
    assert_eq!(kit, vec![vec!["187000".to_owned(), "785000".to_owned()]]);
    // micro_speech yes/no: 18.712 kB flash, 8.08 kB RAM, 336,000 MACs — and SeLoC's own triples stay.
    let speech = rows(
        &registry,
        "SELECT ?f ?r ?macs ?orig WHERE { ?m schema:identifier \"02ed1b17-de4f-4239-8812-392917a954dc\" ;
            seam:requiredFlashBytes ?f ; seam:requiredRamBytes ?r ; seam:macs ?macs ; nnet:hasMultiplyAccumulateOps ?orig }",
    );
    assert_eq!(
        speech[0][..3],
        ["18712".to_owned(), "8080".to_owned(), "336000".to_owned()]
    );
    // Hello_World's input comes from a sensor SeLoC names only as some other sensor: it needs one,
    // not none.
    assert_eq!(
        rows(
            &registry,
            "SELECT (COUNT(DISTINCT ?m) AS ?n) WHERE { ?m seam:requiresSensor/seam:sensorKind seam:otherSensor }"
        )[0][0],
        "1"
    );
    // No relative <None> IRI made it in, and TD 1.1 IRIs are used.
    assert_eq!(
        rows(
            &registry,
            "SELECT (COUNT(*) AS ?n) WHERE { ?m nnet:trainingDataset ?d FILTER(CONTAINS(STR(?d), \"None\")) }"
        )[0][0],
        "0"
    );
    assert_eq!(
        rows(&registry, "SELECT (COUNT(*) AS ?n) WHERE { ?f td:href ?h }")[0][0],
        "0"
    );
    assert_ne!(
        rows(
            &registry,
            "SELECT (COUNT(*) AS ?n) WHERE { ?f hctl:hasTarget ?h ; hctl:hasOperationType td:readProperty }"
        )[0][0],
        "0"
    );
}

#[test]
fn a_missing_folder_is_a_clear_error() {
    let err = seloc::import(&PathBuf::from("/nonexistent/seloc")).unwrap_err();
    assert!(err.to_string().contains("/nonexistent/seloc"), "{err}");
}

/// SeLoC-ML's own query text, with the namespaces its data uses (the published queries use older
/// ones), run on the imported graph.
fn original(r: &Registry, n: u8) -> Vec<Vec<String>> {
    let text = std::fs::read_to_string(seloc_dir().join(format!("queries/query_{n}.rq"))).unwrap();
    let text = text
        .replace(
            "http://tinyml-schema.org/networkschema#",
            "https://w3id.org/tinyml-schema/neural-network-schema#",
        )
        .replace(
            "http://tinyml-schema.org/",
            "https://w3id.org/tinyml-schema/neural-network-schema/",
        )
        .replace("https://schema.org/", "http://schema.org/");
    rows(r, &text)
}

fn named(r: &Registry, name: &str) -> Vec<Vec<String>> {
    let q = seam_registry::named::all()
        .unwrap()
        .into_iter()
        .find(|q| q.name == name)
        .unwrap();
    let bindings = q.bind(&[], &|_| None).unwrap();
    match r.query_named(&q, bindings, &QueryLimits::default()).unwrap() {
        QueryAnswer::Solutions { rows, .. } => rows
            .into_iter()
            .map(|row| {
                row.into_iter()
                    .map(|t| match t {
                        Some(oxigraph::model::Term::Literal(l)) => l.value().to_owned(),
                        Some(other) => other.to_string(),
                        None => String::new(),
                    })
                    .collect()
            })
            .collect(),
        other => panic!("{other:?}"),
    }
}

fn kilo(v: &str) -> String {
    format!("{}", (v.parse::<f64>().unwrap() * 1000.0).round() as u64)
}

const SELOC_NS: &str = "<https://w3id.org/tinyml-schema/neural-network-schema/";

#[test]
fn seloc_questions_in_seam_vocabulary_give_the_authors_answers() {
    let registry = Registry::in_memory().unwrap();
    registry.seed_if_empty().unwrap();
    let graph = seam_registry::graph::NamedNode::new(seloc::GRAPH).unwrap();
    registry
        .replace_graph(&graph, &seloc::import(&seloc_dir()).unwrap().documents)
        .unwrap();

    // Q1: devices with accelerometer and gyroscope, RAM ≥ 121 kB, flash ≥ 610 kB.
    let mut expected: Vec<(String, String, String)> = original(&registry, 1)
        .iter()
        .map(|r| (r[0].clone(), kilo(&r[1]), kilo(&r[2])))
        .collect();
    let mut got: Vec<(String, String, String)> = named(&registry, "seloc-q1")
        .iter()
        .filter(|r| r[0].starts_with(SELOC_NS))
        .map(|r| (r[0].clone(), r[1].clone(), r[2].clone()))
        .collect();
    expected.sort();
    expected.dedup();
    got.sort();
    assert!(!expected.is_empty());
    assert_eq!(got, expected, "seloc-q1");
    // SeLoC's question is about SeLoC's graph: the catalog seeded beside it does not answer.
    assert!(named(&registry, "seloc-q1").iter().all(|r| r[0].starts_with(SELOC_NS)));

    // Q2: camera models needing ≤ 144 kB RAM and ≤ 621 kB flash.
    let mut expected: Vec<(String, String, String, String)> = original(&registry, 2)
        .iter()
        .map(|r| {
            (
                r[0].clone(),
                format!("{}", r[1].parse::<f64>().unwrap() as u64),
                kilo(&r[2]),
                kilo(&r[3]),
            )
        })
        .collect();
    let mut got: Vec<(String, String, String, String)> = named(&registry, "seloc-q2")
        .iter()
        .map(|r| (r[1].clone(), r[2].clone(), r[3].clone(), r[4].clone()))
        .collect();
    expected.sort();
    expected.dedup();
    got.sort();
    assert!(!expected.is_empty());
    assert_eq!(got, expected, "seloc-q2");

    // Q3: yes/no speech models, with accuracy (percent in SeLoC, a fraction in SEAM).
    let mut expected: Vec<(String, String)> = original(&registry, 3)
        .iter()
        .map(|r| (r[0].clone(), format!("{:.3}", r[2].parse::<f64>().unwrap() / 100.0)))
        .collect();
    let mut got: Vec<(String, String)> = named(&registry, "seloc-q3")
        .iter()
        .map(|r| (r[1].clone(), format!("{:.3}", r[2].parse::<f64>().unwrap())))
        .collect();
    expected.sort();
    expected.dedup();
    got.sort();
    assert!(!expected.is_empty());
    assert_eq!(got, expected, "seloc-q3");

    // Q4: every described board with RAM and flash.
    let mut expected: Vec<(String, String, String)> = original(&registry, 4)
        .iter()
        .map(|r| (r[0].clone(), kilo(&r[1]), kilo(&r[2])))
        .collect();
    let mut got: Vec<(String, String, String)> = named(&registry, "seloc-q4")
        .iter()
        .map(|r| (r[0].clone(), r[1].clone(), r[2].clone()))
        .collect();
    expected.sort();
    expected.dedup();
    got.sort();
    assert_eq!(expected.len(), 9);
    assert_eq!(got, expected, "seloc-q4");
}

/// SeLoC-ML's devices and models are matchable: every SeLoC device gets a ranked, explained list,
/// and every pair where SEAM's verdict differs from SeLoC's own rule (model RAM ≤ device RAM,
/// model flash ≤ device flash, every input sensor class on the device) has its reason.
#[test]
fn seloc_devices_and_models_are_matched_and_differ_from_seloc_s_rule_only_with_a_reason() {
    use seam_registry::matching::{self, Constraint, MatchOptions};
    let registry = Registry::in_memory().unwrap();
    let graph = oxigraph::model::NamedNode::new(seloc::GRAPH).unwrap();
    registry
        .replace_graph_seeding(&graph, &seloc::import(&seloc_dir()).unwrap().documents)
        .unwrap();
    let in_seloc = |kind: &str| {
        rows(
            &registry,
            &format!(
                "SELECT ?x WHERE {{ GRAPH <{}> {{ ?x a seam:{kind} }} }} ORDER BY ?x",
                seloc::GRAPH
            ),
        )
        .into_iter()
        .map(|r| r[0].trim_matches(['<', '>']).to_owned())
        .collect::<Vec<_>>()
    };
    let devices = in_seloc("Device");
    let models = in_seloc("Model");
    assert_eq!((devices.len(), models.len()), (9, 23));
    // SeLoC's rule, on SeLoC's own figures.
    let facts = rows(
        &registry,
        "SELECT ?d ?m WHERE {
           ?d seam:ramBytes ?dr ; seam:flashBytes ?df . ?m seam:requiredRamBytes ?mr ; seam:requiredFlashBytes ?mf .
           FILTER(?mr <= ?dr && ?mf <= ?df)
           FILTER NOT EXISTS { ?m seam:requiresSensor/seam:sensorKind ?k FILTER NOT EXISTS { ?d seam:hasSensor/seam:sensorKind ?k } } }",
    );
    let seloc_says: std::collections::BTreeSet<(String, String)> = facts
        .into_iter()
        .map(|r| {
            (
                r[0].trim_matches(['<', '>']).to_owned(),
                r[1].trim_matches(['<', '>']).to_owned(),
            )
        })
        .collect();
    let fleet = crate::helpers::fleet(&registry);
    let (mut agree, mut seam_only, mut seloc_only) = (0, 0, 0);
    let mut why: std::collections::BTreeMap<&'static str, usize> = std::collections::BTreeMap::new();
    for device in &devices {
        let report = matching::match_device(&fleet, device, &MatchOptions::default(), true).unwrap();
        let rejected = report.rejected.unwrap();
        for model in &models {
            let seam = report.compatible.iter().any(|c| &c.model == model);
            let seloc = seloc_says.contains(&(device.clone(), model.clone()));
            match (seam, seloc) {
                (true, true) | (false, false) => agree += 1,
                (false, true) => {
                    seloc_only += 1;
                    let reasons = &rejected.iter().find(|r| &r.model == model).unwrap().reasons;
                    assert!(!reasons.is_empty(), "{device} × {model}: rejected without a reason");
                    // Sensors are SeLoC's own rule too: a disagreement there would be a defect.
                    assert!(
                        reasons.iter().all(|r| r.constraint != Constraint::Sensor),
                        "{device} × {model}: {reasons:?}"
                    );
                    let first = reasons.iter().map(|r| r.constraint).min().unwrap();
                    *why.entry(first.as_str()).or_default() += 1;
                }
                (true, false) => {
                    // SEAM measures the file (arena + runtime) where SeLoC records TFLM's
                    // arena_used_bytes: only a memory figure may part them.
                    seam_only += 1;
                    *why.entry("memory figures (SEAM: arena + runtime; SeLoC: TFLM's arena_used_bytes)")
                        .or_default() += 1;
                }
            }
        }
    }
    eprintln!("SeLoC-ML pairs: {agree} agree, {seloc_only} only SeLoC's rule accepts, {seam_only} only SEAM accepts; first reasons: {why:?}");
    assert!(agree > 0);
    // Seven of the nine devices name no processor SEAM knows: no runtime can be shown to run there.
    assert!(why.get("runtime").copied().unwrap_or(0) > 0, "{why:?}");
}
