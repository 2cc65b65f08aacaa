//! The live fleet: what the LwM2M server hears, written into the graph as it happens.
//!
//! A registration makes (or wakes) a device: online, last seen, the sensors its IPSO objects
//! announce. The bridge then reads the device's Object 3 and maps the reported model number to
//! a catalog board; a device that cannot answer stays flagged `seam:NotDescribed`, one whose
//! model is not in the catalog gets `seam:UnknownBoard` with what it said. De-registration and
//! expiry mark it offline. Deliveries become `seam:Deployment` activities whose result follows
//! each step the device reports.
//!
//! Server events are applied in batches, one transaction per batch, so a burst of registrations
//! costs a few commits rather than one each.

mod facts;

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use oxigraph::model::vocab::{rdf, rdfs};
use oxigraph::model::{NamedNode, NamedOrBlankNode, Term};
use seam_lwm2m::server::{
    Delivery, DeliveryMethod, DeliveryOutcome, DeliveryStep, Departure, Lwm2mServer, ServerEvent,
};
use tokio::sync::mpsc;

pub use facts::Reconciled;
pub use seam_lwm2m::server::DeviceReport;

use crate::error::StoreError;
use crate::graph::Registry;
use crate::store::QuadPattern;
use crate::vocab::CATALOG;

/// Object 3 resources SEAM records: manufacturer, model number, serial number, firmware
/// version, memory free, memory total.
/// Largest number of server events applied in one transaction.
const BATCH: usize = 1024;
/// Device reads in flight at once, and readers alive: enough to keep up with a registration
/// storm without flooding the devices' links.
const DESCRIBE_CONCURRENCY: usize = 256;
/// How long attempts to read a device's Object 3 may take: the first is short (a device on a
/// working link answers within CoAP's first retransmissions), later ones double up to the last.
/// A silent device, or a flood of registrations that never answer, holds a reader this long,
/// not CoAP's whole exchange lifetime (247 s).
const DESCRIBE_ATTEMPT: (std::time::Duration, std::time::Duration) =
    (std::time::Duration::from_secs(5), std::time::Duration::from_secs(60));
/// Waits between attempts to describe a device that did not answer: doubling from the first to
/// the last, then the last again, for as long as the device stays registered.
const DESCRIBE_BACKOFF: (std::time::Duration, std::time::Duration) =
    (std::time::Duration::from_secs(5), std::time::Duration::from_secs(600));

/// Connects an LwM2M server to the registry. Cloning shares it.
#[derive(Clone)]
pub struct Lwm2mBridge {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for Lwm2mBridge {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Lwm2mBridge")
            .field("server", &self.inner.server)
            .finish()
    }
}

struct Inner {
    registry: Registry,
    server: Lwm2mServer,
    devices: Mutex<HashMap<String, NamedNode>>,
    /// Catalog boards by normalised model number, and the write generation they were read at.
    boards: Mutex<(Option<u64>, HashMap<String, NamedNode>)>,
    /// The `seam:Deployment` of each delivery in flight, by the server's delivery id.
    deployments: Mutex<HashMap<u64, NamedNode>>,
    /// The rollout a delivery about to start belongs to, by (endpoint, package).
    part_of: Mutex<HashMap<(String, String), NamedNode>>,
    /// Devices waiting to be described, and the readers that describe them.
    to_describe: Mutex<DescribeLine>,
    packages_dir: Option<PathBuf>,
    /// Registrations and deliveries counted for `GET /metrics`.
    metrics: Arc<crate::metrics::Metrics>,
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// One request to deploy a package to devices.
#[derive(Debug, Clone)]
pub struct DeployRequest {
    /// SHA-256 of a package the bridge holds.
    pub sha256: String,
    /// Device short names (LwM2M endpoint names).
    pub devices: Vec<String>,
    /// Pull (Package URI) or push (Package resource).
    pub method: DeliveryMethod,
}

/// How one device's delivery ended.
#[derive(Debug, Clone, serde::Serialize)]
pub struct DeployResult {
    /// The device.
    pub device: String,
    /// Whether the device reports the package installed.
    pub installed: bool,
    /// The LwM2M object used (9 or 5), when the delivery started.
    pub object: Option<u16>,
    /// The device's Update Result.
    pub result: Option<i64>,
    /// Why it failed, when it did.
    pub detail: String,
}

impl Lwm2mBridge {
    /// Starts applying `events` of `server` to `registry`. Packages are kept in `packages_dir`
    /// (content-addressed; the server reads them from there when first asked) when one is given.
    pub fn start(
        registry: Registry,
        server: Lwm2mServer,
        events: mpsc::UnboundedReceiver<ServerEvent>,
        packages_dir: Option<PathBuf>,
    ) -> std::io::Result<Self> {
        Self::start_with_metrics(registry, server, events, packages_dir, Arc::default())
    }

    /// [`Self::start`], counting registrations and the deliveries that end in `metrics`.
    pub fn start_with_metrics(
        registry: Registry,
        server: Lwm2mServer,
        events: mpsc::UnboundedReceiver<ServerEvent>,
        packages_dir: Option<PathBuf>,
        metrics: Arc<crate::metrics::Metrics>,
    ) -> std::io::Result<Self> {
        if let Some(dir) = &packages_dir {
            std::fs::create_dir_all(dir)?;
            server.shelf().set_directory(dir.clone());
        }
        let bridge = Self {
            inner: Arc::new(Inner {
                registry,
                server,
                devices: Mutex::new(HashMap::new()),
                boards: Mutex::new((None, HashMap::new())),
                deployments: Mutex::new(HashMap::new()),
                part_of: Mutex::new(HashMap::new()),
                to_describe: Mutex::new(DescribeLine::default()),
                packages_dir,
                metrics,
            }),
        };
        let instance = bridge.inner.registry.instance().cloned();
        let reconciled = bridge
            .inner
            .registry
            .change(|t| facts::reconcile_after_start(t, instance.as_ref()))
            .map_err(std::io::Error::other)?;
        if reconciled != facts::Reconciled::default() {
            tracing::info!(
                devices_offline = reconciled.devices_offline,
                deliveries_interrupted = reconciled.deliveries_interrupted,
                "after the restart: devices that were online wait to register again, unfinished deliveries are ended as interrupted"
            );
        }
        tokio::spawn(bridge.clone().run(events));
        Ok(bridge)
    }

    /// The LwM2M server.
    pub fn server(&self) -> &Lwm2mServer {
        &self.inner.server
    }

    /// Stores a package (content-addressed, on disk when the bridge has a directory) and puts it
    /// on the server's shelf; returns its SHA-256.
    pub fn add_package(&self, bytes: Vec<u8>) -> std::io::Result<String> {
        let sha = seam_lwm2m::server::sha256_hex(&bytes);
        if let Some(dir) = &self.inner.packages_dir {
            let path = dir.join(&sha);
            if !path.exists() {
                // Write then rename: a crash never leaves a truncated file under a digest name.
                // Each writer has its own temporary file: concurrent uploads of one package
                // must not write into each other's.
                let mut partial = tempfile::Builder::new().prefix(".partial-").tempfile_in(dir)?;
                std::io::Write::write_all(&mut partial, &bytes)?;
                partial.persist(&path).map_err(|e| e.error)?;
            }
        }
        self.inner.server.shelf().insert(sha.clone(), bytes);
        Ok(sha)
    }

    /// Whether the bridge holds package `sha256`.
    pub fn has_package(&self, sha256: &str) -> bool {
        self.inner.server.shelf().get(sha256).is_some()
    }

    /// Delivers a package to every device named, concurrently, and waits for every outcome.
    pub async fn deploy(&self, request: &DeployRequest) -> Vec<DeployResult> {
        let mut tasks = Vec::with_capacity(request.devices.len());
        for device in &request.devices {
            let bridge = self.clone();
            let (device, sha256, method) = (device.clone(), request.sha256.clone(), request.method);
            tasks.push(tokio::spawn(async move {
                bridge.deliver_one(&device, &sha256, method, None).await
            }));
        }
        let mut results = Vec::with_capacity(tasks.len());
        for (device, task) in request.devices.iter().zip(tasks) {
            results.push(task.await.unwrap_or_else(|e| DeployResult {
                device: device.clone(),
                installed: false,
                object: None,
                result: None,
                detail: format!("delivery task failed: {e}"),
            }));
        }
        results
    }

    /// Delivers a package to one device and waits for the outcome; the deployment the graph
    /// records is `seam:partOf` the rollout `part_of`, when one is given.
    pub async fn deliver_one(
        &self,
        device: &str,
        sha256: &str,
        method: DeliveryMethod,
        part_of: Option<NamedNode>,
    ) -> DeployResult {
        let key = (device.to_owned(), sha256.to_owned());
        if let Some(rollout) = part_of {
            lock(&self.inner.part_of).insert(key.clone(), rollout);
        }
        let delivery = Delivery {
            endpoint: device.to_owned(),
            sha256: sha256.to_owned(),
            method,
        };
        let outcome = self.inner.server.deliver(&delivery).await;
        if outcome.is_err() {
            // Refused before it started: no Started event will take the tag.
            lock(&self.inner.part_of).remove(&key);
        }
        match outcome {
            Ok(DeliveryOutcome {
                installed,
                object,
                result,
                detail,
            }) => DeployResult {
                device: device.to_owned(),
                installed,
                object: Some(object),
                result,
                detail,
            },
            Err(e) => DeployResult {
                device: device.to_owned(),
                installed: false,
                object: None,
                result: None,
                detail: e.to_string(),
            },
        }
    }

    async fn run(self, mut events: mpsc::UnboundedReceiver<ServerEvent>) {
        let mut batch = Vec::with_capacity(BATCH);
        while events.recv_many(&mut batch, BATCH).await > 0 {
            let work = std::mem::take(&mut batch);
            for event in &work {
                let metrics = &self.inner.metrics;
                match event {
                    ServerEvent::Registered(_) => metrics.lwm2m_event("registered"),
                    ServerEvent::Updated(_) => metrics.lwm2m_event("updated"),
                    ServerEvent::Departed { why, .. } => metrics.lwm2m_event(match why {
                        Departure::Deregistered => "deregistered",
                        Departure::Expired => "expired",
                        Departure::Replaced => "replaced",
                    }),
                    ServerEvent::Delivery(p) if p.step == DeliveryStep::Installed => {
                        metrics.delivery_ended("installed")
                    }
                    ServerEvent::Delivery(p) if p.step == DeliveryStep::Failed => metrics.delivery_ended("failed"),
                    ServerEvent::Delivery(_) => {}
                }
            }
            let to_describe: Vec<String> = work
                .iter()
                .filter_map(|e| match e {
                    ServerEvent::Registered(r) => Some(r.endpoint.clone()),
                    _ => None,
                })
                .collect();
            let bridge = self.clone();
            let applied = tokio::task::spawn_blocking(move || bridge.apply(&work)).await;
            match applied {
                Ok(Ok(())) => {}
                Ok(Err(e)) => tracing::error!(error = %e, "device facts could not be written"),
                Err(e) => tracing::error!(error = %e, "device facts writer failed"),
            }
            for endpoint in to_describe {
                self.queue_describe(Pending { endpoint, attempt: 0 });
            }
        }
    }

    /// Applies a batch of server events in one transaction.
    fn apply(&self, events: &[ServerEvent]) -> Result<(), StoreError> {
        let inner = &self.inner;
        inner.registry.change(|t| {
            for event in events {
                match event {
                    ServerEvent::Registered(r) | ServerEvent::Updated(r) => {
                        let Some(device) = self.device(t, &r.endpoint) else {
                            continue;
                        };
                        facts::online(t, &device, &r.endpoint, &r.version, &r.sensors());
                        if let Some(me) = inner.registry.instance() {
                            t.set(&device, &facts::seam("servedBy"), me.clone());
                        }
                    }
                    ServerEvent::Departed { registration, why } => {
                        if *why != Departure::Replaced {
                            if let Some(device) = self.device(t, &registration.endpoint) {
                                facts::offline(t, &device);
                            }
                        }
                    }
                    ServerEvent::Delivery(progress) => {
                        let Some(device) = self.device(t, &progress.endpoint) else {
                            continue;
                        };
                        let key = progress.id;
                        if progress.step == DeliveryStep::Started {
                            let deployment = crate::iri::deployment(&deployment_id(
                                &progress.endpoint,
                                &progress.sha256,
                                progress.id,
                            ));
                            let method = match progress.method {
                                DeliveryMethod::Pull => "pull",
                                DeliveryMethod::Push => "push",
                            };
                            facts::deployment_started(
                                t,
                                &deployment,
                                &device,
                                &progress.sha256,
                                method,
                                progress.object,
                            );
                            if let Some(me) = inner.registry.instance() {
                                t.add(&deployment, &facts::seam("servedBy"), me.clone());
                            }
                            let rollout =
                                lock(&inner.part_of).remove(&(progress.endpoint.clone(), progress.sha256.clone()));
                            if let Some(rollout) = rollout {
                                t.add(&deployment, &facts::seam("partOf"), rollout);
                            }
                            lock(&inner.deployments).insert(key, deployment);
                        }
                        let deployment = lock(&inner.deployments).get(&key).cloned();
                        if let Some(deployment) = deployment {
                            facts::deployment_step(t, &deployment, progress.step, progress.result, &progress.detail);
                            if progress.step.is_final() {
                                facts::deployment_ended(
                                    t,
                                    &deployment,
                                    &device,
                                    &progress.sha256,
                                    progress.step == DeliveryStep::Installed,
                                );
                                lock(&inner.deployments).remove(&key);
                            }
                        }
                    }
                }
            }
        })
    }

    /// The device an endpoint may write to, or `None` (logged) when the name belongs to a device
    /// that no registration created and that is not bound to this endpoint.
    fn device(&self, t: &crate::store::Draft<'_>, endpoint: &str) -> Option<NamedNode> {
        if let Some(device) = lock(&self.inner.devices).get(endpoint) {
            return Some(device.clone());
        }
        match facts::resolve_device(t, endpoint) {
            facts::Resolved::Device(device) => {
                lock(&self.inner.devices).insert(endpoint.to_owned(), device.clone());
                Some(device)
            }
            facts::Resolved::NotBound(existing) => {
                tracing::warn!(
                    %endpoint, device = %existing,
                    "an LwM2M client registered with the name of a device that is not bound to LwM2M; \
                     the device is left unchanged (bind it with seam:lwm2mEndpoint to accept it)"
                );
                None
            }
        }
    }

    /// Puts a device in line to be described, and starts a reader when fewer than
    /// [`DESCRIBE_CONCURRENCY`] are at work. A device in line costs its name: a storm of ten
    /// thousand registrations once parked a reader task (3.4 KB) for each device, tens of MB
    /// freed a minute later in pages that long-lived entries, made at the same time, kept half
    /// used.
    fn queue_describe(&self, pending: Pending) {
        lock(&self.inner.to_describe).waiting.push(pending);
        self.start_reader();
    }

    /// Starts a reader when a device waits and fewer than [`DESCRIBE_CONCURRENCY`] are at work.
    /// Outside a runtime (the service shutting down) nothing is described any more.
    fn start_reader(&self) {
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            return;
        };
        let start = {
            let mut line = lock(&self.inner.to_describe);
            let start = !line.waiting.is_empty() && line.readers < DESCRIBE_CONCURRENCY;
            line.readers += usize::from(start);
            start
        };
        if start {
            drop(runtime.spawn(self.clone().read_in_turn()));
        }
    }

    /// One reader: describes the newest device in line, then the next, until none is left.
    async fn read_in_turn(self) {
        let reader = Reader(self);
        while let Some(pending) = reader.0.next_in_line() {
            reader.0.describe_pending(pending).await;
        }
    }

    fn next_in_line(&self) -> Option<Pending> {
        lock(&self.inner.to_describe).waiting.pop()
    }

    async fn describe_pending(&self, pending: Pending) {
        // A device that left (or was replaced by a newer registration of the same name, which
        // is in line itself) needs no reading.
        if self.inner.server.registration(&pending.endpoint).is_none() {
            return;
        }
        if let Err(why) = self
            .describe(&pending.endpoint, doubling(DESCRIBE_ATTEMPT, pending.attempt))
            .await
        {
            let wait = doubling(DESCRIBE_BACKOFF, pending.attempt);
            tracing::warn!(
                endpoint = %pending.endpoint, attempt = pending.attempt + 1, error = %why,
                retry_in_s = wait.as_secs(),
                "device did not describe itself; it stays flagged as not described and is read again later"
            );
            let bridge = self.clone();
            tokio::spawn(async move {
                tokio::time::sleep(wait).await;
                if bridge.inner.server.registration(&pending.endpoint).is_some() {
                    bridge.queue_describe(Pending {
                        endpoint: pending.endpoint,
                        attempt: pending.attempt.saturating_add(1),
                    });
                }
            });
        }
    }

    /// Reads a device's Object 3 and records what it says; an error says why it could not.
    async fn describe(&self, endpoint: &str, within: std::time::Duration) -> Result<(), String> {
        let report = match tokio::time::timeout(within, self.inner.server.read_device(endpoint)).await {
            Ok(Ok(report)) => report,
            Ok(Err(e)) => return Err(e.to_string()),
            Err(_) => return Err(format!("no answer within {} s", within.as_secs())),
        };
        let bridge = self.clone();
        let endpoint = endpoint.to_owned();
        let written = tokio::task::spawn_blocking(move || {
            let board = bridge.board_for(&report)?;
            bridge.inner.registry.change(|t| {
                if let Some(device) = bridge.device(t, &endpoint) {
                    facts::described(t, &device, &report, board.as_ref());
                }
            })
        })
        .await;
        match written {
            Ok(Err(e)) => tracing::error!(error = %e, "device description could not be written"),
            Err(e) => tracing::error!(error = %e, "device description writer failed"),
            Ok(Ok(())) => {}
        }
        Ok(())
    }

    /// The catalog board whose model number, label or name matches what the device reported.
    fn board_for(&self, report: &DeviceReport) -> Result<Option<NamedNode>, StoreError> {
        let Some(model) = report.model_number.as_deref().map(normalise) else {
            return Ok(None);
        };
        // Boards are descriptions: devices checking in leave the index current.
        let generation = self.inner.registry.facts_version();
        {
            let boards = lock(&self.inner.boards);
            if let Some(board) = boards.1.get(&model) {
                return Ok(Some(board.clone()));
            }
            if boards.0 == Some(generation) {
                return Ok(None); // The index is current: the board is not in the catalog.
            }
        }
        // Not in the index, which predates the last write: the catalog may have grown.
        let index = self.board_index()?;
        let found = index.get(&model).cloned();
        *lock(&self.inner.boards) = (Some(generation), index);
        Ok(found)
    }

    fn board_index(&self) -> Result<HashMap<String, NamedNode>, StoreError> {
        let board_class = facts::seam("Board");
        let model_number = facts::seam("modelNumber");
        let registry = &self.inner.registry;
        let board_type = Term::from(board_class);
        let rdf_type = rdf::TYPE.into_owned();
        let boards = registry.quads_for_pattern(QuadPattern {
            predicate: Some(&rdf_type),
            object: Some(&board_type),
            ..QuadPattern::default()
        })?;
        let mut index = HashMap::new();
        for quad in boards {
            let NamedOrBlankNode::NamedNode(board) = quad.subject else {
                continue;
            };
            let mut names = vec![board.as_str().trim_start_matches(CATALOG).to_owned()];
            let subject = NamedOrBlankNode::from(board.clone());
            for predicate in [model_number.clone(), rdfs::LABEL.into_owned()] {
                for q in registry.quads_for_pattern(QuadPattern {
                    subject: Some(&subject),
                    predicate: Some(&predicate),
                    ..QuadPattern::default()
                })? {
                    if let Term::Literal(l) = q.object {
                        names.push(l.value().to_owned());
                    }
                }
            }
            for name in names {
                index.insert(normalise(&name), board.clone());
            }
        }
        Ok(index)
    }
}

/// Model numbers compare without case or punctuation: `B-L475E-IOT01A` = `b_l475e_iot01a`.
fn normalise(name: &str) -> String {
    name.chars()
        .filter(char::is_ascii_alphanumeric)
        .map(|c| c.to_ascii_lowercase())
        .collect()
}

/// The devices waiting to be described and the readers at work on them.
#[derive(Default)]
struct DescribeLine {
    /// Newest registration last: readers take the newest first, so that a burst of
    /// registrations that never answer cannot keep a real device waiting behind it.
    waiting: Vec<Pending>,
    /// Readers alive, at most [`DESCRIBE_CONCURRENCY`].
    readers: usize,
}

/// A reader's place in the count, given up when the reader ends however it ends. A device put
/// in line after the reader found the line empty, while the count still held it, would wait
/// for the next registration: the last reader out starts another for it.
struct Reader(Lwm2mBridge);

impl Drop for Reader {
    fn drop(&mut self) {
        {
            let mut line = lock(&self.0.inner.to_describe);
            line.readers = line.readers.saturating_sub(1);
        }
        self.0.start_reader();
    }
}

/// A device waiting to be described.
struct Pending {
    endpoint: String,
    /// Attempts that already failed.
    attempt: u32,
}

/// `first` doubled `n` times, at most `last`.
fn doubling((first, last): (std::time::Duration, std::time::Duration), n: u32) -> std::time::Duration {
    first
        .saturating_mul(1u32.checked_shl(n.min(16)).unwrap_or(u32::MAX))
        .min(last)
}

fn deployment_id(endpoint: &str, sha256: &str, delivery: u64) -> String {
    let millis = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis())
        .unwrap_or(0);
    let device = facts::device_iri(endpoint);
    let short = device.as_str().trim_start_matches(crate::vocab::DEVICE);
    format!("{short}-{}-{millis}-{delivery}", &sha256[..sha256.len().min(12)])
}
