//! LwM2M devices in the graph: real clients over UDP on loopback, the bridge, the real store,
//! and SPARQL to see the result.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use seam_lwm2m::client::{ClientConfig, DeviceProfile, Lwm2mClient};
use seam_lwm2m::coap::{Code, Endpoint, Method, NotFound, Request, TransmissionParams};
use seam_lwm2m::server::{DeliveryMethod, Lwm2mServer, ServerConfig};
use seam_registry::live::{DeployRequest, Lwm2mBridge};
use seam_registry::{QueryAnswer, QueryLimits, Registry};

fn fast() -> TransmissionParams {
    TransmissionParams::fast(Duration::from_millis(100))
}

async fn service() -> (Registry, Lwm2mBridge, SocketAddr) {
    let registry = Registry::in_memory().unwrap();
    registry.seed_if_empty().unwrap();
    let config = ServerConfig {
        params: fast(),
        expiry_check: Duration::from_millis(100),
        delivery_timeout: Duration::from_secs(120),
        state_poll: Duration::from_secs(1),
        ..ServerConfig::default()
    };
    let (server, events) = Lwm2mServer::bind("127.0.0.1:0".parse().unwrap(), config).await.unwrap();
    let addr = server.local_addr().unwrap();
    let bridge = Lwm2mBridge::start(registry.clone(), server, events, None).unwrap();
    (registry, bridge, addr)
}

/// The rows of a SELECT, each value as its lexical form or IRI.
fn select(registry: &Registry, sparql: &str) -> Vec<Vec<String>> {
    match registry.query(sparql, &QueryLimits::default()).unwrap() {
        QueryAnswer::Solutions { rows, .. } => rows
            .into_iter()
            .map(|row| {
                row.into_iter()
                    .map(|t| match t {
                        Some(oxigraph::model::Term::NamedNode(n)) => n.into_string(),
                        // GROUP_CONCAT keeps no order: compare lists as sets.
                        Some(oxigraph::model::Term::Literal(l)) if l.value().contains(',') => {
                            let mut items: Vec<&str> = l.value().split(',').collect();
                            items.sort_unstable();
                            items.join(",")
                        }
                        Some(oxigraph::model::Term::Literal(l)) => l.value().to_owned(),
                        Some(other) => other.to_string(),
                        None => String::new(),
                    })
                    .collect()
            })
            .collect(),
        other => panic!("not a SELECT answer: {other:?}"),
    }
}

/// Polls `sparql` until it returns `expected` rows (the bridge writes asynchronously).
async fn eventually(registry: &Registry, sparql: &str, expected: &[&[&str]]) {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let rows = select(registry, sparql);
        let matches = rows.len() == expected.len()
            && rows
                .iter()
                .zip(expected)
                .all(|(r, e)| r.iter().map(String::as_str).eq(e.iter().copied()));
        if matches {
            return;
        }
        assert!(Instant::now() < deadline, "{sparql}\n got {rows:?}\n want {expected:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

const DEVICE: &str = "PREFIX seam: <https://w3id.org/seam/ontology#>
SELECT ?status ?board ?free ?serial (GROUP_CONCAT(?kind; separator=\",\") AS ?sensors) WHERE {
  ?d seam:shortName \"%NAME%\" ; seam:status ?status .
  OPTIONAL { ?d seam:board ?board }
  OPTIONAL { ?d seam:freeFlashBytes ?free }
  OPTIONAL { ?d seam:serialNumber ?serial }
  OPTIONAL { SELECT ?d ?kind WHERE { ?d seam:hasSensor/seam:sensorKind ?k BIND(STRAFTER(STR(?k), \"#\") AS ?kind) } ORDER BY ?kind }
} GROUP BY ?status ?board ?free ?serial";

fn device_query(name: &str) -> String {
    DEVICE.replace("%NAME%", name)
}

const SEAM: &str = "https://w3id.org/seam/ontology#";
const CAT: &str = "https://w3id.org/seam/catalog/";

#[tokio::test]
async fn a_registering_client_becomes_a_described_device_and_goes_offline() {
    let (registry, _bridge, addr) = service().await;
    let mut profile = DeviceProfile::new("STMicroelectronics", "disco_l475_iot1", "L475-7");
    profile.memory_free_kib = 88;
    profile.sensors = vec![3303, 3313];
    profile.software_management = false;
    profile.firmware_update = false;
    let mut config = ClientConfig::new("plant-a-7", addr, profile);
    config.params = fast();
    let client = Lwm2mClient::start(config).await.unwrap();
    // Exactly the registration of the issue: Objects 1 and 3, a temperature sensor, an accelerometer.
    assert_eq!(
        client.registration_links(),
        "</>;rt=\"oma.lwm2m\";ct=110,</1/0>,</3/0>,</3303/0>,</3313/0>"
    );
    client.register().await.unwrap();

    let online = format!("{SEAM}Online");
    let board = format!("{CAT}st-b-l475e-iot01a");
    eventually(
        &registry,
        &device_query("plant-a-7"),
        &[&[&online, &board, "90112", "L475-7", "accelerometer,temperature"]],
    )
    .await;
    // Matching sees it like any catalog device.
    let fleet = crate::helpers::fleet(&registry);
    let options = seam_registry::matching::MatchOptions::default();
    assert!(seam_registry::matching::match_device(&fleet, "plant-a-7", &options, true).is_some());

    client.deregister().await.unwrap();
    let offline = format!("{SEAM}Offline");
    eventually(
        &registry,
        &device_query("plant-a-7"),
        &[&[&offline, &board, "90112", "L475-7", "accelerometer,temperature"]],
    )
    .await;
}

#[tokio::test]
async fn a_device_checking_in_leaves_the_fleet_index_as_it_was() {
    let (registry, _bridge, addr) = service().await;
    let mut profile = DeviceProfile::new("STMicroelectronics", "disco_l475_iot1", "L475-8");
    profile.sensors = vec![3303, 3313];
    let mut config = ClientConfig::new("plant-a-8", addr, profile);
    config.params = fast();
    let client = Lwm2mClient::start(config).await.unwrap();
    client.register().await.unwrap();
    let online = format!("{SEAM}Online");
    let board = format!("{CAT}st-b-l475e-iot01a");
    let free = (DeviceProfile::new("", "", "").memory_free_kib * 1024).to_string();
    eventually(
        &registry,
        &device_query("plant-a-8"),
        &[&[&online, &board, &free, "L475-8", "accelerometer,temperature"]],
    )
    .await;
    let index = seam_registry::matching::FleetIndex::new(registry.clone());
    let read = index.fleet().unwrap();
    let last_seen = |registry: &Registry| {
        select(
            registry,
            "PREFIX seam: <https://w3id.org/seam/ontology#> SELECT ?t WHERE { ?d seam:shortName \"plant-a-8\" ; seam:lastSeen ?t }",
        )
    };
    let seen = last_seen(&registry);
    let version = registry.version();

    // An Update (the same sensors announced again): written, and only as the device's state.
    tokio::time::sleep(Duration::from_millis(5)).await;
    client.update().await.unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    while last_seen(&registry) == seen {
        assert!(Instant::now() < deadline, "the Update was never written");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(registry.version() > version, "the check-in is a write");
    let kept = index.cached().expect("a check-in leaves the fleet index current");
    assert!(Arc::ptr_eq(&read, &kept));
    eventually(
        &registry,
        &device_query("plant-a-8"),
        &[&[&online, &board, &free, "L475-8", "accelerometer,temperature"]],
    )
    .await;
}

#[tokio::test]
async fn a_device_that_cannot_answer_is_flagged_and_an_unknown_board_is_flagged_with_what_it_said() {
    let (registry, _bridge, addr) = service().await;
    // A raw registration from an endpoint that answers nothing (as `coap-client` does).
    let raw = Endpoint::bind("127.0.0.1:0".parse().unwrap(), fast(), Arc::new(NotFound))
        .await
        .unwrap();
    let mut request = Request::new(Method::Post, "rd");
    request.query = vec!["ep=by-hand".into(), "lt=60".into()];
    request.payload = b"</3/0>,</3303/0>".to_vec();
    assert_eq!(raw.request(addr, request).await.unwrap().code, Code::Created);

    let mut profile = DeviceProfile::new("ACME Sensing", "ACME-X1000", "X-1");
    profile.sensors = vec![3324];
    let mut config = ClientConfig::new("mystery", addr, profile);
    config.params = fast();
    let client = Lwm2mClient::start(config).await.unwrap();
    client.register().await.unwrap();

    let flags = "PREFIX seam: <https://w3id.org/seam/ontology#>
        SELECT ?name ?flag ?model WHERE { ?d seam:lwm2mEndpoint ?name ; seam:flag ?f .
          OPTIONAL { ?d seam:reportedModelNumber ?model } BIND(STRAFTER(STR(?f), \"#\") AS ?flag) } ORDER BY ?name";
    eventually(
        &registry,
        flags,
        &[
            &["by-hand", "NotDescribed", ""],
            &["mystery", "UnknownBoard", "ACME-X1000"],
        ],
    )
    .await;
    // The unanswered read left the by-hand device with its announced sensor all the same.
    eventually(
        &registry,
        &device_query("by-hand"),
        &[&[&format!("{SEAM}Online"), "", "", "", "temperature"]],
    )
    .await;
}

#[tokio::test]
async fn a_200_kb_package_reaches_100_devices_through_10_percent_loss_and_the_graph_records_it() {
    let (registry, bridge, addr) = service().await;
    let mut rng = fastrand::Rng::with_seed(5);
    let package: Vec<u8> = (0..200 * 1024).map(|_| rng.u8(..)).collect();
    let sha = bridge.add_package(package).unwrap();
    let mut clients = Vec::new();
    let mut names = Vec::new();
    for i in 0..100 {
        let name = format!("fleet-{i}");
        let mut profile = DeviceProfile::new("Arduino", "ABX00031", &format!("N33-{i}"));
        profile.sensors = vec![3313];
        let mut config = ClientConfig::new(&name, addr, profile);
        config.params = TransmissionParams { loss: 0.10, ..fast() };
        let client = Lwm2mClient::start(config).await.unwrap();
        client.register().await.unwrap();
        clients.push(client);
        names.push(name);
    }
    let results = bridge
        .deploy(&DeployRequest {
            sha256: sha.clone(),
            devices: names,
            method: DeliveryMethod::Pull,
        })
        .await;
    let failed: Vec<_> = results.iter().filter(|r| !r.installed).collect();
    assert!(failed.is_empty(), "{failed:?}");
    for client in &clients {
        assert_eq!(
            client.installed(),
            vec![sha.clone()],
            "{} verified and installed",
            client.name()
        );
    }
    let count = format!(
        "PREFIX seam: <https://w3id.org/seam/ontology#> PREFIX prov: <http://www.w3.org/ns/prov#>
         SELECT (COUNT(DISTINCT ?device) AS ?n) WHERE {{
           ?dep a seam:Deployment ; seam:result \"installed\" ; seam:updateResult 2 ; seam:target ?device ;
                prov:used ?artifact ; prov:endedAtTime ?end .
           ?artifact seam:sha256 \"{sha}\" . ?device seam:runs ?artifact }}"
    );
    eventually(&registry, &count, &[&["100"]]).await;
}

#[tokio::test]
async fn deliveries_of_a_known_package_leave_the_fleet_index_as_it_was() {
    let (registry, bridge, addr) = service().await;
    let sha = bridge.add_package(vec![7u8; 4096]).unwrap();
    let mut clients = Vec::new();
    for i in 0..2 {
        let name = format!("line-{i}");
        let mut config = ClientConfig::new(
            &name,
            addr,
            DeviceProfile::new("Arduino", "ABX00031", &format!("L-{i}")),
        );
        config.params = fast();
        let client = Lwm2mClient::start(config).await.unwrap();
        client.register().await.unwrap();
        clients.push(client);
    }
    let described = "PREFIX seam: <https://w3id.org/seam/ontology#>
        SELECT (COUNT(?d) AS ?n) WHERE { ?d seam:lwm2mEndpoint ?e ; seam:board ?b FILTER(STRSTARTS(?e, \"line-\")) }";
    eventually(&registry, described, &[&["2"]]).await;
    let deliver = |device: &str| DeployRequest {
        sha256: sha.clone(),
        devices: vec![device.to_owned()],
        method: DeliveryMethod::Pull,
    };
    // The first delivery describes the artifact; the second only delivers it.
    assert!(bridge.deploy(&deliver("line-0")).await.iter().all(|r| r.installed));
    let ended = |n: &str| {
        format!(
            "PREFIX seam: <https://w3id.org/seam/ontology#> PREFIX prov: <http://www.w3.org/ns/prov#>
             SELECT (COUNT(?dep) AS ?n) WHERE {{ ?dep a seam:Deployment ; prov:endedAtTime ?t }} HAVING (COUNT(?dep) = {n})"
        )
    };
    eventually(&registry, &ended("1"), &[&["1"]]).await;
    let index = seam_registry::matching::FleetIndex::new(registry.clone());
    let read = index.fleet().unwrap();
    let version = registry.version();
    assert!(bridge.deploy(&deliver("line-1")).await.iter().all(|r| r.installed));
    eventually(&registry, &ended("2"), &[&["2"]]).await;
    assert!(registry.version() > version, "the delivery was recorded");
    let kept = index.cached().expect("a delivery leaves the fleet index current");
    assert!(Arc::ptr_eq(&read, &kept));
}

#[tokio::test]
async fn a_registration_never_takes_over_a_device_it_did_not_create() {
    let (registry, _bridge, addr) = service().await;
    // A device registered by an operator (no LwM2M binding), with its own board and firmware.
    registry
        .update(
            "INSERT DATA { dev:press-line-9 a seam:Device ; seam:shortName \"press-line-9\" ;
               seam:board cat:sparkfun-edge ; seam:firmwareVersion \"7.0\" ; seam:status seam:Offline }",
        )
        .unwrap();
    let mut profile = DeviceProfile::new("Raspberry Pi", "pico", "FAKE-1");
    profile.sensors = vec![3303; 1];
    let mut config = ClientConfig::new("press-line-9", addr, profile);
    config.params = fast();
    let client = Lwm2mClient::start(config).await.unwrap();
    client.register().await.unwrap();
    // A client that is bound (a catalog device) is described as usual, meanwhile.
    let mut bound = ClientConfig::new(
        "line3-vibration-01",
        addr,
        DeviceProfile::new("STMicroelectronics", "disco_l475_iot1", "L475-1"),
    );
    bound.params = fast();
    let bound = Lwm2mClient::start(bound).await.unwrap();
    bound.register().await.unwrap();
    eventually(
        &registry,
        "PREFIX seam: <https://w3id.org/seam/ontology#> SELECT ?s WHERE { ?d seam:shortName \"line3-vibration-01\" ; seam:status ?s ; seam:serialNumber \"L475-1\" }",
        &[&[&format!("{SEAM}Online")]],
    )
    .await;
    let rows = select(
        &registry,
        "PREFIX seam: <https://w3id.org/seam/ontology#>
         SELECT ?status ?board ?fw (COUNT(?sensor) AS ?sensors) WHERE {
           dev:press-line-9 seam:status ?status ; seam:board ?board ; seam:firmwareVersion ?fw
           OPTIONAL { dev:press-line-9 seam:hasSensor ?sensor } } GROUP BY ?status ?board ?fw",
    );
    assert_eq!(
        rows,
        vec![vec![
            format!("{SEAM}Offline"),
            format!("{CAT}sparkfun-edge"),
            "7.0".to_owned(),
            "0".to_owned()
        ]]
    );
}

#[tokio::test]
async fn after_a_restart_devices_are_offline_and_unfinished_deliveries_interrupted() {
    let registry = Registry::in_memory().unwrap();
    registry.seed_if_empty().unwrap();
    // What a killed service left behind: a device online, a delivery mid-way.
    registry
        .update(
            "DELETE { dev:line3-acoustic-02 seam:status ?s } INSERT { dev:line3-acoustic-02 seam:status seam:Online }
             WHERE { dev:line3-acoustic-02 seam:status ?s } ;
             INSERT DATA { <urn:deployment:1> a seam:Deployment ; seam:target dev:line3-acoustic-02 ;
               seam:result \"downloading\" ; prov:startedAtTime \"2026-01-01T00:00:00Z\"^^xsd:dateTime }",
        )
        .unwrap();
    let (server, events) = Lwm2mServer::bind("127.0.0.1:0".parse().unwrap(), ServerConfig::default())
        .await
        .unwrap();
    let _bridge = Lwm2mBridge::start(registry.clone(), server, events, None).unwrap();
    let online = select(
        &registry,
        "PREFIX seam: <https://w3id.org/seam/ontology#> SELECT ?d WHERE { ?d seam:status seam:Online }",
    );
    assert!(online.is_empty(), "{online:?}");
    let delivery = select(
        &registry,
        "PREFIX seam: <https://w3id.org/seam/ontology#> PREFIX prov: <http://www.w3.org/ns/prov#>
         SELECT ?result WHERE { <urn:deployment:1> seam:result ?result ; prov:endedAtTime ?end }",
    );
    assert_eq!(delivery.len(), 1, "{delivery:?}");
    assert!(
        delivery[0][0].starts_with("interrupted") && delivery[0][0].contains("downloading"),
        "{delivery:?}"
    );
}

/// A device that registers and then never answers a request.
struct Silent;

impl seam_lwm2m::coap::Handler for Silent {
    fn handle(&self, _request: Request) -> seam_lwm2m::coap::BoxFuture<seam_lwm2m::coap::Response> {
        Box::pin(std::future::pending())
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_a_flood_of_silent_registrations_a_real_device_is_described_in_seconds() {
    // The server's own reads use CoAP's default transmission parameters: a silent device holds
    // a read for as long as the bridge lets it, not 100 ms.
    let registry = Registry::in_memory().unwrap();
    registry.seed_if_empty().unwrap();
    let config = ServerConfig {
        expiry_check: Duration::from_millis(100),
        ..ServerConfig::default()
    };
    let (server, events) = Lwm2mServer::bind("127.0.0.1:0".parse().unwrap(), config).await.unwrap();
    let addr = server.local_addr().unwrap();
    let _bridge = Lwm2mBridge::start(registry.clone(), server.clone(), events, None).unwrap();
    // 400 registrations, more than the bridge reads at once, from 50 sockets that never answer.
    let mut flooders = Vec::new();
    for _ in 0..50 {
        flooders.push(
            Endpoint::bind("127.0.0.1:0".parse().unwrap(), fast(), Arc::new(Silent))
                .await
                .unwrap(),
        );
    }
    let tasks = tokio::runtime::Handle::current().metrics();
    let before = tasks.num_alive_tasks();
    let flood = Instant::now();
    for (s, endpoint) in flooders.iter().enumerate() {
        for i in 0..8 {
            let mut request = Request::new(Method::Post, "rd");
            request.query = vec![format!("ep=flood-{s}-{i}"), "lt=600".into()];
            request.payload = b"</1/0>,</3/0>".to_vec();
            assert_eq!(endpoint.request(addr, request).await.unwrap().code, Code::Created);
        }
    }
    assert_eq!(server.registered(), 400);
    // Each silent device holds its reader 5 s: once all 400 are in line, what runs is the 256
    // readers and their reads' exchanges, not a task for each device in line (656 tasks). Read
    // before the first reads give up (each failure then waits in a task of its own).
    let mut during = 0;
    let window = Instant::now();
    while window.elapsed() < Duration::from_millis(1_500) && flood.elapsed() < Duration::from_millis(4_500) {
        during = during.max(tasks.num_alive_tasks().saturating_sub(before));
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(
        (256..=2 * 256 + 16).contains(&during),
        "{during} more tasks alive with 400 devices in line to be described"
    );
    // Then a real device registers: it is read first, as soon as a reader is free.
    let started = Instant::now();
    let mut config = ClientConfig::new(
        "after-the-flood",
        addr,
        DeviceProfile::new("STMicroelectronics", "disco_l475_iot1", "L475-99"),
    );
    config.params = fast();
    let client = Lwm2mClient::start(config).await.unwrap();
    client.register().await.unwrap();
    loop {
        let rows = select(
            &registry,
            "PREFIX seam: <https://w3id.org/seam/ontology#> SELECT ?s WHERE { ?d seam:lwm2mEndpoint \"after-the-flood\" ; seam:serialNumber ?s }",
        );
        if rows == vec![vec!["L475-99".to_owned()]] {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "the real device was not described within 20 s of a flood"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    eprintln!(
        "described {:.1} s after registering behind 400 silent registrations",
        started.elapsed().as_secs_f64()
    );
}
