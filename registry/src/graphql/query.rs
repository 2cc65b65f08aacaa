//! The query root: the catalog's nodes (artifacts, devices, models, boards, sensors, runtimes)
//! merged with matching. Values from the client are bound in the algebra, never written into
//! the text.

use std::sync::Arc;

use async_graphql::connection::Connection;
use async_graphql::{Context, Error, MergedObject, Object, Result, ID};
use oxigraph::model::{Literal, Term};

use super::loaders::{Boards, Sensors};
use super::matching::MatchingQuery;
use super::paging::{page, Listing};
use super::rows::{iri, long, select, select_text, text};
use super::types::{
    artifact_from, board_from, device_from, model_from, sensor_from, Artifact, Board, BoardCount, Device, DeviceFilter,
    DeviceStatus, FleetSummary, Model, ModelFilter, Runtime, Sensor, ARTIFACT_FIELDS, ARTIFACT_PATTERN, BOARD_PATTERN,
    BOARD_SELECT, DEVICE_PATTERN, DEVICE_SELECT, MODEL_PATTERN, MODEL_SELECT, SENSOR_FIELDS, SENSOR_PATTERN,
};
use crate::bind::Bindings;
use crate::graph::Registry;
use crate::vocab::expand;

/// Queries.
#[derive(MergedObject, Default)]
pub struct QueryRoot(
    CatalogQuery,
    MatchingQuery,
    super::rollouts::RolloutQuery,
    super::things::ThingQuery,
);

/// What a fleet summary costs against the complexity limit (20,000): it reads every device, so
/// a request may alias it a few dozen times, not thousands.
const COMPLEXITY_FLEET_SUMMARY: usize = 400;

/// The catalog fields of the query root.
#[derive(Default)]
pub struct CatalogQuery;

#[Object]
impl CatalogQuery {
    /// A compiled package by IRI or by its SHA-256, with its provenance.
    async fn artifact(&self, ctx: &Context<'_>, id: String) -> Result<Option<Artifact>> {
        let registry = ctx.data::<Registry>()?;
        let artifact = if id.len() == 64 && id.chars().all(|c| c.is_ascii_hexdigit()) {
            crate::iri::artifact(&id.to_ascii_lowercase()).into()
        } else {
            iri(&id)?
        };
        let rows = select_text(
            registry,
            format!("SELECT {ARTIFACT_FIELDS} WHERE {{ ?a a seam:Artifact . {ARTIFACT_PATTERN} }} LIMIT 1"),
            Bindings::of(vec![("a".into(), artifact)]),
        )
        .await?;
        Ok(rows.first().and_then(|r| artifact_from(r, 0)))
    }

    /// A device by IRI, prefixed name (`dev:…`) or short name.
    pub(super) async fn device(&self, ctx: &Context<'_>, id: String) -> Result<Option<Device>> {
        let registry = ctx.data::<Registry>()?;
        let key = expand(&id);
        let (pattern, binding) = if key.contains(':') {
            ("", ("d".to_owned(), iri(&key)?))
        } else {
            (
                "?d seam:shortName ?name",
                ("name".to_owned(), Literal::new_simple_literal(&key).into()),
            )
        };
        let rows = select_text(
            registry,
            format!("{DEVICE_SELECT} WHERE {{ {DEVICE_PATTERN} {pattern} }} GROUP BY ?d LIMIT 2"),
            Bindings::of(vec![binding]),
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
        let (filters, bindings) = device_filters(&filter.unwrap_or_default())?;
        let connection = page(
            registry,
            Listing {
                key: "?d a seam:Device .",
                select: DEVICE_SELECT,
                pattern: DEVICE_PATTERN,
                var: "d",
                filters,
                bindings,
                from_row: device_from,
            },
            first,
            after,
        )
        .await?;
        prime(ctx, &connection).await?;
        Ok(connection)
    }

    /// How many devices `filter` selects, by status and by board: the fleet at a glance, and
    /// the total a paged listing with the same filter walks through.
    #[graphql(complexity = "COMPLEXITY_FLEET_SUMMARY + child_complexity")]
    async fn fleet_summary(&self, ctx: &Context<'_>, filter: Option<DeviceFilter>) -> Result<FleetSummary> {
        let registry = ctx.data::<Registry>()?;
        let (filters, bindings) = device_filters(&filter.unwrap_or_default())?;
        // One pass over the devices, counted per (status, board); the boards' labels apart (a
        // few dozen rows, not one join per device).
        let counted = select_text(
            registry,
            format!(
                "SELECT ?st ?b (COUNT(?d) AS ?n) WHERE {{ ?d a seam:Device . {filters}
                   OPTIONAL {{ ?d seam:status ?st FILTER(?st IN (seam:Online, seam:Offline)) }}
                   OPTIONAL {{ ?d seam:board ?b }} }} GROUP BY ?st ?b"
            ),
            Bindings::of(bindings),
        )
        .await?;
        let labels = select(
            registry,
            "SELECT ?b (SAMPLE(?l) AS ?label) WHERE { ?b a seam:Board ; rdfs:label ?l } GROUP BY ?b",
            Bindings::default(),
        )
        .await?;
        let labels: std::collections::HashMap<String, String> =
            labels.iter().filter_map(|r| Some((text(r, 0)?, text(r, 1)?))).collect();
        let mut summary = FleetSummary {
            devices: 0,
            online: 0,
            offline: 0,
            unknown: 0,
            boards: Vec::new(),
        };
        let mut per_board: std::collections::HashMap<Option<String>, i64> = std::collections::HashMap::new();
        for r in &counted {
            let n = long(r, 2).map_or(0, |n| i64::try_from(n.0).unwrap_or(i64::MAX));
            summary.devices += n;
            match text(r, 0).as_deref().and_then(|s| s.strip_prefix(crate::vocab::SEAM)) {
                Some("Online") => summary.online += n,
                Some("Offline") => summary.offline += n,
                _ => summary.unknown += n,
            }
            *per_board.entry(text(r, 1)).or_default() += n;
        }
        summary.boards = per_board
            .into_iter()
            .map(|(board, devices)| BoardCount {
                label: board.as_ref().and_then(|b| labels.get(b).cloned()),
                board,
                devices,
            })
            .collect();
        summary
            .boards
            .sort_by(|a, b| b.devices.cmp(&a.devices).then_with(|| a.board.cmp(&b.board)));
        Ok(summary)
    }

    /// A model by IRI or prefixed name.
    pub(super) async fn model(&self, ctx: &Context<'_>, id: String) -> Result<Option<Model>> {
        let registry = ctx.data::<Registry>()?;
        let rows = select_text(
            registry,
            format!("{MODEL_SELECT} WHERE {{ {MODEL_PATTERN} }} GROUP BY ?m"),
            Bindings::of(vec![("m".into(), iri(&id)?)]),
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
        let mut bindings: Vec<(String, Term)> = Vec::new();
        if let Some(t) = &filter.task {
            filters.push_str(" ?m seam:task ?task .");
            bindings.push(("task".into(), iri(t)?));
        }
        if let Some(d) = &filter.dtype {
            filters.push_str(" ?m seam:dtype ?dtype .");
            bindings.push(("dtype".into(), iri(d)?));
        }
        page(
            registry,
            Listing {
                key: "?m a seam:Model .",
                select: MODEL_SELECT,
                pattern: MODEL_PATTERN,
                var: "m",
                filters,
                bindings,
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
        let rows = select_text(
            registry,
            format!("{BOARD_SELECT} WHERE {{ {BOARD_PATTERN} }} GROUP BY ?b ORDER BY ?b"),
            Bindings::default(),
        )
        .await?;
        Ok(rows.iter().filter_map(board_from).collect())
    }

    /// Every sensor.
    async fn sensors(&self, ctx: &Context<'_>) -> Result<Vec<Sensor>> {
        let registry = ctx.data::<Registry>()?;
        let rows = select_text(
            registry,
            format!("SELECT DISTINCT {SENSOR_FIELDS} WHERE {{ ?s a seam:Sensor . {SENSOR_PATTERN} }} ORDER BY ?s"),
            Bindings::default(),
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
             GROUP BY ?r ORDER BY ?r",
            Bindings::default(),
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
}

/// The patterns and bindings that keep the devices a filter selects (`?d`).
fn device_filters(filter: &DeviceFilter) -> Result<(String, Vec<(String, Term)>)> {
    let mut filters = String::new();
    let mut bindings = Vec::new();
    if let Some(b) = &filter.board {
        filters.push_str(" ?d seam:board ?board .");
        bindings.push(("board".to_owned(), iri(b)?));
    }
    match filter.status {
        Some(DeviceStatus::Online) => filters.push_str(" ?d seam:status seam:Online ."),
        Some(DeviceStatus::Offline) => filters.push_str(" ?d seam:status seam:Offline ."),
        Some(DeviceStatus::Unknown) => filters.push_str(
            " FILTER NOT EXISTS { ?d seam:status ?anyStatus FILTER(?anyStatus IN (seam:Online, seam:Offline)) }",
        ),
        None => {}
    }
    if let Some(text) = filter.search.as_deref().map(str::trim).filter(|t| !t.is_empty()) {
        if text.chars().count() > 200 {
            return Err(super::bad_input("`search` must be at most 200 characters"));
        }
        // Its own variables: the listing's OPTIONALs must not be narrowed by the search.
        filters.push_str(
            " FILTER EXISTS { OPTIONAL { ?d seam:shortName ?qn } OPTIONAL { ?d rdfs:label ?ql } \
               OPTIONAL { ?d seam:location ?qloc } \
               FILTER(CONTAINS(LCASE(CONCAT(STR(?d), \" \", COALESCE(STR(?qn), \"\"), \" \", \
                 COALESCE(STR(?ql), \"\"), \" \", COALESCE(STR(?qloc), \"\"))), ?search)) }",
        );
        bindings.push((
            "search".to_owned(),
            Literal::new_simple_literal(text.to_lowercase()).into(),
        ));
    }
    Ok((filters, bindings))
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
