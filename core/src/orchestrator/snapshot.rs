//! Snapshots: the whole state (applied index, clock, dedup table, watch history and the member
//! address book included).

use alloc::format;
use alloc::string::{String, ToString};
use alloc::vec::Vec;

use super::members::MemberBook;
use super::Orchestrator;

/// First byte of every snapshot; bumped when the layout changes so an old snapshot is refused
/// instead of misread.
///
/// Format 2 is format 1 followed by the member address book; format 1 (no book) still restores,
/// with an empty book.
pub const SNAPSHOT_FORMAT: u8 = 2;

/// The format before the member address book.
const FORMAT_WITHOUT_MEMBERS: u8 = 1;

impl Orchestrator {
    /// `[SNAPSHOT_FORMAT] ++ postcard(state) ++ postcard(member book)`.
    pub(crate) fn encode_snapshot(&self) -> Vec<u8> {
        let out = Vec::from([SNAPSHOT_FORMAT]);
        // Serializing owned maps and strings into a Vec cannot fail.
        let out = postcard::to_extend(self, out).unwrap_or_default();
        postcard::to_extend(&self.members, out).unwrap_or_default()
    }

    /// Reads a snapshot written by [`Orchestrator::encode_snapshot`] (or by a version before the
    /// member address book).
    pub(crate) fn decode_snapshot(data: &[u8]) -> Result<Self, String> {
        let (version, body) = data.split_first().ok_or("empty snapshot")?;
        if !matches!(*version, FORMAT_WITHOUT_MEMBERS | SNAPSHOT_FORMAT) {
            return Err(format!(
                "snapshot format {version}, expected {SNAPSHOT_FORMAT}"
            ));
        }
        let (mut state, rest) =
            postcard::take_from_bytes::<Self>(body).map_err(|e| e.to_string())?;
        let rest = if *version == SNAPSHOT_FORMAT {
            let (members, rest) =
                postcard::take_from_bytes::<MemberBook>(rest).map_err(|e| e.to_string())?;
            state.members = members;
            rest
        } else {
            rest
        };
        if !rest.is_empty() {
            return Err(format!("snapshot has {} trailing bytes", rest.len()));
        }
        Ok(state)
    }
}
