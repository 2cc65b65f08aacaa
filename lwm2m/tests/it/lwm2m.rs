//! LwM2M server and clients talking over real UDP sockets on loopback.

use std::net::SocketAddr;
use std::time::Duration;

use seam_lwm2m::client::{ClientConfig, DeviceProfile, Lwm2mClient};
use seam_lwm2m::coap::{content_format as cf, Code, Endpoint, Method, NotFound, Request, TransmissionParams};
use seam_lwm2m::content::{ResourcePath, Value};
use seam_lwm2m::server::{Delivery, DeliveryMethod, Departure, Lwm2mServer, ServerConfig, ServerEvent};
use tokio::sync::mpsc::UnboundedReceiver;

fn fast() -> TransmissionParams {
    TransmissionParams::fast(Duration::from_millis(100))
}

async fn server() -> (Lwm2mServer, UnboundedReceiver<ServerEvent>) {
    let config = ServerConfig {
        params: fast(),
        expiry_check: Duration::from_millis(100),
        delivery_timeout: Duration::from_secs(60),
        state_poll: Duration::from_secs(1),
        ..ServerConfig::default()
    };
    Lwm2mServer::bind("127.0.0.1:0".parse().unwrap(), config).await.unwrap()
}

fn profile(sensors: &[u16]) -> DeviceProfile {
    let mut p = DeviceProfile::new("STMicroelectronics", "B-L475E-IOT01A", "L475-000318");
    p.memory_free_kib = 88;
    p.sensors = sensors.to_vec();
    p
}

async fn client(
    server: SocketAddr,
    name: &str,
    profile: DeviceProfile,
    tweak: impl FnOnce(&mut ClientConfig),
) -> Lwm2mClient {
    let mut config = ClientConfig::new(name, server, profile);
    config.params = fast();
    tweak(&mut config);
    Lwm2mClient::start(config).await.unwrap()
}

async fn next_event(events: &mut UnboundedReceiver<ServerEvent>) -> ServerEvent {
    tokio::time::timeout(Duration::from_secs(10), events.recv())
        .await
        .unwrap()
        .unwrap()
}

#[tokio::test]
async fn register_read_every_format_discover_observe_and_deregister() {
    let (server, mut events) = server().await;
    let addr = server.local_addr().unwrap();
    for (i, format) in [cf::TLV, cf::SENML_JSON, cf::SENML_CBOR].into_iter().enumerate() {
        let name = format!("node-{i}");
        let c = client(addr, &name, profile(&[3303, 3313]), |c| c.read_format = format).await;
        c.register().await.unwrap();
        let ServerEvent::Registered(r) = next_event(&mut events).await else {
            panic!("expected a registration")
        };
        assert_eq!(r.endpoint, name);
        assert_eq!(r.version, "1.1");
        assert!(r.has_object(3303) && r.has_object(3313) && r.has_object(9));

        // A read without Accept comes back in the client's own format; all decode the same.
        let device = server.read(&name, ResourcePath::instance(3, 0), None).await.unwrap();
        let get = |id: u16| {
            device
                .iter()
                .find(|(p, _)| p.resource == Some(id))
                .map(|(_, v)| v.clone())
                .unwrap()
        };
        assert_eq!(get(1).as_text().as_deref(), Some("B-L475E-IOT01A"), "format {format}");
        assert_eq!(get(10).as_i64(), Some(88), "format {format}");
        // A single resource comes as text/plain.
        let serial = server.read(&name, ResourcePath::resource(3, 0, 2), None).await.unwrap();
        assert_eq!(serial[0].1.as_text().as_deref(), Some("L475-000318"));

        let links = server.discover(&name, ResourcePath::instance(3303, 0)).await.unwrap();
        assert!(links
            .iter()
            .any(|l| l.path == Some(ResourcePath::resource(3303, 0, 5700))));

        let mut watch = server
            .observe(&name, ResourcePath::resource(3303, 0, 5700))
            .await
            .unwrap();
        assert_eq!(watch.initial[0].1, Value::String("21.5".into()));
        c.set_value(ResourcePath::resource(3303, 0, 5700), Value::Float(30.25))
            .await;
        let update = tokio::time::timeout(Duration::from_secs(5), watch.next())
            .await
            .unwrap()
            .unwrap();
        assert_eq!(update[0].1.as_text().as_deref(), Some("30.25"));
        assert_eq!(c.observer_count(), 1);
        server.cancel_observation(&watch);
        // The device is told (GET with Observe 1), not left to find out from an RST.
        let deadline = std::time::Instant::now() + Duration::from_secs(5);
        while c.observer_count() > 0 {
            assert!(
                std::time::Instant::now() < deadline,
                "the observation was not cancelled on the device"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }

        c.deregister().await.unwrap();
        match next_event(&mut events).await {
            ServerEvent::Departed { registration, why } => {
                assert_eq!(registration.endpoint, name);
                assert_eq!(why, Departure::Deregistered);
            }
            other => panic!("expected a departure, got {other:?}"),
        }
        assert!(server.registration(&name).is_none());
    }
}

#[tokio::test]
async fn unsupported_versions_get_4_12_and_clients_fall_back() {
    let (server, mut events) = server().await;
    let c = client(server.local_addr().unwrap(), "fallback", profile(&[]), |c| {
        c.versions = vec!["1.2".into(), "1.1".into()];
    })
    .await;
    c.register().await.unwrap();
    let ServerEvent::Registered(r) = next_event(&mut events).await else {
        panic!()
    };
    assert_eq!(r.version, "1.1");
}

#[tokio::test]
async fn malformed_registrations_are_refused_with_the_reason() {
    let (server, _events) = server().await;
    let addr = server.local_addr().unwrap();
    let raw = Endpoint::bind("127.0.0.1:0".parse().unwrap(), fast(), std::sync::Arc::new(NotFound))
        .await
        .unwrap();
    let cases: [(&[&str], &[u8], Code); 6] = [
        (&["lt=60"], b"</3/0>", Code::BadRequest),
        (&["ep=x", "lt=-5"], b"</3/0>", Code::BadRequest),
        (&["ep=x", "lwm2m=1.2"], b"</3/0>", Code::PreconditionFailed),
        (&["ep=x", "b=Z"], b"</3/0>", Code::BadRequest),
        (&["ep=x"], b"not a link", Code::BadRequest),
        (&["ep=x"], &[0xff, 0xfe], Code::BadRequest),
    ];
    for (query, payload, code) in cases {
        let mut request = Request::new(Method::Post, "rd");
        request.query = query.iter().map(|s| s.to_string()).collect();
        request.payload = payload.to_vec();
        let reply = raw.request(addr, request).await.unwrap();
        assert_eq!(reply.code, code, "{query:?}");
        assert!(!reply.payload.is_empty(), "a refusal says why");
    }
    assert_eq!(server.registered(), 0);
    // `b` may be absent, and so may `lwm2m` (a 1.0 client).
    let mut request = Request::new(Method::Post, "rd");
    request.query = vec!["ep=bare".into()];
    request.payload = b"</3/0>".to_vec();
    assert_eq!(raw.request(addr, request).await.unwrap().code, Code::Created);
    let r = server.registration("bare").unwrap();
    assert_eq!((r.version.as_str(), r.binding.as_str()), ("1.0", "U"));
}

#[tokio::test]
async fn registrations_are_bounded_and_their_ids_unguessable() {
    let (server, _events) = server().await;
    let addr = server.local_addr().unwrap();
    let raw = Endpoint::bind("127.0.0.1:0".parse().unwrap(), fast(), std::sync::Arc::new(NotFound))
        .await
        .unwrap();
    let register = |name: &str, payload: Vec<u8>| {
        let mut request = Request::new(Method::Post, "rd");
        request.query = vec![format!("ep={name}")];
        request.payload = payload;
        request
    };
    // One registration may not announce thousands of objects (each becomes facts in the graph).
    let flood: Vec<String> = (0..2000).map(|i| format!("</3303/{i}>")).collect();
    let reply = raw
        .request(addr, register("wide", flood.join(",").into_bytes()))
        .await
        .unwrap();
    assert_eq!(reply.code, Code::RequestEntityTooLarge);
    assert!(server.registration("wide").is_none());
    // IDs are 128 random bits, never a counter.
    let reply = raw.request(addr, register("first", b"</3/0>".to_vec())).await.unwrap();
    assert_eq!(reply.code, Code::Created);
    let id = reply.location_path.last().cloned().unwrap();
    assert_eq!(id.len(), 32, "{id}");
    assert!(id.chars().all(|c| c.is_ascii_hexdigit()), "{id}");
    // A guessed ID changes nothing.
    let guess = Request::new(Method::Delete, &format!("rd/{}", "0".repeat(32)));
    assert_eq!(raw.request(addr, guess).await.unwrap().code, Code::NotFound);
    assert!(server.registration("first").is_some());
    // One socket holds a few endpoints, not a flood of them.
    let mut ids = Vec::new();
    for i in 1..seam_lwm2m::server::MAX_ENDPOINTS_PER_PEER {
        let reply = raw
            .request(addr, register(&format!("n{i}"), b"</3/0>".to_vec()))
            .await
            .unwrap();
        assert_eq!(reply.code, Code::Created, "endpoint {i}");
        ids.push(reply.location_path.last().cloned().unwrap());
    }
    let reply = raw
        .request(addr, register("one-too-many", b"</3/0>".to_vec()))
        .await
        .unwrap();
    assert_eq!(reply.code, Code::Forbidden);
    // Re-registering a name it holds is still fine, as often as it likes.
    for _ in 0..2 {
        let reply = raw.request(addr, register("first", b"</3/0>".to_vec())).await.unwrap();
        assert_eq!(reply.code, Code::Created);
    }
    assert_eq!(
        raw.request(addr, register("one-too-many", b"</3/0>".to_vec()))
            .await
            .unwrap()
            .code,
        Code::Forbidden
    );
    // A De-register frees its place, and only one.
    let deregister = Request::new(Method::Delete, &format!("rd/{}", ids[0]));
    assert_eq!(raw.request(addr, deregister).await.unwrap().code, Code::Deleted);
    let reply = raw
        .request(addr, register("one-too-many", b"</3/0>".to_vec()))
        .await
        .unwrap();
    assert_eq!(reply.code, Code::Created);
    let reply = raw
        .request(addr, register("two-too-many", b"</3/0>".to_vec()))
        .await
        .unwrap();
    assert_eq!(reply.code, Code::Forbidden);
    // And another device, on its own socket, registers at once.
    let other = client(addr, "real-device", profile(&[3303]), |_| {}).await;
    other.register().await.unwrap();
    assert!(server.registration("real-device").is_some());
}

#[tokio::test]
async fn registrations_expire_and_updates_keep_them() {
    let (server, mut events) = server().await;
    let addr = server.local_addr().unwrap();
    let short = client(addr, "short-lived", profile(&[]), |c| c.lifetime = 1).await;
    let kept = client(addr, "kept", profile(&[]), |c| c.lifetime = 1).await;
    short.register().await.unwrap();
    kept.register().await.unwrap();
    let _ = next_event(&mut events).await;
    let _ = next_event(&mut events).await;
    tokio::time::sleep(Duration::from_millis(600)).await;
    kept.update().await.unwrap();
    loop {
        match next_event(&mut events).await {
            ServerEvent::Departed { registration, why } => {
                assert_eq!(registration.endpoint, "short-lived");
                assert_eq!(why, Departure::Expired);
                break;
            }
            ServerEvent::Updated(r) => assert_eq!(r.endpoint, "kept"),
            other => panic!("unexpected {other:?}"),
        }
    }
    assert!(server.registration("kept").is_some());
}

/// Delivers `package` to clients made by `make`, concurrently, and returns the outcomes.
async fn deliver_all(
    server: &Lwm2mServer,
    sha: &str,
    names: &[String],
    method: DeliveryMethod,
) -> Vec<seam_lwm2m::server::DeliveryOutcome> {
    let mut tasks = Vec::new();
    for name in names {
        let server = server.clone();
        let delivery = Delivery {
            endpoint: name.clone(),
            sha256: sha.to_owned(),
            method,
        };
        tasks.push(tokio::spawn(async move { server.deliver(&delivery).await.unwrap() }));
    }
    let mut out = Vec::new();
    for task in tasks {
        out.push(task.await.unwrap());
    }
    out
}

fn package(len: usize) -> Vec<u8> {
    let mut rng = fastrand::Rng::with_seed(42);
    (0..len).map(|_| rng.u8(..)).collect()
}

#[tokio::test]
async fn a_200_kb_package_reaches_devices_through_10_percent_loss() {
    let (server, mut events) = server().await;
    let addr = server.local_addr().unwrap();
    let sha = server.shelf().put(package(200 * 1024));
    let mut clients = Vec::new();
    let mut names = Vec::new();
    for i in 0..10 {
        let name = format!("lossy-{i}");
        let c = client(addr, &name, profile(&[3303]), |c| c.params.loss = 0.10).await;
        c.register().await.unwrap();
        clients.push(c);
        names.push(name);
    }
    let outcomes = deliver_all(&server, &sha, &names, DeliveryMethod::Pull).await;
    for (name, outcome) in names.iter().zip(&outcomes) {
        assert!(outcome.installed, "{name}: {outcome:?}");
        assert_eq!(
            (outcome.object, outcome.result),
            (9, Some(2)),
            "Object 9, result 2: installed"
        );
    }
    for c in &clients {
        assert_eq!(c.installed(), vec![sha.clone()]);
        assert!(c.endpoint().stats().injected_losses > 0);
    }
    // Every step was reported, ending in `installed` for each device.
    let mut installed = 0;
    while let Ok(event) = events.try_recv() {
        if let ServerEvent::Delivery(p) = event {
            if p.step == seam_lwm2m::server::DeliveryStep::Installed {
                installed += 1;
            }
        }
    }
    assert_eq!(installed, 10);
}

#[tokio::test]
async fn object_5_push_corruption_and_rejection() {
    let (server, _events) = server().await;
    let addr = server.local_addr().unwrap();
    let bytes = package(5000);
    let sha = server.shelf().put(bytes);

    // Firmware Update only: Object 5 is used, by pull and by push.
    let mut fw_only = profile(&[]);
    fw_only.software_management = false;
    let fw = client(addr, "fw-only", fw_only, |_| {}).await;
    fw.register().await.unwrap();
    let outcome = deliver_all(&server, &sha, &["fw-only".to_owned()], DeliveryMethod::Pull)
        .await
        .remove(0);
    assert!(outcome.installed && outcome.object == 5, "{outcome:?}");
    assert_eq!(outcome.result, Some(1), "Object 5, result 1: updated");
    let outcome = deliver_all(&server, &sha, &["fw-only".to_owned()], DeliveryMethod::Push)
        .await
        .remove(0);
    assert!(outcome.installed && outcome.object == 5, "{outcome:?}");
    assert_eq!(fw.installed().len(), 2);

    // Push through Object 9 (Block1 write of the Package resource).
    let sw = client(addr, "sw", profile(&[]), |_| {}).await;
    sw.register().await.unwrap();
    let outcome = deliver_all(&server, &sha, &["sw".to_owned()], DeliveryMethod::Push)
        .await
        .remove(0);
    assert!(outcome.installed && outcome.object == 9, "{outcome:?}");

    // A corrupted download fails the integrity check (Update Result 53), pulled or pushed.
    let bad = client(addr, "corrupt", profile(&[]), |c| c.corrupt_block = true).await;
    bad.register().await.unwrap();
    let outcome = deliver_all(&server, &sha, &["corrupt".to_owned()], DeliveryMethod::Pull)
        .await
        .remove(0);
    assert!(!outcome.installed);
    assert_eq!(outcome.result, Some(53));
    assert!(outcome.detail.contains("integrity"), "{}", outcome.detail);
    let outcome = deliver_all(&server, &sha, &["corrupt".to_owned()], DeliveryMethod::Push)
        .await
        .remove(0);
    assert!(!outcome.installed && outcome.detail.contains("SHA-256"), "{outcome:?}");
    assert!(bad.installed().is_empty());

    // A device that refuses to install reports 58.
    let no = client(addr, "refuser", profile(&[]), |c| c.reject_install = true).await;
    no.register().await.unwrap();
    let outcome = deliver_all(&server, &sha, &["refuser".to_owned()], DeliveryMethod::Pull)
        .await
        .remove(0);
    assert_eq!((outcome.installed, outcome.result), (false, Some(58)));

    // Unknown devices and unknown packages are errors, not hangs.
    assert!(server
        .deliver(&Delivery {
            endpoint: "nobody".into(),
            sha256: sha.clone(),
            method: DeliveryMethod::Pull
        })
        .await
        .is_err());
    let outcome = deliver_all(&server, &"0".repeat(64), &["sw".to_owned()], DeliveryMethod::Pull)
        .await
        .remove(0);
    assert!(!outcome.installed);
}

/// What an independent LwM2M 1.1 client with 16-byte blocks does, reproduced with SEAM's own
/// client set that way: notifications larger than a block, SenML JSON, Object 5 push only.
#[tokio::test]
async fn sixteen_byte_blocks_foreign_formats_and_a_push_only_firmware_object() {
    let (server, _events) = server().await;
    let addr = server.local_addr().unwrap();
    let sha = server.shelf().put(package(3000));
    // Notifications of Object 9's instance in SenML JSON are far larger than 16 bytes: each comes
    // as its first block, and the server fetches the rest.
    let small = client(addr, "small-blocks", profile(&[]), |c| {
        c.params.block_size = 16;
        c.read_format = cf::SENML_JSON;
    })
    .await;
    small.register().await.unwrap();
    let outcome = deliver_all(&server, &sha, &["small-blocks".to_owned()], DeliveryMethod::Pull)
        .await
        .remove(0);
    assert!(outcome.installed && outcome.object == 9, "{outcome:?}");

    // Object 5 that only takes pushed packages: never sent a Package URI, even when pull is asked.
    let mut push_only = profile(&[]);
    push_only.software_management = false;
    push_only.firmware_delivery_method = 1;
    let fw = client(addr, "push-only", push_only, |c| c.params.block_size = 16).await;
    fw.register().await.unwrap();
    let outcome = deliver_all(&server, &sha, &["push-only".to_owned()], DeliveryMethod::Pull)
        .await
        .remove(0);
    assert!(outcome.installed && outcome.object == 5, "{outcome:?}");
    assert_eq!(fw.installed(), vec![sha.clone()]);
}

#[tokio::test]
async fn a_delivery_that_times_out_says_what_the_device_last_reported_and_stops_observing() {
    let config = ServerConfig {
        params: fast(),
        delivery_timeout: Duration::from_secs(2),
        state_poll: Duration::from_millis(500),
        ..ServerConfig::default()
    };
    let (server, _events) = Lwm2mServer::bind("127.0.0.1:0".parse().unwrap(), config).await.unwrap();
    let addr = server.local_addr().unwrap();
    // A device whose download starts and never gets further.
    let sha = server.shelf().put(package(100));
    let c = client(addr, "stuck", profile(&[]), |c| c.stall_download = true).await;
    c.register().await.unwrap();
    let outcome = deliver_all(&server, &sha, &["stuck".to_owned()], DeliveryMethod::Pull)
        .await
        .remove(0);
    assert!(!outcome.installed);
    assert!(
        outcome
            .detail
            .contains("no result within 2 s: the device last reported state 1 (download started)"),
        "{}",
        outcome.detail
    );
    // The observation was cancelled: neither side keeps it.
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(
        server.endpoint().state_sizes().4,
        0,
        "the server still follows the observation"
    );
    assert_eq!(c.observer_count(), 0, "the device still notifies");
}

/// One confirmable request as raw bytes, with the options given in order.
fn raw_request(
    mid: u16,
    method: coap_lite::RequestType,
    options: &[(coap_lite::CoapOption, Vec<u8>)],
    payload: &[u8],
) -> Vec<u8> {
    let mut packet = coap_lite::Packet::new();
    packet.header.set_type(coap_lite::MessageType::Confirmable);
    packet.header.code = coap_lite::MessageClass::Request(method);
    packet.header.message_id = mid;
    packet.set_token(vec![0x5e, mid as u8]);
    for (option, value) in options {
        packet.add_option(*option, value.clone());
    }
    packet.payload = payload.to_vec();
    packet.to_bytes().unwrap()
}

#[tokio::test]
async fn a_block_wise_update_whose_later_blocks_carry_another_content_format_is_accepted() {
    use coap_lite::{CoapOption, MessageClass, Packet, RequestType, ResponseType};
    let (server, _events) = server().await;
    let addr = server.local_addr().unwrap();
    let socket = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let exchange = |bytes: Vec<u8>| {
        let socket = &socket;
        async move {
            socket.send_to(&bytes, addr).await.unwrap();
            let mut buf = vec![0u8; 2048];
            let (n, _) = tokio::time::timeout(Duration::from_secs(5), socket.recv_from(&mut buf))
                .await
                .unwrap()
                .unwrap();
            Packet::from_bytes(&buf[..n]).unwrap()
        }
    };
    let register = raw_request(
        1,
        RequestType::Post,
        &[
            (CoapOption::UriPath, b"rd".to_vec()),
            (CoapOption::ContentFormat, vec![40]),
            (CoapOption::UriQuery, b"ep=foreign-client".to_vec()),
            (CoapOption::UriQuery, b"lwm2m=1.1".to_vec()),
        ],
        b"</1/0>,</3/0>",
    );
    let created = exchange(register).await;
    assert_eq!(created.header.code, MessageClass::Response(ResponseType::Created));
    let id: Vec<u8> = created
        .get_option(CoapOption::LocationPath)
        .and_then(|values| values.back().cloned())
        .unwrap();
    // An Update with the object list in 16-byte blocks: block 0 says link-format, block 1 says
    // Content-Format 0 (text), as some clients send it.
    let objects = b"</1/0>,</3/0>,</3303/0>";
    let path = |options: &mut Vec<(CoapOption, Vec<u8>)>| {
        options.push((CoapOption::UriPath, b"rd".to_vec()));
        options.push((CoapOption::UriPath, id.clone()));
    };
    let mut first = Vec::new();
    path(&mut first);
    first.push((CoapOption::ContentFormat, vec![40]));
    first.push((CoapOption::Block1, vec![0x08])); // block 0, more, 16 bytes
    let answer = exchange(raw_request(2, RequestType::Post, &first, &objects[..16])).await;
    assert_eq!(answer.header.code, MessageClass::Response(ResponseType::Continue));
    let mut last = Vec::new();
    path(&mut last);
    last.push((CoapOption::ContentFormat, Vec::new())); // 0: text/plain
    last.push((CoapOption::Block1, vec![0x10])); // block 1, last, 16 bytes
    let answer = exchange(raw_request(3, RequestType::Post, &last, &objects[16..])).await;
    assert_eq!(
        answer.header.code,
        MessageClass::Response(ResponseType::Changed),
        "{}",
        String::from_utf8_lossy(&answer.payload)
    );
    assert!(server.registration("foreign-client").unwrap().has_object(3303));
}

#[tokio::test]
async fn a_4_13_asking_for_smaller_blocks_restarts_the_upload_at_that_size() {
    /// Takes uploads in 16-byte blocks only: a larger first block gets 4.13 with Block1 16.
    struct SmallBlocksOnly;
    impl seam_lwm2m::coap::Handler for SmallBlocksOnly {
        fn handle(&self, request: Request) -> seam_lwm2m::coap::BoxFuture<seam_lwm2m::coap::Response> {
            let n = request.payload.len();
            Box::pin(async move {
                seam_lwm2m::coap::Response::with_body(Code::Changed, cf::TEXT, n.to_string().into_bytes())
            })
        }
    }
    let mut params = fast();
    params.block_size = 16;
    let small = Endpoint::bind(
        "127.0.0.1:0".parse().unwrap(),
        params,
        std::sync::Arc::new(SmallBlocksOnly),
    )
    .await
    .unwrap();
    // The device's endpoint answers a 1024-byte first block with 4.13 and Block1 16; the
    // sender starts the upload again at 16 bytes a block.
    let client = Endpoint::bind("127.0.0.1:0".parse().unwrap(), fast(), std::sync::Arc::new(NotFound))
        .await
        .unwrap();
    let mut request = Request::new(Method::Put, "sink");
    request.payload = vec![7u8; 3000];
    let reply = client.request(small.local_addr().unwrap(), request).await.unwrap();
    assert_eq!(reply.code, Code::Changed);
    assert_eq!(reply.payload, b"3000");
}
