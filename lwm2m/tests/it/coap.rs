//! The CoAP exchange layer over real UDP on loopback: block-wise both ways at every size,
//! duplicates, retransmission under loss, and hostile datagrams.

use std::sync::Arc;
use std::time::Duration;

use seam_lwm2m::coap::{
    content_format as cf, BoxFuture, Code, Endpoint, Handler, Method, NotFound, Request, Response, TransmissionParams,
};
use seam_lwm2m::server::sha256_hex;
use tokio::net::UdpSocket;

/// GET /blob returns a 100 000-byte body; PUT /sink answers with the SHA-256 of what it got.
struct Echo {
    blob: Arc<[u8]>,
}

impl Handler for Echo {
    fn handle(&self, request: Request) -> BoxFuture<Response> {
        let response = match (request.method, request.path_string().as_str()) {
            (Method::Get, "blob") => Response::with_body(Code::Content, cf::OPAQUE, self.blob.clone()),
            (Method::Put, "sink") => {
                Response::with_body(Code::Changed, cf::TEXT, sha256_hex(&request.payload).into_bytes())
            }
            _ => Response::new(Code::NotFound),
        };
        Box::pin(async move { response })
    }
}

fn blob(len: usize) -> Vec<u8> {
    (0..len).map(|i| (i * 7 % 251) as u8).collect()
}

async fn pair(params: TransmissionParams) -> (Endpoint, Endpoint, Vec<u8>) {
    let body = blob(100_000);
    let server = Endpoint::bind(
        "127.0.0.1:0".parse().unwrap(),
        params.clone(),
        Arc::new(Echo {
            blob: Arc::from(body.clone()),
        }),
    )
    .await
    .unwrap();
    let client = Endpoint::bind("127.0.0.1:0".parse().unwrap(), params, Arc::new(NotFound))
        .await
        .unwrap();
    (server, client, body)
}

fn fast() -> TransmissionParams {
    TransmissionParams::fast(Duration::from_millis(50))
}

#[tokio::test]
async fn block_wise_both_directions_at_every_block_size() {
    let (server, client, body) = pair(fast()).await;
    let addr = server.local_addr().unwrap();
    for size in [16, 32, 64, 128, 256, 512, 1024] {
        let reply = client
            .request_with_block_size(addr, Request::new(Method::Get, "blob"), size)
            .await
            .unwrap();
        assert_eq!(reply.payload.len(), body.len(), "Block2 at {size}");
        assert!(reply.payload == body, "Block2 at {size}");

        let upload = blob(10_000 + size);
        let mut put = Request::new(Method::Put, "sink");
        put.payload = upload.clone();
        let reply = client.request_with_block_size(addr, put, size).await.unwrap();
        assert_eq!(reply.code, Code::Changed);
        assert_eq!(
            String::from_utf8(reply.payload).unwrap(),
            sha256_hex(&upload),
            "Block1 at {size}"
        );
    }
    assert_eq!(server.state_sizes().3, 0, "no upload left in progress");
}

#[tokio::test]
async fn retransmission_carries_transfers_through_loss_and_duplicates_are_answered_once() {
    let mut lossy = fast();
    lossy.loss = 0.2;
    // The server must keep an upload longer than its slowest client may take between two blocks:
    // the patient uploader below retransmits up to 8 times, a MAX_TRANSMIT_WAIT of
    // 50 ms × (2^9 − 1) × 1.5 ≈ 38 s. With fast()'s 3 s, a block lost six times in a row (about
    // one run in a hundred) arrived after its upload had been dropped ("block N without block 0").
    let server_params = TransmissionParams {
        block1_timeout: Duration::from_secs(60),
        ..fast()
    };
    let (server, client, body) = pair(server_params).await;
    let lossy_client = Endpoint::bind("127.0.0.1:0".parse().unwrap(), lossy, Arc::new(NotFound))
        .await
        .unwrap();
    let addr = server.local_addr().unwrap();
    let reply = lossy_client
        .request(addr, Request::new(Method::Get, "blob"))
        .await
        .unwrap();
    assert!(reply.payload == body);
    let stats = lossy_client.stats();
    assert!(stats.injected_losses > 0 && stats.retransmitted > 0, "{stats:?}");
    // Uploads are not idempotent: lost answers made the client send blocks again, and the
    // server answered those from its cache instead of appending them twice.
    // 200 blocks at 10% loss each way: some answer is lost (all survive: 1 − 0.9^200), and with
    // 8 retransmissions no block is lost for good (0.19^9 per block).
    let patient = TransmissionParams {
        loss: 0.1,
        max_retransmit: 8,
        ..fast()
    };
    let uploader = Endpoint::bind("127.0.0.1:0".parse().unwrap(), patient, Arc::new(NotFound))
        .await
        .unwrap();
    let upload = blob(200 * 64);
    let mut put = Request::new(Method::Put, "sink");
    put.payload = upload.clone();
    let reply = uploader.request_with_block_size(addr, put, 64).await.unwrap();
    assert_eq!(String::from_utf8(reply.payload).unwrap(), sha256_hex(&upload));
    assert!(server.stats().duplicates > 0, "{:?}", server.stats());
    drop(client);
}

/// Every answer arrives twice (a network that duplicates datagrams): the copy of one block's
/// answer may reach the client after that block's exchange ended and the next block's began on
/// the same channel; it must be dropped there, not taken for the next block's answer.
#[tokio::test]
async fn a_duplicated_answer_never_answers_the_next_block() {
    let (server, client, body) = pair(fast()).await;
    let server_addr = server.local_addr().unwrap();
    let relay = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let relay_addr = relay.local_addr().unwrap();
    let relaying = tokio::spawn(async move {
        let mut buffer = vec![0u8; 2048];
        let mut client_addr = None;
        let mut doubled = 0usize;
        while let Ok((len, from)) = relay.recv_from(&mut buffer).await {
            if from == server_addr {
                let Some(to) = client_addr else { continue };
                relay.send_to(&buffer[..len], to).await.unwrap();
                relay.send_to(&buffer[..len], to).await.unwrap();
                doubled += 1;
            } else {
                client_addr = Some(from);
                relay.send_to(&buffer[..len], server_addr).await.unwrap();
            }
            if doubled >= 2 * 100_000 / 16 {
                break;
            }
        }
    });
    for size in [16, 1024] {
        let reply = client
            .request_with_block_size(relay_addr, Request::new(Method::Get, "blob"), size)
            .await
            .unwrap();
        assert!(reply.payload == body, "Block2 at {size}");
    }
    relaying.abort();
}

/// Sends raw bytes and returns what comes back within `wait`, if anything.
async fn raw(addr: std::net::SocketAddr, bytes: &[u8], wait: Duration) -> Option<Vec<u8>> {
    let socket = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    socket.send_to(bytes, addr).await.unwrap();
    let mut buffer = vec![0u8; 2048];
    match tokio::time::timeout(wait, socket.recv_from(&mut buffer)).await {
        Ok(Ok((n, _))) => Some(buffer[..n].to_vec()),
        _ => None,
    }
}

#[tokio::test]
async fn hostile_datagrams_never_crash_nor_leave_state_behind() {
    let params = TransmissionParams {
        exchange_lifetime: Duration::from_secs(3),
        ..fast()
    };
    let (server, client, body) = pair(params).await;
    let addr = server.local_addr().unwrap();
    let wait = Duration::from_millis(200);

    // Random bytes, many of them.
    let mut rng = fastrand::Rng::with_seed(1);
    let socket = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    for _ in 0..3000 {
        let len = rng.usize(0..80);
        let bytes: Vec<u8> = (0..len).map(|_| rng.u8(..)).collect();
        socket.send_to(&bytes, addr).await.unwrap();
    }

    // A confirmable message whose option runs past the end: RST with its message ID.
    let truncated = [0x40, 0x01, 0x12, 0x34, 0xBD, 0x05];
    let answer = raw(addr, &truncated, wait)
        .await
        .expect("a format error in a CON is answered");
    assert_eq!(answer[0] >> 4 & 0x3, 3, "RST");
    assert_eq!(answer[1], 0x00, "an empty message");
    assert_eq!(&answer[2..4], &[0x12, 0x34]);

    // Block2 number far beyond the body: 4.02, not a panic or a huge allocation.
    // GET /blob, Block2 NUM=0xFFFFF SZX=6.
    let mut absurd = vec![0x40, 0x01, 0x00, 0x07, 0xB4, b'b', b'l', b'o', b'b', 0xC3];
    absurd.extend_from_slice(&[0xFF, 0xFF, 0xF6]);
    let answer = raw(addr, &absurd, wait).await.unwrap();
    assert_eq!(answer[1], 0x82, "4.02 Bad Option");
    // A reserved SZX (7).
    let answer = raw(
        addr,
        &[0x40, 0x01, 0x00, 0x08, 0xB4, b'b', b'l', b'o', b'b', 0xC1, 0x07],
        wait,
    )
    .await
    .unwrap();
    assert_eq!(answer[1], 0x82);
    // An unknown critical option (number 2049 via extended delta) gets 4.02.
    let answer = raw(addr, &[0x40, 0x01, 0x00, 0x09, 0xE0, 0x07, 0xF4], wait)
        .await
        .unwrap();
    assert_eq!(answer[1], 0x82);

    // Block1 block 5 without block 0: 4.08 Request Entity Incomplete.
    // PUT /sink, Block1 NUM=5 M=1 SZX=0, 16 bytes.
    let mut orphan = vec![
        0x40, 0x03, 0x00, 0x0A, 0xB4, b's', b'i', b'n', b'k', 0xD1, 0x03, 0x58, 0xFF,
    ];
    orphan.extend_from_slice(&[0u8; 16]);
    let answer = raw(addr, &orphan, wait).await.unwrap();
    assert_eq!(answer[1], 0x88, "4.08");

    // A Block1 upload that never finishes: 2.31 Continue, then it is dropped when idle.
    let mut start = vec![
        0x40, 0x03, 0x00, 0x0B, 0xB4, b's', b'i', b'n', b'k', 0xD1, 0x03, 0x08, 0xFF,
    ];
    start.extend_from_slice(&[0u8; 16]);
    let answer = raw(addr, &start, wait).await.unwrap();
    assert_eq!(answer[1], 0x5F, "2.31 Continue");
    assert_eq!(server.state_sizes().3, 1);
    // An upload announcing more than the body limit is refused at once with the limit.
    let mut huge = vec![
        0x40, 0x03, 0x00, 0x0C, 0xB4, b's', b'i', b'n', b'k', 0xD1, 0x03, 0x08, 0xD4, 0x14,
    ];
    // Size1 (option 60) = 2 GiB - 1.
    huge.extend_from_slice(&0x7FFF_FFFFu32.to_be_bytes());
    huge.push(0xFF);
    huge.extend_from_slice(&[0u8; 16]);
    let answer = raw(addr, &huge, wait).await.unwrap();
    assert_eq!(answer[1], 0x8D, "4.13");

    tokio::time::sleep(server.params().block1_timeout + Duration::from_millis(700)).await;
    assert_eq!(server.state_sizes().3, 0, "the idle upload was dropped");

    // The server still works.
    let reply = client.request(addr, Request::new(Method::Get, "blob")).await.unwrap();
    assert!(reply.payload == body);
    assert!(server.stats().malformed > 0);

    // And after EXCHANGE_LIFETIME, it remembers nothing of all that.
    tokio::time::sleep(server.params().exchange_lifetime + Duration::from_millis(700)).await;
    let (cons, exchanges, seen, uploads, observations) = server.state_sizes();
    assert_eq!((cons, exchanges, seen, uploads, observations), (0, 0, 0, 0, 0));
}

#[tokio::test]
async fn unanswered_requests_time_out_after_the_back_off() {
    let params = TransmissionParams {
        max_retransmit: 2,
        get_retries: 0,
        ..fast()
    };
    let client = Endpoint::bind("127.0.0.1:0".parse().unwrap(), params, Arc::new(NotFound))
        .await
        .unwrap();
    // A socket that never answers.
    let silent = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let started = std::time::Instant::now();
    let result = client
        .request(silent.local_addr().unwrap(), Request::new(Method::Get, "x"))
        .await;
    assert!(matches!(result, Err(seam_lwm2m::Lwm2mError::Timeout)), "{result:?}");
    // 50 ms × (1 + 2 + 4) at least: three waits, doubling.
    assert!(started.elapsed() >= Duration::from_millis(350));
    assert_eq!(client.stats().retransmitted, 2);
    assert_eq!(client.state_sizes().0, 0);
}

/// Answers after `delay`: long enough that the server must acknowledge first.
struct Slow(Duration);

impl Handler for Slow {
    fn handle(&self, _request: Request) -> BoxFuture<Response> {
        let delay = self.0;
        Box::pin(async move {
            tokio::time::sleep(delay).await;
            Response::with_body(Code::Content, cf::TEXT, b"late but here".to_vec())
        })
    }
}

#[tokio::test]
async fn slow_handlers_answer_with_an_empty_ack_then_a_separate_response() {
    let params = fast();
    let server = Endpoint::bind(
        "127.0.0.1:0".parse().unwrap(),
        params.clone(),
        Arc::new(Slow(params.separate_after * 6)),
    )
    .await
    .unwrap();
    let client = Endpoint::bind("127.0.0.1:0".parse().unwrap(), params, Arc::new(NotFound))
        .await
        .unwrap();
    let reply = client
        .request(server.local_addr().unwrap(), Request::new(Method::Get, "x"))
        .await
        .unwrap();
    assert_eq!(reply.payload, b"late but here", "{reply:?}");
    // The client was acknowledged in time: it never had to retransmit.
    assert_eq!(client.stats().retransmitted, 0);
    // The separate response was a CON the client acknowledged: nothing is left outstanding.
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(server.state_sizes().0, 0);

    // A raw CON GET sees the empty ACK first, then the response as a CON of its own.
    let socket = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    socket
        .send_to(
            &[0x41, 0x01, 0x00, 0x42, 0x99, 0xB1, b'x'],
            server.local_addr().unwrap(),
        )
        .await
        .unwrap();
    let mut buffer = [0u8; 256];
    let (n, _) = socket.recv_from(&mut buffer).await.unwrap();
    assert_eq!((buffer[0] >> 4 & 0x3, buffer[1], n), (2, 0x00, 4), "empty ACK");
    let (n, _) = socket.recv_from(&mut buffer).await.unwrap();
    assert_eq!(buffer[0] >> 4 & 0x3, 0, "a CON response");
    assert_eq!(buffer[1], 0x45, "2.05");
    assert_eq!(buffer[4], 0x99, "with the request's token");
    assert!(buffer[..n].ends_with(b"late but here"));
}

#[tokio::test]
async fn a_burst_of_message_ids_is_forgotten_and_its_room_given_back() {
    let params = TransmissionParams {
        exchange_lifetime: Duration::from_secs(2),
        ..fast()
    };
    let (server, _client, _) = pair(params).await;
    let addr = server.local_addr().unwrap();

    // 20,000 non-confirmable POSTs to an unknown path, each with a message ID of its own, from
    // one peer: each is remembered for EXCHANGE_LIFETIME (a request that is not a GET).
    let socket = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let sent = 20_000u16;
    for mid in 0..sent {
        let [high, low] = mid.to_be_bytes();
        socket
            .send_to(&[0x50, 0x02, high, low, 0xB1, b'x'], addr)
            .await
            .unwrap();
        if mid % 500 == 0 {
            // Paced, so the kernel's socket buffer never drops any.
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
    }
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while server.state_sizes().2 < usize::from(sent) && tokio::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let (held, room) = (server.state_sizes().2, server.remembered_capacity());
    assert_eq!(held, usize::from(sent), "every message ID remembered");
    assert!(room >= held);

    // Past EXCHANGE_LIFETIME every ID is forgotten, and the sweep gives the room back.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while (server.state_sizes().2 > 0 || server.remembered_capacity() > 4096) && tokio::time::Instant::now() < deadline
    {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(server.state_sizes().2, 0, "every message ID forgotten");
    assert!(
        server.remembered_capacity() <= 4096,
        "room for {} IDs kept after a burst of {held} (was {room})",
        server.remembered_capacity()
    );
}
