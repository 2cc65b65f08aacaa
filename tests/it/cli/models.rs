use super::*;

#[test]
fn analyze_measures_an_onnx_model_and_refuses_what_is_not_one() {
    let dir = tempfile::tempdir().unwrap();
    let model = dir.path().join("resnet8.onnx");
    let reference = seam_registry::bridge::onnx_build::resnet8(11);
    std::fs::write(&model, seam_registry::bridge::onnx_build::to_bytes(&reference.model)).unwrap();

    let out = seam(&["analyze", model.to_str().unwrap(), "--json"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let report: Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(report["format"], "onnx");
    assert_eq!(report["params"], reference.params);
    assert_eq!(report["macs"], 12_501_632);
    assert_eq!(report["inputs"][0]["shape"], serde_json::json!([1, 3, 32, 32]));
    assert_eq!(report["operators"]["Conv"], 9);
    let estimates = report["estimates"].as_array().unwrap();
    assert_eq!(estimates.len(), 4, "one per catalog runtime");
    let tflm = estimates
        .iter()
        .find(|e| e["runtime"].as_str().unwrap().ends_with("tflite-micro-cmsis-nn"))
        .unwrap();
    assert!(tflm["ramBytes"].as_u64().unwrap() > report["arenaBytes"].as_u64().unwrap() / 4);

    let human = seam(&["analyze", model.to_str().unwrap()]);
    assert!(human.status.success());
    assert!(stdout(&human).contains("MACs        12501632"), "{}", stdout(&human));

    let garbage = dir.path().join("garbage.onnx");
    std::fs::write(&garbage, b"\x08\x07 this is not protobuf at all \xff\xff").unwrap();
    let out = seam(&["analyze", garbage.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    assert!(stderr(&out).contains("not an ONNX model"), "{}", stderr(&out));

    let tflite = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/interop/seloc-ml/models/Hello_World.tflite");
    let out = seam(&["analyze", "--json", tflite.to_str().unwrap()]);
    assert!(out.status.success(), "{}", stderr(&out));
    let json: serde_json::Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(json["format"], "tflite");
    assert_eq!(json["macs"], 288);
    assert_eq!(json["params"], 321);
    assert_eq!(json["inputs"][0]["shape"], serde_json::json!([1, 1]));
    // A TFLite file cut short keeps its magic and fails the flatbuffer verifier.
    let bytes = std::fs::read(&tflite).unwrap();
    let cut = dir.path().join("cut.tflite");
    std::fs::write(&cut, &bytes[..bytes.len() / 3]).unwrap();
    let out = seam(&["analyze", cut.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("not a valid TFLite flatbuffer"),
        "{}",
        stderr(&out)
    );
    let out = seam(&["analyze", dir.path().join("absent.onnx").to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(3));
}

#[test]
fn load_registers_an_onnx_model_from_its_measurements() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("store");
    let model = dir.path().join("ad-autoencoder.onnx");
    let reference = seam_registry::bridge::onnx_build::fc_autoencoder(5);
    std::fs::write(&model, seam_registry::bridge::onnx_build::to_bytes(&reference.model)).unwrap();
    let (data_s, model_s) = (data.to_str().unwrap(), model.to_str().unwrap());

    // The task is required by the shapes: without it nothing is written.
    let out = seam(&["load", model_s, "--data", data_s]);
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    assert!(stderr(&out).contains("seam:task"), "{}", stderr(&out));
    assert!(!data.join("models").exists());

    let out = seam(&[
        "load",
        model_s,
        "--data",
        data_s,
        "--task",
        "anomaly-detection",
        "--accuracy",
        "85",
        "--dataset",
        "https://zenodo.org/record/3678171",
        "--input-sensor",
        "microphone",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let digest = seam_registry::bridge::analysis::sha256_hex(&std::fs::read(&model).unwrap());
    assert!(data.join("models").join(format!("{digest}.onnx")).exists());

    let out = seam(&[
        "query",
        "--data",
        data_s,
        "--format",
        "csv",
        "SELECT ?params ?macs ?task ?acc ?kind WHERE { ?m seam:sha256 ?s ; seam:params ?params ; seam:macs ?macs ;
           seam:task ?task ; seam:method seam:Measured ; seam:accuracy/seam:value ?acc ;
           seam:requiresSensor/seam:sensorKind ?kind }",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let csv = stdout(&out);
    let row = csv.lines().nth(1).unwrap();
    assert_eq!(
        row,
        format!(
            "{},264192,https://w3id.org/seam/catalog/anomaly-detection,0.85,https://w3id.org/seam/ontology#microphone",
            reference.params
        )
    );
    // Loading the same file again is the same model (content-addressed), not a second one.
    let out = seam(&["load", model_s, "--data", data_s, "--task", "anomaly-detection"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let out = seam(&[
        "query",
        "--data",
        data_s,
        "--format",
        "csv",
        "SELECT (COUNT(DISTINCT ?m) AS ?n) WHERE { ?m seam:method seam:Measured ; a seam:Model }",
    ]);
    assert_eq!(stdout(&out).lines().nth(1), Some("1"));
}

#[test]
fn a_tflite_model_is_registered_from_its_file_and_matched() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("store");
    let data_s = data.to_str().unwrap();
    let tflite =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/interop/seloc-ml/models/Micro_Speech_Yes_No_1.tflite");
    let out = seam(&[
        "load",
        tflite.to_str().unwrap(),
        "--task",
        "keyword-spotting",
        "--input-sensor",
        "microphone",
        "--data",
        data_s,
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let sha = seam_registry::bridge::analysis::sha256_hex(&std::fs::read(&tflite).unwrap());
    assert!(data.join("models").join(format!("{sha}.tflite")).exists());
    // Its operators are recorded by their ONNX names, as runtimes list them; its flash is the file.
    let n = cli_count(&[
        "query",
        &format!(
            "SELECT (COUNT(*) AS ?n) WHERE {{ <https://w3id.org/seam/model/{sha}> seam:requiresOperator \"Conv\" ;
               seam:requiresOperator \"Gemm\" ; seam:dtype seam:int8 ; seam:weightBytes 18712 ; seam:macs 336000 }}"
        ),
        "--data",
        data_s,
        "--format",
        "json",
    ]);
    assert_eq!(n, 1);
    let matched = seam(&["match", "line3-acoustic-02", "--data", data_s, "--json"]);
    assert!(stdout(&matched).contains(&sha), "{}", stdout(&matched));

    // Compiled for a TFLM device, the third-party flatbuffer ships as it is, embedded for firmware.
    let out_dir = dir.path().join("out");
    let out = seam(&[
        "compile",
        tflite.to_str().unwrap(),
        "--target",
        "line3-acoustic-02",
        "--data",
        data_s,
        "--out",
        out_dir.to_str().unwrap(),
        "--json",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let report: Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(report["manifest"]["backend"]["name"], "tflite-micro");
    assert_eq!(report["fit"]["fits"], true, "{report}");
    assert_eq!(
        std::fs::read(out_dir.join("Micro_Speech_Yes_No_1.tflite")).unwrap(),
        std::fs::read(&tflite).unwrap()
    );
    let gcc = Command::new("gcc")
        .args(["-std=c11", "-Wall", "-Werror", "-c", "-o"])
        .arg(dir.path().join("m.o"))
        .arg(out_dir.join("micro_speech_yes_no_1_model.c"))
        .output()
        .unwrap();
    assert!(gcc.status.success(), "{}", String::from_utf8_lossy(&gcc.stderr));
    // Backends that need an ONNX graph, and transforms, refuse it with the reason.
    for extra in [
        &["--backend", "tract-nnef"][..],
        &["--backend", "c-array", "--quantize", "int8"][..],
    ] {
        let mut args = vec![
            "compile",
            tflite.to_str().unwrap(),
            "--data",
            data_s,
            "--out",
            out_dir.to_str().unwrap(),
        ];
        args.extend_from_slice(extra);
        let out = seam(&args);
        assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
        assert!(stderr(&out).contains("TFLite model"), "{}", stderr(&out));
    }
}
