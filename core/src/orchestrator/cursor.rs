//! Watch cursors (`INDEX` or `INDEX.POS`) and key filters.

use alloc::string::String;
use core::fmt;
use core::str::FromStr;

use serde::{Deserialize, Serialize};

/// Where an event sits in the history: `(index, pos)`, ordered by index then position.
///
/// As a watch's `after`, a cursor means "every event up to and including this one";
/// [`Cursor::after_entry`] (position `u32::MAX`) means "every event of entry `index`". Written
/// `INDEX.POS`, or `INDEX` for a whole entry.
#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
)]
pub struct Cursor {
    /// The log index of the entry.
    pub index: u64,
    /// The event's position among the entry's events, from 0.
    pub pos: u32,
}

impl Cursor {
    /// The event at `pos` of entry `index`.
    pub const fn new(index: u64, pos: u32) -> Self {
        Cursor { index, pos }
    }

    /// Past every event of entry `index` (and of every entry before it).
    pub const fn after_entry(index: u64) -> Self {
        Cursor {
            index,
            pos: u32::MAX,
        }
    }
}

impl fmt::Display for Cursor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.pos == u32::MAX {
            write!(f, "{}", self.index)
        } else {
            write!(f, "{}.{}", self.index, self.pos)
        }
    }
}

/// A cursor that is not `INDEX` or `INDEX.POS` (decimal).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BadCursor;

impl fmt::Display for BadCursor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a cursor is INDEX or INDEX.POS (non-negative integers)")
    }
}

impl core::error::Error for BadCursor {}

impl FromStr for Cursor {
    type Err = BadCursor;

    fn from_str(s: &str) -> Result<Self, BadCursor> {
        let digits = |t: &str| !t.is_empty() && t.bytes().all(|b| b.is_ascii_digit());
        match s.split_once('.') {
            None if digits(s) => Ok(Cursor::after_entry(s.parse().map_err(|_| BadCursor)?)),
            Some((i, p)) if digits(i) && digits(p) => Ok(Cursor::new(
                i.parse().map_err(|_| BadCursor)?,
                p.parse().map_err(|_| BadCursor)?,
            )),
            _ => Err(BadCursor),
        }
    }
}

/// Which event keys a watch wants.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum EventFilter {
    /// Keys starting with this (`""` is every event).
    Prefix(String),
    /// Exactly this key: `kv/locks/db` does not match `kv/locks/db2`.
    Exact(String),
}

impl EventFilter {
    /// Whether an event with `key` passes.
    pub fn matches(&self, key: &str) -> bool {
        match self {
            EventFilter::Prefix(p) => key.starts_with(p.as_str()),
            EventFilter::Exact(k) => key == k,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::string::ToString;

    #[test]
    fn cursors_parse_print_and_order() {
        assert_eq!("7".parse(), Ok(Cursor::after_entry(7)));
        assert_eq!("7.0".parse(), Ok(Cursor::new(7, 0)));
        assert_eq!("7.4294967295".parse(), Ok(Cursor::after_entry(7)));
        for bad in [
            "",
            ".",
            "7.",
            ".1",
            "-1",
            "7.1.2",
            "7.x",
            "+7",
            "7.4294967296",
            " 7",
        ] {
            assert_eq!(bad.parse::<Cursor>(), Err(BadCursor), "{bad:?}");
        }
        assert_eq!(Cursor::new(7, 3).to_string(), "7.3");
        assert_eq!(Cursor::after_entry(7).to_string(), "7");
        assert!(Cursor::new(7, 3) < Cursor::new(7, 4));
        assert!(Cursor::after_entry(7) < Cursor::new(8, 0));
        assert!(Cursor::new(7, 1_000_000) < Cursor::after_entry(7));
    }

    #[test]
    fn exact_filter_is_not_a_prefix() {
        let f = EventFilter::Exact("kv/locks/db".into());
        assert!(f.matches("kv/locks/db"));
        assert!(!f.matches("kv/locks/db2"));
        assert!(!f.matches("kv/locks/d"));
        assert!(EventFilter::Prefix("kv/locks/db".into()).matches("kv/locks/db2"));
    }
}
