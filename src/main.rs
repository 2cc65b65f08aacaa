//! `seam`: the command-line interface. Parses arguments, calls the crates, prints.
//!
//! Exit codes (DESIGN §4): 0 success, 1 runtime failure, 2 usage error (clap), 3 invalid input.

mod allocator;
mod commands;
mod failure;
mod render;

use std::io::IsTerminal as _;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use commands::{analyze, compile, demo, deploy, devices, load, match_device, query, rollouts, serve, tokens};
use failure::Failure;

#[derive(Parser)]
#[command(
    name = "seam",
    version,
    about = "SEAM: which TinyML model runs on which device, and why — from a knowledge graph"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
    /// Log lines on stderr as text for people, or one JSON object per line for a log pipeline.
    #[arg(long, global = true, env = "SEAM_LOG_FORMAT", default_value = "text", value_parser = ["text", "json"])]
    log_format: String,
}

#[derive(Subcommand)]
enum Command {
    /// The whole story in one process: the service on an embedded store, real model files, simulated
    /// devices of mixed boards, and per job the best compatible model rolled out, with a summary.
    #[command(
        after_help = "Examples:\n  seam demo                          # 50 devices, then serve until Ctrl-C\n  \
        seam demo --devices 20 --until-done --json\n  \
        seam demo --seloc-models ../shared/interop/seloc-ml/models\n\n\
        HTTP on 127.0.0.1:8080, LwM2M on coap://127.0.0.1:5683 (--http, --coap); a temporary store unless --data."
    )]
    Demo(demo::DemoArgs),
    /// Run the service: SPARQL endpoint over HTTP on an embedded store (seeded when empty).
    #[command(
        after_help = "Example:\n  seam serve --data ./seam-data --token \"$(openssl rand -hex 16)\"\n\n\
        HTTP on 127.0.0.1:8080 (SPARQL at /sparql, GraphQL at /graphql), LwM2M on coap://127.0.0.1:5683."
    )]
    Serve(serve::ServeArgs),
    /// Load RDF files or models into the store: validated, all or nothing.
    #[command(
        after_help = "Formats, by extension: Turtle (.ttl), N-Triples (.nt), N-Quads (.nq), TriG (.trig), \
        RDF/XML (.rdf, .owl, .xml), JSON-LD and WoT Thing Descriptions (.jsonld, .json), \
        ONNX (.onnx) and TFLite (.tflite) models (measured; give --task).\n\n\
        Examples:\n  seam load my-boards.ttl thing-description.jsonld\n  \
        seam load kws.onnx --task keyword-spotting --accuracy 0.9 --input-sensor microphone\n  \
        seam load --from seloc-ml ../shared/interop/seloc-ml"
    )]
    Load(load::LoadArgs),
    /// Run a SPARQL query on the store or on a SPARQL endpoint.
    #[command(
        after_help = "SEAM's prefixes (seam:, cat:, dev:, nnet:, s3n:, sosa:, td:, schema:, prov:, ...) are \
        predeclared. Output: --format table (people), json, csv, tsv or xml.\n\n\
        Examples:\n  seam query 'SELECT ?b ?ram WHERE { ?b a seam:Board ; seam:ramBytes ?ram }'\n  \
        seam query -f queries/compatible-models.rq --endpoint http://127.0.0.1:8080 --format csv"
    )]
    Query(query::QueryArgs),
    /// Rank the models that run on a device; with --explain, say why the others do not.
    #[command(
        after_help = "DEVICE is a short name (line3-acoustic-02) or an IRI (dev:line3-acoustic-02); or a board \
        type, by its catalog name (arduino-nano-33-ble-sense) or IRI (cat:arduino-nano-33-ble-sense), judged on \
        its datasheet figures with nothing reserved: \"what runs on this board?\"\n\n\
        Examples:\n  seam match line3-acoustic-02 --explain\n  seam match arduino-nano-33-ble-sense\n  \
        seam match line3-acoustic-02 --json --latency-budget 50 --endpoint http://127.0.0.1:8080"
    )]
    Match(match_device::MatchArgs),
    /// Roll a model out to devices through a running service (compiled per board, delivered in
    /// groups, followed to the end), or deliver a ready package as it is.
    #[command(
        after_help = "WHAT is a model (its IRI or name in the graph, or an ONNX/TFLite file, registered first), \
        or a package: a .seampkg from `seam compile` (verified before it is sent) or any file the devices' \
        Object 9 or 5 installs.\n\n\
        Examples:\n  seam deploy kws.onnx --compatible --canary 10 --error-threshold 20\n  \
        seam deploy https://w3id.org/seam/model/<sha256> --to node-1 node-2 --detach\n  \
        seam deploy out/kws.seampkg --to line3-acoustic-02\n\n\
        Exit codes: 0 every device installed (or was skipped as incompatible), 1 the rollout halted or \
        devices failed, 3 the request was refused (unknown model or device, runs nowhere, busy devices)."
    )]
    Deploy(deploy::DeployArgs),
    /// Measure an ONNX or TFLite model: params, MACs, weight and activation memory, per-runtime estimates.
    #[command(after_help = "Formats: ONNX (.onnx) and TFLite (.tflite).\n\n\
        Example:\n  seam analyze ../shared/interop/seloc-ml/models/Hello_World.tflite --json")]
    Analyze(analyze::AnalyzeArgs),
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
    Compile(compile::CompileArgs),
    /// List the rollouts of a running service, show one device by device, or steer one.
    #[command(
        after_help = "Examples:\n  seam rollouts\n  seam rollouts r1a2b3c4d00\n  seam rollouts r1a2b3c4d00 --pause"
    )]
    Rollouts(rollouts::RolloutsArgs),
    /// Make, list and revoke the bearer tokens a service accepts, each with its scopes.
    #[command(
        after_help = "Scopes: read (reads, when `seam serve --reads closed`), write (loads, updates, models, Thing \
        Descriptions, compilations), deploy (packages, deployments, rollouts), admin (everything). Every token may read.\n\n\
        Only a digest of each token is kept (DATA/tokens.json); a running service sees changes from its next request.\n\n\
        Examples:\n  seam tokens create ci-deployer --scope deploy\n  seam tokens create ops --scope write,deploy\n  \
        seam tokens list\n  seam tokens revoke ci-deployer"
    )]
    Tokens(tokens::TokensArgs),
    /// Device secrets: DTLS pre-shared keys for LwM2M over coaps:// (kept outside the graph).
    #[command(
        after_help = "A device with a key registers over coaps:// only, as the endpoint its identity is provisioned \
        for. Keys live in DATA/credentials.json (mode 0600); a running service uses a new key from the next handshake.\n\n\
        Examples:\n  seam devices add-psk line3-acoustic-02 --identity line3-acoustic-02 --key-hex 000102030405060708090a0b0c0d0e0f\n  \
        openssl rand -hex 16 | seam devices add-psk node-7 --identity node-7 --key-hex -\n  seam devices credentials"
    )]
    Devices(devices::DevicesArgs),
}

fn main() -> ExitCode {
    // The matches are kept: `seam serve --config` tells a flag from a default by them.
    let matches = <Cli as clap::CommandFactory>::command().get_matches();
    let cli = match <Cli as clap::FromArgMatches>::from_arg_matches(&matches) {
        Ok(cli) => cli,
        Err(e) => e.exit(),
    };
    let default_level = if matches!(cli.command, Command::Serve(_)) {
        "info"
    } else {
        "warn"
    };
    let filter = tracing_subscriber::EnvFilter::try_from_env("SEAM_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default_level));
    if cli.log_format == "json" {
        // One object per line: timestamp, level, target, fields (the span list is left out,
        // the service's spans carry nothing a line does not).
        tracing_subscriber::fmt()
            .json()
            .with_current_span(false)
            .with_env_filter(filter)
            .with_writer(std::io::stderr)
            .init();
    } else {
        tracing_subscriber::fmt()
            .with_env_filter(filter)
            .with_writer(std::io::stderr)
            .with_ansi(std::io::stderr().is_terminal())
            .init();
    }

    let result = match cli.command {
        Command::Serve(args) => serve::run(args, matches.subcommand_matches("serve")).map(|()| 0),
        Command::Load(args) => load::run(args).map(|()| 0),
        Command::Query(args) => query::run(args).map(|()| 0),
        Command::Match(args) => match_device::run(args).map(|()| 0),
        Command::Demo(args) => demo::run(args).map(|()| 0),
        Command::Deploy(args) => deploy::run(args).map(|()| 0),
        Command::Rollouts(args) => rollouts::run(args).map(|()| 0),
        Command::Tokens(args) => tokens::run(args).map(|()| 0),
        Command::Devices(args) => devices::run(args).map(|()| 0),
        Command::Analyze(args) => analyze::run(args).map(|()| 0),
        Command::Compile(args) => compile::compile(args),
    };
    match result {
        Ok(code) => ExitCode::from(code),
        Err(Failure::DoesNotFit) => ExitCode::from(compile::DOES_NOT_FIT),
        Err(Failure::Runtime(e)) => {
            failure::report(&e);
            ExitCode::from(1)
        }
        Err(Failure::Invalid(e)) => {
            failure::report(&e);
            ExitCode::from(3)
        }
    }
}
