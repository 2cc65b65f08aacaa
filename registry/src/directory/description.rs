//! The directory's own Thing Description, served at `/.well-known/wot`.
//!
//! It is made from the W3C WoT Discovery Thing Model of a directory
//! (`ontology/wot/directory.tm.jsonld`, unchanged), so that its affordances carry the names,
//! methods, status codes and media types the specification gives them, and a WoT consumer that
//! knows the model drives SEAM's directory without knowing SEAM. What the model leaves open is
//! filled here: the base URL, which optional affordances SEAM offers (all but the
//! informative JSONPath and XPath searches), the security a write needs, and data schemas
//! a consumer can check answers against.

use std::collections::BTreeMap;

use serde_json::{json, Value};

use crate::access::Reads;
use crate::ingest::thing_model::{self, ThingModelError};

/// The W3C directory Thing Model, as published.
const DIRECTORY_MODEL: &str = include_str!("../../../ontology/wot/directory.tm.jsonld");

/// The id of the directory's own TD.
pub const DIRECTORY_ID: &str = "urn:seam:directory";

/// The optional affordances of the model SEAM does not offer.
const NOT_OFFERED: [&str; 2] = ["/actions/searchJSONPath", "/actions/searchXPath"];

/// The affordances that change the directory: their forms need the bearer token.
const WRITES: [&str; 5] = [
    "createThing",
    "createAnonymousThing",
    "updateThing",
    "partiallyUpdateThing",
    "deleteThing",
];

/// Why the directory's description could not be made (a defect of the bundled model).
#[derive(Debug, thiserror::Error)]
pub enum DescriptionError {
    /// The bundled model is not JSON.
    #[error("the bundled directory Thing Model is not JSON: {0}")]
    Json(#[from] serde_json::Error),
    /// The bundled model cannot be instantiated.
    #[error("the bundled directory Thing Model: {0}")]
    Model(#[from] ThingModelError),
}

/// The directory's TD at `base` (scheme and authority, no trailing slash), for a service whose
/// reads are `reads`.
pub fn describe(base: &str, reads: Reads) -> Result<Value, DescriptionError> {
    let model: Value = serde_json::from_str(DIRECTORY_MODEL)?;
    let placeholders = BTreeMap::from([("DIRECTORY_BASE_URL".to_owned(), Value::String(base.to_owned()))]);
    let mut td = thing_model::instantiate(&model, &placeholders, &NOT_OFFERED)?;
    td["id"] = json!(DIRECTORY_ID);
    td["title"] = json!("SEAM Thing Description Directory");
    td["description"] =
        json!("A W3C WoT Thing Description Directory whose Things become devices SEAM matches models to");
    td["version"] = json!({ "instance": env!("CARGO_PKG_VERSION"), "model": model["version"]["model"] });
    td["securityDefinitions"] = json!({
        "bearer_sc": { "scheme": "bearer", "in": "header", "name": "Authorization" },
        "nosec_sc": { "scheme": "nosec" }
    });
    td["security"] = json!([match reads {
        Reads::Open => "nosec_sc",
        Reads::Closed => "bearer_sc",
    }]);
    for action in WRITES {
        if let Some(Value::Array(forms)) = td.pointer_mut(&format!("/actions/{action}/forms")) {
            for form in forms {
                form["security"] = json!(["bearer_sc"]);
                // The writes answer 201 or 204 with no body, and the model's expected responses
                // say no media type; TD 1.1's JSON Schema requires one on every expected
                // response, so the form's default is stated.
                if let Some(response) = form.get_mut("response").and_then(Value::as_object_mut) {
                    response
                        .entry("contentType")
                        .or_insert_with(|| json!("application/json"));
                }
            }
        }
    }
    // The model gives the listing no data schema; a consumer checks the page against this one.
    // SEAM serves the array format only (the collection format is not in the Recommendation).
    if let Some(things) = td.pointer_mut("/properties/things") {
        things["type"] = json!("array");
        things["items"] = json!({ "type": "object" });
        things["readOnly"] = json!(true);
        things["uriVariables"]["format"]["enum"] = json!(["array"]);
    }
    // The search is asked by POST too, with the query as the body.
    if let Some(Value::Array(forms)) = td.pointer_mut("/actions/searchSPARQL/forms") {
        forms.push(json!({
            "href": "/search/sparql",
            "htv:methodName": "POST",
            "contentType": "application/sparql-query",
            "response": { "contentType": "application/json" }
        }));
    }
    Ok(td)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_description_is_a_valid_td_with_the_models_affordances() {
        let td = describe("http://127.0.0.1:8080", Reads::Open).unwrap();
        assert_eq!(td["base"], "http://127.0.0.1:8080");
        assert_eq!(td["@type"], "ThingDirectory");
        assert!(td.get("tm:optional").is_none());
        assert!(td["actions"].get("searchXPath").is_none());
        assert_eq!(td["actions"]["updateThing"]["forms"][0]["htv:methodName"], "PUT");
        assert_eq!(
            td["actions"]["partiallyUpdateThing"]["forms"][0]["htv:methodName"],
            "PATCH"
        );
        assert_eq!(
            td["actions"]["deleteThing"]["forms"][0]["security"],
            json!(["bearer_sc"])
        );
        assert!(td["actions"]["retrieveThing"]["forms"][0].get("security").is_none());
        assert_eq!(td["events"]["thingCreated"]["forms"][0]["subprotocol"], "sse");
        let violations = crate::ingest::td::violations(&td).unwrap();
        assert!(violations.is_empty(), "{violations:?}");
        let closed = describe("http://h", Reads::Closed).unwrap();
        assert_eq!(closed["security"], json!(["bearer_sc"]));
    }
}
