//! Real SPARQL engines SEAM runs on as a remote store, each a private process on loopback with
//! its own data, killed when the handle drops: Oxigraph server (PyPI `oxigraph`, the binary in
//! `SEAM_OXIGRAPH_SERVER`) and Virtuoso Open Source (Debian `virtuoso-opensource-7-bin`,
//! `SEAM_VIRTUOSO` and `SEAM_VIRTUOSO_ISQL`). `scripts/interop-peers.sh` installs both; a
//! missing engine fails the tests that need it, never skips them.

use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use seam_registry::store::{RemoteConfig, RemoteStore};

/// A running engine.
pub struct Peer {
    child: Child,
    /// The SPARQL query endpoint.
    pub query_url: String,
    /// Kept until the engine is gone.
    _dir: tempfile::TempDir,
}

impl Drop for Peer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Peer {
    /// A remote store on this engine.
    pub fn store(&self) -> RemoteStore {
        self.store_with(|_| {})
    }

    /// A remote store on this engine, its configuration adjusted first.
    pub fn store_with(&self, adjust: impl FnOnce(&mut RemoteConfig)) -> RemoteStore {
        let mut config = RemoteConfig::new(&self.query_url);
        config.staleness = Duration::from_millis(200);
        adjust(&mut config);
        RemoteStore::connect(config).expect("the engine answers")
    }

    /// Kills the engine (a store lost mid-run).
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free loopback port")
}

fn program(var: &str, default: &str) -> PathBuf {
    let path = std::env::var_os(var).map_or_else(|| PathBuf::from(default), PathBuf::from);
    let found = if path.components().count() > 1 {
        path.exists()
    } else {
        std::env::var_os("PATH").is_some_and(|paths| std::env::split_paths(&paths).any(|d| d.join(&path).exists()))
    };
    assert!(
        found,
        "{} is not installed (set {var}, or run scripts/interop-peers.sh, which installs it)",
        path.display()
    );
    path
}

fn wait_until_ready(url: &str, child: &mut Child, what: &str) {
    seam_registry::remote::install_tls_provider();
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if let Ok(Some(status)) = child.try_wait() {
            panic!("{what} exited at start: {status}");
        }
        // On a thread of its own: a blocking client may not run (nor drop) inside a test's
        // async runtime.
        let probe = url.to_owned();
        let answered = std::thread::spawn(move || {
            reqwest::blocking::Client::new()
                .post(probe)
                .header("Content-Type", "application/x-www-form-urlencoded")
                .header("Accept", "application/sparql-results+json")
                .body("query=ASK%20%7B%7D")
                .timeout(Duration::from_secs(2))
                .send()
                .is_ok_and(|r| r.status().is_success())
        })
        .join()
        .unwrap_or(false);
        if answered {
            return;
        }
        assert!(Instant::now() < deadline, "{what} did not answer at {url} within 60 s");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// A fresh, empty Oxigraph server in memory.
pub fn oxigraph() -> Peer {
    oxigraph_on(free_port())
}

/// A fresh, empty Oxigraph server in memory on `port` (a store that comes back where it was).
pub fn oxigraph_on(port: u16) -> Peer {
    let binary = program("SEAM_OXIGRAPH_SERVER", "oxigraph");
    let dir = tempfile::tempdir().unwrap();
    let mut child = Command::new(binary)
        .args(["serve", "--bind", &format!("127.0.0.1:{port}")])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("oxigraph serve starts");
    let query_url = format!("http://127.0.0.1:{port}/query");
    wait_until_ready(&query_url, &mut child, "oxigraph serve");
    Peer {
        child,
        query_url,
        _dir: dir,
    }
}

/// A fresh Virtuoso with its own database, `ResultSetMaxRows` as Virtuoso ships it (10,000),
/// SPARQL updates allowed to the endpoint's user.
pub fn virtuoso() -> Peer {
    virtuoso_with(10_000)
}

/// A fresh Virtuoso that cuts answers at `max_rows`.
pub fn virtuoso_with(max_rows: usize) -> Peer {
    virtuoso_limited(max_rows, 60)
}

/// A fresh Virtuoso that cuts answers at `max_rows` and stops a query after `max_seconds`.
pub fn virtuoso_limited(max_rows: usize, max_seconds: u32) -> Peer {
    virtuoso_configured(max_rows, max_seconds, 400)
}

/// A fresh Virtuoso that cuts answers at `max_rows`, stops a query after `max_seconds` and
/// refuses one whose estimated cost is more than `max_estimate_seconds`.
pub fn virtuoso_configured(max_rows: usize, max_seconds: u32, max_estimate_seconds: u32) -> Peer {
    let binary = program("SEAM_VIRTUOSO", "virtuoso-t");
    let isql = program("SEAM_VIRTUOSO_ISQL", "isql-vt");
    let dir = tempfile::tempdir().unwrap();
    let (sql_port, http_port) = (free_port(), free_port());
    let d = dir.path().display();
    let ini = format!(
        "[Database]\nDatabaseFile = {d}/virtuoso.db\nErrorLogFile = {d}/virtuoso.log\nLockFile = {d}/virtuoso.lck\n\
         TransactionFile = {d}/virtuoso.trx\nxa_persistent_file = {d}/virtuoso.pxa\nErrorLogLevel = 7\nFileExtend = 200\n\
         MaxCheckpointRemap = 2000\nStriping = 0\nTempStorage = TempDatabase\n\n\
         [TempDatabase]\nDatabaseFile = {d}/virtuoso-temp.db\nTransactionFile = {d}/virtuoso-temp.trx\n\
         MaxCheckpointRemap = 2000\nStriping = 0\n\n\
         [Parameters]\nServerPort = 127.0.0.1:{sql_port}\nDisableUnixSocket = 1\nServerThreads = 10\n\
         CheckpointInterval = 60\nNumberOfBuffers = 10000\nMaxDirtyBuffers = 6000\nDirsAllowed = .\nCaseMode = 2\n\n\
         [HTTPServer]\nServerPort = 127.0.0.1:{http_port}\nServerThreads = 10\nMaxClientConnections = 10\n\n\
         [SPARQL]\nResultSetMaxRows = {max_rows}\nMaxQueryCostEstimationTime = {max_estimate_seconds}\nMaxQueryExecutionTime = {max_seconds}\n"
    );
    std::fs::write(dir.path().join("virtuoso.ini"), &ini).unwrap();
    let mut child = Command::new(binary)
        .args(["+foreground", "+configfile", "virtuoso.ini"])
        .current_dir(dir.path())
        // Cargo's environment (its library path among it) is no business of the engine's.
        .env_clear()
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("virtuoso-t starts");
    let query_url = format!("http://127.0.0.1:{http_port}/sparql");
    let log = dir.path().join("virtuoso.log");
    // Connections while Virtuoso builds its database slow that down tenfold: wait for its log to
    // say it is online before asking anything.
    let deadline = Instant::now() + Duration::from_secs(60);
    while !std::fs::read_to_string(&log).is_ok_and(|l| l.contains("Server online")) && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(100));
    }
    let ready = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        wait_until_ready(&query_url, &mut child, "virtuoso-t");
    }));
    if ready.is_err() {
        let _ = child.kill();
        panic!(
            "virtuoso-t did not start; its log:\n{}",
            std::fs::read_to_string(&log).unwrap_or_default()
        );
    }
    // The endpoint's user may update; every graph is writable to it.
    let granted = Command::new(isql)
        .args([
            &sql_port.to_string(),
            "dba",
            "dba",
            "exec=GRANT SPARQL_UPDATE TO \"SPARQL\"; DB.DBA.RDF_DEFAULT_USER_PERMS_SET ('nobody', 7);",
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .expect("isql-vt runs");
    assert!(granted.success(), "granting SPARQL_UPDATE failed");
    Peer {
        child,
        query_url,
        _dir: dir,
    }
}

/// An HTTP intermediary in front of an engine that answers `500` to the `refuse`-th update
/// request (counted from 1) instead of forwarding it: a store that refuses a write halfway.
/// Every other request is forwarded as it came; each connection carries one request.
pub struct Refusing {
    /// The query endpoint, through the intermediary.
    pub query_url: String,
}

/// Starts a [`Refusing`] intermediary in front of `peer`.
pub fn refusing(peer: &Peer, refuse: usize) -> Refusing {
    use std::io::{BufRead, BufReader, Read, Write};
    use std::sync::atomic::Ordering;
    seam_registry::remote::install_tls_provider();
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let target = reqwest::Url::parse(&peer.query_url).unwrap();
    let origin =
        format!("{}://{}", target.scheme(), target.host_str().unwrap()) + &format!(":{}", target.port().unwrap());
    let counter = std::sync::atomic::AtomicUsize::new(0);
    std::thread::spawn(move || {
        let client = reqwest::blocking::Client::new();
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { return };
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            let mut request_line = String::new();
            if reader.read_line(&mut request_line).is_err() {
                continue;
            }
            let mut headers = Vec::new();
            let mut length = 0;
            loop {
                let mut line = String::new();
                if reader.read_line(&mut line).is_err() || line == "\r\n" || line.is_empty() {
                    break;
                }
                if let Some((name, value)) = line.trim_end().split_once(':') {
                    if name.eq_ignore_ascii_case("content-length") {
                        length = value.trim().parse().unwrap_or(0);
                    }
                    if !["host", "connection", "content-length"]
                        .iter()
                        .any(|h| name.eq_ignore_ascii_case(h))
                    {
                        headers.push((name.to_owned(), value.trim().to_owned()));
                    }
                }
            }
            let mut body = vec![0; length];
            if reader.read_exact(&mut body).is_err() {
                continue;
            }
            let path = request_line.split_whitespace().nth(1).unwrap_or("/").to_owned();
            let is_update = body.starts_with(b"update=");
            if is_update && counter.fetch_add(1, Ordering::SeqCst) + 1 == refuse {
                let text = "refused by the test's intermediary";
                let _ = write!(
                    stream,
                    "HTTP/1.1 500 Internal Server Error\r\nContent-Type: text/plain\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{text}",
                    text.len()
                );
                continue;
            }
            let mut forward = client.post(format!("{origin}{path}")).body(body);
            for (name, value) in &headers {
                forward = forward.header(name.as_str(), value.as_str());
            }
            let Ok(response) = forward.send() else { continue };
            let status = response.status();
            let content_type = response
                .headers()
                .get("content-type")
                .and_then(|v| v.to_str().ok())
                .unwrap_or("text/plain")
                .to_owned();
            let server = response
                .headers()
                .get("server")
                .and_then(|v| v.to_str().ok())
                .unwrap_or("")
                .to_owned();
            let bytes = response.bytes().unwrap_or_default();
            let _ = write!(
                stream,
                "HTTP/1.1 {} {}\r\nContent-Type: {content_type}\r\nServer: {server}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                status.as_u16(),
                status.canonical_reason().unwrap_or(""),
                bytes.len()
            );
            let _ = stream.write_all(&bytes);
        }
    });
    Refusing {
        query_url: format!("http://{addr}{}", target.path()),
    }
}
