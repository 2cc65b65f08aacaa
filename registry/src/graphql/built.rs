//! Answers built by their resolver in one pass over the client's selection, for the large, flat
//! lists a client asks for often (a device's compatible models).
//!
//! async-graphql resolves every field of every object as a future of its own and gathers them
//! into a value tree: for 100 models × 8 fields that cost as much as matching the device did
//! (≈ 0.37 µs a field). Here the resolver reads the selection once (fragments flattened, and
//! `@skip`/`@include` already applied by the executor) and writes each object's selected fields
//! straight into the value. The schema does not change: the value is typed as `T` is, so
//! validation, complexity and introspection are `T`'s.

use std::borrow::Cow;
use std::future::Future;
use std::marker::PhantomData;
use std::sync::Mutex;

use async_graphql::parser::types::Field;
use async_graphql::registry::Registry;
use async_graphql::{
    indexmap::IndexMap, ContextSelectionSet, Name, OutputType, Positioned, SelectionField, ServerResult, Value,
};

/// A value built by its resolver, typed in the schema as `T`.
pub struct Built<T> {
    /// Taken by the one resolution of the field it answers (each alias of a field is resolved
    /// by a call of its own, with a value of its own).
    value: Mutex<Option<Value>>,
    of: PhantomData<fn() -> T>,
}

impl<T> Built<T> {
    /// `value`, typed as `T`.
    pub fn new(value: Value) -> Self {
        Self {
            value: Mutex::new(Some(value)),
            of: PhantomData,
        }
    }
}

impl<T: OutputType> OutputType for Built<T> {
    fn type_name() -> Cow<'static, str> {
        T::type_name()
    }

    fn qualified_type_name() -> String {
        T::qualified_type_name()
    }

    fn create_type_info(registry: &mut Registry) -> String {
        T::create_type_info(registry)
    }

    fn resolve(
        &self,
        _ctx: &ContextSelectionSet<'_>,
        _field: &Positioned<Field>,
    ) -> impl Future<Output = ServerResult<Value>> + Send {
        let value = self.value.lock().ok().and_then(|mut v| v.take()).unwrap_or(Value::Null);
        std::future::ready(Ok(value))
    }
}

/// What to write for each object of a list: for each response key (alias or name) the client
/// selected, in its order, what the field is (a `K`). Read once per list, not once per object.
pub struct Plan<K> {
    fields: Vec<K>,
    /// An object with the planned keys, each null: every object of the list starts as a copy of
    /// it. Copying a map keeps the keys' hashes, where inserting each key would hash it again
    /// (as much work, for a list of a hundred objects, as everything else the answer costs).
    template: IndexMap<Name, Value>,
}

impl<K> Plan<K> {
    /// Plans `field`'s selection: each selected field's `kind`. A key selected twice is one
    /// entry, its two kinds merged by `merge` (GraphQL merges the selections of a key: an object
    /// field's sub-selections add up).
    pub fn of<'a>(
        field: &SelectionField<'a>,
        mut kind: impl FnMut(&SelectionField<'a>) -> K,
        mut merge: impl FnMut(&mut K, K),
    ) -> Self {
        let mut plan = Self {
            fields: Vec::new(),
            template: IndexMap::new(),
        };
        for selected in field.selection_set() {
            let key = selected.alias().unwrap_or(selected.name());
            let k = kind(&selected);
            match plan.template.get_index_of(key) {
                Some(i) => {
                    if let Some(earlier) = plan.fields.get_mut(i) {
                        merge(earlier, k);
                    }
                }
                None => plan.add(Name::new(key), k),
            }
        }
        plan
    }

    /// Adds `key`, planned as `kind`, unless it is planned already.
    pub fn add(&mut self, key: Name, kind: K) {
        if !self.template.contains_key(&key) {
            self.template.insert(key, Value::Null);
            self.fields.push(kind);
        }
    }

    /// The planned kinds, in order.
    pub fn kinds(&self) -> impl Iterator<Item = &K> {
        self.fields.iter()
    }

    /// The planned keys and kinds, in order.
    pub fn into_entries(self) -> impl Iterator<Item = (Name, K)> {
        self.template.into_keys().zip(self.fields)
    }

    /// One object: each planned key with the value `value_of` gives for its kind.
    pub fn object(&self, mut value_of: impl FnMut(&K) -> Value) -> Value {
        let mut map = self.template.clone();
        for (slot, kind) in map.values_mut().zip(&self.fields) {
            *slot = value_of(kind);
        }
        Value::Object(map)
    }
}

/// A string, or null.
pub fn optional_string(s: Option<&str>) -> Value {
    s.map_or(Value::Null, |s| Value::String(s.to_owned()))
}

/// A float as async-graphql writes one (null when not finite), or null.
pub fn optional_float(f: Option<f64>) -> Value {
    f.and_then(async_graphql::Number::from_f64)
        .map_or(Value::Null, Value::Number)
}
