//! Transmission parameters (RFC 7252 §4.8) and SEAM's own bounds on exchanges.

use std::time::Duration;

/// How an endpoint retransmits, how long it remembers, and what it accepts.
///
/// The defaults are RFC 7252's (ACK_TIMEOUT 2 s, ACK_RANDOM_FACTOR 1.5, MAX_RETRANSMIT 4,
/// EXCHANGE_LIFETIME 247 s). Tests and simulators on loopback shorten the timeouts: the
/// protocol is the same, the waiting is not.
#[derive(Debug, Clone)]
pub struct TransmissionParams {
    /// Initial retransmission timeout of a confirmable message.
    pub ack_timeout: Duration,
    /// The initial timeout is drawn from `[ack_timeout, ack_timeout × factor]`.
    pub ack_random_factor: f64,
    /// Retransmissions before giving up.
    pub max_retransmit: u32,
    /// How long a received message ID is remembered to answer duplicates.
    pub exchange_lifetime: Duration,
    /// How long to wait for a separate response after an empty ACK, or for a NON response.
    pub response_timeout: Duration,
    /// How long a Block1 transfer may sit idle before its partial body is dropped.
    pub block1_timeout: Duration,
    /// How long a handler may take before a confirmable request is acknowledged with an empty
    /// ACK and answered with a separate response (RFC 7252 §5.2.2).
    pub separate_after: Duration,
    /// Preferred block size for bodies this endpoint sends (16..=1024).
    pub block_size: usize,
    /// Largest body accepted in one transfer, either direction.
    pub max_body: usize,
    /// Largest number of Block1 transfers in progress at once (all peers).
    pub max_block1_transfers: usize,
    /// Largest number of message IDs remembered for de-duplication.
    pub max_dedup_entries: usize,
    /// UDP receive buffer to ask the kernel for, in bytes (0: the system default).
    pub recv_buffer: usize,
    /// How many times a GET whose retransmissions all went unanswered is started again
    /// (a new exchange). GET is safe and idempotent, so a block-wise download resumes at the
    /// block that was lost instead of failing the whole transfer, as a real device's does.
    pub get_retries: u32,
    /// Fault injection: probability in `[0, 1)` that a datagram is dropped, on send and on receive.
    /// Only the device simulator and tests set it.
    pub loss: f64,
}

impl Default for TransmissionParams {
    fn default() -> Self {
        Self {
            ack_timeout: Duration::from_secs(2),
            ack_random_factor: 1.5,
            max_retransmit: 4,
            exchange_lifetime: Duration::from_secs(247),
            response_timeout: Duration::from_secs(60),
            block1_timeout: Duration::from_secs(60),
            separate_after: Duration::from_secs(1),
            block_size: 1024,
            max_body: 16 * 1024 * 1024,
            max_block1_transfers: 4096,
            max_dedup_entries: 200_000,
            get_retries: 3,
            recv_buffer: 4 * 1024 * 1024,
            loss: 0.0,
        }
    }
}

impl TransmissionParams {
    /// Timeouts scaled for loopback tests and simulators: `ack_timeout` as given, the waits
    /// for answers proportionally short. EXCHANGE_LIFETIME stays RFC 7252's: it must outlast
    /// the *peer's* retransmissions, and a peer on standard timing retransmits for up to 45 s
    /// (a duplicate Execute arriving after its message ID was forgotten would run twice).
    pub fn fast(ack_timeout: Duration) -> Self {
        Self {
            ack_timeout,
            response_timeout: ack_timeout * 20,
            // Longer than MAX_TRANSMIT_WAIT (ack_timeout × 31 × 1.5 with 4 retransmissions): a
            // block still being retransmitted must find its upload in place.
            block1_timeout: ack_timeout * 60,
            separate_after: ack_timeout / 2,
            ..Self::default()
        }
    }

    /// The first timeout of a confirmable message, randomised as RFC 7252 §4.2 asks.
    pub(crate) fn initial_timeout(&self) -> Duration {
        let factor = 1.0 + fastrand::f64() * (self.ack_random_factor - 1.0).max(0.0);
        self.ack_timeout.mul_f64(factor)
    }
}
