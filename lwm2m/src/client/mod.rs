//! An LwM2M client: registers, keeps its registration alive, answers device management, and
//! takes packages through Object 9 or Object 5, verifying each package's SHA-256 before it
//! reports success. The device simulator runs many of these; the tests run a few.

pub mod boards;
mod objects;

use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

pub use objects::{covers, DeviceProfile, ObjectStore, IPSO_SENSORS};

use crate::coap::{
    content_format as cf, BoxFuture, Code, Endpoint, Handler, Method, Request, Response, TransmissionParams,
};
use crate::content::{self, ResourcePath, Value};
use crate::server::sha256_hex;
use crate::Lwm2mError;

/// Client settings.
#[derive(Debug, Clone)]
pub struct ClientConfig {
    /// Endpoint client name.
    pub endpoint_name: String,
    /// The LwM2M server.
    pub server: SocketAddr,
    /// Local address to bind (port 0 for any).
    pub bind: SocketAddr,
    /// Registration lifetime in seconds.
    pub lifetime: u32,
    /// LwM2M versions to try in order; a 4.12 answer moves to the next.
    pub versions: Vec<String>,
    /// CoAP transmission parameters.
    pub params: TransmissionParams,
    /// What the device is.
    pub profile: DeviceProfile,
    /// Format of answers to multi-resource reads without Accept (TLV, SenML JSON or CBOR).
    pub read_format: u16,
    /// Fault injection: flip a byte of the downloaded package, so verification fails.
    pub corrupt_block: bool,
    /// Fault injection: fail every installation.
    pub reject_install: bool,
    /// Fault injection: start downloading a Package URI and never finish (a link that went
    /// silent mid-way).
    pub stall_download: bool,
    /// A check every package must pass after its digest (a signature check, for instance); a
    /// package it refuses is reported as failing its integrity check.
    pub package_check: Option<PackageCheck>,
    /// Speak DTLS with this identity and key (`coaps://`); `None`: plain CoAP.
    pub psk: Option<crate::dtls::Psk>,
    /// How long the DTLS handshake may take (a wrong key shows as this much silence: DTLS
    /// drops the records it cannot authenticate without an answer).
    pub handshake_timeout: std::time::Duration,
}

/// The function behind a [`PackageCheck`].
pub type PackageCheckFn = dyn Fn(&[u8]) -> Result<(), String> + Send + Sync;

/// A check of a downloaded package: `Err` says why it is refused.
#[derive(Clone)]
pub struct PackageCheck(pub std::sync::Arc<PackageCheckFn>);

impl std::fmt::Debug for PackageCheck {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("PackageCheck")
    }
}

impl ClientConfig {
    /// A client named `name` for `server` with `profile`, RFC timeouts, lifetime 300 s.
    pub fn new(name: &str, server: SocketAddr, profile: DeviceProfile) -> Self {
        Self {
            endpoint_name: name.to_owned(),
            server,
            bind: SocketAddr::from(([127, 0, 0, 1], 0)),
            lifetime: 300,
            versions: vec!["1.1".to_owned(), "1.0".to_owned()],
            params: TransmissionParams::default(),
            profile,
            read_format: cf::TLV,
            corrupt_block: false,
            reject_install: false,
            stall_download: false,
            package_check: None,
            psk: None,
            handshake_timeout: std::time::Duration::from_secs(30),
        }
    }
}

struct Observer {
    peer: SocketAddr,
    token: Vec<u8>,
    path: ResourcePath,
    sequence: u32,
}

struct Shared {
    config: ClientConfig,
    store: Mutex<ObjectStore>,
    observers: Mutex<Vec<Observer>>,
    installed: Mutex<Vec<String>>,
    /// SHA-256 of the package downloaded or pushed and verified, waiting for Install/Update.
    staged: Mutex<Option<String>>,
    endpoint: std::sync::OnceLock<Endpoint>,
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// A running LwM2M client.
#[derive(Clone)]
pub struct Lwm2mClient {
    endpoint: Endpoint,
    shared: Arc<Shared>,
    location: Arc<Mutex<Option<Vec<String>>>>,
}

impl std::fmt::Debug for Lwm2mClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Lwm2mClient")
            .field("endpoint", &self.shared.config.endpoint_name)
            .finish()
    }
}

struct ClientHandler(Arc<Shared>);

impl Handler for ClientHandler {
    fn handle(&self, request: Request) -> BoxFuture<Response> {
        let shared = self.0.clone();
        Box::pin(async move { answer(&shared, request) })
    }
}

impl Lwm2mClient {
    /// Binds a socket for the client (it does not register yet).
    pub async fn start(config: ClientConfig) -> Result<Self, Lwm2mError> {
        let store = ObjectStore::for_profile(&config.profile, config.lifetime);
        let shared = Arc::new(Shared {
            store: Mutex::new(store),
            observers: Mutex::new(Vec::new()),
            installed: Mutex::new(Vec::new()),
            staged: Mutex::new(None),
            endpoint: std::sync::OnceLock::new(),
            config,
        });
        let handler = Arc::new(ClientHandler(shared.clone()));
        let endpoint = match &shared.config.psk {
            None => Endpoint::bind(shared.config.bind, shared.config.params.clone(), handler).await?,
            Some(psk) => {
                // The session is opened before anything else: a wrong key fails here.
                let socket = crate::dtls::DtlsSocket::connect(
                    shared.config.bind,
                    shared.config.server,
                    psk.clone(),
                    shared.config.handshake_timeout,
                )
                .await
                .map_err(|e| Lwm2mError::Io(std::io::Error::other(e.to_string())))?;
                Endpoint::over_dtls(socket, shared.config.params.clone(), handler)
            }
        };
        let _ = shared.endpoint.set(endpoint.clone());
        Ok(Self {
            endpoint,
            shared,
            location: Arc::new(Mutex::new(None)),
        })
    }

    /// The client's CoAP endpoint.
    pub fn endpoint(&self) -> &Endpoint {
        &self.endpoint
    }

    /// The endpoint client name.
    pub fn name(&self) -> &str {
        &self.shared.config.endpoint_name
    }

    /// The registration payload: every object instance the client has.
    pub fn registration_links(&self) -> String {
        let store = lock(&self.shared.store);
        let mut links = vec!["</>;rt=\"oma.lwm2m\";ct=110".to_owned()];
        links.extend(store.instances().iter().map(|p| format!("<{p}>")));
        links.join(",")
    }

    /// Registers with the server, falling back through the configured versions on 4.12.
    pub async fn register(&self) -> Result<(), Lwm2mError> {
        let config = &self.shared.config;
        let mut last = None;
        for version in &config.versions {
            let mut request = Request::new(Method::Post, "rd");
            request.query = vec![
                format!("ep={}", config.endpoint_name),
                format!("lt={}", config.lifetime),
                format!("lwm2m={version}"),
                "b=U".to_owned(),
            ];
            request.content_format = Some(cf::LINK_FORMAT);
            request.payload = self.registration_links().into_bytes();
            let reply = self.request_again_on_timeout(request).await?;
            if reply.code == Code::Created {
                *lock(&self.location) = Some(reply.location_path);
                return Ok(());
            }
            let refused = Lwm2mError::Refused {
                code: reply.code_string(),
                reason: String::from_utf8_lossy(&reply.payload).into_owned(),
            };
            if reply.code != Code::PreconditionFailed {
                return Err(refused);
            }
            last = Some(refused);
        }
        Err(last.unwrap_or(Lwm2mError::Timeout))
    }

    /// Sends a registration-interface request, starting over when the exchange times out: a
    /// Register or Update that never got its answer is repeated, as LwM2M clients do (the
    /// server treats a second Register of the same endpoint as a re-registration).
    async fn request_again_on_timeout(&self, request: Request) -> Result<crate::coap::Reply, Lwm2mError> {
        crate::again_on_timeout(|| self.endpoint.request(self.shared.config.server, request.clone())).await
    }

    /// Sends a registration Update (no parameters: "I am still here").
    pub async fn update(&self) -> Result<(), Lwm2mError> {
        let location = lock(&self.location)
            .clone()
            .ok_or_else(|| Lwm2mError::Malformed("not registered".into()))?;
        let mut request = Request::new(Method::Post, "");
        request.path = location;
        let reply = self.request_again_on_timeout(request).await?;
        if reply.code == Code::NotFound {
            // The server forgot us (restart, expiry): register again, as LwM2M §6.2.2 asks.
            return self.register().await;
        }
        Ok(())
    }

    /// De-registers.
    pub async fn deregister(&self) -> Result<(), Lwm2mError> {
        let Some(location) = lock(&self.location).take() else {
            return Ok(());
        };
        let mut request = Request::new(Method::Delete, "");
        request.path = location;
        self.endpoint
            .request(self.shared.config.server, request)
            .await
            .map(|_| ())
    }

    /// Sends Updates every half lifetime until the returned task is aborted.
    pub fn keep_alive(&self) -> tokio::task::JoinHandle<()> {
        let client = self.clone();
        let every = Duration::from_secs(u64::from(self.shared.config.lifetime.max(2) / 2));
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(every);
            tick.tick().await;
            loop {
                tick.tick().await;
                if let Err(e) = client.update().await {
                    tracing::debug!(endpoint = client.name(), error = %e, "update failed");
                }
            }
        })
    }

    /// SHA-256 digests of the packages installed so far.
    pub fn installed(&self) -> Vec<String> {
        lock(&self.shared.installed).clone()
    }

    /// How many observations of this client's resources are registered.
    pub fn observer_count(&self) -> usize {
        lock(&self.shared.observers).len()
    }

    /// A resource value.
    pub fn value(&self, path: ResourcePath) -> Option<Value> {
        lock(&self.shared.store).get(path).cloned()
    }

    /// Changes a resource value and notifies its observers (a new sensor reading, say).
    pub async fn set_value(&self, path: ResourcePath, value: Value) {
        set(&self.shared, path, value).await;
    }
}

/// Sets a value and notifies every observer whose path covers it, in order.
async fn set(shared: &Arc<Shared>, path: ResourcePath, value: Value) {
    lock(&shared.store).set(path, value);
    notify(shared, path).await;
}

async fn notify(shared: &Arc<Shared>, changed: ResourcePath) {
    let Some(endpoint) = shared.endpoint.get() else { return };
    let due: Vec<(SocketAddr, Vec<u8>, ResourcePath, u32)> = {
        let mut observers = lock(&shared.observers);
        observers
            .iter_mut()
            .filter(|o| covers(o.path, changed))
            .map(|o| {
                o.sequence += 1;
                (o.peer, o.token.clone(), o.path, o.sequence)
            })
            .collect()
    };
    for (peer, token, path, sequence) in due {
        let mut response = read_response(shared, path, None);
        response.observe = Some(sequence);
        if let Err(Lwm2mError::Reset) = endpoint.notify(peer, &token, &response, true).await {
            lock(&shared.observers).retain(|o| !(o.peer == peer && o.token == token));
        }
    }
}

fn read_response(shared: &Shared, path: ResourcePath, accept: Option<u16>) -> Response {
    let values = lock(&shared.store).under(path);
    if values.is_empty() {
        return Response::new(Code::NotFound);
    }
    let single = path.resource.is_some() && values.len() == 1;
    let format = accept.unwrap_or(if single { cf::TEXT } else { shared.config.read_format });
    match content::encode(format, path, &values) {
        Some(bytes) => Response::with_body(Code::Content, format, bytes),
        None => Response::error(Code::NotAcceptable, "format not available for this path"),
    }
}

fn answer(shared: &Arc<Shared>, request: Request) -> Response {
    let Some(path) = ResourcePath::parse(&request.path_string()) else {
        return Response::new(Code::NotFound);
    };
    match request.method {
        Method::Get if request.accept == Some(cf::LINK_FORMAT) => discover(shared, path),
        Method::Get => {
            let mut response = read_response(shared, path, request.accept);
            match request.observe {
                Some(0) if response.is_success() => {
                    let mut observers = lock(&shared.observers);
                    observers.retain(|o| !(o.peer == request.peer && o.token == request.token));
                    observers.push(Observer {
                        peer: request.peer,
                        token: request.token.clone(),
                        path,
                        sequence: 1,
                    });
                    response.observe = Some(1);
                }
                Some(1) => lock(&shared.observers).retain(|o| !(o.peer == request.peer && o.token == request.token)),
                _ => {}
            }
            response
        }
        Method::Put | Method::Post if path.resource.is_some() && request.method == Method::Put => {
            write(shared, path, request)
        }
        Method::Post if path.resource.is_some() => execute(shared, path),
        Method::Post | Method::Put => Response::error(Code::MethodNotAllowed, "writes to instances are not supported"),
        _ => Response::new(Code::MethodNotAllowed),
    }
}

fn discover(shared: &Shared, path: ResourcePath) -> Response {
    let values = lock(&shared.store).under(path);
    if values.is_empty() {
        return Response::new(Code::NotFound);
    }
    let mut links = vec![format!("<{path}>")];
    let mut last = None;
    for (p, _) in values {
        let resource = ResourcePath {
            resource_instance: None,
            ..p
        };
        if last != Some(resource) && resource != path {
            links.push(format!("<{resource}>"));
        }
        last = Some(resource);
    }
    Response::with_body(Code::Content, cf::LINK_FORMAT, links.join(",").into_bytes())
}

fn write(shared: &Arc<Shared>, path: ResourcePath, request: Request) -> Response {
    let is = |object: u16, resource: u16| path.object == object && path.resource == Some(resource);
    // Object 5 takes packages the way its Delivery Method says, as a real client does.
    let method = lock(&shared.store)
        .get(ResourcePath::resource(5, 0, 9))
        .and_then(|v| v.as_i64())
        .unwrap_or(2);
    if (is(5, 1) && method == 1) || (is(5, 0) && method == 0) {
        return Response::error(
            Code::MethodNotAllowed,
            "this device does not take packages that way (/5/0/9)",
        );
    }
    if is(9, 3) || is(5, 1) {
        let Ok(uri) = String::from_utf8(request.payload) else {
            return Response::error(Code::BadRequest, "Package URI is not UTF-8");
        };
        let shared = shared.clone();
        tokio::spawn(async move { download(shared, path.object, uri).await });
        return Response::new(Code::Changed);
    }
    if is(9, 2) || is(5, 0) {
        let shared = shared.clone();
        let bytes = request.payload;
        tokio::spawn(async move { take_pushed(shared, path.object, bytes).await });
        return Response::new(Code::Changed);
    }
    let values = match content::decode(request.content_format, path, &request.payload) {
        Ok(values) => values,
        Err(e) => return Response::error(Code::BadRequest, &e.to_string()),
    };
    let mut store = lock(&shared.store);
    if store.get(path).is_none() {
        return Response::new(Code::NotFound);
    }
    for (p, v) in values {
        store.set(p, v);
    }
    Response::new(Code::Changed)
}

fn execute(shared: &Arc<Shared>, path: ResourcePath) -> Response {
    let is = |object: u16, resource: u16| path.object == object && path.resource == Some(resource);
    if is(9, 4) || is(5, 2) {
        if lock(&shared.staged).is_none() {
            return Response::error(Code::MethodNotAllowed, "no package delivered to install");
        }
        let shared = shared.clone();
        tokio::spawn(async move { install(shared, path.object).await });
        return Response::new(Code::Changed);
    }
    if is(3, 4) || is(3, 5) {
        return Response::new(Code::Changed); // Reboot / factory reset: nothing to do in a simulator.
    }
    Response::error(Code::MethodNotAllowed, "not an executable resource")
}

/// Update State / Update Result resource IDs of the object in use.
fn state_resources(object: u16) -> (u16, u16) {
    if object == 9 {
        (7, 9)
    } else {
        (3, 5)
    }
}

async fn set_state(shared: &Arc<Shared>, object: u16, state: i64, result: i64) {
    let (state_id, result_id) = state_resources(object);
    {
        let mut store = lock(&shared.store);
        store.set(ResourcePath::resource(object, 0, state_id), Value::Integer(state));
        store.set(ResourcePath::resource(object, 0, result_id), Value::Integer(result));
    }
    notify(shared, ResourcePath::resource(object, 0, state_id)).await;
}

/// Result codes per object: (downloading, delivered, integrity failure, invalid URI, lost connection).
fn codes(object: u16) -> (i64, i64, i64, i64, i64) {
    if object == 9 {
        (1, 3, 53, 56, 52)
    } else {
        (0, 0, 5, 7, 4)
    }
}

async fn download(shared: Arc<Shared>, object: u16, uri: String) {
    let (downloading, delivered, integrity, invalid_uri, lost) = codes(object);
    let downloading_state = 1;
    if uri.is_empty() {
        // Writing an empty URI cancels an update (Object 5 §E.6).
        set_state(&shared, object, 0, 0).await;
        return;
    }
    set_state(&shared, object, downloading_state, downloading).await;
    if shared.config.stall_download {
        return;
    }
    let Some((peer, path, expected)) = parse_package_uri(&uri).await else {
        set_state(&shared, object, 0, invalid_uri).await;
        return;
    };
    let Some(endpoint) = shared.endpoint.get() else { return };
    let mut request = Request::new(Method::Get, "");
    request.path = path;
    let bytes = match endpoint.request(peer, request).await {
        Ok(reply) if reply.is_success() => reply.payload,
        Ok(_) => {
            set_state(&shared, object, 0, invalid_uri).await;
            return;
        }
        Err(e) => {
            tracing::debug!(endpoint = %shared.config.endpoint_name, error = %e, "package download failed");
            set_state(&shared, object, 0, lost).await;
            return;
        }
    };
    verify_and_stage(&shared, object, bytes, Some(expected), (delivered, integrity)).await;
}

async fn take_pushed(shared: Arc<Shared>, object: u16, bytes: Vec<u8>) {
    let (_, delivered, integrity, _, _) = codes(object);
    set_state(&shared, object, 1, codes(object).0).await;
    verify_and_stage(&shared, object, bytes, None, (delivered, integrity)).await;
}

/// Checks the package against the digest it was addressed by (pull) and stages it; a pushed
/// package has no address, so its digest is published as the package name for the server to
/// compare before it asks for the install.
async fn verify_and_stage(
    shared: &Arc<Shared>,
    object: u16,
    mut bytes: Vec<u8>,
    expected: Option<String>,
    (delivered, integrity): (i64, i64),
) {
    if shared.config.corrupt_block && !bytes.is_empty() {
        let middle = bytes.len() / 2;
        bytes[middle] ^= 0x5a;
    }
    let digest = sha256_hex(&bytes);
    if expected.as_ref().is_some_and(|e| !e.eq_ignore_ascii_case(&digest)) {
        set_state(shared, object, 0, integrity).await;
        return;
    }
    if let Some(PackageCheck(check)) = &shared.config.package_check {
        if let Err(reason) = check(&bytes) {
            tracing::warn!(endpoint = %shared.config.endpoint_name, %reason, "package refused");
            set_state(shared, object, 0, integrity).await;
            return;
        }
    }
    let name_resource = if object == 9 { 0 } else { 6 };
    lock(&shared.store).set(
        ResourcePath::resource(object, 0, name_resource),
        Value::String(digest.clone()),
    );
    *lock(&shared.staged) = Some(digest);
    if object == 9 {
        set_state(shared, object, 2, 1).await; // DOWNLOADED
        set_state(shared, object, 3, delivered).await; // DELIVERED: verified
    } else {
        set_state(shared, object, 2, 0).await; // Downloaded
    }
}

async fn install(shared: Arc<Shared>, object: u16) {
    let staged = lock(&shared.staged).take();
    let Some(digest) = staged else { return };
    if object == 9 {
        if shared.config.reject_install {
            set_state(&shared, 9, 3, 58).await;
            return;
        }
        lock(&shared.installed).push(digest);
        set_state(&shared, 9, 4, 2).await;
    } else {
        set_state(&shared, 5, 3, 0).await; // Updating
        if shared.config.reject_install {
            set_state(&shared, 5, 0, 8).await;
            return;
        }
        lock(&shared.installed).push(digest);
        set_state(&shared, 5, 0, 1).await;
    }
}

/// Splits `coap://host:port/a/b/<sha256>` (or `coaps://`, fetched through the client's DTLS
/// session with its server) into the server address, the path, and the digest the last segment
/// names.
async fn parse_package_uri(uri: &str) -> Option<(SocketAddr, Vec<String>, String)> {
    let (rest, default_port) = match uri.strip_prefix("coaps://") {
        Some(rest) => (rest, 5684),
        None => (uri.strip_prefix("coap://")?, 5683),
    };
    let (authority, path) = rest.split_once('/')?;
    let authority = if authority.contains(':') {
        authority.to_owned()
    } else {
        format!("{authority}:{default_port}")
    };
    let peer = tokio::net::lookup_host(authority).await.ok()?.next()?;
    let segments = crate::coap::message::split_path(path);
    let digest = segments.last()?.clone();
    (digest.len() == 64 && digest.chars().all(|c| c.is_ascii_hexdigit())).then_some((peer, segments, digest))
}
