//! Snapshots: the whole state (applied index, clock, dedup table and watch history included).

use alloc::format;
use alloc::string::{String, ToString};
use alloc::vec::Vec;

use super::Orchestrator;

/// First byte of every snapshot; bumped when the layout changes so an old snapshot is refused
/// instead of misread.
pub const SNAPSHOT_FORMAT: u8 = 1;

impl Orchestrator {
    /// `[SNAPSHOT_FORMAT] ++ postcard(state)`.
    pub(crate) fn encode_snapshot(&self) -> Vec<u8> {
        let out = Vec::from([SNAPSHOT_FORMAT]);
        // Serializing owned maps and strings into a Vec cannot fail.
        postcard::to_extend(self, out).unwrap_or_default()
    }

    /// Reads a snapshot written by [`Orchestrator::encode_snapshot`].
    pub(crate) fn decode_snapshot(data: &[u8]) -> Result<Self, String> {
        match data.split_first() {
            Some((&SNAPSHOT_FORMAT, body)) => match postcard::take_from_bytes::<Self>(body) {
                Ok((state, [])) => Ok(state),
                Ok((_, rest)) => Err(format!("snapshot has {} trailing bytes", rest.len())),
                Err(e) => Err(e.to_string()),
            },
            Some((v, _)) => Err(format!("snapshot format {v}, expected {SNAPSHOT_FORMAT}")),
            None => Err("empty snapshot".into()),
        }
    }
}
