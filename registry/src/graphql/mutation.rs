//! The mutations: registering a device or a model from what a client states. The facts are
//! built as quads (never as Turtle text) and validated and loaded like `seam load`.

use async_graphql::{Context, Error, InputObject, Object, Result};
use oxigraph::io::RdfFormat;
use oxigraph::model::vocab::{rdf, rdfs, xsd};
use oxigraph::model::{BlankNode, GraphName, Literal, NamedNode, NamedOrBlankNode, Quad, Term};

use super::query::CatalogQuery;
use super::scalars::Long;
use super::types::{Device, Model};
use super::{bad_input, internal, require};
use crate::graph::{Guarded, Registry};
use crate::ingest::Document;
use crate::vocab::{expand, DEVICE, SEAM};

/// A device to register.
#[derive(Debug, Clone, InputObject)]
pub struct DeviceInput {
    /// Its short name (unique, `[a-z0-9-]`); the IRI is `dev:<shortName>` unless `id` is given.
    pub short_name: String,
    /// Its IRI, when not derived from the short name.
    pub id: Option<String>,
    /// Its board (IRI or prefixed name).
    pub board: String,
    /// A label.
    pub label: Option<String>,
    /// Where it is.
    pub location: Option<String>,
    /// Free RAM it has, bytes.
    pub free_ram_bytes: Option<Long>,
    /// Free flash it has, bytes.
    pub free_flash_bytes: Option<Long>,
    /// Runtime installed (IRI or prefixed name).
    pub runtime: Option<String>,
}

/// A model to register (facts as published; measured facts come from `POST /models`).
#[derive(Debug, Clone, InputObject)]
pub struct ModelInput {
    /// Its IRI (or prefixed name).
    pub id: String,
    /// Its name.
    pub name: String,
    /// Its task (IRI or prefixed name).
    pub task: String,
    /// Its data type (e.g. `seam:int8`).
    pub dtype: String,
    /// Learnable parameters.
    pub params: Long,
    /// MACs of one inference.
    pub macs: Long,
    /// Weight bytes.
    pub weight_bytes: Long,
    /// Peak activation bytes.
    pub peak_activation_bytes: Long,
    /// Operators it uses (ONNX names).
    #[graphql(default)]
    pub operators: Vec<String>,
    /// Sensor kinds its input needs (e.g. `seam:microphone`).
    #[graphql(default)]
    pub sensor_kinds: Vec<String>,
    /// Accuracy (0..1) and its metric.
    pub accuracy: Option<f64>,
    /// The accuracy's metric.
    pub metric: Option<String>,
}

/// The registration mutations.
#[derive(Default)]
pub struct RegistrationMutation;

/// An IRI the client gave (or a prefixed name), refused when it is not one.
fn node(text: &str) -> Result<NamedNode> {
    let expanded = expand(text);
    NamedNode::new(expanded.as_str()).map_err(|e| bad_input(format!("{text:?} is not an IRI: {e}")))
}

fn seam(local: &str) -> NamedNode {
    NamedNode::new_unchecked(format!("{SEAM}{local}"))
}

fn integer(n: u64) -> Literal {
    Literal::new_typed_literal(n.to_string(), xsd::INTEGER)
}

/// The quads of one mutation, as a document to validate and load.
#[derive(Default)]
struct Facts(Vec<Quad>);

impl Facts {
    fn add(&mut self, s: impl Into<NamedOrBlankNode>, p: NamedNode, o: impl Into<Term>) {
        self.0.push(Quad::new(s, p, o, GraphName::DefaultGraph));
    }

    fn document(self, name: &str) -> Document {
        Document {
            name: name.to_owned(),
            text: String::new(),
            format: RdfFormat::NTriples,
            prefixes: Vec::new(),
            quads: self.0,
        }
    }
}

fn load_error(e: crate::IngestError) -> Error {
    match e {
        crate::IngestError::Invalid(_) => bad_input(e.to_string()),
        other => internal(other),
    }
}

#[Object]
impl RegistrationMutation {
    /// Registers a device, validated like `seam load`.
    async fn register_device(&self, ctx: &Context<'_>, input: DeviceInput) -> Result<Device> {
        require(ctx, crate::access::Scope::Write)?;
        let registry = ctx.data::<Registry>()?;
        if input.short_name.is_empty()
            || !input
                .short_name
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        {
            return Err(bad_input("shortName must be non-empty and use only a-z, 0-9 and -"));
        }
        let device = match &input.id {
            Some(id) => node(id)?,
            None => node(&format!("{DEVICE}{}", input.short_name))?,
        };
        let mut facts = Facts::default();
        facts.add(device.clone(), rdf::TYPE.into_owned(), seam("Device"));
        facts.add(
            device.clone(),
            seam("shortName"),
            Literal::new_simple_literal(&input.short_name),
        );
        facts.add(device.clone(), seam("board"), node(&input.board)?);
        if let Some(l) = &input.label {
            facts.add(device.clone(), rdfs::LABEL.into_owned(), Literal::new_simple_literal(l));
        }
        if let Some(l) = &input.location {
            facts.add(device.clone(), seam("location"), Literal::new_simple_literal(l));
        }
        if let Some(Long(b)) = input.free_ram_bytes {
            facts.add(device.clone(), seam("freeRamBytes"), integer(b));
        }
        if let Some(Long(b)) = input.free_flash_bytes {
            facts.add(device.clone(), seam("freeFlashBytes"), integer(b));
        }
        if let Some(r) = &input.runtime {
            facts.add(device.clone(), seam("runtime"), node(r)?);
        }
        // The name is checked and the device written with no other write in between: ten
        // concurrent registrations of one name make one device, not ten.
        let short_name = input.short_name.clone();
        let device_iri = device.as_str().to_owned();
        let registry = registry.clone();
        let doc = facts.document("registerDevice");
        tokio::task::spawn_blocking(move || {
            registry
                .load_when(&[doc], |r| {
                    if r.short_name_taken(&short_name).map_err(internal)? {
                        return Err(bad_input(format!("a device named {short_name:?} exists already")));
                    }
                    if r.is_device(&device_iri).map_err(internal)? {
                        return Err(bad_input(format!("a device with IRI <{device_iri}> exists already")));
                    }
                    Ok(())
                })
                .map(|_| ())
                .map_err(|e| match e {
                    Guarded::Precondition(e) => e,
                    Guarded::Load(e) => load_error(e),
                })
        })
        .await
        .map_err(internal)??;
        CatalogQuery
            .device(ctx, device.into_string())
            .await?
            .ok_or_else(|| internal("the device was stored but cannot be read back"))
    }

    /// Registers a model from published facts, validated like `seam load`.
    async fn register_model(&self, ctx: &Context<'_>, input: ModelInput) -> Result<Model> {
        require(ctx, crate::access::Scope::Write)?;
        let registry = ctx.data::<Registry>()?.clone();
        let model = node(&input.id)?;
        let mut facts = Facts::default();
        facts.add(model.clone(), rdf::TYPE.into_owned(), seam("Model"));
        facts.add(
            model.clone(),
            NamedNode::new_unchecked("http://schema.org/name"),
            Literal::new_simple_literal(&input.name),
        );
        facts.add(model.clone(), seam("task"), node(&input.task)?);
        facts.add(model.clone(), seam("dtype"), node(&input.dtype)?);
        facts.add(model.clone(), seam("params"), integer(input.params.0));
        facts.add(model.clone(), seam("macs"), integer(input.macs.0));
        facts.add(model.clone(), seam("weightBytes"), integer(input.weight_bytes.0));
        facts.add(
            model.clone(),
            seam("peakActivationBytes"),
            integer(input.peak_activation_bytes.0),
        );
        facts.add(model.clone(), seam("method"), seam("Published"));
        for op in &input.operators {
            facts.add(model.clone(), seam("requiresOperator"), Literal::new_simple_literal(op));
        }
        for kind in &input.sensor_kinds {
            let requirement = BlankNode::default();
            facts.add(model.clone(), seam("requiresSensor"), requirement.clone());
            facts.add(requirement.clone(), rdf::TYPE.into_owned(), seam("SensorRequirement"));
            facts.add(requirement, seam("sensorKind"), node(kind)?);
        }
        if let Some(a) = input.accuracy {
            if !(0.0..=1.0).contains(&a) {
                return Err(bad_input("accuracy must be between 0 and 1"));
            }
            let accuracy = BlankNode::default();
            facts.add(model.clone(), seam("accuracy"), accuracy.clone());
            facts.add(accuracy.clone(), rdf::TYPE.into_owned(), seam("Accuracy"));
            facts.add(
                accuracy.clone(),
                seam("metric"),
                Literal::new_simple_literal(input.metric.as_deref().unwrap_or("accuracy")),
            );
            facts.add(
                accuracy.clone(),
                seam("value"),
                Literal::new_typed_literal(format!("{a}"), xsd::DECIMAL),
            );
            facts.add(accuracy, seam("method"), seam("Published"));
        }
        let doc = facts.document("registerModel");
        tokio::task::spawn_blocking(move || registry.load(&[doc]).map(|_| ()).map_err(load_error))
            .await
            .map_err(internal)??;
        CatalogQuery
            .model(ctx, model.into_string())
            .await?
            .ok_or_else(|| internal("the model was stored but cannot be read back"))
    }
}
