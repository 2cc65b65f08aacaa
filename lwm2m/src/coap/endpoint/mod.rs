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

mod receive;
mod waiting;

use crate::coap::block::Block;
use crate::coap::message::{
    block_option, fill_response, request_packet, set_block, set_uint, uint_option, Reply, Request, Response,
};
use crate::coap::params::TransmissionParams;
use crate::Lwm2mError;
use receive::{receive_loop, sweep_loop};
use waiting::{new_token, Incoming, Routed, Token, Waiter};

/// A boxed future, as handlers return it.
pub type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send + 'static>>;

/// Answers requests that reach an endpoint. Called once per whole request (after Block1
/// assembly) and once per Block2 block asked for, so it must be cheap to call again for the same
/// GET: return a shared body.
///
/// `handle`, and the first poll of its future, run in the endpoint's receive loop: an answer
/// ready at once is sent from there, without a task of its own. Slow work (a store write, a
/// verification) belongs after an await (`spawn_blocking`, a channel), where the endpoint gives
/// the answer a task and, past `separate_after`, acknowledges the request first.
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

type PeerToken = (SocketAddr, Token);
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
    /// Our outstanding confirmable messages, to match ACKs (empty, or with the response
    /// piggybacked) and RSTs: the exchange each belongs to.
    ///
    /// Only this endpoint inserts into `by_mid` and `exchanges` (a peer's datagram only looks
    /// up), so they hash with foldhash rather than the flood-resistant default that `seen`,
    /// which peers fill, keeps: each block of a download costs five of these hashes.
    by_mid: HashMap<PeerMid, mpsc::UnboundedSender<Routed>, foldhash::fast::RandomState>,
    /// Exchanges waiting for a response, by token (a separate response comes with the token
    /// only), with the message ID each was sent with.
    exchanges: HashMap<PeerToken, (mpsc::UnboundedSender<Routed>, u16), foldhash::fast::RandomState>,
    /// Observations this endpoint holds, by token.
    observations: HashMap<PeerToken, mpsc::UnboundedSender<Reply>>,
    /// Received message IDs: `None` while the request is being handled, then the answer sent.
    seen: HashMap<PeerMid, Option<Arc<[u8]>>>,
    seen_order: VecDeque<(Instant, PeerMid)>,
    /// Block1 uploads in progress, by peer and request target.
    uploads: HashMap<(SocketAddr, String), Assembly>,
}

/// What an endpoint's datagrams travel on: plain UDP, or DTLS sessions over UDP.
pub(crate) enum Datagrams {
    /// `coap://`.
    Udp(Arc<UdpSocket>),
    /// `coaps://`.
    Dtls(Arc<crate::dtls::DtlsSocket>),
}

impl Datagrams {
    async fn recv_from(&self, buffer: &mut [u8]) -> std::io::Result<(usize, SocketAddr)> {
        match self {
            Datagrams::Udp(socket) => socket.recv_from(buffer).await,
            Datagrams::Dtls(socket) => socket.recv_from(buffer).await.map(|(n, peer, _)| (n, peer)),
        }
    }

    async fn send_to(&self, bytes: &[u8], peer: SocketAddr) -> std::io::Result<()> {
        match self {
            Datagrams::Udp(socket) => socket.send_to(bytes, peer).await.map(|_| ()),
            Datagrams::Dtls(socket) => socket.send_to(bytes, peer).await,
        }
    }

    fn local_addr(&self) -> std::io::Result<SocketAddr> {
        match self {
            Datagrams::Udp(socket) => socket.local_addr(),
            Datagrams::Dtls(socket) => socket.local_addr(),
        }
    }

    /// The PSK identity `peer` opened its session with (`None` on plain UDP).
    fn identity_of(&self, peer: SocketAddr) -> Option<Arc<str>> {
        match self {
            Datagrams::Udp(_) => None,
            Datagrams::Dtls(socket) => socket.identity_of(peer),
        }
    }
}

struct Inner {
    socket: Arc<Datagrams>,
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
        Ok(Self::over(Datagrams::Udp(socket), params, handler))
    }

    /// An endpoint over DTLS `socket` (`coaps://`): a server socket's sessions, or a client's
    /// one session; requests go to `handler` and carry their session's PSK identity.
    pub fn over_dtls(socket: crate::dtls::DtlsSocket, params: TransmissionParams, handler: Arc<dyn Handler>) -> Self {
        Self::over(Datagrams::Dtls(Arc::new(socket)), params, handler)
    }

    /// DTLS sessions held (handshakes included); `None` on plain UDP.
    pub fn dtls_sessions(&self) -> Option<usize> {
        match &*self.inner.socket {
            Datagrams::Udp(_) => None,
            Datagrams::Dtls(socket) => Some(socket.sessions()),
        }
    }

    /// Whether the endpoint speaks DTLS.
    pub fn is_secure(&self) -> bool {
        matches!(*self.inner.socket, Datagrams::Dtls(_))
    }

    fn over(socket: Datagrams, params: TransmissionParams, handler: Arc<dyn Handler>) -> Self {
        let socket = Arc::new(socket);
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
        Self { inner }
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
        let mut waiter = Waiter::new();
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
                let reply = self.exchange(peer, &mut packet, &mut waiter).await?;
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
            self.exchange_resuming(peer, &mut packet, request.method, &mut waiter)
                .await?
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
        // The first block says how large the whole body is (Size2, RFC 7959 §4): the body is
        // joined in one allocation, not copied each time it grows.
        if let Some(total) = uint_option(&first, CoapOption::Size2) {
            let total = (total as usize).min(self.inner.params.max_body);
            reply.payload.reserve(total.saturating_sub(reply.payload.len()));
        }
        // One request for every later block: its Block2 option is set anew for each.
        let mut packet = base.clone();
        packet.clear_option(CoapOption::Observe);
        while block.more {
            let next = (block.offset() + block.size()) / (1usize << (szx + 4));
            let num = u32::try_from(next).map_err(|_| Lwm2mError::TooLarge(reply.payload.len()))?;
            if num > Block::MAX_NUM || reply.payload.len() > self.inner.params.max_body {
                return Err(Lwm2mError::TooLarge(reply.payload.len()));
            }
            set_block(&mut packet, CoapOption::Block2, Block { num, more: false, szx });
            first = self
                .exchange_resuming(peer, &mut packet, request.method, &mut waiter)
                .await?;
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
        self.lock().observations.insert((peer, token), tx);
        let mut packet = request_packet(&request);
        match self
            .exchange_with_token(peer, &mut packet, token.to_vec(), &mut Waiter::new())
            .await
        {
            Ok(packet) => {
                let reply = Reply::from_packet(&packet);
                if reply.observe.is_none() {
                    // The server does not do Observe for this resource: no notifications follow.
                    self.lock().observations.remove(&(peer, token));
                }
                Ok((reply, token.to_vec(), rx))
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
        let mut packet = request_packet(&request);
        self.exchange_with_token(peer, &mut packet, token, &mut Waiter::new())
            .await
            .map(|p| Reply::from_packet(&p))
    }

    /// Forgets an observation; the next notification for it is answered with RST.
    pub fn cancel(&self, peer: SocketAddr, token: &[u8]) {
        if let Some(token) = Token::of(token) {
            self.lock().observations.remove(&(peer, token));
        }
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
            self.transmit_con(peer, &mut packet, false, &mut Waiter::new())
                .await
                .map(|_| ())
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
        packet: &mut Packet,
        method: RequestType,
        waiter: &mut Waiter,
    ) -> Result<Packet, Lwm2mError> {
        let mut retries = if method == RequestType::Get {
            self.inner.params.get_retries
        } else {
            0
        };
        loop {
            match self.exchange(peer, packet, waiter).await {
                Err(Lwm2mError::Timeout) if retries > 0 => retries -= 1,
                other => return other,
            }
        }
    }

    /// One confirmable request/response exchange under a fresh token (`packet` takes it, and
    /// a message ID, so that it can be sent again as a new exchange).
    async fn exchange(&self, peer: SocketAddr, packet: &mut Packet, waiter: &mut Waiter) -> Result<Packet, Lwm2mError> {
        self.exchange_with_token(peer, packet, new_token().to_vec(), waiter)
            .await
    }

    async fn exchange_with_token(
        &self,
        peer: SocketAddr,
        packet: &mut Packet,
        token: Vec<u8>,
        waiter: &mut Waiter,
    ) -> Result<Packet, Lwm2mError> {
        packet.set_token(token);
        packet.header.set_type(MessageType::Confirmable);
        match self.transmit_con(peer, packet, true, waiter).await? {
            Some(response) => Ok(response),
            None => Err(Lwm2mError::Timeout),
        }
    }

    /// Sends a confirmable message and retransmits it until it is acknowledged. With
    /// `want_response`, waits on for the (piggybacked or separate) response. The message is
    /// encoded once: a retransmission sends the same bytes. What comes back arrives through
    /// `waiter`.
    async fn transmit_con(
        &self,
        peer: SocketAddr,
        packet: &mut Packet,
        want_response: bool,
        waiter: &mut Waiter,
    ) -> Result<Option<Packet>, Lwm2mError> {
        let mid = self.next_mid();
        packet.header.message_id = mid;
        let bytes = packet
            .to_bytes()
            .map_err(|e| Lwm2mError::Malformed(format!("the message could not be encoded: {e}")))?;
        // Notifications (no response wanted): only the ACK/RST matters, matched by message ID.
        // A token longer than CoAP allows never left `to_bytes`.
        let exchange = if want_response {
            Some((
                peer,
                Token::of(packet.get_token())
                    .ok_or_else(|| Lwm2mError::Malformed("token longer than 8 bytes".into()))?,
            ))
        } else {
            None
        };
        {
            let mut state = self.lock();
            if let Some(key) = exchange {
                state.exchanges.insert(key, (waiter.tx.clone(), mid));
            }
            state.by_mid.insert((peer, mid), waiter.tx.clone());
        }
        let _cleanup = Cleanup {
            endpoint: self,
            mid: (peer, mid),
            exchange,
        };

        let params = &self.inner.params;
        let mut timeout = params.initial_timeout();
        let mut attempts = 0u32;
        let mut acked = false;
        send_bytes(&self.inner, peer, &bytes).await;
        let mut deadline = tokio::time::Instant::now() + timeout;
        loop {
            match tokio::time::timeout_at(deadline, waiter.rx.recv()).await {
                // Meant for an exchange of this waiter that has ended.
                Ok(Some((routed, _))) if routed != mid => {}
                Ok(Some((_, Incoming::Response(response)))) => return Ok(Some(*response)),
                Ok(Some((_, Incoming::Ack))) => {
                    if !want_response {
                        return Ok(None);
                    }
                    if !acked {
                        acked = true;
                        deadline = tokio::time::Instant::now() + params.response_timeout;
                    }
                }
                Ok(Some((_, Incoming::Reset))) => return Err(Lwm2mError::Reset),
                Ok(None) => return Err(Lwm2mError::Timeout),
                Err(_) if acked => return Err(Lwm2mError::Timeout),
                Err(_) => {
                    if attempts >= params.max_retransmit {
                        return Err(Lwm2mError::Timeout);
                    }
                    attempts += 1;
                    timeout *= 2;
                    deadline = tokio::time::Instant::now() + timeout;
                    self.inner.counters.retransmitted.fetch_add(1, Ordering::Relaxed);
                    send_bytes(&self.inner, peer, &bytes).await;
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

/// Removes an exchange's bookkeeping however it ends (answer, error, or the caller dropping it).
struct Cleanup<'a> {
    endpoint: &'a Endpoint,
    mid: PeerMid,
    exchange: Option<PeerToken>,
}

impl Drop for Cleanup<'_> {
    fn drop(&mut self) {
        let mut state = self.endpoint.lock();
        state.by_mid.remove(&self.mid);
        if let Some(exchange) = &self.exchange {
            state.exchanges.remove(exchange);
        }
    }
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
