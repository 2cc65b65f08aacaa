//! Which documents validation cannot tell apart by their string values, so that one validation
//! answers for every document of their shape (`documents`).
//!
//! Validation reads the content of a string value in three places: a string where the schema
//! expects an enum (async-graphql takes `"ONLINE"` for `ONLINE`) or a scalar that checks its
//! input, and two fields of one response key, whose arguments must be equal. A document is
//! *blind* to its strings when none of these can happen: every string it writes stands where the
//! schema expects `String` or `ID` (an argument, a field of an input object, a variable's
//! default), no directive is given a string, and no response key that is given a string is
//! selected twice. Anything this walk does not know (an unknown type or field, introspection's
//! `__type(name:)`) makes the document not blind: it is validated every time, as before.
//!
//! Variables are part of the key by value, except a string for a variable declared `String` or
//! `ID`, which only counts as a string: where such a variable may stand is a question of
//! declared types, which validation answers the same for every value.
//!
//! Complexity and depth are the same for the whole shape: the schema's complexity functions are
//! constants plus their children's (`matching`, `query`), none reads a string argument.

use std::collections::HashMap;

use async_graphql::parser::types::{
    DocumentOperations, ExecutableDocument, OperationType, Selection, SelectionSet, VariableDefinition,
};
use async_graphql::parser::Positioned;
use async_graphql::registry::{MetaType, MetaTypeName, Registry};
use async_graphql::Variables;
use async_graphql_value::{ConstValue, Value};

/// Longest variables' key kept: variables larger than this are validated every time.
const MAX_VARIABLES_KEY: usize = 1024;

/// Whether validating `document` against `registry` gives the same answer whatever the content
/// of its string values.
pub(super) fn blind(document: &ExecutableDocument, registry: &Registry) -> bool {
    let mut walk = Walk {
        registry,
        keys: HashMap::new(),
    };
    let operations: Vec<_> = match &document.operations {
        DocumentOperations::Single(operation) => vec![operation],
        DocumentOperations::Multiple(operations) => operations.values().collect(),
    };
    for operation in operations {
        let operation = &operation.node;
        let root = match operation.ty {
            OperationType::Query => Some(registry.query_type.as_str()),
            OperationType::Mutation => registry.mutation_type.as_deref(),
            OperationType::Subscription => registry.subscription_type.as_deref(),
        };
        let Some(root) = root else { return false };
        let defaults_blind = operation.variable_definitions.iter().all(|v| {
            let v = &v.node;
            v.default_value
                .as_ref()
                .is_none_or(|default| !const_has_string(&default.node) || string_typed(&v.var_type.node.to_string()))
                && v.directives.iter().all(|d| directive_blind(&d.node.arguments))
        });
        if !defaults_blind
            || !operation.directives.iter().all(|d| directive_blind(&d.node.arguments))
            || !walk.set(root, &operation.selection_set)
        {
            return false;
        }
    }
    for fragment in document.fragments.values() {
        let fragment = &fragment.node;
        if !fragment.directives.iter().all(|d| directive_blind(&d.node.arguments))
            || !walk.set(&fragment.type_condition.node.on.node, &fragment.selection_set)
        {
            return false;
        }
    }
    // A response key given a string, selected twice anywhere: the two must have equal arguments.
    walk.keys.values().all(|&(count, stringy)| count == 1 || !stringy)
}

/// The variables' part of a validation key: each variable by value, but a string for a variable
/// declared `String` or `ID` (in every operation that declares it) only as `s`. `None` when
/// the key would be longer than `MAX_VARIABLES_KEY`.
pub(super) fn variables_key(document: &ExecutableDocument, variables: &Variables) -> Option<String> {
    let declared: Vec<&VariableDefinition> = match &document.operations {
        DocumentOperations::Single(operation) => operation.node.variable_definitions.iter().map(|v| &v.node).collect(),
        DocumentOperations::Multiple(operations) => operations
            .values()
            .flat_map(|o| o.node.variable_definitions.iter().map(|v| &v.node))
            .collect(),
    };
    let mut key = String::new();
    for (name, value) in variables.iter() {
        let plain_string = matches!(value, ConstValue::String(_)) && {
            let mut types = declared
                .iter()
                .filter(|v| v.name.node == *name)
                .map(|v| v.var_type.node.to_string());
            // `String!` or `ID`, not a list of them: a list's length is not in the shape.
            types
                .next()
                .is_some_and(|first| scalar_string_type(&first) && types.all(|t| scalar_string_type(&t)))
        };
        key.push_str(name);
        key.push('=');
        if plain_string {
            key.push('s');
        } else {
            key.push_str(&serde_json::to_string(value).ok()?);
        }
        key.push('\u{0}');
        if key.len() > MAX_VARIABLES_KEY {
            return None;
        }
    }
    Some(key)
}

struct Walk<'r> {
    registry: &'r Registry,
    /// Each response key: how many times it is selected, and whether any of them is given a
    /// string.
    keys: HashMap<&'r str, (usize, bool)>,
}

impl<'r> Walk<'r> {
    /// Whether `set`, selected on the type named `on`, is blind to its strings.
    fn set<'d: 'r>(&mut self, on: &str, set: &'d Positioned<SelectionSet>) -> bool {
        set.node.items.iter().all(|item| match &item.node {
            Selection::Field(field) => {
                let field = &field.node;
                if !field.directives.iter().all(|d| directive_blind(&d.node.arguments)) {
                    return false;
                }
                let name = field.name.node.as_str();
                let stringy = field.arguments.iter().any(|(_, v)| value_has_string(&v.node));
                let key = field.alias.as_ref().map_or(name, |a| a.node.as_str());
                let seen = self.keys.entry(key).or_insert((0, false));
                seen.0 += 1;
                seen.1 |= stringy;
                if name == "__typename" {
                    return field.arguments.is_empty();
                }
                let Some(meta) = self.registry.types.get(on).and_then(|t| t.field_by_name(name)) else {
                    return false;
                };
                let arguments_blind = field.arguments.iter().all(|(argument, value)| {
                    !value_has_string(&value.node)
                        || meta
                            .args
                            .get(argument.node.as_str())
                            .is_some_and(|a| self.value_blind(&a.ty, &value.node))
                });
                arguments_blind
                    && (field.selection_set.node.items.is_empty()
                        || self.set(MetaTypeName::concrete_typename(&meta.ty), &field.selection_set))
            }
            Selection::FragmentSpread(spread) => spread
                .node
                .directives
                .iter()
                .all(|d| directive_blind(&d.node.arguments)),
            Selection::InlineFragment(fragment) => {
                let fragment = &fragment.node;
                let on = fragment.type_condition.as_ref().map_or(on, |c| c.node.on.node.as_str());
                fragment.directives.iter().all(|d| directive_blind(&d.node.arguments))
                    && self.set(on, &fragment.selection_set)
            }
        })
    }

    /// Whether `value`, given where the schema expects the type `ty`, is blind to its strings.
    fn value_blind(&self, ty: &str, value: &Value) -> bool {
        match value {
            Value::String(_) => string_typed(ty),
            Value::List(items) => items.iter().all(|item| self.value_blind(ty, item)),
            Value::Object(fields) => {
                let Some(MetaType::InputObject { input_fields, .. }) =
                    self.registry.types.get(MetaTypeName::concrete_typename(ty))
                else {
                    return !fields.values().any(value_has_string);
                };
                fields.iter().all(|(name, v)| {
                    !value_has_string(v)
                        || input_fields
                            .get(name.as_str())
                            .is_some_and(|f| self.value_blind(&f.ty, v))
                })
            }
            // Numbers, booleans, enums and nulls are written in the shape; variables are keyed.
            _ => true,
        }
    }
}

/// Whether the type `ty` (wrapped in lists and non-nulls or not) takes any string alike.
fn string_typed(ty: &str) -> bool {
    matches!(MetaTypeName::concrete_typename(ty), "String" | "ID")
}

/// `String`, `String!`, `ID` or `ID!`.
fn scalar_string_type(ty: &str) -> bool {
    matches!(ty.trim_end_matches('!'), "String" | "ID")
}

fn directive_blind(arguments: &[(Positioned<async_graphql::Name>, Positioned<Value>)]) -> bool {
    !arguments.iter().any(|(_, v)| value_has_string(&v.node))
}

fn value_has_string(value: &Value) -> bool {
    match value {
        Value::String(_) => true,
        Value::List(items) => items.iter().any(value_has_string),
        Value::Object(fields) => fields.values().any(value_has_string),
        _ => false,
    }
}

fn const_has_string(value: &ConstValue) -> bool {
    match value {
        ConstValue::String(_) => true,
        ConstValue::List(items) => items.iter().any(const_has_string),
        ConstValue::Object(fields) => fields.values().any(const_has_string),
        _ => false,
    }
}
