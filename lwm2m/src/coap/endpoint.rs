//! The CoAP exchange layer on one tokio UDP socket: both the requesting and the responding side.
//!
//! What it does for the layers above (RFC 7252, 7959, 7641):
//! - confirmable requests and notifications are retransmitted with exponential back-off until
//!   acknowledged, reset, or given up;
//! - responses are matched to requests by token, piggybacked or separate (an empty ACK first);
//! - received message IDs are remembered for EXCHANGE_LIFETIME so a duplicate gets the cached
//!   answer instead of a second execution;
//! - bodies larger than a block travel block-wise in both directions: Block1 uploads are
//!   assembled before the handler sees them (bounded size, bounded count, idle transfers
//!   dropped), Block2 downloads are served from the handler's whole body and joined on the
//!   requesting side;
//! - Observe: notifications for a token the caller observes are delivered to its channel; an
//!   unknown notification is answered with RST so the notifier stops.

use std::collections::{HashMap, VecDeque};
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicU16, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, Weak};
use std::time::{Duration, Instant};

use coap_lite::{CoapOption, MessageClass, MessageType, Packet, RequestType, ResponseType};
use tokio::net::UdpSocket;
use tokio::sync::mpsc;
use tokio::task::AbortHandle;

use super::block::Block;
use super::message::{
    block_option, fill_response, request_packet, set_block, set_uint, string_options, uint_option, Reply, Request,
    Response,
};
use super::params::TransmissionParams;
use crate::Lwm2mError;

/// A boxed future, as handlers return it.
pub type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send + 'static>>;

/// Answers requests that reach an endpoint. Called once per whole request (after Block1
/// assembly) and once per Block2 block asked for, so it must be cheap to call again for the same
/// GET: return a shared body.
pub trait Handler: Send + Sync + 'static {
    /// Produces the response to `request`.
    fn handle(&self, request: Request) -> BoxFuture<Response>;
}

/// A handler that answers everything with 4.04 (a pure client).
pub struct NotFound;

impl Handler for NotFound {
    fn handle(&self, _request: Request) -> BoxFuture<Response> {
        Box::pin(async { Response::new(ResponseType::NotFound) })
    }
}

/// Counters of what an endpoint did, for tests and benchmarks.
#[derive(Debug, Default, Clone, Copy)]
pub struct EndpointStats {
    /// Datagrams sent (retransmissions included).
    pub sent: u64,
    /// Retransmissions of confirmable messages.
    pub retransmitted: u64,
    /// Datagrams received.
    pub received: u64,
    /// Duplicate requests answered from the cache.
    pub duplicates: u64,
    /// Datagrams that did not parse.
    pub malformed: u64,
    /// Datagrams dropped by fault injection.
    pub injected_losses: u64,
}

#[derive(Default)]
struct Counters {
    sent: AtomicU64,
    retransmitted: AtomicU64,
    received: AtomicU64,
    duplicates: AtomicU64,
    malformed: AtomicU64,
    injected_losses: AtomicU64,
}

/// What the receive loop hands to a waiting exchange.
enum Incoming {
    /// An empty ACK: the peer has the message; a separate response may follow.
    Ack,
    /// The peer rejected the message.
    Reset,
    /// A response (piggybacked or separate).
    Response(Box<Packet>),
}

type PeerToken = (SocketAddr, Vec<u8>);
type PeerMid = (SocketAddr, u16);

/// A Block1 upload being assembled.
struct Assembly {
    next: u32,
    body: Vec<u8>,
    touched: Instant,
    /// The Content-Format of block 0: it describes the whole body. Clients differ in what later
    /// blocks carry (the same, none, or 0), so theirs is not used.
    content_format: Option<u16>,
}

#[derive(Default)]
struct State {
    /// Our outstanding confirmable messages, to match empty ACKs and RSTs.
    by_mid: HashMap<PeerMid, Vec<u8>>,
    /// Exchanges waiting for an ACK or a response, by token.
    exchanges: HashMap<PeerToken, mpsc::UnboundedSender<Incoming>>,
    /// Observations this endpoint holds, by token.
    observations: HashMap<PeerToken, mpsc::UnboundedSender<Reply>>,
    /// Received message IDs: `None` while the request is being handled, then the answer sent.
    seen: HashMap<PeerMid, Option<Arc<[u8]>>>,
    seen_order: VecDeque<(Instant, PeerMid)>,
    /// Block1 uploads in progress, by peer and request target.
    uploads: HashMap<(SocketAddr, String), Assembly>,
}

struct Inner {
    socket: Arc<UdpSocket>,
    params: TransmissionParams,
    next_mid: AtomicU16,
    state: Mutex<State>,
    handler: Arc<dyn Handler>,
    counters: Counters,
    tasks: Mutex<Vec<AbortHandle>>,
}

impl Drop for Inner {
    fn drop(&mut self) {
        if let Ok(tasks) = self.tasks.lock() {
            for task in tasks.iter() {
                task.abort();
            }
        }
    }
}

/// One CoAP endpoint: a UDP socket, its exchanges, and the handler for requests it receives.
/// Cloning shares it; the socket closes when the last clone is dropped.
#[derive(Clone)]
pub struct Endpoint {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for Endpoint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Endpoint")
            .field("local", &self.local_addr().ok())
            .finish()
    }
}

/// Size of the receive buffer: larger than any datagram a block-wise peer sends, so an
/// oversized one is seen whole and rejected rather than silently truncated.
const RECV_BUFFER: usize = 65_536;

impl Endpoint {
    /// Binds `addr` and starts receiving; requests go to `handler`.
    pub async fn bind(
        addr: SocketAddr,
        params: TransmissionParams,
        handler: Arc<dyn Handler>,
    ) -> std::io::Result<Self> {
        let socket = Arc::new(bind_udp(addr, params.recv_buffer)?);
        let inner = Arc::new(Inner {
            socket: socket.clone(),
            params,
            next_mid: AtomicU16::new(fastrand::u16(..)),
            state: Mutex::new(State::default()),
            handler,
            counters: Counters::default(),
            tasks: Mutex::new(Vec::new()),
        });
        let receiver = tokio::spawn(receive_loop(socket, Arc::downgrade(&inner)));
        let sweeper = tokio::spawn(sweep_loop(Arc::downgrade(&inner)));
        if let Ok(mut tasks) = inner.tasks.lock() {
            tasks.push(receiver.abort_handle());
            tasks.push(sweeper.abort_handle());
        }
        Ok(Self { inner })
    }

    /// The bound address.
    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.inner.socket.local_addr()
    }

    /// The transmission parameters in force.
    pub fn params(&self) -> &TransmissionParams {
        &self.inner.params
    }

    /// What the endpoint has done so far.
    pub fn stats(&self) -> EndpointStats {
        let c = &self.inner.counters;
        EndpointStats {
            sent: c.sent.load(Ordering::Relaxed),
            retransmitted: c.retransmitted.load(Ordering::Relaxed),
            received: c.received.load(Ordering::Relaxed),
            duplicates: c.duplicates.load(Ordering::Relaxed),
            malformed: c.malformed.load(Ordering::Relaxed),
            injected_losses: c.injected_losses.load(Ordering::Relaxed),
        }
    }

    /// Exchange state held right now: (outstanding CONs, waiting exchanges, remembered message
    /// IDs, Block1 uploads, observations). Tests use it to check that nothing is left behind.
    pub fn state_sizes(&self) -> (usize, usize, usize, usize, usize) {
        match self.inner.state.lock() {
            Ok(s) => (
                s.by_mid.len(),
                s.exchanges.len(),
                s.seen.len(),
                s.uploads.len(),
                s.observations.len(),
            ),
            Err(_) => (0, 0, 0, 0, 0),
        }
    }

    /// Sends `request` to `peer` as a confirmable message and returns the whole response:
    /// a body larger than the block size goes out block-wise (Block1), and a block-wise
    /// response is fetched to its end (Block2).
    pub async fn request(&self, peer: SocketAddr, request: Request) -> Result<Reply, Lwm2mError> {
        self.request_with_block_size(peer, request, self.inner.params.block_size)
            .await
    }

    /// As [`Endpoint::request`], with block size `block_size` (16..=1024) for both directions.
    pub async fn request_with_block_size(
        &self,
        peer: SocketAddr,
        request: Request,
        block_size: usize,
    ) -> Result<Reply, Lwm2mError> {
        let mut szx = Block::new(0, false, block_size).szx;
        let base = request_packet(&request);
        let body = &request.payload;

        // Block1: send the body block by block; the server may lower the block size.
        let mut first = if body.len() > Block::new(0, false, block_size).size() {
            let mut offset = 0usize;
            loop {
                let size = 1usize << (szx + 4);
                let num = u32::try_from(offset / size).map_err(|_| Lwm2mError::TooLarge(body.len()))?;
                if num > Block::MAX_NUM {
                    return Err(Lwm2mError::TooLarge(body.len()));
                }
                let end = (offset + size).min(body.len());
                let more = end < body.len();
                let mut packet = base.clone();
                set_block(&mut packet, CoapOption::Block1, Block { num, more, szx });
                if num == 0 {
                    set_uint(&mut packet, CoapOption::Size1, body.len() as u32);
                }
                packet.payload = body[offset..end].to_vec();
                let reply = self.exchange(peer, packet).await?;
                // 4.13 with a smaller Block1 size: the server wants smaller blocks; the upload
                // starts again at that size (RFC 7959 §2.9.3).
                if reply.header.code == MessageClass::Response(ResponseType::RequestEntityTooLarge) {
                    if let Ok(Some(wanted)) = block_option(&reply, CoapOption::Block1) {
                        if wanted.szx < szx {
                            szx = wanted.szx;
                            offset = 0;
                            continue;
                        }
                    }
                }
                if !more {
                    break reply;
                }
                if reply.header.code != MessageClass::Response(ResponseType::Continue) {
                    // The server answered before the end (an error, or it took what it needed).
                    return Ok(Reply::from_packet(&reply));
                }
                if let Ok(Some(ack)) = block_option(&reply, CoapOption::Block1) {
                    if ack.szx < szx {
                        szx = ack.szx;
                    }
                }
                offset = end;
            }
        } else {
            let mut packet = base.clone();
            packet.payload = body.clone();
            self.exchange_resuming(peer, packet, request.method).await?
        };

        // Block2: fetch the rest of a block-wise response with the same request.
        let mut reply = Reply::from_packet(&first);
        let mut block = match block_option(&first, CoapOption::Block2) {
            Ok(Some(block)) => block,
            Ok(None) => return Ok(reply),
            Err(()) => return Err(Lwm2mError::Malformed("response with an invalid Block2 option".into())),
        };
        // A response block smaller than ours sets the pace from here on.
        szx = szx.min(block.szx);
        while block.more {
            let next = (block.offset() + block.size()) / (1usize << (szx + 4));
            let num = u32::try_from(next).map_err(|_| Lwm2mError::TooLarge(reply.payload.len()))?;
            if num > Block::MAX_NUM || reply.payload.len() > self.inner.params.max_body {
                return Err(Lwm2mError::TooLarge(reply.payload.len()));
            }
            let mut packet = base.clone();
            packet.clear_option(CoapOption::Observe);
            set_block(&mut packet, CoapOption::Block2, Block { num, more: false, szx });
            first = self.exchange_resuming(peer, packet, request.method).await?;
            if matches!(first.header.code, MessageClass::Response(code) if code.is_error()) {
                return Ok(Reply::from_packet(&first));
            }
            block = match block_option(&first, CoapOption::Block2) {
                Ok(Some(b)) if b.num == num => b,
                _ => {
                    return Err(Lwm2mError::Malformed(format!(
                        "block {num} came back without a matching Block2"
                    )))
                }
            };
            reply.payload.extend_from_slice(&first.payload);
        }
        Ok(reply)
    }

    /// Registers an observation of `request` (Observe 0 is set) and returns the first response
    /// and a channel of later notifications. The channel closes when [`Endpoint::cancel`] is
    /// called with the returned token.
    pub async fn observe(
        &self,
        peer: SocketAddr,
        mut request: Request,
    ) -> Result<(Reply, Vec<u8>, mpsc::UnboundedReceiver<Reply>), Lwm2mError> {
        request.observe = Some(0);
        let token = new_token();
        let (tx, rx) = mpsc::unbounded_channel();
        self.lock().observations.insert((peer, token.clone()), tx);
        let packet = request_packet(&request);
        match self.exchange_with_token(peer, packet, token.clone()).await {
            Ok(packet) => {
                let reply = Reply::from_packet(&packet);
                if reply.observe.is_none() {
                    // The server does not do Observe for this resource: no notifications follow.
                    self.lock().observations.remove(&(peer, token.clone()));
                }
                Ok((reply, token, rx))
            }
            Err(e) => {
                self.lock().observations.remove(&(peer, token));
                Err(e)
            }
        }
    }

    /// Ends an observation actively (RFC 7641 §3.6): a GET of the same target with Observe 1 and
    /// the observation's token. The observation is forgotten first, so a notification that
    /// crosses the request is answered with RST.
    pub async fn cancel_actively(
        &self,
        peer: SocketAddr,
        mut request: Request,
        token: Vec<u8>,
    ) -> Result<Reply, Lwm2mError> {
        self.cancel(peer, &token);
        request.observe = Some(1);
        let packet = request_packet(&request);
        self.exchange_with_token(peer, packet, token)
            .await
            .map(|p| Reply::from_packet(&p))
    }

    /// Forgets an observation; the next notification for it is answered with RST.
    pub fn cancel(&self, peer: SocketAddr, token: &[u8]) {
        self.lock().observations.remove(&(peer, token.to_vec()));
    }

    /// Sends an Observe notification `response` (with its `observe` sequence number set) to
    /// `peer` under `token`. Confirmable notifications wait for the ACK; an RST means the
    /// observer is gone ([`Lwm2mError::Reset`]).
    pub async fn notify(
        &self,
        peer: SocketAddr,
        token: &[u8],
        response: &Response,
        confirmable: bool,
    ) -> Result<(), Lwm2mError> {
        let mut packet = Packet::new();
        fill_response(&mut packet, response);
        packet.payload = response.payload.to_vec();
        // A notification larger than a block carries its first block; the observer fetches the
        // rest with GETs (RFC 7959 §3.4).
        let first = Block::new(0, true, self.inner.params.block_size);
        if packet.payload.len() > first.size() {
            set_block(&mut packet, CoapOption::Block2, first);
            let total = packet.payload.len() as u32;
            set_uint(&mut packet, CoapOption::Size2, total);
            packet.payload.truncate(first.size());
        }
        packet.set_token(token.to_vec());
        if confirmable {
            packet.header.set_type(MessageType::Confirmable);
            self.transmit_con(peer, packet, false).await.map(|_| ())
        } else {
            packet.header.set_type(MessageType::NonConfirmable);
            packet.header.message_id = self.next_mid();
            self.send(peer, &packet).await;
            Ok(())
        }
    }

    /// An exchange that, for a GET, starts again after a timeout (up to `get_retries` times).
    async fn exchange_resuming(
        &self,
        peer: SocketAddr,
        packet: Packet,
        method: RequestType,
    ) -> Result<Packet, Lwm2mError> {
        let mut retries = if method == RequestType::Get {
            self.inner.params.get_retries
        } else {
            0
        };
        loop {
            match self.exchange(peer, packet.clone()).await {
                Err(Lwm2mError::Timeout) if retries > 0 => retries -= 1,
                other => return other,
            }
        }
    }

    /// One confirmable request/response exchange under a fresh token.
    async fn exchange(&self, peer: SocketAddr, packet: Packet) -> Result<Packet, Lwm2mError> {
        self.exchange_with_token(peer, packet, new_token()).await
    }

    async fn exchange_with_token(
        &self,
        peer: SocketAddr,
        mut packet: Packet,
        token: Vec<u8>,
    ) -> Result<Packet, Lwm2mError> {
        packet.set_token(token);
        packet.header.set_type(MessageType::Confirmable);
        match self.transmit_con(peer, packet, true).await? {
            Some(response) => Ok(response),
            None => Err(Lwm2mError::Timeout),
        }
    }

    /// Sends a confirmable message and retransmits it until it is acknowledged. With
    /// `want_response`, waits on for the (piggybacked or separate) response.
    async fn transmit_con(
        &self,
        peer: SocketAddr,
        mut packet: Packet,
        want_response: bool,
    ) -> Result<Option<Packet>, Lwm2mError> {
        let mid = self.next_mid();
        packet.header.message_id = mid;
        let token = packet.get_token().to_vec();
        let (tx, mut rx) = mpsc::unbounded_channel();
        {
            let mut state = self.lock();
            state.by_mid.insert((peer, mid), token.clone());
            if want_response {
                state.exchanges.insert((peer, token.clone()), tx);
            } else {
                // Notifications: only the ACK/RST matters, matched by message ID.
                state.exchanges.insert((peer, mid_key(mid)), tx);
            }
        }
        let exchange_key = if want_response {
            (peer, token.clone())
        } else {
            (peer, mid_key(mid))
        };
        let _cleanup = Cleanup {
            endpoint: self,
            mid: (peer, mid),
            exchange: exchange_key,
        };

        let params = &self.inner.params;
        let mut timeout = params.initial_timeout();
        let mut attempts = 0u32;
        let mut acked = false;
        self.send(peer, &packet).await;
        loop {
            let wait = if acked { params.response_timeout } else { timeout };
            match tokio::time::timeout(wait, rx.recv()).await {
                Ok(Some(Incoming::Response(response))) => return Ok(Some(*response)),
                Ok(Some(Incoming::Ack)) => {
                    if !want_response {
                        return Ok(None);
                    }
                    acked = true;
                }
                Ok(Some(Incoming::Reset)) => return Err(Lwm2mError::Reset),
                Ok(None) => return Err(Lwm2mError::Timeout),
                Err(_) if acked => return Err(Lwm2mError::Timeout),
                Err(_) => {
                    if attempts >= params.max_retransmit {
                        return Err(Lwm2mError::Timeout);
                    }
                    attempts += 1;
                    timeout *= 2;
                    self.inner.counters.retransmitted.fetch_add(1, Ordering::Relaxed);
                    self.send(peer, &packet).await;
                }
            }
        }
    }

    fn next_mid(&self) -> u16 {
        self.inner.next_mid.fetch_add(1, Ordering::Relaxed)
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        lock(&self.inner)
    }

    async fn send(&self, peer: SocketAddr, packet: &Packet) {
        send_packet(&self.inner, peer, packet).await;
    }
}

/// Binds a non-blocking UDP socket with a receive buffer of `recv_buffer` bytes (the kernel caps
/// it at `net.core.rmem_max`). The default (~208 KiB on Linux) overflows when thousands of
/// devices register or download at once, and every datagram dropped there costs a
/// retransmission timeout.
pub fn bind_udp(addr: SocketAddr, recv_buffer: usize) -> std::io::Result<UdpSocket> {
    use socket2::{Domain, Protocol, Socket, Type};
    let socket = Socket::new(Domain::for_address(addr), Type::DGRAM, Some(Protocol::UDP))?;
    if recv_buffer > 0 {
        if let Err(e) = socket.set_recv_buffer_size(recv_buffer) {
            tracing::debug!(error = %e, "could not enlarge the UDP receive buffer");
        }
    }
    socket.set_nonblocking(true)?;
    socket.bind(&addr.into())?;
    UdpSocket::from_std(socket.into())
}

/// Exchanges waiting only for an ACK are keyed by a pseudo-token that cannot collide with a real
/// one (tokens are at most 8 bytes).
fn mid_key(mid: u16) -> Vec<u8> {
    let mut key = vec![0xff; 9];
    key.extend_from_slice(&mid.to_be_bytes());
    key
}

/// Removes an exchange's bookkeeping however it ends (answer, error, or the caller dropping it).
struct Cleanup<'a> {
    endpoint: &'a Endpoint,
    mid: PeerMid,
    exchange: PeerToken,
}

impl Drop for Cleanup<'_> {
    fn drop(&mut self) {
        let mut state = self.endpoint.lock();
        state.by_mid.remove(&self.mid);
        state.exchanges.remove(&self.exchange);
    }
}

fn new_token() -> Vec<u8> {
    fastrand::u64(..).to_be_bytes().to_vec()
}

fn lock(inner: &Inner) -> MutexGuard<'_, State> {
    // A panic while holding the lock cannot leave the maps inconsistent in a way that matters
    // more than stopping the endpoint would; keep serving.
    inner.state.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

async fn send_packet(inner: &Inner, peer: SocketAddr, packet: &Packet) {
    match packet.to_bytes() {
        Ok(bytes) => send_bytes(inner, peer, &bytes).await,
        Err(e) => tracing::warn!(%peer, error = %e, "CoAP message could not be encoded"),
    }
}

async fn send_bytes(inner: &Inner, peer: SocketAddr, bytes: &[u8]) {
    if inner.params.loss > 0.0 && fastrand::f64() < inner.params.loss {
        inner.counters.injected_losses.fetch_add(1, Ordering::Relaxed);
        return;
    }
    inner.counters.sent.fetch_add(1, Ordering::Relaxed);
    if let Err(e) = inner.socket.send_to(bytes, peer).await {
        tracing::debug!(%peer, error = %e, "UDP send failed");
    }
}

async fn receive_loop(socket: Arc<UdpSocket>, inner: Weak<Inner>) {
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

async fn sweep_loop(inner: Weak<Inner>) {
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
    }
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
    let Some(token) = state.by_mid.get(&(peer, mid)) else {
        return; // A late or stray ACK: nothing waits for it.
    };
    let reset = packet.header.get_type() == MessageType::Reset;
    let empty = packet.header.code == MessageClass::Empty;
    let event = if reset {
        Incoming::Reset
    } else if empty {
        Incoming::Ack
    } else {
        Incoming::Response(Box::new(packet))
    };
    let key = (peer, token.clone());
    let sender = state
        .exchanges
        .get(&key)
        .or_else(|| state.exchanges.get(&(peer, mid_key(mid))));
    if let Some(sender) = sender {
        let _ = sender.send(event);
    }
}

async fn on_separate_response(inner: &Arc<Inner>, peer: SocketAddr, packet: Packet, kind: MessageType) {
    let key = (peer, packet.get_token().to_vec());
    let mid = packet.header.message_id;
    let delivered = {
        let state = lock(inner);
        if let Some(exchange) = state.exchanges.get(&key) {
            exchange.send(Incoming::Response(Box::new(packet))).is_ok()
        } else if let Some(observer) = state.observations.get(&key) {
            observer.send(Reply::from_packet(&packet)).is_ok()
        } else {
            false
        }
    };
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
    let inner = inner.clone();
    tokio::spawn(async move {
        let token = packet.get_token().to_vec();
        let mut out = Packet::new();
        out.set_token(token);
        // A slow handler is raced against the clock (in this task: a spawn per request costs
        // more than the race).
        let answer = async {
            answer_request(&inner, peer, packet, &mut out).await;
            out
        };
        tokio::pin!(answer);
        let patience = inner.params.separate_after;
        let (mut out, separate) = if confirmable {
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
        if separate {
            out.header.set_type(MessageType::Confirmable);
            let endpoint = Endpoint { inner: inner.clone() };
            if let Err(e) = endpoint.transmit_con(peer, out, false).await {
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
        let bytes: Arc<[u8]> = match out.to_bytes() {
            Ok(bytes) => Arc::from(bytes),
            Err(e) => {
                tracing::warn!(%peer, error = %e, "response could not be encoded");
                let mut fallback = Packet::new();
                fallback.header = out.header.clone();
                fallback.set_token(out.get_token().to_vec());
                fallback.header.code = MessageClass::Response(ResponseType::InternalServerError);
                match fallback.to_bytes() {
                    Ok(bytes) => Arc::from(bytes),
                    Err(_) => return,
                }
            }
        };
        {
            let mut state = lock(&inner);
            if let Some(entry) = state.seen.get_mut(&(peer, mid)) {
                *entry = Some(bytes.clone());
            }
        }
        send_bytes(&inner, peer, &bytes).await;
    });
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
    let mut request = Request {
        peer,
        method,
        path: string_options(&packet, CoapOption::UriPath),
        query: string_options(&packet, CoapOption::UriQuery),
        content_format: uint_option(&packet, CoapOption::ContentFormat).map(|v| v as u16),
        accept: uint_option(&packet, CoapOption::Accept).map(|v| v as u16),
        observe: uint_option(&packet, CoapOption::Observe),
        token: packet.get_token().to_vec(),
        payload: packet.payload,
    };

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

/// The methods as text, for logs.
pub fn method_name(method: RequestType) -> &'static str {
    match method {
        RequestType::Get => "GET",
        RequestType::Post => "POST",
        RequestType::Put => "PUT",
        RequestType::Delete => "DELETE",
        RequestType::Fetch => "FETCH",
        RequestType::Patch => "PATCH",
        RequestType::IPatch => "iPATCH",
        RequestType::UnKnown => "?",
    }
}
