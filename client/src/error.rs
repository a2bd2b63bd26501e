//! One error type for every client call, a variant per cause.

use core::fmt;
use core::time::Duration;

/// What went wrong with a call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Error {
    /// The server answered with an error (`{"error": {"code", "message"}}`).
    Api {
        /// HTTP status.
        status: u16,
        /// The stable machine-readable code (`key_not_found`, `cas_failed`, ...).
        code: String,
        /// For humans.
        message: String,
    },
    /// A fenced write was refused: the election term or lock token it carried is no longer
    /// current (409 `fenced_out`). The write was not applied.
    FencedOut {
        /// The server's explanation.
        message: String,
    },
    /// A watch cursor is older than the retained history (410 `compacted`).
    Compacted {
        /// The newest index the server dropped, when it says.
        compacted_index: Option<u64>,
    },
    /// No endpoint gave an answer before the call's deadline (transport errors or 503s).
    /// For a write the outcome is unknown: it may have been applied.
    Unavailable {
        /// How long the call tried.
        after: Duration,
        /// The last failure seen.
        last: String,
    },
    /// This instance does not hold the leadership (or lock) the call needs.
    NotLeader,
    /// The session's lease is gone (expired, revoked, or past its local deadline).
    SessionLost,
    /// A wait ended before what it waited for happened.
    Timeout,
    /// The server's answer is not what the API documents.
    Protocol(String),
    /// A value could not be (de)serialized.
    Codec(String),
    /// The configuration is invalid.
    Config(String),
    /// The client (or state manager) was closed.
    Closed,
}

impl Error {
    /// The API error code, for `Api` errors.
    pub fn code(&self) -> Option<&str> {
        match self {
            Error::Api { code, .. } => Some(code),
            Error::FencedOut { .. } => Some("fenced_out"),
            Error::Compacted { .. } => Some("compacted"),
            _ => None,
        }
    }

    /// Whether this is an API error with `code`.
    pub fn is(&self, code: &str) -> bool {
        self.code() == Some(code)
    }

    /// Whether the API refused a query parameter or body field this server does not know
    /// (an older server): the caller may fall back to an older form of the request.
    pub(crate) fn is_unknown_param(&self, name: &str) -> bool {
        match self {
            Error::Api {
                status: 400,
                code,
                message,
            } => {
                (code == "unknown_field" && message.contains(&format!("`{name}`")))
                    || (message.starts_with("unknown query parameter")
                        && message.contains(&format!("\"{name}\"")))
            }
            _ => false,
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Api {
                status,
                code,
                message,
            } => write!(f, "{status} {code}: {message}"),
            Error::FencedOut { message } => write!(f, "fenced out: {message}"),
            Error::Compacted { compacted_index } => match compacted_index {
                Some(i) => write!(f, "watch history compacted through index {i}"),
                None => write!(f, "watch history compacted"),
            },
            Error::Unavailable { after, last } => {
                write!(f, "no endpoint answered within {after:?} (last: {last})")
            }
            Error::NotLeader => write!(f, "this instance is not the leader"),
            Error::SessionLost => write!(f, "the session's lease is lost"),
            Error::Timeout => write!(f, "timed out"),
            Error::Protocol(m) => write!(f, "unexpected answer: {m}"),
            Error::Codec(m) => write!(f, "codec: {m}"),
            Error::Config(m) => write!(f, "invalid configuration: {m}"),
            Error::Closed => write!(f, "closed"),
        }
    }
}

impl std::error::Error for Error {}

/// Results of client calls.
pub type Result<T, E = Error> = core::result::Result<T, E>;
