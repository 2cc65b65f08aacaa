//! One module per command: its arguments (clap) and what it prints. The work is the crates'.

pub(crate) mod analyze;
pub(crate) mod compile;
pub(crate) mod deploy;
pub(crate) mod load;
pub(crate) mod match_device;
pub(crate) mod query;
pub(crate) mod serve;
