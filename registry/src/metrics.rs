//! The service's metrics, served at `GET /metrics` in the OpenMetrics text format (what
//! Prometheus scrapes): HTTP requests and their latency by route, SPARQL evaluation time, LwM2M
//! registration events and the deliveries that ended, CoAP datagrams and retransmissions per
//! transport, DTLS sessions, the store's size and the directory's open event streams.
//!
//! Routes are labelled by their pattern (`/things/{id:.*}`), never by the path a client sent:
//! a flood of distinct paths cannot grow the number of series.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};

/// A request's method, route pattern and status.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct Request {
    method: String,
    route: String,
    status: u16,
}

/// A route's method and pattern.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct Route {
    method: String,
    route: String,
}

/// An LwM2M registration event.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct Lwm2mEvent {
    event: String,
}

/// How a delivery ended.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct DeliveryEnd {
    result: String,
}

/// What kind of SPARQL ran.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct QueryKind {
    kind: String,
}

/// A CoAP transport and what its counter counts.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct Datagrams {
    transport: String,
}

type Latencies = Family<Route, Histogram, fn() -> Histogram>;
type QueryTimes = Family<QueryKind, Histogram, fn() -> Histogram>;

/// What the scrape reads from the rest of the service.
#[derive(Debug, Default, Clone)]
pub struct Snapshot {
    /// Quads in the store.
    pub store_quads: usize,
    /// Directory event streams open.
    pub event_streams: usize,
    /// Each LwM2M transport (`coap`, `coaps`) and its endpoint's counters.
    pub coap: Vec<(&'static str, seam_lwm2m::coap::EndpointStats)>,
    /// DTLS sessions held, when the server speaks DTLS.
    pub dtls_sessions: Option<usize>,
    /// The process's resident memory, where the platform says ([`resident_bytes`]).
    pub resident_bytes: Option<u64>,
    /// What the store keeps in memory by its own count (the embedded store's replica), where it
    /// keeps anything.
    pub store_memory_bytes: Option<usize>,
    /// What the allocator holds, where the binary can read it ([`HeapReading`]).
    pub heap: Option<HeapReading>,
}

/// What the memory allocator holds: live allocations (SEAM's, RocksDB's memtables and block
/// cache, the replica) and the free memory it keeps for reuse. Resident memory that rises while
/// `in_use_bytes` holds still is the allocator's fragmentation, not growth.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct HeapReading {
    /// Bytes allocated and not freed.
    pub in_use_bytes: u64,
    /// Resident bytes the allocator holds beyond `in_use_bytes`: freed pages it has not
    /// returned to the system yet, pages only partly used, its own bookkeeping.
    pub kept_free_bytes: u64,
}

/// This process's resident set size, from `/proc/self/status` (`VmRSS`); `None` elsewhere or
/// when it cannot be read.
pub fn resident_bytes() -> Option<u64> {
    status_kib("/proc/self/status", "VmRSS:")
}

/// Another process's resident set size, from `/proc/PID/status`; `None` as above.
pub fn resident_bytes_of(pid: u32) -> Option<u64> {
    status_kib(&format!("/proc/{pid}/status"), "VmRSS:")
}

/// The part of another process's resident set that is its own anonymous memory (`RssAnon`):
/// what it allocated, without the pages of its program and libraries mapped from files, which
/// the system shares and can drop and read again, and which vary with the code a run happened
/// to use. `None` as above.
pub fn anonymous_resident_bytes_of(pid: u32) -> Option<u64> {
    status_kib(&format!("/proc/{pid}/status"), "RssAnon:")
}

/// A `/proc/…/status` field given in kB, in bytes.
fn status_kib(status: &str, field: &str) -> Option<u64> {
    let status = std::fs::read_to_string(status).ok()?;
    let kib: u64 = status
        .lines()
        .find_map(|l| l.strip_prefix(field))?
        .trim()
        .strip_suffix("kB")?
        .trim()
        .parse()
        .ok()?;
    kib.checked_mul(1024)
}

fn latency_histogram() -> Histogram {
    // 0.25 ms to about 8 s, doubling.
    Histogram::new(exponential_buckets(0.000_25, 2.0, 16))
}

/// The metrics of one service.
pub struct Metrics {
    registry: prometheus_client::registry::Registry,
    requests: Family<Request, Counter>,
    latency: Latencies,
    store_quads: Gauge,
    event_streams: Gauge,
    lwm2m_events: Family<Lwm2mEvent, Counter>,
    deliveries: Family<DeliveryEnd, Counter>,
    queries: QueryTimes,
    coap_sent: Family<Datagrams, Counter>,
    coap_received: Family<Datagrams, Counter>,
    coap_retransmitted: Family<Datagrams, Counter>,
    coap_duplicates: Family<Datagrams, Counter>,
    coap_malformed: Family<Datagrams, Counter>,
    dtls_sessions: Gauge,
    resident_bytes: Gauge,
    heap_in_use_bytes: Gauge,
    heap_kept_free_bytes: Gauge,
    store_memory_bytes: Gauge,
    /// The endpoints' totals at the last scrape: counters move by the difference.
    coap_seen: std::sync::Mutex<std::collections::HashMap<&'static str, seam_lwm2m::coap::EndpointStats>>,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Metrics").finish_non_exhaustive()
    }
}

impl Default for Metrics {
    fn default() -> Self {
        let mut registry = prometheus_client::registry::Registry::with_prefix("seam");
        let requests = Family::<Request, Counter>::default();
        let latency: Latencies = Family::new_with_constructor(latency_histogram);
        let store_quads = Gauge::default();
        let event_streams = Gauge::default();
        registry.register(
            "http_requests",
            "HTTP requests answered, by method, route and status",
            requests.clone(),
        );
        registry.register(
            "http_request_duration_seconds",
            "Time to answer an HTTP request (to its response head), by method and route",
            latency.clone(),
        );
        registry.register(
            "store_quads",
            "Quads in the store, read at the scrape",
            store_quads.clone(),
        );
        registry.register(
            "directory_event_streams",
            "Thing Description Directory event streams open",
            event_streams.clone(),
        );
        let lwm2m_events = Family::<Lwm2mEvent, Counter>::default();
        let deliveries = Family::<DeliveryEnd, Counter>::default();
        registry.register(
            "lwm2m_events",
            "LwM2M registration events: registered, updated, deregistered, expired, replaced",
            lwm2m_events.clone(),
        );
        registry.register(
            "deliveries",
            "Package deliveries over LwM2M that ended, by result (installed, failed)",
            deliveries.clone(),
        );
        let queries: QueryTimes = Family::new_with_constructor(latency_histogram);
        registry.register(
            "sparql_duration_seconds",
            "Time to evaluate SPARQL asked over HTTP, by kind (query, named, update)",
            queries.clone(),
        );
        let coap = |registry: &mut prometheus_client::registry::Registry, name: &str, help: &str| {
            let family = Family::<Datagrams, Counter>::default();
            registry.register(name, help, family.clone());
            family
        };
        let coap_sent = coap(
            &mut registry,
            "coap_datagrams_sent",
            "CoAP datagrams sent, retransmissions included, by transport",
        );
        let coap_received = coap(
            &mut registry,
            "coap_datagrams_received",
            "CoAP datagrams received, by transport",
        );
        let coap_retransmitted = coap(
            &mut registry,
            "coap_retransmissions",
            "Confirmable CoAP messages sent again for want of an acknowledgement, by transport",
        );
        let coap_duplicates = coap(
            &mut registry,
            "coap_duplicates",
            "Duplicate CoAP requests answered from the exchange cache, by transport",
        );
        let coap_malformed = coap(
            &mut registry,
            "coap_malformed",
            "CoAP datagrams that did not parse, by transport",
        );
        let dtls_sessions = Gauge::default();
        registry.register(
            "dtls_sessions",
            "DTLS sessions held by the LwM2M server (handshakes included)",
            dtls_sessions.clone(),
        );
        let mut gauge = |name: &str, help: &str| {
            let gauge = Gauge::default();
            registry.register(name, help, gauge.clone());
            gauge
        };
        let resident_bytes = gauge(
            "resident_memory_bytes",
            "Resident memory of the process, read at the scrape (0 where the platform does not say)",
        );
        let heap_in_use_bytes = gauge(
            "heap_in_use_bytes",
            "Bytes the memory allocator has handed out and not had back: SEAM's, RocksDB's memtables and block cache, the replica (0 where not known)",
        );
        let heap_kept_free_bytes = gauge(
            "heap_kept_free_bytes",
            "Resident bytes the memory allocator holds beyond what it has handed out: freed pages not yet returned to the system, partly used pages, its own bookkeeping (0 where not known)",
        );
        let store_memory_bytes = gauge(
            "store_memory_bytes",
            "What the store keeps in memory by its own count: the replica of the embedded store (0 where it keeps none)",
        );
        Self {
            registry,
            requests,
            latency,
            store_quads,
            event_streams,
            lwm2m_events,
            deliveries,
            queries,
            coap_sent,
            coap_received,
            coap_retransmitted,
            coap_duplicates,
            coap_malformed,
            dtls_sessions,
            resident_bytes,
            heap_in_use_bytes,
            heap_kept_free_bytes,
            store_memory_bytes,
            coap_seen: std::sync::Mutex::default(),
        }
    }
}

impl Metrics {
    /// Counts a request to `route` (its pattern; `None`: it matched no route) answered with
    /// `status` after `seconds`.
    pub fn observe(&self, method: &str, route: Option<&str>, status: u16, seconds: f64) {
        let route = route.unwrap_or("unmatched").to_owned();
        self.requests
            .get_or_create(&Request {
                method: method.to_owned(),
                route: route.clone(),
                status,
            })
            .inc();
        self.latency
            .get_or_create(&Route {
                method: method.to_owned(),
                route,
            })
            .observe(seconds);
    }

    /// Counts an LwM2M registration event (`registered`, `updated`, `deregistered`, `expired`,
    /// `replaced`).
    pub fn lwm2m_event(&self, event: &str) {
        self.lwm2m_events
            .get_or_create(&Lwm2mEvent {
                event: event.to_owned(),
            })
            .inc();
    }

    /// Counts a delivery that ended with `result` (`installed` or `failed`).
    pub fn delivery_ended(&self, result: &str) {
        self.deliveries
            .get_or_create(&DeliveryEnd {
                result: result.to_owned(),
            })
            .inc();
    }

    /// Counts `seconds` of SPARQL evaluation of `kind` (`query`, `named`, `update`).
    pub fn query_observed(&self, kind: &str, seconds: f64) {
        self.queries
            .get_or_create(&QueryKind { kind: kind.to_owned() })
            .observe(seconds);
    }

    /// The metrics as OpenMetrics text, with the gauges and the endpoints' counters read now.
    pub fn render(&self, now: &Snapshot) -> Result<String, std::fmt::Error> {
        self.store_quads.set(i64::try_from(now.store_quads).unwrap_or(i64::MAX));
        self.event_streams
            .set(i64::try_from(now.event_streams).unwrap_or(i64::MAX));
        self.dtls_sessions
            .set(now.dtls_sessions.map_or(0, |n| i64::try_from(n).unwrap_or(i64::MAX)));
        let bytes = |n: u64| i64::try_from(n).unwrap_or(i64::MAX);
        self.resident_bytes.set(now.resident_bytes.map_or(0, bytes));
        let heap = now.heap.unwrap_or_default();
        self.heap_in_use_bytes.set(bytes(heap.in_use_bytes));
        self.heap_kept_free_bytes.set(bytes(heap.kept_free_bytes));
        self.store_memory_bytes.set(
            now.store_memory_bytes
                .map_or(0, |n| i64::try_from(n).unwrap_or(i64::MAX)),
        );
        {
            let mut seen = match self.coap_seen.lock() {
                Ok(seen) => seen,
                Err(poisoned) => poisoned.into_inner(),
            };
            for (transport, stats) in &now.coap {
                let before = seen.get(transport).copied().unwrap_or_default();
                let label = Datagrams {
                    transport: (*transport).to_owned(),
                };
                let moved = |family: &Family<Datagrams, Counter>, now: u64, then: u64| {
                    family.get_or_create(&label).inc_by(now.saturating_sub(then));
                };
                moved(&self.coap_sent, stats.sent, before.sent);
                moved(&self.coap_received, stats.received, before.received);
                moved(&self.coap_retransmitted, stats.retransmitted, before.retransmitted);
                moved(&self.coap_duplicates, stats.duplicates, before.duplicates);
                moved(&self.coap_malformed, stats.malformed, before.malformed);
                seen.insert(transport, *stats);
            }
        }
        let mut text = String::new();
        prometheus_client::encoding::text::encode(&mut text, &self.registry)?;
        Ok(text)
    }
}

#[cfg(all(test, target_os = "linux"))]
mod tests {
    use super::*;

    #[test]
    fn the_anonymous_part_of_the_resident_set_is_read_and_within_it() {
        let pid = std::process::id();
        let anonymous = anonymous_resident_bytes_of(pid).unwrap_or(0);
        let resident = resident_bytes_of(pid).unwrap_or(0);
        assert!(anonymous > 0, "no RssAnon read for this process");
        // Read one after the other: the process may grow by a few pages between them.
        assert!(
            anonymous <= resident + (1 << 20),
            "{anonymous} anonymous of {resident} resident"
        );
        assert_eq!(anonymous_resident_bytes_of(u32::MAX), None, "no such process");
    }
}
