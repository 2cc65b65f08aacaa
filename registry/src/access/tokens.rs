//! Tokens at rest and in use.
//!
//! A token is `seam_` and 64 hexadecimal digits (256 random bits). Only its SHA-256 is kept, in
//! the data folder's `tokens.json` (mode 0600): a token is random enough that a fast hash of it
//! cannot be searched, and the file alone lets nobody in. The running service re-reads the
//! file when it changes, so `seam tokens create` and `revoke` take effect without a restart.
//! A presented token is hashed and compared with every known digest in constant time.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use sha2::{Digest as _, Sha256};

use super::secret_file::{SecretFile, SecretFileError, Watched};
use super::{Scope, Scopes};

/// One token as it is kept: its name, scopes and digest (never the secret).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct TokenEntry {
    /// What people call it (unique).
    pub name: String,
    /// What it may do.
    pub scopes: Vec<Scope>,
    /// SHA-256 of the token, hexadecimal.
    pub sha256: String,
    /// When it was made (xsd:dateTime).
    pub created: String,
}

/// A token just made: the only moment its secret exists outside the client.
#[derive(Debug, Clone)]
pub struct NewToken {
    /// What is kept.
    pub entry: TokenEntry,
    /// The token itself, to hand to the client.
    pub secret: String,
}

/// The token file could not be read or changed.
pub type TokenFileError = SecretFileError;

#[derive(Debug, Default, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct FileBody {
    tokens: Vec<TokenEntry>,
}

/// The token file of a data folder.
#[derive(Debug, Clone)]
pub struct TokenFile {
    file: SecretFile,
}

impl TokenFile {
    /// The token file at `path` (it need not exist yet).
    pub fn at(path: impl Into<PathBuf>) -> Self {
        Self {
            file: SecretFile::at(path),
        }
    }

    /// Where it is.
    pub fn path(&self) -> &Path {
        self.file.path()
    }

    /// The tokens kept (none when there is no file).
    pub fn read(&self) -> Result<Vec<TokenEntry>, TokenFileError> {
        let body: FileBody = self.file.read()?;
        for entry in &body.tokens {
            if entry.sha256.len() != 64 || hex::decode(&entry.sha256).is_err() {
                return Err(self
                    .file
                    .corrupt(format!("the token {:?} has no SHA-256 digest", entry.name)));
            }
        }
        Ok(body.tokens)
    }

    /// Makes a token named `name` with `scopes` and keeps its digest.
    pub fn create(&self, name: &str, scopes: &[Scope]) -> Result<NewToken, TokenFileError> {
        check_name(name)?;
        if scopes.is_empty() {
            return Err(TokenFileError::Refused(
                "a token needs at least one scope (read, write, deploy or admin)".into(),
            ));
        }
        let mut random = [0u8; 32];
        getrandom::fill(&mut random).map_err(|e| TokenFileError::Refused(format!("no randomness for a token: {e}")))?;
        let secret = format!("seam_{}", hex::encode(random));
        let mut scopes = scopes.to_vec();
        scopes.sort_by_key(|s| *s as u8);
        scopes.dedup();
        let entry = TokenEntry {
            name: name.to_owned(),
            scopes,
            sha256: hex::encode(Sha256::digest(secret.as_bytes())),
            created: oxsdatatypes::DateTime::now().to_string(),
        };
        self.file.change(|body: &mut FileBody| {
            let tokens = &mut body.tokens;
            if tokens.iter().any(|t| t.name == name) {
                return Err(TokenFileError::Refused(format!(
                    "a token named {name:?} exists already (revoke it first, or pick another name)"
                )));
            }
            tokens.push(entry.clone());
            Ok(())
        })?;
        Ok(NewToken { entry, secret })
    }

    /// Forgets the token named `name`: from the next request on, it is refused.
    pub fn revoke(&self, name: &str) -> Result<TokenEntry, TokenFileError> {
        let mut revoked = None;
        self.file.change(|body: &mut FileBody| {
            let tokens = &mut body.tokens;
            let at = tokens
                .iter()
                .position(|t| t.name == name)
                .ok_or_else(|| TokenFileError::Refused(format!("there is no token named {name:?}")))?;
            revoked = Some(tokens.remove(at));
            Ok(())
        })?;
        revoked.ok_or_else(|| TokenFileError::Refused(format!("there is no token named {name:?}")))
    }
}

fn check_name(name: &str) -> Result<(), TokenFileError> {
    let ok = (1..=64).contains(&name.len())
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
        && name.starts_with(|c: char| c.is_ascii_alphanumeric());
    if ok {
        Ok(())
    } else {
        Err(TokenFileError::Refused(format!(
            "{name:?} is not a token name (1 to 64 letters, digits, '-', '_' or '.', starting with a letter or digit)"
        )))
    }
}

/// A token known to the service, by digest.
#[derive(Debug, Clone)]
struct Known {
    name: String,
    scopes: Scopes,
    digest: [u8; 32],
}

#[derive(Debug)]
struct Inner {
    /// Tokens given at start (`--token`): every scope.
    fixed: Vec<Known>,
    file: Option<Watched<Vec<Known>>>,
}

/// The tokens a service accepts: those given at start, and those of its token file as the
/// file is now.
#[derive(Debug, Clone)]
pub struct Keyring {
    inner: Arc<Inner>,
}

impl Keyring {
    /// Accepts `fixed` (with every scope) and the tokens of `file`, when there is one.
    pub fn new(fixed: &[&str], file: Option<TokenFile>) -> Self {
        let fixed = fixed
            .iter()
            .filter(|t| !t.is_empty())
            .enumerate()
            .map(|(i, t)| Known {
                name: if i == 0 {
                    "--token".to_owned()
                } else {
                    format!("--token#{}", i + 1)
                },
                scopes: Scopes::ADMIN,
                digest: Sha256::digest(t.as_bytes()).into(),
            })
            .collect();
        Self {
            inner: Arc::new(Inner {
                fixed,
                file: file.map(|f| Watched::new(f.file)),
            }),
        }
    }

    /// Accepts `tokens` only, each with every scope.
    pub fn with_tokens(tokens: &[&str]) -> Self {
        Self::new(tokens, None)
    }

    /// Whether any token is accepted now.
    pub fn has_tokens(&self) -> bool {
        !self.inner.fixed.is_empty() || !self.file_tokens().is_empty()
    }

    /// The name and scopes of `token`, when it is accepted.
    pub fn find(&self, token: &str) -> Option<(String, Scopes)> {
        let digest: [u8; 32] = Sha256::digest(token.as_bytes()).into();
        let file = self.file_tokens();
        // Every digest is compared, with no early exit, so that timing tells nothing of which
        // token, or how much of one, matched.
        let mut found = None;
        for known in self.inner.fixed.iter().chain(file.iter()) {
            if constant_time_eq(&known.digest, &digest) && found.is_none() {
                found = Some((known.name.clone(), known.scopes));
            }
        }
        found
    }

    /// The file's tokens, re-read when the file changed since the last look.
    fn file_tokens(&self) -> Arc<Vec<Known>> {
        let Some(watched) = &self.inner.file else {
            return Arc::default();
        };
        watched.current(|file| {
            let entries = TokenFile { file: file.clone() }.read()?;
            Ok(entries
                .into_iter()
                .filter_map(|e| {
                    let digest: [u8; 32] = hex::decode(&e.sha256).ok()?.try_into().ok()?;
                    Some(Known {
                        name: e.name,
                        scopes: Scopes::of(&e.scopes),
                        digest,
                    })
                })
                .collect())
        })
    }
}

/// Compares without an early exit.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_created_token_is_found_until_it_is_revoked() {
        let dir = tempfile::tempdir().unwrap();
        let file = TokenFile::at(dir.path().join("tokens.json"));
        let keyring = Keyring::new(&[], Some(file.clone()));
        assert!(!keyring.has_tokens());
        let made = file.create("ci-deployer", &[Scope::Deploy, Scope::Deploy]).unwrap();
        assert!(made.secret.starts_with("seam_") && made.secret.len() == 69);
        assert_eq!(made.entry.scopes, vec![Scope::Deploy]);
        let text = std::fs::read_to_string(file.path()).unwrap();
        assert!(!text.contains(&made.secret), "the secret is never written");
        assert_eq!(
            keyring.find(&made.secret),
            Some(("ci-deployer".to_owned(), Scopes::of(&[Scope::Deploy])))
        );
        assert!(keyring.find(&made.secret[..68]).is_none());
        assert!(file.create("ci-deployer", &[Scope::Read]).is_err(), "names are unique");
        file.revoke("ci-deployer").unwrap();
        assert!(keyring.find(&made.secret).is_none());
        assert!(file.revoke("ci-deployer").is_err());
    }

    #[test]
    fn bad_names_and_empty_scopes_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let file = TokenFile::at(dir.path().join("tokens.json"));
        for name in ["", "-x", "a b", "ü", &"x".repeat(65)] {
            assert!(file.create(name, &[Scope::Read]).is_err(), "{name:?}");
        }
        assert!(file.create("ok", &[]).is_err());
        assert!(file.read().unwrap().is_empty(), "nothing was written");
    }

    #[test]
    fn a_corrupt_file_grants_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let file = TokenFile::at(dir.path().join("tokens.json"));
        let made = file.create("a", &[Scope::Admin]).unwrap();
        let keyring = Keyring::new(&[], Some(file.clone()));
        assert!(keyring.find(&made.secret).is_some());
        std::fs::write(file.path(), "{\"tokens\": [").unwrap();
        assert!(keyring.find(&made.secret).is_none());
        let err = file.read().unwrap_err().to_string();
        assert!(err.contains("line 1 column"), "{err}");
    }

    #[test]
    fn concurrent_creations_lose_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let file = TokenFile::at(dir.path().join("tokens.json"));
        std::thread::scope(|s| {
            for i in 0..8 {
                let file = file.clone();
                s.spawn(move || file.create(&format!("t{i}"), &[Scope::Read]).unwrap());
            }
        });
        assert_eq!(file.read().unwrap().len(), 8);
    }
}
