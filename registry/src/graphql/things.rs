//! The Thing Description Directory in the schema: `thing(id)` and the `putThing` and
//! `deleteThing` mutations, with the checks of `PUT /things/{id}` and `seam load` (an invalid
//! TD's error carries the same `validationErrors`).

use std::sync::Arc;

use async_graphql::{Context, Error, ErrorExtensions, Object, Result, SimpleObject};

use super::require;
use crate::directory::{Directory, DirectoryError, Events};
use crate::graph::Registry;

/// A TD put into the directory.
#[derive(Debug, Clone, SimpleObject)]
pub struct ThingPut {
    /// Its id (assigned when it had none).
    pub id: String,
    /// Whether no TD had that id before.
    pub created: bool,
}

fn directory(ctx: &Context<'_>) -> Result<Directory> {
    let registry = ctx.data::<Registry>()?.clone();
    // The service's event stream when the request came through it; a stream nobody reads
    // otherwise (a schema run on its own, in tests).
    let events = ctx.data_opt::<Arc<Events>>().cloned().unwrap_or_default();
    Ok(Directory::new(registry, events))
}

fn thing_error(e: DirectoryError) -> Error {
    let message = e.to_string();
    match e {
        DirectoryError::Invalid(violations) => Error::new(message).extend_with(|_, x| {
            x.set("code", "BAD_USER_INPUT");
            let list: Vec<async_graphql::Value> = violations
                .iter()
                .map(|v| {
                    let mut item = async_graphql::indexmap::IndexMap::new();
                    let field = if v.path.is_empty() { "/" } else { v.path.as_str() };
                    item.insert(async_graphql::Name::new("field"), async_graphql::Value::from(field));
                    item.insert(
                        async_graphql::Name::new("constraint"),
                        async_graphql::Value::from(v.constraint.as_str()),
                    );
                    item.insert(
                        async_graphql::Name::new("description"),
                        async_graphql::Value::from(v.message.as_str()),
                    );
                    async_graphql::Value::Object(item)
                })
                .collect();
            x.set("validationErrors", async_graphql::Value::List(list));
        }),
        DirectoryError::NotFound(_) => Error::new(message).extend_with(|_, x| x.set("code", "NOT_FOUND")),
        DirectoryError::Conflict(_) | DirectoryError::Ingest(crate::error::IngestError::Invalid(_)) => {
            Error::new(message).extend_with(|_, x| x.set("code", "BAD_USER_INPUT"))
        }
        DirectoryError::Ingest(_) => Error::new(message).extend_with(|_, x| x.set("code", "INTERNAL")),
    }
}

async fn blocking<T: Send + 'static>(work: impl FnOnce() -> Result<T, DirectoryError> + Send + 'static) -> Result<T> {
    tokio::task::spawn_blocking(work)
        .await
        .map_err(super::internal)?
        .map_err(thing_error)
}

/// The directory fields of the query root.
#[derive(Default)]
pub struct ThingQuery;

#[Object]
impl ThingQuery {
    /// The Thing Description of `id` as the directory serves it (JSON text, with its
    /// registration information), if there is one.
    async fn thing(&self, ctx: &Context<'_>, id: String) -> Result<Option<String>> {
        let dir = directory(ctx)?;
        let td = blocking(move || dir.get(&id)).await?;
        Ok(td.map(|t| t.to_string()))
    }
}

/// The directory's mutations (they need the token).
#[derive(Default)]
pub struct ThingMutation;

#[Object]
impl ThingMutation {
    /// Puts a W3C WoT Thing Description (JSON text) into the directory, checked as
    /// `PUT /things/{id}` checks it: at `id` when given, else at the id it carries, else at a
    /// new `urn:uuid:`. Replaces the TD of that id if there is one.
    async fn put_thing(&self, ctx: &Context<'_>, td: String, id: Option<String>) -> Result<ThingPut> {
        require(ctx, crate::access::Scope::Write)?;
        let dir = directory(ctx)?;
        let put = blocking(move || dir.put(id.as_deref(), &td, false)).await?;
        Ok(ThingPut {
            id: put.id.as_str().to_owned(),
            created: put.created,
        })
    }

    /// Deletes the Thing Description of `id` (its whole graph).
    async fn delete_thing(&self, ctx: &Context<'_>, id: String) -> Result<bool> {
        require(ctx, crate::access::Scope::Write)?;
        let dir = directory(ctx)?;
        blocking(move || dir.delete(&id)).await?;
        Ok(true)
    }
}
