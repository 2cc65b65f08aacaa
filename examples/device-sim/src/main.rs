//! `seam-device-sim`: runs N real LwM2M clients over UDP against a SEAM server (or any LwM2M
//! server). Each has Objects 1, 3, 5 and 9 and the IPSO sensor objects of its board, verifies
//! every package's SHA-256 before it reports success (and, with `--trust-key`, the package's
//! Ed25519 signature), and can be told to misbehave.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use clap::{Parser, ValueEnum};
use seam_lwm2m::client::{boards, ClientConfig, DeviceProfile, Lwm2mClient, PackageCheck};
use seam_lwm2m::coap::{content_format as cf, TransmissionParams};

#[derive(Parser)]
#[command(name = "seam-device-sim", version, about = "Simulated LwM2M devices for SEAM")]
struct Args {
    /// The LwM2M server: coap://HOST:PORT, or coaps://HOST:PORT with --psk-key-hex.
    #[arg(long, default_value = "coap://127.0.0.1:5683")]
    server: String,
    /// Speak DTLS with this pre-shared key (hex), each device's PSK identity being its endpoint
    /// name (provision them with `seam devices add-psk NAME --identity NAME --key-hex HEX`).
    #[arg(long)]
    psk_key_hex: Option<String>,
    /// How many devices.
    #[arg(long, default_value_t = 1)]
    devices: usize,
    /// The board every device reports (see --list-boards).
    #[arg(long, default_value = "b-l475e-iot01a")]
    board: String,
    /// Endpoint names are PREFIX-0, PREFIX-1, ...
    #[arg(long, default_value = "sim")]
    endpoint_prefix: String,
    /// Drop this percentage of datagrams, both directions.
    #[arg(long, default_value_t = 0.0)]
    loss: f64,
    /// Corrupt every downloaded package (the SHA-256 check must catch it).
    #[arg(long)]
    corrupt_block: bool,
    /// Fail every installation.
    #[arg(long)]
    reject_install: bool,
    /// Accept only SEAM packages signed by this Ed25519 public key (hex, as the graph publishes it
    /// under seam:publicKey): the manifest's signature and every file's digest are checked before
    /// the device reports the package delivered.
    #[arg(long)]
    trust_key: Option<String>,
    /// Registration lifetime, seconds.
    #[arg(long, default_value_t = 300)]
    lifetime: u32,
    /// Initial CoAP retransmission timeout in milliseconds (RFC 7252: 2000).
    #[arg(long, default_value_t = 2000)]
    ack_timeout_ms: u64,
    /// Answer reads in this format.
    #[arg(long, value_enum, default_value = "mixed")]
    format: Format,
    /// Registrations in flight at once.
    #[arg(long, default_value_t = 256)]
    concurrency: usize,
    /// Stop (de-registering) after this many seconds; run until Ctrl-C when absent.
    #[arg(long)]
    duration: Option<f64>,
    /// List the boards and exit.
    #[arg(long)]
    list_boards: bool,
}

#[derive(Clone, Copy, ValueEnum)]
enum Format {
    Tlv,
    SenmlJson,
    SenmlCbor,
    /// Device i answers in TLV, SenML JSON or SenML CBOR by i mod 3, as a mixed fleet does.
    Mixed,
}

fn profile(board: &str, serial: usize) -> anyhow::Result<DeviceProfile> {
    Ok(boards::board(board)
        .with_context(|| format!("unknown board {board:?}; --list-boards lists them"))?
        .profile(serial))
}

async fn server_address(uri: &str) -> anyhow::Result<SocketAddr> {
    let (authority, port) = match uri.strip_prefix("coaps://") {
        Some(rest) => (rest, 5684),
        None => (uri.strip_prefix("coap://").unwrap_or(uri), 5683),
    };
    let authority = authority.trim_end_matches('/');
    let authority = if authority.contains(':') {
        authority.to_owned()
    } else {
        format!("{authority}:{port}")
    };
    let mut addresses = tokio::net::lookup_host(authority.as_str())
        .await
        .with_context(|| format!("cannot resolve {authority}"))?;
    addresses
        .next()
        .with_context(|| format!("{authority} resolves to no address"))
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::try_from_env("SEAM_LOG").unwrap_or_else(|_| "warn".into()))
        .with_writer(std::io::stderr)
        .init();
    if args.list_boards {
        for b in boards::BOARDS {
            println!(
                "{:28} {} {}, IPSO {:?}",
                b.name, b.manufacturer, b.model_number, b.sensors
            );
        }
        return Ok(());
    }
    if !(0.0..100.0).contains(&args.loss) {
        anyhow::bail!("--loss must be a percentage in [0, 100)");
    }
    if let Some(key) = &args.trust_key {
        if key.len() != 64 || !key.chars().all(|c| c.is_ascii_hexdigit()) {
            anyhow::bail!("--trust-key takes an Ed25519 public key: 64 hex digits");
        }
    }
    let secure = args.server.starts_with("coaps://");
    let psk_key = match (&args.psk_key_hex, secure) {
        (Some(hex), true) => Some(hex::decode(hex.trim()).context("--psk-key-hex is not hexadecimal")?),
        (None, false) => None,
        (None, true) => anyhow::bail!("a coaps:// server needs --psk-key-hex"),
        (Some(_), false) => anyhow::bail!("--psk-key-hex needs a coaps:// server"),
    };
    let server = server_address(&args.server).await?;
    let mut params = TransmissionParams::fast(Duration::from_millis(args.ack_timeout_ms.max(1)));
    params.loss = args.loss / 100.0;

    let started = Instant::now();
    let mut clients = Vec::with_capacity(args.devices);
    for i in 0..args.devices {
        let mut config = ClientConfig::new(
            &format!("{}-{i}", args.endpoint_prefix),
            server,
            profile(&args.board, i)?,
        );
        config.lifetime = args.lifetime;
        config.params = params.clone();
        config.psk = psk_key.as_ref().map(|key| seam_lwm2m::dtls::Psk {
            identity: format!("{}-{i}", args.endpoint_prefix),
            key: key.clone(),
        });
        config.corrupt_block = args.corrupt_block;
        config.reject_install = args.reject_install;
        if let Some(key) = &args.trust_key {
            let key = key.clone();
            config.package_check = Some(PackageCheck(std::sync::Arc::new(move |bytes: &[u8]| {
                seam_package::verify(bytes, Some(&key))
                    .map(|_| ())
                    .map_err(|e| e.to_string())
            })));
        }
        config.read_format = match args.format {
            Format::Tlv => cf::TLV,
            Format::SenmlJson => cf::SENML_JSON,
            Format::SenmlCbor => cf::SENML_CBOR,
            Format::Mixed => [cf::TLV, cf::SENML_JSON, cf::SENML_CBOR][i % 3],
        };
        clients.push(
            Lwm2mClient::start(config)
                .await
                .with_context(|| format!("device {i}: cannot bind a socket (or open its DTLS session)"))?,
        );
    }
    let bound = started.elapsed();

    // Register with bounded concurrency.
    let semaphore = std::sync::Arc::new(tokio::sync::Semaphore::new(args.concurrency.max(1)));
    let mut tasks = Vec::with_capacity(clients.len());
    let registering = Instant::now();
    for client in &clients {
        let client = client.clone();
        let semaphore = semaphore.clone();
        tasks.push(tokio::spawn(async move {
            let _permit = semaphore.acquire().await;
            client.register().await
        }));
    }
    let mut failed = 0usize;
    for (i, task) in tasks.into_iter().enumerate() {
        match task.await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => {
                failed += 1;
                eprintln!("device {i}: registration failed: {e}");
            }
            Err(e) => {
                failed += 1;
                eprintln!("device {i}: {e}");
            }
        }
    }
    let took = registering.elapsed();
    let ok = clients.len() - failed;
    println!(
        "registered {ok} of {} devices in {:.3} s ({:.0} registrations/s; sockets bound in {:.3} s)",
        clients.len(),
        took.as_secs_f64(),
        ok as f64 / took.as_secs_f64().max(1e-9),
        bound.as_secs_f64()
    );
    let keep_alive: Vec<_> = clients.iter().map(Lwm2mClient::keep_alive).collect();

    match args.duration {
        Some(seconds) => tokio::time::sleep(Duration::from_secs_f64(seconds.max(0.0))).await,
        None => {
            tokio::signal::ctrl_c().await.context("cannot wait for Ctrl-C")?;
        }
    }
    for task in keep_alive {
        task.abort();
    }
    let installed: usize = clients.iter().map(|c| c.installed().len()).sum();
    println!("installed {installed} packages in all");
    let mut tasks = Vec::with_capacity(clients.len());
    for client in clients {
        let semaphore = semaphore.clone();
        tasks.push(tokio::spawn(async move {
            let _permit = semaphore.acquire().await;
            client.deregister().await
        }));
    }
    for task in tasks {
        let _ = task.await;
    }
    if failed > 0 {
        anyhow::bail!("{failed} devices did not register");
    }
    Ok(())
}
