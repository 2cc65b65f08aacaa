//! SEAM's package format: an artifact's files with a manifest signed with Ed25519, in one tar
//! file. A crate of its own so that whoever verifies packages (the device simulator, a device's
//! tooling) needs neither tract nor the registry.
//!
//! A package (`<name>.seampkg`) is a plain ustar archive, so any device toolchain can open it:
//! `manifest.json` first, `manifest.sig` (the hex Ed25519 signature of those exact bytes) second,
//! then the artifact's files. The manifest names every file with its SHA-256 and size, so
//! checking the signature and then the digests checks everything. Archives are written
//! deterministically (fixed times, owners and modes): the same inputs give the same bytes, and
//! the package's SHA-256 names it everywhere (cache, LwM2M Package URI, the graph).
//!
//! The signing key is created on first use from the operating system's randomness and kept as a
//! hex seed in a file only its owner may read; its public key goes into every manifest and, through
//! the registry, into the graph.

use std::collections::BTreeMap;
use std::io::Read as _;
use std::path::{Path, PathBuf};

use ed25519_dalek::{Signature, Signer as _, SigningKey, Verifier as _, VerifyingKey};
use serde::{Deserialize, Serialize};

use sha2::Digest as _;

/// A package or its signing key is unusable: unreadable, tampered with, or signed by a key that
/// is not trusted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("package: {0}")]
pub struct PackageError(pub String);

/// The SHA-256 of `bytes`, as lowercase hex: how packages, models and files are named.
pub fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(sha2::Sha256::digest(bytes))
}

/// One file of an artifact.
#[derive(Debug, Clone, PartialEq)]
pub struct ArtifactFile {
    /// File name (no directories).
    pub name: String,
    /// Contents.
    pub bytes: Vec<u8>,
}

/// How a transformed model compares with its original (recorded in the manifest).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ValidationReport {
    /// Seeded inputs run through both.
    pub samples: usize,
    /// What was compared: `logits` (before a final Softmax) or `outputs`.
    pub compared: String,
    /// Largest absolute difference of any output value.
    pub max_abs_error: f32,
    /// `max_abs_error` over the largest absolute original value.
    pub relative_error: f32,
    /// Share of samples with the same arg-max (the last axis).
    pub top1_agreement: f32,
}

/// The manifest's format name; a reader refuses any other.
pub const FORMAT: &str = "seam-package/1";
/// File extension of packages.
pub const EXTENSION: &str = "seampkg";
/// Most files a package may hold (a reader refuses more).
const MAX_FILES: usize = 64;
/// Backend logs kept in a manifest, bytes.
pub const MAX_LOG: usize = 16 * 1024;

/// The model a package was made from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ModelRef {
    /// Its IRI in the registry (content-addressed by the file's SHA-256).
    pub iri: String,
    /// The file's stem.
    pub name: String,
    /// SHA-256 of the model file.
    pub sha256: String,
}

/// The backend that compiled it, and how.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BackendRef {
    /// Backend name.
    pub name: String,
    /// Backend version.
    pub version: String,
    /// The options it ran with (all of them, so equal options mean an equal compilation).
    pub options: BTreeMap<String, String>,
}

/// What the package was built for.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct TargetRef {
    /// The device's IRI.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub device: Option<String>,
    /// Its board's IRI.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub board: Option<String>,
    /// The runtime the artifact is for.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub runtime: Option<String>,
}

/// One file of the package.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OutputRef {
    /// File name.
    pub file: String,
    /// Its SHA-256.
    pub sha256: String,
    /// Its size.
    pub size_bytes: u64,
}

/// Who signed the manifest.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SignerRef {
    /// Always `Ed25519`.
    pub algorithm: String,
    /// The public key, hex.
    pub public_key: String,
}

/// The manifest of a package.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Manifest {
    /// [`FORMAT`].
    pub format: String,
    /// The source model.
    pub model: ModelRef,
    /// The backend, its version and options.
    pub backend: BackendRef,
    /// The target, when one was named.
    pub target: TargetRef,
    /// Every file of the artifact.
    pub outputs: Vec<OutputRef>,
    /// Weight, arena and model sizes of what was compiled, bytes.
    pub sizes: BTreeMap<String, u64>,
    /// How the compiled model compares with the original, when it could be run.
    pub validation: Option<ValidationReport>,
    /// What the backend printed (external compilers), cut to [`MAX_LOG`] bytes.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub log: String,
    /// The key that signed it.
    pub signer: SignerRef,
}

/// A package read back: its manifest (bytes and parsed), signature and files.
#[derive(Debug, Clone)]
pub struct Package {
    /// The manifest as signed.
    pub manifest_json: Vec<u8>,
    /// The manifest, parsed.
    pub manifest: Manifest,
    /// The signature, hex.
    pub signature: String,
    /// The artifact's files.
    pub files: Vec<ArtifactFile>,
}

fn package_error(message: impl Into<String>) -> PackageError {
    PackageError(message.into())
}

/// The signing key of this installation.
pub struct Signer {
    key: SigningKey,
    path: PathBuf,
}

impl std::fmt::Debug for Signer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never print the secret.
        f.debug_struct("Signer")
            .field("path", &self.path)
            .field("public_key", &self.public_key_hex())
            .finish()
    }
}

impl Signer {
    /// The key kept at `path`, created there (with a fresh random seed, owner-only) if absent.
    pub fn open_or_create(path: &Path) -> Result<Self, PackageError> {
        let fail = |what: &str, e: std::io::Error| package_error(format!("{what} {}: {e}", path.display()));
        match std::fs::read_to_string(path) {
            Ok(text) => {
                let seed: [u8; 32] = hex::decode(text.trim())
                    .ok()
                    .and_then(|b| b.try_into().ok())
                    .ok_or_else(|| package_error(format!("{}: not a hex Ed25519 seed of 32 bytes", path.display())))?;
                Ok(Self {
                    key: SigningKey::from_bytes(&seed),
                    path: path.to_owned(),
                })
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let mut seed = [0u8; 32];
                getrandom::fill(&mut seed).map_err(|e| package_error(format!("no randomness for a key: {e}")))?;
                if let Some(dir) = path.parent() {
                    std::fs::create_dir_all(dir).map_err(|e| fail("cannot create the folder of", e))?;
                }
                let tmp = path.with_extension("tmp");
                write_private(&tmp, format!("{}\n", hex::encode(seed)).as_bytes())
                    .map_err(|e| fail("cannot write", e))?;
                std::fs::rename(&tmp, path).map_err(|e| fail("cannot create", e))?;
                tracing::info!(key = %path.display(), "created a package signing key");
                Ok(Self {
                    key: SigningKey::from_bytes(&seed),
                    path: path.to_owned(),
                })
            }
            Err(e) => Err(fail("cannot read", e)),
        }
    }

    /// The public key, hex.
    pub fn public_key_hex(&self) -> String {
        hex::encode(self.key.verifying_key().as_bytes())
    }

    /// The signer as a manifest names it.
    pub fn reference(&self) -> SignerRef {
        SignerRef {
            algorithm: "Ed25519".into(),
            public_key: self.public_key_hex(),
        }
    }

    /// Signs `message`; the signature in hex.
    pub fn sign_hex(&self, message: &[u8]) -> String {
        hex::encode(self.key.sign(message).to_bytes())
    }
}

#[cfg(unix)]
fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write as _;
    use std::os::unix::fs::OpenOptionsExt as _;
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)?;
    file.write_all(bytes)?;
    file.sync_all()
}

#[cfg(not(unix))]
fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    std::fs::write(path, bytes)
}

/// Checks an Ed25519 signature (hex) of `message` by `public_key` (hex).
pub fn verify_signature(public_key: &str, message: &[u8], signature: &str) -> Result<(), PackageError> {
    let key: [u8; 32] = hex::decode(public_key)
        .ok()
        .and_then(|b| b.try_into().ok())
        .ok_or_else(|| package_error("the signer's public key is not 32 bytes of hex"))?;
    let key = VerifyingKey::from_bytes(&key).map_err(|e| package_error(format!("bad public key: {e}")))?;
    let signature: [u8; 64] = hex::decode(signature.trim())
        .ok()
        .and_then(|b| b.try_into().ok())
        .ok_or_else(|| package_error("the signature is not 64 bytes of hex"))?;
    key.verify(message, &Signature::from_bytes(&signature))
        .map_err(|_| package_error("the manifest's signature does not verify"))
}

/// Signs `manifest` with `signer` and packs it with `files` into package bytes.
pub fn seal(mut manifest: Manifest, files: &[ArtifactFile], signer: &Signer) -> Result<Vec<u8>, PackageError> {
    manifest.signer = signer.reference();
    let json = serde_json::to_vec_pretty(&manifest).map_err(|e| package_error(format!("manifest: {e}")))?;
    let signature = signer.sign_hex(&json);
    let mut builder = tar::Builder::new(Vec::new());
    let mut add = |name: &str, bytes: &[u8]| -> Result<(), PackageError> {
        let mut header = tar::Header::new_ustar();
        header.set_size(bytes.len() as u64);
        header.set_mode(0o644);
        header.set_mtime(0);
        header.set_uid(0);
        header.set_gid(0);
        builder
            .append_data(&mut header, name, bytes)
            .map_err(|e| package_error(format!("cannot pack {name}: {e}")))
    };
    add("manifest.json", &json)?;
    add("manifest.sig", format!("{signature}\n").as_bytes())?;
    for file in files {
        add(&file.name, &file.bytes)?;
    }
    builder
        .into_inner()
        .map_err(|e| package_error(format!("cannot finish the package: {e}")))
}

/// Reads a package, bounded by its own size: at most [`MAX_FILES`] plain files with simple names.
pub fn open(bytes: &[u8]) -> Result<Package, PackageError> {
    let mut archive = tar::Archive::new(bytes);
    let mut entries: Vec<(String, Vec<u8>)> = Vec::new();
    let iter = archive
        .entries()
        .map_err(|e| package_error(format!("not a package (tar): {e}")))?;
    for entry in iter {
        let mut entry = entry.map_err(|e| package_error(format!("not a package (tar): {e}")))?;
        if entries.len() >= MAX_FILES {
            return Err(package_error(format!("more than {MAX_FILES} files")));
        }
        if !entry.header().entry_type().is_file() {
            return Err(package_error("a package holds plain files only"));
        }
        let name = entry
            .path()
            .ok()
            .and_then(|p| p.to_str().map(str::to_owned))
            .filter(|n| !n.is_empty() && !n.contains('/') && !n.contains('\\') && n != ".." && n != ".")
            .ok_or_else(|| package_error("a file name in the package is not a plain name"))?;
        let size = entry.header().size().unwrap_or(u64::MAX);
        if size > bytes.len() as u64 {
            return Err(package_error(format!(
                "{name} declares {size} bytes, more than the package holds"
            )));
        }
        let mut content = Vec::with_capacity(size as usize);
        entry
            .read_to_end(&mut content)
            .map_err(|e| package_error(format!("cannot read {name}: {e}")))?;
        entries.push((name, content));
    }
    let mut entries = entries.into_iter();
    let (Some((m, manifest_json)), Some((s, signature))) = (entries.next(), entries.next()) else {
        return Err(package_error("a package starts with manifest.json and manifest.sig"));
    };
    if m != "manifest.json" || s != "manifest.sig" {
        return Err(package_error(format!(
            "a package starts with manifest.json and manifest.sig, not {m} and {s}"
        )));
    }
    let manifest: Manifest =
        serde_json::from_slice(&manifest_json).map_err(|e| package_error(format!("manifest.json: {e}")))?;
    if manifest.format != FORMAT {
        return Err(package_error(format!(
            "manifest format {:?}, expected {FORMAT:?}",
            manifest.format
        )));
    }
    let signature = String::from_utf8(signature).map_err(|_| package_error("manifest.sig is not text"))?;
    Ok(Package {
        manifest_json,
        manifest,
        signature: signature.trim().to_owned(),
        files: entries.map(|(name, bytes)| ArtifactFile { name, bytes }).collect(),
    })
}

/// Opens a package and checks it: the signature by the key the manifest names (which must be
/// `trusted` when given), then every file against the manifest's digests and sizes.
pub fn verify(bytes: &[u8], trusted: Option<&str>) -> Result<Package, PackageError> {
    let package = open(bytes)?;
    let signer = &package.manifest.signer;
    if signer.algorithm != "Ed25519" {
        return Err(package_error(format!(
            "unknown signature algorithm {:?}",
            signer.algorithm
        )));
    }
    if let Some(trusted) = trusted {
        if !trusted.eq_ignore_ascii_case(&signer.public_key) {
            return Err(package_error(format!(
                "signed by {}, which is not the trusted key",
                signer.public_key
            )));
        }
    }
    verify_signature(&signer.public_key, &package.manifest_json, &package.signature)?;
    if package.files.len() != package.manifest.outputs.len() {
        return Err(package_error(format!(
            "the manifest lists {} files and the package holds {}",
            package.manifest.outputs.len(),
            package.files.len()
        )));
    }
    for expected in &package.manifest.outputs {
        let file = package
            .files
            .iter()
            .find(|f| f.name == expected.file)
            .ok_or_else(|| package_error(format!("{} is missing", expected.file)))?;
        if file.bytes.len() as u64 != expected.size_bytes || sha256_hex(&file.bytes) != expected.sha256 {
            return Err(package_error(format!(
                "{} does not match its digest in the manifest",
                expected.file
            )));
        }
    }
    Ok(package)
}

/// Compiled packages, kept by what made them: (model SHA-256, target, backend and version,
/// options). Entries are written whole and renamed into place, so a reader never sees half of one.
#[derive(Debug, Clone)]
pub struct Cache {
    dir: PathBuf,
}

impl Cache {
    /// The cache in `dir` (created on first store).
    pub fn new(dir: &Path) -> Self {
        Self { dir: dir.to_owned() }
    }

    /// The key of a compilation: the SHA-256 of its inputs as canonical JSON.
    pub fn key(model_sha256: &str, target: &TargetRef, backend: &BackendRef) -> String {
        let canonical = serde_json::json!({
            "model": model_sha256,
            "target": target,
            "backend": backend,
        });
        sha256_hex(canonical.to_string().as_bytes())
    }

    fn path(&self, key: &str) -> PathBuf {
        self.dir.join(format!("{key}.{EXTENSION}"))
    }

    /// The package cached under `key`, if there is one that still verifies with `trusted`.
    /// A damaged entry is reported and ignored (it will be overwritten).
    pub fn get(&self, key: &str, trusted: &str) -> Option<(Vec<u8>, Package)> {
        let bytes = std::fs::read(self.path(key)).ok()?;
        match verify(&bytes, Some(trusted)) {
            Ok(package) => Some((bytes, package)),
            Err(e) => {
                tracing::warn!(key, error = %e, "ignoring a damaged cache entry");
                None
            }
        }
    }

    /// Stores package bytes under `key`.
    pub fn put(&self, key: &str, bytes: &[u8]) -> Result<(), PackageError> {
        std::fs::create_dir_all(&self.dir)
            .map_err(|e| package_error(format!("cannot create {}: {e}", self.dir.display())))?;
        let tmp = self.dir.join(format!(".{key}.{}.tmp", std::process::id()));
        std::fs::write(&tmp, bytes).map_err(|e| package_error(format!("cannot write {}: {e}", tmp.display())))?;
        std::fs::rename(&tmp, self.path(key)).map_err(|e| package_error(format!("cannot store cache entry {key}: {e}")))
    }
}
