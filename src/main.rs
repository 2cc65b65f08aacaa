//! `seam`: the command-line interface. Parses arguments, calls the crates, prints.
//!
//! Exit codes (DESIGN §4): 0 success, 1 runtime failure, 2 usage error (clap), 3 invalid input.

mod compile_cmd;

use std::io::{IsTerminal as _, Write as _};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context as _;
use clap::{Parser, Subcommand, ValueEnum};
use seam_registry::answer::{GraphFormat, ResultsFormat};
use seam_registry::http::{self, ServiceConfig};
use seam_registry::ingest::{self, seloc};
use seam_registry::live::Lwm2mBridge;
use seam_registry::lwm2m::server::{Lwm2mServer, ServerConfig};
use seam_registry::matching::{self, MatchOptions, MatchReport, Via};
use seam_registry::remote::SparqlEndpoint;
use seam_registry::{IngestError, QueryAnswer, QueryError, QueryLimits, Registry, StoreError};

#[derive(Parser)]
#[command(
    name = "seam",
    version,
    about = "SEAM: which TinyML model runs on which device, and why — from a knowledge graph"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the service: SPARQL endpoint over HTTP on an embedded store (seeded when empty).
    #[command(
        after_help = "Example:\n  seam serve --data ./seam-data --token \"$(openssl rand -hex 16)\"\n\n\
        HTTP on 127.0.0.1:8080 (SPARQL at /sparql, GraphQL at /graphql), LwM2M on coap://127.0.0.1:5683."
    )]
    Serve(ServeArgs),
    /// Load RDF files or models into the store: validated, all or nothing.
    #[command(
        after_help = "Formats, by extension: Turtle (.ttl), N-Triples (.nt), N-Quads (.nq), TriG (.trig), \
        RDF/XML (.rdf, .owl, .xml), JSON-LD and WoT Thing Descriptions (.jsonld, .json), \
        ONNX (.onnx) and TFLite (.tflite) models (measured; give --task).\n\n\
        Examples:\n  seam load my-boards.ttl thing-description.jsonld\n  \
        seam load kws.onnx --task keyword-spotting --accuracy 0.9 --input-sensor microphone\n  \
        seam load --from seloc-ml ../shared/interop/seloc-ml"
    )]
    Load(LoadArgs),
    /// Run a SPARQL query on the store or on a SPARQL endpoint.
    #[command(
        after_help = "SEAM's prefixes (seam:, cat:, dev:, nnet:, s3n:, sosa:, td:, schema:, prov:, ...) are \
        predeclared. Output: --format table (people), json, csv, tsv or xml.\n\n\
        Examples:\n  seam query 'SELECT ?b ?ram WHERE { ?b a seam:Board ; seam:ramBytes ?ram }'\n  \
        seam query -f queries/compatible-models.rq --endpoint http://127.0.0.1:8080 --format csv"
    )]
    Query(QueryArgs),
    /// Rank the models that run on a device; with --explain, say why the others do not.
    #[command(
        after_help = "DEVICE is a short name (line3-acoustic-02) or an IRI (dev:line3-acoustic-02); or a board \
        type, by its catalog name (arduino-nano-33-ble-sense) or IRI (cat:arduino-nano-33-ble-sense), judged on \
        its datasheet figures with nothing reserved: \"what runs on this board?\"\n\n\
        Examples:\n  seam match line3-acoustic-02 --explain\n  seam match arduino-nano-33-ble-sense\n  \
        seam match line3-acoustic-02 --json --latency-budget 50 --endpoint http://127.0.0.1:8080"
    )]
    Match(MatchArgs),
    /// Deliver a package to devices over LwM2M through a running service, and report each outcome.
    #[command(
        after_help = "PACKAGE is a .seampkg from `seam compile` (verified before it is sent) or any file \
        the devices' Object 9 or 5 installs.\n\n\
        Example:\n  seam deploy out/kws.seampkg --to line3-acoustic-02 --endpoint http://127.0.0.1:8080 --token \"$SEAM_TOKEN\""
    )]
    Deploy(DeployArgs),
    /// Measure an ONNX or TFLite model: params, MACs, weight and activation memory, per-runtime estimates.
    #[command(after_help = "Formats: ONNX (.onnx) and TFLite (.tflite).\n\n\
        Example:\n  seam analyze ../shared/interop/seloc-ml/models/Hello_World.tflite --json")]
    Analyze(AnalyzeArgs),
    /// Compile a model into a signed package: for a --target device (backend and fit from the
    /// graph) or with a --backend; the package, its files and manifest land in --out.
    #[command(
        after_help = "Formats: ONNX (.onnx); TFLite (.tflite) with the tflite-micro and c-array backends, \
        without transforms.\n\n\
        Examples:\n  seam compile kws.onnx --target line3-acoustic-02 --out out\n  \
        seam compile kws.onnx --backend onnx-int8 --quantize int8 --out out\n  \
        seam compile --list-backends\n\n\
        Exit codes: 0 built (and fits), 3 invalid model or failed validation, 4 cannot run on or does not \
        fit the target, 1 anything else (a compiler that is not installed, say)."
    )]
    Compile(compile_cmd::CompileArgs),
}

#[derive(clap::Args)]
struct AnalyzeArgs {
    /// The model file (ONNX or TFLite).
    model: PathBuf,
    /// Print the JSON report (stdout only).
    #[arg(long)]
    json: bool,
}

#[derive(clap::Args)]
struct DeployArgs {
    /// The package: a SEAM package from `seam compile` (`.seampkg`, verified before it is sent), or
    /// any file a device's Object 9 or 5 installs.
    package: PathBuf,
    /// Devices (short names = LwM2M endpoint names) to deliver to.
    #[arg(long = "to", num_args = 1.., required_unless_present = "select", conflicts_with = "select")]
    to: Vec<String>,
    /// A SPARQL SELECT whose first column names the devices (IRIs or short names), asked of the service.
    #[arg(long = "where", value_name = "QUERY")]
    select: Option<String>,
    /// Deliver to this percentage of the devices first, and to the rest only if all of those installed.
    #[arg(long, value_name = "PCT")]
    canary: Option<f64>,
    /// Write the package into the device (Block1) instead of letting it pull the Package URI.
    #[arg(long)]
    push: bool,
    /// The running SEAM service.
    #[arg(long, default_value = "http://127.0.0.1:8080")]
    endpoint: String,
    /// Bearer token of the service.
    #[arg(long, env = "SEAM_TOKEN", hide_env_values = true)]
    token: Option<String>,
    /// Print the JSON report (stdout only).
    #[arg(long)]
    json: bool,
}

#[derive(clap::Args)]
struct MatchArgs {
    /// The device (its IRI, a prefixed name such as dev:line3-vibration-01, or its short name), or a
    /// board type (its IRI or catalog name, such as arduino-nano-33-ble-sense).
    #[arg(value_name = "DEVICE|BOARD")]
    device: String,
    /// Also list every rejected model with its reasons.
    #[arg(long)]
    explain: bool,
    /// Print the JSON report (stdout only).
    #[arg(long)]
    json: bool,
    /// Latency budget in milliseconds; models estimated slower are rejected.
    #[arg(long)]
    latency_budget: Option<f64>,
    /// RAM headroom over activations and runtime overhead, in percent.
    #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u64).range(0..=1000))]
    headroom: u64,
    /// Store directory.
    #[arg(long, default_value = "./seam-data", conflicts_with = "endpoint")]
    data: PathBuf,
    /// A running SEAM server (e.g. http://127.0.0.1:8080) instead of a store directory.
    #[arg(long)]
    endpoint: Option<String>,
}

#[derive(clap::Args)]
struct ServeArgs {
    /// Store directory.
    #[arg(long, default_value = "./seam-data")]
    data: PathBuf,
    /// HTTP listen address.
    #[arg(long, default_value = "127.0.0.1:8080")]
    http: String,
    /// Bearer token required for writes (without one, writes are refused).
    #[arg(long, env = "SEAM_TOKEN", hide_env_values = true)]
    token: Option<String>,
    /// Query time limit, in seconds.
    #[arg(long, default_value_t = 30.0)]
    query_timeout: f64,
    /// Largest number of rows a query may return.
    #[arg(long, default_value_t = 1_000_000)]
    max_results: usize,
    /// Largest request body, in bytes.
    #[arg(long, default_value_t = 8 * 1024 * 1024)]
    max_body: usize,
    /// LwM2M/CoAP listen address (UDP), or `off`.
    #[arg(long, default_value = "127.0.0.1:5683")]
    coap: String,
    /// How devices reach the LwM2M server, for Package URIs (default: coap://<bound address>).
    #[arg(long)]
    coap_public: Option<String>,
    /// How long one delivery may take, from the first write to the device's final result, in
    /// seconds; past it the delivery fails and says what the device last reported.
    #[arg(long, default_value_t = 600, value_parser = clap::value_parser!(u64).range(1..=86_400))]
    delivery_timeout: u64,
}

#[derive(Clone, Copy, ValueEnum)]
enum Source {
    /// SeLoC-ML's published graph (a folder with description/ and schema/).
    SelocMl,
}

#[derive(clap::Args)]
struct LoadArgs {
    /// Files to load (or, with --from, the folder to import).
    #[arg(required = true)]
    files: Vec<PathBuf>,
    /// Import a third-party graph, repairing its known defects.
    #[arg(long, value_enum)]
    from: Option<Source>,
    /// Store directory.
    #[arg(long, default_value = "./seam-data")]
    data: PathBuf,
    /// For ONNX files: the task (a catalog name such as keyword-spotting, or an IRI).
    #[arg(long)]
    task: Option<String>,
    /// For ONNX files: top-1 accuracy (a fraction or a percentage).
    #[arg(long)]
    accuracy: Option<f64>,
    /// For ONNX files: the dataset the accuracy was measured on.
    #[arg(long)]
    dataset: Option<String>,
    /// For ONNX files: a sensor kind the input comes from (repeatable), e.g. microphone.
    #[arg(long = "input-sensor")]
    input_sensors: Vec<String>,
}

#[derive(Clone, Copy, ValueEnum, PartialEq, Eq)]
enum OutputFormat {
    /// An aligned table for people.
    Table,
    /// SPARQL 1.1 Query Results JSON (JSON-LD for graphs).
    Json,
    /// SPARQL 1.1 Query Results CSV.
    Csv,
    /// SPARQL 1.1 Query Results TSV.
    Tsv,
    /// SPARQL Query Results XML (RDF/XML for graphs).
    Xml,
    /// Turtle (graphs only).
    Turtle,
}

#[derive(clap::Args)]
struct QueryArgs {
    /// The SPARQL query (SEAM's prefixes, e.g. seam:, nnet:, s3n:, are predeclared).
    #[arg(required_unless_present = "file", conflicts_with = "file")]
    sparql: Option<String>,
    /// Read the query from a file.
    #[arg(short = 'f', long = "file")]
    file: Option<PathBuf>,
    /// Store directory.
    #[arg(long, default_value = "./seam-data", conflicts_with = "endpoint")]
    data: PathBuf,
    /// A running SEAM service's base URL (e.g. http://127.0.0.1:8080), or any SPARQL 1.1 endpoint's
    /// query URL (e.g. http://fuseki:3030/ds/query), instead of a store directory. A URL with no
    /// path is a SEAM service: its /sparql is asked.
    #[arg(long)]
    endpoint: Option<String>,
    /// Output format.
    #[arg(long, value_enum, default_value = "table")]
    format: OutputFormat,
    /// Time limit, in seconds.
    #[arg(long, default_value_t = 30.0)]
    timeout: f64,
}

/// A failure, with the exit code it maps to.
pub(crate) enum Failure {
    Runtime(anyhow::Error),
    Invalid(anyhow::Error),
    /// `seam compile --target`: the model cannot run on the device (already reported).
    DoesNotFit,
}

impl From<anyhow::Error> for Failure {
    fn from(e: anyhow::Error) -> Self {
        let invalid = e.chain().any(|c| {
            matches!(
                c.downcast_ref::<IngestError>(),
                Some(IngestError::Invalid(_) | IngestError::UnknownFormat { .. })
            ) || matches!(
                c.downcast_ref::<QueryError>(),
                Some(QueryError::Syntax { .. } | QueryError::TooComplex(_))
            ) || c
                .downcast_ref::<seam_registry::bridge::BridgeError>()
                .is_some_and(|e| !matches!(e, seam_registry::bridge::BridgeError::ToolUnavailable { .. }))
        });
        if invalid {
            Self::Invalid(e)
        } else {
            Self::Runtime(e)
        }
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let default_level = if matches!(cli.command, Command::Serve(_)) {
        "info"
    } else {
        "warn"
    };
    let filter = tracing_subscriber::EnvFilter::try_from_env("SEAM_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default_level));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .init();

    let result = match cli.command {
        Command::Serve(args) => serve(args).map(|()| 0),
        Command::Load(args) => load(args).map(|()| 0),
        Command::Query(args) => query(args).map(|()| 0),
        Command::Match(args) => match_device(args).map(|()| 0),
        Command::Deploy(args) => deploy(args).map(|()| 0),
        Command::Analyze(args) => analyze(args).map(|()| 0),
        Command::Compile(args) => compile_cmd::compile(args),
    };
    match result {
        Ok(code) => ExitCode::from(code),
        Err(Failure::DoesNotFit) => ExitCode::from(compile_cmd::DOES_NOT_FIT),
        Err(Failure::Runtime(e)) => {
            report(&e);
            ExitCode::from(1)
        }
        Err(Failure::Invalid(e)) => {
            report(&e);
            ExitCode::from(3)
        }
    }
}

/// One sentence, then the detail: every diagnostic of an invalid input, the cause chain otherwise.
fn report(error: &anyhow::Error) {
    let mut stderr = std::io::stderr().lock();
    let _ = writeln!(stderr, "error: {error}");
    if let Some(ingest) = error.chain().find_map(|c| c.downcast_ref::<IngestError>()) {
        // Every problem up to a screenful; a count for the rest.
        const SHOWN: usize = 50;
        let diagnostics = ingest.diagnostics();
        if diagnostics.len() > 1 {
            for d in diagnostics.iter().take(SHOWN) {
                let _ = writeln!(stderr, "  {d}");
            }
            if diagnostics.len() > SHOWN {
                let _ = writeln!(stderr, "  … and {} more", diagnostics.len() - SHOWN);
            }
        }
    }
    for cause in error.chain().skip(1) {
        let _ = writeln!(stderr, "  caused by: {cause}");
    }
    if let Some(StoreError::Locked { .. }) = error.chain().find_map(|c| c.downcast_ref::<StoreError>()) {
        let _ = writeln!(
            stderr,
            "  hint: ask the running server instead, e.g. `seam query --endpoint http://127.0.0.1:8080 '...'`"
        );
    }
}

pub(crate) fn open(data: &std::path::Path) -> anyhow::Result<Registry> {
    Ok(Registry::open(data)?)
}

fn serve(args: ServeArgs) -> Result<(), Failure> {
    let registry = open(&args.data)?;
    if let Some(report) = registry.seed_if_empty().context("seeding the empty store failed")? {
        tracing::info!(
            quads = report.store_size,
            "seeded an empty store with the ontology and the example catalog"
        );
    }
    let mut config = ServiceConfig {
        token: args.token.filter(|t| !t.is_empty()),
        limits: QueryLimits {
            timeout: Duration::from_secs_f64(args.query_timeout.max(0.001)),
            max_rows: args.max_results,
            ..QueryLimits::default()
        },
        max_body_bytes: args.max_body,
        workers: 0,
        lwm2m: None,
    };
    if config.token.is_none() {
        tracing::warn!("no write token configured (--token or SEAM_TOKEN): updates will be refused");
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    runtime.block_on(async move {
        if args.coap != "off" {
            let coap: std::net::SocketAddr = args
                .coap
                .parse()
                .with_context(|| format!("--coap {:?} is not an address like 127.0.0.1:5683", args.coap))?;
            let lwm2m_config = ServerConfig {
                public_base: args.coap_public.clone(),
                delivery_timeout: Duration::from_secs(args.delivery_timeout),
                ..ServerConfig::default()
            };
            let (server, events) = Lwm2mServer::bind(coap, lwm2m_config)
                .await
                .with_context(|| format!("cannot listen for LwM2M on {coap}"))?;
            let local = server.local_addr()?;
            let bridge = Lwm2mBridge::start(registry.clone(), server, events, Some(args.data.join("packages")))
                .context("cannot open the package store")?;
            tracing::info!("SEAM LwM2M server on coap://{local} (registration at /rd, packages at /pkg)");
            config.lwm2m = Some(bridge);
        }
        let (server, addr) = http::bind(registry.clone(), config, &args.http)
            .with_context(|| format!("cannot listen on {}", args.http))?;
        // The handlers are installed before the service says it is ready: a SIGTERM sent the
        // moment it is listening must stop it cleanly, not kill it.
        let shutdown = shutdown_signal()?;
        tracing::info!("SEAM listening on http://{addr} (SPARQL at http://{addr}/sparql)");
        let handle = server.handle();
        let stopping = registry.clone();
        tokio::spawn(async move {
            shutdown.await;
            tracing::info!("shutting down");
            // Requests in flight finish, but a runaway query or update is cancelled rather than
            // waited for (its request answers 503).
            stopping.stop_evaluations();
            handle.stop(true).await;
        });
        server.await.context("the HTTP server failed")?;
        registry.flush().context("flushing the store failed")?;
        Ok::<(), anyhow::Error>(())
    })?;
    // Deliveries still waiting on devices and the LwM2M sockets end here; the store is flushed.
    runtime.shutdown_timeout(Duration::from_secs(5));
    Ok(())
}

/// The SPARQL query URL of `--endpoint`: a URL without a path names a SEAM service, whose
/// protocol endpoint is `/sparql`; any other URL is a SPARQL endpoint as it is.
fn sparql_url(endpoint: &str) -> String {
    let trimmed = endpoint.trim_end_matches('/');
    let path_start = trimmed.find("://").map_or(0, |i| i + 3);
    if trimmed[path_start..].contains('/') {
        endpoint.to_owned()
    } else {
        format!("{trimmed}/sparql")
    }
}

/// Ctrl-C, or SIGTERM (what service managers send): finish the requests in flight, then stop.
/// The signal handlers are installed when this is called, not when the future is first polled.
fn shutdown_signal() -> anyhow::Result<impl std::future::Future<Output = ()>> {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        let mut term = signal(SignalKind::terminate()).context("cannot handle SIGTERM")?;
        let mut interrupt = signal(SignalKind::interrupt()).context("cannot handle SIGINT")?;
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

/// The model format a file's extension names (`onnx` or `tflite`), if any.
fn model_format(path: &std::path::Path) -> Option<&'static str> {
    let ext = path.extension().and_then(|e| e.to_str())?;
    ["onnx", "tflite"].into_iter().find(|f| ext.eq_ignore_ascii_case(f))
}

fn load(args: LoadArgs) -> Result<(), Failure> {
    // Parse everything before opening the store: a bad file costs no lock and no write.
    let mut models = Vec::new();
    let (docs, graph) = match args.from {
        Some(Source::SelocMl) => {
            let [dir] = args.files.as_slice() else {
                return Err(Failure::Runtime(anyhow::anyhow!(
                    "--from seloc-ml takes exactly one folder"
                )));
            };
            let import = seloc::import(dir).map_err(anyhow::Error::from)?;
            for repair in &import.repairs {
                eprintln!("repaired {repair}");
            }
            (import.documents, Some(seloc::GRAPH))
        }
        None => {
            let facts = ingest::onnx::ModelFacts {
                task: args.task.clone(),
                accuracy: args.accuracy,
                dataset: args.dataset.clone(),
                input_sensors: args.input_sensors.clone(),
            };
            let mut docs = Vec::with_capacity(args.files.len());
            for file in &args.files {
                if let Some(format) = model_format(file) {
                    // Measured by the compiler bridge, described, and kept content-addressed.
                    let analysis = seam_registry::bridge::analysis::analyze_path(file).map_err(anyhow::Error::from)?;
                    docs.push(ingest::onnx::describe(file, &analysis, &facts).map_err(anyhow::Error::from)?);
                    models.push((file.clone(), analysis.sha256, format));
                } else {
                    docs.push(ingest::read_file(file).map_err(anyhow::Error::from)?);
                }
            }
            (docs, None)
        }
    };
    let registry = open(&args.data)?;
    // A store created by `load` gets the ontology and catalog too, as `serve` would give it
    // (validation and queries rely on the class hierarchy), in the same all-or-nothing step.
    let (report, seeded) = match graph {
        Some(g) => registry
            .replace_graph_seeding(&oxigraph_named_node(g)?, &docs)
            .map_err(anyhow::Error::from)?,
        None => registry.load_seeding(docs).map_err(anyhow::Error::from)?,
    };
    if seeded {
        eprintln!("seeded the new store with the ontology and the example catalog");
    }
    // The graph has the models; keep their files beside the store, content-addressed.
    for (file, sha, format) in &models {
        let dir = args.data.join("models");
        std::fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
        let target = dir.join(format!("{sha}.{format}"));
        if !target.exists() {
            std::fs::copy(file, &target).with_context(|| format!("cannot keep {}", file.display()))?;
        }
        println!("model {} → {}", file.display(), ingest::onnx::model_iri(sha));
    }
    println!(
        "loaded {} document(s), {} triples read; the store now holds {} quads",
        report.documents, report.quads_read, report.store_size
    );
    Ok(())
}

fn oxigraph_named_node(iri: &str) -> anyhow::Result<seam_registry::store::NamedNode> {
    seam_registry::store::NamedNode::new(iri).map_err(|e| anyhow::anyhow!("invalid graph IRI {iri}: {e}"))
}

fn query(args: QueryArgs) -> Result<(), Failure> {
    let sparql = match (&args.sparql, &args.file) {
        (Some(q), _) => q.clone(),
        (None, Some(f)) => std::fs::read_to_string(f).with_context(|| format!("cannot read {}", f.display()))?,
        (None, None) => return Err(Failure::Runtime(anyhow::anyhow!("no query given"))),
    };
    let timeout = Duration::from_secs_f64(args.timeout.max(0.001));
    let answer = match &args.endpoint {
        Some(url) => {
            let endpoint = SparqlEndpoint::new(&sparql_url(url), timeout).map_err(anyhow::Error::from)?;
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .context("cannot start the async runtime")?;
            // Remote endpoints do not know SEAM's prefixes: declare them in the text.
            let text = format!("{}{}", seam_registry::vocab::sparql_prefixes(), sparql);
            runtime.block_on(endpoint.query(&text)).map_err(anyhow::Error::from)?
        }
        None => {
            if !args.data.exists() {
                return Err(Failure::Runtime(anyhow::anyhow!(
                    "no store at {} (load data with `seam load`, start `seam serve`, or pass --data / --endpoint)",
                    args.data.display()
                )));
            }
            let registry = open(&args.data)?;
            registry
                .query(
                    &sparql,
                    &QueryLimits {
                        timeout,
                        max_rows: usize::MAX,
                        max_result_bytes: usize::MAX,
                        ..QueryLimits::default()
                    },
                )
                .map_err(anyhow::Error::from)?
        }
    };
    print_answer(&answer, args.format).context("cannot write the result")?;
    Ok(())
}

fn match_device(args: MatchArgs) -> Result<(), Failure> {
    if args.latency_budget.is_some_and(|b| !(b.is_finite() && b > 0.0)) {
        return Err(Failure::Invalid(anyhow::anyhow!(
            "--latency-budget must be a positive number of milliseconds"
        )));
    }
    let opts = MatchOptions {
        headroom_pct: args.headroom,
        latency_budget_s: args.latency_budget.map(|ms| ms / 1e3),
    };
    let report = match &args.endpoint {
        Some(base) => remote_match(base, &args)?,
        None => {
            if !args.data.exists() {
                return Err(Failure::Runtime(anyhow::anyhow!(
                    "no store at {} (start `seam serve` once, or pass --data / --endpoint)",
                    args.data.display()
                )));
            }
            let registry = open(&args.data)?;
            let fleet = registry.fleet().map_err(anyhow::Error::from)?;
            let key = seam_registry::vocab::expand(&args.device);
            matching::match_device(&fleet, &key, &opts, args.explain).ok_or_else(|| {
                Failure::Invalid(anyhow::anyhow!(
                    "no device or board {} in the registry (give a device's IRI or short name, or a board's IRI or catalog name)",
                    args.device
                ))
            })?
        }
    };
    let mut out = std::io::stdout().lock();
    if args.json {
        serde_json::to_writer_pretty(&mut out, &report).context("cannot write JSON")?;
        writeln!(out).context("cannot write")?;
    } else {
        out.write_all(render_match(&report).as_bytes())
            .context("cannot write")?;
    }
    Ok(())
}

fn remote_match(base: &str, args: &MatchArgs) -> Result<MatchReport, Failure> {
    let mut url = format!(
        "{}/match/{}?explain={}&headroomPct={}",
        base.trim_end_matches('/'),
        percent_encode(&args.device),
        args.explain,
        args.headroom
    );
    if let Some(ms) = args.latency_budget {
        url.push_str(&format!("&latencyBudgetMs={ms}"));
    }
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    let body = runtime
        .block_on(seam_registry::remote::get_json(&url, Duration::from_secs(60)))
        .map_err(anyhow::Error::from)?;
    Ok(serde_json::from_value(body).context("the server's match report is malformed")?)
}

fn percent_encode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// The people's view of a match: a ranked table, then the rejected models and their reasons.
fn render_match(report: &MatchReport) -> String {
    use seam_registry::answer::compact_iri;
    let mut out = if report.board {
        format!(
            "Models for the board {} (its datasheet memory, nothing reserved for firmware)\n\n",
            compact_iri(&report.device)
        )
    } else {
        format!("Models for {}\n\n", compact_iri(&report.device))
    };
    let header = [
        "#",
        "model",
        "task",
        "accuracy",
        "est. latency",
        "RAM",
        "flash",
        "via",
        "runtime",
    ];
    let rows: Vec<Vec<String>> = report
        .compatible
        .iter()
        .enumerate()
        .map(|(i, c)| {
            vec![
                (i + 1).to_string(),
                c.name.clone(),
                c.task.clone().unwrap_or_default(),
                c.accuracy.map_or("–".into(), |a| format!("{:.1}%", a * 100.0)),
                c.estimated_latency_ms.map_or("–".into(), |l| format!("{l:.2} ms")),
                format!(
                    "{} ({})",
                    human_bytes(c.ram_bytes),
                    percent(c.ram_bytes, report.free_ram)
                ),
                format!(
                    "{} ({})",
                    human_bytes(c.flash_bytes),
                    percent(c.flash_bytes, report.free_flash)
                ),
                match c.via {
                    Via::AsIs => "as-is".into(),
                    Via::Int8 => "int8".into(),
                },
                compact_iri(&c.runtime),
            ]
        })
        .collect();
    out.push_str(&table(&header, &rows));
    if report.compatible.is_empty() {
        out.push_str("no model in the registry runs on this device\n");
    }
    // What every latency shown assumes, once per distinct assumption.
    let mut assumptions: Vec<String> = Vec::new();
    for c in &report.compatible {
        let line = match &c.latency_assumption {
            Some(a) => format!(
                "  {} on {} at {} MHz, {} {}: {} MACs/cycle, {}{}",
                compact_iri(&a.runtime),
                a.core.as_deref().unwrap_or("an unnamed core"),
                a.clock_hz as f64 / 1e6,
                seam_registry::matching::evaluate::local(&a.dtype),
                a.operator_class.as_deref().map_or("models".to_owned(), |k| {
                    match seam_registry::matching::evaluate::local(k) {
                        "DenseLayers" => "dense layers".to_owned(),
                        _ => "convolution layers".to_owned(),
                    }
                }),
                a.macs_per_cycle,
                a.basis,
                a.source.as_deref().map_or(String::new(), |s| format!(" ({s})"))
            ),
            None => format!(
                "  {} ({}): no estimate, no figure for this core, data type and class of model",
                c.name,
                compact_iri(&c.runtime)
            ),
        };
        if !assumptions.contains(&line) {
            assumptions.push(line);
        }
    }
    if !assumptions.is_empty() {
        out.push_str("\nLatency estimates assume (MACs ÷ (clock × MACs per cycle)):\n");
        for line in assumptions {
            out.push_str(&line);
            out.push('\n');
        }
    }
    if let Some(rejected) = &report.rejected {
        out.push_str(&format!("\nRejected ({}):\n", rejected.len()));
        for r in rejected {
            out.push_str(&format!("  {}\n", r.name));
            for reason in &r.reasons {
                out.push_str(&format!("    {:<8} {}\n", reason.constraint.as_str(), reason.message));
            }
        }
    }
    out
}

fn percent(part: u64, whole: Option<u64>) -> String {
    match whole {
        Some(w) if w > 0 => format!("{:.0}% of free", part as f64 * 100.0 / w as f64),
        _ => "free unknown".into(),
    }
}

fn human_bytes(b: u64) -> String {
    match b {
        0..1024 => format!("{b} B"),
        1024..1_048_576 => format!("{:.1} KiB", b as f64 / 1024.0),
        1_048_576..1_073_741_824 => format!("{:.1} MiB", b as f64 / 1_048_576.0),
        _ => format!("{:.1} GiB", b as f64 / 1_073_741_824.0),
    }
}

fn table(header: &[&str], rows: &[Vec<String>]) -> String {
    let mut widths: Vec<usize> = header.iter().map(|h| h.chars().count()).collect();
    for row in rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let line = |cells: Vec<&str>| {
        let mut s = cells
            .iter()
            .zip(&widths)
            .map(|(c, w)| format!("{c}{}", " ".repeat(w - c.chars().count())))
            .collect::<Vec<_>>()
            .join("  ");
        s.truncate(s.trim_end().len());
        s.push('\n');
        s
    };
    let mut out = line(header.to_vec());
    for row in rows {
        out.push_str(&line(row.iter().map(String::as_str).collect()));
    }
    out
}

fn print_answer(answer: &QueryAnswer, format: OutputFormat) -> std::io::Result<()> {
    let mut out = std::io::stdout().lock();
    let graph = matches!(answer, QueryAnswer::Graph(_));
    match format {
        OutputFormat::Table => out.write_all(answer.to_table().as_bytes())?,
        OutputFormat::Json if graph => answer.write_graph(GraphFormat::JsonLd, &mut out)?,
        OutputFormat::Xml if graph => answer.write_graph(GraphFormat::RdfXml, &mut out)?,
        OutputFormat::Turtle if graph => answer.write_graph(GraphFormat::Turtle, &mut out)?,
        OutputFormat::Csv | OutputFormat::Tsv if graph => answer.write_graph(GraphFormat::NTriples, &mut out)?,
        OutputFormat::Json => answer.write_results(ResultsFormat::Json, &mut out)?,
        OutputFormat::Xml => answer.write_results(ResultsFormat::Xml, &mut out)?,
        OutputFormat::Csv => answer.write_results(ResultsFormat::Csv, &mut out)?,
        OutputFormat::Tsv => answer.write_results(ResultsFormat::Tsv, &mut out)?,
        OutputFormat::Turtle => out.write_all(answer.to_table().as_bytes())?,
    }
    if matches!(format, OutputFormat::Json | OutputFormat::Xml) {
        writeln!(out)?;
    }
    out.flush()
}

fn deploy(args: DeployArgs) -> Result<(), Failure> {
    if let Some(pct) = args.canary {
        if !(pct > 0.0 && pct < 100.0) {
            return Err(Failure::Invalid(anyhow::anyhow!(
                "--canary must be a percentage between 0 and 100"
            )));
        }
    }
    let bytes = std::fs::read(&args.package).with_context(|| format!("cannot read {}", args.package.display()))?;
    // A SEAM package is checked before it leaves: a broken signature or digest is not shipped to
    // a fleet only for every device to refuse it. Other files (firmware images) go as they are.
    if args
        .package
        .extension()
        .is_some_and(|e| e == seam_registry::bridge::package::EXTENSION)
    {
        let package = seam_registry::bridge::package::verify(&bytes, None).map_err(anyhow::Error::from)?;
        tracing::info!(
            model = %package.manifest.model.name,
            backend = %package.manifest.backend.name,
            signer = %package.manifest.signer.public_key,
            "package signature and digests verified"
        );
    }
    seam_registry::remote::install_tls_provider();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    let base = args.endpoint.trim_end_matches('/').to_owned();
    let token = args.token.clone().unwrap_or_default();
    let devices = match &args.select {
        None => args.to.clone(),
        Some(query) => runtime.block_on(devices_where(&base, query))?,
    };
    if devices.is_empty() {
        return Err(Failure::Invalid(anyhow::anyhow!(
            "the --where query selected no devices"
        )));
    }
    // The canary wave first (at least one device), the rest only if every canary installed.
    let waves: Vec<&[String]> = match args.canary {
        Some(pct) if devices.len() > 1 => {
            let first = ((devices.len() as f64 * pct / 100.0).ceil() as usize).clamp(1, devices.len() - 1);
            vec![&devices[..first], &devices[first..]]
        }
        _ => vec![&devices[..]],
    };
    let client = reqwest::Client::new();
    let mut results = Vec::new();
    let mut package = String::new();
    let mut stopped = false;
    for (i, wave) in waves.iter().enumerate() {
        let report: serde_json::Value = runtime.block_on(async {
            if package.is_empty() {
                let stored = client
                    .post(format!("{base}/packages"))
                    .bearer_auth(&token)
                    .body(bytes.clone())
                    .send()
                    .await
                    .with_context(|| format!("cannot reach {base}"))?;
                let stored = problem_or_json(stored).await.context("the package was not accepted")?;
                package = stored["sha256"].as_str().unwrap_or_default().to_owned();
                eprintln!("package {package} stored ({} bytes)", stored["sizeBytes"]);
            }
            if waves.len() > 1 {
                eprintln!(
                    "{} wave: {} devices",
                    if i == 0 { "canary" } else { "rollout" },
                    wave.len()
                );
            }
            let body = serde_json::json!({
                "package": package,
                "devices": wave,
                "method": if args.push { "push" } else { "pull" },
            });
            let deployed = client
                .post(format!("{base}/deployments"))
                .bearer_auth(&token)
                .json(&body)
                .send()
                .await
                .with_context(|| format!("cannot reach {base}"))?;
            problem_or_json(deployed).await.context("the deployment was refused")
        })?;
        let failed = report["failed"].as_u64().unwrap_or(0);
        results.extend(report["results"].as_array().cloned().unwrap_or_default());
        if failed > 0 && i + 1 < waves.len() {
            stopped = true;
            break;
        }
    }
    let installed = results
        .iter()
        .filter(|r| r["installed"].as_bool() == Some(true))
        .count();
    let failed = results.len() - installed;
    let skipped = devices.len() - results.len();
    if args.json {
        let report = serde_json::json!({
            "package": package, "installed": installed, "failed": failed, "skipped": skipped, "results": results,
        });
        println!("{report}");
    } else {
        for result in &results {
            let device = result["device"].as_str().unwrap_or("?");
            if result["installed"].as_bool() == Some(true) {
                println!("{device}: installed (object {})", result["object"]);
            } else {
                println!("{device}: FAILED: {}", result["detail"].as_str().unwrap_or(""));
            }
        }
    }
    if stopped {
        return Err(Failure::Runtime(anyhow::anyhow!(
            "the canary wave failed on {failed} of {} devices; the other {skipped} were not touched",
            results.len()
        )));
    }
    if failed > 0 {
        return Err(Failure::Runtime(anyhow::anyhow!(
            "{failed} of {} deliveries failed",
            devices.len()
        )));
    }
    Ok(())
}

/// The devices a `--where` query selects: its first column, IRIs turned into short names.
async fn devices_where(base: &str, query: &str) -> anyhow::Result<Vec<String>> {
    let endpoint = SparqlEndpoint::new(&format!("{base}/sparql"), Duration::from_secs(60))?;
    let QueryAnswer::Solutions { rows, .. } = endpoint.query(query).await? else {
        anyhow::bail!("--where needs a SELECT query");
    };
    let mut names = Vec::new();
    let mut iris = Vec::new();
    for row in rows {
        match row.into_iter().next().flatten() {
            Some(oxigraph_term @ seam_registry::answer::Term::NamedNode(_)) => iris.push(oxigraph_term.to_string()),
            Some(seam_registry::answer::Term::Literal(l)) => names.push(l.value().to_owned()),
            _ => {}
        }
    }
    if !iris.is_empty() {
        let lookup = format!(
            "SELECT ?n WHERE {{ VALUES ?d {{ {} }} ?d seam:shortName ?n }}",
            iris.join(" ")
        );
        let QueryAnswer::Solutions { rows, .. } = endpoint.query(&lookup).await? else {
            anyhow::bail!("the short-name lookup did not answer a SELECT");
        };
        if rows.len() < iris.len() {
            anyhow::bail!(
                "{} of the selected devices have no seam:shortName",
                iris.len() - rows.len()
            );
        }
        for row in rows {
            if let Some(seam_registry::answer::Term::Literal(l)) = row.into_iter().next().flatten() {
                names.push(l.value().to_owned());
            }
        }
    }
    names.sort();
    names.dedup();
    Ok(names)
}

/// The JSON body of a success, or the problem's detail as the error.
async fn problem_or_json(response: reqwest::Response) -> anyhow::Result<serde_json::Value> {
    let status = response.status();
    let body: serde_json::Value = response
        .json()
        .await
        .context("the service answered something other than JSON")?;
    if status.is_success() {
        Ok(body)
    } else {
        anyhow::bail!("{status}: {}", body["detail"].as_str().unwrap_or("no detail"))
    }
}

fn analyze(args: AnalyzeArgs) -> Result<(), Failure> {
    let analysis = seam_registry::bridge::analysis::analyze_path(&args.model).map_err(anyhow::Error::from)?;
    // Estimates against the runtimes of the bundled catalog: the runtime's own RAM and code on
    // top of the arena and the weights, in float32 where the runtime computes in it, else as the
    // int8 model quantisation would give.
    let catalog = Registry::in_memory().context("cannot open an in-memory store")?;
    catalog.seed_if_empty().context("cannot read the bundled catalog")?;
    let fleet = catalog.fleet().context("cannot read the catalog's runtimes")?;
    let float32 = format!("{}float32", seam_registry::vocab::SEAM);
    let tflite = analysis.format == "tflite";
    let kernels = seam_registry::ingest::onnx::onnx_operator_names(&analysis);
    let estimates: Vec<serde_json::Value> = fleet
        .runtimes
        .values()
        .map(|r| {
            // A TFLite file runs as it is: its own tensor types, the flatbuffer itself in flash.
            let (dtype, arena, weights) = if tflite {
                let dtype = analysis.inputs.first().map_or("float32", |t| t.dtype.as_str());
                (dtype, analysis.arena_bytes, analysis.file_bytes)
            } else if seam_registry::ingest::onnx::measured_dtype(&analysis) == "int8" {
                // Already quantised (QDQ or QOperator): as it is stored, activations in 8 bits.
                ("int8", analysis.arena_bytes, analysis.weight_bytes.stored)
            } else if r.dtypes.contains(&float32) {
                ("float32", analysis.arena_bytes, analysis.weight_bytes.float32)
            } else {
                ("int8", analysis.arena_bytes.div_ceil(4), analysis.weight_bytes.int8)
            };
            // The catalog names operators as ONNX does: a TFLite builtin is checked through its
            // ONNX equivalent (one without any is reported under its own name), a QOperator
            // layer as the int8 kernel it runs on, and a no-op not at all; registration and
            // matching use the same names.
            let missing: Vec<&str> = kernels
                .iter()
                .map(String::as_str)
                .filter(|op| !r.operators.iter().any(|o| o == op))
                .collect();
            // Latency where the runtime has a figure measured for this data type and class of
            // model: cycles per inference, and milliseconds at 100 MHz (scale by the clock).
            let class = seam_registry::matching::facts::OperatorClass::of(&kernels);
            let dtype_iri = format!("{}{dtype}", seam_registry::vocab::SEAM);
            let latency: Vec<serde_json::Value> = r
                .throughput
                .iter()
                .filter(|t| t.dtype == dtype_iri && t.class == class && t.macs_per_cycle > 0.0)
                .map(|t| {
                    let cycles = analysis.macs as f64 / t.macs_per_cycle;
                    serde_json::json!({
                        "core": t.core,
                        "macsPerCycle": t.macs_per_cycle,
                        "operatorClass": class.iri(),
                        "cycles": cycles.round(),
                        "msAt100MHz": (cycles / 100_000.0 * 1000.0).round() / 1000.0,
                        "basis": "measured",
                        "source": t.source,
                    })
                })
                .collect();
            serde_json::json!({
                "runtime": r.iri,
                "dtype": dtype,
                "ramBytes": arena + r.ram_overhead_bytes,
                "flashBytes": weights + r.flash_overhead_bytes,
                "missingOperators": missing,
                "latency": latency,
            })
        })
        .collect();
    let mut report = serde_json::to_value(&analysis).context("cannot serialise the analysis")?;
    report["estimates"] = serde_json::Value::Array(estimates);
    if args.json {
        println!("{report}");
        return Ok(());
    }
    let mut out = std::io::stdout().lock();
    let _ = writeln!(
        out,
        "{} ({} bytes, sha256 {})",
        args.model.display(),
        analysis.file_bytes,
        analysis.sha256
    );
    for (kind, tensors) in [("input", &analysis.inputs), ("output", &analysis.outputs)] {
        for t in tensors.iter() {
            let _ = writeln!(out, "  {kind:6} {} {:?} {}", t.name, t.shape, t.dtype);
        }
    }
    let ops: Vec<String> = analysis.operators.iter().map(|(op, n)| format!("{op}×{n}")).collect();
    let _ = writeln!(out, "  operators   {}", ops.join(" "));
    let _ = writeln!(out, "  params      {}", analysis.params);
    let _ = writeln!(out, "  MACs        {}", analysis.macs);
    let _ = writeln!(
        out,
        "  weights     {} bytes stored ({}), {} as float32, {} as int8",
        analysis.weight_bytes.stored, analysis.weight_dtype, analysis.weight_bytes.float32, analysis.weight_bytes.int8
    );
    let _ = writeln!(
        out,
        "  activations {} bytes at the peak, {} bytes of arena (greedy plan), in {}",
        analysis.peak_activation_bytes, analysis.arena_bytes, analysis.activation_dtype
    );
    for e in report["estimates"].as_array().into_iter().flatten() {
        let missing = e["missingOperators"].as_array().map(Vec::len).unwrap_or(0);
        let _ = writeln!(
            out,
            "  on {:32} {:7} RAM {:>9} B  flash {:>9} B{}",
            seam_registry::answer::compact_iri(e["runtime"].as_str().unwrap_or("")),
            e["dtype"].as_str().unwrap_or(""),
            e["ramBytes"],
            e["flashBytes"],
            if missing > 0 {
                format!("  ({missing} operators unsupported)")
            } else {
                String::new()
            }
        );
        for l in e["latency"].as_array().into_iter().flatten() {
            let _ = writeln!(
                out,
                "     latency on {}: {} ms at 100 MHz ({} MACs/cycle, measured; scale by the clock)",
                l["core"].as_str().unwrap_or(""),
                l["msAt100MHz"],
                l["macsPerCycle"]
            );
        }
    }
    for note in &analysis.notes {
        let _ = writeln!(out, "  note: {note}");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::sparql_url;

    #[test]
    fn an_endpoint_without_a_path_is_a_seam_service() {
        assert_eq!(sparql_url("http://127.0.0.1:8080"), "http://127.0.0.1:8080/sparql");
        assert_eq!(sparql_url("http://127.0.0.1:8080/"), "http://127.0.0.1:8080/sparql");
        assert_eq!(
            sparql_url("http://127.0.0.1:8080/sparql"),
            "http://127.0.0.1:8080/sparql"
        );
        assert_eq!(sparql_url("http://fuseki:3030/ds/query"), "http://fuseki:3030/ds/query");
    }
}
