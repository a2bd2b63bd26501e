//! Fenced writes: a kv write (or transaction) that applies only while the election term or the
//! lock fencing token it was made under is still current. The check runs in the state machine,
//! at apply time, so a deposed leader's write that was already in flight is refused too.

use alloc::format;
use alloc::string::{String, ToString};
use core::fmt;
use core::str::FromStr;

use serde::{Deserialize, Serialize};

use super::error::OrchestratorError;
use super::validate::{self, Field, ValidationError};
use super::Orchestrator;

/// What a write is fenced by. Its text form is `election:NAME:TERM` or `lock:NAME:TOKEN`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum WriteFence {
    /// Applies only while election `name`'s leader holds term `term`.
    Election {
        /// The election.
        name: String,
        /// The term the writer leads with.
        term: u64,
    },
    /// Applies only while lock `name` is held with fencing token `token`.
    Lock {
        /// The lock.
        name: String,
        /// The fencing token the writer holds it with.
        token: u64,
    },
}

impl WriteFence {
    /// Checks the name.
    pub fn validate(&self) -> Result<(), ValidationError> {
        match self {
            Self::Election { name, .. } => validate::name(Field::ElectionName, name),
            Self::Lock { name, .. } => validate::name(Field::LockName, name),
        }
    }
}

impl fmt::Display for WriteFence {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Election { name, term } => write!(f, "election:{name}:{term}"),
            Self::Lock { name, token } => write!(f, "lock:{name}:{token}"),
        }
    }
}

impl FromStr for WriteFence {
    type Err = String;

    /// Reads `election:NAME:TERM` or `lock:NAME:TOKEN` (names cannot hold `:`).
    fn from_str(s: &str) -> Result<Self, String> {
        let bad = || format!("fence {s:?} is not election:NAME:TERM or lock:NAME:TOKEN");
        let mut parts = s.split(':');
        let (Some(kind), Some(name), Some(number), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(bad());
        };
        let number: u64 = number.parse().map_err(|_| bad())?;
        let fence = match kind {
            "election" => Self::Election {
                name: name.into(),
                term: number,
            },
            "lock" => Self::Lock {
                name: name.into(),
                token: number,
            },
            _ => return Err(bad()),
        };
        fence.validate().map_err(|e| format!("{}: {e}", bad()))?;
        Ok(fence)
    }
}

impl Orchestrator {
    /// `Ok` while `fence` holds now; [`OrchestratorError::FencedOut`] with what is current
    /// otherwise.
    pub(crate) fn check_fence(&self, fence: &WriteFence) -> Result<(), OrchestratorError> {
        let current = match fence {
            WriteFence::Election { name, .. } => self.elections.leader(name).map(|l| l.term),
            WriteFence::Lock { name, .. } => self.locks.holder(name).map(|h| h.fencing_token),
        };
        let wanted = match fence {
            WriteFence::Election { term, .. } => *term,
            WriteFence::Lock { token, .. } => *token,
        };
        if current == Some(wanted) {
            Ok(())
        } else {
            Err(OrchestratorError::FencedOut {
                fence: fence.to_string(),
                current,
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_form_round_trips() {
        for text in ["election:sched:7", "lock:db.main:12"] {
            let fence: WriteFence = text.parse().unwrap();
            assert_eq!(fence.to_string(), text);
        }
        assert_eq!(
            "lock:db:3".parse(),
            Ok(WriteFence::Lock {
                name: "db".into(),
                token: 3
            })
        );
        for bad in [
            "",
            "lock:db",
            "lock:db:x",
            "lock:db:1:2",
            "mutex:db:1",
            "lock::1",
            "lock:.db:1",
            "election:a b:1",
        ] {
            assert!(bad.parse::<WriteFence>().is_err(), "{bad:?}");
        }
    }
}
