//! Secrets as SHA-256 digests, compared in constant time.
//!
//! A node never keeps a token's secret, only its digest (read from `secret_sha256`, or hashed
//! once from `secret` when the file is loaded). A presented secret is hashed and its digest
//! compared with every token's with [`subtle::ConstantTimeEq`]: the comparison takes the same
//! time wherever the digests differ, and comparing digests rather than the secrets themselves
//! also hides the secrets' lengths.

use sha2::{Digest as _, Sha256};
use subtle::ConstantTimeEq;

/// The SHA-256 digest of a secret. Deliberately not `PartialEq`: the only comparison is
/// [`SecretDigest::matches`], in constant time.
#[derive(Clone, Copy)]
pub struct SecretDigest([u8; 32]);

impl std::fmt::Debug for SecretDigest {
    // Not the digest itself: a log line must not give an offline guesser something to test.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SecretDigest(..)")
    }
}

impl SecretDigest {
    /// The digest of `secret`.
    pub fn of(secret: &str) -> Self {
        SecretDigest(Sha256::digest(secret.as_bytes()).into())
    }

    /// Parses 64 hex digits (either case), as written in `secret_sha256`.
    pub fn from_hex(hex: &str) -> Option<Self> {
        let hex = hex.as_bytes();
        if hex.len() != 64 {
            return None;
        }
        let mut out = [0u8; 32];
        for (byte, pair) in out.iter_mut().zip(hex.chunks_exact(2)) {
            let digit = |c: u8| char::from(c).to_digit(16);
            *byte = u8::try_from(digit(pair[0])? * 16 + digit(pair[1])?).ok()?;
        }
        Some(SecretDigest(out))
    }

    /// Lowercase hex, as `secret_sha256` takes it.
    pub fn to_hex(&self) -> String {
        self.0.iter().map(|b| format!("{b:02x}")).collect()
    }

    /// Whether the two digests are equal, in time independent of where they differ.
    pub fn matches(&self, other: &SecretDigest) -> bool {
        self.0.ct_eq(&other.0).into()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digests_are_sha256_and_round_trip_through_hex() {
        // SHA-256("abc"), FIPS 180-2 appendix B.1.
        let abc = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad";
        let of_abc = SecretDigest::of("abc");
        assert_eq!(of_abc.to_hex(), abc);
        assert!(SecretDigest::from_hex(abc).unwrap().matches(&of_abc));
        assert!(SecretDigest::from_hex(&abc.to_uppercase())
            .unwrap()
            .matches(&of_abc));
        assert!(SecretDigest::from_hex(&abc[1..]).is_none());
        assert!(SecretDigest::from_hex(&abc.replace('b', "g")).is_none());
    }

    #[test]
    fn matching_is_equality() {
        let a = SecretDigest::of("one");
        assert!(a.matches(&SecretDigest::of("one")));
        assert!(!a.matches(&SecretDigest::of("two")));
        assert_eq!(format!("{a:?}"), "SecretDigest(..)");
    }
}
