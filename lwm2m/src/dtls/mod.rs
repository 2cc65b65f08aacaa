//! DTLS 1.2 with pre-shared keys (RFC 6347, RFC 4279) on one UDP socket: what `coaps://` runs
//! on, through the system's OpenSSL.
//!
//! One socket carries many sessions, one per peer address. Each session is an OpenSSL stream
//! over an in-memory channel ([`session::Wire`]): datagrams from the socket go in, records
//! OpenSSL writes come out, one datagram per write. A pump task feeds datagrams to sessions and
//! hands the plaintext to the CoAP layer; a tick drives handshake retransmissions (OpenSSL
//! resends a flight when it finds its timer expired on a read). A server asks a client for a
//! cookie first (HelloVerifyRequest), so a spoofed ClientHello costs it no session state
//! beyond the cookie exchange, and holds a bounded number of sessions.
//!
//! Cipher suites, in order of preference: TLS_PSK_WITH_AES_128_CCM_8 (the LwM2M and CoAP
//! interoperability floor), TLS_PSK_WITH_AES_128_CCM, TLS_PSK_WITH_AES_128_GCM_SHA256.

mod session;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use openssl::ssl::{Ssl, SslContext, SslMethod, SslOptions, SslVersion};
use tokio::net::UdpSocket;
use tokio::sync::{mpsc, watch};
use tokio::task::AbortHandle;

use session::{Session, Step};

/// The cipher suites offered and accepted (OpenSSL's names).
pub const CIPHERS: &str = "PSK-AES128-CCM8:PSK-AES128-CCM:PSK-AES128-GCM-SHA256";

/// Largest datagram a session writes: fits an IPv6 minimum MTU path with headroom.
const MTU: u32 = 1200;

/// The keys of the identities a server accepts.
pub trait PskStore: Send + Sync + 'static {
    /// The key of `identity`, if it is known.
    fn key(&self, identity: &[u8]) -> Option<Vec<u8>>;
}

/// A client's identity and key.
#[derive(Clone)]
pub struct Psk {
    /// The PSK identity (what the server looks the key up by).
    pub identity: String,
    /// The key.
    pub key: Vec<u8>,
}

impl std::fmt::Debug for Psk {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never the key.
        f.debug_struct("Psk")
            .field("identity", &self.identity)
            .finish_non_exhaustive()
    }
}

/// A DTLS socket could not be set up or a session could not be opened.
#[derive(Debug, thiserror::Error)]
pub enum DtlsError {
    /// OpenSSL refused the configuration.
    #[error("DTLS setup failed: {0}")]
    Setup(String),
    /// The handshake failed (a wrong key, an unknown identity, no common cipher suite).
    #[error("DTLS handshake with {peer} failed: {reason}")]
    Handshake {
        /// The peer.
        peer: SocketAddr,
        /// What OpenSSL said.
        reason: String,
    },
    /// The peer did not finish the handshake in time.
    #[error("DTLS handshake with {0} timed out")]
    Timeout(SocketAddr),
    /// The socket failed.
    #[error(transparent)]
    Io(#[from] std::io::Error),
}

fn setup(e: impl std::fmt::Display) -> DtlsError {
    DtlsError::Setup(e.to_string())
}

/// Limits of a server socket.
#[derive(Debug, Clone, Copy)]
pub struct DtlsLimits {
    /// Most sessions held at once (handshakes included).
    pub max_sessions: usize,
    /// A handshake not finished in this time is dropped.
    pub handshake_timeout: Duration,
    /// A session that carried nothing for this long is dropped (the client makes a new one).
    pub idle_timeout: Duration,
}

impl Default for DtlsLimits {
    fn default() -> Self {
        Self {
            max_sessions: 20_000,
            handshake_timeout: Duration::from_secs(30),
            // Longer than a queue-mode device sleeps between updates, typically.
            idle_timeout: Duration::from_secs(24 * 3600),
        }
    }
}

/// Plaintext received: the bytes, the peer, and the PSK identity its session was opened with.
type Plain = (Vec<u8>, SocketAddr, Arc<str>);

struct Shared {
    udp: Arc<UdpSocket>,
    ctx: SslContext,
    /// The index where a session's peer address is kept, for the cookie callbacks.
    peer_index: openssl::ex_data::Index<Ssl, SocketAddr>,
    /// `None` for a client socket, which talks to one server only.
    limits: Option<DtlsLimits>,
    sessions: Mutex<HashMap<SocketAddr, Session>>,
    plain: mpsc::Sender<Plain>,
    /// Client: the handshake's outcome (`None` while it runs).
    opened: watch::Sender<Option<Result<(), String>>>,
}

/// A UDP socket whose datagrams are DTLS records: sessions opened on demand (server) or once
/// (client), plaintext in and out.
pub struct DtlsSocket {
    shared: Arc<Shared>,
    received: tokio::sync::Mutex<mpsc::Receiver<Plain>>,
    tasks: Vec<AbortHandle>,
}

impl std::fmt::Debug for DtlsSocket {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DtlsSocket")
            .field("local", &self.shared.udp.local_addr().ok())
            .finish_non_exhaustive()
    }
}

impl Drop for DtlsSocket {
    fn drop(&mut self) {
        for task in &self.tasks {
            task.abort();
        }
    }
}

/// How many plaintext datagrams may wait for the CoAP layer; past that, new ones are dropped
/// (CoAP retransmits).
const PLAIN_QUEUE: usize = 4096;

fn context(
    server: bool,
    peer_index: openssl::ex_data::Index<Ssl, SocketAddr>,
) -> Result<openssl::ssl::SslContextBuilder, DtlsError> {
    let method = if server {
        SslMethod::dtls_server()
    } else {
        SslMethod::dtls_client()
    };
    let mut ctx = SslContext::builder(method).map_err(setup)?;
    ctx.set_min_proto_version(Some(SslVersion::DTLS1_2)).map_err(setup)?;
    ctx.set_max_proto_version(Some(SslVersion::DTLS1_2)).map_err(setup)?;
    ctx.set_cipher_list(CIPHERS).map_err(setup)?;
    // OpenSSL 3 puts the 64-bit-tag CCM_8 suites below its default security level; they are
    // what constrained devices speak, and the suite list above admits nothing weaker.
    ctx.set_security_level(0);
    ctx.set_options(SslOptions::NO_QUERY_MTU | SslOptions::NO_TICKET);
    if server {
        ctx.set_options(SslOptions::COOKIE_EXCHANGE);
        let mut secret = [0u8; 32];
        getrandom::fill(&mut secret).map_err(setup)?;
        let cookie = move |ssl: &openssl::ssl::SslRef| -> Option<[u8; 32]> {
            let peer = ssl.ex_data(peer_index)?;
            let mut input = secret.to_vec();
            input.extend_from_slice(peer.to_string().as_bytes());
            Some(openssl::sha::sha256(&input))
        };
        let verify = cookie;
        ctx.set_cookie_generate_cb(move |ssl, out| {
            let value = cookie(ssl).ok_or_else(openssl::error::ErrorStack::get)?;
            let n = value.len().min(out.len());
            out[..n].copy_from_slice(&value[..n]);
            Ok(n)
        });
        ctx.set_cookie_verify_cb(move |ssl, given| {
            verify(ssl).is_some_and(|value| given.len() == value.len() && openssl::memcmp::eq(given, &value))
        });
    }
    Ok(ctx)
}

impl DtlsSocket {
    /// A server on `addr` that accepts the identities of `keys`.
    pub async fn bind_server(addr: SocketAddr, keys: Arc<dyn PskStore>, limits: DtlsLimits) -> Result<Self, DtlsError> {
        let udp = Arc::new(crate::coap::endpoint::bind_udp(addr, 1 << 20)?);
        let peer_index = Ssl::new_ex_index::<SocketAddr>().map_err(setup)?;
        let mut ctx = context(true, peer_index)?;
        ctx.set_psk_server_callback(move |_ssl, identity, key_out| {
            let key = identity
                .and_then(|id| keys.key(id))
                .filter(|k| k.len() <= key_out.len());
            match key {
                Some(key) => {
                    key_out[..key.len()].copy_from_slice(&key);
                    Ok(key.len())
                }
                // 0: no key, the handshake fails with unknown_psk_identity.
                None => Ok(0),
            }
        });
        Ok(Self::start(udp, ctx.build(), peer_index, Some(limits)))
    }

    /// A client on an ephemeral port of `local` that opens one session with `server` with
    /// `psk`, and returns once it is open.
    pub async fn connect(
        local: SocketAddr,
        server: SocketAddr,
        psk: Psk,
        timeout: Duration,
    ) -> Result<Self, DtlsError> {
        let udp = Arc::new(crate::coap::endpoint::bind_udp(local, 1 << 20)?);
        let peer_index = Ssl::new_ex_index::<SocketAddr>().map_err(setup)?;
        let mut ctx = context(false, peer_index)?;
        let Psk { identity, key } = psk;
        ctx.set_psk_client_callback(move |_ssl, _hint, identity_out, key_out| {
            let id = identity.as_bytes();
            if id.len() + 1 > identity_out.len() || key.len() > key_out.len() {
                return Err(openssl::error::ErrorStack::get());
            }
            identity_out[..id.len()].copy_from_slice(id);
            identity_out[id.len()] = 0;
            key_out[..key.len()].copy_from_slice(&key);
            Ok(key.len())
        });
        let socket = Self::start(udp, ctx.build(), peer_index, None);
        let first = {
            let mut ssl = Ssl::new(&socket.shared.ctx).map_err(setup)?;
            ssl.set_mtu(MTU).map_err(setup)?;
            ssl.set_connect_state();
            let mut session = Session::new(ssl, server).map_err(setup)?;
            let (out, _) = session.drive();
            lock(&socket.shared.sessions).insert(server, session);
            out
        };
        send_all(&socket.shared.udp, server, first).await;
        let mut opened = socket.shared.opened.subscribe();
        let outcome = tokio::time::timeout(timeout, opened.wait_for(Option::is_some)).await;
        match outcome {
            Ok(Ok(state)) => match state.clone() {
                Some(Ok(())) => Ok(socket),
                Some(Err(reason)) => Err(DtlsError::Handshake { peer: server, reason }),
                None => Err(DtlsError::Timeout(server)),
            },
            _ => Err(DtlsError::Timeout(server)),
        }
    }

    fn start(
        udp: Arc<UdpSocket>,
        ctx: SslContext,
        peer_index: openssl::ex_data::Index<Ssl, SocketAddr>,
        limits: Option<DtlsLimits>,
    ) -> Self {
        let (plain, received) = mpsc::channel(PLAIN_QUEUE);
        let (opened, _) = watch::channel(None);
        let shared = Arc::new(Shared {
            udp,
            ctx,
            peer_index,
            limits,
            sessions: Mutex::new(HashMap::new()),
            plain,
            opened,
        });
        let pump = tokio::spawn(pump(Arc::downgrade(&shared)));
        let tick = tokio::spawn(tick(Arc::downgrade(&shared)));
        Self {
            shared,
            received: tokio::sync::Mutex::new(received),
            tasks: vec![pump.abort_handle(), tick.abort_handle()],
        }
    }

    /// The bound address.
    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.shared.udp.local_addr()
    }

    /// The next plaintext datagram: its length in `buffer`, the peer and its PSK identity.
    pub async fn recv_from(&self, buffer: &mut [u8]) -> std::io::Result<(usize, SocketAddr, Arc<str>)> {
        let mut received = self.received.lock().await;
        let (bytes, peer, identity) = received
            .recv()
            .await
            .ok_or_else(|| std::io::Error::new(std::io::ErrorKind::BrokenPipe, "the DTLS socket closed"))?;
        let n = bytes.len().min(buffer.len());
        buffer[..n].copy_from_slice(&bytes[..n]);
        Ok((n, peer, identity))
    }

    /// Sends `bytes` to `peer` in its open session.
    pub async fn send_to(&self, bytes: &[u8], peer: SocketAddr) -> std::io::Result<()> {
        let out = {
            let mut sessions = lock(&self.shared.sessions);
            let session = sessions
                .get_mut(&peer)
                .filter(|s| s.identity().is_some())
                .ok_or_else(|| {
                    std::io::Error::new(std::io::ErrorKind::NotConnected, format!("no DTLS session with {peer}"))
                })?;
            session.write(bytes)?
        };
        send_all(&self.shared.udp, peer, out).await;
        Ok(())
    }

    /// The PSK identity of `peer`'s open session.
    pub fn identity_of(&self, peer: SocketAddr) -> Option<Arc<str>> {
        lock(&self.shared.sessions).get(&peer).and_then(Session::identity)
    }

    /// Sessions held now (handshakes included).
    pub fn sessions(&self) -> usize {
        lock(&self.shared.sessions).len()
    }

    /// Sessions whose handshake is done.
    pub fn open_sessions(&self) -> usize {
        lock(&self.shared.sessions)
            .values()
            .filter(|s| s.identity().is_some())
            .count()
    }
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    match mutex.lock() {
        Ok(guard) => guard,
        Err(poisoned) => poisoned.into_inner(),
    }
}

async fn send_all(udp: &UdpSocket, peer: SocketAddr, datagrams: Vec<Vec<u8>>) {
    for datagram in datagrams {
        if let Err(e) = udp.send_to(&datagram, peer).await {
            tracing::debug!(%peer, error = %e, "DTLS send failed");
        }
    }
}

/// Whether `bytes` is a ClientHello record of epoch 0: a peer starting a session afresh.
fn is_client_hello(bytes: &[u8]) -> bool {
    // Record: type 22 (handshake), version, epoch 0 (bytes 3..5), sequence, length; then the
    // handshake message's type 1 (ClientHello) at byte 13.
    bytes.len() > 13 && bytes[0] == 22 && bytes[3] == 0 && bytes[4] == 0 && bytes[13] == 1
}

async fn pump(shared: std::sync::Weak<Shared>) {
    let udp = match shared.upgrade() {
        Some(s) => s.udp.clone(),
        None => return,
    };
    let mut buffer = vec![0u8; 65_536];
    loop {
        let (len, peer) = match udp.recv_from(&mut buffer).await {
            Ok(received) => received,
            Err(e) => {
                tracing::debug!(error = %e, "DTLS receive failed");
                continue;
            }
        };
        let Some(shared) = shared.upgrade() else { return };
        on_datagram(&shared, peer, &buffer[..len]).await;
    }
}

async fn on_datagram(shared: &Shared, peer: SocketAddr, bytes: &[u8]) {
    let (out, plain, opened) = {
        let mut sessions = lock(&shared.sessions);
        let fresh_hello = is_client_hello(bytes);
        if let Some(limits) = shared.limits {
            // A client that restarted begins again with a ClientHello: its old session is gone.
            let restart = fresh_hello && sessions.get(&peer).is_some_and(|s| s.identity().is_some());
            if restart {
                sessions.remove(&peer);
            }
            if !sessions.contains_key(&peer) {
                if !fresh_hello {
                    return; // Not a session of ours, and not the start of one.
                }
                if sessions.len() >= limits.max_sessions && !evict_one(&mut sessions) {
                    tracing::warn!(%peer, "DTLS session limit reached; handshake ignored");
                    return;
                }
                match new_server_session(shared, peer) {
                    Ok(session) => {
                        sessions.insert(peer, session);
                    }
                    Err(e) => {
                        tracing::warn!(%peer, error = %e, "DTLS session could not be made");
                        return;
                    }
                }
            }
        }
        let Some(session) = sessions.get_mut(&peer) else { return };
        let was_open = session.identity().is_some();
        session.feed(bytes);
        let (out, step) = session.drive();
        let mut plain = Vec::new();
        let mut opened = None;
        match step {
            Step::Open(received) => {
                if let Some(identity) = session.identity() {
                    plain.extend(received.into_iter().map(|b| (b, peer, identity.clone())));
                }
                if !was_open {
                    opened = Some(Ok(()));
                }
            }
            Step::Handshaking => {}
            Step::Closed(reason) => {
                tracing::debug!(%peer, reason = %reason, "DTLS session ended");
                sessions.remove(&peer);
                if !was_open {
                    opened = Some(Err(reason));
                }
            }
        }
        (out, plain, opened)
    };
    send_all(&shared.udp, peer, out).await;
    if let Some(outcome) = opened {
        if shared.limits.is_none() {
            shared.opened.send_replace(Some(outcome));
        }
    }
    for datagram in plain {
        if shared.plain.try_send(datagram).is_err() {
            tracing::debug!(%peer, "DTLS plaintext queue full; datagram dropped");
        }
    }
}

fn new_server_session(shared: &Shared, peer: SocketAddr) -> Result<Session, openssl::error::ErrorStack> {
    let mut ssl = Ssl::new(&shared.ctx)?;
    ssl.set_mtu(MTU)?;
    ssl.set_ex_data(shared.peer_index, peer);
    ssl.set_accept_state();
    Session::new(ssl, peer)
}

/// Drops the handshake that started longest ago, to make room; a server full of open sessions
/// makes none.
fn evict_one(sessions: &mut HashMap<SocketAddr, Session>) -> bool {
    let oldest = sessions
        .iter()
        .filter(|(_, s)| s.identity().is_none())
        .min_by_key(|(_, s)| s.started())
        .map(|(peer, _)| *peer);
    oldest.is_some_and(|peer| sessions.remove(&peer).is_some())
}

async fn tick(shared: std::sync::Weak<Shared>) {
    let mut every = tokio::time::interval(Duration::from_millis(250));
    loop {
        every.tick().await;
        let Some(shared) = shared.upgrade() else { return };
        let now = Instant::now();
        let mut resend = Vec::new();
        let mut failed = None;
        {
            let mut sessions = lock(&shared.sessions);
            let limits = shared.limits;
            sessions.retain(|peer, session| {
                let open = session.identity().is_some();
                if let Some(limits) = limits {
                    let expired = if open {
                        now.duration_since(session.last_seen()) > limits.idle_timeout
                    } else {
                        now.duration_since(session.started()) > limits.handshake_timeout
                    };
                    if expired {
                        return false;
                    }
                }
                if !open {
                    // OpenSSL resends its last flight when a read finds the timer expired.
                    let (out, step) = session.drive();
                    if !out.is_empty() {
                        resend.push((*peer, out));
                    }
                    if let Step::Closed(reason) = step {
                        failed = Some(reason);
                        return false;
                    }
                }
                true
            });
        }
        for (peer, out) in resend {
            send_all(&shared.udp, peer, out).await;
        }
        if let (Some(reason), None) = (failed, shared.limits) {
            shared.opened.send_replace(Some(Err(reason)));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Keys;

    impl PskStore for Keys {
        fn key(&self, identity: &[u8]) -> Option<Vec<u8>> {
            (identity == b"dev-1").then(|| b"sixteen byte key".to_vec())
        }
    }

    fn loopback() -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], 0))
    }

    #[tokio::test]
    async fn a_client_with_the_key_talks_and_one_without_never_opens() {
        let server = DtlsSocket::bind_server(loopback(), Arc::new(Keys), DtlsLimits::default())
            .await
            .unwrap();
        let addr = server.local_addr().unwrap();
        let psk = Psk {
            identity: "dev-1".into(),
            key: b"sixteen byte key".to_vec(),
        };
        let client = DtlsSocket::connect(loopback(), addr, psk, Duration::from_secs(5))
            .await
            .unwrap();
        client.send_to(b"hello", addr).await.unwrap();
        let mut buffer = [0u8; 64];
        let (n, peer, identity) = server.recv_from(&mut buffer).await.unwrap();
        assert_eq!(&buffer[..n], b"hello");
        assert_eq!(&*identity, "dev-1");
        server.send_to(b"back", peer).await.unwrap();
        let (n, _, _) = client.recv_from(&mut buffer).await.unwrap();
        assert_eq!(&buffer[..n], b"back");

        // An unknown identity is refused with an alert; a wrong key fails the Finished check,
        // whose record DTLS drops without an answer, so the client gives up on its own.
        let psk = Psk {
            identity: "dev-2".into(),
            key: b"sixteen byte key".to_vec(),
        };
        let err = DtlsSocket::connect(loopback(), addr, psk, Duration::from_secs(5))
            .await
            .unwrap_err();
        assert!(matches!(err, DtlsError::Handshake { .. }), "{err}");
        let psk = Psk {
            identity: "dev-1".into(),
            key: b"wrong key, wrong".to_vec(),
        };
        let err = DtlsSocket::connect(loopback(), addr, psk, Duration::from_secs(2))
            .await
            .unwrap_err();
        assert!(
            matches!(err, DtlsError::Handshake { .. } | DtlsError::Timeout(_)),
            "{err}"
        );
        // Only the good client's session is open.
        assert_eq!(server.open_sessions(), 1);
    }
}
