//! The data folder's secret files (tokens, device keys): JSON, mode 0600, changed under an
//! exclusive lock and replaced in one rename, and re-read by a running service when they change.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use serde::de::DeserializeOwned;
use serde::Serialize;

/// A secret file could not be read or changed.
#[derive(Debug, thiserror::Error)]
pub enum SecretFileError {
    /// Reading or writing failed.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// What failed.
        #[source]
        source: std::io::Error,
    },
    /// The file is not what it should be.
    #[error("{}: {message}", path.display())]
    Corrupt {
        /// The file.
        path: PathBuf,
        /// Where and why.
        message: String,
    },
    /// A request that cannot be carried out (a name taken or unknown, a key too short).
    #[error("{0}")]
    Refused(String),
}

/// One secret file.
#[derive(Debug, Clone)]
pub(crate) struct SecretFile {
    path: PathBuf,
}

impl SecretFile {
    pub(crate) fn at(path: impl Into<PathBuf>) -> Self {
        Self { path: path.into() }
    }

    pub(crate) fn path(&self) -> &Path {
        &self.path
    }

    pub(crate) fn io(&self, source: std::io::Error) -> SecretFileError {
        SecretFileError::Io {
            path: self.path.clone(),
            source,
        }
    }

    pub(crate) fn corrupt(&self, message: impl Into<String>) -> SecretFileError {
        SecretFileError::Corrupt {
            path: self.path.clone(),
            message: message.into(),
        }
    }

    /// The content (the default when there is no file).
    pub(crate) fn read<T: DeserializeOwned + Default>(&self) -> Result<T, SecretFileError> {
        let text = match std::fs::read_to_string(&self.path) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(T::default()),
            Err(source) => return Err(self.io(source)),
        };
        serde_json::from_str(&text).map_err(|e| self.corrupt(format!("line {} column {}: {e}", e.line(), e.column())))
    }

    /// Reads, changes and writes the file under an exclusive lock (two writers at once lose
    /// nothing), replacing it in one rename (a reader never sees half a file). Nothing is
    /// written when `edit` fails.
    pub(crate) fn change<T: DeserializeOwned + Serialize + Default>(
        &self,
        edit: impl FnOnce(&mut T) -> Result<(), SecretFileError>,
    ) -> Result<(), SecretFileError> {
        let dir = self
            .path
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or(Path::new("."));
        std::fs::create_dir_all(dir).map_err(|e| self.io(e))?;
        let lock = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(self.path.with_extension("lock"))
            .map_err(|e| self.io(e))?;
        lock.lock().map_err(|e| self.io(e))?;
        let mut content: T = self.read()?;
        edit(&mut content)?;
        let text = serde_json::to_string_pretty(&content).map_err(|e| self.io(std::io::Error::other(e)))?;
        let mut temp = tempfile::Builder::new()
            .prefix(".secret")
            .tempfile_in(dir)
            .map_err(|e| self.io(e))?;
        // tempfile makes the file 0600 on Unix, and the rename keeps that mode.
        temp.write_all(text.as_bytes()).map_err(|e| self.io(e))?;
        temp.as_file().sync_all().map_err(|e| self.io(e))?;
        temp.persist(&self.path).map_err(|e| self.io(e.error))?;
        Ok(())
    }
}

/// When a file was last seen as it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Stamp {
    modified: Option<std::time::SystemTime>,
    len: u64,
    /// Every change is a rename onto the path, so a new inode says "changed" even within
    /// the file system's time resolution.
    inode: u64,
}

#[cfg(unix)]
fn inode(m: &std::fs::Metadata) -> u64 {
    std::os::unix::fs::MetadataExt::ino(m)
}

#[cfg(not(unix))]
fn inode(_: &std::fs::Metadata) -> u64 {
    0
}

/// What a running service knows of a secret file: parsed once, again when the file changes.
pub(crate) struct Watched<T> {
    file: SecretFile,
    loaded: Mutex<(Option<Stamp>, Arc<T>)>,
}

impl<T: Default> Watched<T> {
    pub(crate) fn new(file: SecretFile) -> Self {
        Self {
            file,
            loaded: Mutex::new((None, Arc::new(T::default()))),
        }
    }

    /// The content as the file is now; `parse` runs when it changed. A file that cannot be
    /// read gives the default (fail closed: no tokens, no keys) and an error in the log.
    pub(crate) fn current(&self, parse: impl FnOnce(&SecretFile) -> Result<T, SecretFileError>) -> Arc<T> {
        let stamp = std::fs::metadata(self.file.path()).ok().map(|m| Stamp {
            modified: m.modified().ok(),
            len: m.len(),
            inode: inode(&m),
        });
        let mut loaded = match self.loaded.lock() {
            Ok(loaded) => loaded,
            Err(poisoned) => poisoned.into_inner(),
        };
        if loaded.0 != stamp || stamp.is_none() {
            let content = if stamp.is_none() {
                T::default()
            } else {
                parse(&self.file).unwrap_or_else(|e| {
                    tracing::error!(target: "seam", error = %e, "a secret file cannot be read; nothing in it is accepted until it is fixed");
                    T::default()
                })
            };
            *loaded = (stamp, Arc::new(content));
        }
        loaded.1.clone()
    }
}

impl<T> std::fmt::Debug for Watched<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Watched")
            .field("file", &self.file.path())
            .finish_non_exhaustive()
    }
}
