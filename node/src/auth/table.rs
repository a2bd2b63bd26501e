//! The auth file (`--auth-file`, TOML) and the token table it loads into.
//!
//! ```toml
//! [[token]]
//! name = "ops"
//! secret_sha256 = "…64 hex digits…"   # or: secret = "…"
//! role = "admin"
//!
//! [[token]]
//! name = "bot"
//! secret = "…"
//! role = "write"
//! prefixes = ["bot/"]                  # kv keys, locks, elections and services it may name
//! rate = 100                           # requests a second (optional; see `rate`)
//! burst = 200                          # at once (optional; default: rate)
//! ```

use std::collections::HashMap;
use std::fmt;
use std::path::Path;
use std::sync::Arc;

use serde::Deserialize;

use super::rate::RateLimit;
use super::secret::SecretDigest;

/// What a token may do; each role includes the ones before it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Reads: kv, services, routes, locks and elections as they stand, watches, status.
    Read,
    /// Reads and writes of the replicated state (kv, registry, leases, locks, elections,
    /// deployments).
    Write,
    /// Everything, including membership, leader transfer and the debug routes.
    Admin,
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Role::Read => "read",
            Role::Write => "write",
            Role::Admin => "admin",
        })
    }
}

/// Who sent a request: the token it presented, as the handlers see it (a request extension).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Caller {
    /// The token's name (never its secret).
    pub name: String,
    /// Its role.
    pub role: Role,
    /// The prefixes every kv key, lock, election and service it names must start with; empty:
    /// unrestricted.
    pub prefixes: Vec<String>,
}

impl Caller {
    /// Whether this caller may name `resource` (a kv key, lock, election or service name).
    pub fn permits(&self, resource: &str) -> bool {
        self.prefixes.is_empty() || self.prefixes.iter().any(|p| resource.starts_with(p))
    }
}

/// One `[[token]]` entry as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct TokenEntry {
    name: String,
    secret: Option<String>,
    secret_sha256: Option<String>,
    role: Role,
    #[serde(default)]
    prefixes: Vec<String>,
    rate: Option<u32>,
    burst: Option<u32>,
}

/// The whole file.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct AuthFile {
    #[serde(default)]
    token: Vec<TokenEntry>,
}

/// The shortest plain `secret` accepted: anything shorter is guessable over the network.
pub const MIN_SECRET_LEN: usize = 16;

/// The tokens a node accepts.
#[derive(Debug)]
pub struct TokenTable {
    tokens: Vec<(SecretDigest, Arc<Caller>)>,
    /// The tokens given a `rate`, by name.
    limits: HashMap<String, RateLimit>,
}

impl TokenTable {
    /// Reads and checks the auth file at `path`.
    pub fn load(path: &Path) -> Result<Self, String> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| format!("cannot read the auth file {}: {e}", path.display()))?;
        Self::parse(&text).map_err(|e| format!("auth file {}: {e}", path.display()))
    }

    /// Parses and checks an auth file's text: every name and secret unique, exactly one of
    /// `secret` and `secret_sha256` per token, no scoped admin, at least one token.
    pub fn parse(text: &str) -> Result<Self, String> {
        let file: AuthFile = toml::from_str(text).map_err(|e| e.to_string())?;
        if file.token.is_empty() {
            return Err("no [[token]] entries: no request could be authorized".into());
        }
        let mut tokens: Vec<(SecretDigest, Arc<Caller>)> = Vec::new();
        let mut limits = HashMap::new();
        for t in file.token {
            let name = t.name;
            if name.trim().is_empty() {
                return Err("a token has an empty name".into());
            }
            if tokens.iter().any(|(_, c)| c.name == name) {
                return Err(format!("token {name:?} appears twice"));
            }
            let digest = match (t.secret, t.secret_sha256) {
                (Some(s), None) if s.chars().count() >= MIN_SECRET_LEN => SecretDigest::of(&s),
                (Some(_), None) => {
                    return Err(format!(
                        "token {name:?}: the secret is shorter than {MIN_SECRET_LEN} characters"
                    ))
                }
                (None, Some(h)) => SecretDigest::from_hex(h.trim())
                    .ok_or_else(|| format!("token {name:?}: secret_sha256 is not 64 hex digits"))?,
                _ => {
                    return Err(format!(
                        "token {name:?}: give exactly one of secret and secret_sha256"
                    ))
                }
            };
            if tokens.iter().any(|(d, _)| d.matches(&digest)) {
                return Err(format!(
                    "token {name:?} has the same secret as another token"
                ));
            }
            if t.prefixes.iter().any(String::is_empty) {
                return Err(format!(
                    "token {name:?}: an empty prefix scopes nothing; leave prefixes out instead"
                ));
            }
            if t.role == Role::Admin && !t.prefixes.is_empty() {
                return Err(format!(
                    "token {name:?}: an admin token cannot be scoped to prefixes"
                ));
            }
            match (t.rate, t.burst) {
                (Some(rate), burst) => {
                    let limit = RateLimit::new(rate, burst, &format!("token {name:?}"))?;
                    limits.insert(name.clone(), limit);
                }
                (None, Some(_)) => {
                    return Err(format!("token {name:?}: burst without rate"));
                }
                (None, None) => {}
            }
            let caller = Caller {
                name,
                role: t.role,
                prefixes: t.prefixes,
            };
            tokens.push((digest, Arc::new(caller)));
        }
        Ok(TokenTable { tokens, limits })
    }

    /// How many tokens the table holds.
    pub fn len(&self) -> usize {
        self.tokens.len()
    }

    /// Whether it holds none (never, once loaded).
    pub fn is_empty(&self) -> bool {
        self.tokens.is_empty()
    }

    /// The rate limit the file gives token `name`, if any.
    pub fn limit(&self, name: &str) -> Option<RateLimit> {
        self.limits.get(name).copied()
    }

    /// Whether the table holds a token named `name`.
    pub fn has(&self, name: &str) -> bool {
        self.tokens.iter().any(|(_, c)| c.name == name)
    }

    /// The token whose secret is `secret`, if any. Every token's digest is compared, in
    /// constant time, whichever matches.
    pub fn lookup(&self, secret: &str) -> Option<Arc<Caller>> {
        let presented = SecretDigest::of(secret);
        let mut found = None;
        for (digest, caller) in &self.tokens {
            if digest.matches(&presented) {
                found = Some(caller.clone());
            }
        }
        found
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const FILE: &str = r#"
        [[token]]
        name = "ops"
        secret = "admin-secret-0123456789"
        role = "admin"

        [[token]]
        name = "bot"
        secret_sha256 = "SHA"
        role = "write"
        prefixes = ["bot/", "shared/"]
        rate = 5
    "#;

    fn file() -> String {
        FILE.replace("SHA", &SecretDigest::of("bot-secret-0123456789").to_hex())
    }

    #[test]
    fn tokens_are_found_by_secret_in_either_form() {
        let table = TokenTable::parse(&file()).unwrap();
        assert_eq!(table.len(), 2);
        let ops = table.lookup("admin-secret-0123456789").unwrap();
        assert_eq!((ops.name.as_str(), ops.role), ("ops", Role::Admin));
        let bot = table.lookup("bot-secret-0123456789").unwrap();
        assert_eq!(bot.role, Role::Write);
        assert!(bot.permits("bot/x") && bot.permits("shared/y"));
        assert!(!bot.permits("other/x") && !bot.permits("bot"));
        assert!(ops.permits("anything"));
        assert!(table.lookup("admin-secret-012345678").is_none());
        assert!(table.lookup("").is_none());
        assert_eq!(table.limit("bot"), Some(RateLimit { rate: 5, burst: 5 }));
        assert_eq!(table.limit("ops"), None);
        assert!(table.has("ops") && !table.has("nobody"));
    }

    #[test]
    fn bad_files_are_refused_with_the_reason() {
        let cases = [
            ("", "no [[token]]"),
            ("[[token]]\nname = \"a\"\nrole = \"read\"\n", "exactly one"),
            (
                "[[token]]\nname = \"a\"\nsecret = \"short\"\nrole = \"read\"\n",
                "shorter",
            ),
            (
                "[[token]]\nname = \"a\"\nsecret_sha256 = \"abc\"\nrole = \"read\"\n",
                "64 hex",
            ),
            (
                "[[token]]\nname = \"a\"\nsecret = \"0123456789abcdef\"\nrole = \"root\"\n",
                "unknown variant",
            ),
            (
                "[[token]]\nname = \"a\"\nsecret = \"0123456789abcdef\"\nrole = \"admin\"\n\
                 prefixes = [\"x/\"]\n",
                "cannot be scoped",
            ),
            (
                "[[token]]\nname = \"a\"\nsecret = \"0123456789abcdef\"\nrole = \"read\"\n\
                 [[token]]\nname = \"a\"\nsecret = \"0123456789abcdeg\"\nrole = \"read\"\n",
                "twice",
            ),
            (
                "[[token]]\nname = \"a\"\nsecret = \"0123456789abcdef\"\nrole = \"read\"\n\
                 [[token]]\nname = \"b\"\nsecret = \"0123456789abcdef\"\nrole = \"read\"\n",
                "same secret",
            ),
            (
                "[[token]]\nname = \"a\"\nsecret = \"0123456789abcdef\"\nrole = \"read\"\n\
                 colour = \"red\"\n",
                "unknown field",
            ),
            (
                "[[token]]\nname = \"a\"\nsecret = \"0123456789abcdef\"\nrole = \"read\"\n\
                 rate = 0\n",
                "at least 1",
            ),
            (
                "[[token]]\nname = \"a\"\nsecret = \"0123456789abcdef\"\nrole = \"read\"\n\
                 burst = 3\n",
                "burst without rate",
            ),
        ];
        for (text, why) in cases {
            let e = TokenTable::parse(text).unwrap_err();
            assert!(e.contains(why), "{text:?}: {e}");
        }
    }
}
