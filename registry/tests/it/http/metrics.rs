//! `GET /metrics`: OpenMetrics text with every request counted by its route pattern, never by the
//! path a client sent.

use reqwest::StatusCode;
use seam_registry::http::ServiceConfig;

use crate::helpers::spawn_app;

/// The value of the sample line that starts with `prefix` (labels included).
fn sample(text: &str, prefix: &str) -> Option<f64> {
    text.lines()
        .find(|l| l.starts_with(prefix))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
}

#[test]
fn requests_are_counted_by_route_pattern_with_bounded_labels() {
    let app = spawn_app(ServiceConfig::default());
    for _ in 0..3 {
        assert_eq!(
            app.client.get(app.url("/health")).send().unwrap().status(),
            StatusCode::OK
        );
    }
    // A thousand distinct paths: one route, one series.
    for n in 0..1000 {
        let r = app
            .client
            .get(app.url(&format!("/things/urn:example:missing-{n}")))
            .send()
            .unwrap();
        assert_eq!(r.status(), StatusCode::NOT_FOUND);
        let r = app.client.get(app.url(&format!("/no/such/path/{n}"))).send().unwrap();
        assert_eq!(r.status(), StatusCode::NOT_FOUND);
    }
    let asked = app
        .client
        .get(app.url("/sparql"))
        .query(&[("query", "ASK { ?s ?p ?o }")])
        .send()
        .unwrap();
    assert_eq!(asked.status(), StatusCode::OK);
    let scrape = app.client.get(app.url("/metrics")).send().unwrap();
    assert_eq!(scrape.status(), StatusCode::OK);
    assert!(scrape.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("application/openmetrics-text"));
    let text = scrape.text().unwrap();
    assert!(text.trim_end().ends_with("# EOF"), "{text}");
    assert_eq!(
        sample(
            &text,
            "seam_http_requests_total{method=\"GET\",route=\"/health\",status=\"200\"}"
        ),
        Some(3.0),
        "{text}"
    );
    assert_eq!(
        sample(
            &text,
            "seam_http_requests_total{method=\"GET\",route=\"/things/{id:.*}\",status=\"404\"}"
        ),
        Some(1000.0),
        "{text}"
    );
    assert_eq!(
        sample(
            &text,
            "seam_http_requests_total{method=\"GET\",route=\"unmatched\",status=\"404\"}"
        ),
        Some(1000.0),
        "{text}"
    );
    assert!(!text.contains("missing-"), "paths must not become labels");
    assert_eq!(
        sample(
            &text,
            "seam_http_request_duration_seconds_count{method=\"GET\",route=\"/health\"}"
        ),
        Some(3.0),
        "{text}"
    );
    let quads = sample(&text, "seam_store_quads").unwrap();
    assert!(quads > 1000.0, "the seeded store: {quads}");
    assert_eq!(sample(&text, "seam_directory_event_streams"), Some(0.0));
    // Kept only by the embedded store on RocksDB, which this one is not.
    assert_eq!(sample(&text, "seam_store_memory_bytes"), Some(0.0), "{text}");
    assert_eq!(
        sample(&text, "seam_sparql_duration_seconds_count{kind=\"query\"}"),
        Some(1.0),
        "{text}"
    );
    let series = text
        .lines()
        .filter(|l| l.starts_with("seam_http_requests_total"))
        .count();
    assert!(series < 10, "{series} series: {text}");
}

/// LwM2M registrations and de-registrations are counted where the HTTP requests are: the
/// application shares one set of metrics between its LwM2M bridge and its HTTP service.
#[test]
fn lwm2m_registrations_are_counted() {
    use seam_lwm2m::client::{ClientConfig, DeviceProfile, Lwm2mClient};

    let (http, coap) = crate::helpers::start_application(seam_registry::app::Settings::ephemeral(""));
    let coap = coap.unwrap();
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async {
        let mut config = ClientConfig::new("metrics-1", coap, DeviceProfile::new("Arduino", "nano33ble", "N-1"));
        config.params = seam_lwm2m::coap::TransmissionParams::fast(std::time::Duration::from_millis(100));
        let client = Lwm2mClient::start(config).await.unwrap();
        client.register().await.unwrap();
        client.deregister().await.unwrap();
    });
    let client = reqwest::blocking::Client::new();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let text = client
            .get(format!("http://{http}/metrics"))
            .send()
            .unwrap()
            .text()
            .unwrap();
        let registered = sample(&text, "seam_lwm2m_events_total{event=\"registered\"}");
        let deregistered = sample(&text, "seam_lwm2m_events_total{event=\"deregistered\"}");
        let received = sample(&text, "seam_coap_datagrams_received_total{transport=\"coap\"}");
        let sent = sample(&text, "seam_coap_datagrams_sent_total{transport=\"coap\"}");
        let datagrams = received.is_some_and(|n| n >= 2.0) && sent.is_some_and(|n| n >= 2.0);
        if registered == Some(1.0) && deregistered == Some(1.0) && datagrams {
            assert!(
                text.contains("seam_coap_retransmissions_total{transport=\"coap\"}"),
                "{text}"
            );
            break;
        }
        assert!(std::time::Instant::now() < deadline, "{text}");
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
}

/// What the heap probe the binary installs reports; fixed here, so the scrape can be checked.
fn fixed_heap() -> Option<seam_registry::metrics::HeapReading> {
    Some(seam_registry::metrics::HeapReading {
        in_use_bytes: 123_456_789,
        kept_free_bytes: 4_096,
    })
}

#[test]
fn the_scrape_reports_resident_memory_and_what_the_allocator_holds() {
    let app = spawn_app(ServiceConfig {
        heap: Some(fixed_heap),
        ..ServiceConfig::default()
    });
    let text = app.client.get(app.url("/metrics")).send().unwrap().text().unwrap();
    assert_eq!(sample(&text, "seam_heap_in_use_bytes "), Some(123_456_789.0), "{text}");
    assert_eq!(sample(&text, "seam_heap_kept_free_bytes "), Some(4_096.0), "{text}");
    // The test process's own resident memory: tens of megabytes, read from /proc.
    let resident = sample(&text, "seam_resident_memory_bytes ").unwrap_or(0.0);
    if cfg!(target_os = "linux") {
        assert!(resident > 1_000_000.0, "{text}");
    }

    // Without a probe (another allocator, another platform) the heap is reported as 0, never a
    // stale or made-up figure.
    let plain = spawn_app(ServiceConfig::default());
    let text = plain.client.get(plain.url("/metrics")).send().unwrap().text().unwrap();
    assert_eq!(sample(&text, "seam_heap_in_use_bytes "), Some(0.0), "{text}");
}
