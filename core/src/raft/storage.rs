//! Where a node's durable state comes from on start-up.

use alloc::vec::Vec;

use super::entry::{Entry, Snapshot};
use super::error::Error;
use super::types::{ConfState, HardState, LogIndex, Term};

/// Read access to a node's durable state, used when a node (re)starts.
///
/// The node keeps its uncompacted log in memory while running and tells the host what to make
/// durable through `Ready`; the host writes it to its storage, and a `Storage` gives it back.
pub trait Storage {
    /// The persisted hard state and the membership as of the snapshot (or the bootstrap
    /// membership when there is no snapshot).
    fn initial_state(&self) -> Result<(HardState, ConfState), Error>;

    /// Entries in `[lo, hi)`. Errors with [`Error::Compacted`] when `lo <= ` the snapshot
    /// index and [`Error::Unavailable`] when `hi > last_index() + 1`.
    fn entries(&self, lo: LogIndex, hi: LogIndex) -> Result<Vec<Entry>, Error>;

    /// The term of the entry at `index`; the snapshot index is answered from the snapshot.
    fn term(&self, index: LogIndex) -> Result<Term, Error>;

    /// The first index held as an entry (snapshot index + 1).
    fn first_index(&self) -> LogIndex;

    /// The index of the last entry (the snapshot index when the log is empty).
    fn last_index(&self) -> LogIndex;

    /// The newest snapshot, if any.
    fn snapshot(&self) -> Option<Snapshot>;
}
