//! `seam devices`: what a device needs besides its description — its DTLS pre-shared key,
//! kept in the data folder's secret file (never in the graph). A running `seam serve` on that
//! folder uses a new key from the device's next handshake.

use std::path::PathBuf;

use seam_registry::access::{CredentialFile, SecretFileError};
use seam_registry::data_dir::DataDir;

use crate::failure::Failure;

/// The arguments of `seam devices`.
#[derive(clap::Args)]
pub(crate) struct DevicesArgs {
    #[command(subcommand)]
    action: Action,
    /// Store directory (the keys live in its credentials.json).
    #[arg(long, default_value = "./seam-data", global = true)]
    data: PathBuf,
}

#[derive(clap::Subcommand)]
enum Action {
    /// Provision a device's DTLS identity and key (replacing what it had).
    AddPsk {
        /// The device's LwM2M endpoint name.
        endpoint: String,
        /// The PSK identity it opens its sessions with.
        #[arg(long)]
        identity: String,
        /// The key, hexadecimal (16 to 64 bytes). `-` reads it from standard input, so that it
        /// stays out of the shell's history and the process list.
        #[arg(long = "key-hex")]
        key_hex: String,
    },
    /// Remove a device's key: it can no longer open a DTLS session.
    RemovePsk {
        /// The device's LwM2M endpoint name.
        endpoint: String,
    },
    /// The devices with keys, by endpoint and identity (never the keys).
    Credentials {
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
}

/// Runs `seam devices`.
pub(crate) fn run(args: DevicesArgs) -> Result<(), Failure> {
    let file = CredentialFile::at(DataDir::at(&args.data).credentials());
    match args.action {
        Action::AddPsk {
            endpoint,
            identity,
            key_hex,
        } => {
            let key_hex = if key_hex == "-" {
                let mut line = String::new();
                std::io::stdin()
                    .read_line(&mut line)
                    .map_err(|e| Failure::Runtime(anyhow::anyhow!("cannot read the key from standard input: {e}")))?;
                line.trim().to_owned()
            } else {
                key_hex
            };
            let replaced = file.add_psk(&endpoint, &identity, &key_hex).map_err(failure)?;
            let what = if replaced { "replaced the key of" } else { "provisioned" };
            eprintln!("{what} {endpoint:?} (identity {identity:?}); it registers over coaps:// only");
        }
        Action::RemovePsk { endpoint } => {
            file.remove(&endpoint).map_err(failure)?;
            eprintln!("removed the key of {endpoint:?}");
        }
        Action::Credentials { json } => {
            let devices = file.read().map_err(failure)?;
            if json {
                let out: Vec<_> = devices
                    .iter()
                    .map(
                        |d| serde_json::json!({ "endpoint": d.endpoint, "identity": d.identity, "created": d.created }),
                    )
                    .collect();
                println!("{}", serde_json::Value::Array(out));
            } else if devices.is_empty() {
                eprintln!("no device has a key in {}", file.path().display());
            } else {
                for d in &devices {
                    println!("{}\t{}\t{}", d.endpoint, d.identity, d.created);
                }
            }
        }
    }
    Ok(())
}

fn failure(e: SecretFileError) -> Failure {
    match e {
        SecretFileError::Refused(_) => Failure::Invalid(e.into()),
        _ => Failure::Runtime(e.into()),
    }
}
