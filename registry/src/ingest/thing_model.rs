//! Thing Models (W3C WoT Thing Description 1.1, §10): a Thing Description made from a
//! self-contained Thing Model.
//!
//! A Thing Model is a TD with blanks: `{{PLACEHOLDER}}` strings, affordances listed as optional
//! in `tm:optional`, and the `tm:ThingModel` type. Making a TD of it ([`instantiate`]) fills
//! every placeholder, leaves out the optional affordances the instance does not offer, and
//! removes what only a model may carry. A model that imports or extends another (`tm:ref`, a
//! link of relation `tm:extends`) is refused by name: resolving those means reading other
//! documents, and SEAM never fetches one while it ingests.

use std::collections::BTreeMap;

use serde_json::{Map, Value};

/// Why a Thing Model could not be made into a Thing Description.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ThingModelError {
    /// The document's `@type` does not name `tm:ThingModel`.
    #[error("the document is not a Thing Model: its @type does not include tm:ThingModel")]
    NotAThingModel,
    /// The model imports or extends another document.
    #[error("{pointer}: {what} names another Thing Model, which SEAM does not fetch; give the model with its imports and extensions written in")]
    NotSelfContained {
        /// JSON pointer to the reference.
        pointer: String,
        /// `tm:ref` or `tm:extends`.
        what: &'static str,
    },
    /// An affordance asked to be left out is not in `tm:optional`.
    #[error("{0} is not listed in tm:optional: an instance must offer it")]
    NotOptional(String),
    /// An affordance asked to be left out is not in the model.
    #[error("{0} is not an affordance of the model")]
    NoSuchAffordance(String),
    /// A placeholder has no value.
    #[error("{pointer}: the placeholder {{{{{name}}}}} has no value")]
    Unfilled {
        /// JSON pointer to the string holding it.
        pointer: String,
        /// The placeholder's name.
        name: String,
    },
}

/// The Thing Description of `model` with `placeholders` filled (a string that is exactly one
/// placeholder takes the value as it is, any JSON; elsewhere the value's text is spliced in) and
/// the affordances at the JSON pointers `omit` (each listed in `tm:optional`) left out.
pub fn instantiate(
    model: &Value,
    placeholders: &BTreeMap<String, Value>,
    omit: &[&str],
) -> Result<Value, ThingModelError> {
    let Value::Object(object) = model else {
        return Err(ThingModelError::NotAThingModel);
    };
    if !types(object).contains(&"tm:ThingModel") {
        return Err(ThingModelError::NotAThingModel);
    }
    refuse_references(model, &mut String::new())?;
    let optional: Vec<&str> = match object.get("tm:optional") {
        Some(Value::Array(items)) => items.iter().filter_map(Value::as_str).collect(),
        Some(Value::String(one)) => vec![one.as_str()],
        _ => Vec::new(),
    };
    let mut td = model.clone();
    for pointer in omit {
        if !optional.contains(pointer) {
            return Err(ThingModelError::NotOptional((*pointer).to_owned()));
        }
        remove(&mut td, pointer).ok_or_else(|| ThingModelError::NoSuchAffordance((*pointer).to_owned()))?;
    }
    if let Value::Object(object) = &mut td {
        object.remove("tm:optional");
        let kept: Vec<Value> = types(object)
            .into_iter()
            .filter(|t| *t != "tm:ThingModel")
            .map(|t| Value::String(t.to_owned()))
            .collect();
        match kept.len() {
            0 => {
                object.remove("@type");
            }
            1 => {
                object.insert("@type".into(), kept[0].clone());
            }
            _ => {
                object.insert("@type".into(), Value::Array(kept));
            }
        }
    }
    fill(&mut td, placeholders, &mut String::new())?;
    Ok(td)
}

fn types(object: &Map<String, Value>) -> Vec<&str> {
    match object.get("@type") {
        Some(Value::String(one)) => vec![one.as_str()],
        Some(Value::Array(many)) => many.iter().filter_map(Value::as_str).collect(),
        _ => Vec::new(),
    }
}

/// A member name as a JSON pointer segment (RFC 6901: `~` as `~0`, `/` as `~1`).
fn escape(key: &str) -> String {
    key.replace('~', "~0").replace('/', "~1")
}

/// Refuses `tm:ref` anywhere and `links` of relation `tm:extends` at the top.
fn refuse_references(value: &Value, pointer: &mut String) -> Result<(), ThingModelError> {
    match value {
        Value::Object(object) => {
            for (key, member) in object {
                let depth = pointer.len();
                pointer.push('/');
                pointer.push_str(&escape(key));
                if key == "tm:ref" {
                    return Err(ThingModelError::NotSelfContained {
                        pointer: pointer.clone(),
                        what: "tm:ref",
                    });
                }
                if key == "rel" && pointer.starts_with("/links/") && member.as_str() == Some("tm:extends") {
                    return Err(ThingModelError::NotSelfContained {
                        pointer: pointer.clone(),
                        what: "tm:extends",
                    });
                }
                refuse_references(member, pointer)?;
                pointer.truncate(depth);
            }
        }
        Value::Array(items) => {
            for (i, item) in items.iter().enumerate() {
                let depth = pointer.len();
                pointer.push_str(&format!("/{i}"));
                refuse_references(item, pointer)?;
                pointer.truncate(depth);
            }
        }
        _ => {}
    }
    Ok(())
}

/// Removes the member at `pointer` (`/actions/name`); `None` when there is none.
fn remove(td: &mut Value, pointer: &str) -> Option<Value> {
    let (parent, last) = pointer.rsplit_once('/')?;
    let last = last.replace("~1", "/").replace("~0", "~");
    td.pointer_mut(parent)?.as_object_mut()?.remove(&last)
}

fn fill(
    value: &mut Value,
    placeholders: &BTreeMap<String, Value>,
    pointer: &mut String,
) -> Result<(), ThingModelError> {
    match value {
        Value::String(text) => {
            if let Some(filled) = fill_text(text, placeholders, pointer)? {
                *value = filled;
            }
        }
        Value::Object(object) => {
            for (key, member) in object.iter_mut() {
                let depth = pointer.len();
                pointer.push('/');
                pointer.push_str(&escape(key));
                fill(member, placeholders, pointer)?;
                pointer.truncate(depth);
            }
        }
        Value::Array(items) => {
            for (i, item) in items.iter_mut().enumerate() {
                let depth = pointer.len();
                pointer.push_str(&format!("/{i}"));
                fill(item, placeholders, pointer)?;
                pointer.truncate(depth);
            }
        }
        _ => {}
    }
    Ok(())
}

/// The string with its placeholders filled, or `None` when it holds none.
fn fill_text(
    text: &str,
    placeholders: &BTreeMap<String, Value>,
    pointer: &str,
) -> Result<Option<Value>, ThingModelError> {
    if !text.contains("{{") {
        return Ok(None);
    }
    let value_of = |name: &str| {
        placeholders.get(name).ok_or_else(|| ThingModelError::Unfilled {
            pointer: if pointer.is_empty() {
                "/".into()
            } else {
                pointer.to_owned()
            },
            name: name.to_owned(),
        })
    };
    // A string that is one placeholder takes the value itself: a number stays a number.
    if let Some(name) = text.strip_prefix("{{").and_then(|t| t.strip_suffix("}}")) {
        if !name.contains("{{") && !name.contains("}}") {
            return Ok(Some(value_of(name)?.clone()));
        }
    }
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(start) = rest.find("{{") {
        out.push_str(&rest[..start]);
        let Some(end) = rest[start + 2..].find("}}") else {
            out.push_str(&rest[start..]);
            rest = "";
            break;
        };
        let name = &rest[start + 2..start + 2 + end];
        match value_of(name)? {
            Value::String(s) => out.push_str(s),
            other => out.push_str(&other.to_string()),
        }
        rest = &rest[start + 2 + end + 2..];
    }
    out.push_str(rest);
    Ok(Some(Value::String(out)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn values(pairs: &[(&str, Value)]) -> BTreeMap<String, Value> {
        pairs.iter().map(|(k, v)| ((*k).to_owned(), v.clone())).collect()
    }

    fn model() -> Value {
        json!({
            "@context": "https://www.w3.org/2022/wot/td/v1.1",
            "@type": ["tm:ThingModel", "saref:Sensor"],
            "title": "Sensor {{SERIAL}}",
            "base": "{{BASE}}",
            "tm:optional": ["/actions/reset"],
            "properties": {"rate": {"type": "number", "default": "{{RATE}}", "forms": [{"href": "/rate"}]}},
            "actions": {"reset": {"forms": [{"href": "/reset"}]}, "calibrate": {"forms": [{"href": "/calibrate"}]}}
        })
    }

    #[test]
    fn placeholders_are_filled_and_optional_affordances_left_out() {
        let td = instantiate(
            &model(),
            &values(&[
                ("SERIAL", json!("A-7")),
                ("BASE", json!("http://a.example/")),
                ("RATE", json!(50)),
            ]),
            &["/actions/reset"],
        )
        .unwrap();
        assert_eq!(td["title"], "Sensor A-7");
        assert_eq!(td["base"], "http://a.example/");
        assert_eq!(
            td["properties"]["rate"]["default"],
            json!(50),
            "a whole-string placeholder keeps its type"
        );
        assert_eq!(td["@type"], "saref:Sensor");
        assert!(td.get("tm:optional").is_none());
        assert!(td["actions"].get("reset").is_none());
        assert!(td["actions"].get("calibrate").is_some());
    }

    #[test]
    fn what_cannot_be_made_is_named() {
        let all = values(&[("SERIAL", json!("A")), ("BASE", json!("b")), ("RATE", json!(1))]);
        assert_eq!(
            instantiate(&model(), &values(&[("SERIAL", json!("A"))]), &[]),
            Err(ThingModelError::Unfilled {
                pointer: "/base".into(),
                name: "BASE".into()
            })
        );
        assert_eq!(
            instantiate(&model(), &all, &["/actions/calibrate"]),
            Err(ThingModelError::NotOptional("/actions/calibrate".into()))
        );
        let mut td = model();
        td["@type"] = json!("Thing");
        assert_eq!(instantiate(&td, &all, &[]), Err(ThingModelError::NotAThingModel));
        let mut extends = model();
        extends["links"] = json!([{"rel": "tm:extends", "href": "http://x.example/base.tm.jsonld"}]);
        assert_eq!(
            instantiate(&extends, &all, &[]),
            Err(ThingModelError::NotSelfContained {
                pointer: "/links/0/rel".into(),
                what: "tm:extends"
            })
        );
        let mut imports = model();
        imports["properties"]["rate"] = json!({"tm:ref": "http://x.example/m.tm.jsonld#/properties/rate"});
        assert!(matches!(
            instantiate(&imports, &all, &[]),
            Err(ThingModelError::NotSelfContained { what: "tm:ref", .. })
        ));
    }
}
