//! Input rules, checked before a command touches any state so a refused command changes nothing.

use alloc::collections::BTreeMap;
use alloc::string::String;
use core::fmt;

use serde::{Deserialize, Serialize};

/// Longest service name, instance id, lock name, election name, candidate or version.
pub const MAX_NAME_LEN: usize = 128;
/// Longest kv key, in bytes.
pub const MAX_KEY_LEN: usize = 512;
/// Largest kv value, in bytes (64 KiB).
pub const MAX_VALUE_LEN: usize = 64 * 1024;
/// Most tags on one instance.
pub const MAX_TAGS: usize = 32;
/// Longest tag.
pub const MAX_TAG_LEN: usize = 128;
/// Most metadata entries on one instance.
pub const MAX_METADATA: usize = 64;
/// Longest metadata value, in bytes.
pub const MAX_METADATA_VALUE_LEN: usize = 1024;
/// Longest instance address (a DNS name is at most 253 characters).
pub const MAX_ADDRESS_LEN: usize = 253;
/// Longest member listen address: a DNS name (or a bracketed IPv6 address), `:`, a port.
pub const MAX_LISTEN_ADDRESS_LEN: usize = MAX_ADDRESS_LEN + 8;
/// Largest routing weight.
pub const MAX_WEIGHT: u16 = 1000;
/// Longest TTL of an instance or a lease: one day.
pub const MAX_TTL_MS: u64 = 24 * 60 * 60 * 1000;

/// The field a [`ValidationError`] is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Field {
    /// A service name.
    Service,
    /// An instance id.
    InstanceId,
    /// An instance address.
    Address,
    /// An instance port.
    Port,
    /// An instance version or a deployment's stable/canary version.
    Version,
    /// An instance routing weight.
    Weight,
    /// The list of tags.
    Tags,
    /// One tag.
    Tag,
    /// The metadata map.
    Metadata,
    /// One metadata key.
    MetadataKey,
    /// One metadata value.
    MetadataValue,
    /// An instance or lease TTL.
    TtlMs,
    /// A kv key.
    Key,
    /// A kv value.
    Value,
    /// A lock name.
    LockName,
    /// An election name.
    ElectionName,
    /// An election candidate.
    Candidate,
    /// A deployment's canary steps.
    Steps,
    /// A Raft node id.
    NodeId,
    /// A member's Raft transport address.
    PeerAddr,
    /// A member's HTTP API address.
    ApiAddr,
    /// A write's fence.
    Fence,
    /// The compares of a transaction.
    TxnCompares,
    /// A branch of a transaction.
    TxnOps,
    /// The value a candidate campaigns with.
    ElectionValue,
}

/// The rule a field broke.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Rule {
    /// It must not be empty.
    Empty,
    /// It is longer than `max` (characters, bytes or entries, as the field counts).
    TooLong {
        /// The limit.
        max: u64,
    },
    /// It holds a character outside the allowed set.
    BadChar,
    /// A name must not start with `.`.
    LeadingDot,
    /// A number outside `min..=max`.
    OutOfRange {
        /// Smallest allowed.
        min: u64,
        /// Largest allowed.
        max: u64,
    },
    /// Canary steps must be strictly increasing.
    NotIncreasing,
    /// The canary version must differ from the stable one.
    SameVersion,
    /// An address must be `HOST:PORT` with a port in 1..=65535 (an IPv6 host in brackets).
    NotHostPort,
    /// Only kv writes and transactions can be fenced.
    NotFenceable,
}

/// A field that broke a rule: which field, which rule.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ValidationError {
    /// The field.
    pub field: Field,
    /// The rule.
    pub rule: Rule,
}

impl fmt::Display for ValidationError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}: ", self.field)?;
        match self.rule {
            Rule::Empty => write!(f, "must not be empty"),
            Rule::TooLong { max } => write!(f, "longer than {max}"),
            Rule::BadChar => write!(f, "holds a character outside the allowed set"),
            Rule::LeadingDot => write!(f, "must not start with '.'"),
            Rule::OutOfRange { min, max } => write!(f, "must be within {min}..={max}"),
            Rule::NotIncreasing => write!(f, "must be strictly increasing"),
            Rule::SameVersion => write!(f, "canary version must differ from the stable version"),
            Rule::NotHostPort => write!(f, "must be HOST:PORT with a port in 1..=65535"),
            Rule::NotFenceable => write!(f, "only kv puts, deletes and transactions can be fenced"),
        }
    }
}

fn fail(field: Field, rule: Rule) -> Result<(), ValidationError> {
    Err(ValidationError { field, rule })
}

/// A name (service, instance, lock, election, candidate): 1..=128 of `[A-Za-z0-9._-]`, not
/// starting with `.`.
pub fn name(field: Field, s: &str) -> Result<(), ValidationError> {
    if s.is_empty() {
        return fail(field, Rule::Empty);
    }
    if s.len() > MAX_NAME_LEN {
        return fail(
            field,
            Rule::TooLong {
                max: MAX_NAME_LEN as u64,
            },
        );
    }
    if !s
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
    {
        return fail(field, Rule::BadChar);
    }
    if s.starts_with('.') {
        return fail(field, Rule::LeadingDot);
    }
    Ok(())
}

/// Printable ASCII without spaces, 1..=`max` bytes.
fn token(field: Field, s: &str, max: usize) -> Result<(), ValidationError> {
    if s.is_empty() {
        return fail(field, Rule::Empty);
    }
    if s.len() > max {
        return fail(field, Rule::TooLong { max: max as u64 });
    }
    if !s.bytes().all(|b| b.is_ascii_graphic()) {
        return fail(field, Rule::BadChar);
    }
    Ok(())
}

/// A version: 1..=128 bytes of printable ASCII without spaces (so `1.2.0+build.7` is fine).
pub fn version(s: &str) -> Result<(), ValidationError> {
    token(Field::Version, s, MAX_NAME_LEN)
}

/// An instance address: 1..=253 bytes of printable ASCII without spaces.
pub fn address(s: &str) -> Result<(), ValidationError> {
    token(Field::Address, s, MAX_ADDRESS_LEN)
}

/// A kv key: 1..=512 bytes of printable ASCII without spaces; `/` is allowed.
pub fn key(s: &str) -> Result<(), ValidationError> {
    token(Field::Key, s, MAX_KEY_LEN)
}

/// A kv value: at most 64 KiB.
pub fn value(v: &[u8]) -> Result<(), ValidationError> {
    if v.len() > MAX_VALUE_LEN {
        return fail(
            Field::Value,
            Rule::TooLong {
                max: MAX_VALUE_LEN as u64,
            },
        );
    }
    Ok(())
}

fn range(field: Field, v: u64, min: u64, max: u64) -> Result<(), ValidationError> {
    if v < min || v > max {
        return fail(field, Rule::OutOfRange { min, max });
    }
    Ok(())
}

/// A TTL: 1 ms ..= 24 h.
pub fn ttl_ms(v: u64) -> Result<(), ValidationError> {
    range(Field::TtlMs, v, 1, MAX_TTL_MS)
}

/// A port: 1..=65535.
pub fn port(v: u16) -> Result<(), ValidationError> {
    range(Field::Port, u64::from(v), 1, 65535)
}

/// A weight: 0..=1000 (0 keeps the instance registered but out of routing).
pub fn weight(v: u16) -> Result<(), ValidationError> {
    range(Field::Weight, u64::from(v), 0, u64::from(MAX_WEIGHT))
}

/// Tags: at most 32, each 1..=128 bytes of printable ASCII without spaces.
pub fn tags(tags: &[String]) -> Result<(), ValidationError> {
    if tags.len() > MAX_TAGS {
        return fail(
            Field::Tags,
            Rule::TooLong {
                max: MAX_TAGS as u64,
            },
        );
    }
    tags.iter()
        .try_for_each(|t| token(Field::Tag, t, MAX_TAG_LEN))
}

/// Metadata: at most 64 entries; keys are 1..=128 bytes of printable ASCII without spaces,
/// values at most 1024 bytes.
pub fn metadata(m: &BTreeMap<String, String>) -> Result<(), ValidationError> {
    if m.len() > MAX_METADATA {
        return fail(
            Field::Metadata,
            Rule::TooLong {
                max: MAX_METADATA as u64,
            },
        );
    }
    for (k, v) in m {
        token(Field::MetadataKey, k, MAX_NAME_LEN)?;
        if v.len() > MAX_METADATA_VALUE_LEN {
            return fail(
                Field::MetadataValue,
                Rule::TooLong {
                    max: MAX_METADATA_VALUE_LEN as u64,
                },
            );
        }
    }
    Ok(())
}

/// A Raft node id: 1 or more (0 is reserved).
pub fn node_id(id: u64) -> Result<(), ValidationError> {
    range(Field::NodeId, id, 1, u64::MAX)
}

/// A member's listen address: `HOST:PORT`, 1..=261 bytes of printable ASCII without spaces and
/// without `,`, `@`, `=` or `/` (they delimit `--peer ID=PEER_ADDR@API_ADDR` and its lists), a
/// port in 1..=65535, and a host that is not empty and holds `:` only when bracketed (IPv6).
pub fn listen_address(field: Field, s: &str) -> Result<(), ValidationError> {
    token(field, s, MAX_LISTEN_ADDRESS_LEN)?;
    if s.bytes().any(|b| matches!(b, b',' | b'@' | b'=' | b'/')) {
        return fail(field, Rule::BadChar);
    }
    let Some((host, port)) = s.rsplit_once(':') else {
        return fail(field, Rule::NotHostPort);
    };
    let port_ok =
        port.bytes().all(|b| b.is_ascii_digit()) && port.parse::<u16>().is_ok_and(|p| p > 0);
    let bracketed = host.len() > 2 && host.starts_with('[') && host.ends_with(']');
    let host_ok = !host.is_empty() && (bracketed || !host.contains([':', '[', ']']));
    if !port_ok || !host_ok {
        return fail(field, Rule::NotHostPort);
    }
    Ok(())
}

/// Canary steps: non-empty, each 1..=100, strictly increasing.
pub fn steps(steps: &[u8]) -> Result<(), ValidationError> {
    if steps.is_empty() {
        return fail(Field::Steps, Rule::Empty);
    }
    steps
        .iter()
        .try_for_each(|&p| range(Field::Steps, u64::from(p), 1, 100))?;
    if steps.windows(2).any(|w| w[0] >= w[1]) {
        return fail(Field::Steps, Rule::NotIncreasing);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::string::ToString;
    use alloc::vec;

    fn rule(r: Result<(), ValidationError>) -> Rule {
        r.unwrap_err().rule
    }

    #[test]
    fn names() {
        assert!(name(Field::Service, "web-1.prod_a").is_ok());
        assert_eq!(rule(name(Field::Service, "")), Rule::Empty);
        assert_eq!(rule(name(Field::Service, ".hidden")), Rule::LeadingDot);
        assert_eq!(rule(name(Field::Service, "a/b")), Rule::BadChar);
        assert_eq!(rule(name(Field::Service, "a b")), Rule::BadChar);
        assert!(name(Field::Service, &"a".repeat(128)).is_ok());
        assert_eq!(
            rule(name(Field::Service, &"a".repeat(129))),
            Rule::TooLong { max: 128 }
        );
    }

    #[test]
    fn keys_and_values() {
        assert!(key("a/b/c").is_ok());
        assert_eq!(rule(key("")), Rule::Empty);
        assert_eq!(rule(key("a b")), Rule::BadChar);
        assert_eq!(rule(key("a\nb")), Rule::BadChar);
        assert_eq!(rule(key("é")), Rule::BadChar);
        assert!(key(&"k".repeat(512)).is_ok());
        assert_eq!(rule(key(&"k".repeat(513))), Rule::TooLong { max: 512 });
        assert!(value(&vec![0; MAX_VALUE_LEN]).is_ok());
        assert!(value(&vec![0; MAX_VALUE_LEN + 1]).is_err());
    }

    #[test]
    fn numbers() {
        assert!(ttl_ms(1).is_ok() && ttl_ms(MAX_TTL_MS).is_ok());
        assert_eq!(
            rule(ttl_ms(0)),
            Rule::OutOfRange {
                min: 1,
                max: MAX_TTL_MS
            }
        );
        assert!(ttl_ms(MAX_TTL_MS + 1).is_err());
        assert!(port(0).is_err() && port(1).is_ok() && port(65535).is_ok());
        assert!(weight(0).is_ok() && weight(1000).is_ok() && weight(1001).is_err());
    }

    #[test]
    fn tags_and_metadata() {
        assert!(tags(&vec!["a".to_string(); 32]).is_ok());
        assert_eq!(
            tags(&vec!["a".to_string(); 33]).unwrap_err().field,
            Field::Tags
        );
        assert_eq!(tags(&["x".repeat(129)]).unwrap_err().field, Field::Tag);
        let mut m = BTreeMap::new();
        m.insert("k".to_string(), "v".to_string());
        assert!(metadata(&m).is_ok());
        m.insert("".to_string(), "v".to_string());
        assert_eq!(metadata(&m).unwrap_err().field, Field::MetadataKey);
        let mut m = BTreeMap::new();
        m.insert("k".to_string(), "v".repeat(1025));
        assert_eq!(metadata(&m).unwrap_err().field, Field::MetadataValue);
        let m: BTreeMap<_, _> = (0..65).map(|i| (i.to_string(), String::new())).collect();
        assert_eq!(metadata(&m).unwrap_err().field, Field::Metadata);
    }

    #[test]
    fn canary_steps() {
        assert!(steps(&[1, 10, 50, 100]).is_ok());
        assert_eq!(rule(steps(&[])), Rule::Empty);
        assert_eq!(rule(steps(&[0, 10])), Rule::OutOfRange { min: 1, max: 100 });
        assert!(steps(&[10, 101]).is_err());
        assert_eq!(rule(steps(&[10, 10])), Rule::NotIncreasing);
        assert_eq!(rule(steps(&[20, 10])), Rule::NotIncreasing);
    }

    #[test]
    fn node_ids_and_listen_addresses() {
        assert!(node_id(1).is_ok() && node_id(u64::MAX).is_ok());
        assert!(node_id(0).is_err());
        for ok in [
            "127.0.0.1:7001",
            "db-4.example.com:1",
            "[::1]:8080",
            "h:65535",
        ] {
            assert!(listen_address(Field::PeerAddr, ok).is_ok(), "{ok}");
        }
        for (bad, expected) in [
            ("", Rule::Empty),
            ("host", Rule::NotHostPort),
            ("host:", Rule::NotHostPort),
            (":80", Rule::NotHostPort),
            ("host:0", Rule::NotHostPort),
            ("host:65536", Rule::NotHostPort),
            ("host:+80", Rule::NotHostPort),
            ("::1:80", Rule::NotHostPort),
            ("[]:80", Rule::NotHostPort),
            ("a b:80", Rule::BadChar),
            ("a@b:80", Rule::BadChar),
            ("http://a:80", Rule::BadChar),
            ("a,b:80", Rule::BadChar),
        ] {
            assert_eq!(
                rule(listen_address(Field::ApiAddr, bad)),
                expected,
                "{bad:?}"
            );
        }
        let long = alloc::format!("{}:80", "h".repeat(MAX_LISTEN_ADDRESS_LEN));
        assert_eq!(
            rule(listen_address(Field::ApiAddr, &long)),
            Rule::TooLong {
                max: MAX_LISTEN_ADDRESS_LEN as u64
            }
        );
    }

    #[test]
    fn messages_name_field_and_rule() {
        let e = name(Field::LockName, ".x").unwrap_err();
        assert_eq!(e.to_string(), "LockName: must not start with '.'");
    }
}
