//! `seam load`: RDF files and model files into the store, validated, all or nothing.

use std::path::PathBuf;

use clap::ValueEnum;
use seam_registry::data_dir::DataDir;
use seam_registry::ingest::{self, onnx::ModelFacts, seloc};
use seam_registry::models::{self, model_format, ModelError, ModelFile};

use crate::failure::{runtime, Failure};

#[derive(Clone, Copy, ValueEnum)]
pub(crate) enum Source {
    /// SeLoC-ML's published graph (a folder with description/ and schema/).
    SelocMl,
}

/// The arguments of `seam load`.
#[derive(clap::Args)]
pub(crate) struct LoadArgs {
    /// Files to load (or, with --from, the folder to import).
    #[arg(required = true)]
    files: Vec<PathBuf>,
    /// Import a third-party graph, repairing its known defects.
    #[arg(long, value_enum)]
    from: Option<Source>,
    /// Store directory.
    #[arg(long, default_value = "./seam-data")]
    data: PathBuf,
    /// Where the graph is kept (default: the data folder).
    #[command(flatten)]
    store: super::StoreArgs,
    /// For ONNX files: the task (a catalog name such as keyword-spotting, or an IRI).
    #[arg(long)]
    task: Option<String>,
    /// For ONNX files: top-1 accuracy (a fraction or a percentage).
    #[arg(long)]
    accuracy: Option<f64>,
    /// For ONNX files: the dataset the accuracy was measured on.
    #[arg(long)]
    dataset: Option<String>,
    /// For ONNX files: a sensor kind the input comes from (repeatable), e.g. microphone.
    #[arg(long = "input-sensor")]
    input_sensors: Vec<String>,
    /// A JSON-LD context as a local file, for documents that use it (repeatable): URL=FILE.
    /// The W3C WoT TD and Discovery contexts are bundled; nothing is fetched.
    #[arg(long = "context", value_name = "URL=FILE")]
    contexts: Vec<super::ContextArg>,
}

/// Runs `seam load`. Everything is parsed and measured before the store is opened: a bad file
/// costs no lock and no write.
pub(crate) fn run(args: LoadArgs) -> Result<(), Failure> {
    super::register_contexts(&args.contexts)?;
    let data = DataDir::at(&args.data);
    if let Some(Source::SelocMl) = args.from {
        let [dir] = args.files.as_slice() else {
            return Err(Failure::Runtime(anyhow::anyhow!(
                "--from seloc-ml takes exactly one folder"
            )));
        };
        let import = seloc::import(dir).map_err(runtime)?;
        for repair in &import.repairs {
            eprintln!("repaired {repair}");
        }
        let registry = args.store.open(data.store())?;
        let (report, seeded) = import.load_into(&registry).map_err(runtime)?;
        say_loaded(&report, seeded);
        return Ok(());
    }
    let facts = ModelFacts {
        task: args.task.clone(),
        accuracy: args.accuracy,
        dataset: args.dataset.clone(),
        input_sensors: args.input_sensors.clone(),
    };
    let mut model_files = Vec::new();
    let mut documents = Vec::new();
    let mut things = Vec::new();
    let mut paths = Vec::new();
    let mut thing_paths = Vec::new();
    for file in &args.files {
        if model_format(file).is_some() {
            model_files.push(ModelFile::read(file, &facts).map_err(model_failure)?);
            paths.push(file);
        } else if let Some(thing) = ingest::td::read_file_if_thing(file).map_err(runtime)? {
            things.push(thing);
            thing_paths.push(file);
        } else {
            documents.push(ingest::read_file(file).map_err(runtime)?);
        }
    }
    if !things.is_empty() {
        if !model_files.is_empty() {
            return Err(Failure::Invalid(anyhow::anyhow!(
                "load model files and Thing Descriptions in separate commands (each is one transaction of its own kind)"
            )));
        }
        let registry = args.store.open(data.store())?;
        // Each TD is the named graph of its id, replaced when it is loaded again.
        let (report, seeded) = registry.load_things(&documents, &things).map_err(runtime)?;
        for (path, thing) in thing_paths.iter().zip(&things) {
            let assigned = if thing.assigned { " (id assigned)" } else { "" };
            println!("thing {} → {}{assigned}", path.display(), thing.id.as_str());
        }
        say_loaded(&report, seeded);
        return Ok(());
    }
    let registry = args.store.open(data.store())?;
    let registered = models::register(&registry, &data, &model_files, documents).map_err(model_failure)?;
    for (path, (iri, _)) in paths.iter().zip(&registered.models) {
        println!("model {} → {iri}", path.display());
    }
    say_loaded(&registered.report, registered.seeded);
    Ok(())
}

fn say_loaded(report: &seam_registry::graph::LoadReport, seeded: bool) {
    if seeded {
        eprintln!("seeded the new store with the ontology and the example catalog");
    }
    println!(
        "loaded {} document(s), {} triples read; the store now holds {} quads",
        report.documents, report.quads_read, report.store_size
    );
}

/// The error inside, so that an invalid model or document exits 3 with its diagnostics.
fn model_failure(e: ModelError) -> Failure {
    match e {
        ModelError::Invalid(e) => runtime(e),
        ModelError::Ingest(e) => runtime(e),
        keep @ ModelError::Keep { .. } => runtime(keep),
    }
}
