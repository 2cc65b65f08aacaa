//! `seam query`: SPARQL against the store or an endpoint, printed in the format asked for.

use std::io::Write as _;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context as _;
use clap::ValueEnum;
use seam_registry::answer::{GraphFormat, ResultsFormat};
use seam_registry::remote::SparqlEndpoint;
use seam_registry::{QueryAnswer, QueryLimits};

use crate::failure::{runtime, Failure};

#[derive(Clone, Copy, ValueEnum, PartialEq, Eq)]
pub(crate) enum OutputFormat {
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

/// The arguments of `seam query`.
#[derive(clap::Args)]
pub(crate) struct QueryArgs {
    /// The SPARQL query (SEAM's prefixes, e.g. seam:, nnet:, s3n:, are predeclared).
    #[arg(required_unless_present = "file", conflicts_with = "file")]
    sparql: Option<String>,
    /// Read the query from a file.
    #[arg(short = 'f', long = "file")]
    file: Option<PathBuf>,
    /// Store directory.
    #[arg(long, default_value = "./seam-data", conflicts_with = "endpoint")]
    data: PathBuf,
    /// Where the graph is kept (default: the data folder).
    #[command(flatten)]
    store: super::StoreArgs,
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

/// Runs `seam query`.
pub(crate) fn run(args: QueryArgs) -> Result<(), Failure> {
    let sparql = match (&args.sparql, &args.file) {
        (Some(q), _) => q.clone(),
        (None, Some(f)) => std::fs::read_to_string(f).with_context(|| format!("cannot read {}", f.display()))?,
        (None, None) => return Err(Failure::Runtime(anyhow::anyhow!("no query given"))),
    };
    let timeout = Duration::from_secs_f64(args.timeout.max(0.001));
    let answer = match &args.endpoint {
        Some(url) => {
            let endpoint = SparqlEndpoint::new(&sparql_url(url), timeout).map_err(runtime)?;
            let runtime_ = super::client_runtime()?;
            // Remote endpoints do not know SEAM's prefixes: declare them in the text.
            let text = format!("{}{}", seam_registry::vocab::sparql_prefixes(), sparql);
            runtime_.block_on(endpoint.query(&text)).map_err(runtime)?
        }
        None => {
            if args.store.store.is_none() && !args.data.exists() {
                return Err(Failure::Runtime(anyhow::anyhow!(
                    "no store at {} (load data with `seam load`, start `seam serve`, or pass --data / --store / --endpoint)",
                    args.data.display()
                )));
            }
            let registry = args.store.open(&args.data)?;
            let limits = QueryLimits {
                timeout,
                max_rows: usize::MAX,
                max_result_bytes: usize::MAX,
                ..QueryLimits::default()
            };
            registry.query(&sparql, &limits).map_err(runtime)?
        }
    };
    print_answer(&answer, args.format).context("cannot write the result")?;
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
