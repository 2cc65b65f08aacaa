//! The service's metrics, served at `GET /metrics` in the OpenMetrics text format (what
//! Prometheus scrapes): HTTP requests and their latency by route, LwM2M registration events and
//! the deliveries that ended, the store's size and the directory's open event streams.
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

type Latencies = Family<Route, Histogram, fn() -> Histogram>;

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
        Self {
            registry,
            requests,
            latency,
            store_quads,
            event_streams,
            lwm2m_events,
            deliveries,
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

    /// The metrics as OpenMetrics text, with the gauges read now.
    pub fn render(&self, store_quads: usize, event_streams: usize) -> Result<String, std::fmt::Error> {
        self.store_quads.set(i64::try_from(store_quads).unwrap_or(i64::MAX));
        self.event_streams.set(i64::try_from(event_streams).unwrap_or(i64::MAX));
        let mut text = String::new();
        prometheus_client::encoding::text::encode(&mut text, &self.registry)?;
        Ok(text)
    }
}
