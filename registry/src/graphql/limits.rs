//! Limits on a GraphQL document before it is validated or run: its length and its aliases.
//!
//! Depth and complexity are the schema's own limits; they do not bound a document that asks
//! the same cheap field under thousands of aliases, nor the parse of a document of megabytes.

use std::sync::Arc;

use async_graphql::extensions::{Extension, ExtensionContext, ExtensionFactory, NextParseQuery};
use async_graphql::parser::types::{ExecutableDocument, Selection, SelectionSet};
use async_graphql::{ServerError, ServerResult, Variables};

/// Longest document accepted, in bytes (SEAM's web page sends documents under 4 KiB).
pub const MAX_DOCUMENT_BYTES: usize = 64 * 1024;
/// Most aliases in one document.
pub const MAX_ALIASES: usize = 64;

/// The extension that checks a document's length and aliases.
pub(super) struct DocumentLimits;

impl ExtensionFactory for DocumentLimits {
    fn create(&self) -> Arc<dyn Extension> {
        Arc::new(DocumentLimitsExtension)
    }
}

struct DocumentLimitsExtension;

#[async_graphql::async_trait::async_trait]
impl Extension for DocumentLimitsExtension {
    async fn parse_query(
        &self,
        ctx: &ExtensionContext<'_>,
        query: &str,
        variables: &Variables,
        next: NextParseQuery<'_>,
    ) -> ServerResult<ExecutableDocument> {
        if query.len() > MAX_DOCUMENT_BYTES {
            return Err(ServerError::new(
                format!(
                    "the document is {} bytes, more than the limit of {MAX_DOCUMENT_BYTES}",
                    query.len()
                ),
                None,
            ));
        }
        let document = next.run(ctx, query, variables).await?;
        let aliases = count_aliases(&document);
        if aliases > MAX_ALIASES {
            return Err(ServerError::new(
                format!("the document has {aliases} aliases, more than the limit of {MAX_ALIASES}"),
                None,
            ));
        }
        Ok(document)
    }
}

/// Aliases in every operation and fragment (the parser bounds how deep a document nests, so
/// the walk's recursion is bounded too).
fn count_aliases(document: &ExecutableDocument) -> usize {
    let operations: usize = document
        .operations
        .iter()
        .map(|(_, op)| in_set(&op.node.selection_set.node))
        .sum();
    let fragments: usize = document
        .fragments
        .values()
        .map(|f| in_set(&f.node.selection_set.node))
        .sum();
    operations + fragments
}

fn in_set(set: &SelectionSet) -> usize {
    set.items
        .iter()
        .map(|item| match &item.node {
            Selection::Field(field) => usize::from(field.node.alias.is_some()) + in_set(&field.node.selection_set.node),
            Selection::InlineFragment(fragment) => in_set(&fragment.node.selection_set.node),
            Selection::FragmentSpread(_) => 0,
        })
        .sum()
}
