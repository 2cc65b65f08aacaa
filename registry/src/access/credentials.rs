//! Devices' DTLS pre-shared keys: secrets in the data folder's `credentials.json` (mode 0600),
//! never in the graph, never in an answer. `seam devices add-psk` and `POST
//! /devices/credentials` write them; the LwM2M server reads them when the file changes.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::secret_file::{SecretFile, SecretFileError, Watched};

/// Shortest key accepted, in bytes (128 bits: what the AES-128 suites need to be worth it).
pub const MIN_KEY_BYTES: usize = 16;
/// Longest key accepted, in bytes (OpenSSL's own limit is 256; LwM2M keys are 16 to 32).
pub const MAX_KEY_BYTES: usize = 64;
/// Longest PSK identity, in bytes (RFC 4279 allows 2^16; LwM2M identities are short names).
pub const MAX_IDENTITY_BYTES: usize = 128;

/// One device's credentials, as kept.
#[derive(Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct DeviceCredential {
    /// The LwM2M endpoint name the identity registers as.
    pub endpoint: String,
    /// The PSK identity.
    pub identity: String,
    /// The key, hexadecimal.
    pub key_hex: String,
    /// When it was provisioned (xsd:dateTime).
    pub created: String,
}

impl std::fmt::Debug for DeviceCredential {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never the key, not even in a log line.
        f.debug_struct("DeviceCredential")
            .field("endpoint", &self.endpoint)
            .field("identity", &self.identity)
            .finish_non_exhaustive()
    }
}

#[derive(Debug, Default, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct FileBody {
    devices: Vec<DeviceCredential>,
}

/// The credentials file of a data folder.
#[derive(Debug, Clone)]
pub struct CredentialFile {
    file: SecretFile,
}

impl CredentialFile {
    /// The file at `path` (it need not exist yet).
    pub fn at(path: impl Into<PathBuf>) -> Self {
        Self {
            file: SecretFile::at(path),
        }
    }

    /// Where it is.
    pub fn path(&self) -> &Path {
        self.file.path()
    }

    /// Every device's credentials.
    pub fn read(&self) -> Result<Vec<DeviceCredential>, SecretFileError> {
        Ok(self.file.read::<FileBody>()?.devices)
    }

    /// Provisions `endpoint` with `identity` and the key `key_hex`, replacing what it had. An
    /// identity belongs to one endpoint. Returns whether the endpoint had credentials before.
    pub fn add_psk(&self, endpoint: &str, identity: &str, key_hex: &str) -> Result<bool, SecretFileError> {
        let refused = |m: String| SecretFileError::Refused(m);
        if endpoint.is_empty()
            || endpoint.len() > seam_lwm2m::server::MAX_ENDPOINT_NAME
            || endpoint.chars().any(char::is_control)
        {
            return Err(refused(format!(
                "{endpoint:?} is not an LwM2M endpoint name (1 to {} characters, no control characters)",
                seam_lwm2m::server::MAX_ENDPOINT_NAME
            )));
        }
        if identity.is_empty()
            || identity.len() > MAX_IDENTITY_BYTES
            || !identity.chars().all(|c| c.is_ascii_graphic() || c == ' ')
        {
            return Err(refused(format!(
                "{identity:?} is not a PSK identity (1 to {MAX_IDENTITY_BYTES} printable ASCII characters)"
            )));
        }
        let key = hex::decode(key_hex.trim()).map_err(|e| refused(format!("the key is not hexadecimal: {e}")))?;
        if !(MIN_KEY_BYTES..=MAX_KEY_BYTES).contains(&key.len()) {
            return Err(refused(format!(
                "the key is {} bytes; keys are {MIN_KEY_BYTES} to {MAX_KEY_BYTES} bytes ({} to {} hex digits)",
                key.len(),
                MIN_KEY_BYTES * 2,
                MAX_KEY_BYTES * 2
            )));
        }
        let mut replaced = false;
        self.file.change(|body: &mut FileBody| {
            if let Some(other) = body
                .devices
                .iter()
                .find(|d| d.identity == identity && d.endpoint != endpoint)
            {
                return Err(refused(format!(
                    "the identity {identity:?} belongs to {:?} already (an identity names one device)",
                    other.endpoint
                )));
            }
            let before = body.devices.len();
            body.devices.retain(|d| d.endpoint != endpoint);
            replaced = body.devices.len() != before;
            body.devices.push(DeviceCredential {
                endpoint: endpoint.to_owned(),
                identity: identity.to_owned(),
                key_hex: hex::encode(&key),
                created: oxsdatatypes::DateTime::now().to_string(),
            });
            Ok(())
        })?;
        Ok(replaced)
    }

    /// Forgets `endpoint`'s credentials: its sessions can no longer open (and it may then
    /// register over plain CoAP, as a device without credentials does).
    pub fn remove(&self, endpoint: &str) -> Result<(), SecretFileError> {
        self.file.change(|body: &mut FileBody| {
            let before = body.devices.len();
            body.devices.retain(|d| d.endpoint != endpoint);
            if body.devices.len() == before {
                return Err(SecretFileError::Refused(format!("{endpoint:?} has no credentials")));
            }
            Ok(())
        })
    }
}

#[derive(Default)]
struct Index {
    /// identity → (endpoint, key)
    by_identity: HashMap<String, (String, Vec<u8>)>,
    endpoints: std::collections::HashSet<String>,
}

/// What the LwM2M server asks of the credentials file, re-read when the file changes.
pub struct DeviceKeys {
    watched: Watched<Index>,
}

impl std::fmt::Debug for DeviceKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DeviceKeys").field("file", &self.watched).finish()
    }
}

impl DeviceKeys {
    /// The keys of `file`.
    pub fn new(file: CredentialFile) -> Arc<Self> {
        Arc::new(Self {
            watched: Watched::new(file.file),
        })
    }

    fn index(&self) -> Arc<Index> {
        self.watched.current(|file| {
            let devices = CredentialFile { file: file.clone() }.read()?;
            let mut index = Index::default();
            for d in devices {
                let Ok(key) = hex::decode(&d.key_hex) else {
                    return Err(file.corrupt(format!("the key of {:?} is not hexadecimal", d.endpoint)));
                };
                index.endpoints.insert(d.endpoint.clone());
                index.by_identity.insert(d.identity, (d.endpoint, key));
            }
            Ok(index)
        })
    }
}

impl seam_lwm2m::server::Credentials for DeviceKeys {
    fn key(&self, identity: &[u8]) -> Option<Vec<u8>> {
        let identity = std::str::from_utf8(identity).ok()?;
        self.index().by_identity.get(identity).map(|(_, key)| key.clone())
    }

    fn endpoint_of(&self, identity: &str) -> Option<String> {
        self.index()
            .by_identity
            .get(identity)
            .map(|(endpoint, _)| endpoint.clone())
    }

    fn is_provisioned(&self, endpoint: &str) -> bool {
        self.index().endpoints.contains(endpoint)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use seam_lwm2m::server::Credentials as _;

    #[test]
    fn keys_are_checked_and_one_identity_names_one_device() {
        let dir = tempfile::tempdir().unwrap();
        let file = CredentialFile::at(dir.path().join("credentials.json"));
        let keys = DeviceKeys::new(file.clone());
        assert!(file.add_psk("dev-1", "id-1", "00112233").is_err(), "too short");
        assert!(file.add_psk("dev-1", "id-1", "zz").is_err(), "not hex");
        assert!(
            file.add_psk("dev-1", "id\u{0}1", &"00".repeat(16)).is_err(),
            "not printable"
        );
        assert!(!file.add_psk("dev-1", "id-1", &"01".repeat(16)).unwrap());
        assert!(
            file.add_psk("dev-2", "id-1", &"02".repeat(16)).is_err(),
            "id-1 is dev-1's"
        );
        assert_eq!(keys.key(b"id-1"), Some(vec![1; 16]));
        assert_eq!(keys.endpoint_of("id-1").as_deref(), Some("dev-1"));
        assert!(keys.is_provisioned("dev-1"));
        // A new key replaces the old one, at once.
        assert!(file.add_psk("dev-1", "id-1b", &"03".repeat(16)).unwrap());
        assert_eq!(keys.key(b"id-1"), None);
        assert_eq!(keys.key(b"id-1b"), Some(vec![3; 16]));
        file.remove("dev-1").unwrap();
        assert!(!keys.is_provisioned("dev-1"));
        assert!(file.remove("dev-1").is_err());
        assert!(
            !format!("{:?}", file.read().unwrap()).contains("0303"),
            "Debug never shows a key"
        );
    }
}
