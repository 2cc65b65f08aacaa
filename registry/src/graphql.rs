//! The GraphQL API (async-graphql): devices, models, boards, sensors, runtimes, matching, and the
//! registration mutations.
//!
//! Object fields that point at other nodes (a device's board, a board's sensors) are resolved
//! through request-scoped DataLoaders, so a page of devices with their boards and sensors costs a
//! fixed number of store queries whatever the page size. Matching fields answer from the same
//! in-memory fleet index as `seam match`.

use std::collections::HashMap;
use std::sync::Arc;

use async_graphql::connection::{Connection, Edge};
use async_graphql::dataloader::{DataLoader, HashMapCache, Loader};
use async_graphql::{
    ComplexObject, Context, EmptySubscription, Enum, Error, ErrorExtensions, InputObject, InputValueError,
    InputValueResult, Object, Result, Scalar, ScalarType, Schema, SimpleObject, Value, ID,
};
use base64::Engine as _;
use oxigraph::io::RdfFormat;
use oxigraph::model::{NamedNode, Term};

use crate::answer::QueryAnswer;
use crate::graph::{QueryLimits, Registry};
use crate::ingest::parse_document;
use crate::matching::FleetIndex;
use crate::matching::{self, MatchOptions};
use crate::vocab::{expand, DEVICE, SEAM};

/// The schema type served at `/graphql`.
pub type SeamSchema = Schema<QueryRoot, MutationRoot, EmptySubscription>;

/// Whether the request carried the write token (request data).
#[derive(Debug, Clone, Copy)]
pub struct Authorized(pub bool);

/// Builds the schema over the registry `fleet` indexes, with depth and complexity limits.
pub fn schema(fleet: FleetIndex) -> SeamSchema {
    Schema::build(QueryRoot, MutationRoot, EmptySubscription)
        .data(fleet.registry().clone())
        .data(fleet)
        // Deep enough for the standard introspection query (seven `ofType` levels), which
        // GraphiQL sends to load the schema; the complexity limit bounds the cost.
        .limit_depth(16)
        .limit_complexity(20_000)
        .finish()
}

/// The board loader of a request (caching: what a list resolver primed is not loaded again).
pub type Boards = DataLoader<BoardLoader, HashMapCache>;
/// The sensor loader of a request.
pub type Sensors = DataLoader<SensorLoader, HashMapCache>;
/// The loader of what devices run, of a request.
pub type Artifacts = DataLoader<ArtifactLoader, HashMapCache>;

/// The DataLoaders of one request.
pub fn loaders(registry: &Registry) -> (Boards, Sensors, Artifacts) {
    (
        DataLoader::with_cache(BoardLoader(registry.clone()), tokio::spawn, HashMapCache::default()),
        DataLoader::with_cache(SensorLoader(registry.clone()), tokio::spawn, HashMapCache::default()),
        DataLoader::with_cache(ArtifactLoader(registry.clone()), tokio::spawn, HashMapCache::default()),
    )
}

/// A non-negative integer too large for GraphQL's 32-bit `Int` (byte counts, MACs): a JSON number,
/// exact up to 2^53.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Long(pub u64);

#[Scalar(name = "Long")]
impl ScalarType for Long {
    fn parse(value: Value) -> InputValueResult<Self> {
        match &value {
            Value::Number(n) => n
                .as_u64()
                .filter(|v| *v <= (1 << 53))
                .map(Long)
                .ok_or_else(|| InputValueError::custom("expected a non-negative integer up to 2^53")),
            _ => Err(InputValueError::expected_type(value)),
        }
    }

    fn to_value(&self) -> Value {
        Value::Number(self.0.into())
    }
}

fn internal(e: impl std::fmt::Display) -> Error {
    Error::new(e.to_string()).extend_with(|_, x| x.set("code", "INTERNAL"))
}

fn bad_input(message: impl Into<String>) -> Error {
    Error::new(message.into()).extend_with(|_, x| x.set("code", "BAD_USER_INPUT"))
}

type Row = Vec<Option<Term>>;

async fn select(registry: &Registry, sparql: String) -> Result<Vec<Row>> {
    let registry = registry.clone();
    let answer = tokio::task::spawn_blocking(move || registry.query(&sparql, &QueryLimits::default()))
        .await
        .map_err(internal)?
        .map_err(internal)?;
    match answer {
        QueryAnswer::Solutions { rows, .. } => Ok(rows),
        _ => Err(internal("expected solutions")),
    }
}

fn text(row: &Row, i: usize) -> Option<String> {
    match row.get(i)?.as_ref()? {
        Term::NamedNode(n) => Some(n.as_str().to_owned()),
        Term::Literal(l) => Some(l.value().to_owned()),
        Term::BlankNode(b) => Some(format!("_:{}", b.as_str())),
        #[allow(unreachable_patterns)]
        _ => None,
    }
}

fn long(row: &Row, i: usize) -> Option<Long> {
    text(row, i).and_then(|v| v.parse().ok()).map(Long)
}

fn float(row: &Row, i: usize) -> Option<f64> {
    text(row, i).and_then(|v| v.parse().ok())
}

/// A validated IRI written as a SPARQL term (validation forbids `>` and spaces, so the text
/// cannot escape the term).
fn iri_term(iri: &str) -> Result<String> {
    NamedNode::new(iri)
        .map(|n| n.to_string())
        .map_err(|e| bad_input(format!("{iri:?} is not an IRI: {e}")))
}

fn values(keys: &[String]) -> String {
    keys.iter()
        .filter_map(|k| NamedNode::new(k.as_str()).ok())
        .map(|n| n.to_string())
        .collect::<Vec<_>>()
        .join(" ")
}

/// The status of a device.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum)]
pub enum DeviceStatus {
    /// Registered and within its lifetime.
    Online,
    /// De-registered or expired.
    Offline,
    /// Not stated.
    Unknown,
}

/// A device of the fleet.
#[derive(Debug, Clone, SimpleObject)]
#[graphql(complex)]
pub struct Device {
    /// Its IRI.
    pub id: ID,
    /// Its short name.
    pub short_name: Option<String>,
    /// Its label.
    pub label: Option<String>,
    /// Where it is.
    pub location: Option<String>,
    /// Online, offline or unknown.
    pub status: DeviceStatus,
    /// Free RAM it reported, bytes.
    pub free_ram_bytes: Option<Long>,
    /// Free flash it reported, bytes.
    pub free_flash_bytes: Option<Long>,
    /// The runtime installed on it (IRI).
    pub runtime: Option<String>,
    /// Firmware version it reported.
    pub firmware_version: Option<String>,
    #[graphql(skip)]
    board_iri: Option<String>,
}

#[ComplexObject]
impl Device {
    /// The board it is an instance of.
    async fn board(&self, ctx: &Context<'_>) -> Result<Option<Board>> {
        let Some(iri) = &self.board_iri else { return Ok(None) };
        ctx.data::<Boards>()?
            .load_one(iri.clone())
            .await
            .map_err(|e: Arc<Error>| (*e).clone())
    }

    /// Sensors attached to this device (besides its board's).
    async fn sensors(&self, ctx: &Context<'_>) -> Result<Vec<Sensor>> {
        let loader = ctx.data::<Sensors>()?;
        Ok(loader
            .load_one(self.id.to_string())
            .await
            .map_err(|e: Arc<Error>| (*e).clone())?
            .unwrap_or_default())
    }

    /// The packages installed on it (`seam:runs`), with where each came from.
    async fn runs(&self, ctx: &Context<'_>) -> Result<Vec<Artifact>> {
        let loader = ctx.data::<Artifacts>()?;
        Ok(loader
            .load_one(self.id.to_string())
            .await
            .map_err(|e: Arc<Error>| (*e).clone())?
            .unwrap_or_default())
    }
}

/// A compiled, signed package and its provenance: which model it was derived from, by which
/// backend with which options, signed by which key, and how it validated.
#[derive(Debug, Clone, SimpleObject)]
pub struct Artifact {
    /// Its IRI (content-addressed by the package's SHA-256).
    pub id: ID,
    /// The package's SHA-256.
    pub sha256: Option<String>,
    /// The package's size, bytes.
    pub size_bytes: Option<Long>,
    /// The model it was derived from (IRI).
    pub model: Option<String>,
    /// The backend that compiled it.
    pub backend: Option<String>,
    /// The backend's version.
    pub backend_version: Option<String>,
    /// The compilation's options, as canonical JSON.
    pub options: Option<String>,
    /// When the compilation ended (xsd:dateTime).
    pub compiled_at: Option<String>,
    /// The public key (hex) of the key that signed its manifest.
    pub signer_public_key: Option<String>,
    /// Share of seeded inputs on which it agrees with its original's top-1.
    pub top1_agreement: Option<f64>,
    /// Its largest output difference from the original, relative.
    pub relative_error: Option<f64>,
}

const ARTIFACT_FIELDS: &str = "?a ?sha ?size ?model ?backend ?version ?options ?ended ?key ?top1 ?rel";
const ARTIFACT_PATTERN: &str = "OPTIONAL { ?a seam:sha256 ?sha } OPTIONAL { ?a seam:sizeBytes ?size }
       OPTIONAL { ?a prov:wasDerivedFrom ?model }
       OPTIONAL { ?a prov:wasGeneratedBy ?c . OPTIONAL { ?c seam:backend ?backend } OPTIONAL { ?c seam:backendVersion ?version }
                  OPTIONAL { ?c seam:options ?options } OPTIONAL { ?c prov:endedAtTime ?ended } }
       OPTIONAL { ?a seam:signedWith ?k . ?k seam:publicKey ?key }
       OPTIONAL { ?a seam:top1Agreement ?top1 } OPTIONAL { ?a seam:relativeError ?rel }";

fn artifact_from(r: &Row, at: usize) -> Option<Artifact> {
    Some(Artifact {
        id: ID(text(r, at)?),
        sha256: text(r, at + 1),
        size_bytes: long(r, at + 2),
        model: text(r, at + 3),
        backend: text(r, at + 4),
        backend_version: text(r, at + 5),
        options: text(r, at + 6),
        compiled_at: text(r, at + 7),
        signer_public_key: text(r, at + 8),
        top1_agreement: float(r, at + 9),
        relative_error: float(r, at + 10),
    })
}

/// Loads what devices run, by device IRI: one store query per batch.
pub struct ArtifactLoader(Registry);

impl Loader<String> for ArtifactLoader {
    type Value = Vec<Artifact>;
    type Error = Arc<Error>;

    async fn load(&self, keys: &[String]) -> std::result::Result<HashMap<String, Vec<Artifact>>, Arc<Error>> {
        let rows = select(
            &self.0,
            format!(
                "SELECT ?d {ARTIFACT_FIELDS} WHERE {{ VALUES ?d {{ {} }} ?d seam:runs ?a . {ARTIFACT_PATTERN} }} ORDER BY ?d ?a",
                values(keys)
            ),
        )
        .await
        .map_err(Arc::new)?;
        let mut out: HashMap<String, Vec<Artifact>> = keys.iter().map(|k| (k.clone(), Vec::new())).collect();
        for r in &rows {
            if let (Some(device), Some(artifact)) = (text(r, 0), artifact_from(r, 1)) {
                let list = out.entry(device).or_default();
                // A property given twice would repeat the artifact: keep its first row.
                if !list.iter().any(|a| a.id == artifact.id) {
                    list.push(artifact);
                }
            }
        }
        Ok(out)
    }
}

/// A kind of hardware.
#[derive(Debug, Clone, SimpleObject)]
#[graphql(complex)]
pub struct Board {
    /// Its IRI.
    pub id: ID,
    /// Its label.
    pub label: Option<String>,
    /// CPU core.
    pub core: Option<String>,
    /// Instruction set (IRI).
    pub isa: Option<String>,
    /// Core clock, Hz.
    pub clock_hz: Option<Long>,
    /// On-chip RAM, bytes.
    pub ram_bytes: Option<Long>,
    /// Program storage, bytes.
    pub flash_bytes: Option<Long>,
}

#[ComplexObject]
impl Board {
    /// Its on-board sensors.
    async fn sensors(&self, ctx: &Context<'_>) -> Result<Vec<Sensor>> {
        let loader = ctx.data::<Sensors>()?;
        Ok(loader
            .load_one(self.id.to_string())
            .await
            .map_err(|e: Arc<Error>| (*e).clone())?
            .unwrap_or_default())
    }
}

/// A sensor.
#[derive(Debug, Clone, SimpleObject)]
pub struct Sensor {
    /// Its IRI (or blank node label).
    pub id: ID,
    /// Its label.
    pub label: Option<String>,
    /// Its kind (IRI).
    pub kind: Option<String>,
    /// Maximum sample rate, Hz.
    pub sample_rate_hz: Option<f64>,
    /// Lowest measurable value (SI unit of the kind).
    pub range_min: Option<f64>,
    /// Highest measurable value.
    pub range_max: Option<f64>,
}

/// A runtime.
#[derive(Debug, Clone, SimpleObject)]
pub struct Runtime {
    /// Its IRI.
    pub id: ID,
    /// Its label.
    pub label: Option<String>,
    /// Version.
    pub version: Option<String>,
    /// RAM overhead, bytes.
    pub ram_overhead_bytes: Option<Long>,
    /// Flash overhead, bytes.
    pub flash_overhead_bytes: Option<Long>,
}

/// A model.
#[derive(Debug, Clone, SimpleObject)]
pub struct Model {
    /// Its IRI.
    pub id: ID,
    /// Its name.
    pub name: Option<String>,
    /// Its task (IRI).
    pub task: Option<String>,
    /// Its data type (IRI).
    pub dtype: Option<String>,
    /// Learnable parameters.
    pub params: Option<Long>,
    /// MACs of one inference.
    pub macs: Option<Long>,
    /// Weight bytes.
    pub weight_bytes: Option<Long>,
    /// Peak activation bytes.
    pub peak_activation_bytes: Option<Long>,
    /// Best accuracy figure (0..1).
    pub accuracy: Option<f64>,
}

/// Loads boards by IRI: one store query per batch.
pub struct BoardLoader(Registry);

impl Loader<String> for BoardLoader {
    type Value = Board;
    type Error = Arc<Error>;

    async fn load(&self, keys: &[String]) -> std::result::Result<HashMap<String, Board>, Arc<Error>> {
        let rows = select(
            &self.0,
            format!(
                "{BOARD_SELECT} WHERE {{ VALUES ?b {{ {} }} {BOARD_PATTERN} }} GROUP BY ?b",
                values(keys)
            ),
        )
        .await
        .map_err(Arc::new)?;
        Ok(rows
            .iter()
            .filter_map(|r| board_from(r).map(|b| (b.id.to_string(), b)))
            .collect())
    }
}

const BOARD_SELECT: &str =
    "SELECT ?b (SAMPLE(?l) AS ?label) (SAMPLE(?c) AS ?core) (SAMPLE(?i) AS ?isa) (SAMPLE(?h) AS ?clock)
       (SAMPLE(?r) AS ?ram) (SAMPLE(?f) AS ?flash)";
const BOARD_PATTERN: &str =
    "?b a seam:Board OPTIONAL { ?b rdfs:label ?l } OPTIONAL { ?b seam:core ?c } OPTIONAL { ?b seam:isa ?i }
       OPTIONAL { ?b seam:clockHz ?h } OPTIONAL { ?b seam:ramBytes ?r } OPTIONAL { ?b seam:flashBytes ?f }";

fn board_from(r: &Row) -> Option<Board> {
    Some(Board {
        id: ID(text(r, 0)?),
        label: text(r, 1),
        core: text(r, 2),
        isa: text(r, 3),
        clock_hz: long(r, 4),
        ram_bytes: long(r, 5),
        flash_bytes: long(r, 6),
    })
}

/// Loads the sensors of boards and devices by owner IRI: one store query per batch.
pub struct SensorLoader(Registry);

const SENSOR_FIELDS: &str = "?s ?label ?kind ?rate ?lo ?hi";
const SENSOR_PATTERN: &str =
    "?s seam:sensorKind ?kind OPTIONAL { ?s rdfs:label ?label } OPTIONAL { ?s seam:sampleRateHz ?rate }
                              OPTIONAL { ?s seam:rangeMin ?lo } OPTIONAL { ?s seam:rangeMax ?hi }";

fn sensor_from(r: &Row, at: usize) -> Option<Sensor> {
    Some(Sensor {
        id: ID(text(r, at)?),
        label: text(r, at + 1),
        kind: text(r, at + 2),
        sample_rate_hz: float(r, at + 3),
        range_min: float(r, at + 4),
        range_max: float(r, at + 5),
    })
}

impl Loader<String> for SensorLoader {
    type Value = Vec<Sensor>;
    type Error = Arc<Error>;

    async fn load(&self, keys: &[String]) -> std::result::Result<HashMap<String, Vec<Sensor>>, Arc<Error>> {
        let rows = select(
            &self.0,
            format!("SELECT ?owner {SENSOR_FIELDS} WHERE {{ VALUES ?owner {{ {} }} ?owner seam:hasSensor ?s . {SENSOR_PATTERN} }} ORDER BY ?owner ?s", values(keys)),
        )
        .await
        .map_err(Arc::new)?;
        let mut out: HashMap<String, Vec<Sensor>> = keys.iter().map(|k| (k.clone(), Vec::new())).collect();
        for r in &rows {
            if let (Some(owner), Some(sensor)) = (text(r, 0), sensor_from(r, 1)) {
                out.entry(owner).or_default().push(sensor);
            }
        }
        Ok(out)
    }
}

const DEVICE_SELECT: &str = "SELECT ?d (SAMPLE(?n) AS ?name) (SAMPLE(?l) AS ?label) (SAMPLE(?loc) AS ?location) (SAMPLE(?st) AS ?status)
       (SAMPLE(?fr) AS ?freeRam) (SAMPLE(?ff) AS ?freeFlash) (SAMPLE(?rt) AS ?runtime) (SAMPLE(?fw) AS ?firmware) (SAMPLE(?b) AS ?board)";
const DEVICE_PATTERN: &str = "?d a seam:Device OPTIONAL { ?d seam:shortName ?n } OPTIONAL { ?d rdfs:label ?l } OPTIONAL { ?d seam:location ?loc }
       OPTIONAL { ?d seam:status ?st } OPTIONAL { ?d seam:freeRamBytes ?fr } OPTIONAL { ?d seam:freeFlashBytes ?ff }
       OPTIONAL { ?d seam:runtime ?rt } OPTIONAL { ?d seam:firmwareVersion ?fw } OPTIONAL { ?d seam:board ?b }";

fn device_from(r: &Row) -> Option<Device> {
    Some(Device {
        id: ID(text(r, 0)?),
        short_name: text(r, 1),
        label: text(r, 2),
        location: text(r, 3),
        status: match text(r, 4).as_deref() {
            Some(s) if s == format!("{SEAM}Online") => DeviceStatus::Online,
            Some(s) if s == format!("{SEAM}Offline") => DeviceStatus::Offline,
            _ => DeviceStatus::Unknown,
        },
        free_ram_bytes: long(r, 5),
        free_flash_bytes: long(r, 6),
        runtime: text(r, 7),
        firmware_version: text(r, 8),
        board_iri: text(r, 9),
    })
}

const MODEL_SELECT: &str =
    "SELECT ?m (SAMPLE(?n) AS ?name) (SAMPLE(?t) AS ?task) (SAMPLE(?dt) AS ?dtype) (SAMPLE(?p) AS ?params)
       (SAMPLE(?mc) AS ?macs) (SAMPLE(?w) AS ?weight) (SAMPLE(?pk) AS ?peak) (MAX(?acc) AS ?accuracy)";
const MODEL_PATTERN: &str =
    "?m a seam:Model OPTIONAL { ?m schema:name ?n } OPTIONAL { ?m seam:task ?t } OPTIONAL { ?m seam:dtype ?dt }
       OPTIONAL { ?m seam:params ?p } OPTIONAL { ?m seam:macs ?mc } OPTIONAL { ?m seam:weightBytes ?w }
       OPTIONAL { ?m seam:peakActivationBytes ?pk } OPTIONAL { ?m seam:accuracy/seam:value ?acc }";

fn model_from(r: &Row) -> Option<Model> {
    Some(Model {
        id: ID(text(r, 0)?),
        name: text(r, 1),
        task: text(r, 2),
        dtype: text(r, 3),
        params: long(r, 4),
        macs: long(r, 5),
        weight_bytes: long(r, 6),
        peak_activation_bytes: long(r, 7),
        accuracy: float(r, 8),
    })
}

/// Filters of `devices`.
#[derive(Debug, Clone, Default, InputObject)]
pub struct DeviceFilter {
    /// Only devices of this board (IRI or prefixed name).
    pub board: Option<String>,
    /// Only devices with this status.
    pub status: Option<DeviceStatus>,
}

/// Filters of `models`.
#[derive(Debug, Clone, Default, InputObject)]
pub struct ModelFilter {
    /// Only models of this task (IRI or prefixed name).
    pub task: Option<String>,
    /// Only models in this data type (IRI or prefixed name, e.g. `seam:int8`).
    pub dtype: Option<String>,
}

fn decode_cursor(cursor: &str) -> Result<String> {
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(cursor)
        .map_err(|_| bad_input("invalid cursor"))?;
    String::from_utf8(bytes).map_err(|_| bad_input("invalid cursor"))
}

fn encode_cursor(iri: &str) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(iri)
}

/// What a connection pages over: a grouped SELECT on `?{var}` with extra filters.
struct Listing<T> {
    select: &'static str,
    pattern: &'static str,
    var: &'static str,
    filters: String,
    from_row: fn(&Row) -> Option<T>,
}

/// One page of a Relay connection over IRIs in order: `FILTER(STR(?x) > after)`, `LIMIT first + 1`.
async fn page<T: async_graphql::OutputType>(
    registry: &Registry,
    listing: Listing<T>,
    first: Option<i32>,
    after: Option<String>,
) -> Result<Connection<String, T>> {
    let Listing {
        select: select_clause,
        pattern,
        var,
        filters,
        from_row,
    } = listing;
    let first = first.unwrap_or(50);
    if !(0..=500).contains(&first) {
        return Err(bad_input("`first` must be between 0 and 500"));
    }
    let after = after.as_deref().map(decode_cursor).transpose()?;
    let after_filter = match &after {
        Some(a) => format!(
            "FILTER(STR(?{var}) > {})",
            oxigraph::model::Literal::new_simple_literal(a)
        ),
        None => String::new(),
    };
    let rows = select(
        registry,
        format!("{select_clause} WHERE {{ {pattern} {filters} {after_filter} }} GROUP BY ?{var} ORDER BY STR(?{var}) LIMIT {}", first + 1),
    )
    .await?;
    let has_next = rows.len() > first as usize;
    let mut connection = Connection::new(after.is_some(), has_next);
    for r in rows.iter().take(first as usize) {
        if let Some(node) = from_row(r) {
            let key = text(r, 0).unwrap_or_default();
            connection.edges.push(Edge::new(encode_cursor(&key), node));
        }
    }
    Ok(connection)
}

/// A compatible model (the `seam match --json` shape).
#[derive(Debug, Clone, SimpleObject)]
#[graphql(rename_fields = "camelCase")]
pub struct CompatibleModel {
    /// Model IRI.
    pub model: String,
    /// Model name.
    pub name: String,
    /// Task label.
    pub task: Option<String>,
    /// Accuracy (0..1).
    pub accuracy: Option<f64>,
    /// Estimated latency, ms.
    pub estimated_latency_ms: Option<f64>,
    /// What the latency estimate assumes (runtime, core, clock, MACs per cycle, source).
    pub latency_assumption: Option<LatencyAssumption>,
    /// RAM needed, bytes.
    pub ram_bytes: Long,
    /// Flash needed, bytes.
    pub flash_bytes: Long,
    /// "as-is" or "int8".
    pub via: String,
    /// The runtime it runs on.
    pub runtime: String,
}

/// What a latency estimate assumes: MACs ÷ (clock × MACs per cycle).
#[derive(Debug, Clone, SimpleObject)]
pub struct LatencyAssumption {
    /// The runtime the figure is for.
    pub runtime: String,
    /// The board's core.
    pub core: Option<String>,
    /// The clock assumed (the board's nominal clock), Hz.
    pub clock_hz: Long,
    /// MACs per cycle assumed.
    pub macs_per_cycle: f64,
    /// The data type computed in.
    pub dtype: String,
    /// The class of model a measured figure is for.
    pub operator_class: Option<String>,
    /// "measured" (a runtime's published measurement) or "estimate" (SEAM's figure for the core).
    pub basis: String,
    /// Where the figure comes from.
    pub source: Option<String>,
}

/// Why a model does not run.
#[derive(Debug, Clone, SimpleObject)]
pub struct Reason {
    /// ram, flash, sensor, dtype, operator, runtime or latency.
    pub constraint: String,
    /// What the model needs.
    pub required: String,
    /// What the device offers.
    pub available: String,
    /// Unit of the two, when quantities.
    pub unit: Option<String>,
    /// One sentence.
    pub message: String,
}

/// A rejected model.
#[derive(Debug, Clone, SimpleObject)]
pub struct RejectedModel {
    /// Model IRI.
    pub model: String,
    /// Model name.
    pub name: String,
    /// Every reason.
    pub reasons: Vec<Reason>,
}

/// Models for a device.
#[derive(Debug, Clone, SimpleObject)]
pub struct MatchReport {
    /// Device IRI (the board's IRI when a board type was asked about).
    pub device: String,
    /// Whether this is a board type judged on its datasheet figures with nothing reserved.
    pub board: bool,
    /// Free RAM the percentages are of, bytes.
    pub free_ram_bytes: Option<Long>,
    /// Free flash, bytes.
    pub free_flash_bytes: Option<Long>,
    /// Compatible models, ranked.
    pub compatible: Vec<CompatibleModel>,
    /// Rejected models (with `explain: true`).
    pub rejected: Option<Vec<RejectedModel>>,
}

fn via(v: matching::Via) -> String {
    match v {
        matching::Via::AsIs => "as-is".into(),
        matching::Via::Int8 => "int8".into(),
    }
}

fn compatible_model(c: matching::Compatible) -> CompatibleModel {
    CompatibleModel {
        model: c.model,
        name: c.name,
        task: c.task,
        accuracy: c.accuracy,
        estimated_latency_ms: c.estimated_latency_ms,
        latency_assumption: c.latency_assumption.map(|a| *a).map(|a| LatencyAssumption {
            runtime: a.runtime,
            core: a.core,
            clock_hz: Long(a.clock_hz),
            macs_per_cycle: a.macs_per_cycle,
            dtype: a.dtype,
            operator_class: a.operator_class,
            basis: a.basis,
            source: a.source,
        }),
        ram_bytes: Long(c.ram_bytes),
        flash_bytes: Long(c.flash_bytes),
        via: via(c.via),
        runtime: c.runtime,
    }
}

/// A device a model runs on.
#[derive(Debug, Clone, SimpleObject)]
pub struct DeviceMatch {
    /// Device IRI.
    pub device: String,
    /// Its short name.
    pub short_name: Option<String>,
    /// How the model runs there.
    pub fit: CompatibleModel,
}

/// A compatible pair of the fleet.
#[derive(Debug, Clone, SimpleObject)]
pub struct MatrixCell {
    /// Device IRI.
    pub device: String,
    /// Model IRI.
    pub model: String,
    /// "as-is" or "int8".
    pub via: String,
}

fn options(latency_budget_ms: Option<f64>, headroom_pct: Option<i32>) -> Result<MatchOptions> {
    if latency_budget_ms.is_some_and(|b| !(b.is_finite() && b > 0.0)) {
        return Err(bad_input("latencyBudgetMs must be a positive number"));
    }
    let headroom =
        u64::try_from(headroom_pct.unwrap_or(10)).map_err(|_| bad_input("headroomPct must not be negative"))?;
    MatchOptions::checked(headroom, latency_budget_ms.map(|ms| ms / 1e3)).map_err(|e| bad_input(&e))
}

/// What a whole-fleet match costs against the complexity limit (20,000): a request may hold a
/// few, not thousands of aliases of one.
const COMPLEXITY_FLEET_MATRIX: usize = 4_000;
/// What matching one device against every model costs.
const COMPLEXITY_PER_DEVICE: usize = 200;
/// What matching one model against every device costs.
const COMPLEXITY_PER_MODEL: usize = 400;

/// Runs matching work on the blocking pool: it is CPU-bound and grows with the fleet, and the
/// HTTP workers must stay free for cheap requests such as `/health`.
async fn off_the_workers<T: Send + 'static>(work: impl FnOnce() -> T + Send + 'static) -> Result<T> {
    tokio::task::spawn_blocking(work).await.map_err(internal)
}

async fn fleet(index: &FleetIndex) -> Result<Arc<matching::Fleet>> {
    // The index is current almost always; only a rebuild reads the store (on the blocking pool).
    if let Some(fleet) = index.cached() {
        return Ok(fleet);
    }
    let index = index.clone();
    tokio::task::spawn_blocking(move || index.fleet())
        .await
        .map_err(internal)?
        .map_err(internal)
}

/// Loads, in one batch each, what the selection will ask of a page of devices: their boards, then
/// the sensors of the devices and of those boards. Batching left to the loaders' timers splits
/// under load; priming makes the cost of a page a fixed number of store queries.
async fn prime(ctx: &Context<'_>, connection: &Connection<String, Device>) -> Result<()> {
    let node = ctx.look_ahead().field("edges").field("node");
    let (wants_board, wants_sensors) = (node.field("board").exists(), node.field("sensors").exists());
    let wants_board_sensors = node.field("board").field("sensors").exists();
    let devices: Vec<&Device> = connection.edges.iter().map(|e| &e.node).collect();
    let boards: Vec<String> = devices.iter().filter_map(|d| d.board_iri.clone()).collect();
    if wants_board && !boards.is_empty() {
        ctx.data::<Boards>()?
            .load_many(boards.iter().cloned())
            .await
            .map_err(|e: Arc<Error>| (*e).clone())?;
    }
    let mut owners: Vec<String> = Vec::new();
    if wants_sensors {
        owners.extend(devices.iter().map(|d| d.id.to_string()));
    }
    if wants_board_sensors {
        owners.extend(boards);
    }
    if !owners.is_empty() {
        owners.sort();
        owners.dedup();
        ctx.data::<Sensors>()?
            .load_many(owners)
            .await
            .map_err(|e: Arc<Error>| (*e).clone())?;
    }
    Ok(())
}

/// Queries.
pub struct QueryRoot;

#[Object]
impl QueryRoot {
    /// A compiled package by IRI or by its SHA-256, with its provenance.
    async fn artifact(&self, ctx: &Context<'_>, id: String) -> Result<Option<Artifact>> {
        let registry = ctx.data::<Registry>()?;
        let iri = if id.len() == 64 && id.chars().all(|c| c.is_ascii_hexdigit()) {
            crate::iri::artifact(&id.to_ascii_lowercase()).into_string()
        } else {
            expand(&id)
        };
        let rows = select(
            registry,
            format!(
                "SELECT {ARTIFACT_FIELDS} WHERE {{ VALUES ?a {{ {} }} ?a a seam:Artifact . {ARTIFACT_PATTERN} }} LIMIT 1",
                iri_term(&iri)?
            ),
        )
        .await?;
        Ok(rows.first().and_then(|r| artifact_from(r, 0)))
    }

    /// A device by IRI, prefixed name (`dev:…`) or short name.
    async fn device(&self, ctx: &Context<'_>, id: String) -> Result<Option<Device>> {
        let registry = ctx.data::<Registry>()?;
        let key = expand(&id);
        let filter = if key.contains(':') {
            format!("FILTER(?d = {})", iri_term(&key)?)
        } else {
            format!(
                "?d seam:shortName {}",
                oxigraph::model::Literal::new_simple_literal(&key)
            )
        };
        let rows = select(
            registry,
            format!("{DEVICE_SELECT} WHERE {{ {DEVICE_PATTERN} {filter} }} GROUP BY ?d LIMIT 2"),
        )
        .await?;
        Ok(if rows.len() == 1 { device_from(&rows[0]) } else { None })
    }

    /// Devices, in IRI order, as a Relay connection.
    async fn devices(
        &self,
        ctx: &Context<'_>,
        filter: Option<DeviceFilter>,
        first: Option<i32>,
        after: Option<String>,
    ) -> Result<Connection<String, Device>> {
        let registry = ctx.data::<Registry>()?;
        let filter = filter.unwrap_or_default();
        let mut filters = String::new();
        if let Some(b) = &filter.board {
            filters.push_str(&format!(" ?d seam:board {} .", iri_term(&expand(b))?));
        }
        match filter.status {
            Some(DeviceStatus::Online) => filters.push_str(" ?d seam:status seam:Online ."),
            Some(DeviceStatus::Offline) => filters.push_str(" ?d seam:status seam:Offline ."),
            Some(DeviceStatus::Unknown) => filters.push_str(" FILTER NOT EXISTS { ?d seam:status ?anyStatus }"),
            None => {}
        }
        let connection = page(
            registry,
            Listing {
                select: DEVICE_SELECT,
                pattern: DEVICE_PATTERN,
                var: "d",
                filters,
                from_row: device_from,
            },
            first,
            after,
        )
        .await?;
        prime(ctx, &connection).await?;
        Ok(connection)
    }

    /// A model by IRI or prefixed name.
    async fn model(&self, ctx: &Context<'_>, id: String) -> Result<Option<Model>> {
        let registry = ctx.data::<Registry>()?;
        let rows = select(
            registry,
            format!(
                "{MODEL_SELECT} WHERE {{ {MODEL_PATTERN} FILTER(?m = {}) }} GROUP BY ?m",
                iri_term(&expand(&id))?
            ),
        )
        .await?;
        Ok(rows.first().and_then(model_from))
    }

    /// Models, in IRI order, as a Relay connection.
    async fn models(
        &self,
        ctx: &Context<'_>,
        filter: Option<ModelFilter>,
        first: Option<i32>,
        after: Option<String>,
    ) -> Result<Connection<String, Model>> {
        let registry = ctx.data::<Registry>()?;
        let filter = filter.unwrap_or_default();
        let mut filters = String::new();
        if let Some(t) = &filter.task {
            filters.push_str(&format!(" ?m seam:task {} .", iri_term(&expand(t))?));
        }
        if let Some(d) = &filter.dtype {
            filters.push_str(&format!(" ?m seam:dtype {} .", iri_term(&expand(d))?));
        }
        page(
            registry,
            Listing {
                select: MODEL_SELECT,
                pattern: MODEL_PATTERN,
                var: "m",
                filters,
                from_row: model_from,
            },
            first,
            after,
        )
        .await
    }

    /// Every board.
    async fn boards(&self, ctx: &Context<'_>) -> Result<Vec<Board>> {
        let registry = ctx.data::<Registry>()?;
        let rows = select(
            registry,
            format!("{BOARD_SELECT} WHERE {{ {BOARD_PATTERN} }} GROUP BY ?b ORDER BY ?b"),
        )
        .await?;
        Ok(rows.iter().filter_map(board_from).collect())
    }

    /// Every sensor.
    async fn sensors(&self, ctx: &Context<'_>) -> Result<Vec<Sensor>> {
        let registry = ctx.data::<Registry>()?;
        let rows = select(
            registry,
            format!("SELECT DISTINCT {SENSOR_FIELDS} WHERE {{ ?s a seam:Sensor . {SENSOR_PATTERN} }} ORDER BY ?s"),
        )
        .await?;
        Ok(rows.iter().filter_map(|r| sensor_from(r, 0)).collect())
    }

    /// Every runtime.
    async fn runtimes(&self, ctx: &Context<'_>) -> Result<Vec<Runtime>> {
        let registry = ctx.data::<Registry>()?;
        let rows = select(
            registry,
            "SELECT ?r (SAMPLE(?l) AS ?label) (SAMPLE(?v) AS ?version) (SAMPLE(?ro) AS ?ramO) (SAMPLE(?fo) AS ?flashO)
             WHERE { ?r a seam:Runtime OPTIONAL { ?r rdfs:label ?l } OPTIONAL { ?r seam:version ?v }
               OPTIONAL { ?r seam:ramOverheadBytes ?ro } OPTIONAL { ?r seam:flashOverheadBytes ?fo } }
             GROUP BY ?r ORDER BY ?r"
                .into(),
        )
        .await?;
        Ok(rows
            .iter()
            .filter_map(|r| {
                Some(Runtime {
                    id: ID(text(r, 0)?),
                    label: text(r, 1),
                    version: text(r, 2),
                    ram_overhead_bytes: long(r, 3),
                    flash_overhead_bytes: long(r, 4),
                })
            })
            .collect())
    }

    /// The models that run on a device, ranked; with `explain`, the rejected ones and why. `device`
    /// may also name a board type (IRI or catalog name): "what runs on this board?", judged on
    /// its datasheet figures with nothing reserved.
    #[graphql(complexity = "COMPLEXITY_PER_DEVICE + child_complexity")]
    async fn compatible_models(
        &self,
        ctx: &Context<'_>,
        device: String,
        #[graphql(default = false)] explain: bool,
        latency_budget_ms: Option<f64>,
        headroom_pct: Option<i32>,
    ) -> Result<MatchReport> {
        let opts = options(latency_budget_ms, headroom_pct)?;
        let fleet = fleet(ctx.data::<FleetIndex>()?).await?;
        let key = expand(&device);
        let report = off_the_workers(move || matching::match_device(&fleet, &key, &opts, explain))
            .await?
            .ok_or_else(|| bad_input(format!("no device or board {device:?}")))?;
        Ok(MatchReport {
            device: report.device,
            board: report.board,
            free_ram_bytes: report.free_ram.map(Long),
            free_flash_bytes: report.free_flash.map(Long),
            compatible: report.compatible.into_iter().map(compatible_model).collect(),
            rejected: report.rejected.map(|list| {
                list.into_iter()
                    .map(|r| RejectedModel {
                        model: r.model,
                        name: r.name,
                        reasons: r
                            .reasons
                            .into_iter()
                            .map(|x| Reason {
                                constraint: x.constraint.as_str().into(),
                                required: x.required,
                                available: x.available,
                                unit: x.unit,
                                message: x.message,
                            })
                            .collect(),
                    })
                    .collect()
            }),
        })
    }

    /// The devices a model runs on.
    #[graphql(complexity = "COMPLEXITY_PER_MODEL + child_complexity")]
    async fn compatible_devices(
        &self,
        ctx: &Context<'_>,
        model: String,
        latency_budget_ms: Option<f64>,
        headroom_pct: Option<i32>,
    ) -> Result<Vec<DeviceMatch>> {
        let opts = options(latency_budget_ms, headroom_pct)?;
        let fleet = fleet(ctx.data::<FleetIndex>()?).await?;
        let key = expand(&model);
        let list = off_the_workers(move || matching::compatible_devices(&fleet, &key, &opts))
            .await?
            .ok_or_else(|| bad_input(format!("no model {model:?}")))?;
        Ok(list
            .into_iter()
            .map(|d| DeviceMatch {
                device: d.device,
                short_name: d.short_name,
                fit: compatible_model(d.fit),
            })
            .collect())
    }

    /// Every compatible (device, model) pair.
    #[graphql(complexity = "COMPLEXITY_FLEET_MATRIX + child_complexity")]
    async fn fleet_matrix(
        &self,
        ctx: &Context<'_>,
        latency_budget_ms: Option<f64>,
        headroom_pct: Option<i32>,
    ) -> Result<Vec<MatrixCell>> {
        let opts = options(latency_budget_ms, headroom_pct)?;
        let fleet = fleet(ctx.data::<FleetIndex>()?).await?;
        Ok(off_the_workers(move || matching::fleet_matrix(&fleet, &opts))
            .await?
            .into_iter()
            .map(|c| MatrixCell {
                device: c.device,
                model: c.model,
                via: via(c.via),
            })
            .collect())
    }
}

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

/// Mutations (they require the write token).
pub struct MutationRoot;

fn require_token(ctx: &Context<'_>) -> Result<()> {
    if ctx.data_opt::<crate::http::graphql::GetRequest>().is_some() {
        return Err(Error::new("mutations must be sent with POST").extend_with(|_, x| x.set("code", "BAD_REQUEST")));
    }
    match ctx.data_opt::<Authorized>() {
        Some(Authorized(true)) => Ok(()),
        _ => Err(Error::new("this mutation requires `Authorization: Bearer <token>`")
            .extend_with(|_, x| x.set("code", "UNAUTHENTICATED"))),
    }
}

async fn load_turtle(registry: &Registry, name: &str, turtle: String) -> Result<()> {
    let registry = registry.clone();
    let name = name.to_owned();
    tokio::task::spawn_blocking(move || {
        let doc = parse_document(&name, turtle, RdfFormat::Turtle, None).map_err(|e| bad_input(e.to_string()))?;
        registry.load(&[doc]).map(|_| ()).map_err(|e| match e {
            crate::IngestError::Invalid(_) => bad_input(e.to_string()),
            other => internal(other),
        })
    })
    .await
    .map_err(internal)?
}

fn literal(s: &str) -> String {
    oxigraph::model::Literal::new_simple_literal(s).to_string()
}

#[Object]
impl MutationRoot {
    /// Registers a device, validated like `seam load`.
    async fn register_device(&self, ctx: &Context<'_>, input: DeviceInput) -> Result<Device> {
        require_token(ctx)?;
        let registry = ctx.data::<Registry>()?;
        if input.short_name.is_empty()
            || !input
                .short_name
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        {
            return Err(bad_input("shortName must be non-empty and use only a-z, 0-9 and -"));
        }
        let iri = match &input.id {
            Some(id) => expand(id),
            None => format!("{DEVICE}{}", input.short_name),
        };
        let mut ttl = format!(
            "@prefix seam: <{SEAM}> .\n@prefix rdfs: <http://www.w3.org/2000/01/rdf-schema#> .\n{} a seam:Device ; seam:shortName {} ; seam:board {}",
            iri_term(&iri)?,
            literal(&input.short_name),
            iri_term(&expand(&input.board))?
        );
        if let Some(l) = &input.label {
            ttl.push_str(&format!(" ; rdfs:label {}", literal(l)));
        }
        if let Some(l) = &input.location {
            ttl.push_str(&format!(" ; seam:location {}", literal(l)));
        }
        if let Some(Long(b)) = input.free_ram_bytes {
            ttl.push_str(&format!(" ; seam:freeRamBytes {b}"));
        }
        if let Some(Long(b)) = input.free_flash_bytes {
            ttl.push_str(&format!(" ; seam:freeFlashBytes {b}"));
        }
        if let Some(r) = &input.runtime {
            ttl.push_str(&format!(" ; seam:runtime {}", iri_term(&expand(r))?));
        }
        ttl.push_str(" .\n");
        // The name is checked and the device written with no other write in between: ten
        // concurrent registrations of one name make one device, not ten.
        let short_name = input.short_name.clone();
        let device_iri = iri.clone();
        let registry = registry.clone();
        tokio::task::spawn_blocking(move || {
            let doc =
                parse_document("registerDevice", ttl, RdfFormat::Turtle, None).map_err(|e| bad_input(e.to_string()))?;
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
                    crate::graph::Guarded::Precondition(e) => e,
                    crate::graph::Guarded::Load(e @ crate::IngestError::Invalid(_)) => bad_input(e.to_string()),
                    crate::graph::Guarded::Load(other) => internal(other),
                })
        })
        .await
        .map_err(internal)??;
        QueryRoot
            .device(ctx, iri)
            .await?
            .ok_or_else(|| internal("the device was stored but cannot be read back"))
    }

    /// Registers a model from published facts, validated like `seam load`.
    async fn register_model(&self, ctx: &Context<'_>, input: ModelInput) -> Result<Model> {
        require_token(ctx)?;
        let registry = ctx.data::<Registry>()?;
        let iri = expand(&input.id);
        let mut ttl = format!(
            "@prefix seam: <{SEAM}> .\n@prefix schema: <http://schema.org/> .\n{} a seam:Model ; schema:name {} ; seam:task {} ; seam:dtype {} ;\n  \
             seam:params {} ; seam:macs {} ; seam:weightBytes {} ; seam:peakActivationBytes {} ; seam:method seam:Published",
            iri_term(&iri)?,
            literal(&input.name),
            iri_term(&expand(&input.task))?,
            iri_term(&expand(&input.dtype))?,
            input.params.0,
            input.macs.0,
            input.weight_bytes.0,
            input.peak_activation_bytes.0
        );
        for op in &input.operators {
            ttl.push_str(&format!(" ;\n  seam:requiresOperator {}", literal(op)));
        }
        for kind in &input.sensor_kinds {
            ttl.push_str(&format!(
                " ;\n  seam:requiresSensor [ a seam:SensorRequirement ; seam:sensorKind {} ]",
                iri_term(&expand(kind))?
            ));
        }
        if let Some(a) = input.accuracy {
            if !(0.0..=1.0).contains(&a) {
                return Err(bad_input("accuracy must be between 0 and 1"));
            }
            ttl.push_str(&format!(
                " ;\n  seam:accuracy [ a seam:Accuracy ; seam:metric {} ; seam:value {a} ; seam:method seam:Published ]",
                literal(input.metric.as_deref().unwrap_or("accuracy"))
            ));
        }
        ttl.push_str(" .\n");
        load_turtle(registry, "registerModel", ttl).await?;
        QueryRoot
            .model(ctx, iri)
            .await?
            .ok_or_else(|| internal("the model was stored but cannot be read back"))
    }
}
