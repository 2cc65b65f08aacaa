//! A SEAM data folder and what lives in it.
//!
//! ```text
//! DIR/                 the embedded store (RocksDB's files)
//! DIR/keys/package-signing.ed25519   the installation's Ed25519 key (packages are signed with it)
//! DIR/compile-cache/   compiled packages by (model, target, backend, options)
//! DIR/packages/        packages offered to devices, by SHA-256
//! DIR/models/          model files registered, by SHA-256
//! DIR/compilers.toml   external compilers declared for this installation (optional)
//! DIR/instance-id       this service's identity among several on one remote store
//! ```
//!
//! The store's files sit at the top (the layout of every data folder written so far); the
//! other entries are SEAM's and never collide with RocksDB's names.

use std::path::{Path, PathBuf};
use std::sync::Arc;

/// A data folder. Cheap to clone. A scratch folder (for an in-memory registry) is removed
/// when the last clone is dropped.
#[derive(Debug, Clone)]
pub struct DataDir {
    root: PathBuf,
    /// Keeps a scratch folder alive.
    scratch: Option<Arc<tempfile::TempDir>>,
}

impl DataDir {
    /// The data folder at `root` (created on first write, not here).
    pub fn at(root: impl Into<PathBuf>) -> Self {
        Self {
            root: root.into(),
            scratch: None,
        }
    }

    /// A fresh folder that lives as long as this value and its clones: the key, caches and
    /// files of an in-memory registry.
    pub fn scratch() -> std::io::Result<Self> {
        let dir = tempfile::Builder::new().prefix("seam-").tempdir()?;
        Ok(Self {
            root: dir.path().to_owned(),
            scratch: Some(Arc::new(dir)),
        })
    }

    /// Whether the folder is scratch (nothing in it outlives the process).
    pub fn is_scratch(&self) -> bool {
        self.scratch.is_some()
    }

    /// The folder itself.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// This service's identity among several on one store (`urn:seam:instance:<uuid>`), made on
    /// first use and kept in `instance-id`.
    pub fn instance(&self) -> std::io::Result<oxigraph::model::NamedNode> {
        let file = self.root.join("instance-id");
        let id = match std::fs::read_to_string(&file) {
            Ok(text) if uuid::Uuid::parse_str(text.trim()).is_ok() => text.trim().to_owned(),
            _ => {
                std::fs::create_dir_all(&self.root)?;
                let id = uuid::Uuid::new_v4().to_string();
                std::fs::write(&file, &id)?;
                id
            }
        };
        Ok(oxigraph::model::NamedNode::new_unchecked(format!(
            "urn:seam:instance:{id}"
        )))
    }

    /// Where the embedded store keeps its files.
    pub fn store(&self) -> &Path {
        &self.root
    }

    /// The signing key file.
    pub fn signing_key(&self) -> PathBuf {
        self.root.join("keys").join("package-signing.ed25519")
    }

    /// The compile cache.
    pub fn compile_cache(&self) -> PathBuf {
        self.root.join("compile-cache")
    }

    /// Packages offered to devices.
    pub fn packages(&self) -> PathBuf {
        self.root.join("packages")
    }

    /// Model files registered.
    pub fn models(&self) -> PathBuf {
        self.root.join("models")
    }

    /// The tokens the service accepts (digests only; `seam tokens`).
    pub fn tokens(&self) -> PathBuf {
        self.root.join("tokens.json")
    }

    /// Devices' DTLS keys (`seam devices add-psk`): secrets, never in the graph.
    pub fn credentials(&self) -> PathBuf {
        self.root.join("credentials.json")
    }

    /// The external compilers declared for this installation.
    pub fn compilers(&self) -> PathBuf {
        self.root.join("compilers.toml")
    }
}
