//! What an exchange waits on: the events the receive loop routes to it, the channel they come
//! through, and tokens as map keys.

use coap_lite::Packet;
use tokio::sync::mpsc;

/// What the receive loop hands to a waiting exchange, with the message ID of the exchange it was
/// matched to (see [`Waiter`]).
pub(super) type Routed = (u16, Incoming);

/// What the receive loop hands to a waiting exchange.
pub(super) enum Incoming {
    /// An empty ACK: the peer has the message; a separate response may follow.
    Ack,
    /// The peer rejected the message.
    Reset,
    /// A response (piggybacked or separate).
    Response(Box<Packet>),
}

/// A CoAP token (0 to 8 bytes, RFC 7252 §5.3.1) as a map key, held inline: matching a response
/// to its exchange allocates nothing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(super) struct Token {
    len: u8,
    bytes: [u8; 8],
}

impl Token {
    /// `token` as a key; `None` when it is longer than CoAP allows (then nothing waits for it).
    pub(super) fn of(token: &[u8]) -> Option<Self> {
        let mut bytes = [0u8; 8];
        bytes.get_mut(..token.len())?.copy_from_slice(token);
        Some(Self {
            len: token.len() as u8,
            bytes,
        })
    }

    /// The token as coap-lite's packets take it.
    pub(super) fn to_vec(self) -> Vec<u8> {
        self.bytes[..usize::from(self.len)].to_vec()
    }
}

/// Where the receive loop delivers what comes back for a caller's exchanges, one after another:
/// one channel for every block of a request, not one per message. Each event carries the message
/// ID of the exchange it was matched to, so an event that was queued as its exchange ended (a
/// duplicate ACK) is recognised and dropped by the next exchange.
pub(super) struct Waiter {
    pub(super) tx: mpsc::UnboundedSender<Routed>,
    pub(super) rx: mpsc::UnboundedReceiver<Routed>,
}

impl Waiter {
    pub(super) fn new() -> Self {
        let (tx, rx) = mpsc::unbounded_channel();
        Self { tx, rx }
    }
}

pub(super) fn new_token() -> Token {
    Token {
        len: 8,
        bytes: fastrand::u64(..).to_be_bytes(),
    }
}
