//! The application: everything `seam serve` runs, wired in one place. The store (opened and
//! seeded), the fleet index, the LwM2M server and its bridge into the graph, the HTTP service,
//! and an orderly stop: [`Application::build`] binds every socket (port 0 in tests) and
//! returns; [`Application::run_until_stopped`] serves until told to stop. Its log lines carry
//! the target `seam`, as operators filter them (`SEAM_LOG=seam=info`).

use std::future::Future;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use actix_web::dev::{Server, ServerHandle};
use seam_lwm2m::server::{Lwm2mServer, ServerConfig};

use crate::data_dir::DataDir;
use crate::error::{IngestError, StoreError};
use crate::graph::Registry;
use crate::http::{self, ServiceConfig};
use crate::live::Lwm2mBridge;
use crate::matching::FleetIndex;

/// What the application is built from.
#[derive(Debug, Clone)]
pub struct Settings {
    /// The data folder (embedded store, key, caches); `None`: an in-memory store with a scratch
    /// folder (tests, demos).
    pub data: Option<PathBuf>,
    /// A SPARQL 1.1 store to keep the graph in instead of the data folder's embedded store
    /// (the data folder, or a scratch one, still keeps files).
    pub store: Option<crate::store::RemoteConfig>,
    /// HTTP listen address (`127.0.0.1:0` for an ephemeral port).
    pub http: String,
    /// LwM2M/CoAP listen address; `None`: no plain CoAP.
    pub coap: Option<SocketAddr>,
    /// LwM2M over DTLS (`coaps://`) listen address; `None`: no DTLS. Devices' keys come from
    /// the data folder's `credentials.json`.
    pub coaps: Option<SocketAddr>,
    /// The LwM2M server's behaviour.
    pub lwm2m: ServerConfig,
    /// The HTTP service's behaviour (its `lwm2m` and `data` are filled in by the build).
    pub service: ServiceConfig,
    /// SPARQL endpoints a query may call with `SERVICE` (IRI prefixes); empty: none.
    pub allowed_services: Vec<String>,
    /// The embedded store on RocksDB answers queries from a replica in memory while it holds
    /// at most this many quads (0: never; see `store::embedded`).
    pub replica_max_quads: usize,
}

impl Settings {
    /// An in-memory application on ephemeral loopback ports, with `token` for writes: what
    /// tests start.
    pub fn ephemeral(token: &str) -> Self {
        Self {
            data: None,
            store: None,
            http: "127.0.0.1:0".into(),
            coap: Some(SocketAddr::from(([127, 0, 0, 1], 0))),
            coaps: None,
            lwm2m: ServerConfig::default(),
            service: ServiceConfig {
                token: Some(token.to_owned()),
                ..ServiceConfig::default()
            },
            allowed_services: Vec::new(),
            replica_max_quads: DEFAULT_REPLICA_MAX_QUADS,
        }
    }
}

/// The largest store kept in a replica in memory by default: about 0.25 GB of memory at most
/// (measured at 249 bytes a quad on a 10,000-device registry, BENCHMARKS.md). Past it, queries
/// read RocksDB.
pub const DEFAULT_REPLICA_MAX_QUADS: usize = 1_000_000;

/// The application could not start.
#[derive(Debug, thiserror::Error)]
pub enum AppError {
    /// The store could not be opened (or is in use).
    #[error(transparent)]
    Store(#[from] StoreError),
    /// Seeding an empty store failed.
    #[error("seeding the empty store failed: {0}")]
    Seed(#[source] IngestError),
    /// A folder of the data folder could not be made.
    #[error("cannot prepare {}: {source}", path.display())]
    DataDir {
        /// The folder.
        path: PathBuf,
        /// What failed.
        #[source]
        source: std::io::Error,
    },
    /// A socket could not be bound.
    #[error("cannot listen on {addr}: {message}")]
    Bind {
        /// The address.
        addr: String,
        /// Why.
        message: String,
    },
    /// The rollouts the store holds could not be read back.
    #[error("the rollouts in the store could not be read: {0}")]
    Rollouts(#[source] crate::rollout::RolloutError),
    /// The token file cannot be read.
    #[error("{0}")]
    Tokens(String),
    /// The HTTP server failed while running.
    #[error("the HTTP server failed: {0}")]
    Serve(#[source] std::io::Error),
}

/// A running application.
pub struct Application {
    registry: Registry,
    fleet: FleetIndex,
    data: DataDir,
    bridge: Option<Lwm2mBridge>,
    http: Server,
    http_addr: SocketAddr,
    coap_addr: Option<SocketAddr>,
    coaps_addr: Option<SocketAddr>,
    rollouts: crate::rollout::Rollouts,
}

impl std::fmt::Debug for Application {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Application")
            .field("http", &self.http_addr)
            .field("coap", &self.coap_addr)
            .field("data", &self.data)
            .finish_non_exhaustive()
    }
}

impl Application {
    /// Opens the store (seeding it when empty), starts the LwM2M server and its bridge, and
    /// binds the HTTP service. Must run inside a Tokio runtime (the bridge is a task).
    pub async fn build(settings: Settings) -> Result<Self, AppError> {
        let data = match &settings.data {
            Some(root) => DataDir::at(root),
            None => DataDir::scratch().map_err(|source| AppError::DataDir {
                path: std::env::temp_dir(),
                source,
            })?,
        };
        let registry = match (&settings.store, &settings.data) {
            (Some(remote), _) => {
                // Connecting blocks (a probe request): off the async workers.
                let remote = remote.clone();
                let store = tokio::task::spawn_blocking(move || crate::store::RemoteStore::connect(remote))
                    .await
                    .map_err(|e| AppError::Store(StoreError::Storage(e.to_string().into())))??;
                Registry::new(std::sync::Arc::new(store))?
            }
            (None, Some(_)) => {
                let (path, bound) = (data.store().to_owned(), settings.replica_max_quads);
                // Copying the store into memory blocks: off the async workers.
                tokio::task::spawn_blocking(move || Registry::open_with_replica(&path, bound))
                    .await
                    .map_err(|e| AppError::Store(StoreError::Storage(e.to_string().into())))??
            }
            (None, None) => Registry::in_memory()?,
        }
        .with_allowed_services(settings.allowed_services.clone());
        // On a shared store, this service is one instance among several: its identity is kept
        // in its data folder, so that it is the same after a restart.
        let registry = match &settings.store {
            Some(_) => registry.with_instance(data.instance().map_err(|source| AppError::DataDir {
                path: data.root().to_owned(),
                source,
            })?),
            None => registry,
        };
        if let Some(report) = registry.seed_if_empty().map_err(AppError::Seed)? {
            tracing::info!(
                target: "seam",
                quads = report.store_size,
                "seeded an empty store with the ontology and the example catalog"
            );
        }
        let fleet = FleetIndex::new(registry.clone());
        let mut service = settings.service.clone();
        if service.token.as_deref().is_some_and(str::is_empty) {
            service.token = None;
        }
        let token_file = crate::access::TokenFile::at(service.tokens_file.clone().unwrap_or_else(|| data.tokens()));
        let file_tokens = if settings.data.is_some() || service.tokens_file.is_some() {
            token_file.read().map_err(|e| AppError::Tokens(e.to_string()))?.len()
        } else {
            0
        };
        if service.token.is_none() && file_tokens == 0 {
            tracing::warn!(target: "seam", "no tokens (--token, SEAM_TOKEN or `seam tokens create`): writes will be refused");
        }
        if service.reads == crate::access::Reads::Closed {
            tracing::info!(target: "seam", "reads are closed: every read needs a token");
        }
        service.data = Some(data.clone());
        let mut bridge = None;
        // One set of metrics for the HTTP service and the LwM2M bridge.
        let metrics = service.metrics.clone().unwrap_or_default();
        service.metrics = Some(metrics.clone());
        let mut coap_addr = None;
        let mut coaps_addr = None;
        if settings.coap.is_some() || settings.coaps.is_some() {
            let named = |scheme: &str, addr: Option<SocketAddr>| addr.map(|a| format!("{scheme}://{a}"));
            let bind_error = |e: &dyn std::fmt::Display| AppError::Bind {
                addr: [named("coap", settings.coap), named("coaps", settings.coaps)]
                    .into_iter()
                    .flatten()
                    .collect::<Vec<_>>()
                    .join(" and "),
                message: e.to_string(),
            };
            let keys: Option<std::sync::Arc<dyn seam_lwm2m::server::Credentials>> = settings.coaps.map(|_| {
                let keys: std::sync::Arc<dyn seam_lwm2m::server::Credentials> =
                    crate::access::DeviceKeys::new(crate::access::CredentialFile::at(data.credentials()));
                keys
            });
            let listen = seam_lwm2m::server::Listen {
                plain: settings.coap,
                secure: settings.coaps.zip(keys),
            };
            let (server, events) = Lwm2mServer::listen(listen, settings.lwm2m.clone())
                .await
                .map_err(|e| bind_error(&e))?;
            if settings.coap.is_some() {
                let local = server.local_addr().map_err(|e| bind_error(&e))?;
                tracing::info!(target: "seam", "SEAM LwM2M server on coap://{local} (registration at /rd, packages at /pkg)");
                coap_addr = Some(local);
            }
            if let Some(secure) = server.secure_addr() {
                tracing::info!(target: "seam", "SEAM LwM2M server on coaps://{secure} (DTLS 1.2, pre-shared keys from {})", data.credentials().display());
                coaps_addr = Some(secure);
            }
            let packages = data.packages();
            let started = Lwm2mBridge::start_with_metrics(
                registry.clone(),
                server,
                events,
                Some(packages.clone()),
                metrics.clone(),
            )
            .map_err(|source| AppError::DataDir { path: packages, source })?;
            service.lwm2m = Some(started.clone());
            bridge = Some(started);
        }
        let rollouts = crate::rollout::Rollouts::start(registry.clone(), fleet.clone(), bridge.clone(), data.clone())
            .map_err(AppError::Rollouts)?;
        service.rollouts = Some(rollouts.clone());
        // Expired registrations go even when nobody reads the directory (a SPARQL search must
        // not find them): a sweep every half minute, telling the same event stream.
        let directory_events = std::sync::Arc::new(crate::directory::Events::default());
        service.directory_events = Some(directory_events.clone());
        let directory = crate::directory::Directory::new(registry.clone(), directory_events);
        tokio::spawn(async move {
            let mut every = tokio::time::interval(DIRECTORY_SWEEP);
            every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                every.tick().await;
                let sweep = directory.clone();
                match tokio::task::spawn_blocking(move || sweep.purge_expired()).await {
                    Ok(Ok(0)) => {}
                    Ok(Ok(n)) => tracing::info!(target: "seam", purged = n, "expired Thing Descriptions purged"),
                    Ok(Err(e)) => {
                        tracing::warn!(target: "seam", error = %e, "the purge of expired Thing Descriptions failed")
                    }
                    Err(_) => return,
                }
            }
        });
        spawn_flush_when_quiet(registry.clone());
        let (http, http_addr) = http::bind(fleet.clone(), service, &settings.http).map_err(|e| AppError::Bind {
            addr: settings.http.clone(),
            message: e.to_string(),
        })?;
        tracing::info!(target: "seam", "SEAM listening on http://{http_addr} (SPARQL at http://{http_addr}/sparql)");
        Ok(Self {
            registry,
            fleet,
            data,
            bridge,
            http,
            http_addr,
            coap_addr,
            coaps_addr,
            rollouts,
        })
    }

    /// The rollouts.
    pub fn rollouts(&self) -> &crate::rollout::Rollouts {
        &self.rollouts
    }

    /// Where HTTP is served.
    pub fn http_addr(&self) -> SocketAddr {
        self.http_addr
    }

    /// Where LwM2M is served, when it is.
    pub fn coap_addr(&self) -> Option<SocketAddr> {
        self.coap_addr
    }

    /// Where LwM2M over DTLS is served, when it is.
    pub fn coaps_addr(&self) -> Option<SocketAddr> {
        self.coaps_addr
    }

    /// The registry.
    pub fn registry(&self) -> &Registry {
        &self.registry
    }

    /// The fleet index the service matches with.
    pub fn fleet(&self) -> &FleetIndex {
        &self.fleet
    }

    /// The data folder.
    pub fn data(&self) -> &DataDir {
        &self.data
    }

    /// The LwM2M bridge, when LwM2M runs.
    pub fn bridge(&self) -> Option<&Lwm2mBridge> {
        self.bridge.as_ref()
    }

    /// A handle that stops the HTTP service (gracefully: requests in flight finish).
    pub fn http_handle(&self) -> ServerHandle {
        self.http.handle()
    }

    /// Serves until `shutdown` completes, then stops in order: evaluations running now are
    /// cancelled (a runaway query answers 503 instead of being waited for), HTTP requests in
    /// flight finish, the store is flushed.
    pub async fn run_until_stopped(self, shutdown: impl Future<Output = ()> + Send + 'static) -> Result<(), AppError> {
        let handle = self.http.handle();
        let stopping = self.registry.clone();
        tokio::spawn(async move {
            shutdown.await;
            tracing::info!(target: "seam", "shutting down");
            stopping.stop_evaluations();
            handle.stop(true).await;
        });
        self.http.await.map_err(AppError::Serve)?;
        self.registry.flush()?;
        Ok(())
    }
}

/// Ctrl-C, or SIGTERM (what service managers send). The handlers are installed when this is
/// called, not when the future is first polled: a signal sent the moment the service says it
/// is ready stops it cleanly instead of killing it.
pub fn shutdown_signal() -> std::io::Result<impl Future<Output = ()> + Send + 'static> {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        let mut term = signal(SignalKind::terminate())?;
        let mut interrupt = signal(SignalKind::interrupt())?;
        Ok(async move {
            tokio::select! {
                _ = interrupt.recv() => {}
                _ = term.recv() => {}
            }
        })
    }
    #[cfg(not(unix))]
    {
        Ok(async {
            let _ = tokio::signal::ctrl_c().await;
        })
    }
}

/// How often expired Thing Descriptions are purged.
pub const DIRECTORY_SWEEP: Duration = Duration::from_secs(30);

/// How long the store must go unwritten before what was written is flushed out of memory.
pub const FLUSH_WHEN_QUIET: Duration = Duration::from_secs(10);

/// The longest what was written stays only in memory while writes never stop for
/// [`FLUSH_WHEN_QUIET`] (a fleet checking in: 10,000 devices registered for 300 s send 33
/// Updates a second).
pub const FLUSH_WHILE_BUSY: Duration = Duration::from_secs(60);

/// Flushes the store once writes have stopped for [`FLUSH_WHEN_QUIET`], and every
/// [`FLUSH_WHILE_BUSY`] while they go on. RocksDB keeps what was written in memtables until they
/// fill, and Oxigraph sizes them for bulk loads (128 MiB each, two filled before one is written
/// out, in each of its column families): a fleet's worth of registrations stayed resident (8.8
/// KB per registered device, about 80 MiB at 10,000 devices) long after the writes ended, and a
/// fleet checking in grew the server by about 1 KB a check-in, without end in sight (120 MiB
/// after 120,000 check-ins). A flush writes the memtables out as tables and frees them; writes go
/// on meanwhile. The task ends with the runtime.
fn spawn_flush_when_quiet(registry: Registry) {
    tokio::spawn(async move {
        let mut every = tokio::time::interval(FLUSH_WHEN_QUIET);
        every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let (mut flushed, mut seen) = (registry.version(), registry.version());
        let mut flushed_at = tokio::time::Instant::now();
        loop {
            every.tick().await;
            let now = registry.version();
            if flush_due(now, flushed, seen, flushed_at.elapsed()) {
                let store = registry.clone();
                match tokio::task::spawn_blocking(move || store.flush()).await {
                    Ok(Ok(())) => (flushed, flushed_at) = (now, tokio::time::Instant::now()),
                    Ok(Err(e)) => tracing::warn!(target: "seam", error = %e, "flushing the store failed"),
                    Err(_) => return,
                }
            }
            seen = now;
        }
    });
}

/// Whether the store is to be flushed, at store version `now`: written since the flush at
/// version `flushed`, and either not since the last look (at version `seen`: quiet) or for
/// [`FLUSH_WHILE_BUSY`] since that flush.
fn flush_due(now: u64, flushed: u64, seen: u64, since_flush: Duration) -> bool {
    now != flushed && (now == seen || since_flush >= FLUSH_WHILE_BUSY)
}

/// How long the runtime waits, after the service stopped, for deliveries still waiting on
/// devices and the LwM2M sockets to end.
pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(5);

#[cfg(test)]
mod tests {
    use super::{flush_due, FLUSH_WHILE_BUSY};
    use std::time::Duration;

    #[test]
    fn the_store_is_flushed_when_quiet_and_now_and_then_while_busy() {
        let soon = Duration::from_secs(10);
        // Nothing written since the last flush: nothing to flush, however long ago.
        assert!(!flush_due(7, 7, 7, FLUSH_WHILE_BUSY * 10));
        // Written, then quiet since the last look.
        assert!(flush_due(9, 7, 9, soon));
        // Still being written: not yet...
        assert!(!flush_due(9, 7, 8, soon));
        assert!(!flush_due(9, 7, 8, FLUSH_WHILE_BUSY - Duration::from_millis(1)));
        // ...until the writes have gone on for FLUSH_WHILE_BUSY since the last flush.
        assert!(flush_due(9, 7, 8, FLUSH_WHILE_BUSY));
    }
}
