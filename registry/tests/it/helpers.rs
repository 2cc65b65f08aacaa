//! What the tests share: a seeded registry, and the whole application on ephemeral ports.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use seam_registry::app::{Application, Settings};
use seam_registry::http::ServiceConfig;
use seam_registry::matching::{self, Fleet};
use seam_registry::Registry;

/// An in-memory registry with the ontology and the example catalog.
pub fn seeded() -> Registry {
    let r = Registry::in_memory().unwrap();
    r.seed_if_empty().unwrap();
    r
}

/// The fleet index of `registry`, read now.
pub fn fleet(registry: &Registry) -> Arc<Fleet> {
    Arc::new(matching::load_fleet(registry).unwrap())
}

/// A running application, and a blocking HTTP client for it.
pub struct TestApp {
    /// Where HTTP is served.
    pub addr: SocketAddr,
    /// Where LwM2M is served, when it is.
    #[allow(dead_code)]
    pub coap: Option<SocketAddr>,
    /// A client with a generous timeout.
    pub client: reqwest::blocking::Client,
}

impl TestApp {
    /// The URL of `path` on the application.
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }
}

/// Starts the application with `settings` on a runtime of its own that lives as long as the
/// test process; returns where it serves HTTP and, when it runs one, LwM2M.
pub fn start_application(settings: Settings) -> (SocketAddr, Option<SocketAddr>) {
    // Every test that starts the application talks to it over HTTP, whichever tests ran before
    // it in the process (reqwest is built without a default TLS provider).
    seam_registry::remote::install_tls_provider();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async move {
            let app = Application::build(settings).await.unwrap();
            tx.send((app.http_addr(), app.coap_addr())).unwrap();
            app.run_until_stopped(std::future::pending()).await.unwrap();
        });
    });
    rx.recv_timeout(Duration::from_secs(30)).unwrap()
}

/// Starts the application (in-memory store, seeded; HTTP on port 0, one worker; no LwM2M) with
/// `service`'s settings, on a runtime of its own that lives as long as the test process.
pub fn spawn_app(service: ServiceConfig) -> TestApp {
    let (addr, coap) = start_application(Settings {
        coap: None,
        service: ServiceConfig { workers: 1, ..service },
        ..Settings::ephemeral("")
    });
    seam_registry::remote::install_tls_provider();
    TestApp {
        addr,
        coap,
        client: reqwest::blocking::Client::builder()
            .timeout(Duration::from_secs(60))
            .build()
            .unwrap(),
    }
}
