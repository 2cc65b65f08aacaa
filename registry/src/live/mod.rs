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
use seam_lwm2m::content::ResourcePath;
use seam_lwm2m::server::{Delivery, DeliveryMethod, DeliveryOutcome, Departure, Lwm2mServer, ServerEvent};
use tokio::sync::{mpsc, Semaphore};

pub use facts::DeviceReport;

use crate::error::StoreError;
use crate::store::Registry;
use crate::vocab::CATALOG;

/// Object 3 resources SEAM records: manufacturer, model number, serial number, firmware
/// version, memory free, memory total.
const OBJECT3_RESOURCES: [u16; 6] = [0, 1, 2, 3, 10, 21];

/// Largest number of server events applied in one transaction.
const BATCH: usize = 1024;
/// Device reads in flight at once: enough to keep up with a registration storm without
/// flooding the devices' links.
const DESCRIBE_CONCURRENCY: usize = 256;

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
    deployments: Mutex<HashMap<(String, String), NamedNode>>,
    describe: Semaphore,
    packages_dir: Option<PathBuf>,
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
                describe: Semaphore::new(DESCRIBE_CONCURRENCY),
                packages_dir,
            }),
        };
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
                let partial = dir.join(format!(".{sha}.partial"));
                std::fs::write(&partial, &bytes)?;
                std::fs::rename(&partial, &path)?;
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
            let server = self.inner.server.clone();
            let delivery = Delivery {
                endpoint: device.clone(),
                sha256: request.sha256.clone(),
                method: request.method,
            };
            tasks.push(tokio::spawn(async move { server.deliver(&delivery).await }));
        }
        let mut results = Vec::with_capacity(tasks.len());
        for (device, task) in request.devices.iter().zip(tasks) {
            let result = match task.await {
                Ok(Ok(DeliveryOutcome {
                    installed,
                    object,
                    result,
                    detail,
                })) => DeployResult {
                    device: device.clone(),
                    installed,
                    object: Some(object),
                    result,
                    detail,
                },
                Ok(Err(e)) => DeployResult {
                    device: device.clone(),
                    installed: false,
                    object: None,
                    result: None,
                    detail: e.to_string(),
                },
                Err(e) => DeployResult {
                    device: device.clone(),
                    installed: false,
                    object: None,
                    result: None,
                    detail: format!("delivery task failed: {e}"),
                },
            };
            results.push(result);
        }
        results
    }

    async fn run(self, mut events: mpsc::UnboundedReceiver<ServerEvent>) {
        let mut batch = Vec::with_capacity(BATCH);
        while events.recv_many(&mut batch, BATCH).await > 0 {
            let work = std::mem::take(&mut batch);
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
                tokio::spawn(self.clone().describe(endpoint));
            }
        }
    }

    /// Applies a batch of server events in one transaction.
    fn apply(&self, events: &[ServerEvent]) -> Result<(), StoreError> {
        let inner = &self.inner;
        inner.registry.transact(|t| {
            for event in events {
                match event {
                    ServerEvent::Registered(r) | ServerEvent::Updated(r) => {
                        let device = self.device(t, &r.endpoint);
                        let sensors: Vec<(u16, u16)> = r
                            .object_paths()
                            .filter_map(|p| p.instance.map(|i| (p.object, i)))
                            .collect();
                        facts::online(t, &device, &r.endpoint, &r.version, &sensors);
                    }
                    ServerEvent::Departed { registration, why } => {
                        if *why != Departure::Replaced {
                            let device = self.device(t, &registration.endpoint);
                            facts::offline(t, &device);
                        }
                    }
                    ServerEvent::Delivery(progress) => {
                        let device = self.device(t, &progress.endpoint);
                        let key = (progress.endpoint.clone(), progress.sha256.clone());
                        if progress.step == "started" {
                            let deployment = NamedNode::new_unchecked(format!(
                                "https://w3id.org/seam/deployment/{}",
                                deployment_id(&progress.endpoint, &progress.sha256)
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
                            lock(&inner.deployments).insert(key.clone(), deployment);
                        }
                        let deployment = lock(&inner.deployments).get(&key).cloned();
                        if let Some(deployment) = deployment {
                            facts::deployment_step(t, &deployment, &progress.step, progress.result, &progress.detail);
                            if progress.step == "installed" || progress.step == "failed" {
                                facts::deployment_ended(
                                    t,
                                    &deployment,
                                    &device,
                                    &progress.sha256,
                                    progress.step == "installed",
                                );
                                lock(&inner.deployments).remove(&key);
                            }
                        }
                    }
                }
            }
        })
    }

    fn device(&self, t: &oxigraph::store::Transaction<'_>, endpoint: &str) -> NamedNode {
        if let Some(device) = lock(&self.inner.devices).get(endpoint) {
            return device.clone();
        }
        let device = facts::resolve_device(t, endpoint);
        lock(&self.inner.devices).insert(endpoint.to_owned(), device.clone());
        device
    }

    /// Reads a device's Object 3 and records what it says.
    async fn describe(self, endpoint: String) {
        let Ok(_permit) = self.inner.describe.acquire().await else {
            return;
        };
        let instance = ResourcePath::instance(3, 0);
        let values = match self
            .inner
            .server
            .read_instance(&endpoint, instance, &OBJECT3_RESOURCES)
            .await
        {
            Ok(values) if !values.is_empty() => values,
            outcome => {
                let why = outcome
                    .err()
                    .map(|e| e.to_string())
                    .unwrap_or_else(|| "an empty answer".into());
                tracing::info!(%endpoint, error = %why, "device did not describe itself; flagged as not described");
                return;
            }
        };
        let text = |id: u16| {
            values
                .iter()
                .find(|(p, _)| p.resource == Some(id) && p.resource_instance.is_none())
                .and_then(|(_, v)| v.as_text())
        };
        let kib = |id: u16| {
            values
                .iter()
                .find(|(p, _)| p.resource == Some(id))
                .and_then(|(_, v)| v.as_i64())
                .map(|k| k.saturating_mul(1024))
        };
        let report = DeviceReport {
            manufacturer: text(0),
            model_number: text(1),
            serial_number: text(2),
            firmware_version: text(3),
            memory_free_bytes: kib(10),
            memory_total_bytes: kib(21),
        };
        let bridge = self.clone();
        let written = tokio::task::spawn_blocking(move || {
            let board = bridge.board_for(&report)?;
            bridge.inner.registry.transact(|t| {
                let device = bridge.device(t, &endpoint);
                facts::described(t, &device, &report, board.as_ref());
            })
        })
        .await;
        if let Ok(Err(e)) = written {
            tracing::error!(error = %e, "device description could not be written");
        }
    }

    /// The catalog board whose model number, label or name matches what the device reported.
    fn board_for(&self, report: &DeviceReport) -> Result<Option<NamedNode>, StoreError> {
        let Some(model) = report.model_number.as_deref().map(normalise) else {
            return Ok(None);
        };
        let generation = self.inner.registry.generation();
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
        self.inner.registry.read(|store| {
            let mut index = HashMap::new();
            for quad in store.quads_for_pattern(None, Some(rdf::TYPE), Some(board_class.as_ref().into()), None) {
                let NamedOrBlankNode::NamedNode(board) = quad?.subject else {
                    continue;
                };
                let mut names = vec![board.as_str().trim_start_matches(CATALOG).to_owned()];
                for predicate in [model_number.as_ref(), rdfs::LABEL] {
                    for q in store.quads_for_pattern(Some(board.as_ref().into()), Some(predicate), None, None) {
                        if let Term::Literal(l) = q?.object {
                            names.push(l.value().to_owned());
                        }
                    }
                }
                for name in names {
                    index.insert(normalise(&name), board.clone());
                }
            }
            Ok(index)
        })
    }
}

/// Model numbers compare without case or punctuation: `B-L475E-IOT01A` = `b_l475e_iot01a`.
fn normalise(name: &str) -> String {
    name.chars()
        .filter(char::is_ascii_alphanumeric)
        .map(|c| c.to_ascii_lowercase())
        .collect()
}

fn deployment_id(endpoint: &str, sha256: &str) -> String {
    let millis = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis())
        .unwrap_or(0);
    let device = facts::device_iri(endpoint);
    let short = device.as_str().trim_start_matches(crate::vocab::DEVICE);
    format!("{short}-{}-{millis}", &sha256[..sha256.len().min(12)])
}
