//! `POST /models`: register a model from its file. The body is the ONNX or TFLite file; what the file does
//! not say comes as query parameters (`task`, `accuracy`, `dataset`, `input-sensor`, repeatable).
//! The compiler bridge measures it, the description is validated and loaded like any file, and
//! the file is kept content-addressed beside the store.

use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};

use super::problem::Problem;
use super::sparql::{authorize, decode_pairs, read_bytes};
use super::AppState;
use crate::ingest::onnx::{describe, model_iri, ModelFacts};

pub(super) async fn add_model(
    req: HttpRequest,
    state: web::Data<AppState>,
    payload: web::Payload,
) -> Result<HttpResponse, Problem> {
    authorize(&req, &state)?;
    let mut facts = ModelFacts::default();
    for (key, value) in decode_pairs(req.query_string())? {
        match key.as_str() {
            "task" => facts.task = Some(value),
            "accuracy" => {
                facts.accuracy = Some(value.parse().map_err(|_| {
                    Problem::new(
                        StatusCode::BAD_REQUEST,
                        "invalid-parameter",
                        "Invalid parameter",
                        format!("accuracy {value:?} is not a number"),
                    )
                })?)
            }
            "dataset" => facts.dataset = Some(value),
            "input-sensor" => facts.input_sensors.push(value),
            other => {
                return Err(Problem::new(
                    StatusCode::BAD_REQUEST,
                    "invalid-parameter",
                    "Unknown parameter",
                    format!("unknown parameter {other:?} (task, accuracy, dataset, input-sensor)"),
                ))
            }
        }
    }
    let body = read_bytes(payload, state.config.max_body_bytes).await?;
    let registry = state.registry.clone();
    let (analysis, stored) = web::block(move || -> Result<_, Problem> {
        let analysis = seam_compiler_bridge::analysis::analyze_bytes(&body, None).map_err(|e| {
            Problem::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "invalid-model",
                "Invalid model",
                e.to_string(),
            )
        })?;
        let doc = describe(
            std::path::Path::new(&format!("upload.{}", analysis.format)),
            &analysis,
            &facts,
        )?;
        registry.load(&[doc])?;
        // Keep the file beside an on-disk store, as `seam load` does.
        let stored = match registry.path() {
            Some(dir) => {
                let models = dir.join("models");
                let target = models.join(format!("{}.{}", analysis.sha256, analysis.format));
                std::fs::create_dir_all(&models)
                    .and_then(|_| std::fs::write(&target, &body))
                    .map_err(Problem::internal)?;
                true
            }
            None => false,
        };
        Ok((analysis, stored))
    })
    .await
    .map_err(Problem::internal)??;
    let iri = model_iri(&analysis.sha256);
    Ok(HttpResponse::Created()
        .insert_header(("Location", iri.clone()))
        .json(serde_json::json!({ "model": iri, "stored": stored, "analysis": analysis })))
}
