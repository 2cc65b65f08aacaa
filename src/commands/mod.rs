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
