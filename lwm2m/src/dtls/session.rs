//! One DTLS session: an OpenSSL stream over an in-memory wire.

use std::collections::VecDeque;
use std::io::{Read, Write};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use openssl::ssl::{ErrorCode, Ssl, SslStream};

/// The in-memory side OpenSSL reads records from and writes records to. One `write` is one
/// datagram (OpenSSL writes a whole record, or a flight's records, per call, and asks for no
/// more than the MTU it was given); one `read` hands over one datagram.
#[derive(Default)]
pub(super) struct Wire {
    incoming: VecDeque<Vec<u8>>,
    outgoing: Vec<Vec<u8>>,
}

impl Read for Wire {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let Some(datagram) = self.incoming.pop_front() else {
            return Err(std::io::ErrorKind::WouldBlock.into());
        };
        // A datagram larger than OpenSSL's buffer is cut, and the record it held fails its
        // check and is discarded, as a datagram of garbage is.
        let n = datagram.len().min(buf.len());
        buf[..n].copy_from_slice(&datagram[..n]);
        Ok(n)
    }
}

impl Write for Wire {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.outgoing.push(buf.to_vec());
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Where a session stands after it was driven.
pub(super) enum Step {
    /// Still handshaking.
    Handshaking,
    /// Open; the plaintext datagrams that arrived.
    Open(Vec<Vec<u8>>),
    /// Failed or closed; why.
    Closed(String),
}

/// Largest plaintext in one record (DTLS 1.2: 2^14).
const MAX_PLAINTEXT: usize = 16_384;

pub(super) struct Session {
    stream: SslStream<Wire>,
    peer: SocketAddr,
    /// The PSK identity, once the handshake is done.
    identity: Option<Arc<str>>,
    started: Instant,
    last_seen: Instant,
}

impl Session {
    pub(super) fn new(ssl: Ssl, peer: SocketAddr) -> Result<Self, openssl::error::ErrorStack> {
        let now = Instant::now();
        Ok(Self {
            stream: SslStream::new(ssl, Wire::default())?,
            peer,
            identity: None,
            started: now,
            last_seen: now,
        })
    }

    pub(super) fn identity(&self) -> Option<Arc<str>> {
        self.identity.clone()
    }

    pub(super) fn started(&self) -> Instant {
        self.started
    }

    pub(super) fn last_seen(&self) -> Instant {
        self.last_seen
    }

    /// A datagram from the peer.
    pub(super) fn feed(&mut self, datagram: &[u8]) {
        self.stream.get_mut().incoming.push_back(datagram.to_vec());
        self.last_seen = Instant::now();
    }

    /// Moves the handshake on, or reads what arrived; returns the datagrams to send.
    pub(super) fn drive(&mut self) -> (Vec<Vec<u8>>, Step) {
        if self.identity.is_none() {
            match self.stream.do_handshake() {
                Ok(()) => {
                    let identity = self
                        .stream
                        .ssl()
                        .psk_identity()
                        .map(|id| String::from_utf8_lossy(id).into_owned())
                        .unwrap_or_default();
                    tracing::debug!(peer = %self.peer, %identity, cipher = ?self.stream.ssl().current_cipher().map(|c| c.name()), "DTLS session open");
                    self.identity = Some(Arc::from(identity));
                }
                Err(e) if matches!(e.code(), ErrorCode::WANT_READ | ErrorCode::WANT_WRITE) => {
                    return (self.take_out(), Step::Handshaking)
                }
                Err(e) => return (self.take_out(), Step::Closed(describe(&e))),
            }
        }
        let mut received = Vec::new();
        loop {
            let mut buffer = vec![0u8; MAX_PLAINTEXT];
            match self.stream.ssl_read(&mut buffer) {
                Ok(n) => {
                    buffer.truncate(n);
                    received.push(buffer);
                }
                Err(e) if matches!(e.code(), ErrorCode::WANT_READ | ErrorCode::WANT_WRITE) => break,
                Err(e) if e.code() == ErrorCode::ZERO_RETURN => {
                    return (self.take_out(), Step::Closed("closed by the peer".into()))
                }
                Err(e) => return (self.take_out(), Step::Closed(describe(&e))),
            }
        }
        (self.take_out(), Step::Open(received))
    }

    /// Encrypts `plaintext` into the datagrams to send.
    pub(super) fn write(&mut self, plaintext: &[u8]) -> std::io::Result<Vec<Vec<u8>>> {
        self.stream
            .ssl_write(plaintext)
            .map_err(|e| std::io::Error::other(describe(&e)))?;
        Ok(self.take_out())
    }

    fn take_out(&mut self) -> Vec<Vec<u8>> {
        std::mem::take(&mut self.stream.get_mut().outgoing)
    }
}

fn describe(e: &openssl::ssl::Error) -> String {
    match e.ssl_error() {
        Some(stack) => stack
            .errors()
            .iter()
            .map(|err| err.reason().unwrap_or("unknown").to_owned())
            .collect::<Vec<_>>()
            .join("; "),
        None => e.to_string(),
    }
}
