//! The LwM2M server: registration interface at `/rd`, packages at `/pkg/<sha256>`, and device
//! management (Read, Write, Execute, Discover, Observe) of registered clients.
//!
//! The server reports what happens as [`ServerEvent`]s on a channel; the registry turns them
//! into graph facts. Registrations are answered at once from memory, so a burst of devices
//! never waits on storage.

mod delivery;
mod device;
mod interface;
pub(crate) mod registration;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant, SystemTime};

use tokio::sync::mpsc;

pub use delivery::{Delivery, DeliveryMethod, DeliveryOutcome, DeliveryProgress, DeliveryStep, PackageSlot};
pub use device::{AnnouncedSensor, DeviceReport, SensorKind};
pub use interface::Credentials;
use interface::{CredentialKeys, ServerHandler};
pub use registration::{
    Departure, Registration, MAX_ENDPOINTS_PER_PEER, MAX_ENDPOINT_NAME, MAX_OBJECT_LINKS, SUPPORTED_VERSIONS,
};

use crate::coap::{content_format as cf, Endpoint, Method, Reply, Request, TransmissionParams};
use crate::content::{self, Link, ResourcePath, Value};
use crate::Lwm2mError;
use registration::RegistrationTable;

/// Where the server listens.
#[derive(Clone)]
pub struct Listen {
    /// `coap://` (UDP), if any.
    pub plain: Option<SocketAddr>,
    /// `coaps://` (DTLS 1.2, PSK), if any, with the credentials it accepts.
    pub secure: Option<(SocketAddr, Arc<dyn Credentials>)>,
}

impl std::fmt::Debug for Listen {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Listen")
            .field("plain", &self.plain)
            .field("secure", &self.secure.as_ref().map(|(addr, _)| addr))
            .finish()
    }
}

/// What the server tells its owner.
#[derive(Debug, Clone)]
pub enum ServerEvent {
    /// A client registered (or registered again).
    Registered(Registration),
    /// A client sent an Update.
    Updated(Registration),
    /// A registration ended.
    Departed {
        /// The registration as it was.
        registration: Registration,
        /// Why it ended.
        why: Departure,
    },
    /// A model delivery moved on.
    Delivery(DeliveryProgress),
}

/// Server settings.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// CoAP transmission parameters.
    pub params: TransmissionParams,
    /// Lifetime of a registration that does not name one (LwM2M default: 86400 s).
    pub default_lifetime: u32,
    /// How often expired registrations are looked for.
    pub expiry_check: Duration,
    /// The `coap://host:port` clients reach this server at, for Package URIs; by default the
    /// bound address.
    pub public_base: Option<String>,
    /// How long a delivery may take from start to installed.
    pub delivery_timeout: Duration,
    /// How long a delivery waits for a notification of the update state before it reads the
    /// state itself (clients that observe badly, or notifications lost for good).
    pub state_poll: Duration,
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            params: TransmissionParams::default(),
            default_lifetime: 86_400,
            expiry_check: Duration::from_secs(1),
            public_base: None,
            delivery_timeout: Duration::from_secs(600),
            state_poll: Duration::from_secs(5),
        }
    }
}

/// Packages the server can serve at `/pkg/<sha256>`, content-addressed.
#[derive(Default)]
pub struct PackageShelf {
    packages: RwLock<HashMap<String, Arc<[u8]>>>,
    /// Where packages are kept as `<sha256>` files, read when first asked for (so start-up
    /// reads none of them).
    directory: RwLock<Option<std::path::PathBuf>>,
}

impl PackageShelf {
    /// Puts `bytes` on the shelf and returns their SHA-256 (lowercase hex).
    pub fn put(&self, bytes: Vec<u8>) -> String {
        let sha = sha256_hex(&bytes);
        self.insert(sha.clone(), bytes);
        sha
    }

    /// Puts `bytes` on the shelf under `sha256`, which the caller has already computed.
    pub fn insert(&self, sha256: String, bytes: Vec<u8>) {
        if let Ok(mut packages) = self.packages.write() {
            packages.insert(sha256, Arc::from(bytes));
        }
    }

    /// The package with digest `sha256`.
    pub fn get(&self, sha256: &str) -> Option<Arc<[u8]>> {
        if let Some(bytes) = self.packages.read().ok()?.get(sha256) {
            return Some(bytes.clone());
        }
        // A digest names the file; anything else never reaches the file system.
        if sha256.len() != 64 || !sha256.bytes().all(|b| b.is_ascii_hexdigit()) {
            return None;
        }
        let path = self.directory.read().ok()?.as_ref()?.join(sha256);
        let bytes = std::fs::read(path).ok()?;
        // The file must still be what its name says.
        if sha256_hex(&bytes) != sha256 {
            return None;
        }
        let bytes: Arc<[u8]> = Arc::from(bytes);
        self.packages.write().ok()?.insert(sha256.to_owned(), bytes.clone());
        Some(bytes)
    }

    /// Serves packages kept as `<sha256>` files in `directory` too.
    pub fn set_directory(&self, directory: std::path::PathBuf) {
        if let Ok(mut dir) = self.directory.write() {
            *dir = Some(directory);
        }
    }
}

/// The SHA-256 of `bytes` in lowercase hex, as packages are named (the package format's own).
pub use seam_package::sha256_hex;

/// The LwM2M server. Cloning shares it.
#[derive(Clone)]
pub struct Lwm2mServer {
    /// Plain CoAP when the server listens there, else DTLS.
    endpoint: Endpoint,
    /// DTLS, when the server listens there too.
    secure: Option<Endpoint>,
    table: Arc<RegistrationTable>,
    shelf: Arc<PackageShelf>,
    events: mpsc::UnboundedSender<ServerEvent>,
    config: Arc<ServerConfig>,
}

impl std::fmt::Debug for Lwm2mServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Lwm2mServer").field("endpoint", &self.endpoint).finish()
    }
}

impl Lwm2mServer {
    /// Binds `addr` (plain CoAP) and starts serving; events arrive on the returned channel.
    pub async fn bind(
        addr: SocketAddr,
        config: ServerConfig,
    ) -> Result<(Self, mpsc::UnboundedReceiver<ServerEvent>), Lwm2mError> {
        Self::listen(
            Listen {
                plain: Some(addr),
                secure: None,
            },
            config,
        )
        .await
    }

    /// Listens on plain CoAP, DTLS or both, and starts serving; events arrive on the returned
    /// channel.
    pub async fn listen(
        listen: Listen,
        config: ServerConfig,
    ) -> Result<(Self, mpsc::UnboundedReceiver<ServerEvent>), Lwm2mError> {
        let (events, receiver) = mpsc::unbounded_channel();
        let table = Arc::new(RegistrationTable::default());
        let shelf = Arc::new(PackageShelf::default());
        let handler = Arc::new(ServerHandler {
            table: table.clone(),
            events: events.clone(),
            shelf: shelf.clone(),
            default_lifetime: config.default_lifetime,
            credentials: listen.secure.as_ref().map(|(_, c)| c.clone()),
        });
        let plain = match listen.plain {
            Some(addr) => Some(Endpoint::bind(addr, config.params.clone(), handler.clone()).await?),
            None => None,
        };
        let secure = match listen.secure {
            Some((addr, credentials)) => {
                let keys: Arc<dyn crate::dtls::PskStore> = Arc::new(CredentialKeys(credentials));
                let socket = crate::dtls::DtlsSocket::bind_server(addr, keys, crate::dtls::DtlsLimits::default())
                    .await
                    .map_err(|e| Lwm2mError::Io(std::io::Error::other(e.to_string())))?;
                Some(Endpoint::over_dtls(socket, config.params.clone(), handler))
            }
            None => None,
        };
        let (endpoint, secure) = match (plain, secure) {
            (Some(plain), secure) => (plain, secure),
            (None, Some(secure)) => (secure.clone(), Some(secure)),
            (None, None) => {
                return Err(Lwm2mError::Io(std::io::Error::other(
                    "the LwM2M server needs a coap:// or a coaps:// address",
                )))
            }
        };
        let server = Self {
            endpoint,
            secure,
            table,
            shelf,
            events,
            config: Arc::new(config),
        };
        tokio::spawn(expiry_loop(
            Arc::downgrade(&server.table),
            server.events.clone(),
            server.config.expiry_check,
        ));
        Ok((server, receiver))
    }

    /// The DTLS address (`coaps://`), when the server listens there.
    pub fn secure_addr(&self) -> Option<SocketAddr> {
        self.secure.as_ref().and_then(|e| e.local_addr().ok())
    }

    /// The DTLS endpoint, when there is one (for statistics).
    pub fn secure_endpoint(&self) -> Option<&Endpoint> {
        self.secure.as_ref()
    }

    /// The endpoint a registration talks over: its DTLS session, or plain CoAP.
    fn endpoint_for(&self, registration: &Registration) -> Result<&Endpoint, Lwm2mError> {
        match (&registration.identity, &self.secure) {
            (Some(_), Some(secure)) => Ok(secure),
            (Some(_), None) => Err(Lwm2mError::UnknownEndpoint(registration.endpoint.clone())),
            (None, _) => Ok(&self.endpoint),
        }
    }

    /// The bound address.
    pub fn local_addr(&self) -> Result<SocketAddr, Lwm2mError> {
        Ok(self.endpoint.local_addr()?)
    }

    /// The CoAP endpoint (for statistics).
    pub fn endpoint(&self) -> &Endpoint {
        &self.endpoint
    }

    /// The packages this server serves.
    pub fn shelf(&self) -> &PackageShelf {
        &self.shelf
    }

    /// The URI of a package on the shelf for endpoint `name`: `coaps://` on the DTLS address
    /// for a client registered over DTLS (it fetches through its session), else
    /// [`Lwm2mServer::package_uri`].
    pub fn package_uri_for(&self, name: &str, sha256: &str) -> Result<String, Lwm2mError> {
        let secure = self.registration(name).is_some_and(|r| r.identity.is_some());
        match (secure, self.secure_addr()) {
            (true, Some(addr)) => Ok(format!("coaps://{addr}/pkg/{sha256}")),
            _ => self.package_uri(sha256),
        }
    }

    /// The `coap://…/pkg/<sha256>` URI of a package on the shelf.
    pub fn package_uri(&self, sha256: &str) -> Result<String, Lwm2mError> {
        let base = match &self.config.public_base {
            Some(base) => base.trim_end_matches('/').to_owned(),
            // A server on DTLS alone serves its packages there too.
            None if self.endpoint.is_secure() => format!("coaps://{}", self.local_addr()?),
            None => format!("coap://{}", self.local_addr()?),
        };
        Ok(format!("{base}/pkg/{sha256}"))
    }

    /// The registration of endpoint `name`, if it is registered.
    pub fn registration(&self, name: &str) -> Option<Registration> {
        self.table.get_by_endpoint(name)
    }

    /// All live registrations.
    pub fn registrations(&self) -> Vec<Registration> {
        self.table.all()
    }

    /// How many clients are registered.
    pub fn registered(&self) -> usize {
        self.table.len()
    }

    fn target(&self, name: &str, path: ResourcePath) -> Result<(Endpoint, SocketAddr, Vec<String>), Lwm2mError> {
        let registration = self
            .registration(name)
            .ok_or_else(|| Lwm2mError::UnknownEndpoint(name.to_owned()))?;
        let mut segments = crate::coap::message::split_path(&registration.root_path);
        segments.extend(path.segments());
        let endpoint = self.endpoint_for(&registration)?.clone();
        Ok((endpoint, registration.address, segments))
    }

    async fn send(&self, name: &str, path: ResourcePath, mut request: Request) -> Result<Reply, Lwm2mError> {
        let (endpoint, address, segments) = self.target(name, path)?;
        request.path = segments;
        let reply = endpoint.request(address, request).await?;
        if reply.is_success() {
            Ok(reply)
        } else {
            Err(refused(&reply))
        }
    }

    /// Reads `path` of a registered client, decoding whatever content format it answers in
    /// (`accept` asks for one).
    pub async fn read(
        &self,
        name: &str,
        path: ResourcePath,
        accept: Option<u16>,
    ) -> Result<Vec<(ResourcePath, Value)>, Lwm2mError> {
        let mut request = Request::new(Method::Get, "");
        request.accept = accept;
        let reply = self.send(name, path, request).await?;
        content::decode(reply.content_format, path, &reply.payload)
    }

    /// Reads an object instance whole or, when the client answers no instance read (some 1.0
    /// clients read single resources only) or an empty one, the listed `resources` one by one.
    /// `Err` only when nothing could be read.
    pub async fn read_instance(
        &self,
        name: &str,
        instance: ResourcePath,
        resources: &[u16],
    ) -> Result<Vec<(ResourcePath, Value)>, Lwm2mError> {
        let whole = self.read(name, instance, None).await;
        if let Ok(values) = &whole {
            if !values.is_empty() {
                return whole;
            }
        }
        let mut values = Vec::new();
        for &id in resources {
            if let Some(path) = instance.child(id) {
                if let Ok(mut one) = self.read(name, path, None).await {
                    values.append(&mut one);
                }
            }
        }
        match whole {
            Err(e) if values.is_empty() => Err(e),
            _ => Ok(values),
        }
    }

    /// Writes `payload` in `format` to `path` (PUT: replace). Bodies over one block go Block1.
    pub async fn write(&self, name: &str, path: ResourcePath, format: u16, payload: Vec<u8>) -> Result<(), Lwm2mError> {
        let mut request = Request::new(Method::Put, "");
        request.content_format = Some(format);
        request.payload = payload;
        self.send(name, path, request).await.map(|_| ())
    }

    /// Executes resource `path` with optional arguments.
    pub async fn execute(&self, name: &str, path: ResourcePath, arguments: &str) -> Result<(), Lwm2mError> {
        let mut request = Request::new(Method::Post, "");
        if !arguments.is_empty() {
            request.content_format = Some(cf::TEXT);
            request.payload = arguments.as_bytes().to_vec();
        }
        self.send(name, path, request).await.map(|_| ())
    }

    /// Discovers the resources and attributes under `path`.
    pub async fn discover(&self, name: &str, path: ResourcePath) -> Result<Vec<Link>, Lwm2mError> {
        let mut request = Request::new(Method::Get, "");
        request.accept = Some(cf::LINK_FORMAT);
        let reply = self.send(name, path, request).await?;
        content::parse_links(&reply.payload)
    }

    /// Observes `path`: the current values, and a channel of later ones. Dropping the receiver
    /// and calling [`Lwm2mServer::cancel_observation`] ends it (the next notification is reset).
    pub async fn observe(&self, name: &str, path: ResourcePath) -> Result<Observation, Lwm2mError> {
        let (endpoint, address, segments) = self.target(name, path)?;
        let mut request = Request::new(Method::Get, "");
        request.path = segments.clone();
        let (reply, token, notifications) = endpoint.observe(address, request).await?;
        if !reply.is_success() {
            endpoint.cancel(address, &token);
            return Err(refused(&reply));
        }
        // A first answer larger than a block carries its first block only (RFC 7959 §3.4).
        let decoded = whole_representation(&endpoint, address, &segments, reply)
            .await
            .and_then(|reply| content::decode(reply.content_format, path, &reply.payload).map(|v| (v, reply.observe)));
        let (values, last) = match decoded {
            Ok(decoded) => decoded,
            Err(e) => {
                endpoint.cancel(address, &token);
                return Err(e);
            }
        };
        Ok(Observation {
            endpoint: endpoint.clone(),
            peer: address,
            path,
            segments,
            token,
            last,
            initial: values,
            notifications,
            ended: std::sync::atomic::AtomicBool::new(false),
        })
    }

    /// Ends an observation: forgotten at once, and the device is told with a GET carrying
    /// Observe 1 (sent in the background; a device that misses it gets RST on its next
    /// notification instead).
    pub fn cancel_observation(&self, observation: &Observation) {
        observation.end();
    }

    /// Reports a delivery step to the event channel.
    pub(crate) fn report(&self, progress: DeliveryProgress) {
        let _ = self.events.send(ServerEvent::Delivery(progress));
    }

    pub(crate) fn config(&self) -> &ServerConfig {
        &self.config
    }
}

/// An observation in progress.
#[derive(Debug)]
pub struct Observation {
    endpoint: Endpoint,
    peer: SocketAddr,
    path: ResourcePath,
    token: Vec<u8>,
    segments: Vec<String>,
    /// Observe sequence number of the freshest notification so far.
    last: Option<u32>,
    /// The values the first response carried.
    pub initial: Vec<(ResourcePath, Value)>,
    notifications: mpsc::UnboundedReceiver<Reply>,
    /// Whether the device was told the observation is over.
    ended: std::sync::atomic::AtomicBool,
}

impl Drop for Observation {
    /// An observation nobody follows any more (a delivery that failed or timed out, a caller
    /// that went away) is cancelled, so the device stops notifying and the token is forgotten.
    fn drop(&mut self) {
        self.end();
    }
}

impl Observation {
    /// Ends the observation once: forgotten at once, and the device told with a GET carrying
    /// Observe 1 (in the background, when a runtime is there to send it; a device that misses it
    /// gets RST on its next notification instead).
    fn end(&self) {
        if self.ended.swap(true, std::sync::atomic::Ordering::SeqCst) {
            return;
        }
        self.endpoint.cancel(self.peer, &self.token);
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            return;
        };
        let endpoint = self.endpoint.clone();
        let mut request = Request::new(Method::Get, "");
        request.path = self.segments.clone();
        let (peer, token) = (self.peer, self.token.clone());
        runtime.spawn(async move {
            if let Err(e) = endpoint.cancel_actively(peer, request, token).await {
                tracing::debug!(%peer, error = %e, "observation cancel not answered");
            }
        });
    }

    /// The next notification's values; `None` when the observation is over. Notifications that
    /// do not decode are skipped (and logged): one bad datagram does not end an observation.
    pub async fn next(&mut self) -> Option<Vec<(ResourcePath, Value)>> {
        loop {
            let reply = self.notifications.recv().await?;
            if !reply.is_success() {
                return None; // An error notification ends the observation (RFC 7641 §3.2).
            }
            // UDP may reorder: a notification older than the freshest one seen is stale.
            if let (Some(last), Some(seq)) = (self.last, reply.observe) {
                if !is_fresher(seq, last) {
                    continue;
                }
            }
            if reply.observe.is_some() {
                self.last = reply.observe;
            }
            // A notification larger than a block carries its first block only (RFC 7959 §3.4).
            let reply = match whole_representation(&self.endpoint, self.peer, &self.segments, reply).await {
                Ok(whole) => whole,
                Err(e) => {
                    tracing::warn!(path = %self.path, error = %e, "the rest of a notification could not be fetched");
                    continue;
                }
            };
            match content::decode(reply.content_format, self.path, &reply.payload) {
                Ok(values) => return Some(values),
                Err(e) => tracing::warn!(path = %self.path, error = %e, "notification did not decode"),
            }
        }
    }
}

/// RFC 7641 §3.4: whether notification sequence number `new` is fresher than `old` (24-bit
/// serial-number arithmetic; the 128-second rule is left out since SEAM keeps no arrival times).
pub fn is_fresher(new: u32, old: u32) -> bool {
    const HALF: u32 = 1 << 23;
    (old < new && new - old < HALF) || (old > new && old - new > HALF)
}

/// `reply` itself when it is whole; otherwise the whole representation, fetched with a GET
/// whose Block2 transfer the request side follows (RFC 7959 §3.4): an observe answer or a
/// notification larger than a block carries its first block only.
async fn whole_representation(
    endpoint: &Endpoint,
    peer: SocketAddr,
    segments: &[String],
    reply: Reply,
) -> Result<Reply, Lwm2mError> {
    if !reply.partial {
        return Ok(reply);
    }
    let mut request = Request::new(Method::Get, "");
    request.path = segments.to_vec();
    request.accept = reply.content_format;
    let whole = endpoint.request(peer, request).await?;
    if whole.is_success() {
        Ok(whole)
    } else {
        Err(refused(&whole))
    }
}

fn refused(reply: &Reply) -> Lwm2mError {
    Lwm2mError::Refused {
        code: reply.code_string(),
        reason: String::from_utf8_lossy(&reply.payload).into_owned(),
    }
}

async fn expiry_loop(
    table: std::sync::Weak<RegistrationTable>,
    events: mpsc::UnboundedSender<ServerEvent>,
    every: Duration,
) {
    let mut tick = tokio::time::interval(every);
    loop {
        tick.tick().await;
        let Some(table) = table.upgrade() else { return };
        for registration in table.expire(Instant::now()) {
            tracing::debug!(endpoint = %registration.endpoint, "registration expired");
            if events
                .send(ServerEvent::Departed {
                    registration,
                    why: Departure::Expired,
                })
                .is_err()
            {
                return;
            }
        }
    }
}

/// Seconds since the Unix epoch, for events and logs.
pub fn unix_seconds(at: SystemTime) -> u64 {
    at.duration_since(SystemTime::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::{is_fresher, sha256_hex, PackageShelf};

    #[test]
    fn the_shelf_reads_packages_from_its_directory_when_first_asked_and_checks_them() {
        let dir = std::env::temp_dir().join(format!("seam-shelf-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let good = b"a package".to_vec();
        let sha = sha256_hex(&good);
        std::fs::write(dir.join(&sha), &good).unwrap();
        let forged = "0".repeat(64);
        std::fs::write(dir.join(&forged), b"not what the name says").unwrap();
        let shelf = PackageShelf::default();
        assert!(shelf.get(&sha).is_none(), "no directory yet");
        shelf.set_directory(dir.clone());
        assert_eq!(shelf.get(&sha).as_deref(), Some(&good[..]));
        assert!(shelf.get(&forged).is_none());
        assert!(shelf.get("../../etc/passwd").is_none());
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn observe_sequence_numbers_compare_with_wraparound() {
        assert!(is_fresher(2, 1));
        assert!(!is_fresher(1, 2));
        assert!(!is_fresher(5, 5));
        // Wrapped around 2^24.
        assert!(is_fresher(3, (1 << 24) - 2));
        assert!(!is_fresher((1 << 24) - 2, 3));
    }
}
