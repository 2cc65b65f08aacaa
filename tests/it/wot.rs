//! W3C WoT Thing Descriptions written by others (the W3C TD playground's examples, unpacked by
//! scripts/interop-peers.sh) against SEAM: the triples jsonld.js gives, `seam load`'s verdicts,
//! and the directory's HTTP answers.

use std::path::PathBuf;
use std::process::{Command, Output};
use std::time::Duration;

use crate::common::{Server, SEAM};
use crate::interop::{env_path, text, tool, TOKEN};

/// The triples of real Thing Descriptions written by others (the W3C WoT TD playground's valid
/// examples) are those jsonld.js, the JSON-LD 1.1 reference implementation, gives for the same
/// files with the same bundled contexts: compared as canonical datasets, blank nodes and all.
/// This holds SEAM's JSON-LD reading (Oxigraph's, with the patch in vendor/oxjsonld) to the
/// algorithm: before it, the members of nested object schemas came out as `td:name` where
/// jsonld.js says `jsonschema:propertyName`.
#[test]
fn real_tds_give_the_triples_jsonld_js_gives() {
    use oxigraph::io::{JsonLdProfileSet, RdfFormat, RdfParser};
    use oxigraph::model::dataset::CanonicalizationAlgorithm;
    use oxigraph::model::Dataset;

    let modules = env_path("SEAM_NODE_MODULES", "seam-interop-node/node_modules");
    let examples = env_path(
        "SEAM_TD_EXAMPLES",
        "seam-interop-node/td-playground/package/examples/tds",
    );
    let node = tool("node");
    let mut files: Vec<PathBuf> = std::fs::read_dir(examples.join("valid"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "json" || e == "jsonld"))
        .collect();
    files.sort();
    assert!(files.len() >= 30, "{} TDs in {}", files.len(), examples.display());
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/interop/jsonld-to-rdf.cjs");
    let contexts = concat!(env!("CARGO_MANIFEST_DIR"), "/ontology/contexts");
    let out = Command::new(node)
        .arg(script)
        .arg(contexts)
        .args(&files)
        .env("SEAM_NODE_MODULES", &modules)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out));
    let canonical = |quads: Vec<oxigraph::model::Quad>| {
        let mut dataset: Dataset = quads.into_iter().collect();
        dataset.canonicalize(CanonicalizationAlgorithm::Unstable);
        let mut lines: Vec<String> = dataset.iter().map(|q| q.to_string()).collect();
        lines.sort();
        lines
    };
    let (mut compared, mut refused) = (0, Vec::new());
    let mut differ = Vec::new();
    for line in String::from_utf8_lossy(&out.stdout).lines() {
        let answer: serde_json::Value = serde_json::from_str(line).unwrap();
        let file = answer["file"].as_str().unwrap().to_owned();
        let Some(nquads) = answer["nquads"].as_str() else {
            refused.push(format!("{file}: jsonld.js: {}", answer["error"]));
            continue;
        };
        let reference: Vec<oxigraph::model::Quad> = RdfParser::from_format(RdfFormat::NQuads)
            .for_slice(nquads.as_bytes())
            .collect::<Result<_, _>>()
            .unwrap();
        let text = std::fs::read_to_string(&file).unwrap();
        let ours = match seam_registry::ingest::parse_document(
            &file,
            text,
            RdfFormat::JsonLd {
                profile: JsonLdProfileSet::empty(),
            },
            None,
        ) {
            Ok(document) => document.quads,
            Err(e) => {
                differ.push(format!("{file}: jsonld.js reads it, SEAM refuses it: {e}"));
                continue;
            }
        };
        compared += 1;
        let (theirs, ours) = (canonical(reference), canonical(ours));
        if theirs != ours {
            let only_theirs: Vec<&String> = theirs.iter().filter(|l| !ours.contains(l)).take(3).collect();
            let only_ours: Vec<&String> = ours.iter().filter(|l| !theirs.contains(l)).take(3).collect();
            differ.push(format!(
                "{file}:\n  only jsonld.js: {only_theirs:?}\n  only SEAM: {only_ours:?}"
            ));
        }
    }
    assert!(
        differ.is_empty(),
        "{} of {compared} differ:\n{}",
        differ.len(),
        differ.join("\n")
    );
    assert!(
        compared >= 30,
        "only {compared} compared; refused by jsonld.js: {refused:#?}"
    );
}

/// `seam load` on real TDs written by others (the W3C TD playground's examples): every valid one
/// is accepted, in one transaction, each in the named graph of its id; loading them again
/// leaves the store as it was (no duplicated blank nodes); every invalid one is refused with
/// exit 3 and a specific reason at a line and column, and writes nothing; none is fetched from
/// anywhere. The one invalid TD accepted is invalid only against the Thing Model it names, which
/// SEAM does not fetch.
#[test]
fn seam_load_accepts_real_valid_tds_and_refuses_invalid_ones_with_their_reason() {
    let examples = env_path(
        "SEAM_TD_EXAMPLES",
        "seam-interop-node/td-playground/package/examples/tds",
    );
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("store");
    let listed = |kind: &str| -> Vec<PathBuf> {
        let mut files: Vec<PathBuf> = std::fs::read_dir(examples.join(kind))
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.extension().is_some_and(|e| e == "json"))
            .collect();
        files.sort();
        files
    };
    let load = |files: &[PathBuf]| {
        Command::new(SEAM)
            .arg("load")
            .args(files)
            .arg("--data")
            .arg(&data)
            .output()
            .unwrap()
    };
    let held = |out: &Output| -> u64 {
        let t = text(out);
        let n = t
            .split("the store now holds ")
            .nth(1)
            .and_then(|r| r.split_whitespace().next())
            .unwrap_or_else(|| panic!("{t}"));
        n.parse().unwrap()
    };
    // One TD per id: two of the examples share an id (a load with both is refused, tested below).
    let id_of = |p: &PathBuf| -> Option<String> {
        let v: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(p).unwrap()).unwrap();
        v["id"].as_str().map(str::to_owned)
    };
    let mut ids = std::collections::HashSet::new();
    let all_valid = listed("valid");
    let valid: Vec<PathBuf> = all_valid
        .iter()
        .filter(|p| id_of(p).is_none_or(|id| ids.insert(id)))
        .cloned()
        .collect();
    assert!(valid.len() >= 38, "{}", valid.len());
    let both = load(&all_valid);
    assert_eq!(both.status.code(), Some(3), "{}", text(&both));
    assert!(text(&both).contains("are both the TD urn:required"), "{}", text(&both));
    let first = load(&valid);
    assert!(first.status.success(), "{}", text(&first));
    let things = String::from_utf8_lossy(&first.stdout).matches("thing ").count();
    assert_eq!(things, valid.len(), "{}", text(&first));
    // An anonymous TD is a new object each time it is loaded (nothing names it); every other
    // one replaces itself.
    let named: Vec<PathBuf> = valid.iter().filter(|p| id_of(p).is_some()).cloned().collect();
    let again = load(&named);
    assert!(again.status.success(), "{}", text(&again));
    assert_eq!(
        held(&first),
        held(&again),
        "loading the same TDs again must replace them"
    );
    // The TD with no id got one, and is addressable: its graph holds a td:Thing.
    let anonymous = text(&first)
        .lines()
        .find(|l| l.contains("noIdThing.json"))
        .unwrap_or_default()
        .to_owned();
    assert!(
        anonymous.contains("urn:uuid:") && anonymous.contains("(id assigned)"),
        "{anonymous}"
    );

    let mut accepted = Vec::new();
    for file in listed("invalid") {
        let out = load(std::slice::from_ref(&file));
        let name = file.file_name().unwrap().to_string_lossy().into_owned();
        if out.status.success() {
            accepted.push(name);
            continue;
        }
        assert_eq!(out.status.code(), Some(3), "{name}: {}", text(&out));
        let first_line = String::from_utf8_lossy(&out.stderr)
            .lines()
            .next()
            .unwrap_or_default()
            .to_owned();
        // file:line:column: reason.
        let position = first_line.split(".json:").nth(1).unwrap_or_default();
        let mut parts = position.splitn(3, ':');
        let (line, column) = (parts.next().unwrap_or_default(), parts.next().unwrap_or_default());
        assert!(
            line.parse::<u64>().is_ok() && column.parse::<u64>().is_ok(),
            "{name}: no line:column in {first_line}"
        );
    }
    assert_eq!(accepted, ["usingTM.json"], "invalid TDs accepted");
    // None of the refusals wrote anything: loading the named TDs again (which puts back the
    // valid `urn:required` that the accepted usingTM.json, of the same id, replaced) gives the
    // store it held before them.
    let after = load(&named);
    assert!(after.status.success(), "{}", text(&after));
    assert_eq!(held(&after), held(&again));
}

/// Every TD of the W3C TD playground (valid, invalid, warning, not-valid-yet) through the
/// directory's HTTP API: each is stored (2xx) or refused with a 4xx problem, none causes a 5xx
/// or a hang, and what is stored reads back.
#[test]
fn the_directory_answers_every_playground_td_with_2xx_or_a_4xx_problem() {
    let examples = env_path(
        "SEAM_TD_EXAMPLES",
        "seam-interop-node/td-playground/package/examples/tds",
    );
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(&dir.path().join("store"), &["--token", TOKEN]);
    let http = reqwest::blocking::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()
        .unwrap();
    let (mut stored, mut refused) = (std::collections::BTreeSet::new(), 0);
    for kind in ["valid", "invalid", "warning", "notValidYet"] {
        let Ok(entries) = std::fs::read_dir(examples.join(kind)) else {
            continue;
        };
        for entry in entries {
            let path = entry.unwrap().path();
            let text = std::fs::read_to_string(&path).unwrap();
            let name = path.file_stem().unwrap().to_string_lossy().into_owned();
            // At its own id (the path must agree with it), or at one of its own when it has none.
            let own = serde_json::from_str::<serde_json::Value>(&text)
                .ok()
                .and_then(|v| v["id"].as_str().map(str::to_owned));
            let id = own.unwrap_or_else(|| format!("urn:playground:{kind}:{name}"));
            let response = http
                .put(format!("{}/things/{id}", server.base))
                .bearer_auth(TOKEN)
                .header("Content-Type", "application/td+json")
                .body(text)
                .send()
                .unwrap();
            let status = response.status().as_u16();
            assert!(
                status < 500,
                "{kind}/{name}: {status} {}",
                response.text().unwrap_or_default()
            );
            if response.status().is_success() {
                stored.insert(id);
            } else {
                refused += 1;
                assert_eq!(
                    response.headers()["content-type"],
                    "application/problem+json",
                    "{kind}/{name}"
                );
            }
        }
    }
    // The valid ones stored (two share an id), the invalid ones refused but the one that is
    // invalid only against its Thing Model.
    assert!(stored.len() >= 40, "stored {}, refused {refused}", stored.len());
    assert!(refused >= 21, "refused {refused}");
    let listed: Vec<serde_json::Value> = http
        .get(format!("{}/things?limit=500", server.base))
        .send()
        .unwrap()
        .json()
        .unwrap();
    let ids: std::collections::BTreeSet<String> = listed
        .iter()
        .filter_map(|t| t["id"].as_str().map(str::to_owned))
        .collect();
    assert_eq!(ids, stored);
}

/// Eclipse Thingweb's node-wot, a WoT consumer written by others, drives the directory through
/// the directory's own TD alone (`/.well-known/wot`, made from the W3C directory Thing Model):
/// its TD checks accept the description, and every affordance of the model SEAM offers does what
/// the model says, by name: create, retrieve, merge-patch, replace, anonymous create, the listing
/// (and node-wot's own `exploreDirectory`), SPARQL search and delete; a wrong token is refused.
#[test]
fn node_wot_drives_the_directory_through_its_own_thing_description() {
    let modules = env_path("SEAM_NODE_MODULES", "seam-interop-node/node_modules");
    let node = tool("node");
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(&dir.path().join("store"), &["--token", TOKEN]);
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/interop/node-wot-directory.js");
    let out = Command::new(node)
        .arg(script)
        .arg(&server.base)
        .arg(TOKEN)
        .env("SEAM_NODE_MODULES", &modules)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    let seen: serde_json::Value = serde_json::from_str(stdout.lines().last().unwrap_or("")).unwrap();
    assert_eq!(
        seen["description"]["actions"],
        serde_json::json!([
            "createAnonymousThing",
            "createThing",
            "deleteThing",
            "partiallyUpdateThing",
            "retrieveThing",
            "searchSPARQL",
            "updateThing"
        ])
    );
    assert_eq!(seen["retrieved"]["id"], "urn:example:node-wot:lamp");
    assert!(seen["retrieved"]["registration"]["created"].is_string(), "{seen}");
    assert_eq!(seen["patched"]["title"], "Lamp renamed by node-wot");
    assert_eq!(seen["replaced"]["title"], "Lamp registered by node-wot");
    assert_eq!(seen["replaced"]["description"], "replaced whole by node-wot");
    let both = serde_json::json!(["Anonymous lamp registered by node-wot", "Lamp registered by node-wot"]);
    assert_eq!(seen["listed"], both);
    assert_eq!(seen["discovered"], both, "{seen}");
    assert_eq!(seen["discoveryError"], serde_json::Value::Null);
    assert_eq!(seen["searched"], both);
    assert_eq!(seen["afterDelete"], "Client error: Not Found");
    assert_eq!(seen["wrongToken"], "Client error: Unauthorized");
    assert_eq!(seen["afterWrongToken"], serde_json::json!([seen["anonymousId"]]));
    assert!(seen["anonymousId"].as_str().unwrap().starts_with("urn:uuid:"));
}
