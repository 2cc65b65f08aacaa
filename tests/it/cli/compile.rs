use super::*;

#[test]
fn compile_produces_a_validated_int8_onnx_and_a_c_array_that_gcc_compiles() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("store");
    let data_s = data.to_str().unwrap();
    let model = dir.path().join("ds-cnn.onnx");
    let reference = seam_registry::bridge::onnx_build::ds_cnn(8);
    std::fs::write(&model, seam_registry::bridge::onnx_build::to_bytes(&reference.model)).unwrap();
    let model_s = model.to_str().unwrap();

    let listed = seam(&["compile", "--list-backends"]);
    for name in ["onnx-int8", "c-array", "tract-nnef", "tflite-micro"] {
        assert!(stdout(&listed).contains(name), "{}", stdout(&listed));
    }

    let out_int8 = dir.path().join("int8");
    let out = seam(&[
        "compile",
        model_s,
        "--backend",
        "onnx-int8",
        "--out",
        out_int8.to_str().unwrap(),
        "--data",
        data_s,
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let manifest: Value =
        serde_json::from_str(&std::fs::read_to_string(out_int8.join("manifest.json")).unwrap()).unwrap();
    assert_eq!(manifest["backend"]["options"]["quantize"], "int8");
    assert!(
        manifest["validation"]["top1Agreement"].as_f64().unwrap() >= 0.95,
        "{manifest}"
    );
    // The artifact is an ONNX model SEAM (tract) analyses, smaller than the original.
    let analysed = seam(&["analyze", out_int8.join("ds-cnn.onnx").to_str().unwrap(), "--json"]);
    assert!(analysed.status.success(), "{}", stderr(&analysed));
    assert!(
        std::fs::metadata(out_int8.join("ds-cnn.onnx")).unwrap().len() * 3 < std::fs::metadata(&model).unwrap().len()
    );

    let out_c = dir.path().join("c");
    let out = seam(&[
        "compile",
        model_s,
        "--backend",
        "c-array",
        "--quantize",
        "int8",
        "--out",
        out_c.to_str().unwrap(),
        "--data",
        data_s,
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let header = std::fs::read_to_string(out_c.join("ds_cnn_model.h")).unwrap();
    assert!(header.contains("#define DS_CNN_ARENA_SIZE"), "{header}");
    let object = dir.path().join("model.o");
    let gcc = Command::new("gcc")
        .args(["-std=c11", "-Wall", "-Werror", "-c", "-o", object.to_str().unwrap()])
        .arg(out_c.join("ds_cnn_model.c"))
        .output()
        .unwrap();
    assert!(gcc.status.success(), "{}", String::from_utf8_lossy(&gcc.stderr));

    // Pruning: within the thresholds it ships (and is an option of the manifest); past them it is
    // refused with the figures, and nothing is written.
    let pruned = dir.path().join("pruned");
    let out = seam(&[
        "compile",
        model_s,
        "--backend",
        "onnx-int8",
        "--prune",
        "0.2",
        "--max-relative-error",
        "0.5",
        "--data",
        data_s,
        "--out",
        pruned.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let manifest: Value =
        serde_json::from_str(&std::fs::read_to_string(pruned.join("manifest.json")).unwrap()).unwrap();
    assert_eq!(manifest["backend"]["options"]["prune"], "0.2");
    let over = dir.path().join("over");
    let out = seam(&[
        "compile",
        model_s,
        "--backend",
        "tract-nnef",
        "--prune",
        "0.95",
        "--data",
        data_s,
        "--out",
        over.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("validation failed: relative error"),
        "{}",
        stderr(&out)
    );
    assert!(!over.exists());

    // Unknown backends, no backend at all, and garbage models are invalid input.
    assert_eq!(
        seam(&["compile", model_s, "--backend", "tvm-magic", "--data", data_s])
            .status
            .code(),
        Some(3)
    );
    assert_eq!(seam(&["compile", model_s, "--data", data_s]).status.code(), Some(3));
    let garbage = dir.path().join("garbage.onnx");
    std::fs::write(&garbage, b"nope").unwrap();
    assert_eq!(
        seam(&[
            "compile",
            garbage.to_str().unwrap(),
            "--backend",
            "c-array",
            "--data",
            data_s
        ])
        .status
        .code(),
        Some(3)
    );
}

#[test]
fn compile_for_a_target_takes_the_backend_from_the_graph_signs_caches_and_records_provenance() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("store");
    let data_s = data.to_str().unwrap();
    let model = dir.path().join("ds-cnn.onnx");
    let reference = seam_registry::bridge::onnx_build::ds_cnn(3);
    std::fs::write(&model, seam_registry::bridge::onnx_build::to_bytes(&reference.model)).unwrap();
    let model_s = model.to_str().unwrap();
    let out_dir = dir.path().join("out");
    let out_s = out_dir.to_str().unwrap();

    // The Raspberry Pi gateway runs tract: the graph says tract-nnef.
    let first = seam(&[
        "compile",
        model_s,
        "--target",
        "edge-gateway-01",
        "--data",
        data_s,
        "--out",
        out_s,
        "--json",
    ]);
    assert!(first.status.success(), "{}", stderr(&first));
    let report: Value = serde_json::from_str(&stdout(&first)).unwrap();
    assert_eq!(report["manifest"]["backend"]["name"], "tract-nnef", "{report}");
    assert_eq!(report["cacheHit"], false);
    assert_eq!(report["fit"]["fits"], true, "{report}");
    assert!(report["fit"]["ramFreeBytes"].as_u64().unwrap() > report["fit"]["ramNeededBytes"].as_u64().unwrap());
    // What ships was validated: the NNEF archive itself ran in tract against the original.
    assert!(report["manifest"]["validation"]["top1Agreement"].as_f64().unwrap() >= 0.95);
    let package = std::fs::read(out_dir.join("ds-cnn.seampkg")).unwrap();
    let sha = report["sha256"].as_str().unwrap().to_owned();
    assert_eq!(seam_registry::bridge::analysis::sha256_hex(&package), sha);

    // Signed with this installation's key, which the graph publishes.
    let key = report["manifest"]["signer"]["publicKey"].as_str().unwrap().to_owned();
    let opened = seam_registry::bridge::package::verify(&package, Some(&key)).unwrap();
    assert_eq!(opened.files[0].name, "ds-cnn.nnef.tar");
    let published = cli_count(&[
        "query",
        &format!("SELECT (COUNT(*) AS ?n) WHERE {{ ?k a seam:SigningKey ; seam:publicKey \"{key}\" }}"),
        "--data",
        data_s,
        "--format",
        "json",
    ]);
    assert_eq!(published, 1);
    // Provenance: artifact ← compilation (backend, options) ← model.
    let provenance = cli_count(&[
        "query",
        &format!(
            "PREFIX prov: <http://www.w3.org/ns/prov#>
             SELECT (COUNT(*) AS ?n) WHERE {{
               <https://w3id.org/seam/artifact/{sha}> a seam:Artifact ; prov:wasGeneratedBy ?c ;
                   prov:wasDerivedFrom ?m ; seam:signedWith ?k ; seam:target ?d .
               ?c a seam:Compilation ; prov:used ?m ; prov:wasAssociatedWith ?b ; seam:options ?o ;
                  prov:startedAtTime ?t0 ; prov:endedAtTime ?t1 .
               ?b a prov:SoftwareAgent .
               ?d seam:shortName \"edge-gateway-01\" .
               FILTER(STRENDS(STR(?m), \"{}\")) }}",
            seam_registry::bridge::analysis::sha256_hex(&std::fs::read(&model).unwrap())
        ),
        "--data",
        data_s,
        "--format",
        "json",
    ]);
    assert_eq!(provenance, 1);

    // The same compilation again is a cache hit with the same bytes.
    let second = seam(&[
        "compile",
        model_s,
        "--target",
        "edge-gateway-01",
        "--data",
        data_s,
        "--out",
        out_s,
        "--json",
    ]);
    assert!(second.status.success(), "{}", stderr(&second));
    let again: Value = serde_json::from_str(&stdout(&second)).unwrap();
    assert_eq!(again["cacheHit"], true);
    assert_eq!(again["sha256"], sha);
    // Other options are another compilation.
    let third = seam(&[
        "compile",
        model_s,
        "--target",
        "edge-gateway-01",
        "--data",
        data_s,
        "--out",
        out_s,
        "--json",
        "--quantize",
        "int8",
    ]);
    let other: Value = serde_json::from_str(&stdout(&third)).unwrap();
    assert_eq!(other["cacheHit"], false);
    assert_ne!(other["sha256"], sha);

    // A microcontroller running TFLM gets a TFLite flatbuffer and its C array, validated in tract.
    let mcu = seam(&[
        "compile",
        model_s,
        "--target",
        "line3-acoustic-02",
        "--data",
        data_s,
        "--out",
        out_s,
    ]);
    assert!(mcu.status.success(), "{}", stderr(&mcu));
    assert!(stdout(&mcu).contains("backend tflite-micro"), "{}", stdout(&mcu));
    assert!(stdout(&mcu).contains("fits: RAM"), "{}", stdout(&mcu));
    let tflite = seam(&["analyze", "--json", out_dir.join("ds-cnn.tflite").to_str().unwrap()]);
    let tflite: Value = serde_json::from_str(&stdout(&tflite)).unwrap();
    assert_eq!(tflite["macs"], 2_656_768, "{tflite}");

    // Quantised weights are not enough for MobileNet on the STM32L475: the graph's int8
    // estimate let it through, the compiled package's own figures do not fit, and exit 4 says so.
    let big = dir.path().join("mobilenet.onnx");
    let mobilenet = seam_registry::bridge::onnx_build::mobilenet_v1_025(1);
    std::fs::write(&big, seam_registry::bridge::onnx_build::to_bytes(&mobilenet.model)).unwrap();
    let big_s = big.to_str().unwrap();
    let too_big = seam(&[
        "compile",
        big_s,
        "--target",
        "line3-vibration-01",
        "--data",
        data_s,
        "--out",
        out_s,
    ]);
    assert_eq!(too_big.status.code(), Some(4), "{}", stderr(&too_big));
    assert!(stdout(&too_big).contains("does not fit: RAM"), "{}", stdout(&too_big));

    // A runtime that declares no backend, a device far too small, an unknown device.
    let extra = write(
        dir.path(),
        "extra.ttl",
        r#"@prefix seam: <https://w3id.org/seam/ontology#> .
@prefix cat:  <https://w3id.org/seam/catalog/> .
@prefix dev:  <https://w3id.org/seam/device/> .
@prefix rdfs: <http://www.w3.org/2000/01/rdf-schema#> .
cat:test-npu-isa a seam:InstructionSet ; rdfs:label "test NPU ISA" .
cat:test-npu-board a seam:Board ; rdfs:label "NPU test board" ; rdfs:comment "Its only runtime declares no backend." ;
    seam:core "test NPU" ; seam:isa cat:test-npu-isa ; seam:clockHz 100000000 ;
    seam:ramBytes 4194304 ; seam:flashBytes 16777216 ; seam:reservedRamBytes 0 ; seam:reservedFlashBytes 0 ;
    seam:throughput [ seam:dtype seam:float32 ; seam:macsPerCycle 1.0 ] .
cat:test-npu-runtime a seam:Runtime ; rdfs:label "NPU runtime" ; seam:version "1.0" ;
    seam:targetsIsa cat:test-npu-isa ; seam:supportsDtype seam:float32 ; seam:ramOverheadBytes 0 ; seam:flashOverheadBytes 0 ;
    seam:supportsOperator "Conv", "Relu", "Gemm", "Softmax", "Reshape", "Flatten", "AveragePool", "GlobalAveragePool", "Add", "MatMul", "Clip", "Pad" .
dev:npu-01 a seam:Device ; rdfs:label "NPU test device" ; seam:shortName "npu-01" ; seam:board cat:test-npu-board .
cat:test-tiny-board a seam:Board ; rdfs:label "Tiny test board" ; rdfs:comment "16 KiB of RAM." ;
    seam:core "Cortex-M0+" ; seam:isa cat:armv6m ; seam:clockHz 48000000 ;
    seam:ramBytes 16384 ; seam:flashBytes 131072 ; seam:reservedRamBytes 4096 ; seam:reservedFlashBytes 32768 ;
    seam:throughput [ seam:dtype seam:int8 ; seam:macsPerCycle 0.25 ] .
dev:tiny-01 a seam:Device ; rdfs:label "Tiny test device" ; seam:shortName "tiny-01" ; seam:board cat:test-tiny-board .
"#,
    );
    let loaded = seam(&["load", &extra, "--data", data_s]);
    assert!(loaded.status.success(), "{}", stderr(&loaded));
    let npu = seam(&[
        "compile", model_s, "--target", "npu-01", "--data", data_s, "--out", out_s,
    ]);
    assert_eq!(npu.status.code(), Some(3), "{}", stderr(&npu));
    assert!(
        stderr(&npu).contains("declares no seam:compilerBackend"),
        "{}",
        stderr(&npu)
    );
    // Naming the backend is enough.
    let named = seam(&[
        "compile",
        model_s,
        "--target",
        "npu-01",
        "--backend",
        "onnx-int8",
        "--data",
        data_s,
        "--out",
        out_s,
    ]);
    assert!(named.status.success(), "{}", stderr(&named));
    let tiny = seam(&[
        "compile", big_s, "--target", "tiny-01", "--data", data_s, "--out", out_s,
    ]);
    assert_eq!(tiny.status.code(), Some(4), "{}", stderr(&tiny));
    assert!(stderr(&tiny).contains("does not run on tiny-01"), "{}", stderr(&tiny));
    assert!(stderr(&tiny).contains("bytes of RAM"), "{}", stderr(&tiny));
    let unknown = seam(&["compile", model_s, "--target", "no-such-device", "--data", data_s]);
    assert_eq!(unknown.status.code(), Some(3));
}

#[test]
fn deploy_refuses_a_tampered_package_before_sending_it() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("store");
    let model = dir.path().join("ae.onnx");
    std::fs::write(
        &model,
        seam_registry::bridge::onnx_build::to_bytes(&seam_registry::bridge::onnx_build::fc_autoencoder(2).model),
    )
    .unwrap();
    let out_dir = dir.path().join("out");
    let out = seam(&[
        "compile",
        model.to_str().unwrap(),
        "--backend",
        "onnx-int8",
        "--data",
        data.to_str().unwrap(),
        "--out",
        out_dir.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let package = out_dir.join("ae.seampkg");
    let mut bytes = std::fs::read(&package).unwrap();
    let middle = bytes.len() / 2; // inside the model file, past the manifest
    bytes[middle] ^= 0x55;
    std::fs::write(&package, bytes).unwrap();
    // No server is needed: the package is refused before any connection.
    let out = seam(&[
        "deploy",
        package.to_str().unwrap(),
        "--to",
        "somebody",
        "--endpoint",
        "http://127.0.0.1:9",
    ]);
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    assert!(stderr(&out).contains("package:"), "{}", stderr(&out));
}

/// `seam compile --endpoint`: a running service plans from its graph, signs with its own key,
/// records the provenance and shelves the package for LwM2M; the CLI checks the package it gets.
#[test]
fn compile_through_a_running_service() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("store");
    let tiny = write(
        dir.path(),
        "tiny.ttl",
        r#"@prefix seam: <https://w3id.org/seam/ontology#> .
@prefix cat:  <https://w3id.org/seam/catalog/> .
@prefix dev:  <https://w3id.org/seam/device/> .
@prefix rdfs: <http://www.w3.org/2000/01/rdf-schema#> .
cat:test-tiny-board a seam:Board ; rdfs:label "Tiny test board" ; rdfs:comment "16 KiB of RAM." ;
    seam:core "Cortex-M0+" ; seam:isa cat:armv6m ; seam:clockHz 48000000 ;
    seam:ramBytes 16384 ; seam:flashBytes 131072 ; seam:reservedRamBytes 4096 ; seam:reservedFlashBytes 32768 ;
    seam:throughput [ seam:dtype seam:int8 ; seam:macsPerCycle 0.25 ] .
dev:tiny-01 a seam:Device ; rdfs:label "Tiny test device" ; seam:shortName "tiny-01" ; seam:board cat:test-tiny-board .
"#,
    );
    let loaded = seam(&["load", &tiny, "--data", data.to_str().unwrap()]);
    assert!(loaded.status.success(), "{}", stderr(&loaded));
    let server = Server::start(&data, &["--token", "t0ken"]);
    let model = dir.path().join("kws.onnx");
    std::fs::write(
        &model,
        seam_registry::bridge::onnx_build::to_bytes(&seam_registry::bridge::onnx_build::ds_cnn(7).model),
    )
    .unwrap();
    let out_dir = dir.path().join("out");
    let compile = |extra: &[&str]| {
        let mut args = vec![
            "compile",
            model.to_str().unwrap(),
            "--endpoint",
            server.base.as_str(),
            "--out",
            out_dir.to_str().unwrap(),
        ];
        args.extend_from_slice(extra);
        seam(&args)
    };
    let out = compile(&["--target", "edge-gateway-01", "--token", "t0ken", "--json"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let report: Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(report["backend"], "tract-nnef", "{report}");
    assert_eq!(report["fit"]["fits"], true, "{report}");
    let sha = report["sha256"].as_str().unwrap().to_owned();
    assert!(
        report["packageUri"].as_str().unwrap().ends_with(&format!("/pkg/{sha}")),
        "{report}"
    );
    // The package is the service's, signed with the key its graph publishes.
    let package = std::fs::read(out_dir.join("kws.seampkg")).unwrap();
    assert_eq!(seam_registry::bridge::analysis::sha256_hex(&package), sha);
    let key = report["manifest"]["signer"]["publicKey"].as_str().unwrap().to_owned();
    let rows = server.select(&format!(
        "PREFIX seam: <https://w3id.org/seam/ontology#>
         SELECT ?k WHERE {{ <https://w3id.org/seam/artifact/{sha}> seam:signedWith ?k . ?k seam:publicKey \"{key}\" }}"
    ));
    assert_eq!(rows.len(), 1, "{rows:?}");
    assert!(out_dir.join("kws.nnef.tar").exists() && out_dir.join("manifest.json").exists());
    // Human output, from the same report.
    let again = compile(&["--target", "edge-gateway-01", "--token", "t0ken"]);
    assert!(again.status.success(), "{}", stderr(&again));
    assert!(stdout(&again).contains("cached"), "{}", stdout(&again));
    assert!(stdout(&again).contains("fits: RAM"), "{}", stdout(&again));

    // Refusals: no token, an unknown device, a model that cannot run on the device.
    let no_token = compile(&["--target", "edge-gateway-01"]);
    assert_eq!(no_token.status.code(), Some(3), "{}", stderr(&no_token));
    assert!(stderr(&no_token).contains("401"), "{}", stderr(&no_token));
    let unknown = compile(&["--target", "nobody", "--token", "t0ken"]);
    assert_eq!(unknown.status.code(), Some(3), "{}", stderr(&unknown));
    assert!(stderr(&unknown).contains("no device"), "{}", stderr(&unknown));
    let big = dir.path().join("mobilenet.onnx");
    std::fs::write(
        &big,
        seam_registry::bridge::onnx_build::to_bytes(&seam_registry::bridge::onnx_build::mobilenet_v1_025(2).model),
    )
    .unwrap();
    let remote = |target: &str| {
        seam(&[
            "compile",
            big.to_str().unwrap(),
            "--endpoint",
            server.base.as_str(),
            "--target",
            target,
            "--token",
            "t0ken",
            "--out",
            out_dir.to_str().unwrap(),
        ])
    };
    // Cannot run there at all (the service answers 409 with every reason) ...
    let tiny = remote("tiny-01");
    assert_eq!(tiny.status.code(), Some(4), "{}", stderr(&tiny));
    assert!(stderr(&tiny).contains("does not run on tiny-01"), "{}", stderr(&tiny));
    // ... or built, and too big once built.
    let hvac = remote("hvac-monitor-07");
    assert_eq!(hvac.status.code(), Some(4), "{}", stderr(&hvac));
    assert!(stdout(&hvac).contains("does not fit: RAM"), "{}", stdout(&hvac));
}
