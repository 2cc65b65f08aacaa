//! `seam serve`: the application, built from the command line, until a signal stops it.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context as _;
use seam_registry::access::Reads;
use seam_registry::app::{self, Application, Settings};
use seam_registry::http::ServiceConfig;
use seam_registry::lwm2m::server::ServerConfig;
use seam_registry::QueryLimits;

use crate::failure::Failure;

/// The arguments of `seam serve`.
#[derive(clap::Args)]
pub(crate) struct ServeArgs {
    /// Store directory.
    #[arg(long, default_value = "./seam-data")]
    data: PathBuf,
    /// Where the graph is kept (default: the data folder).
    #[command(flatten)]
    store: super::StoreArgs,
    /// HTTP listen address.
    #[arg(long, default_value = "127.0.0.1:8080")]
    http: String,
    /// A bearer token with every scope; besides it, the tokens of `seam tokens` (without any,
    /// writes are refused).
    #[arg(long, env = "SEAM_TOKEN", hide_env_values = true)]
    token: Option<String>,
    /// Whether reads need a token (any scope): open or closed.
    #[arg(long, env = "SEAM_READS", default_value = "open", value_parser = ["open", "closed"])]
    reads: String,
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
    /// LwM2M over DTLS 1.2 with pre-shared keys (`coaps://`, UDP), or `off`. Devices' keys:
    /// `seam devices add-psk`.
    #[arg(long, default_value = "127.0.0.1:5684")]
    coaps: String,
    /// How devices reach the LwM2M server, for Package URIs (default: coap://<bound address>).
    #[arg(long)]
    coap_public: Option<String>,
    /// How long one delivery may take, from the first write to the device's final result, in
    /// seconds; past it the delivery fails and says what the device last reported.
    #[arg(long, default_value_t = 600, value_parser = clap::value_parser!(u64).range(1..=86_400))]
    delivery_timeout: u64,
    /// A JSON-LD context as a local file, for documents that use it (repeatable): URL=FILE.
    /// The W3C WoT TD and Discovery contexts are bundled; nothing is fetched.
    #[arg(long = "context", value_name = "URL=FILE")]
    contexts: Vec<super::ContextArg>,
    /// A SPARQL endpoint queries may call with `SERVICE` (an `http(s)://` IRI prefix;
    /// repeatable). Every other `SERVICE` is refused.
    #[arg(long = "allow-service", value_name = "PREFIX")]
    allow_services: Vec<String>,
    /// Answer queries from a replica of the embedded store in memory while the store holds at
    /// most this many quads (0: never; RocksDB stays what is durable).
    #[arg(long, default_value_t = seam_registry::app::DEFAULT_REPLICA_MAX_QUADS)]
    replica_max_quads: usize,
    /// A TOML file of these settings (keys as the flags are spelt: `http = "0.0.0.0:8080"`,
    /// `query-timeout = 10`, `context = ["URL=FILE"]`); a flag or environment variable given
    /// as well wins over the file.
    #[arg(long, env = "SEAM_CONFIG")]
    config: Option<PathBuf>,
}

/// `seam serve`'s settings in a TOML file. The token is not among them: a secret belongs in
/// the environment or the token file, not in a file that is copied around.
#[derive(serde::Deserialize, Default)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct ServeFile {
    data: Option<PathBuf>,
    http: Option<String>,
    reads: Option<String>,
    query_timeout: Option<f64>,
    max_results: Option<usize>,
    max_body: Option<usize>,
    coap: Option<String>,
    coaps: Option<String>,
    coap_public: Option<String>,
    delivery_timeout: Option<u64>,
    context: Option<Vec<String>>,
    allow_service: Option<Vec<String>>,
    store: Option<String>,
    update_url: Option<String>,
    store_token_env: Option<String>,
    store_engine: Option<String>,
    store_staleness: Option<f64>,
    replica_max_quads: Option<usize>,
}

impl ServeArgs {
    /// Fills the settings the command line and environment left at their defaults from the
    /// `--config` file, if there is one.
    fn with_config_file(mut self, given: Option<&clap::ArgMatches>) -> Result<Self, Failure> {
        let Some(path) = self.config.clone() else {
            return Ok(self);
        };
        let text = std::fs::read_to_string(&path)
            .with_context(|| format!("cannot read the configuration file {}", path.display()))?;
        let file: ServeFile = toml::from_str(&text).map_err(|e| {
            let at = e
                .span()
                .map(|span| {
                    let before = &text[..span.start.min(text.len())];
                    let line = before.matches('\n').count() + 1;
                    let column = before.len() - before.rfind('\n').map_or(0, |i| i + 1) + 1;
                    format!(":{line}:{column}")
                })
                .unwrap_or_default();
            Failure::Invalid(anyhow::anyhow!("{}{at}: {}", path.display(), e.message()))
        })?;
        // Only what neither a flag nor the environment set.
        let open = |id: &str| {
            given
                .and_then(|m| m.value_source(id))
                .is_none_or(|source| source == clap::parser::ValueSource::DefaultValue)
        };
        let check = |key: &str, ok: bool, expected: &str| -> Result<(), Failure> {
            if ok {
                Ok(())
            } else {
                Err(Failure::Invalid(anyhow::anyhow!(
                    "{}: `{key}` must be {expected}",
                    path.display()
                )))
            }
        };
        if let (Some(v), true) = (file.data, open("data")) {
            self.data = v;
        }
        if let (Some(v), true) = (file.http, open("http")) {
            self.http = v;
        }
        if let (Some(v), true) = (file.reads, open("reads")) {
            check("reads", v == "open" || v == "closed", "\"open\" or \"closed\"")?;
            self.reads = v;
        }
        if let (Some(v), true) = (file.query_timeout, open("query_timeout")) {
            check(
                "query-timeout",
                v.is_finite() && v > 0.0,
                "a positive number of seconds",
            )?;
            self.query_timeout = v;
        }
        if let (Some(v), true) = (file.max_results, open("max_results")) {
            self.max_results = v;
        }
        if let (Some(v), true) = (file.replica_max_quads, open("replica_max_quads")) {
            self.replica_max_quads = v;
        }
        if let (Some(v), true) = (file.max_body, open("max_body")) {
            self.max_body = v;
        }
        if let (Some(v), true) = (file.coap, open("coap")) {
            self.coap = v;
        }
        if let (Some(v), true) = (file.coaps, open("coaps")) {
            self.coaps = v;
        }
        if let (Some(v), true) = (file.coap_public, open("coap_public")) {
            self.coap_public = Some(v);
        }
        if let (Some(v), true) = (file.delivery_timeout, open("delivery_timeout")) {
            check("delivery-timeout", (1..=86_400).contains(&v), "1 to 86400 seconds")?;
            self.delivery_timeout = v;
        }
        if let (Some(v), true) = (file.allow_service, open("allow_services")) {
            check(
                "allow-service",
                v.iter().all(|p| p.starts_with("http://") || p.starts_with("https://")),
                "a list of http:// or https:// IRI prefixes",
            )?;
            self.allow_services = v;
        }
        if let (Some(v), true) = (file.store, open("store")) {
            self.store.store = Some(v);
        }
        if let (Some(v), true) = (file.update_url, open("update_url")) {
            self.store.update_url = Some(v);
        }
        if let (Some(v), true) = (file.store_token_env, open("store_token_env")) {
            self.store.store_token_env = Some(v);
        }
        if let (Some(v), true) = (file.store_engine, open("store_engine")) {
            check(
                "store-engine",
                seam_registry::store::remote::EngineKind::parse(&v).is_some(),
                "\"auto\", \"oxigraph\", \"virtuoso\" or \"generic\"",
            )?;
            self.store.store_engine = v;
        }
        if let (Some(v), true) = (file.store_staleness, open("store_staleness")) {
            check(
                "store-staleness",
                v.is_finite() && v > 0.0,
                "a positive number of seconds",
            )?;
            self.store.store_staleness = v;
        }
        if let (Some(v), true) = (file.context, open("contexts")) {
            self.contexts = v
                .iter()
                .map(|c| c.parse())
                .collect::<Result<_, String>>()
                .map_err(|e| Failure::Invalid(anyhow::anyhow!("{}: `context`: {e}", path.display())))?;
        }
        Ok(self)
    }
}

/// Runs `seam serve`; `given` are its parsed arguments, to tell a flag from a default.
pub(crate) fn run(args: ServeArgs, given: Option<&clap::ArgMatches>) -> Result<(), Failure> {
    let args = args.with_config_file(given)?;
    if let Some(bad) = args
        .allow_services
        .iter()
        .find(|p| !(p.starts_with("http://") || p.starts_with("https://")) || p.len() < "http://x".len())
    {
        return Err(Failure::Invalid(anyhow::anyhow!(
            "--allow-service {bad:?} is not an http:// or https:// endpoint prefix (e.g. https://query.wikidata.org/)"
        )));
    }
    super::register_contexts(&args.contexts)?;
    let coap = match args.coap.as_str() {
        "off" => None,
        addr => Some(
            addr.parse()
                .with_context(|| format!("--coap {addr:?} is not an address like 127.0.0.1:5683"))?,
        ),
    };
    let coaps = match args.coaps.as_str() {
        "off" => None,
        addr => Some(
            addr.parse()
                .with_context(|| format!("--coaps {addr:?} is not an address like 127.0.0.1:5684"))?,
        ),
    };
    let settings = Settings {
        data: Some(args.data),
        store: args.store.remote()?,
        http: args.http,
        coap,
        coaps,
        allowed_services: args.allow_services,
        replica_max_quads: args.replica_max_quads,
        lwm2m: ServerConfig {
            public_base: args.coap_public,
            delivery_timeout: Duration::from_secs(args.delivery_timeout),
            ..ServerConfig::default()
        },
        service: ServiceConfig {
            token: args.token,
            reads: if args.reads == "closed" {
                Reads::Closed
            } else {
                Reads::Open
            },
            limits: QueryLimits {
                timeout: Duration::from_secs_f64(args.query_timeout.max(0.001)),
                max_rows: args.max_results,
                ..QueryLimits::default()
            },
            max_body_bytes: args.max_body,
            heap: Some(crate::allocator::heap),
            ..ServiceConfig::default()
        },
    };
    crate::allocator::return_freed_memory_in_background();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    let registry = runtime.block_on(async move {
        let application = Application::build(settings).await?;
        let registry = application.registry().clone();
        // The handlers are installed before the service says it is ready.
        let shutdown = app::shutdown_signal().context("cannot handle SIGTERM and SIGINT")?;
        application.run_until_stopped(shutdown).await?;
        Ok::<_, anyhow::Error>(registry)
    })?;
    // Deliveries still waiting on devices and the LwM2M sockets end here.
    runtime.shutdown_timeout(app::SHUTDOWN_GRACE);
    // The store closes here, before the process exits, whoever held it last.
    registry.close(app::SHUTDOWN_GRACE);
    Ok(())
}
