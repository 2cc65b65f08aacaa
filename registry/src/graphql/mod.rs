//! The GraphQL API (async-graphql): devices, models, boards, sensors, runtimes, matching, and the
//! registration mutations.
//!
//! Object fields that point at other nodes (a device's board, a board's sensors) are resolved
//! through request-scoped DataLoaders, so a page of devices with their boards and sensors costs a
//! fixed number of store queries whatever the page size. Matching fields answer from the same
//! in-memory fleet index as `seam match`.
//!
//! - `types`: the object and input types, and how each is read from a row;
//! - `loaders`: the DataLoaders;
//! - `paging`: Relay connections;
//! - `query`: the catalog's fields of the query root; `matching`: its matching fields;
//! - `mutation`: the registrations; `rollouts`: rollouts (query, mutation, subscription);
//! - `rows`, `scalars`: reading rows, and the `Long` scalar.

mod blind;
mod built;
pub mod documents;
pub mod limits;
mod loaders;
mod matching;
mod mutation;
mod paging;
mod query;
mod rollouts;
mod rows;
mod scalars;
mod things;
mod types;

use async_graphql::{Error, ErrorExtensions, Schema};

pub use loaders::{loaders, ArtifactLoader, Artifacts, BoardLoader, Boards, SensorLoader, Sensors};
pub use matching::{
    CompatibleModel, DeviceMatch, LatencyAssumption, MatchReport, MatchingQuery, MatrixCell, Reason, RejectedModel,
};
pub use mutation::{DeviceInput, ModelInput, RegistrationMutation};
pub use query::{CatalogQuery, QueryRoot};
pub use rollouts::{
    Rollout, RolloutBuild, RolloutDevice, RolloutEvent, RolloutGroup, RolloutInput, RolloutMutation, RolloutQuery,
    StateCount, SubscriptionRoot,
};
pub use scalars::Long;
pub use types::{Artifact, Board, Device, DeviceFilter, DeviceStatus, Model, ModelFilter, Runtime, Sensor};

use crate::matching::FleetIndex;

/// The schema type served at `/graphql`.
pub type SeamSchema = Schema<QueryRoot, MutationRoot, SubscriptionRoot>;

/// Marks a request that came by GET (request data): mutations refuse to run in it.
#[derive(Debug, Clone, Copy)]
pub struct GetRequest;

/// Mutations (each requires a token with its scope): registrations and Thing Descriptions
/// (`write`), rollouts (`deploy`).
#[derive(async_graphql::MergedObject, Default)]
pub struct MutationRoot(RegistrationMutation, RolloutMutation, things::ThingMutation);

/// Refuses a mutation that came by GET, or whose caller (request data) lacks `scope`.
fn require(ctx: &async_graphql::Context<'_>, scope: crate::access::Scope) -> async_graphql::Result<()> {
    use crate::access::Caller;
    if ctx.data_opt::<GetRequest>().is_some() {
        return Err(Error::new("mutations must be sent with POST").extend_with(|_, x| x.set("code", "BAD_REQUEST")));
    }
    match ctx.data_opt::<Caller>() {
        Some(caller) if caller.holds(scope) => Ok(()),
        Some(Caller::Token { name, .. }) => Err(Error::new(format!(
            "the token {name:?} does not carry the {scope} scope this mutation needs"
        ))
        .extend_with(|_, x| {
            x.set("code", "FORBIDDEN");
            x.set("scope", scope.as_str());
        })),
        _ => Err(Error::new(format!(
            "this mutation requires `Authorization: Bearer <token>` with the {scope} scope"
        ))
        .extend_with(|_, x| {
            x.set("code", "UNAUTHENTICATED");
            x.set("scope", scope.as_str());
        })),
    }
}

/// Builds the schema over the registry `fleet` indexes (and the service's `rollouts`, when it
/// runs them), with depth and complexity limits.
pub fn schema(fleet: FleetIndex, rollouts: Option<crate::rollout::Rollouts>) -> SeamSchema {
    build(fleet, rollouts, documents::DocumentCache::new())
}

/// `schema`, keeping its documents in `documents` (the tests keep a hold on it).
fn build(
    fleet: FleetIndex,
    rollouts: Option<crate::rollout::Rollouts>,
    documents: documents::DocumentCache,
) -> SeamSchema {
    let mut builder = Schema::build(QueryRoot::default(), MutationRoot::default(), SubscriptionRoot)
        .data(fleet.registry().clone())
        .data(fleet);
    if let Some(rollouts) = rollouts {
        builder = builder.data(rollouts);
    }
    builder
        // Deep enough for the standard introspection query (seven `ofType` levels), which
        // GraphiQL sends to load the schema; the complexity limit bounds the cost.
        .limit_depth(16)
        .limit_complexity(20_000)
        // The limits first: a document too long is refused before it is looked up or kept.
        .extension(limits::DocumentLimits)
        .extension(documents)
        .finish()
}

/// `request` with what each request carries: its own DataLoaders (their caches live as long as
/// the request) and who sent it.
pub fn prepare(
    request: async_graphql::Request,
    registry: &crate::graph::Registry,
    caller: crate::access::Caller,
) -> async_graphql::Request {
    let (boards, sensors, artifacts) = loaders(registry);
    request.data(caller).data(boards).data(sensors).data(artifacts)
}

fn internal(e: impl std::fmt::Display) -> Error {
    Error::new(e.to_string()).extend_with(|_, x| x.set("code", "INTERNAL"))
}

fn bad_input(message: impl Into<String>) -> Error {
    Error::new(message.into()).extend_with(|_, x| x.set("code", "BAD_USER_INPUT"))
}
