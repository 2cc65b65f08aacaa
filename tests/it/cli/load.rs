use super::*;

#[test]
fn load_is_validated_and_all_or_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("store");
    let data_s = data.to_str().unwrap();
    let good = write(
        dir.path(),
        "good.ttl",
        "@prefix seam: <https://w3id.org/seam/ontology#> .\n@prefix rdfs: <http://www.w3.org/2000/01/rdf-schema#> .\n\
         <urn:seam:test:kit> a seam:Board ; rdfs:label \"Test kit\" ; seam:core \"Cortex-M4F\" ; seam:isa <urn:seam:test:isa> ;\n\
           seam:clockHz 64000000 ; seam:ramBytes 262144 ; seam:flashBytes 1048576 .\n",
    );
    // A refused load into a new store leaves it empty: not even the seed is written.
    let bad_first = write(
        dir.path(),
        "bad-first.ttl",
        "@prefix seam: <https://w3id.org/seam/ontology#> .\n<urn:x> a seam:Board .\n",
    );
    assert_eq!(seam(&["load", &bad_first, "--data", data_s]).status.code(), Some(3));
    assert_eq!(cli_count(&["query", TRIPLES, "--data", data_s, "--format", "json"]), 0);
    let out = seam(&["load", &good, "--data", data_s]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stderr(&out).contains("seeded the new store"), "{}", stderr(&out));
    let count = || cli_count(&["query", TRIPLES, "--data", data_s, "--format", "json"]);
    let before = count();
    // The new store was seeded with the ontology and catalog, then got the 7 triples.
    let kit = cli_count(&[
        "query",
        "SELECT (COUNT(*) AS ?n) WHERE { <urn:seam:test:kit> ?p ?o }",
        "--data",
        data_s,
        "--format",
        "json",
    ]);
    assert_eq!(kit, 7);
    assert!(before > 1000, "{before}");

    // A syntax error halfway through a file: exit 3, the line named, nothing written, even from
    // the valid file given before it.
    let mut broken = String::from("@prefix ex: <http://example.com/> .\n");
    for i in 0..20 {
        broken.push_str(&format!("ex:s{i} ex:p {i} .\n"));
    }
    broken.push_str("ex:s20 ex:p \"unterminated .\n");
    for i in 21..40 {
        broken.push_str(&format!("ex:s{i} ex:p {i} .\n"));
    }
    let other = write(
        dir.path(),
        "other.nt",
        "<http://example.com/a> <http://example.com/b> <http://example.com/c> .\n",
    );
    let broken = write(dir.path(), "broken.ttl", &broken);
    let out = seam(&["load", &other, &broken, "--data", data_s]);
    assert_eq!(out.status.code(), Some(3));
    let err = stderr(&out);
    assert!(err.contains("broken.ttl:22:"), "{err}");
    assert_eq!(count(), before);

    // Validation failures: every one listed with file:line:column; nothing written.
    let invalid = write(
        dir.path(),
        "invalid.ttl",
        "@prefix seam: <https://w3id.org/seam/ontology#> .\n\n<urn:seam:test:bad> a seam:Board ;\n  seam:ramBytes -5 .\n",
    );
    let out = seam(&["load", &invalid, "--data", data_s]);
    assert_eq!(out.status.code(), Some(3));
    let err = stderr(&out);
    assert!(
        err.contains("invalid.ttl:3:1:") && err.contains("below the minimum"),
        "{err}"
    );
    assert!(err.contains("seam:core") && err.contains("sh:minCount"), "{err}");
    assert_eq!(count(), before);

    // A device pointing at a board that exists (in the store) validates; at one that does not, fails.
    let device = write(
        dir.path(),
        "device.ttl",
        "@prefix seam: <https://w3id.org/seam/ontology#> .\n<urn:seam:test:dev> a seam:Device ; seam:board <urn:seam:test:kit> .\n",
    );
    assert!(seam(&["load", &device, "--data", data_s]).status.success());
    let orphan = write(
        dir.path(),
        "orphan.ttl",
        "@prefix seam: <https://w3id.org/seam/ontology#> .\n<urn:seam:test:dev2> a seam:Device ; seam:board <urn:seam:test:nothing> .\n",
    );
    let out = seam(&["load", &orphan, "--data", data_s]);
    assert_eq!(out.status.code(), Some(3));
    assert!(stderr(&out).contains("is not a known seam:Board"), "{}", stderr(&out));

    // Unknown extension and missing file.
    let unknown = write(dir.path(), "data.csv", "a,b\n");
    assert_eq!(seam(&["load", &unknown, "--data", data_s]).status.code(), Some(3));
    let missing = seam(&["load", "/nonexistent/file.ttl", "--data", data_s]);
    assert_eq!(missing.status.code(), Some(1));
    assert!(stderr(&missing).contains("/nonexistent/file.ttl"));
}

#[test]
fn seloc_ml_import_through_the_cli() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("store");
    let seloc = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/interop/seloc-ml");
    let out = seam(&[
        "load",
        "--from",
        "seloc-ml",
        seloc.to_str().unwrap(),
        "--data",
        data.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stderr(&out).contains("repaired"), "{}", stderr(&out));
    let n = cli_count(&[
        "query",
        "SELECT (COUNT(DISTINCT ?m) AS ?n) WHERE { ?m a nnet:NeuralNetwork ; seam:requiredRamBytes ?r }",
        "--data",
        data.to_str().unwrap(),
        "--format",
        "json",
    ]);
    assert_eq!(n, 23);
    // A second import replaces the first.
    let again = seam(&[
        "load",
        "--from",
        "seloc-ml",
        seloc.to_str().unwrap(),
        "--data",
        data.to_str().unwrap(),
    ]);
    assert!(again.status.success(), "{}", stderr(&again));
    let quads = |o: &Output| stdout(o).rsplit("holds ").next().unwrap_or_default().to_owned();
    assert_eq!(quads(&out), quads(&again));
}

#[test]
fn an_rdf_xml_entity_bomb_is_refused_and_loads_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("store");
    let mut dtd = String::from("<!ENTITY l0 \"lol\">\n");
    for i in 1..10 {
        dtd.push_str(&format!("<!ENTITY l{i} \"{}\">\n", format!("&l{};", i - 1).repeat(10)));
    }
    let bomb = format!(
        "<?xml version=\"1.0\"?>\n<!DOCTYPE rdf:RDF [\n{dtd}]>\n<rdf:RDF xmlns:rdf=\"http://www.w3.org/1999/02/22-rdf-syntax-ns#\" \
         xmlns:ex=\"urn:ex:\"><rdf:Description rdf:about=\"urn:x\"><ex:p>&l9;</ex:p></rdf:Description></rdf:RDF>\n"
    );
    let file = write(dir.path(), "bomb.rdf", &bomb);
    let out = seam(&["load", &file, "--data", store.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("bomb.rdf:") && stderr(&out).contains("expands to"),
        "{}",
        stderr(&out)
    );
    // Files are parsed before the store is opened: nothing was written, not even the seed.
    assert!(!store.exists());
}

/// A TD whose extra context is not bundled is refused at the line of that context, and loads
/// once the operator gives the context as a local file (`--context URL=FILE`); a context flag
/// that is not URL=FILE, or that would replace a bundled W3C context, is refused.
#[test]
fn a_context_is_given_as_a_local_file_never_fetched() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("store");
    let data_s = data.to_str().unwrap();
    let td = write(
        dir.path(),
        "pump.td.jsonld",
        "{\n  \"@context\": [\"https://www.w3.org/2022/wot/td/v1.1\",\n    \"https://example.com/pump/v1\"],\n  \
         \"id\": \"urn:example:pump\", \"title\": \"Pump\", \"flowRate\": 12,\n  \
         \"securityDefinitions\": {\"n\": {\"scheme\": \"nosec\"}}, \"security\": \"n\"\n}\n",
    );
    let refused = seam(&["load", &td, "--data", data_s]);
    assert_eq!(refused.status.code(), Some(3), "{}", stderr(&refused));
    assert!(stderr(&refused).contains("pump.td.jsonld:3:5"), "{}", stderr(&refused));
    let context = write(
        dir.path(),
        "pump-context.jsonld",
        "{\"@context\": {\"pump\": \"https://example.com/pump#\", \"flowRate\": \"pump:flowRate\"}}",
    );
    let given = format!("https://example.com/pump/v1={context}");
    let out = seam(&["load", &td, "--data", data_s, "--context", &given]);
    assert!(out.status.success(), "{}", stderr(&out));
    let flow = cli_count(&[
        "query",
        "SELECT (COUNT(*) AS ?n) WHERE { <urn:example:pump> <https://example.com/pump#flowRate> 12 }",
        "--data",
        data_s,
        "--format",
        "json",
    ]);
    assert_eq!(flow, 1);
    let replace = format!("https://www.w3.org/2022/wot/td/v1.1={context}");
    let out = seam(&["load", &td, "--data", data_s, "--context", &replace]);
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    assert!(stderr(&out).contains("cannot be replaced"), "{}", stderr(&out));
    let out = seam(&[
        "load",
        &td,
        "--data",
        data_s,
        "--context",
        "https://example.com/pump/v1",
    ]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
}
