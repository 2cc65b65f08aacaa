//! The GraphQL API: schema drift, DataLoader batching (store queries counted), pagination,
//! matching, mutations with the token, and GraphQL over HTTP.

use oxigraph::io::RdfFormat;
use seam_registry::graphql::schema;
use seam_registry::http::ServiceConfig;
use seam_registry::ingest::parse_document;
use seam_registry::matching::{self, MatchOptions};
use seam_registry::synth::{fleet_turtle, FleetSpec};
use seam_registry::Registry;
use serde_json::{json, Value};

use crate::helpers::{fleet, seeded};

async fn run(registry: &Registry, query: &str, authorized: bool) -> Value {
    let schema = schema(seam_registry::matching::FleetIndex::new(registry.clone()), None);
    use seam_registry::access::{Caller, Scopes};
    let caller = if authorized {
        Caller::Token {
            name: "test".into(),
            scopes: Scopes::ADMIN,
        }
    } else {
        Caller::Anonymous
    };
    let request = seam_registry::graphql::prepare(async_graphql::Request::new(query), registry, caller);
    serde_json::to_value(schema.execute(request).await).unwrap()
}

#[test]
fn committed_sdl_matches_the_schema() {
    let sdl = schema(
        seam_registry::matching::FleetIndex::new(Registry::in_memory().unwrap()),
        None,
    )
    .sdl();
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("schema.graphql");
    if std::env::var_os("SEAM_UPDATE_SCHEMA").is_some() {
        std::fs::write(&path, &sdl).unwrap();
    }
    let committed = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        committed == sdl,
        "registry/schema.graphql is out of date: run `SEAM_UPDATE_SCHEMA=1 cargo test -p seam-registry --test it graphql::committed` and commit it"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_page_of_devices_with_boards_and_sensors_costs_a_fixed_number_of_queries() {
    let registry = seeded();
    let text = fleet_turtle(
        FleetSpec {
            boards: 20,
            devices: 150,
            runtimes: 3,
            models: 5,
        },
        7,
    );
    registry
        .load(&[parse_document("synth.ttl", text, RdfFormat::Turtle, None).unwrap()])
        .unwrap();
    let query = |n: usize| {
        format!("{{ devices(first: {n}) {{ edges {{ node {{ id shortName board {{ id label sensors {{ kind sampleRateHz }} }} sensors {{ kind }} }} }} pageInfo {{ hasNextPage }} }} }}")
    };
    let mut costs = Vec::new();
    for n in [10, 100] {
        let before = registry.queries_run();
        let v = run(&registry, &query(n), false).await;
        assert!(v["errors"].is_null(), "{v}");
        let edges = v["data"]["devices"]["edges"].as_array().unwrap();
        assert_eq!(edges.len(), n);
        assert!(
            edges.iter().all(|e| e["node"]["board"]["label"].is_string()),
            "every device has its board"
        );
        costs.push(registry.queries_run() - before);
    }
    // The page's keys, the page's devices, one board batch, one sensor batch (the devices' and
    // their boards').
    assert_eq!(costs[1], 4, "a page of 100 cost {} store queries", costs[1]);
    assert_eq!(costs[0], costs[1], "the cost must not grow with the page size");
}

#[tokio::test(flavor = "multi_thread")]
async fn relay_pagination_walks_every_device_once() {
    let registry = seeded();
    let mut seen = Vec::new();
    let mut after: Option<String> = None;
    loop {
        let args = match &after {
            Some(c) => format!("first: 3, after: \"{c}\""),
            None => "first: 3".into(),
        };
        let v = run(&registry, &format!("{{ devices({args}) {{ edges {{ cursor node {{ shortName }} }} pageInfo {{ hasNextPage endCursor }} }} }}"), false).await;
        let page = &v["data"]["devices"];
        for e in page["edges"].as_array().unwrap() {
            seen.push(e["node"]["shortName"].as_str().unwrap().to_owned());
        }
        if !page["pageInfo"]["hasNextPage"].as_bool().unwrap() {
            break;
        }
        after = Some(page["pageInfo"]["endCursor"].as_str().unwrap().to_owned());
    }
    let mut unique = seen.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(seen.len(), unique.len());
    assert_eq!(seen.len(), 8);
    let bad = run(
        &registry,
        "{ devices(first: 3, after: \"!!!\") { edges { cursor } } }",
        false,
    )
    .await;
    assert!(
        bad["errors"][0]["message"].as_str().unwrap().contains("cursor"),
        "{bad}"
    );
    let huge = run(&registry, "{ devices(first: 100000) { edges { cursor } } }", false).await;
    assert!(!huge["errors"].is_null());
}

/// The answer's data as async-graphql gives it (objects keep the order of their keys).
async fn run_data(registry: &Registry, query: &str) -> async_graphql::Value {
    let schema = schema(seam_registry::matching::FleetIndex::new(registry.clone()), None);
    let request = seam_registry::graphql::prepare(
        async_graphql::Request::new(query),
        registry,
        seam_registry::access::Caller::Anonymous,
    );
    let response = schema.execute(request).await;
    assert!(response.errors.is_empty(), "{:?}", response.errors);
    response.data
}

/// The entries of a list, or of the list under `key` in an object.
fn entries<'a>(value: &'a async_graphql::Value, path: &[&str]) -> &'a [async_graphql::Value] {
    let mut v = value;
    for key in path {
        let async_graphql::Value::Object(map) = v else {
            panic!("{v}")
        };
        v = &map[*key];
    }
    match v {
        async_graphql::Value::List(list) => list,
        other => panic!("{other}"),
    }
}

/// An object's keys, in order.
fn keys(value: &async_graphql::Value) -> Vec<String> {
    let async_graphql::Value::Object(map) = value else {
        panic!("{value}")
    };
    map.keys().map(ToString::to_string).collect()
}

/// `compatible` is answered in one pass over the selection (`graphql::built`); the same objects
/// through async-graphql's own resolution (`compatibleDevices { fit }`, the same type) must be
/// the same, keys in the same order, whatever the selection's shape: fragments, aliases, a key
/// selected twice, `__typename`, `@skip`/`@include`.
#[tokio::test(flavor = "multi_thread")]
async fn the_one_pass_compatible_list_answers_as_the_executor_would() {
    let registry = seeded();
    let device = "https://w3id.org/seam/device/line3-acoustic-02";
    let selection = "...F m: model via @skip(if: true) runtime @include(if: true) \
        latencyAssumption { runtime } latencyAssumption { clockHz basis } ... on CompatibleModel { name }";
    let fragment = "fragment F on CompatibleModel { __typename model name task accuracy estimatedLatencyMs \
        ramBytes flashBytes via latencyAssumption { __typename runtime core clockHz macsPerCycle dtype \
        operatorClass basis source } }";
    let one_pass = run_data(
        &registry,
        &format!("{{ compatibleModels(device: \"{device}\") {{ compatible {{ {selection} }} }} }} {fragment}"),
    )
    .await;
    let list = entries(&one_pass, &["compatibleModels", "compatible"]);
    assert!(list.len() >= 3, "{one_pass}");
    for entry in list {
        let async_graphql::Value::Object(fields) = entry else {
            panic!("{entry}")
        };
        assert_eq!(fields["__typename"], async_graphql::Value::from("CompatibleModel"));
        assert_eq!(fields["m"], fields["model"]);
        let async_graphql::Value::String(model) = &fields["model"] else {
            panic!("{entry}")
        };
        let derived = run_data(
            &registry,
            &format!("{{ compatibleDevices(model: \"{model}\") {{ device fit {{ {selection} }} }} }} {fragment}"),
        )
        .await;
        let fit = entries(&derived, &["compatibleDevices"])
            .iter()
            .find_map(|d| match d {
                async_graphql::Value::Object(m) if m["device"] == async_graphql::Value::from(device) => Some(&m["fit"]),
                _ => None,
            })
            .unwrap_or_else(|| panic!("{model} does not list {device}: {derived}"));
        assert_eq!(entry, fit, "{model}");
        assert_eq!(keys(entry), keys(fit), "{model}: the same keys in the same order");
        let async_graphql::Value::Object(assumption) = &fields["latencyAssumption"] else {
            continue;
        };
        let async_graphql::Value::Object(derived_assumption) = (match fit {
            async_graphql::Value::Object(m) => &m["latencyAssumption"],
            other => other,
        }) else {
            panic!("{fit}")
        };
        let (a, b): (Vec<_>, Vec<_>) = (assumption.keys().collect(), derived_assumption.keys().collect());
        assert_eq!(a, b, "{model}: the merged latencyAssumption keys in the same order");
    }
}

/// What each latency figure assumes is made only for a selection that reads it: read through a
/// named or inline fragment, under an alias, or from an aliased list, it is there.
#[tokio::test(flavor = "multi_thread")]
async fn latency_assumptions_are_there_however_the_selection_reads_them() {
    let registry = seeded();
    let fragment = " fragment F on CompatibleModel { latencyAssumption { basis } }";
    for (list, selection, key, with) in [
        ("compatible", "...F", "latencyAssumption", fragment),
        (
            "compatible",
            "... on CompatibleModel { a: latencyAssumption { basis } }",
            "a",
            "",
        ),
        ("c: compatible", "x: latencyAssumption { basis }", "x", ""),
    ] {
        let data = run_data(
            &registry,
            &format!(
                "{{ compatibleModels(device: \"line3-acoustic-02\") {{ {list} {{ model {selection} }} }} }}{with}"
            ),
        )
        .await;
        let read = list.split(':').next().unwrap_or(list);
        let models = entries(&data, &["compatibleModels", read]);
        assert!(models.len() >= 3, "{data}");
        let with_assumption = models
            .iter()
            .filter(|m| matches!(m, async_graphql::Value::Object(f) if matches!(f.get(key), Some(async_graphql::Value::Object(_)))))
            .count();
        assert!(
            with_assumption >= 3,
            "{selection}: {with_assumption} assumptions in {data}"
        );
    }
}

/// The last read of the compatible list takes the models' strings instead of copying them: every
/// read of it, under aliases, in a fragment, or skipped, must still see them all.
#[tokio::test(flavor = "multi_thread")]
async fn every_read_of_the_compatible_list_sees_every_string() {
    let registry = seeded();
    let fields = "model name task runtime via";
    let data = run_data(
        &registry,
        &format!(
            "{{ compatibleModels(device: \"line3-acoustic-02\") {{ a: compatible {{ {fields} }} \
             s: compatible @skip(if: true) {{ model }} b: compatible {{ {fields} }} \
             ... on MatchReport {{ c: compatible {{ {fields} }} }} }} \
             once: compatibleModels(device: \"line3-acoustic-02\") {{ compatible {{ {fields} }} }} }}"
        ),
    )
    .await;
    let a = entries(&data, &["compatibleModels", "a"]);
    assert!(a.len() >= 3, "{data}");
    for (key, list) in [
        ("b", entries(&data, &["compatibleModels", "b"])),
        ("c", entries(&data, &["compatibleModels", "c"])),
        ("once", entries(&data, &["once", "compatible"])),
    ] {
        assert_eq!(list, a, "{key}");
    }
    for entry in a {
        let async_graphql::Value::Object(map) = entry else {
            panic!("{entry}")
        };
        for field in ["model", "name", "runtime", "via"] {
            assert!(
                matches!(&map[field], async_graphql::Value::String(s) if !s.is_empty()),
                "{field} in {entry}"
            );
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn compatible_models_is_the_match_report() {
    let registry = seeded();
    let v = run(
        &registry,
        "{ compatibleModels(device: \"line3-acoustic-02\", explain: true) { device compatible { model via ramBytes flashBytes estimatedLatencyMs accuracy } rejected { model reasons { constraint required available message } } } }",
        false,
    )
    .await;
    assert!(v["errors"].is_null(), "{v}");
    let fleet = fleet(&registry);
    let report = matching::match_device(&fleet, "line3-acoustic-02", &MatchOptions::default(), true).unwrap();
    let direct = serde_json::to_value(&report).unwrap();
    let gql = &v["data"]["compatibleModels"];
    assert_eq!(gql["device"], direct["device"]);
    for (g, d) in gql["compatible"]
        .as_array()
        .unwrap()
        .iter()
        .zip(direct["compatible"].as_array().unwrap())
    {
        for k in [
            "model",
            "via",
            "ramBytes",
            "flashBytes",
            "estimatedLatencyMs",
            "accuracy",
        ] {
            assert_eq!(g[k], d[k], "{k}");
        }
    }
    assert_eq!(
        gql["rejected"].as_array().unwrap().len(),
        direct["rejected"].as_array().unwrap().len()
    );
    let devices = run(
        &registry,
        "{ compatibleDevices(model: \"cat:kws-dscnn-int8\") { device fit { via } } fleetMatrix { device model via } }",
        false,
    )
    .await;
    assert!(
        devices["data"]["compatibleDevices"].as_array().unwrap().len() >= 3,
        "{devices}"
    );
    assert!(devices["data"]["fleetMatrix"].as_array().unwrap().len() > 20);
    let unknown = run(&registry, "{ compatibleModels(device: \"nobody\") { device } }", false).await;
    assert_eq!(unknown["errors"][0]["extensions"]["code"], "BAD_USER_INPUT");
    let negative = run(
        &registry,
        "{ compatibleModels(device: \"line3-acoustic-02\", latencyBudgetMs: -1) { device } }",
        false,
    )
    .await;
    assert_eq!(negative["errors"][0]["extensions"]["code"], "BAD_USER_INPUT");
}

#[tokio::test(flavor = "multi_thread")]
async fn mutations_need_the_token_and_are_validated() {
    let registry = seeded();
    let register = "mutation { registerDevice(input: { shortName: \"line9-press-01\", board: \"cat:sparkfun-edge\", freeRamBytes: 300000, freeFlashBytes: 800000 }) { id shortName board { label } } }";
    let denied = run(&registry, register, false).await;
    assert_eq!(denied["errors"][0]["extensions"]["code"], "UNAUTHENTICATED", "{denied}");
    let before = registry.len().unwrap();
    let ok = run(&registry, register, true).await;
    assert!(ok["errors"].is_null(), "{ok}");
    assert_eq!(ok["data"]["registerDevice"]["board"]["label"], "SparkFun Edge");
    assert!(registry.len().unwrap() > before);
    // The new device is matched at once (the fleet index follows writes).
    let m = run(
        &registry,
        "{ compatibleModels(device: \"line9-press-01\") { compatible { model } } }",
        false,
    )
    .await;
    assert!(
        !m["data"]["compatibleModels"]["compatible"]
            .as_array()
            .unwrap()
            .is_empty(),
        "{m}"
    );
    let again = run(&registry, register, true).await;
    assert_eq!(again["errors"][0]["extensions"]["code"], "BAD_USER_INPUT");
    let size = registry.len().unwrap();
    let bad_board = run(
        &registry,
        "mutation { registerDevice(input: { shortName: \"x-1\", board: \"cat:no-such-board\" }) { id } }",
        true,
    )
    .await;
    let message = bad_board["errors"][0]["message"].as_str().unwrap();
    assert!(message.contains("is not a known seam:Board"), "{message}");
    assert_eq!(registry.len().unwrap(), size, "a refused mutation writes nothing");
    let model = run(
        &registry,
        "mutation { registerModel(input: { id: \"urn:seam:test:m1\", name: \"m1\", task: \"cat:keyword-spotting\", dtype: \"seam:int8\", params: 1000, macs: 50000, weightBytes: 1000, peakActivationBytes: 2048, operators: [\"Conv\", \"Relu\"], sensorKinds: [\"seam:microphone\"], accuracy: 0.8 }) { id name accuracy } }",
        true,
    )
    .await;
    assert!(model["errors"].is_null(), "{model}");
    assert_eq!(model["data"]["registerModel"]["accuracy"], 0.8);
    let bad_model = run(
        &registry,
        "mutation { registerModel(input: { id: \"urn:seam:test:m2\", name: \"m2\", task: \"cat:keyword-spotting\", dtype: \"seam:no-such-dtype\", params: 1, macs: 1, weightBytes: 1, peakActivationBytes: 1 }) { id } }",
        true,
    )
    .await;
    assert_eq!(
        bad_model["errors"][0]["extensions"]["code"], "BAD_USER_INPUT",
        "{bad_model}"
    );
    let syntax = run(&registry, "{ devices(first: ) }", false).await;
    assert!(!syntax["errors"].is_null());
}

#[test]
fn graphql_over_http() {
    let app = crate::helpers::spawn_app(ServiceConfig {
        token: Some("tok".into()),
        ..ServiceConfig::default()
    });
    let addr = app.addr;
    let client = reqwest::blocking::Client::new();
    let url = format!("http://{addr}/graphql");
    let page = client.get(&url).header("accept", "text/html").send().unwrap();
    assert!(page.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/html"));
    let page = page.text().unwrap();
    assert!(page.contains("graphiql"));
    // Everything the page loads comes from this service: no CDN, so it works offline.
    let base = url.trim_end_matches("/graphql").to_owned();
    let mut loaded = 0;
    for reference in page
        .split(['"', '\''])
        .filter(|r| r.starts_with('/') || r.starts_with("http"))
    {
        assert!(reference.starts_with("/graphql/assets/"), "the page loads {reference}");
        let asset = client.get(format!("{base}{reference}")).send().unwrap();
        assert_eq!(asset.status(), 200, "{reference}");
        let kind = asset.headers()["content-type"].to_str().unwrap().to_owned();
        assert!(
            kind.starts_with("text/javascript") || kind.starts_with("text/css"),
            "{reference}: {kind}"
        );
        assert!(asset.bytes().unwrap().len() > 100, "{reference}");
        loaded += 1;
    }
    assert_eq!(loaded, 5, "the page's scripts and styles");
    assert_eq!(
        client
            .get(format!("{base}/graphql/assets/../Cargo.toml"))
            .send()
            .unwrap()
            .status(),
        404
    );
    let v: Value = client
        .get(&url)
        .query(&[("query", "{ boards { id } }")])
        .send()
        .unwrap()
        .json()
        .unwrap();
    assert!(v["data"]["boards"].as_array().unwrap().len() >= 12);
    let mutation = "mutation { registerDevice(input: { shortName: \"g-1\", board: \"cat:raspberrypi-pico\" }) { id } }";
    let by_get: Value = client
        .get(&url)
        .query(&[("query", mutation)])
        .bearer_auth("tok")
        .send()
        .unwrap()
        .json()
        .unwrap();
    assert!(
        by_get["errors"][0]["message"].as_str().unwrap().contains("POST"),
        "{by_get}"
    );
    let posted: Value = client
        .post(&url)
        .bearer_auth("tok")
        .json(&json!({ "query": mutation }))
        .send()
        .unwrap()
        .json()
        .unwrap();
    assert!(posted["errors"].is_null(), "{posted}");
    let wrong = client
        .post(&url)
        .bearer_auth("nope")
        .json(&json!({ "query": "{ boards { id } }" }))
        .send()
        .unwrap();
    assert_eq!(wrong.status(), 401);
    let garbage = client
        .post(&url)
        .header("content-type", "application/json")
        .body("{\"query\": 5")
        .send()
        .unwrap();
    assert_eq!(garbage.status(), 400);
    assert_eq!(garbage.headers()["content-type"], "application/problem+json");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_registrations_of_one_name_make_one_device() {
    let registry = seeded();
    let mutation = |i: usize| {
        format!(
            "mutation {{ registerDevice(input: {{ shortName: \"twin-1\", id: \"urn:twin:{i}\", board: \"cat:raspberrypi-pico\" }}) {{ id }} }}"
        )
    };
    let tasks: Vec<_> = (0..10)
        .map(|i| {
            let registry = registry.clone();
            let m = mutation(i);
            tokio::spawn(async move { run(&registry, &m, true).await })
        })
        .collect();
    let mut ok = 0;
    for task in tasks {
        let answer = task.await.unwrap();
        if answer["errors"].is_null() {
            ok += 1;
        } else {
            assert!(
                answer["errors"][0]["message"]
                    .as_str()
                    .unwrap()
                    .contains("exists already"),
                "{answer}"
            );
        }
    }
    assert_eq!(ok, 1, "exactly one registration of the name succeeds");
    // And the next one, sequentially, is refused too.
    let again = run(&registry, &mutation(99), true).await;
    assert!(!again["errors"].is_null(), "{again}");
    let count = match registry
        .query(
            "SELECT (COUNT(?d) AS ?n) WHERE { ?d seam:shortName \"twin-1\" }",
            &seam_registry::QueryLimits::default(),
        )
        .unwrap()
    {
        seam_registry::QueryAnswer::Solutions { rows, .. } => rows[0][0].as_ref().unwrap().to_string(),
        other => panic!("{other:?}"),
    };
    assert!(count.starts_with("\"1\""), "{count}");
}

/// GraphiQL (and other tools) fetch the schema with the standard introspection query, whose
/// type references nest seven `ofType` deep: the depth limit must let it through.
/// One document, sent again with other variables, answers for those variables: what is kept of a
/// document is its parse, not its answer. A document that does not parse fails every time.
#[tokio::test]
async fn a_document_sent_again_answers_for_its_new_variables() {
    let r = seeded();
    let schema = schema(seam_registry::matching::FleetIndex::new(r.clone()), None);
    let query = "query($d: String!) { compatibleModels(device: $d) { device } }";
    let devices = ["line3-vibration-01", "dock-camera-01", "line3-vibration-01"];
    for d in devices {
        let request =
            async_graphql::Request::new(query).variables(async_graphql::Variables::from_json(json!({ "d": d })));
        let request = seam_registry::graphql::prepare(request, &r, seam_registry::access::Caller::Anonymous);
        let answer = serde_json::to_value(schema.execute(request).await).unwrap();
        assert_eq!(answer["errors"], Value::Null, "{answer}");
        assert!(
            answer["data"]["compatibleModels"]["device"]
                .as_str()
                .unwrap()
                .ends_with(d),
            "{d}: {answer}"
        );
    }
    for _ in 0..2 {
        let request = seam_registry::graphql::prepare(
            async_graphql::Request::new("{ compatibleModels(device: "),
            &r,
            seam_registry::access::Caller::Anonymous,
        );
        let answer = serde_json::to_value(schema.execute(request).await).unwrap();
        assert!(answer["errors"][0]["message"].is_string(), "{answer}");
    }
}

/// Documents that write the device into their text share a shape: the kept tree of the shape
/// answers each with its own device, and an error names the document's own value at the
/// document's own position, as a fresh parse does.
#[tokio::test]
async fn documents_of_one_shape_answer_for_their_own_values() {
    let r = seeded();
    let ask = |schema: async_graphql::Schema<_, _, _>, query: String| {
        let r = r.clone();
        async move {
            let request = seam_registry::graphql::prepare(
                async_graphql::Request::new(query),
                &r,
                seam_registry::access::Caller::Anonymous,
            );
            serde_json::to_value(schema.execute(request).await).unwrap()
        }
    };
    let inline = |d: &str| format!(r#"{{ compatibleModels(device: "{d}") {{ device compatible {{ model via }} }} }}"#);
    let by_variable = |d: &str| {
        let request = async_graphql::Request::new(
            "query($d: String!) { compatibleModels(device: $d) { device compatible { model via } } }",
        )
        .variables(async_graphql::Variables::from_json(json!({ "d": d })));
        seam_registry::graphql::prepare(request, &r, seam_registry::access::Caller::Anonymous)
    };
    let fresh_schema = || schema(seam_registry::matching::FleetIndex::new(r.clone()), None);
    let schema = fresh_schema();
    // Two lengths, two devices each, each asked three times in turn: the shape is kept the
    // second time it comes, and answers from then on.
    for round in 0..3 {
        for d in [
            "dock-camera-01",
            "gate-camera-02",
            "line3-vibration-01",
            "press-vibration-03",
        ] {
            let answer = ask(schema.clone(), inline(d)).await;
            assert_eq!(answer["errors"], Value::Null, "{answer}");
            let expected = serde_json::to_value(schema.execute(by_variable(d)).await).unwrap();
            assert_eq!(answer["data"], expected["data"], "round {round}, {d}");
            assert!(answer["data"]["compatibleModels"]["device"]
                .as_str()
                .unwrap()
                .ends_with(d));
        }
    }
    // An unknown device of a kept shape's length: the same error as a schema that never saw the
    // shape gives, its message and its location.
    let unknown = inline("nope-camera-99");
    let answer = ask(schema.clone(), unknown.clone()).await;
    let fresh = ask(fresh_schema(), unknown).await;
    assert!(
        answer["errors"][0]["message"]
            .as_str()
            .unwrap()
            .contains("nope-camera-99"),
        "{answer}"
    );
    assert_eq!(answer, fresh);
}

#[tokio::test]
async fn the_standard_introspection_query_passes_the_limits() {
    let registry = seeded();
    let query = r#"
      query IntrospectionQuery {
        __schema {
          queryType { name } mutationType { name } subscriptionType { name }
          types { ...FullType }
          directives { name description locations args { ...InputValue } }
        }
      }
      fragment FullType on __Type {
        kind name description
        fields(includeDeprecated: true) { name description args { ...InputValue } type { ...TypeRef } isDeprecated deprecationReason }
        inputFields { ...InputValue }
        interfaces { ...TypeRef }
        enumValues(includeDeprecated: true) { name description isDeprecated deprecationReason }
        possibleTypes { ...TypeRef }
      }
      fragment InputValue on __InputValue { name description type { ...TypeRef } defaultValue }
      fragment TypeRef on __Type {
        kind name
        ofType { kind name ofType { kind name ofType { kind name ofType { kind name
          ofType { kind name ofType { kind name ofType { kind name ofType { kind name } } } } } } } }
      }"#;
    let answer = run(&registry, query, false).await;
    assert!(answer["errors"].is_null(), "{answer}");
    assert!(answer["data"]["__schema"]["types"].as_array().unwrap().len() > 10);
}

/// What the web page asks of the fleet: the summary a filter selects agrees with the devices it
/// lists, the search narrows both, and the matrix's board rows count what its device rows judge.
#[tokio::test(flavor = "multi_thread")]
async fn fleet_summary_search_and_the_matrix_agree_with_the_listing() {
    let registry = seeded();
    let text = fleet_turtle(
        FleetSpec {
            boards: 6,
            devices: 120,
            runtimes: 3,
            models: 8,
        },
        11,
    );
    registry
        .load(&[parse_document("synth.ttl", text, RdfFormat::Turtle, None).unwrap()])
        .unwrap();
    let all = run(
        &registry,
        "{ fleetSummary { devices online offline unknown boards { board devices } } devices(first: 500) { nodes { id shortName status board { id } } } }",
        false,
    )
    .await;
    assert!(all["errors"].is_null(), "{all:#}");
    let summary = &all["data"]["fleetSummary"];
    let nodes = all["data"]["devices"]["nodes"].as_array().unwrap();
    assert_eq!(summary["devices"].as_u64().unwrap() as usize, nodes.len());
    let by_status = |s: &str| nodes.iter().filter(|n| n["status"] == s).count() as u64;
    assert_eq!(summary["online"].as_u64().unwrap(), by_status("ONLINE"));
    assert_eq!(summary["offline"].as_u64().unwrap(), by_status("OFFLINE"));
    assert_eq!(summary["unknown"].as_u64().unwrap(), by_status("UNKNOWN"));
    let boards = summary["boards"].as_array().unwrap();
    let counted: u64 = boards.iter().map(|b| b["devices"].as_u64().unwrap()).sum();
    assert_eq!(counted as usize, nodes.len());
    let first = boards[0]["board"].as_str().unwrap();
    let on_first = nodes.iter().filter(|n| n["board"]["id"] == first).count() as u64;
    assert_eq!(boards[0]["devices"].as_u64().unwrap(), on_first);

    // The search is a case-blind substring of the name (and label, location, IRI).
    let name = nodes[3]["shortName"].as_str().unwrap().to_uppercase();
    let found = run(
        &registry,
        &format!(
            "{{ fleetSummary(filter: {{search: \"{name}\"}}) {{ devices }} devices(filter: {{search: \"{name}\"}}) {{ nodes {{ shortName }} }} }}"
        ),
        false,
    )
    .await;
    let listed = found["data"]["devices"]["nodes"].as_array().unwrap();
    assert!(!listed.is_empty(), "{found:#}");
    assert!(listed
        .iter()
        .all(|n| n["shortName"].as_str().unwrap().to_uppercase().contains(&name)));
    assert_eq!(
        found["data"]["fleetSummary"]["devices"].as_u64().unwrap() as usize,
        listed.len()
    );
    // A search that is all wildcards in other languages is plain text here.
    let odd = run(
        &registry,
        "{ devices(filter: {search: \".*\"}) { nodes { id } } }",
        false,
    )
    .await;
    assert_eq!(odd["data"]["devices"]["nodes"].as_array().unwrap().len(), 0, "{odd:#}");
    let long = "x".repeat(201);
    let refused = run(
        &registry,
        &format!("{{ devices(filter: {{search: \"{long}\"}}) {{ nodes {{ id }} }} }}"),
        false,
    )
    .await;
    assert!(
        refused["errors"][0]["message"].as_str().unwrap().contains("200"),
        "{refused:#}"
    );

    // The matrix: board rows count every device; their cells sum to what device rows say.
    let grid = |rows: &str| {
        format!(
            "{{ compatibilityMatrix(rows: {rows}, rowLimit: 500, modelLimit: 200) {{ totalRows totalModels models {{ model }} rows {{ key board devices cells {{ asIs int8 no }} }} }} }}"
        )
    };
    let boards = run(&registry, &grid("BOARDS"), false).await;
    let devices = run(&registry, &grid("DEVICES"), false).await;
    let (b, d) = (
        &boards["data"]["compatibilityMatrix"],
        &devices["data"]["compatibilityMatrix"],
    );
    assert_eq!(d["totalRows"].as_u64().unwrap() as usize, nodes.len(), "{devices:#}");
    let models = b["totalModels"].as_u64().unwrap() as usize;
    assert_eq!(b["models"].as_array().unwrap().len(), models);
    let fleet = fleet(&registry);
    let pairs = matching::fleet_matrix(&fleet, &MatchOptions::default()).len() as u64;
    let compatible = |v: &Value| -> u64 {
        v["rows"]
            .as_array()
            .unwrap()
            .iter()
            .flat_map(|r| r["cells"].as_array().unwrap())
            .map(|c| c["asIs"].as_u64().unwrap() + c["int8"].as_u64().unwrap())
            .sum()
    };
    assert_eq!(compatible(b), pairs);
    assert_eq!(compatible(d), pairs);
    for row in b["rows"].as_array().unwrap() {
        let n = row["devices"].as_u64().unwrap();
        for c in row["cells"].as_array().unwrap() {
            assert_eq!(
                c["asIs"].as_u64().unwrap() + c["int8"].as_u64().unwrap() + c["no"].as_u64().unwrap(),
                n
            );
        }
    }
    // Windows out of range are refused with the limit in the message.
    let bad = run(
        &registry,
        "{ compatibilityMatrix(rowLimit: 100000) { totalRows } }",
        false,
    )
    .await;
    assert!(
        bad["errors"][0]["message"]
            .as_str()
            .unwrap()
            .contains("between 0 and 500"),
        "{bad:#}"
    );
    let bad = run(
        &registry,
        "{ compatibilityMatrix(modelOffset: -1) { totalRows } }",
        false,
    )
    .await;
    assert!(
        bad["errors"][0]["message"].as_str().unwrap().contains("negative"),
        "{bad:#}"
    );
}
