//! The receiving side of the endpoint: the socket's read loop, de-duplication, acknowledgements
//! and resets, separate responses, requests handed to the handler (Block1 assembled, Block2
//! sliced), and the sweep of expired state.

use super::*;

pub(super) async fn receive_loop(socket: Arc<Datagrams>, inner: Weak<Inner>) {
    let mut buffer = vec![0u8; RECV_BUFFER];
    loop {
        let (len, peer) = match socket.recv_from(&mut buffer).await {
            Ok(received) => received,
            // ICMP port-unreachable surfaces as an error on some platforms; keep receiving.
            Err(e) => {
                tracing::debug!(error = %e, "UDP receive failed");
                continue;
            }
        };
        let Some(inner) = inner.upgrade() else { return };
        inner.counters.received.fetch_add(1, Ordering::Relaxed);
        if inner.params.loss > 0.0 && fastrand::f64() < inner.params.loss {
            inner.counters.injected_losses.fetch_add(1, Ordering::Relaxed);
            continue;
        }
        on_datagram(&inner, peer, &buffer[..len]).await;
    }
}

pub(super) async fn sweep_loop(inner: Weak<Inner>) {
    let mut tick = tokio::time::interval(Duration::from_millis(500));
    loop {
        tick.tick().await;
        let Some(inner) = inner.upgrade() else { return };
        let now = Instant::now();
        let mut state = lock(&inner);
        let lifetime = inner.params.exchange_lifetime;
        let max_entries = inner.params.max_dedup_entries;
        let State {
            seen,
            seen_order,
            uploads,
            by_mid,
            exchanges,
            ..
        } = &mut *state;
        while let Some((at, key)) = seen_order.front() {
            if now.duration_since(*at) < lifetime && seen.len() <= max_entries {
                break;
            }
            seen.remove(key);
            seen_order.pop_front();
        }
        let idle = inner.params.block1_timeout;
        uploads.retain(|_, upload| now.duration_since(upload.touched) < idle);
        // A burst (a fleet registering at once, a wave of downloads) grows these tables, and a
        // table keeps the room it once needed: at 400 check-ins a second the remembered message
        // IDs alone held 22 MB. Once a table is mostly empty, it gives the room back.
        macro_rules! give_back_room {
            ($($table:ident),*) => {$(
                if sparse($table.len(), $table.capacity()) {
                    $table.shrink_to(2 * $table.len());
                }
            )*};
        }
        give_back_room!(seen, seen_order, uploads, by_mid, exchanges);
    }
}

impl Endpoint {
    /// Room the table of remembered message IDs holds right now, in entries (at least
    /// `state_sizes().2`): tests check that the sweep gives a burst's room back once it has
    /// expired.
    pub fn remembered_capacity(&self) -> usize {
        match self.inner.state.lock() {
            Ok(s) => s.seen.capacity(),
            Err(_) => 0,
        }
    }
}

/// Whether a table holding `len` entries in room for `capacity` should give room back: when it
/// is at most a quarter full and has room for more than a few thousand. Shrinking rehashes every
/// entry, so a table that merely breathes with the load keeps its room.
fn sparse(len: usize, capacity: usize) -> bool {
    const KEPT_ANYWAY: usize = 4096;
    capacity > KEPT_ANYWAY && len <= capacity / 4
}

async fn on_datagram(inner: &Arc<Inner>, peer: SocketAddr, bytes: &[u8]) {
    let packet = match Packet::from_bytes(bytes) {
        Ok(packet) if packet.header.get_version() == 1 => packet,
        _ => {
            inner.counters.malformed.fetch_add(1, Ordering::Relaxed);
            // RFC 7252 §4.2: a confirmable message with a format error is rejected with RST;
            // anything else malformed is silently dropped.
            if bytes.len() >= 4 && bytes[0] >> 6 == 1 && (bytes[0] >> 4) & 0x3 == 0 {
                send_reset(inner, peer, u16::from_be_bytes([bytes[2], bytes[3]])).await;
            }
            return;
        }
    };
    match (packet.header.get_type(), packet.header.code) {
        (MessageType::Acknowledgement | MessageType::Reset, _) => on_ack_or_reset(inner, peer, packet),
        (_, MessageClass::Empty) => {
            // A CoAP ping (empty CON) is answered with RST; an empty NON is meaningless.
            if packet.header.get_type() == MessageType::Confirmable {
                send_reset(inner, peer, packet.header.message_id).await;
            }
        }
        (kind, MessageClass::Response(_)) => on_separate_response(inner, peer, packet, kind).await,
        (_, MessageClass::Request(_)) => on_request(inner, peer, packet).await,
        (kind, MessageClass::Reserved(_)) => {
            if kind == MessageType::Confirmable {
                send_reset(inner, peer, packet.header.message_id).await;
            }
        }
    }
}

fn on_ack_or_reset(inner: &Inner, peer: SocketAddr, packet: Packet) {
    let state = lock(inner);
    let mid = packet.header.message_id;
    let Some(exchange) = state.by_mid.get(&(peer, mid)) else {
        return; // A late or stray ACK: nothing waits for it.
    };
    let event = if packet.header.get_type() == MessageType::Reset {
        Incoming::Reset
    } else if packet.header.code == MessageClass::Empty {
        Incoming::Ack
    } else {
        Incoming::Response(Box::new(packet))
    };
    let _ = exchange.send((mid, event));
}

async fn on_separate_response(inner: &Arc<Inner>, peer: SocketAddr, packet: Packet, kind: MessageType) {
    let mid = packet.header.message_id;
    // A token longer than CoAP allows matches nothing.
    let delivered = Token::of(packet.get_token()).is_some_and(|token| {
        let key = (peer, token);
        let state = lock(inner);
        if let Some((exchange, sent_as)) = state.exchanges.get(&key) {
            exchange.send((*sent_as, Incoming::Response(Box::new(packet)))).is_ok()
        } else if let Some(observer) = state.observations.get(&key) {
            observer.send(Reply::from_packet(&packet)).is_ok()
        } else {
            false
        }
    });
    if kind == MessageType::Confirmable {
        if delivered {
            send_packet(inner, peer, &empty(MessageType::Acknowledgement, mid)).await;
        } else {
            send_reset(inner, peer, mid).await;
        }
    } else if !delivered {
        // RFC 7641 §3.6: reject a notification nobody wants, so the server stops sending.
        send_reset(inner, peer, mid).await;
    }
}

/// An empty message (code 0.00, no token): an ACK or RST. coap-lite's `Packet::new()` starts as
/// a GET, so the code is set explicitly.
fn empty(kind: MessageType, mid: u16) -> Packet {
    let mut packet = Packet::new();
    packet.header.set_type(kind);
    packet.header.code = MessageClass::Empty;
    packet.header.message_id = mid;
    packet
}

async fn send_reset(inner: &Inner, peer: SocketAddr, mid: u16) {
    send_packet(inner, peer, &empty(MessageType::Reset, mid)).await;
}

/// Options a request may carry that this layer understands; an unknown *critical* option
/// (odd number) must be refused with 4.02 (RFC 7252 §5.4.1).
fn unknown_critical_option(packet: &Packet) -> Option<u16> {
    const KNOWN: [u16; 15] = [1, 3, 4, 5, 6, 7, 11, 12, 14, 15, 17, 23, 27, 28, 60];
    packet
        .options()
        .map(|(number, _)| *number)
        .find(|number| number % 2 == 1 && !KNOWN.contains(number))
}

async fn on_request(inner: &Arc<Inner>, peer: SocketAddr, packet: Packet) {
    let mid = packet.header.message_id;
    let confirmable = packet.header.get_type() == MessageType::Confirmable;
    // GET is safe and idempotent (RFC 7252 §5.8.1): a duplicate may simply be answered again
    // (§4.5), so its answer is not kept for EXCHANGE_LIFETIME. That keeps block-wise downloads
    // from holding every block they served in memory for four minutes.
    let idempotent = packet.header.code == MessageClass::Request(RequestType::Get);
    let cached = if idempotent {
        None
    } else {
        let mut state = lock(inner);
        match state.seen.get(&(peer, mid)) {
            Some(answer) => Some(answer.clone()),
            None => {
                state.seen.insert((peer, mid), None);
                state.seen_order.push_back((Instant::now(), (peer, mid)));
                None
            }
        }
    };
    if let Some(answer) = cached {
        inner.counters.duplicates.fetch_add(1, Ordering::Relaxed);
        // Still being handled when `None`: the answer goes out once, when it is ready.
        if let Some(answer) = answer {
            send_bytes(inner, peer, &answer).await;
        }
        return;
    }
    let token = packet.get_token().to_vec();
    let answering = inner.clone();
    let mut answer: Pin<Box<dyn Future<Output = Packet> + Send>> = Box::pin(async move {
        let mut out = Packet::new();
        out.set_token(token);
        answer_request(&answering, peer, packet, &mut out).await;
        out
    });
    // Most answers are ready at once (a block of a package held in memory, a registration
    // written to the table): those are sent from here, as a plain UDP loop would, without a task
    // and a timer of their own. Handlers do their slow work after an await, never before.
    if let std::task::Poll::Ready(out) =
        std::future::poll_fn(|cx| std::task::Poll::Ready(answer.as_mut().poll(cx))).await
    {
        finish(inner, peer, mid, confirmable, !idempotent, out, false).await;
        return;
    }
    let inner = inner.clone();
    tokio::spawn(async move {
        // A slow handler is raced against the clock (in this task: a spawn per request costs
        // more than the race).
        let patience = inner.params.separate_after;
        let (out, separate) = if confirmable {
            tokio::select! {
                done = &mut answer => (done, false),
                _ = tokio::time::sleep(patience) => {
                    // RFC 7252 §5.2.2: acknowledge now so the client stops retransmitting, and
                    // send the response on its own when it is ready. The empty ACK is what a
                    // duplicate of the request gets meanwhile.
                    if let Ok(bytes) = empty(MessageType::Acknowledgement, mid).to_bytes() {
                        let bytes: Arc<[u8]> = Arc::from(bytes);
                        if let Some(entry) = lock(&inner).seen.get_mut(&(peer, mid)) {
                            *entry = Some(bytes.clone());
                        }
                        send_bytes(&inner, peer, &bytes).await;
                    }
                    (answer.await, true)
                }
            }
        } else {
            (answer.await, false)
        };
        finish(&inner, peer, mid, confirmable, !idempotent, out, separate).await;
    });
}

/// Sends the answer `out` to the request `mid` from `peer`: piggybacked on the ACK of a
/// confirmable request, as its own message after an empty ACK (`separate`), or as a
/// non-confirmable response; and, when `kept`, keeps it for the request's duplicates (not for a
/// GET, which a duplicate simply asks again: `on_request`).
async fn finish(
    inner: &Arc<Inner>,
    peer: SocketAddr,
    mid: u16,
    confirmable: bool,
    kept: bool,
    mut out: Packet,
    separate: bool,
) {
    if separate {
        out.header.set_type(MessageType::Confirmable);
        let endpoint = Endpoint { inner: inner.clone() };
        if let Err(e) = endpoint.transmit_con(peer, &mut out, false, &mut Waiter::new()).await {
            tracing::debug!(%peer, error = %e, "separate response not acknowledged");
        }
        return;
    }
    if confirmable {
        out.header.set_type(MessageType::Acknowledgement);
        out.header.message_id = mid;
    } else {
        out.header.set_type(MessageType::NonConfirmable);
        out.header.message_id = inner.next_mid.fetch_add(1, Ordering::Relaxed);
    }
    let bytes = match out.to_bytes() {
        Ok(bytes) => bytes,
        Err(e) => {
            tracing::warn!(%peer, error = %e, "response could not be encoded");
            let mut fallback = Packet::new();
            fallback.header = out.header.clone();
            fallback.set_token(out.get_token().to_vec());
            fallback.header.code = MessageClass::Response(ResponseType::InternalServerError);
            match fallback.to_bytes() {
                Ok(bytes) => bytes,
                Err(_) => return,
            }
        }
    };
    if kept {
        // The entry `on_request` made, unless the sweep has expired it meanwhile.
        if let Some(entry) = lock(inner).seen.get_mut(&(peer, mid)) {
            *entry = Some(Arc::from(bytes.as_slice()));
        }
    }
    send_bytes(inner, peer, &bytes).await;
}

/// Fills `out` with the answer to `packet`: Block1 assembly, the handler, Block2 slicing.
async fn answer_request(inner: &Arc<Inner>, peer: SocketAddr, packet: Packet, out: &mut Packet) {
    let reply = |out: &mut Packet, code: ResponseType, reason: &str| {
        out.header.code = MessageClass::Response(code);
        out.payload = reason.as_bytes().to_vec();
    };
    if let Some(option) = unknown_critical_option(&packet) {
        return reply(
            out,
            ResponseType::BadOption,
            &format!("unsupported critical option {option}"),
        );
    }
    let method = match packet.header.code {
        MessageClass::Request(method) => method,
        _ => return reply(out, ResponseType::BadRequest, "not a request"),
    };
    let (block1, block2) = match (
        block_option(&packet, CoapOption::Block1),
        block_option(&packet, CoapOption::Block2),
    ) {
        (Ok(b1), Ok(b2)) => (b1, b2),
        _ => return reply(out, ResponseType::BadOption, "invalid Block option"),
    };
    let size1 = uint_option(&packet, CoapOption::Size1);
    let mut request = crate::coap::message::request_from_packet(peer, inner.socket.identity_of(peer), method, packet);

    if let Some(block) = block1 {
        match assemble(inner, &mut request, block, size1) {
            Assembled::Complete => set_block(out, CoapOption::Block1, Block { more: false, ..block }),
            Assembled::Continue => {
                set_block(out, CoapOption::Block1, block);
                out.header.code = MessageClass::Response(ResponseType::Continue);
                return;
            }
            Assembled::Smaller(wanted) => {
                set_block(out, CoapOption::Block1, wanted);
                return reply(
                    out,
                    ResponseType::RequestEntityTooLarge,
                    &format!("blocks of at most {} bytes", wanted.size()),
                );
            }
            Assembled::Refused(code, reason, size1) => {
                if let Some(size) = size1 {
                    set_uint(out, CoapOption::Size1, size);
                }
                return reply(out, code, &reason);
            }
        }
    }

    // A request for a later block is a fresh GET of the same resource, not a new observation.
    if block2.is_some_and(|b| b.num > 0) {
        request.observe = None;
    }
    let response = inner.handler.handle(request).await;
    fill_response(out, &response);

    let preferred = Block::new(0, false, inner.params.block_size);
    let block = match block2 {
        Some(asked) => Block {
            szx: asked.szx.min(preferred.szx),
            ..asked
        },
        None if response.payload.len() > preferred.size() => preferred,
        None => {
            out.payload = response.payload.to_vec();
            return;
        }
    };
    let size = block.size();
    let offset = block.num as usize * size;
    let total = response.payload.len();
    if offset > total || (offset == total && total > 0) {
        return reply(out, ResponseType::BadOption, "block beyond the end of the body");
    }
    let end = (offset + size).min(total);
    let more = end < total;
    set_block(out, CoapOption::Block2, Block { more, ..block });
    if block.num == 0 {
        set_uint(out, CoapOption::Size2, total as u32);
    }
    out.payload = response.payload[offset..end].to_vec();
}

enum Assembled {
    Complete,
    Continue,
    Refused(ResponseType, String, Option<u32>),
    /// Blocks larger than this endpoint takes: 4.13 with the size it wants (RFC 7959 §2.9.3).
    Smaller(Block),
}

/// Adds one Block1 block to the upload it belongs to (RFC 7959 §2.5); on the last block,
/// moves the whole body into `request.payload`.
fn assemble(inner: &Inner, request: &mut Request, block: Block, size1: Option<u32>) -> Assembled {
    let params = &inner.params;
    let max = params.max_body;
    let announced_too_large = size1.is_some_and(|s| s as usize > max);
    let end = block.offset() + request.payload.len();
    if announced_too_large || end > max {
        return Assembled::Refused(
            ResponseType::RequestEntityTooLarge,
            format!("body larger than {max} bytes"),
            Some(max as u32),
        );
    }
    let own = Block::new(0, false, params.block_size);
    if block.num == 0 && block.more && block.szx > own.szx {
        return Assembled::Smaller(Block {
            num: 0,
            more: false,
            szx: own.szx,
        });
    }
    if block.more && request.payload.len() != block.size() {
        return Assembled::Refused(
            ResponseType::BadRequest,
            format!(
                "block {} holds {} bytes, not {}",
                block.num,
                request.payload.len(),
                block.size()
            ),
            None,
        );
    }
    let key = (
        request.peer,
        format!(
            "{:?} {} ?{}",
            request.method,
            request.path_string(),
            request.query.join("&")
        ),
    );
    let mut state = lock(inner);
    if block.num == 0 {
        if !block.more {
            state.uploads.remove(&key);
            return Assembled::Complete;
        }
        if state.uploads.len() >= params.max_block1_transfers && !state.uploads.contains_key(&key) {
            return Assembled::Refused(
                ResponseType::ServiceUnavailable,
                "too many uploads in progress".into(),
                None,
            );
        }
        let body = std::mem::take(&mut request.payload);
        state.uploads.insert(
            key,
            Assembly {
                next: 1,
                body,
                touched: Instant::now(),
                content_format: request.content_format,
            },
        );
        return Assembled::Continue;
    }
    let Some(upload) = state.uploads.get_mut(&key) else {
        return Assembled::Refused(
            ResponseType::RequestEntityIncomplete,
            format!("block {} without block 0", block.num),
            None,
        );
    };
    // Block numbers count in the current size; a client may switch to a smaller size mid-way, so
    // compare byte offsets, not numbers.
    if block.offset() != upload.body.len() {
        let expected = upload.next;
        state.uploads.remove(&key);
        return Assembled::Refused(
            ResponseType::RequestEntityIncomplete,
            format!("block {} arrived where block {expected} was expected", block.num),
            None,
        );
    }
    upload.body.extend_from_slice(&request.payload);
    upload.next = block.num + 1;
    upload.touched = Instant::now();
    if block.more {
        return Assembled::Continue;
    }
    if let Some(upload) = state.uploads.remove(&key) {
        request.payload = upload.body;
        request.content_format = upload.content_format.or(request.content_format);
    }
    Assembled::Complete
}
