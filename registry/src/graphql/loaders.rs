//! The DataLoaders of a request: boards, sensors and what devices run, each batch one store
//! query with its keys bound in the algebra; and the fields that resolve through them (a
//! device's board, sensors and what it runs; a board's sensors).

use std::collections::HashMap;
use std::sync::Arc;

use async_graphql::dataloader::{DataLoader, HashMapCache, Loader};
use async_graphql::{ComplexObject, Context, Error, Result};

use super::rows::{iris, select_text, text};
use super::types::{
    artifact_from, board_from, sensor_from, Artifact, Board, Device, Sensor, ARTIFACT_FIELDS, ARTIFACT_PATTERN,
    BOARD_PATTERN, BOARD_SELECT, SENSOR_FIELDS, SENSOR_PATTERN,
};
use crate::bind::Bindings;
use crate::graph::Registry;

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

/// Loads what devices run, by device IRI: one store query per batch.
pub struct ArtifactLoader(Registry);

impl Loader<String> for ArtifactLoader {
    type Value = Vec<Artifact>;
    type Error = Arc<Error>;

    async fn load(&self, keys: &[String]) -> std::result::Result<HashMap<String, Vec<Artifact>>, Arc<Error>> {
        let rows = select_text(
            &self.0,
            format!("SELECT ?d {ARTIFACT_FIELDS} WHERE {{ ?d seam:runs ?a . {ARTIFACT_PATTERN} }} ORDER BY ?d ?a"),
            Bindings::each("d", iris(keys)),
        )
        .await
        .map_err(Arc::new)?;
        // When each was installed, and by which rollout: the last delivery that installed it.
        let installs = select_text(
            &self.0,
            "SELECT ?d ?a (MAX(?ended) AS ?since) (SAMPLE(?partOf) AS ?rollout) WHERE {
               ?d seam:runs ?a .
               ?x a seam:Deployment ; seam:target ?d ; prov:used ?a ; seam:result \"installed\" ;
                  prov:endedAtTime ?ended .
               OPTIONAL { ?x seam:partOf ?partOf } } GROUP BY ?d ?a"
                .to_owned(),
            Bindings::each("d", iris(keys)),
        )
        .await
        .map_err(Arc::new)?;
        let installed: HashMap<(String, String), (Option<String>, Option<String>)> = installs
            .iter()
            .filter_map(|r| Some(((text(r, 0)?, text(r, 1)?), (text(r, 2), text(r, 3)))))
            .collect();
        let mut out: HashMap<String, Vec<Artifact>> = keys.iter().map(|k| (k.clone(), Vec::new())).collect();
        for r in &rows {
            if let (Some(device), Some(mut artifact)) = (text(r, 0), artifact_from(r, 1)) {
                if let Some((since, rollout)) = installed.get(&(device.clone(), artifact.id.to_string())) {
                    artifact.installed_at.clone_from(since);
                    artifact.rollout.clone_from(rollout);
                }
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

/// Loads boards by IRI: one store query per batch.
pub struct BoardLoader(Registry);

impl Loader<String> for BoardLoader {
    type Value = Board;
    type Error = Arc<Error>;

    async fn load(&self, keys: &[String]) -> std::result::Result<HashMap<String, Board>, Arc<Error>> {
        let rows = select_text(
            &self.0,
            format!("{BOARD_SELECT} WHERE {{ {BOARD_PATTERN} }} GROUP BY ?b"),
            Bindings::each("b", iris(keys)),
        )
        .await
        .map_err(Arc::new)?;
        Ok(rows
            .iter()
            .filter_map(|r| board_from(r).map(|b| (b.id.to_string(), b)))
            .collect())
    }
}

/// Loads the sensors of boards and devices by owner IRI: one store query per batch.
pub struct SensorLoader(Registry);

impl Loader<String> for SensorLoader {
    type Value = Vec<Sensor>;
    type Error = Arc<Error>;

    async fn load(&self, keys: &[String]) -> std::result::Result<HashMap<String, Vec<Sensor>>, Arc<Error>> {
        let rows = select_text(
            &self.0,
            format!(
                "SELECT ?owner {SENSOR_FIELDS} WHERE {{ ?owner seam:hasSensor ?s . {SENSOR_PATTERN} }} ORDER BY ?owner ?s"
            ),
            Bindings::each("owner", iris(keys)),
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

/// What the request's loader `L` lists for `owner` (nothing when it lists nothing).
async fn listed<L>(ctx: &Context<'_>, owner: &async_graphql::ID) -> Result<L::Value>
where
    L: Loader<String, Error = Arc<Error>> + Send + Sync + 'static,
    L::Value: Default,
{
    Ok(ctx
        .data::<DataLoader<L, HashMapCache>>()?
        .load_one(owner.to_string())
        .await
        .map_err(|e: Arc<Error>| (*e).clone())?
        .unwrap_or_default())
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
        listed::<SensorLoader>(ctx, &self.id).await
    }

    /// The packages installed on it (`seam:runs`), with where each came from.
    async fn runs(&self, ctx: &Context<'_>) -> Result<Vec<Artifact>> {
        listed::<ArtifactLoader>(ctx, &self.id).await
    }
}

#[ComplexObject]
impl Board {
    /// Its on-board sensors.
    async fn sensors(&self, ctx: &Context<'_>) -> Result<Vec<Sensor>> {
        listed::<SensorLoader>(ctx, &self.id).await
    }
}
