//! `POST /models`: register a model from its file. The body is the ONNX or TFLite file; what the file does
//! not say comes as query parameters (`task`, `accuracy`, `dataset`, `input-sensor`, repeatable).
//! The compiler bridge measures it, the description is validated and loaded like any file, and
//! the file is kept content-addressed beside the store.

use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};

use super::problem::Problem;
use super::sparql::{decode_pairs, read_bytes};
use super::AppState;
use crate::ingest::onnx::ModelFacts;
use crate::models::{self, ModelError, ModelFile};

pub(super) async fn add_model(
    req: HttpRequest,
    state: web::Data<AppState>,
    payload: web::Payload,
) -> Result<HttpResponse, Problem> {
    let mut facts = ModelFacts::default();
    // The model's name: `?name=`, else the file name a client sent (`Content-Disposition`), else
    // "upload".
    let mut name = req
        .headers()
        .get(actix_web::http::header::CONTENT_DISPOSITION)
        .and_then(|v| v.to_str().ok())
        .and_then(disposition_file_name);
    for (key, value) in decode_pairs(req.query_string())? {
        match key.as_str() {
            "name" => name = Some(value),
            "task" => facts.task = Some(value),
            "accuracy" => {
                facts.accuracy = Some(
                    value
                        .parse()
                        .map_err(|_| Problem::invalid_parameter(format!("accuracy {value:?} is not a number")))?,
                )
            }
            "dataset" => facts.dataset = Some(value),
            "input-sensor" => facts.input_sensors.push(value),
            other => {
                return Err(Problem::unknown_parameter(format!(
                    "unknown parameter {other:?} (name, task, accuracy, dataset, input-sensor)"
                )))
            }
        }
    }
    let name = model_name(name.as_deref().unwrap_or("upload")).map_err(Problem::invalid_parameter)?;
    let body = read_bytes(payload, state.config.max_body_bytes).await?;
    let registry = state.registry.clone();
    let data = state.data.clone();
    let registered = web::block(move || -> Result<_, Problem> {
        let model = ModelFile::from_bytes(&name, body.to_vec(), &facts).map_err(model_problem)?;
        let registered =
            models::register(&registry, &data, std::slice::from_ref(&model), Vec::new()).map_err(model_problem)?;
        Ok((model.analysis, registered))
    })
    .await
    .map_err(Problem::internal)??;
    let (analysis, registered) = registered;
    let stored = registered.models.iter().any(|(_, kept)| kept.is_some());
    let iri = crate::iri::model(&analysis.sha256).into_string();
    Ok(HttpResponse::Created()
        .insert_header(("Location", iri.clone()))
        .json(serde_json::json!({ "model": iri, "stored": stored, "analysis": analysis })))
}

fn model_problem(e: ModelError) -> Problem {
    match e {
        ModelError::Invalid(e) => Problem::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid-model",
            "Invalid model",
            e.to_string(),
        ),
        ModelError::Ingest(e) => Problem::from(e),
        keep @ ModelError::Keep { .. } => Problem::internal(keep),
    }
}

/// The file name of a `Content-Disposition` value (`attachment; filename="kws.onnx"`), without its
/// extension.
fn disposition_file_name(value: &str) -> Option<String> {
    let file = value
        .split(';')
        .map(str::trim)
        .find_map(|part| part.strip_prefix("filename="))?;
    let file = file.trim_matches('"');
    let stem = std::path::Path::new(file).file_stem()?.to_str()?;
    Some(stem.to_owned())
}

/// A model name as given, refused when it is empty, long, or holds what no name should (path
/// separators, control characters).
fn model_name(name: &str) -> Result<String, String> {
    let name = name.trim();
    let stem = name
        .strip_suffix(".onnx")
        .or_else(|| name.strip_suffix(".tflite"))
        .unwrap_or(name);
    if stem.is_empty() || stem.len() > 200 || stem.chars().any(|c| c.is_control() || c == '/' || c == '\\') {
        return Err(format!(
            "name {name:?} must be 1 to 200 characters without path separators or control characters"
        ));
    }
    Ok(stem.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_come_from_the_parameter_or_the_file_name() {
        assert_eq!(
            disposition_file_name("attachment; filename=\"kws-dscnn.onnx\"").as_deref(),
            Some("kws-dscnn")
        );
        assert_eq!(disposition_file_name("inline").as_deref(), None);
        assert_eq!(model_name("my model.tflite").unwrap(), "my model");
        assert!(model_name("../etc/passwd").is_err());
        assert!(model_name("").is_err());
    }
}
