//! Fences: the election term or lock token a write is made under. The server checks it when it
//! applies the write and refuses a stale one with 409 `fenced_out`.

use core::fmt;

/// A fence to attach to a write.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Fence {
    /// Passes only while election `name`'s leader has term `term`.
    Election {
        /// The election.
        name: String,
        /// The leader's term.
        term: u64,
    },
    /// Passes only while lock `name` is held with fencing token `token`.
    Lock {
        /// The lock.
        name: String,
        /// Its fencing token.
        token: u64,
    },
}

impl fmt::Display for Fence {
    /// The wire form: `election:NAME:TERM` or `lock:NAME:TOKEN`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Fence::Election { name, term } => write!(f, "election:{name}:{term}"),
            Fence::Lock { name, token } => write!(f, "lock:{name}:{token}"),
        }
    }
}

impl Fence {
    /// The `fence=...` query pair, encoded.
    pub(crate) fn query(&self) -> String {
        format!(
            "fence={}",
            crate::transport::encode(&self.to_string(), false)
        )
    }
}

#[cfg(test)]
mod tests {
    use super::Fence;

    #[test]
    fn wire_form() {
        let f = Fence::Election {
            name: "bot.leader".into(),
            term: 7,
        };
        assert_eq!(f.to_string(), "election:bot.leader:7");
        assert_eq!(f.query(), "fence=election%3Abot.leader%3A7");
        let l = Fence::Lock {
            name: "db".into(),
            token: 9,
        };
        assert_eq!(l.to_string(), "lock:db:9");
    }
}
