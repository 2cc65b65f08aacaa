use super::*;

#[test]
fn models_register_from_their_file_and_bad_files_are_problems() {
    let app = spawn_app(with_token());
    let bytes = seam_registry::bridge::onnx_build::to_bytes(&seam_registry::bridge::onnx_build::resnet8(2).model);
    let post = |query: &str, body: Vec<u8>, token: Option<&str>| {
        let mut request = app.client.post(app.url(&format!("/models{query}"))).body(body);
        if let Some(t) = token {
            request = request.bearer_auth(t);
        }
        request.send().unwrap()
    };
    let response = post(
        "?task=image-classification&accuracy=87&input-sensor=camera",
        bytes.clone(),
        Some("s3cret"),
    );
    assert_eq!(response.status().as_u16(), 201);
    let body: Value = response.json().unwrap();
    assert_eq!(body["analysis"]["macs"], 12_501_632);
    let iri = body["model"].as_str().unwrap().to_owned();
    // The model is in the graph, with its measured facts.
    let answer: Value = app
        .client
        .get(app.url("/sparql"))
        .query(&[(
            "query",
            format!("SELECT (COUNT(*) AS ?n) WHERE {{ <{iri}> seam:macs 12501632 ; seam:method seam:Measured }}"),
        )])
        .send()
        .unwrap()
        .json()
        .unwrap();
    assert_eq!(count_json(&answer), 1);

    // A TFLite file registers the same way.
    let tflite = std::fs::read(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../shared/interop/seloc-ml/models/Hello_World.tflite"),
    )
    .unwrap();
    let response = post(
        "?task=anomaly-detection&name=Hello_World.tflite",
        tflite,
        Some("s3cret"),
    );
    assert_eq!(response.status().as_u16(), 201);
    let body: Value = response.json().unwrap();
    assert_eq!(body["analysis"]["format"], "tflite");
    assert_eq!(body["analysis"]["macs"], 288);
    // It is named as the client said, not "upload".
    let named: Value = app
        .client
        .get(app.url("/sparql"))
        .query(&[(
            "query",
            format!(
                "SELECT ?name WHERE {{ <{}> schema:name ?name }}",
                body["model"].as_str().unwrap()
            ),
        )])
        .send()
        .unwrap()
        .json()
        .unwrap();
    assert_eq!(named["results"]["bindings"][0]["name"]["value"], "Hello_World");

    // Refusals are problems: no token, not a model, no task, an unknown parameter.
    assert_eq!(
        post("?task=image-classification", bytes.clone(), None)
            .status()
            .as_u16(),
        401
    );
    for (query, body, status) in [
        ("?task=image-classification", b"garbage".to_vec(), 422),
        // A model not yet in the graph needs its task (the same file again would already have one).
        (
            "",
            seam_registry::bridge::onnx_build::to_bytes(&seam_registry::bridge::onnx_build::fc_autoencoder(2).model),
            400,
        ),
        ("?task=image-classification&colour=blue", bytes.clone(), 400),
        ("?task=image-classification&accuracy=high", bytes.clone(), 400),
        ("?task=image-classification&name=../../x", bytes, 400),
    ] {
        let response = post(query, body, Some("s3cret"));
        assert_eq!(response.status().as_u16(), status, "{query}");
        assert_eq!(
            response.headers()["content-type"],
            "application/problem+json",
            "{query}"
        );
    }
}

/// The remote backend against a real service: the same trait, the artifact validated and signed
/// locally, refusals as problems.
#[test]
fn the_remote_backend_compiles_through_the_service() {
    use seam_registry::bridge::backend::Backend as _;
    use seam_registry::bridge::compile::{compile, Request};
    use seam_registry::bridge::package::{self, Signer};
    use seam_registry::bridge::remote::RemoteBackend;

    let app = spawn_app(with_token());
    let base = app.url("");
    let model = seam_registry::bridge::onnx_build::to_bytes(&seam_registry::bridge::onnx_build::ds_cnn(4).model);
    let remote = RemoteBackend::new(
        "farm-nnef",
        &base,
        "tract-nnef",
        Some("s3cret".into()),
        Duration::from_secs(60),
    );
    assert!(remote.version().starts_with("tract-nnef@"), "{}", remote.version());
    assert!(remote.list().unwrap().iter().any(|b| b.name == "tflite-micro"));

    let dir = tempfile::tempdir().unwrap();
    let signer = Signer::open_or_create(&dir.path().join("key")).unwrap();
    let request = Request::new(&model, "https://w3id.org/seam/model/x", "kws");
    let compiled = compile(&request, &remote, &signer, None).unwrap();
    assert_eq!(compiled.files[0].name, "kws.nnef.tar");
    // The NNEF archive made remotely ran in tract here against the original.
    let validation = compiled.manifest.validation.as_ref().unwrap();
    assert!(
        validation.top1_agreement >= 0.95 && validation.relative_error < 0.01,
        "{validation:?}"
    );
    assert_eq!(compiled.manifest.backend.name, "farm-nnef");
    package::verify(&compiled.package, Some(&signer.public_key_hex())).unwrap();

    // Refusals: no token, an unknown backend, a file that is not a model, an unknown parameter.
    let post = |query: &str, body: Vec<u8>, token: Option<&str>| {
        let mut r = app.client.post(app.url(&format!("/compile{query}"))).body(body);
        if let Some(t) = token {
            r = r.bearer_auth(t);
        }
        r.send().unwrap()
    };
    assert_eq!(post("?backend=c-array", model.clone(), None).status().as_u16(), 401);
    problem(
        post("?backend=tvm", model.clone(), Some("s3cret")),
        StatusCode::NOT_FOUND,
    );
    problem(
        post("?backend=c-array", b"garbage".to_vec(), Some("s3cret")),
        StatusCode::UNPROCESSABLE_ENTITY,
    );
    problem(
        post("?backend=c-array&colour=1", model.clone(), Some("s3cret")),
        StatusCode::BAD_REQUEST,
    );
    problem(post("", model.clone(), Some("s3cret")), StatusCode::BAD_REQUEST);
    // The remote backend reports the service's problem in its error.
    let unknown = RemoteBackend::new("x", &base, "tvm", Some("s3cret".into()), Duration::from_secs(10));
    let job = seam_registry::bridge::backend::Job {
        model: &model,
        stem: "kws",
        target: None,
    };
    let err = unknown.compile(&job).unwrap_err().to_string();
    assert!(err.contains("offers no backend \"tvm\""), "{err}");
    let unauthorised = RemoteBackend::new("y", &base, "c-array", None, Duration::from_secs(10));
    let err = unauthorised.compile(&job).unwrap_err().to_string();
    assert!(err.contains("401"), "{err}");
}

/// `POST /compilations`: the whole compile by the service, and every refusal as a problem.
#[test]
fn compilations_plan_compile_sign_and_refuse_with_problems() {
    let app = spawn_app(with_token());
    let model = seam_registry::bridge::onnx_build::to_bytes(&seam_registry::bridge::onnx_build::ds_cnn(2).model);
    let post = |query: &str, body: Vec<u8>| {
        app.client
            .post(app.url(&format!("/compilations{query}")))
            .bearer_auth("s3cret")
            .body(body)
            .send()
            .unwrap()
    };
    let response = post("?target=edge-gateway-01&stem=kws", model.clone());
    assert_eq!(response.status().as_u16(), 201);
    let body: Value = response.json().unwrap();
    assert_eq!(body["backend"], "tract-nnef", "{body}");
    assert_eq!(body["fit"]["fits"], true, "{body}");
    use base64::Engine as _;
    let package = base64::engine::general_purpose::STANDARD
        .decode(body["package"].as_str().unwrap())
        .unwrap();
    let opened = seam_registry::bridge::package::verify(&package, None).unwrap();
    assert_eq!(opened.files[0].name, "kws.nnef.tar");

    // A compile whose result does not fit its target is refused like `seam compile --target`
    // exits 4: a 409 with the whole report, the figures that do not fit among it.
    let big = seam_registry::bridge::onnx_build::to_bytes(&seam_registry::bridge::onnx_build::resnet8(2).model);
    let answer = problem(post("?target=line3-vibration-01&stem=ic", big), StatusCode::CONFLICT);
    assert_eq!(
        answer["type"], "https://w3id.org/seam/problems/does-not-fit",
        "{answer}"
    );
    assert_eq!(answer["report"]["fit"]["fits"], false, "{answer}");
    assert!(
        answer["report"]["fit"]["ramNeededBytes"].as_u64() > answer["report"]["fit"]["ramFreeBytes"].as_u64(),
        "{answer}"
    );
    assert!(answer["report"]["package"].is_string(), "{answer}");
    assert!(
        answer["report"]["packageUri"].is_null(),
        "a package that does not fit is not shelved"
    );

    for (query, body, status) in [
        ("?backend=c-array&prune=lots", model.clone(), StatusCode::BAD_REQUEST),
        ("?backend=c-array&colour=red", model.clone(), StatusCode::BAD_REQUEST),
        ("?backend=c-array&quantize=int4", model.clone(), StatusCode::BAD_REQUEST),
        ("", model.clone(), StatusCode::BAD_REQUEST),
        ("?backend=tvm", model.clone(), StatusCode::BAD_REQUEST),
        (
            "?backend=c-array",
            b"garbage".to_vec(),
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        ("?target=nobody", model.clone(), StatusCode::NOT_FOUND),
        (
            "?backend=c-array&prune=0.99",
            model.clone(),
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
    ] {
        let answer = problem(post(query, body), status);
        assert!(!answer["detail"].as_str().unwrap().is_empty(), "{query}");
    }
    assert_eq!(
        app.client
            .post(app.url("/compilations?backend=c-array"))
            .body(model)
            .send()
            .unwrap()
            .status()
            .as_u16(),
        401
    );
}
