//! Parsed GraphQL documents kept by their text, so that the documents an application sends
//! again and again (the web page's, a dashboard's polling query) are parsed once.
//!
//! A document is the same whatever its variables, so its text is the whole key. Parsing is most
//! of what GraphQL adds to a small query (`compatibleModels` of one device: BENCHMARKS.md); a
//! copy of the parsed tree costs a fraction of that. Only short documents are kept, and only so
//! many: a client sending a stream of distinct documents gets them parsed, and the memory held
//! stays within `MAX_KEPT` × `MAX_KEPT_BYTES` of text and its trees (and four times as many
//! hashes of documents seen once).

use std::num::NonZeroUsize;
use std::sync::{Arc, Mutex};

use async_graphql::extensions::{Extension, ExtensionContext, ExtensionFactory, NextParseQuery};
use async_graphql::parser::types::ExecutableDocument;
use async_graphql::{ServerResult, Variables};

/// Documents kept, the least recently used given up first.
pub const MAX_KEPT: usize = 256;
/// Longest document kept, in bytes (SEAM's web page sends documents under 4 KiB).
pub const MAX_KEPT_BYTES: usize = 4 * 1024;

/// What is kept: the parsed documents, and the hashes of documents seen once. A document is
/// kept the second time it comes: one written for a single request (a device's IRI in its
/// text rather than in a variable) costs no copy.
struct Kept {
    parsed: lru::LruCache<Box<str>, Arc<ExecutableDocument>>,
    seen_once: lru::LruCache<u64, ()>,
}

/// The same for the same text in every request (SipHash with fixed keys). A collision only
/// keeps a document a request early; the parse kept is still looked up by the whole text.
fn text_hash(query: &str) -> u64 {
    use std::hash::{Hash as _, Hasher as _};
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    query.hash(&mut hasher);
    hasher.finish()
}

/// The extension that keeps parsed documents. One per schema: its requests share what it keeps.
pub(super) struct DocumentCache {
    kept: Arc<Mutex<Kept>>,
}

impl DocumentCache {
    pub(super) fn new() -> Self {
        let capacity = NonZeroUsize::new(MAX_KEPT).unwrap_or(NonZeroUsize::MIN);
        Self {
            kept: Arc::new(Mutex::new(Kept {
                parsed: lru::LruCache::new(capacity),
                seen_once: lru::LruCache::new(NonZeroUsize::new(4 * MAX_KEPT).unwrap_or(NonZeroUsize::MIN)),
            })),
        }
    }
}

impl ExtensionFactory for DocumentCache {
    fn create(&self) -> Arc<dyn Extension> {
        Arc::new(DocumentCacheExtension {
            kept: Arc::clone(&self.kept),
        })
    }
}

struct DocumentCacheExtension {
    kept: Arc<Mutex<Kept>>,
}

impl DocumentCacheExtension {
    /// The kept tree of `query`, if any. A poisoned lock (a panic while another request held
    /// it) still guards a consistent cache: every operation on it is a single call.
    fn kept(&self, query: &str) -> Option<Arc<ExecutableDocument>> {
        let mut kept = self.kept.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        kept.parsed.get(query).cloned()
    }

    /// Keeps `document` if `query` was seen before; otherwise notes that it was.
    fn keep(&self, query: &str, document: &ExecutableDocument) {
        let hash = text_hash(query);
        {
            let mut kept = self.kept.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
            if kept.seen_once.pop(&hash).is_none() {
                kept.seen_once.put(hash, ());
                return;
            }
        }
        let document = Arc::new(document.clone());
        let mut kept = self.kept.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        kept.parsed.put(query.into(), document);
    }
}

#[async_graphql::async_trait::async_trait]
impl Extension for DocumentCacheExtension {
    async fn parse_query(
        &self,
        ctx: &ExtensionContext<'_>,
        query: &str,
        variables: &Variables,
        next: NextParseQuery<'_>,
    ) -> ServerResult<ExecutableDocument> {
        if query.len() > MAX_KEPT_BYTES {
            return next.run(ctx, query, variables).await;
        }
        // Copied outside the lock: requests on other threads only wait for a pointer.
        if let Some(document) = self.kept(query) {
            return Ok((*document).clone());
        }
        // Errors are not kept: a document that does not parse costs its parse every time, as
        // it would without this.
        let document = next.run(ctx, query, variables).await?;
        self.keep(query, &document);
        Ok(document)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_at_most_its_capacity_and_forgets_the_least_recent() {
        let cache = DocumentCache::new();
        let extension = DocumentCacheExtension {
            kept: Arc::clone(&cache.kept),
        };
        let parse = |q: &str| async_graphql::parser::parse_query(q).unwrap();
        extension.keep("{ once }", &parse("{ once }"));
        assert!(extension.kept("{ once }").is_none(), "kept the second time it comes");
        extension.keep("{ once }", &parse("{ once }"));
        assert!(extension.kept("{ once }").is_some());
        for n in 0..MAX_KEPT + 10 {
            let q = format!("{{ f{n} }}");
            extension.keep(&q, &parse(&q));
            extension.keep(&q, &parse(&q));
        }
        assert_eq!(cache.kept.lock().unwrap().parsed.len(), MAX_KEPT);
        assert!(extension.kept("{ f0 }").is_none(), "the oldest is given up");
        let last = format!("{{ f{} }}", MAX_KEPT + 9);
        assert!(extension.kept(&last).is_some());
        // A flood of documents seen once holds only their hashes, so many.
        for n in 0..10 * MAX_KEPT {
            let q = format!("{{ g{n} }}");
            extension.keep(&q, &parse(&q));
        }
        let kept = cache.kept.lock().unwrap();
        assert_eq!(kept.seen_once.len(), 4 * MAX_KEPT);
        assert_eq!(kept.parsed.len(), MAX_KEPT);
    }
}
