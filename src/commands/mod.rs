//! One module per command: its arguments (clap) and what it prints. The work is the crates'.

pub(crate) mod analyze;
pub(crate) mod compile;
pub(crate) mod demo;
pub(crate) mod deploy;
pub(crate) mod devices;
pub(crate) mod load;
pub(crate) mod match_device;
pub(crate) mod query;
pub(crate) mod rollouts;
pub(crate) mod serve;
pub(crate) mod tokens;

/// A runtime for a command that talks to a service: one thread, the calls made in turn.
pub(crate) fn client_runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    use anyhow::Context as _;
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")
}

/// `--context URL=FILE`: a JSON-LD context the operator provides as a local file (never fetched).
#[derive(Clone, Debug)]
pub(crate) struct ContextArg {
    url: String,
    file: std::path::PathBuf,
}

impl std::str::FromStr for ContextArg {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        // The last `=`: a context URL may have a query string; a file name rarely has one.
        let (url, file) = s
            .rsplit_once('=')
            .ok_or_else(|| format!("{s:?} is not URL=FILE (e.g. https://example.com/ctx.jsonld=./ctx.jsonld)"))?;
        if url.is_empty() || file.is_empty() {
            return Err(format!("{s:?} is not URL=FILE"));
        }
        Ok(Self {
            url: url.to_owned(),
            file: file.into(),
        })
    }
}

/// Registers the contexts given with `--context` for this process.
pub(crate) fn register_contexts(contexts: &[ContextArg]) -> Result<(), crate::failure::Failure> {
    for c in contexts {
        seam_registry::ingest::register_context(&c.url, &c.file).map_err(crate::failure::runtime)?;
    }
    Ok(())
}

/// Where the graph is kept, for every command that opens it: the data folder's embedded store,
/// or a SPARQL 1.1 store given by URL (the data folder then keeps only files: keys, packages,
/// models, tokens).
#[derive(clap::Args, Clone, Debug, Default)]
pub(crate) struct StoreArgs {
    /// A SPARQL 1.1 query endpoint to keep the graph in instead of the data folder (Oxigraph
    /// server `http://host:7878/query`, Virtuoso `http://host:8890/sparql`, any other engine).
    #[arg(long, env = "SEAM_STORE", value_name = "URL")]
    pub(crate) store: Option<String>,
    /// The store's update endpoint (default: the query endpoint; `/update` beside an Oxigraph
    /// server's `/query`).
    #[arg(long, value_name = "URL", requires = "store")]
    pub(crate) update_url: Option<String>,
    /// The environment variable holding a bearer token for the store (never the token itself
    /// on the command line).
    #[arg(long, value_name = "VAR", requires = "store")]
    pub(crate) store_token_env: Option<String>,
    /// The store's engine: auto (from its Server header), oxigraph, virtuoso or generic.
    #[arg(long, default_value = "auto", value_parser = ["auto", "oxigraph", "virtuoso", "generic"])]
    pub(crate) store_engine: String,
    /// How stale this instance's view may be after another instance writes to the same store,
    /// in seconds.
    #[arg(long, default_value_t = 2.0)]
    pub(crate) store_staleness: f64,
}

impl StoreArgs {
    /// The remote store's settings, when `--store` is given.
    pub(crate) fn remote(&self) -> Result<Option<seam_registry::store::RemoteConfig>, crate::failure::Failure> {
        let Some(url) = &self.store else {
            return Ok(None);
        };
        let mut config = seam_registry::store::RemoteConfig::new(url.clone());
        config.update_url = self.update_url.clone();
        config.engine = seam_registry::store::remote::EngineKind::parse(&self.store_engine)
            .unwrap_or(seam_registry::store::remote::EngineKind::Auto);
        if !(self.store_staleness.is_finite() && self.store_staleness > 0.0) {
            return Err(crate::failure::Failure::Invalid(anyhow::anyhow!(
                "--store-staleness must be a positive number of seconds"
            )));
        }
        config.staleness = std::time::Duration::from_secs_f64(self.store_staleness);
        if let Some(var) = &self.store_token_env {
            config.token = Some(std::env::var(var).map_err(|_| {
                crate::failure::Failure::Invalid(anyhow::anyhow!(
                    "--store-token-env {var}: the environment variable is not set"
                ))
            })?);
        }
        Ok(Some(config))
    }

    /// The registry: on the remote store when `--store` is given, else on the data folder's.
    pub(crate) fn open(&self, data: &std::path::Path) -> Result<seam_registry::Registry, crate::failure::Failure> {
        match self.remote()? {
            Some(config) => {
                let store = seam_registry::store::RemoteStore::connect(config).map_err(crate::failure::runtime)?;
                seam_registry::Registry::new(std::sync::Arc::new(store)).map_err(crate::failure::runtime)
            }
            None => seam_registry::Registry::open(data).map_err(crate::failure::runtime),
        }
    }
}
