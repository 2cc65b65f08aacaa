//! The schema's object and input types over the graph, and how each is read from a row.

use async_graphql::{Enum, InputObject, SimpleObject, ID};

use super::rows::{float, long, text, Row};
use super::scalars::Long;
use crate::vocab::SEAM;

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
    /// When it last spoke to SEAM over LwM2M (xsd:dateTime), if it ever did.
    pub last_seen: Option<String>,
    #[graphql(skip)]
    pub(super) board_iri: Option<String>,
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
    /// That model's name.
    pub model_name: Option<String>,
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
    /// Under `Device.runs`: when the last delivery that installed it on that device ended
    /// (xsd:dateTime); null elsewhere, or when it was installed by hand.
    pub installed_at: Option<String>,
    /// Under `Device.runs`: the rollout that delivery was part of (IRI), if any.
    pub rollout: Option<String>,
}

pub(super) const ARTIFACT_FIELDS: &str =
    "?a ?sha ?size ?model ?backend ?version ?options ?ended ?key ?top1 ?rel ?modelName";
pub(super) const ARTIFACT_PATTERN: &str = "OPTIONAL { ?a seam:sha256 ?sha } OPTIONAL { ?a seam:sizeBytes ?size }
       OPTIONAL { ?a prov:wasDerivedFrom ?model OPTIONAL { ?model schema:name ?modelName } }
       OPTIONAL { ?a prov:wasGeneratedBy ?c . OPTIONAL { ?c seam:backend ?backend } OPTIONAL { ?c seam:backendVersion ?version }
                  OPTIONAL { ?c seam:options ?options } OPTIONAL { ?c prov:endedAtTime ?ended } }
       OPTIONAL { ?a seam:signedWith ?k . ?k seam:publicKey ?key }
       OPTIONAL { ?a seam:top1Agreement ?top1 } OPTIONAL { ?a seam:relativeError ?rel }";

pub(super) fn artifact_from(r: &Row, at: usize) -> Option<Artifact> {
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
        model_name: text(r, at + 11),
        installed_at: None,
        rollout: None,
    })
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
    /// How its figures were obtained: `measured` (SEAM analysed the file), `estimated`,
    /// `published`, or `declared` (stated by whoever described it, with no method given).
    pub method: String,
    /// The arena a runtime plans for it, bytes (measured models only).
    pub arena_bytes: Option<Long>,
    /// Its file's size, bytes (measured models only).
    pub size_bytes: Option<Long>,
    /// Its first input's shape, e.g. `1x49x10x1` (measured models only).
    pub input_shape: Option<String>,
    /// The operators a runtime must execute (ONNX names), sorted.
    pub operators: Vec<String>,
    /// The sensor kinds its input comes from (IRIs), sorted.
    pub sensor_kinds: Vec<String>,
}

pub(super) const BOARD_SELECT: &str =
    "SELECT ?b (SAMPLE(?l) AS ?label) (SAMPLE(?c) AS ?core) (SAMPLE(?i) AS ?isa) (SAMPLE(?h) AS ?clock)
       (SAMPLE(?r) AS ?ram) (SAMPLE(?f) AS ?flash)";
pub(super) const BOARD_PATTERN: &str =
    "?b a seam:Board OPTIONAL { ?b rdfs:label ?l } OPTIONAL { ?b seam:core ?c } OPTIONAL { ?b seam:isa ?i }
       OPTIONAL { ?b seam:clockHz ?h } OPTIONAL { ?b seam:ramBytes ?r } OPTIONAL { ?b seam:flashBytes ?f }";

pub(super) fn board_from(r: &Row) -> Option<Board> {
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

pub(super) const SENSOR_FIELDS: &str = "?s ?label ?kind ?rate ?lo ?hi";
pub(super) const SENSOR_PATTERN: &str =
    "?s seam:sensorKind ?kind OPTIONAL { ?s rdfs:label ?label } OPTIONAL { ?s seam:sampleRateHz ?rate }
                              OPTIONAL { ?s seam:rangeMin ?lo } OPTIONAL { ?s seam:rangeMax ?hi }";

pub(super) fn sensor_from(r: &Row, at: usize) -> Option<Sensor> {
    Some(Sensor {
        id: ID(text(r, at)?),
        label: text(r, at + 1),
        kind: text(r, at + 2),
        sample_rate_hz: float(r, at + 3),
        range_min: float(r, at + 4),
        range_max: float(r, at + 5),
    })
}

pub(super) const DEVICE_SELECT: &str = "SELECT ?d (SAMPLE(?n) AS ?name) (SAMPLE(?l) AS ?label) (SAMPLE(?loc) AS ?location) (SAMPLE(?st) AS ?status)
       (SAMPLE(?fr) AS ?freeRam) (SAMPLE(?ff) AS ?freeFlash) (SAMPLE(?rt) AS ?runtime) (SAMPLE(?fw) AS ?firmware) (SAMPLE(?b) AS ?board)
       (MAX(?ls) AS ?lastSeen)";
pub(super) const DEVICE_PATTERN: &str = "?d a seam:Device OPTIONAL { ?d seam:shortName ?n } OPTIONAL { ?d rdfs:label ?l } OPTIONAL { ?d seam:location ?loc }
       OPTIONAL { ?d seam:status ?st } OPTIONAL { ?d seam:freeRamBytes ?fr } OPTIONAL { ?d seam:freeFlashBytes ?ff }
       OPTIONAL { ?d seam:runtime ?rt } OPTIONAL { ?d seam:firmwareVersion ?fw } OPTIONAL { ?d seam:board ?b }
       OPTIONAL { ?d seam:lastSeen ?ls }";

pub(super) fn device_from(r: &Row) -> Option<Device> {
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
        last_seen: text(r, 10),
    })
}

pub(super) const MODEL_SELECT: &str =
    "SELECT ?m (SAMPLE(?n) AS ?name) (SAMPLE(?t) AS ?task) (SAMPLE(?dt) AS ?dtype) (SAMPLE(?p) AS ?params)
       (SAMPLE(?mc) AS ?macs) (SAMPLE(?w) AS ?weight) (SAMPLE(?pk) AS ?peak) (MAX(?acc) AS ?accuracy)
       (SAMPLE(?me) AS ?method) (SAMPLE(?ar) AS ?arena) (SAMPLE(?sz) AS ?size) (SAMPLE(?is) AS ?inputShape)
       (GROUP_CONCAT(DISTINCT ?op; SEPARATOR=\" \") AS ?operators) (GROUP_CONCAT(DISTINCT STR(?sk); SEPARATOR=\" \") AS ?sensorKinds)";
pub(super) const MODEL_PATTERN: &str =
    "?m a seam:Model OPTIONAL { ?m schema:name ?n } OPTIONAL { ?m seam:task ?t } OPTIONAL { ?m seam:dtype ?dt }
       OPTIONAL { ?m seam:params ?p } OPTIONAL { ?m seam:macs ?mc } OPTIONAL { ?m seam:weightBytes ?w }
       OPTIONAL { ?m seam:peakActivationBytes ?pk } OPTIONAL { ?m seam:accuracy/seam:value ?acc }
       OPTIONAL { ?m seam:method ?me } OPTIONAL { ?m seam:arenaBytes ?ar } OPTIONAL { ?m seam:sizeBytes ?sz }
       OPTIONAL { ?m seam:inputShape ?is } OPTIONAL { ?m seam:requiresOperator ?op }
       OPTIONAL { ?m seam:requiresSensor/seam:sensorKind ?sk }";

pub(super) fn model_from(r: &Row) -> Option<Model> {
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
        method: match text(r, 9).as_deref().and_then(|m| m.strip_prefix(SEAM)) {
            Some("Measured") => "measured",
            Some("Estimated") => "estimated",
            Some("Published") => "published",
            _ => "declared",
        }
        .to_owned(),
        arena_bytes: long(r, 10),
        size_bytes: long(r, 11),
        input_shape: text(r, 12),
        operators: words(text(r, 13)),
        sensor_kinds: words(text(r, 14)),
    })
}

/// The sorted words of a GROUP_CONCAT.
fn words(joined: Option<String>) -> Vec<String> {
    let mut list: Vec<String> = joined
        .unwrap_or_default()
        .split_whitespace()
        .map(str::to_owned)
        .collect();
    list.sort();
    list.dedup();
    list
}

/// Filters of `devices`.
#[derive(Debug, Clone, Default, InputObject)]
pub struct DeviceFilter {
    /// Only devices of this board (IRI or prefixed name).
    pub board: Option<String>,
    /// Only devices with this status.
    pub status: Option<DeviceStatus>,
    /// Only devices whose IRI, short name, label or location contains this text (any case).
    pub search: Option<String>,
}

/// How many devices a filter selects, by status and by board.
#[derive(Debug, Clone, SimpleObject)]
pub struct FleetSummary {
    /// Devices selected.
    pub devices: i64,
    /// Of which online.
    pub online: i64,
    /// Of which offline.
    pub offline: i64,
    /// Of which with no status stated.
    pub unknown: i64,
    /// Per board, most devices first (a device with no board counts under a null board).
    pub boards: Vec<BoardCount>,
}

/// The devices of one board.
#[derive(Debug, Clone, SimpleObject)]
pub struct BoardCount {
    /// The board's IRI (null: devices that name no board).
    pub board: Option<String>,
    /// Its label.
    pub label: Option<String>,
    /// How many devices.
    pub devices: i64,
}

/// Filters of `models`.
#[derive(Debug, Clone, Default, InputObject)]
pub struct ModelFilter {
    /// Only models of this task (IRI or prefixed name).
    pub task: Option<String>,
    /// Only models in this data type (IRI or prefixed name, e.g. `seam:int8`).
    pub dtype: Option<String>,
}
