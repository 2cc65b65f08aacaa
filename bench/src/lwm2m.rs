//! LwM2M figures.
//!
//! - `lwm2m-register`: a registration storm of N simulated devices against a real `seam serve`
//!   process (LwM2M server, bridge, RocksDB store): registrations per second until every device
//!   has its 2.01, the time until the graph has described them all, and the server's resident
//!   memory per registered device.
//! - `lwm2m-throughput`: N concurrent block-wise downloads of one package from SEAM's CoAP
//!   exchange layer, against a raw UDP request/response loop moving the same blocks with the same
//!   concurrency, in the same run; SEAM's endpoint asks on both sides, and then a device-like
//!   client (one connected socket, one block asked at a time, as a device's CoAP stack does)
//!   asks SEAM's endpoint.

use std::net::SocketAddr;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context as _};
use seam_registry::lwm2m::client::{ClientConfig, DeviceProfile, Lwm2mClient};
use seam_registry::lwm2m::coap::{
    content_format, endpoint, Block, BoxFuture, Code, Endpoint, Handler, Method, NotFound, Request, Response,
    TransmissionParams,
};
use tokio::net::UdpSocket;

/// A `seam serve` process, killed when dropped.
pub(crate) struct Serve(Child);

impl Drop for Serve {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Resident memory of a process, in bytes (Linux).
pub(crate) fn rss(pid: u32) -> anyhow::Result<u64> {
    seam_registry::metrics::resident_bytes_of(pid).context("no VmRSS in /proc/PID/status")
}

/// What the server's `/metrics` says of its memory, each `None` where it says nothing.
#[derive(Default, Clone, Copy)]
struct MemoryMetrics {
    /// Bytes the allocator has handed out.
    heap: Option<f64>,
    /// Bytes the replica holds by its own count.
    replica: Option<f64>,
    /// Resident bytes the allocator holds beyond `heap` (freed pages not yet returned, partly
    /// used pages, its bookkeeping).
    kept_free: Option<f64>,
}

fn memory_metrics(http: &str) -> MemoryMetrics {
    let Ok(text) = reqwest::blocking::get(format!("{http}/metrics")).and_then(|r| r.text()) else {
        return MemoryMetrics::default();
    };
    let sample = |name: &str| {
        text.lines()
            .find(|l| l.split(' ').next() == Some(name))
            .and_then(|l| l.rsplit(' ').next())
            .and_then(|v| v.parse::<f64>().ok())
    };
    // Zero is what `/metrics` says where it does not know the heap or has no replica.
    let known = |v: Option<f64>| v.filter(|v| *v > 0.0);
    MemoryMetrics {
        heap: known(sample("seam_heap_in_use_bytes")),
        replica: known(sample("seam_store_memory_bytes")),
        kept_free: sample("seam_heap_kept_free_bytes"),
    }
}

pub(crate) fn count_described(http: &str) -> anyhow::Result<u64> {
    let query = "PREFIX seam: <https://w3id.org/seam/ontology#>
        SELECT (COUNT(?d) AS ?n) WHERE { ?d seam:lwm2mEndpoint ?e ; seam:board ?b ; seam:status seam:Online }";
    let body = reqwest::blocking::Client::new()
        .get(format!("{http}/sparql"))
        .query(&[("query", query)])
        .send()?
        .text()?;
    let body: serde_json::Value = serde_json::from_str(&body)?;
    body["results"]["bindings"][0]["n"]["value"]
        .as_str()
        .and_then(|v| v.parse().ok())
        .context("unexpected SPARQL answer")
}

/// Starts `seam serve` on `data` and waits for its health; returns it and its pid.
pub(crate) fn start_serve(seam: &Path, data: &Path, http_port: u16, coap_port: u16) -> anyhow::Result<(Serve, u32)> {
    let child = Command::new(seam)
        .args(["serve", "--data"])
        .arg(data)
        .args([
            "--http",
            &format!("127.0.0.1:{http_port}"),
            "--coap",
            &format!("127.0.0.1:{coap_port}"),
            "--coaps",
            "off",
        ])
        .env("SEAM_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .with_context(|| format!("cannot start {}", seam.display()))?;
    let pid = child.id();
    let serve = Serve(child);
    let http = format!("http://127.0.0.1:{http_port}");
    let deadline = Instant::now() + Duration::from_secs(60);
    while !reqwest::blocking::get(format!("{http}/health")).is_ok_and(|r| r.status().is_success()) {
        if Instant::now() > deadline {
            bail!("seam serve did not come up");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    std::thread::sleep(Duration::from_millis(500));
    Ok((serve, pid))
}

/// How long a restarted server is left before its steady state is read: two of the service's
/// quiet-flush periods (10 s each) and the allocator's decay of freed pages (10 s), with room.
const RESTART_SETTLE: Duration = Duration::from_secs(30);

/// Registers `devices` clients against a fresh `seam serve` and reports the figures. Memory is
/// split by restarting the server on the same store once the storm is described: the restarted
/// server holds the graph (RocksDB replays its write-ahead log into the memtables) but no
/// registration, so the difference is what the LwM2M side holds per device. With `settle`, the
/// server is measured again that long after the storm, when the exchanges' de-duplication
/// entries (EXCHANGE_LIFETIME, 247 s) have expired.
///
/// With `waves` above 1 the devices register in that many storms of equal size, each described
/// and (with `settle`) settled before the next: what the server's memory grows by from one
/// settled wave to the next, per device of the wave, is the cost of one more registered device.
/// Costs that do not grow with the fleet (RocksDB's block cache, bounded at 32 MiB by default;
/// thread stacks; the catalog) cancel out of it, where they are spread over the devices in the
/// whole-run figure.
///
/// With `baseline` (a smaller fleet), a fresh server first takes a storm of that many devices,
/// settled as this run's last wave is, and the difference of the two settled servers, per device,
/// is printed: one more device, between two servers that did the same things. Between waves of
/// one server it is not only that: once the first wave's writes are flushed to RocksDB's tables,
/// what reads them later (a copy of the replica made during the next wave, measured) fills
/// RocksDB's block cache, a cost that stops at the cache's bound (32 MiB).
pub fn register(
    seam: &Path,
    devices: usize,
    concurrency: usize,
    settle: Duration,
    waves: usize,
    baseline: Option<usize>,
) -> anyhow::Result<()> {
    let Some(smaller) = baseline else {
        return storm_run(seam, devices, concurrency, settle, waves).map(drop);
    };
    if smaller >= devices || settle.is_zero() {
        bail!("--baseline-devices needs fewer devices than --devices, and --settle-s");
    }
    println!("baseline: a server of its own, {smaller} devices in one wave");
    let small = storm_run(seam, smaller, concurrency, settle, 1)?;
    println!("the run itself:");
    let large = storm_run(seam, devices, concurrency, settle, waves)?;
    let more = large.devices.saturating_sub(small.devices).max(1);
    println!(
        "one more device, {} against {} devices, each server settled: resident {:.0} bytes (anonymous {}), heap in use {}, the replica {}",
        large.devices,
        small.devices,
        (large.rss as f64 - small.rss as f64) / more as f64,
        grown_per_device(small.anonymous, large.anonymous, more),
        grown_per_device(small.heap, large.heap, more),
        grown_per_device(small.replica, large.replica, more)
    );
    Ok(())
}

/// How much a count grew from `was` to `is` for each of `devices` more devices, as text
/// ("unknown" where the server did not say).
fn grown_per_device(was: Option<f64>, is: Option<f64>, devices: usize) -> String {
    was.zip(is).map_or("unknown".to_owned(), |(was, is)| {
        format!("{:.0} bytes", (is - was) / devices.max(1) as f64)
    })
}

/// What a server held once its last wave settled.
struct Settled {
    devices: usize,
    rss: u64,
    /// The part of `rss` that is the server's own memory, not its program's pages.
    anonymous: Option<f64>,
    heap: Option<f64>,
    replica: Option<f64>,
}

/// One server, its storms and its figures (see [`register`]).
fn storm_run(
    seam: &Path,
    devices: usize,
    concurrency: usize,
    settle: Duration,
    waves: usize,
) -> anyhow::Result<Settled> {
    seam_registry::remote::install_tls_provider();
    let dir = tempfile::tempdir()?;
    let data = dir.path().join("store");
    let http_port = free_tcp_port()?;
    let coap_port = free_udp_port()?;
    let (serve, pid) = start_serve(seam, &data, http_port, coap_port)?;
    let http = format!("http://127.0.0.1:{http_port}");
    let before = rss(pid)?;
    let server: SocketAddr = ([127, 0, 0, 1], coap_port).into();
    let waves = waves.clamp(1, devices.max(1));

    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    let clients = runtime.block_on(simulated_devices(server, "bench", devices))?;
    println!("LwM2M registration storm: {devices} devices, {concurrency} registrations in flight, {waves} wave(s)");
    let per_device = |bytes: u64, n: usize| bytes as f64 / n.max(1) as f64;
    let (mut registered, mut after, mut settled_rss, mut anonymous) = (0usize, before, None, None);
    // (devices registered so far, settled RSS) after each wave.
    let mut steps: Vec<(usize, u64)> = Vec::new();
    // What the server's metrics said at the last settled wave.
    let mut counted = MemoryMetrics::default();
    for wave in 0..waves {
        let range = wave * devices / waves..(wave + 1) * devices / waves;
        let (ok, took) = runtime.block_on(storm(&clients[range.clone()], concurrency));
        registered += ok;
        let registered_at = Instant::now();
        let described_deadline = Instant::now() + Duration::from_secs(300);
        let mut described = 0;
        while Instant::now() < described_deadline {
            described = count_described(&http)?;
            if described as usize >= registered {
                break;
            }
            std::thread::sleep(Duration::from_millis(200));
        }
        let in_graph = took + registered_at.elapsed();
        std::thread::sleep(Duration::from_millis(500));
        after = rss(pid)?;
        println!("wave {} ({} devices):", wave + 1, range.len());
        println!(
            "  registered {ok} in {:.2} s: {:.0} registrations/s",
            took.as_secs_f64(),
            ok as f64 / took.as_secs_f64()
        );
        println!(
            "  all {described} described in the graph (Object 3 read, board mapped, sensors) after {:.2} s",
            in_graph.as_secs_f64()
        );
        println!(
            "  server RSS {:.1} MiB before, {:.1} MiB after: {:.0} bytes per registered device",
            before as f64 / 1048576.0,
            after as f64 / 1048576.0,
            per_device(after.saturating_sub(before), registered)
        );
        if !settle.is_zero() {
            std::thread::sleep(settle);
            let settled = rss(pid)?;
            settled_rss = Some(settled);
            // The program's own pages (some 35 MiB of code and libraries, more or less of it
            // resident as the run used it) are in the resident set too, not per device.
            anonymous = seam_registry::metrics::anonymous_resident_bytes_of(pid).map(|b| b as f64);
            println!(
                "  {:.0} s later (de-duplication entries expired): {:.1} MiB ({} of it anonymous), {:.0} bytes per device",
                settle.as_secs_f64(),
                settled as f64 / 1048576.0,
                anonymous.map_or("unknown".to_owned(), |a| format!("{:.1} MiB", a / 1048576.0)),
                per_device(settled.saturating_sub(before), registered)
            );
            if let Some(&(earlier, at)) = steps.last() {
                println!(
                    "  grown since the last wave settled: {:.1} MiB for {} more devices, {:.0} bytes per device",
                    settled.saturating_sub(at) as f64 / 1048576.0,
                    registered - earlier,
                    per_device(settled.saturating_sub(at), registered - earlier)
                );
            }
            // What the allocator has handed out (no fragmentation in it) and the replica's own
            // count: steadier than the resident memory, and they say where it went.
            let now = memory_metrics(&http);
            let mib = |v: Option<f64>| v.map_or("unknown".to_owned(), |v| format!("{:.1} MiB", v / 1048576.0));
            println!(
                "  heap in use {}, the replica {}; kept free by the allocator {}",
                mib(now.heap),
                mib(now.replica),
                mib(now.kept_free)
            );
            if let Some(&(earlier, _)) = steps.last() {
                let more = registered - earlier;
                println!(
                    "  per device of the wave: heap in use {}, the replica {}",
                    grown_per_device(counted.heap, now.heap, more),
                    grown_per_device(counted.replica, now.replica, more)
                );
            }
            counted = now;
            steps.push((registered, settled));
        }
    }
    drop(clients);
    drop(serve);
    // The same store, no registrations: what the graph costs in memory once reopened.
    let (serve, pid) = start_serve(seam, &data, http_port, coap_port)?;
    let reopened = rss(pid)?;
    println!(
        "  the server restarted on that store (the graph, no registrations): {:.1} MiB, {:.0} bytes per device; the LwM2M side held {:.0} bytes per device",
        reopened as f64 / 1048576.0,
        per_device(reopened.saturating_sub(before), registered),
        per_device(after.saturating_sub(reopened), registered)
    );
    if !settle.is_zero() {
        // Start-up writes too (every device marked offline), and reads the store: measured
        // again once it has flushed after them and the allocator has given freed pages back, as
        // the storm's server was.
        std::thread::sleep(RESTART_SETTLE);
        let quiet = rss(pid)?;
        println!(
            "  {:.0} s after the restart (start-up writes flushed): {:.1} MiB, {:.0} bytes per device; the LwM2M side held {:.0} bytes per device at steady state",
            RESTART_SETTLE.as_secs_f64(),
            quiet as f64 / 1048576.0,
            per_device(quiet.saturating_sub(before), registered),
            per_device(settled_rss.unwrap_or(after).saturating_sub(quiet), registered)
        );
    }
    drop(serve);
    Ok(Settled {
        devices: registered,
        rss: settled_rss.unwrap_or(after),
        anonymous,
        heap: counted.heap,
        replica: counted.replica,
    })
}

/// `n` simulated devices for `server`, named `PREFIX-0`, `PREFIX-1`, …: a B-L475E-IOT01A board
/// with a temperature sensor and an accelerometer, fast retransmissions, registering for a day
/// (as many fleets do: a registration outlives every wave and settling of a benchmark).
pub(crate) async fn simulated_devices(server: SocketAddr, prefix: &str, n: usize) -> anyhow::Result<Vec<Lwm2mClient>> {
    let mut clients = Vec::with_capacity(n);
    for i in 0..n {
        let mut profile = DeviceProfile::new("STMicroelectronics", "B-L475E-IOT01A", &format!("{prefix}-{i}"));
        profile.sensors = vec![3303, 3313];
        let mut config = ClientConfig::new(&format!("{prefix}-{i}"), server, profile);
        config.params = TransmissionParams::fast(Duration::from_millis(500));
        config.lifetime = 86_400;
        clients.push(Lwm2mClient::start(config).await?);
    }
    Ok(clients)
}

/// Registers `clients`, at most `concurrency` at once: how many succeeded, and how long it took.
pub(crate) async fn storm(clients: &[Lwm2mClient], concurrency: usize) -> (usize, Duration) {
    let gate = Arc::new(tokio::sync::Semaphore::new(concurrency.max(1)));
    let started = Instant::now();
    let mut tasks = Vec::with_capacity(clients.len());
    for client in clients {
        let client = client.clone();
        let gate = gate.clone();
        tasks.push(tokio::spawn(async move {
            let _permit = gate.acquire().await;
            client.register().await.is_ok()
        }));
    }
    let mut ok = 0usize;
    for task in tasks {
        ok += usize::from(task.await.unwrap_or(false));
    }
    (ok, started.elapsed())
}

pub(crate) fn free_tcp_port() -> anyhow::Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

pub(crate) fn free_udp_port() -> anyhow::Result<u16> {
    Ok(std::net::UdpSocket::bind("127.0.0.1:0")?.local_addr()?.port())
}

/// Serves one body at `/pkg`.
struct Package(Arc<[u8]>);

impl Handler for Package {
    fn handle(&self, _request: Request) -> BoxFuture<Response> {
        let body = self.0.clone();
        Box::pin(async move { Response::with_body(Code::Content, content_format::OPAQUE, body) })
    }
}

/// Concurrent block-wise downloads vs a raw UDP loop at the same block size.
pub fn throughput(concurrency: &[usize], size: usize, block: usize, runs: usize) -> anyhow::Result<()> {
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    println!("Package throughput over loopback: {size}-byte package, {block}-byte blocks");
    for &n in concurrency {
        let mut ratios = Vec::new();
        let mut device_ratios = Vec::new();
        let mut seam_rates = Vec::new();
        let mut device_rates = Vec::new();
        let mut raw_rates = Vec::new();
        for _ in 0..runs {
            let seam = runtime.block_on(coap_downloads(n, size, block))?;
            let raw = runtime.block_on(raw_loop(n, size, block))?;
            let device = runtime.block_on(device_downloads(n, size, block))?;
            seam_rates.push(seam);
            raw_rates.push(raw);
            device_rates.push(device);
            ratios.push(seam / raw);
            device_ratios.push(device / raw);
        }
        let (seam, raw, ratio, device, device_ratio) = (
            crate::median(seam_rates),
            crate::median(raw_rates),
            crate::median(ratios),
            crate::median(device_rates),
            crate::median(device_ratios),
        );
        println!(
            "  {n:>5} concurrent downloads: SEAM {:.1} MiB/s, raw UDP loop {:.1} MiB/s: {ratio:.2}× (median of {runs}); SEAM served to device-like clients {:.1} MiB/s: {device_ratio:.2}×",
            seam / 1048576.0,
            raw / 1048576.0,
            device / 1048576.0
        );
    }
    Ok(())
}

/// Bytes per second moved by `n` device-like clients downloading a `size`-byte body from SEAM's
/// endpoint: each a connected socket asking for one block at a time (a confirmable GET with
/// Block2), asking again after 500 ms without an answer, as the raw loop does. SEAM's serving
/// side alone, with a client as lean as a device's CoAP stack.
async fn device_downloads(n: usize, size: usize, block: usize) -> anyhow::Result<f64> {
    if !block.is_power_of_two() || !(16..=1024).contains(&block) {
        bail!("a CoAP block is a power of two from 16 to 1024 bytes, not {block}");
    }
    let (_server, addr, _) = package_server(size, block).await?;
    let sockets = connected_sockets(n, addr).await?;
    let started = Instant::now();
    let mut tasks = Vec::with_capacity(n);
    for (client, socket) in sockets.into_iter().enumerate() {
        tasks.push(tokio::spawn(async move {
            let mut buffer = vec![0u8; 2048];
            let mut moved = 0usize;
            let mut mid = (client as u16).wrapping_mul(64);
            for num in 0.. {
                mid = mid.wrapping_add(1);
                let asked = Block::new(num, false, block);
                let response = ask_block(&socket, block_request(client, mid, asked)?, mid, &mut buffer).await?;
                if response.header.code != coap_lite::MessageClass::Response(Code::Content) {
                    bail!("block {num}: {:?}", response.header.code);
                }
                moved += response.payload.len();
                let answered = response
                    .get_option(coap_lite::CoapOption::Block2)
                    .and_then(|values| values.front())
                    .and_then(|value| Block::decode(value));
                if !answered.is_some_and(|b| b.more) {
                    break;
                }
            }
            anyhow::Ok(moved)
        }));
    }
    let mut moved = 0usize;
    for task in tasks {
        moved += task.await??;
    }
    if moved != n * size {
        bail!("moved {moved} bytes, expected {}", n * size);
    }
    Ok(moved as f64 / started.elapsed().as_secs_f64())
}

/// A device's confirmable GET of block `asked` of `pkg`, as bytes.
fn block_request(client: usize, mid: u16, asked: Block) -> anyhow::Result<Vec<u8>> {
    use coap_lite::{CoapOption, MessageClass, MessageType, Packet};
    let mut request = Packet::new();
    request.header.set_type(MessageType::Confirmable);
    request.header.code = MessageClass::Request(Method::Get);
    request.header.message_id = mid;
    request.set_token((client as u32).to_be_bytes().to_vec());
    request.add_option(CoapOption::UriPath, b"pkg".to_vec());
    request.add_option(CoapOption::Block2, asked.encode());
    Ok(request.to_bytes()?)
}

/// Sends `request` (message ID `mid`) until its answer comes, asking again after 500 ms.
async fn ask_block(
    socket: &UdpSocket,
    request: Vec<u8>,
    mid: u16,
    buffer: &mut [u8],
) -> anyhow::Result<coap_lite::Packet> {
    loop {
        socket.send(&request).await?;
        while let Ok(received) = tokio::time::timeout(Duration::from_millis(500), socket.recv(buffer)).await {
            let response = coap_lite::Packet::from_bytes(&buffer[..received?])?;
            // Else the second answer to a block asked again, which came already.
            if response.header.message_id == mid {
                return Ok(response);
            }
        }
    }
}

/// SEAM's endpoint serving a `size`-byte package at `pkg` in blocks of `block` bytes: the
/// endpoint, its address, and the parameters it was bound with.
async fn package_server(size: usize, block: usize) -> anyhow::Result<(Endpoint, SocketAddr, TransmissionParams)> {
    let body: Arc<[u8]> = (0..size).map(|i| (i % 251) as u8).collect::<Vec<_>>().into();
    let params = TransmissionParams {
        block_size: block,
        ..TransmissionParams::fast(Duration::from_millis(500))
    };
    let server = Endpoint::bind("127.0.0.1:0".parse()?, params.clone(), Arc::new(Package(body))).await?;
    let addr = server.local_addr()?;
    Ok((server, addr, params))
}

/// `n` UDP sockets on loopback, each connected to `addr`.
async fn connected_sockets(n: usize, addr: SocketAddr) -> anyhow::Result<Vec<UdpSocket>> {
    let mut sockets = Vec::with_capacity(n);
    for _ in 0..n {
        let socket = UdpSocket::bind("127.0.0.1:0").await?;
        socket.connect(addr).await?;
        sockets.push(socket);
    }
    Ok(sockets)
}

/// Bytes per second moved by `n` concurrent block-wise GETs of a `size`-byte body.
async fn coap_downloads(n: usize, size: usize, block: usize) -> anyhow::Result<f64> {
    let (_server, addr, params) = package_server(size, block).await?;
    let mut clients = Vec::with_capacity(n);
    for _ in 0..n {
        clients.push(Endpoint::bind("127.0.0.1:0".parse()?, params.clone(), Arc::new(NotFound)).await?);
    }
    let started = Instant::now();
    let mut tasks = Vec::with_capacity(n);
    for client in clients {
        tasks.push(tokio::spawn(async move {
            client
                .request_with_block_size(addr, Request::new(Method::Get, "pkg"), block)
                .await
                .map(|r| r.payload.len())
        }));
    }
    let mut moved = 0usize;
    for task in tasks {
        moved += task.await??;
    }
    if moved != n * size {
        bail!("moved {moved} bytes, expected {}", n * size);
    }
    Ok(moved as f64 / started.elapsed().as_secs_f64())
}

/// Bytes per second moved by `n` clients each asking a raw UDP server for `size / block` blocks,
/// one datagram each way per block: the floor of what any request/response protocol can do here.
async fn raw_loop(n: usize, size: usize, block: usize) -> anyhow::Result<f64> {
    // The same receive buffer SEAM's endpoint asks for, so that both sides drop alike.
    let server = Arc::new(endpoint::bind_udp(
        "127.0.0.1:0".parse()?,
        TransmissionParams::default().recv_buffer,
    )?);
    let addr = server.local_addr()?;
    let serving = server.clone();
    let responder = tokio::spawn(async move {
        let mut buffer = vec![0u8; 64];
        let reply = vec![7u8; block];
        while let Ok((_, peer)) = serving.recv_from(&mut buffer).await {
            let _ = serving.send_to(&reply, peer).await;
        }
    });
    let blocks = size.div_ceil(block);
    let sockets = connected_sockets(n, addr).await?;
    let started = Instant::now();
    let mut tasks = Vec::with_capacity(n);
    for socket in sockets {
        tasks.push(tokio::spawn(async move {
            let mut buffer = vec![0u8; 2048];
            let mut moved = 0usize;
            let mut i = 0u32;
            while (i as usize) < blocks {
                socket.send(&i.to_be_bytes()).await?;
                // A lost datagram is asked for again, as a retransmission would.
                match tokio::time::timeout(Duration::from_millis(500), socket.recv(&mut buffer)).await {
                    Ok(received) => {
                        moved += received?;
                        i += 1;
                    }
                    Err(_) => continue,
                }
            }
            anyhow::Ok(moved)
        }));
    }
    let mut moved = 0usize;
    for task in tasks {
        moved += task.await??;
    }
    let rate = moved.min(n * size) as f64 / started.elapsed().as_secs_f64();
    responder.abort();
    Ok(rate)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The device-like client gets every byte of a body that ends inside a block, and SEAM's
    /// endpoint on both sides does too: each fails on a byte count other than the body's.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn both_kinds_of_client_download_the_whole_body() {
        assert!(device_downloads(4, 5_000, 64).await.unwrap() > 0.0);
        assert!(coap_downloads(4, 5_000, 64).await.unwrap() > 0.0);
        assert!(device_downloads(1, 100, 48).await.is_err(), "48 is no CoAP block size");
    }
}
