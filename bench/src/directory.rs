//! The Thing Description Directory under load: `seam serve`'s application on an embedded
//! (RocksDB) store, TDs registered through `PUT /things/{id}` by concurrent HTTP clients, then
//! `GET /search/sparql` asked a question over all of them. Each TD is plugfest-sized: a
//! device with a dozen affordances, nested object schemas and forms (about 4 KB of JSON).
//!
//! Reported: TDs registered per second (every one checked against the TD JSON Schema, read as
//! JSON-LD and stored in its own graph), the p50 and p95 of a registration, and of the search;
//! and, in the same run, the same TDs through `seam load`'s path in one transaction (the
//! directory's per-request cost over the bulk path).

use std::time::{Duration, Instant};

use seam_registry::app::{Application, Settings};
use serde_json::{json, Value};

/// A plugfest-sized TD, the `n`th.
fn thing(n: usize) -> Value {
    let mut properties = serde_json::Map::new();
    for (i, kind) in ["temperature", "humidity", "pressure", "vibration", "current", "voltage"]
        .iter()
        .enumerate()
    {
        properties.insert(
            (*kind).to_owned(),
            json!({
                "title": format!("{kind} reading"),
                "type": "object",
                "readOnly": true,
                "observable": true,
                "properties": {
                    "value": {"type": "number", "minimum": -1000, "maximum": 1000, "unit": "om:unit"},
                    "timestamp": {"type": "string", "format": "date-time"},
                    "quality": {"type": "integer", "minimum": 0, "maximum": 100}
                },
                "forms": [
                    {"href": format!("coap://device-{n}.plant.example/{kind}"), "contentType": "application/json", "op": ["readproperty", "observeproperty"]},
                    {"href": format!("https://device-{n}.plant.example/api/{kind}/{i}"), "contentType": "application/json"}
                ]
            }),
        );
    }
    json!({
        "@context": "https://www.w3.org/2022/wot/td/v1.1",
        "id": format!("urn:dev:plant:device-{n:05}"),
        "title": format!("Line {} monitor {n}", n % 17),
        "description": "A condition monitor of the plant, as plugfest TDs describe them",
        "version": {"instance": "1.2.0"},
        "securityDefinitions": {"basic_sc": {"scheme": "basic", "in": "header"}, "nosec_sc": {"scheme": "nosec"}},
        "security": ["basic_sc"],
        "properties": properties,
        "actions": {
            "calibrate": {"input": {"type": "object", "properties": {"offset": {"type": "number"}}},
                "forms": [{"href": format!("https://device-{n}.plant.example/api/calibrate")}]},
            "reset": {"safe": false, "idempotent": false, "forms": [{"href": format!("https://device-{n}.plant.example/api/reset")}]}
        },
        "events": {
            "overheating": {"data": {"type": "number"}, "forms": [{"href": format!("coap://device-{n}.plant.example/overheating"), "subprotocol": "cov:observe"}]}
        },
        "links": [{"rel": "service-doc", "href": "https://plant.example/docs/monitor", "type": "text/html"}]
    })
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    sorted[((sorted.len() as f64 * p).ceil() as usize).clamp(1, sorted.len()) - 1]
}

/// Where SEAM's directory keeps its TDs, and which other directory is measured beside it.
pub struct Setup {
    /// A remote SPARQL store (query URL, update URL) instead of the embedded RocksDB store.
    pub store: Option<(String, Option<String>)>,
    /// Another Thing Description Directory's base URL: the same TDs are put there and the same
    /// search asked, in the same run.
    pub peer: Option<String>,
    /// Register the TDs as anonymous ones (`POST /things`, no `id`) instead of `PUT /things/{id}`.
    pub anonymous: bool,
}

/// Runs the benchmark with `tds` TDs, `clients` concurrent writers and `searches` searches.
pub fn run(tds: usize, clients: usize, searches: usize, setup: Setup) -> anyhow::Result<()> {
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    runtime.block_on(measure(tds, clients.max(1), searches.max(1), setup))
}

/// The same search asked of every directory: things of line 7 with a vibration property.
const SEARCH: &str = "PREFIX td: <https://www.w3.org/2019/wot/td#>
        SELECT ?thing ?title WHERE { ?thing a td:Thing ; td:title ?title ; td:hasPropertyAffordance ?p .
          ?p td:name \"vibration\" FILTER(CONTAINS(STR(?title), \"Line 7 \")) } ORDER BY ?thing";

/// Puts every body at `{base}/things/{id}` (or posts it to `{base}/things` when `anonymous`, its
/// `id` taken out) from `clients` concurrent clients: the time in all and each registration's.
async fn register_all(
    client: &reqwest::Client,
    base: &str,
    bodies: &[String],
    clients: usize,
    token: Option<&str>,
    anonymous: bool,
) -> anyhow::Result<(Duration, Vec<Duration>)> {
    let started = Instant::now();
    let per_client = bodies.len().div_ceil(clients);
    let mut tasks = Vec::new();
    for chunk in bodies.chunks(per_client.max(1)) {
        let chunk: Vec<String> = chunk.to_vec();
        let client = client.clone();
        let base = base.to_owned();
        let token = token.map(str::to_owned);
        tasks.push(tokio::spawn(async move {
            let mut took = Vec::with_capacity(chunk.len());
            for body in chunk {
                let t = Instant::now();
                let mut td = serde_json::from_str::<Value>(&body)?;
                let request = if anonymous {
                    if let Some(object) = td.as_object_mut() {
                        object.remove("id");
                    }
                    client.post(format!("{base}/things")).body(td.to_string())
                } else {
                    let id = td["id"].as_str().unwrap_or_default().to_owned();
                    client.put(format!("{base}/things/{id}")).body(body)
                };
                let mut request = request.header("Content-Type", "application/td+json");
                if let Some(token) = &token {
                    request = request.bearer_auth(token);
                }
                let response = request.send().await?;
                let status = response.status();
                anyhow::ensure!(
                    status.is_success(),
                    "registration at {base} failed: {status} {}",
                    response.text().await.unwrap_or_default()
                );
                took.push(t.elapsed());
            }
            Ok::<_, anyhow::Error>(took)
        }));
    }
    let mut registrations = Vec::with_capacity(bodies.len());
    for task in tasks {
        registrations.extend(task.await??);
    }
    let elapsed = started.elapsed();
    registrations.sort();
    Ok((elapsed, registrations))
}

/// Asks [`SEARCH`] of `{base}/search/sparql` `searches` times: each answer's time, and the rows.
async fn search_all(client: &reqwest::Client, base: &str, searches: usize) -> anyhow::Result<(Vec<Duration>, usize)> {
    let mut searched = Vec::with_capacity(searches);
    let mut rows = 0;
    for _ in 0..searches {
        let t = Instant::now();
        let response = client
            .get(format!("{base}/search/sparql"))
            .query(&[("query", SEARCH)])
            .header("Accept", "application/sparql-results+json")
            .send()
            .await?;
        let status = response.status();
        let answer = response.text().await?;
        anyhow::ensure!(status.is_success(), "search at {base} failed: {status} {answer}");
        let answer: Value = serde_json::from_str(&answer)?;
        searched.push(t.elapsed());
        rows = answer["results"]["bindings"].as_array().map_or(0, Vec::len);
    }
    searched.sort();
    Ok((searched, rows))
}

/// Reads `pages` listing pages of 100 TDs from `{base}/things`, spread over the directory: each
/// page's time, sorted.
async fn list_pages(client: &reqwest::Client, base: &str, pages: usize, tds: usize) -> anyhow::Result<Vec<Duration>> {
    let mut took = Vec::with_capacity(pages);
    for i in 0..pages {
        let offset = (i * 100) % tds.max(1);
        let t = Instant::now();
        let response = client
            .get(format!("{base}/things?offset={offset}&limit=100"))
            .send()
            .await?;
        anyhow::ensure!(response.status().is_success(), "listing failed: {}", response.status());
        let page: Value = response.json().await?;
        took.push(t.elapsed());
        anyhow::ensure!(
            page.as_array().is_some_and(|p| !p.is_empty()),
            "an empty listing page at {offset}"
        );
    }
    took.sort();
    Ok(took)
}

fn print_side(
    name: &str,
    route: &str,
    tds: usize,
    (elapsed, registrations): &(Duration, Vec<Duration>),
    (searched, rows): &(Vec<Duration>, usize),
) {
    println!(
        "  {name}: {route} {:.1} TDs/s ({:.2} s in all; one registration p50 {:.1} ms, p95 {:.1} ms); GET /search/sparql ({rows} rows) p50 {:.1} ms, p95 {:.1} ms",
        tds as f64 / elapsed.as_secs_f64(),
        elapsed.as_secs_f64(),
        percentile(registrations, 0.5).as_secs_f64() * 1e3,
        percentile(registrations, 0.95).as_secs_f64() * 1e3,
        percentile(searched, 0.5).as_secs_f64() * 1e3,
        percentile(searched, 0.95).as_secs_f64() * 1e3,
    );
}

async fn measure(tds: usize, clients: usize, searches: usize, setup: Setup) -> anyhow::Result<()> {
    seam_registry::remote::install_tls_provider();
    let dir = tempfile::tempdir()?;
    let settings = match &setup.store {
        None => Settings {
            data: Some(dir.path().join("store")),
            coap: None,
            ..Settings::ephemeral("bench")
        },
        Some((query_url, update_url)) => {
            let mut remote = seam_registry::store::RemoteConfig::new(query_url.clone());
            remote.update_url = update_url.clone();
            Settings {
                store: Some(remote),
                coap: None,
                ..Settings::ephemeral("bench")
            }
        }
    };
    let store_name = setup.store.as_ref().map_or_else(
        || "embedded store (RocksDB)".to_owned(),
        |(url, _)| format!("remote store {url}"),
    );
    let app = Application::build(settings).await?;
    let base = format!("http://{}", app.http_addr());
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let serving = tokio::spawn(app.run_until_stopped(async move {
        let _ = stopped.await;
    }));
    let bodies: Vec<String> = (0..tds).map(|n| thing(n).to_string()).collect();
    let mean_bytes = bodies.iter().map(String::len).sum::<usize>() / tds.max(1);
    let client = reqwest::Client::new();

    let route = if setup.anonymous {
        "POST /things"
    } else {
        "PUT /things/{id}"
    };
    let seam_put = register_all(&client, &base, &bodies, clients, Some("bench"), setup.anonymous).await?;
    let seam_search = search_all(&client, &base, searches).await?;
    let listed = list_pages(&client, &base, 20, tds).await?;
    let _ = stop.send(());
    let _ = serving.await;
    let peer = match &setup.peer {
        Some(peer) => {
            let put = register_all(&client, peer, &bodies, clients, None, setup.anonymous).await?;
            let search = search_all(&client, peer, searches).await?;
            Some((peer.clone(), put, search))
        }
        None => None,
    };
    let (elapsed, registrations) = (seam_put.0, seam_put.1.clone());
    let (searched, rows) = (seam_search.0.clone(), seam_search.1);
    // The same TDs by `seam load`'s path: checked and read the same way, one transaction.
    let bulk_dir = tempfile::tempdir()?;
    let registry = seam_registry::Registry::open(&bulk_dir.path().join("store"))?;
    // Seeded first, as the service's store was: the seed is not the TDs' cost.
    registry.seed_if_empty()?;
    let bulk_started = Instant::now();
    let things: Vec<seam_registry::ingest::td::Thing> = bodies
        .iter()
        .enumerate()
        .map(|(n, b)| seam_registry::ingest::td::read_thing(&format!("td-{n}.jsonld"), b.clone()))
        .collect::<Result<_, _>>()?;
    let read = bulk_started.elapsed();
    registry.load_things(&[], &things)?;
    let bulk = bulk_started.elapsed();
    // The JSON Schema's share of the reading, measured apart.
    let schema_started = Instant::now();
    for b in &bodies {
        let v: Value = serde_json::from_str(b)?;
        let _ = seam_registry::ingest::td::violations(&v)?;
    }
    let schema = schema_started.elapsed();

    println!(
        "Thing Description Directory, {tds} TDs of {mean_bytes} bytes on average (JSON), {clients} concurrent HTTP clients, SEAM on the {store_name}:"
    );
    println!(
        "  {route}: {:.0} TDs/s ({:.2} s in all); one registration p50 {:.1} ms, p95 {:.1} ms",
        tds as f64 / elapsed.as_secs_f64(),
        elapsed.as_secs_f64(),
        percentile(&registrations, 0.5).as_secs_f64() * 1e3,
        percentile(&registrations, 0.95).as_secs_f64() * 1e3
    );
    println!(
        "  GET /things?offset=&limit=100 over {tds} TDs: p50 {:.1} ms, p95 {:.1} ms over {} pages",
        percentile(&listed, 0.5).as_secs_f64() * 1e3,
        percentile(&listed, 0.95).as_secs_f64() * 1e3,
        listed.len()
    );
    println!(
        "  GET /search/sparql (things with a vibration property on line 7, {rows} rows): p50 {:.1} ms, p95 {:.1} ms over {searches}",
        percentile(&searched, 0.5).as_secs_f64() * 1e3,
        percentile(&searched, 0.95).as_secs_f64() * 1e3
    );
    println!(
        "  seam load's path, same TDs, one transaction: {:.0} TDs/s ({:.2} s, of which {:.2} s checking and reading the TDs, {:.2} s of that the TD JSON Schema); the directory at {:.2}x of it",
        tds as f64 / bulk.as_secs_f64(),
        bulk.as_secs_f64(),
        read.as_secs_f64(),
        schema.as_secs_f64(),
        bulk.as_secs_f64() / elapsed.as_secs_f64()
    );
    if let Some((peer, put, search)) = &peer {
        println!("  side by side, same TDs, same search, one after the other:");
        print_side("SEAM", route, tds, &seam_put, &seam_search);
        print_side(peer, route, tds, put, search);
        println!(
            "  SEAM registers {:.2}x the peer's TDs per second; the peer's search p50 is {:.2}x SEAM's",
            put.0.as_secs_f64() / seam_put.0.as_secs_f64(),
            percentile(&search.0, 0.5).as_secs_f64() / percentile(&seam_search.0, 0.5).as_secs_f64().max(1e-9)
        );
        if search.1 != seam_search.1 {
            println!(
                "  the answers differ: SEAM {} rows, the peer {} rows",
                seam_search.1, search.1
            );
        }
    }
    Ok(())
}
