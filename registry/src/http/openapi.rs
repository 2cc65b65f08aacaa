//! `GET /openapi.json`: the REST routes described in OpenAPI 3.1, made from the route table,
//! so that the description cannot drift from what the service answers.

use actix_web::HttpResponse;
use serde_json::{json, Map, Value};

use super::routes::ENDPOINTS;
use crate::access::{Access, Scope};

/// The description, built once per request (it is small, and the table is static).
pub(super) async fn serve() -> HttpResponse {
    HttpResponse::Ok()
        .content_type("application/vnd.oai.openapi+json;version=3.1")
        .json(document())
}

/// The OpenAPI document of every route in the table.
pub fn document() -> Value {
    let mut paths = Map::new();
    for endpoint in ENDPOINTS {
        let (path, parameters) = openapi_path(endpoint.path);
        let method = endpoint.method.as_str().to_ascii_lowercase();
        let mut operation = json!({
            "summary": endpoint.summary,
            "operationId": operation_id(&method, &path),
            "responses": {
                "2XX": { "description": "Success (the media type follows the Accept header where several are offered)" },
                "4XX": problem_response("The request was refused; the body says why"),
                "5XX": problem_response("The service could not answer (503: overloaded or stopping; try again)"),
            },
        });
        if !parameters.is_empty() {
            operation["parameters"] = Value::Array(parameters);
        }
        match endpoint.access {
            Access::Public => operation["security"] = json!([]),
            Access::Read => {
                operation["security"] = json!([{}, { "bearer": [] }]);
                operation["x-seam-scope"] = json!("read (only when reads are closed)");
            }
            Access::Scoped(scope) => {
                operation["security"] = json!([{ "bearer": [] }]);
                operation["x-seam-scope"] = json!(scope.as_str());
                operation["responses"]["401"] = problem_response("No token, or a token that is not valid");
                operation["responses"]["403"] = problem_response(scope_refusal(scope));
            }
        }
        let entry = paths.entry(path).or_insert_with(|| json!({}));
        entry[method] = operation;
    }
    json!({
        "openapi": "3.1.0",
        "info": {
            "title": "SEAM",
            "version": env!("CARGO_PKG_VERSION"),
            "description": "Semantic Edge-AI Matchmaking: a knowledge graph of devices and ML models, matching, compilation and LwM2M delivery. Errors are RFC 9457 problems. Scopes: read, write, deploy, admin (x-seam-scope on each operation).",
            "license": { "name": "Apache-2.0" },
        },
        "paths": paths,
        "components": {
            "securitySchemes": {
                "bearer": { "type": "http", "scheme": "bearer", "description": "A token from `seam tokens create`, or the one given with --token" },
            },
            "schemas": {
                "Problem": {
                    "type": "object",
                    "description": "RFC 9457 problem details",
                    "properties": {
                        "type": { "type": "string", "format": "uri-reference" },
                        "title": { "type": "string" },
                        "status": { "type": "integer" },
                        "detail": { "type": "string" },
                    },
                    "required": ["type", "title", "status"],
                },
            },
        },
    })
}

fn scope_refusal(scope: Scope) -> String {
    format!("The token does not carry the {scope} scope, or the service has no tokens")
}

fn problem_response(description: impl Into<String>) -> Value {
    json!({
        "description": description.into(),
        "content": { "application/problem+json": { "schema": { "$ref": "#/components/schemas/Problem" } } },
    })
}

/// The OpenAPI form of an actix-web pattern (`/things/{id:.*}` → `/things/{id}`) and its path
/// parameters.
fn openapi_path(pattern: &str) -> (String, Vec<Value>) {
    let mut parameters = Vec::new();
    let mut path = String::new();
    let mut rest = pattern;
    while let Some(open) = rest.find('{') {
        path.push_str(&rest[..open]);
        let Some(close) = rest[open..].find('}') else {
            break;
        };
        let inner = &rest[open + 1..open + close];
        let name = inner.split(':').next().unwrap_or(inner);
        path.push('{');
        path.push_str(name);
        path.push('}');
        parameters.push(json!({
            "name": name,
            "in": "path",
            "required": true,
            "schema": { "type": "string" },
        }));
        rest = &rest[open + close + 1..];
    }
    path.push_str(rest);
    (path, parameters)
}

fn operation_id(method: &str, path: &str) -> String {
    let mut id = method.to_owned();
    for part in path.split(['/', '.', '-', '{', '}']).filter(|p| !p.is_empty()) {
        let mut chars = part.chars();
        if let Some(first) = chars.next() {
            id.extend(first.to_uppercase());
            id.push_str(chars.as_str());
        }
    }
    if path == "/" {
        id.push_str("Root");
    }
    id
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn patterns_become_openapi_paths_with_their_parameters() {
        let (path, params) = openapi_path("/rollouts/{id}/{action}");
        assert_eq!(path, "/rollouts/{id}/{action}");
        assert_eq!(params.len(), 2);
        let (path, params) = openapi_path("/things/{id:.*}");
        assert_eq!(path, "/things/{id}");
        assert_eq!(params[0]["name"], "id");
    }

    #[test]
    fn every_operation_has_a_unique_id() {
        let doc = document();
        let mut ids = std::collections::HashSet::new();
        for (_, item) in doc["paths"].as_object().unwrap() {
            for (_, op) in item.as_object().unwrap() {
                assert!(ids.insert(op["operationId"].as_str().unwrap().to_owned()), "{op}");
            }
        }
        assert_eq!(ids.len(), ENDPOINTS.len());
    }
}
