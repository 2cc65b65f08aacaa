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

/// Whether the request carried the write token (request data).
#[derive(Debug, Clone, Copy)]
pub struct Authorized(pub bool);

/// Marks a request that came by GET (request data): mutations refuse to run in it.
#[derive(Debug, Clone, Copy)]
pub struct GetRequest;

/// Mutations (they require the write token): registrations, and starting rollouts.
#[derive(async_graphql::MergedObject, Default)]
pub struct MutationRoot(RegistrationMutation, RolloutMutation, things::ThingMutation);

/// Refuses a mutation that came by GET or without the write token.
fn require_token(ctx: &async_graphql::Context<'_>) -> async_graphql::Result<()> {
    if ctx.data_opt::<GetRequest>().is_some() {
        return Err(Error::new("mutations must be sent with POST").extend_with(|_, x| x.set("code", "BAD_REQUEST")));
    }
    match ctx.data_opt::<Authorized>() {
        Some(Authorized(true)) => Ok(()),
        _ => Err(Error::new("this mutation requires `Authorization: Bearer <token>`")
            .extend_with(|_, x| x.set("code", "UNAUTHENTICATED"))),
    }
}

/// Builds the schema over the registry `fleet` indexes (and the service's `rollouts`, when it
/// runs them), with depth and complexity limits.
pub fn schema(fleet: FleetIndex, rollouts: Option<crate::rollout::Rollouts>) -> SeamSchema {
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
        .finish()
}

/// `request` with what each request carries: its own DataLoaders (their caches live as long as
/// the request) and whether it came with the write token.
pub fn prepare(
    request: async_graphql::Request,
    registry: &crate::graph::Registry,
    authorized: bool,
) -> async_graphql::Request {
    let (boards, sensors, artifacts) = loaders(registry);
    request
        .data(Authorized(authorized))
        .data(boards)
        .data(sensors)
        .data(artifacts)
}

fn internal(e: impl std::fmt::Display) -> Error {
    Error::new(e.to_string()).extend_with(|_, x| x.set("code", "INTERNAL"))
}

fn bad_input(message: impl Into<String>) -> Error {
    Error::new(message.into()).extend_with(|_, x| x.set("code", "BAD_USER_INPUT"))
}
