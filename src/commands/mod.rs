//! One module per command: its arguments (clap) and what it prints. The work is the crates'.

pub(crate) mod analyze;
pub(crate) mod compile;
pub(crate) mod demo;
pub(crate) mod deploy;
pub(crate) mod load;
pub(crate) mod match_device;
pub(crate) mod query;
pub(crate) mod rollouts;
pub(crate) mod serve;

/// A runtime for a command that talks to a service: one thread, the calls made in turn.
pub(crate) fn client_runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    use anyhow::Context as _;
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")
}
