//! Signed packages: what verifies, and every way a package can be damaged or forged.

use seam_compiler_bridge::backend::ArtifactFile;
use seam_compiler_bridge::backends::Backends;
use seam_compiler_bridge::compile::{compile, Request};
use seam_compiler_bridge::onnx_build::{ds_cnn, to_bytes};
use seam_compiler_bridge::package::{self, Cache, Signer};

fn request(model: &[u8]) -> Request<'_> {
    Request::new(model, "https://w3id.org/seam/model/test", "kws")
}

fn package_error(result: Result<package::Package, package::PackageError>) -> String {
    match result {
        Err(package::PackageError(message)) => message,
        other => panic!("expected a package error, got {:?}", other.map(|p| p.manifest)),
    }
}

#[test]
fn the_key_is_made_once_kept_private_and_reused() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("keys/signing.ed25519");
    let first = Signer::open_or_create(&path).unwrap();
    let again = Signer::open_or_create(&path).unwrap();
    assert_eq!(first.public_key_hex(), again.public_key_hex());
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        assert_eq!(std::fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o600);
    }
    // The secret never shows in debug output.
    let seed = std::fs::read_to_string(&path).unwrap();
    assert!(!format!("{first:?}").contains(seed.trim()));
    std::fs::write(&path, "not a key").unwrap();
    assert!(Signer::open_or_create(&path)
        .unwrap_err()
        .to_string()
        .contains("32 bytes"));
}

#[test]
fn packages_verify_and_every_tampering_is_caught() {
    let dir = tempfile::tempdir().unwrap();
    let signer = Signer::open_or_create(&dir.path().join("key")).unwrap();
    let model = to_bytes(&ds_cnn(2).model);
    let backends = Backends::builtin();
    let compiled = compile(&request(&model), backends.get("onnx-int8").unwrap(), &signer, None).unwrap();
    let key = signer.public_key_hex();
    let package = package::verify(&compiled.package, Some(&key)).unwrap();
    assert_eq!(package.manifest.model.iri, "https://w3id.org/seam/model/test");
    assert_eq!(package.files[0].name, "kws.onnx");
    // Deterministic: the same inputs give the same bytes.
    let again = compile(&request(&model), backends.get("onnx-int8").unwrap(), &signer, None).unwrap();
    assert_eq!(again.sha256, compiled.sha256);

    // Another key: the signature verifies, but it is not the trusted one.
    let other = Signer::open_or_create(&dir.path().join("other")).unwrap();
    let forged = package::seal(package.manifest.clone(), &package.files, &other).unwrap();
    assert!(package_error(package::verify(&forged, Some(&key))).contains("not the trusted key"));
    assert!(package::verify(&forged, None).is_ok());

    // A file changed after signing.
    let mut files = package.files.clone();
    files[0].bytes[100] ^= 1;
    let mut swapped = package::seal(package.manifest.clone(), &package.files, &signer).unwrap();
    let tampered = package::seal(package.manifest.clone(), &files, &signer).unwrap();
    assert!(package_error(package::verify(&tampered, Some(&key))).contains("does not match its digest"));
    // The manifest changed after signing: another model named in it.
    let at = swapped
        .windows(b"model/test".len())
        .position(|w| w == b"model/test")
        .unwrap();
    swapped[at + 6] = b'T';
    let message = package_error(package::verify(&swapped, Some(&key)));
    assert!(message.contains("does not verify"), "{message}");
    // Truncated, garbage, and a name that would escape a folder.
    let cut = &compiled.package[..compiled.package.len() / 2];
    assert!(package::verify(cut, Some(&key)).is_err());
    assert!(package::verify(b"garbage", Some(&key)).is_err());
    let escaping = package::seal(
        package.manifest.clone(),
        &[ArtifactFile {
            name: "../evil".into(),
            bytes: vec![1],
        }],
        &signer,
    );
    match escaping {
        // The tar writer refuses it already; a reader that met one would refuse it too.
        Err(e) => assert!(e.to_string().contains("evil"), "{e}"),
        Ok(bytes) => assert!(package_error(package::verify(&bytes, Some(&key))).contains("plain name")),
    }
}

#[test]
fn the_cache_returns_the_same_package_and_ignores_a_damaged_entry() {
    let dir = tempfile::tempdir().unwrap();
    let signer = Signer::open_or_create(&dir.path().join("key")).unwrap();
    let cache = Cache::new(&dir.path().join("cache"));
    let model = to_bytes(&ds_cnn(3).model);
    let backends = Backends::builtin();
    let nnef = backends.get("tract-nnef").unwrap();
    let first = compile(&request(&model), nnef, &signer, Some(&cache)).unwrap();
    assert!(!first.cache_hit);
    let second = compile(&request(&model), nnef, &signer, Some(&cache)).unwrap();
    assert!(second.cache_hit);
    assert_eq!(second.package, first.package);
    // Different options are a different entry.
    let mut int8 = request(&model);
    int8.quantize_int8 = true;
    assert!(!compile(&int8, nnef, &signer, Some(&cache)).unwrap().cache_hit);
    // A damaged entry is rebuilt, not trusted.
    for entry in std::fs::read_dir(dir.path().join("cache")).unwrap() {
        let path = entry.unwrap().path();
        let mut bytes = std::fs::read(&path).unwrap();
        let middle = bytes.len() / 2;
        bytes[middle] ^= 0xff;
        std::fs::write(&path, bytes).unwrap();
    }
    let rebuilt = compile(&request(&model), nnef, &signer, Some(&cache)).unwrap();
    assert!(!rebuilt.cache_hit);
    assert_eq!(rebuilt.package, first.package);
    // Another installation's key does not trust this cache's entries.
    let stranger = Signer::open_or_create(&dir.path().join("stranger")).unwrap();
    assert!(
        !compile(&request(&model), nnef, &stranger, Some(&cache))
            .unwrap()
            .cache_hit
    );
}

#[test]
fn the_nnef_archive_loads_in_tract_and_validates_against_the_original() {
    let dir = tempfile::tempdir().unwrap();
    let signer = Signer::open_or_create(&dir.path().join("key")).unwrap();
    for reference in seam_compiler_bridge::onnx_build::mlperf_tiny(9) {
        let model = to_bytes(&reference.model);
        let compiled = compile(
            &request(&model),
            Backends::builtin().get("tract-nnef").unwrap(),
            &signer,
            None,
        )
        .unwrap();
        let v = compiled.manifest.validation.clone().unwrap();
        // NNEF is the same float model: agreement is exact up to rounding.
        assert!(
            v.top1_agreement == 1.0 && v.relative_error < 1e-4,
            "{}: {v:?}",
            reference.name
        );
    }
}
