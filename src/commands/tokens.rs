//! `seam tokens`: the bearer tokens a service accepts, kept as digests in its data folder.
//! A running `seam serve` on that folder sees a new or revoked token from its next request.

use std::path::PathBuf;

use seam_registry::access::{Scope, TokenFile, TokenFileError};
use seam_registry::data_dir::DataDir;

use crate::failure::Failure;

/// The arguments of `seam tokens`.
#[derive(clap::Args)]
pub(crate) struct TokensArgs {
    #[command(subcommand)]
    action: Action,
    /// Store directory (the tokens live in its tokens.json).
    #[arg(long, default_value = "./seam-data", global = true)]
    data: PathBuf,
}

#[derive(clap::Subcommand)]
enum Action {
    /// Make a token and print it (the only time it is shown).
    Create {
        /// Its name, to list and revoke it by (letters, digits, '-', '_', '.').
        name: String,
        /// What it may do (repeatable, or comma-separated): read, write, deploy, admin.
        #[arg(long = "scope", value_delimiter = ',', required = true)]
        scopes: Vec<Scope>,
        /// Print {"name","scopes","token"} as JSON.
        #[arg(long)]
        json: bool,
    },
    /// The tokens by name and scope (never their secrets).
    List {
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Forget a token: requests with it are refused from now on.
    Revoke {
        /// The token's name.
        name: String,
    },
}

/// Runs `seam tokens`.
pub(crate) fn run(args: TokensArgs) -> Result<(), Failure> {
    let file = TokenFile::at(DataDir::at(&args.data).tokens());
    match args.action {
        Action::Create { name, scopes, json } => {
            let made = file.create(&name, &scopes).map_err(failure)?;
            if json {
                let out = serde_json::json!({
                    "name": made.entry.name,
                    "scopes": made.entry.scopes,
                    "token": made.secret,
                });
                println!("{out}");
            } else {
                eprintln!(
                    "token {:?} ({}): keep it now, it is not shown again",
                    made.entry.name,
                    scope_list(&made.entry.scopes)
                );
                println!("{}", made.secret);
            }
        }
        Action::List { json } => {
            let tokens = file.read().map_err(failure)?;
            if json {
                let out: Vec<_> = tokens
                    .iter()
                    .map(|t| serde_json::json!({ "name": t.name, "scopes": t.scopes, "created": t.created }))
                    .collect();
                println!("{}", serde_json::Value::Array(out));
            } else if tokens.is_empty() {
                eprintln!(
                    "no tokens in {} (make one with `seam tokens create NAME --scope …`)",
                    file.path().display()
                );
            } else {
                let width = tokens.iter().map(|t| t.name.len()).max().unwrap_or(4).max(4);
                println!("{:width$}  {:24}  created", "name", "scopes");
                for t in &tokens {
                    println!("{:width$}  {:24}  {}", t.name, scope_list(&t.scopes), t.created);
                }
            }
        }
        Action::Revoke { name } => {
            let gone = file.revoke(&name).map_err(failure)?;
            eprintln!("revoked {:?} ({})", gone.name, scope_list(&gone.scopes));
        }
    }
    Ok(())
}

fn scope_list(scopes: &[Scope]) -> String {
    scopes.iter().map(|s| s.as_str()).collect::<Vec<_>>().join(",")
}

fn failure(e: TokenFileError) -> Failure {
    match e {
        TokenFileError::Refused(_) => Failure::Invalid(e.into()),
        _ => Failure::Runtime(e.into()),
    }
}
