//! Parsed GraphQL documents kept by their text, so that the documents an application sends
//! again and again (the web page's, a dashboard's polling query) are parsed once.
//!
//! A document is the same whatever its variables, so its text is the whole key. Parsing is most
//! of what GraphQL adds to a small query (`compatibleModels` of one device: BENCHMARKS.md); a
//! copy of the parsed tree costs a fraction of that. Only short documents are kept, and only so
//! many: a client sending a stream of distinct documents gets them parsed, and the memory held
//! stays within `MAX_KEPT` × `MAX_KEPT_BYTES` of text and its trees (and four times as many
//! hashes of documents seen once).
//!
//! Many clients write values into the text instead (`compatibleModels(device: "…")`), so each
//! request is a new document. Such documents share a *shape*: the text with the content of each
//! string value blanked. Two documents of one shape differ only in those values, each of the same
//! length, so they parse into the same tree, positions included, but for the values: a kept
//! shape's tree is copied and given the document's own values, in the order they are written.
//! Only plain values take part (printable ASCII, no escape, no block string): for them the text
//! is the value, as the parser would read it. Any other document is parsed.
//!
//! Validation is kept by shape too, with the operation's name and the variables (`blind`): a
//! document that validation cannot tell from the others of its shape by its strings is
//! validated once for all of them. Only a document that passed is kept; a document of the shape
//! that validation could tell apart (a string where an enum stands) is validated every time.

use std::num::NonZeroUsize;
use std::sync::{Arc, Mutex};

use async_graphql::extensions::{
    Extension, ExtensionContext, ExtensionFactory, NextParseQuery, NextPrepareRequest, NextValidation,
};
use async_graphql::parser::types::{
    Directive, DocumentOperations, ExecutableDocument, OperationDefinition, Selection, SelectionSet,
};
use async_graphql::parser::{Pos, Positioned};
use async_graphql::{Request, ServerError, ServerResult, ValidationResult, Variables};
use async_graphql_value::{ConstValue, Value};

use super::blind;

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
    /// The same, by shape (see the module documentation).
    shapes: lru::LruCache<Box<str>, Arc<ExecutableDocument>>,
    shapes_seen_once: lru::LruCache<u64, ()>,
    /// Validations passed, by operation name, variables' key and shape (`validation_key`).
    validated: lru::LruCache<Box<str>, ValidationResult>,
    /// Validations answered from `validated`: what the tests read to see that it answers.
    validations_kept: u64,
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
                shapes: lru::LruCache::new(capacity),
                shapes_seen_once: lru::LruCache::new(NonZeroUsize::new(4 * MAX_KEPT).unwrap_or(NonZeroUsize::MIN)),
                validated: lru::LruCache::new(capacity),
                validations_kept: 0,
            })),
        }
    }

    /// Another hold on the same documents (a test keeps one while a schema uses the other).
    #[cfg(test)]
    fn share(&self) -> Self {
        Self {
            kept: Arc::clone(&self.kept),
        }
    }

    /// How many validations were answered by a kept one since the schema was built.
    #[cfg(test)]
    fn validations_kept(&self) -> u64 {
        self.kept
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .validations_kept
    }
}

impl ExtensionFactory for DocumentCache {
    fn create(&self) -> Arc<dyn Extension> {
        Arc::new(DocumentCacheExtension::new(Arc::clone(&self.kept)))
    }
}

/// The extension of one request (async-graphql makes one per request).
struct DocumentCacheExtension {
    kept: Arc<Mutex<Kept>>,
    /// The request's operation name, as `prepare_request` saw it.
    operation: Mutex<Option<String>>,
    /// What `parse_query` found out for the validation that follows it.
    validation: Mutex<Validation>,
}

/// A request's validation, as its parse left it.
enum Validation {
    /// Validate, keep nothing.
    Run,
    /// Validate, and keep a pass under this key.
    RunAndKeep(Box<str>),
    /// Answered already: a document of the shape passed with these results.
    Kept(ValidationResult),
}

impl DocumentCacheExtension {
    fn new(kept: Arc<Mutex<Kept>>) -> Self {
        Self {
            kept,
            operation: Mutex::new(None),
            validation: Mutex::new(Validation::Run),
        }
    }

    /// Decides how `document` (of `shape`, sent with `variables`) is validated: by a kept pass
    /// of its key, or run and kept when validation is blind to its strings.
    fn plan_validation(
        &self,
        ctx: &ExtensionContext<'_>,
        shape: &Shape,
        variables: &Variables,
        document: &ExecutableDocument,
    ) {
        let operation = self
            .operation
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .take()
            .unwrap_or_default();
        let Some(variables) = blind::variables_key(document, variables) else {
            return;
        };
        let key = validation_key(&operation, &variables, &shape.key);
        let found = {
            let mut kept = self.kept.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
            kept.validated.get(key.as_str()).copied()
        };
        let plan = match found {
            Some(result) => Validation::Kept(result),
            None if blind::blind(document, &ctx.schema_env.registry) => Validation::RunAndKeep(key.into()),
            None => Validation::Run,
        };
        *self
            .validation
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = plan;
    }

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

    /// A copy of the kept tree of `shape`'s documents, given `shape`'s values, if any.
    fn of_shape(&self, shape: &Shape) -> Option<ExecutableDocument> {
        let template = {
            let mut kept = self.kept.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
            kept.shapes.get(&shape.key).cloned()?
        };
        let mut document = (*template).clone();
        fill(&mut document, &shape.values).then_some(document)
    }

    /// Keeps `document` as its shape's tree if the shape was seen before and its values are
    /// where `fill` finds them; otherwise notes that the shape was seen.
    fn keep_shape(&self, shape: &Shape, document: &ExecutableDocument) {
        let hash = text_hash(&shape.key);
        {
            let mut kept = self.kept.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
            if kept.shapes_seen_once.pop(&hash).is_none() {
                kept.shapes_seen_once.put(hash, ());
                return;
            }
        }
        let mut template = document.clone();
        if !fill(&mut template, &shape.values) {
            return;
        }
        let mut kept = self.kept.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        kept.shapes.put(shape.key.clone(), Arc::new(template));
    }
}

/// A document's shape: its text with the content of each string value blanked, and the values,
/// in the order they are written. `None` for a document with a value that is not plain (an
/// escape, a character outside printable ASCII, a block string) or an unterminated one: those
/// are left to the parser.
#[derive(Debug, PartialEq)]
struct Shape {
    key: Box<str>,
    values: Vec<String>,
}

fn shape(query: &str) -> Option<Shape> {
    let mut key = String::with_capacity(query.len());
    let mut values = Vec::new();
    let mut chars = query.chars().peekable();
    while let Some(c) = chars.next() {
        key.push(c);
        match c {
            // A comment runs to the end of its line; quotes in it are not values.
            '#' => {
                while let Some(&next) = chars.peek() {
                    if next == '\n' || next == '\r' {
                        break;
                    }
                    key.push(next);
                    chars.next();
                }
            }
            '"' => {
                let mut value = String::new();
                loop {
                    match chars.next()? {
                        '"' => break,
                        plain @ ' '..='~' if plain != '\\' => value.push(plain),
                        _ => return None,
                    }
                }
                // `""` then `"`: a block string.
                if value.is_empty() && chars.peek() == Some(&'"') {
                    return None;
                }
                key.extend(std::iter::repeat_n('_', value.len()));
                key.push('"');
                values.push(value);
            }
            _ => {}
        }
    }
    Some(Shape {
        key: key.into(),
        values,
    })
}

/// Gives the string values of `document`, in the order they are written, `values`; false (and
/// `document` unchanged) when their number differs.
fn fill(document: &mut ExecutableDocument, values: &[String]) -> bool {
    let mut slots = Vec::new();
    match &mut document.operations {
        DocumentOperations::Single(operation) => operation_slots(operation, &mut slots),
        DocumentOperations::Multiple(operations) => {
            for operation in operations.values_mut() {
                operation_slots(operation, &mut slots);
            }
        }
    }
    for fragment in document.fragments.values_mut() {
        directive_slots(&mut fragment.node.directives, &mut slots);
        selection_slots(&mut fragment.node.selection_set, &mut slots);
    }
    // Positions order the values as they are written (each is where its value begins); a list's
    // or an object's values follow in their own order.
    slots.sort_by_key(|(pos, _)| (pos.line, pos.column));
    let mut strings: Vec<&mut String> = Vec::with_capacity(values.len());
    for (_, slot) in slots {
        match slot {
            Slot::Value(value) => value_strings(value, &mut strings),
            Slot::Const(value) => const_strings(value, &mut strings),
        }
    }
    if strings.len() != values.len() {
        return false;
    }
    for (string, value) in strings.into_iter().zip(values) {
        string.clone_from(value);
    }
    true
}

enum Slot<'a> {
    Value(&'a mut Value),
    Const(&'a mut ConstValue),
}

fn operation_slots<'a>(operation: &'a mut Positioned<OperationDefinition>, slots: &mut Vec<(Pos, Slot<'a>)>) {
    let operation = &mut operation.node;
    for variable in &mut operation.variable_definitions {
        let variable = &mut variable.node;
        if let Some(default) = &mut variable.default_value {
            slots.push((default.pos, Slot::Const(&mut default.node)));
        }
        directive_slots(&mut variable.directives, slots);
    }
    directive_slots(&mut operation.directives, slots);
    selection_slots(&mut operation.selection_set, slots);
}

fn directive_slots<'a>(directives: &'a mut [Positioned<Directive>], slots: &mut Vec<(Pos, Slot<'a>)>) {
    for directive in directives {
        for (_, value) in &mut directive.node.arguments {
            slots.push((value.pos, Slot::Value(&mut value.node)));
        }
    }
}

fn selection_slots<'a>(set: &'a mut Positioned<SelectionSet>, slots: &mut Vec<(Pos, Slot<'a>)>) {
    for item in &mut set.node.items {
        match &mut item.node {
            Selection::Field(field) => {
                let field = &mut field.node;
                for (_, value) in &mut field.arguments {
                    slots.push((value.pos, Slot::Value(&mut value.node)));
                }
                directive_slots(&mut field.directives, slots);
                selection_slots(&mut field.selection_set, slots);
            }
            Selection::FragmentSpread(spread) => directive_slots(&mut spread.node.directives, slots),
            Selection::InlineFragment(fragment) => {
                directive_slots(&mut fragment.node.directives, slots);
                selection_slots(&mut fragment.node.selection_set, slots);
            }
        }
    }
}

fn value_strings<'a>(value: &'a mut Value, strings: &mut Vec<&'a mut String>) {
    match value {
        Value::String(s) => strings.push(s),
        Value::List(items) => items.iter_mut().for_each(|v| value_strings(v, strings)),
        Value::Object(fields) => fields.values_mut().for_each(|v| value_strings(v, strings)),
        _ => {}
    }
}

fn const_strings<'a>(value: &'a mut ConstValue, strings: &mut Vec<&'a mut String>) {
    match value {
        ConstValue::String(s) => strings.push(s),
        ConstValue::List(items) => items.iter_mut().for_each(|v| const_strings(v, strings)),
        ConstValue::Object(fields) => fields.values_mut().for_each(|v| const_strings(v, strings)),
        _ => {}
    }
}

/// The key a validation is kept under: the operation's name and the variables' key, each after
/// its length (a client names its operation as it likes), then the shape.
fn validation_key(operation: &str, variables: &str, shape: &str) -> String {
    format!("{}:{operation}{}:{variables}{shape}", operation.len(), variables.len())
}

#[async_graphql::async_trait::async_trait]
impl Extension for DocumentCacheExtension {
    async fn prepare_request(
        &self,
        ctx: &ExtensionContext<'_>,
        request: Request,
        next: NextPrepareRequest<'_>,
    ) -> ServerResult<Request> {
        let request = next.run(ctx, request).await?;
        *self.operation.lock().unwrap_or_else(std::sync::PoisonError::into_inner) = request.operation_name.clone();
        Ok(request)
    }

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
        let shape = shape(query);
        // Copied outside the lock: requests on other threads only wait for a pointer.
        let document = if let Some(document) = self.kept(query) {
            (*document).clone()
        } else if let Some(document) = shape.as_ref().and_then(|shape| self.of_shape(shape)) {
            document
        } else {
            // Errors are not kept: a document that does not parse costs its parse every time,
            // as it would without this.
            let document = next.run(ctx, query, variables).await?;
            self.keep(query, &document);
            if let Some(shape) = &shape {
                self.keep_shape(shape, &document);
            }
            document
        };
        if let Some(shape) = &shape {
            self.plan_validation(ctx, shape, variables, &document);
        }
        Ok(document)
    }

    async fn validation(
        &self,
        ctx: &ExtensionContext<'_>,
        next: NextValidation<'_>,
    ) -> Result<ValidationResult, Vec<ServerError>> {
        let plan = std::mem::replace(
            &mut *self
                .validation
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner),
            Validation::Run,
        );
        match plan {
            Validation::Kept(result) => {
                let mut kept = self.kept.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
                kept.validations_kept += 1;
                Ok(result)
            }
            Validation::RunAndKeep(key) => {
                let result = next.run(ctx).await?;
                let mut kept = self.kept.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
                kept.validated.put(key, result);
                Ok(result)
            }
            Validation::Run => next.run(ctx).await,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(q: &str) -> ExecutableDocument {
        async_graphql::parser::parse_query(q).unwrap()
    }

    fn tree(document: &ExecutableDocument) -> serde_json::Value {
        serde_json::to_value(document).unwrap()
    }

    #[test]
    fn a_shape_blanks_plain_values_and_leaves_the_rest() {
        let a = shape(r#"{ m(device: "urn:a:1") { n } } # "not a value""#).unwrap();
        let b = shape(r#"{ m(device: "urn:b:2") { n } } # "not a value""#).unwrap();
        assert_eq!(a.key, b.key);
        assert_eq!(&*a.key, r#"{ m(device: "_______") { n } } # "not a value""#);
        assert_eq!(a.values, ["urn:a:1"]);
        assert_eq!(shape(r#"{ m(device: "") { n } }"#).unwrap().values, [""]);
        // Another length is another shape: every later position would move.
        assert_ne!(shape(r#"{ m(device: "urn:b:22") { n } }"#).unwrap().key, a.key);
        // Left to the parser: escapes, characters outside printable ASCII, block strings, tabs,
        // line breaks and unterminated values.
        for q in [
            r#"{ m(device: "a\"b") }"#,
            "{ m(device: \"caf\u{e9}\") }",
            r#"{ m(device: """x""") }"#,
            "{ m(device: \"a\tb\") }",
            "{ m(device: \"a\nb\") }",
            r#"{ m(device: "open) }"#,
        ] {
            assert_eq!(shape(q), None, "{q}");
        }
    }

    #[test]
    fn a_filled_tree_is_the_tree_the_parser_gives() {
        // Values everywhere one can be: arguments, nested lists and objects, directives,
        // default values, fragments, several operations.
        let text = |x: &str, y: &str, z: &str| {
            format!(
                r#"query A($v: String = "{x}") {{ m(device: "{y}", opts: {{ ids: ["{z}", "{x}"], k: "{y}" }}) @include(if: true) {{ ...F }} }}
                   query B {{ n(s: "{z}") {{ ... on T @skip(if: false) {{ f(t: "{x}") }} }} }}
                   fragment F on M {{ g(u: "{z}") }}"#
            )
        };
        let first = text("aa", "bbb", "c");
        let second = text("xy", "zzz", "q");
        let (s1, s2) = (shape(&first).unwrap(), shape(&second).unwrap());
        assert_eq!(s1.key, s2.key);
        let mut filled = parse(&first);
        assert!(fill(&mut filled, &s2.values));
        assert_eq!(tree(&filled), tree(&parse(&second)));
        // A count that does not match leaves the tree as it was.
        let mut untouched = parse(&first);
        assert!(!fill(&mut untouched, &s2.values[1..]));
        assert_eq!(tree(&untouched), tree(&parse(&first)));
    }

    #[test]
    fn a_shape_is_kept_the_second_time_and_answers_with_the_documents_own_values() {
        let cache = DocumentCache::new();
        let extension = DocumentCacheExtension::new(Arc::clone(&cache.kept));
        let doc = |d: &str| format!(r#"{{ compatibleModels(device: "{d}") {{ device }} }}"#);
        let (one, two, three) = (doc("device-1"), doc("device-2"), doc("device-3"));
        let shape_of = |q: &str| shape(q).unwrap();
        extension.keep_shape(&shape_of(&one), &parse(&one));
        assert!(
            extension.of_shape(&shape_of(&two)).is_none(),
            "kept the second time it comes"
        );
        extension.keep_shape(&shape_of(&two), &parse(&two));
        let answered = extension.of_shape(&shape_of(&three)).unwrap();
        assert_eq!(tree(&answered), tree(&parse(&three)));
        assert!(
            extension.of_shape(&shape_of(&doc("device-10"))).is_none(),
            "another length"
        );
    }

    /// A schema over the seeded registry that keeps its documents in what this returns too.
    fn seeded_schema() -> (super::super::SeamSchema, DocumentCache, crate::graph::Registry) {
        let registry = crate::graph::Registry::in_memory().unwrap();
        registry.seed_if_empty().unwrap();
        let cache = DocumentCache::new();
        let schema = super::super::build(crate::matching::FleetIndex::new(registry.clone()), None, cache.share());
        (schema, cache, registry)
    }

    async fn ask(
        schema: &super::super::SeamSchema,
        registry: &crate::graph::Registry,
        query: &str,
        variables: serde_json::Value,
    ) -> serde_json::Value {
        let request = async_graphql::Request::new(query).variables(Variables::from_json(variables));
        let request = super::super::prepare(request, registry, crate::access::Caller::Anonymous);
        serde_json::to_value(schema.execute(request).await).unwrap()
    }

    #[tokio::test]
    async fn one_validation_answers_a_shape_whose_strings_it_cannot_tell_apart() {
        let (schema, cache, registry) = seeded_schema();
        let inline = |d: &str| format!(r#"{{ compatibleModels(device: "{d}") {{ device compatible {{ model }} }} }}"#);
        // Two devices of one length, then two of another: each shape is validated once.
        for (n, d) in [
            "dock-camera-01",
            "gate-camera-02",
            "line3-vibration-01",
            "press-vibration-03",
        ]
        .into_iter()
        .enumerate()
        {
            let answer = ask(&schema, &registry, &inline(d), serde_json::json!({})).await;
            assert_eq!(answer["errors"], serde_json::Value::Null, "{answer}");
            assert!(answer["data"]["compatibleModels"]["device"]
                .as_str()
                .unwrap()
                .ends_with(d));
            assert_eq!(cache.validations_kept(), (n % 2) as u64 + (n / 2) as u64, "after {d}");
        }
        // A device in a variable declared `String!`: any string validates alike.
        let by_variable = "query($d: String!) { compatibleModels(device: $d) { device } }";
        for d in ["dock-camera-01", "line3-vibration-01"] {
            let answer = ask(&schema, &registry, by_variable, serde_json::json!({ "d": d })).await;
            assert_eq!(answer["errors"], serde_json::Value::Null, "{answer}");
        }
        assert_eq!(cache.validations_kept(), 3);
        // A number for it is another key, and validation refuses it.
        let answer = ask(&schema, &registry, by_variable, serde_json::json!({ "d": 7 })).await;
        assert!(answer["errors"][0]["message"].is_string(), "{answer}");
        assert_eq!(cache.validations_kept(), 3);
    }

    #[tokio::test]
    async fn a_document_whose_strings_validation_reads_is_validated_every_time() {
        let (schema, cache, registry) = seeded_schema();
        // async-graphql takes a string where an enum stands: its content decides.
        let status = |s: &str| format!(r#"{{ devices(first: 1, filter: {{ status: "{s}" }}) {{ __typename }} }}"#);
        // Two fields of one response key must have equal arguments.
        let twice = |a: &str, b: &str| {
            format!(
                r#"{{ m: compatibleModels(device: "{a}") {{ device }} m: compatibleModels(device: "{b}") {{ device }} }}"#
            )
        };
        let by_variable = "query($s: DeviceStatus) { devices(first: 1, filter: { status: $s }) { __typename } }";
        for _ in 0..2 {
            for (valid, query, variables) in [
                (true, status("ONLINE"), serde_json::json!({})),
                (false, status("XNLINE"), serde_json::json!({})),
                (true, twice("dock-camera-01", "dock-camera-01"), serde_json::json!({})),
                (false, twice("dock-camera-01", "gate-camera-02"), serde_json::json!({})),
                (true, by_variable.to_owned(), serde_json::json!({ "s": "ONLINE" })),
                (false, by_variable.to_owned(), serde_json::json!({ "s": "XNLINE" })),
            ] {
                let answer = ask(&schema, &registry, &query, variables).await;
                assert_eq!(answer["errors"].is_null(), valid, "{query}: {answer}");
            }
        }
        // Only the exact repeats (the same text, the same variable) were answered by a kept pass.
        assert_eq!(cache.validations_kept(), 1);
    }

    #[test]
    fn keeps_at_most_its_capacity_and_forgets_the_least_recent() {
        let cache = DocumentCache::new();
        let extension = DocumentCacheExtension::new(Arc::clone(&cache.kept));
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
