//! A running `seam serve` for end-to-end tests: real process, ephemeral ports, stopped on drop.

#![allow(dead_code)] // each test binary uses a different part

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

/// The `seam` binary under test.
pub const SEAM: &str = env!("CARGO_BIN_EXE_seam");

/// A running `seam serve`, stopped on drop.
pub struct Server {
    pub child: Child,
    /// `http://127.0.0.1:PORT`.
    pub base: String,
    /// The LwM2M/CoAP address (UDP).
    pub coap: std::net::SocketAddr,
    /// The LwM2M over DTLS address (UDP), when it listens there.
    pub coaps: Option<std::net::SocketAddr>,
    /// What it wrote on stderr so far.
    pub log: std::sync::Arc<std::sync::Mutex<Vec<String>>>,
}

impl Server {
    /// Starts `seam serve` on a store in `data`, HTTP and CoAP on ephemeral ports.
    pub fn start(data: &Path, extra: &[&str]) -> Self {
        Self::start_at(data, "127.0.0.1:0", extra)
    }

    /// Starts `seam serve` on a store in `data`, HTTP on an ephemeral port, CoAP on `coap` (a
    /// fixed port lets devices find a restarted server).
    pub fn start_at(data: &Path, coap: &str, extra: &[&str]) -> Self {
        let mut child = Command::new(SEAM)
            .args([
                "serve",
                "--data",
                data.to_str().unwrap(),
                "--http",
                "127.0.0.1:0",
                "--coap",
                coap,
            ])
            .args(extra)
            // DTLS on an ephemeral port too, unless the test names one.
            .args(if extra.contains(&"--coaps") {
                &[][..]
            } else {
                &["--coaps", "127.0.0.1:0"][..]
            })
            .env_remove("SEAM_TOKEN")
            .env("SEAM_LOG", "info")
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start seam serve");
        let stderr = child.stderr.take().unwrap();
        let (tx, rx) = mpsc::channel();
        let log = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let kept = log.clone();
        std::thread::spawn(move || {
            let mut coap = None;
            let mut coaps = None;
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if let Ok(mut kept) = kept.lock() {
                    if kept.len() < 10_000 {
                        kept.push(line.clone());
                    }
                }
                if let Some(rest) = line.split("SEAM LwM2M server on coap://").nth(1) {
                    coap = rest.split_whitespace().next().and_then(|a| a.parse().ok());
                }
                if let Some(rest) = line.split("SEAM LwM2M server on coaps://").nth(1) {
                    coaps = rest.split_whitespace().next().and_then(|a| a.parse().ok());
                }
                if let Some(rest) = line.split("SEAM listening on http://").nth(1) {
                    let addr = rest.split_whitespace().next().unwrap_or_default().to_owned();
                    let _ = tx.send((addr, coap, coaps));
                }
            }
        });
        let (addr, coap, coaps) = rx.recv_timeout(Duration::from_secs(120)).expect("server did not start");
        seam_registry::remote::install_tls_provider();
        Self {
            child,
            base: format!("http://{addr}"),
            coap: coap.unwrap_or_else(|| std::net::SocketAddr::from(([127, 0, 0, 1], 0))),
            coaps,
            log,
        }
    }

    /// The last `n` lines the server logged, and how it ended if it has.
    pub fn log_tail(&self, n: usize) -> String {
        let lines = self.log.lock().map(|l| l.clone()).unwrap_or_default();
        lines[lines.len().saturating_sub(n)..].join("\n")
    }

    /// The SPARQL endpoint.
    pub fn sparql(&self) -> String {
        format!("{}/sparql", self.base)
    }

    /// Runs a SELECT over HTTP and returns its rows, each value as its lexical form or IRI.
    pub fn select(&self, query: &str) -> Vec<Vec<String>> {
        let body: serde_json::Value = reqwest::blocking::Client::new()
            .get(self.sparql())
            .query(&[("query", query)])
            .send()
            .unwrap()
            .json()
            .unwrap();
        let vars: Vec<String> = body["head"]["vars"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_str().unwrap().to_owned())
            .collect();
        body["results"]["bindings"]
            .as_array()
            .unwrap()
            .iter()
            .map(|row| {
                vars.iter()
                    .map(|v| row[v]["value"].as_str().unwrap_or("").to_owned())
                    .collect()
            })
            .collect()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A child process (a simulator, a peer) killed when the test is done with it.
pub struct KillOnDrop(pub Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Waits until `done`, polling every 200 ms; fails the test after `limit`.
pub fn wait_for(what: &str, limit: Duration, mut done: impl FnMut() -> bool) {
    let deadline = std::time::Instant::now() + limit;
    while !done() {
        assert!(std::time::Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(200));
    }
}
