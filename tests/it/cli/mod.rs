//! End-to-end tests of the `seam` binary: a real server process on an ephemeral port, real HTTP,
//! real RocksDB stores in temporary directories, and the exit codes of DESIGN §4.

use std::io::Write;
use std::path::Path;
use std::process::{Command, Output};
use std::time::Duration;

use serde_json::Value;

use crate::common::{Server, SEAM};

mod compile;
mod demo;
mod dtls;
mod load;
mod matching;
mod models;
mod rollout;
mod serve;
mod store;

const BOARDS: &str = "SELECT (COUNT(DISTINCT ?b) AS ?n) WHERE { ?b a/rdfs:subClassOf* s3n:SmartSensor }";
const MODELS: &str = "SELECT (COUNT(DISTINCT ?m) AS ?n) WHERE { ?m a/rdfs:subClassOf* nnet:NeuralNetwork }";
const TRIPLES: &str = "SELECT (COUNT(*) AS ?n) WHERE { ?s ?p ?o }";

fn seam(args: &[&str]) -> Output {
    Command::new(SEAM)
        .args(args)
        .env_remove("SEAM_TOKEN")
        .output()
        .expect("run seam")
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn http_count(server: &Server, query: &str) -> u64 {
    server.select(query)[0][0].parse().unwrap()
}

fn cli_count(args: &[&str]) -> u64 {
    let out = seam(args);
    assert!(out.status.success(), "{}", stderr(&out));
    let body: Value = serde_json::from_str(&stdout(&out)).unwrap();
    body["results"]["bindings"][0]["n"]["value"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap()
}

fn write(dir: &Path, name: &str, text: &str) -> String {
    let path = dir.join(name);
    std::fs::File::create(&path)
        .unwrap()
        .write_all(text.as_bytes())
        .unwrap();
    path.to_str().unwrap().to_owned()
}

fn match_json(args: &[&str]) -> Value {
    let out = seam(args);
    assert!(out.status.success(), "{}", stderr(&out));
    serde_json::from_str(&stdout(&out)).unwrap()
}
