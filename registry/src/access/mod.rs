//! Who may do what: bearer tokens with scopes, kept hashed, and whether reads need one.
//!
//! Every HTTP route declares what it needs ([`Access`]); the service identifies the caller
//! once per request ([`Policy::identify`]) and checks the route's need before any handler runs
//! ([`Policy::check`]); GraphQL mutations check their own scope against the same caller.
//!
//! Scopes: `read` (reads, when reads are closed), `write` (the graph: loads, updates, models,
//! Thing Descriptions, compilations), `deploy` (packages, deployments, rollouts) and `admin`
//! (everything, and device credentials). Every token may read.

pub mod credentials;
mod secret_file;
pub mod tokens;

pub use credentials::{CredentialFile, DeviceCredential, DeviceKeys};
pub use secret_file::SecretFileError;
pub use tokens::{Keyring, NewToken, TokenEntry, TokenFile, TokenFileError};

/// One permission a token may carry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Scope {
    /// Reads, when reads are closed (every token may read).
    Read,
    /// Changes to the graph: loads, SPARQL updates, models, Thing Descriptions, compilations.
    Write,
    /// Packages, deployments and rollouts.
    Deploy,
    /// Everything, including device credentials.
    Admin,
}

impl Scope {
    /// Every scope, in order.
    pub const ALL: [Scope; 4] = [Scope::Read, Scope::Write, Scope::Deploy, Scope::Admin];

    /// The scope's name, as tokens and messages spell it.
    pub fn as_str(self) -> &'static str {
        match self {
            Scope::Read => "read",
            Scope::Write => "write",
            Scope::Deploy => "deploy",
            Scope::Admin => "admin",
        }
    }

    fn bit(self) -> u8 {
        1 << (self as u8)
    }
}

impl std::fmt::Display for Scope {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for Scope {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Scope::ALL
            .into_iter()
            .find(|scope| scope.as_str().eq_ignore_ascii_case(s.trim()))
            .ok_or_else(|| format!("{s:?} is not a scope (read, write, deploy or admin)"))
    }
}

/// The scopes a token carries.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Scopes(u8);

impl Scopes {
    /// Every scope (what a token given on the command line carries).
    pub const ADMIN: Scopes = Scopes(1 << 3);

    /// The set of `scopes`.
    pub fn of(scopes: &[Scope]) -> Self {
        Self(scopes.iter().fold(0, |bits, s| bits | s.bit()))
    }

    /// The scopes in the set, in order.
    pub fn list(self) -> Vec<Scope> {
        Scope::ALL.into_iter().filter(|s| self.0 & s.bit() != 0).collect()
    }

    /// Whether the set grants `needed`: `admin` grants everything, and every token may read.
    pub fn grants(self, needed: Scope) -> bool {
        self.0 & Scope::Admin.bit() != 0 || needed == Scope::Read || self.0 & needed.bit() != 0
    }
}

/// What a route needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// Nothing: the page's files, health.
    Public,
    /// A read: open, or any token when reads are closed.
    Read,
    /// A token with this scope.
    Scoped(Scope),
}

/// Whether reads need a token.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Reads {
    /// Anyone may read (the default: a registry inside a plant's network).
    #[default]
    Open,
    /// Reads need a token (any scope).
    Closed,
}

/// Who is calling.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Caller {
    /// No token.
    Anonymous,
    /// A known token.
    Token {
        /// The token's name (never its secret).
        name: String,
        /// What it may do.
        scopes: Scopes,
    },
}

impl Caller {
    /// Whether the caller holds `scope`.
    pub fn holds(&self, scope: Scope) -> bool {
        match self {
            Caller::Anonymous => false,
            Caller::Token { scopes, .. } => scopes.grants(scope),
        }
    }
}

/// Why a request was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Denied {
    /// No token where one is needed.
    #[error("this operation requires `Authorization: Bearer <token>` with the {0} scope")]
    Missing(Scope),
    /// A token that is not known (or was revoked).
    #[error("the bearer token is not valid")]
    Invalid,
    /// A known token without the scope.
    #[error("the token {name:?} does not carry the {needed} scope (it carries: {held})")]
    InsufficientScope {
        /// The token's name.
        name: String,
        /// The scope needed.
        needed: Scope,
        /// The scopes it carries, comma-separated.
        held: String,
    },
    /// The service has no token at all, so nothing that needs one can happen.
    #[error("this server has no tokens (start it with --token or SEAM_TOKEN, or create one with `seam tokens create`), so the {0} scope cannot be granted")]
    NoTokens(Scope),
}

/// Who may do what on one service: its tokens and whether reads are open.
#[derive(Debug)]
pub struct Policy {
    reads: Reads,
    keyring: Keyring,
}

impl Policy {
    /// A policy over `keyring`, with reads `reads`.
    pub fn new(keyring: Keyring, reads: Reads) -> Self {
        Self { reads, keyring }
    }

    /// Whether reads need a token.
    pub fn reads(&self) -> Reads {
        self.reads
    }

    /// Whether any token exists now (else every write is refused).
    pub fn has_tokens(&self) -> bool {
        self.keyring.has_tokens()
    }

    /// Who presents `bearer` (the credentials of an `Authorization: Bearer` header): anonymous
    /// without one, an error for a token that is not known.
    pub fn identify(&self, bearer: Option<&str>) -> Result<Caller, Denied> {
        let Some(token) = bearer else {
            return Ok(Caller::Anonymous);
        };
        self.keyring
            .find(token)
            .map(|(name, scopes)| Caller::Token { name, scopes })
            .ok_or(Denied::Invalid)
    }

    /// Who presents `bearer`, when they may do what `access` names. A public route looks at no
    /// credentials (a stale token in a browser must not hide the page); on a service with no
    /// tokens at all, the refusal says that nothing can be granted here rather than that this
    /// token is wrong.
    pub fn admit(&self, bearer: Option<&str>, access: Access) -> Result<Caller, Denied> {
        if access == Access::Public {
            return Ok(Caller::Anonymous);
        }
        let caller = match (self.identify(bearer), access) {
            (Err(Denied::Invalid), Access::Scoped(scope)) if !self.has_tokens() => return Err(Denied::NoTokens(scope)),
            (identified, _) => identified?,
        };
        self.check(&caller, access)?;
        Ok(caller)
    }

    /// Whether `caller` may do what `access` names.
    pub fn check(&self, caller: &Caller, access: Access) -> Result<(), Denied> {
        let needed = match access {
            Access::Public => return Ok(()),
            Access::Read if self.reads == Reads::Open => return Ok(()),
            Access::Read => Scope::Read,
            Access::Scoped(scope) => scope,
        };
        match caller {
            Caller::Token { scopes, .. } if scopes.grants(needed) => Ok(()),
            Caller::Token { name, scopes } => Err(Denied::InsufficientScope {
                name: name.clone(),
                needed,
                held: scopes.list().iter().map(|s| s.as_str()).collect::<Vec<_>>().join(", "),
            }),
            Caller::Anonymous if !self.has_tokens() => Err(Denied::NoTokens(needed)),
            Caller::Anonymous => Err(Denied::Missing(needed)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn admin_grants_everything_and_every_token_reads() {
        let deploy = Scopes::of(&[Scope::Deploy]);
        assert!(deploy.grants(Scope::Read));
        assert!(deploy.grants(Scope::Deploy));
        assert!(!deploy.grants(Scope::Write));
        assert!(!deploy.grants(Scope::Admin));
        for scope in Scope::ALL {
            assert!(Scopes::ADMIN.grants(scope));
        }
        assert!(!Scopes::default().grants(Scope::Write));
    }

    #[test]
    fn scopes_parse_by_name_only() {
        assert_eq!("Deploy".parse::<Scope>(), Ok(Scope::Deploy));
        assert!("root".parse::<Scope>().is_err());
        assert!("".parse::<Scope>().is_err());
    }

    #[test]
    fn closed_reads_need_a_token_and_open_ones_do_not() {
        let keyring = Keyring::with_tokens(&["t0k"]);
        let open = Policy::new(keyring.clone(), Reads::Open);
        let closed = Policy::new(keyring, Reads::Closed);
        assert_eq!(open.check(&Caller::Anonymous, Access::Read), Ok(()));
        assert_eq!(
            closed.check(&Caller::Anonymous, Access::Read),
            Err(Denied::Missing(Scope::Read))
        );
        let caller = closed.identify(Some("t0k")).unwrap();
        assert_eq!(closed.check(&caller, Access::Read), Ok(()));
        assert_eq!(closed.identify(Some("t0K")), Err(Denied::Invalid));
    }
}
