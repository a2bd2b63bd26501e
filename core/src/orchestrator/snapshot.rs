//! Snapshots: the whole state (applied index, clock and its epoch, dedup table, watch history
//! and the member address book included).

use alloc::format;
use alloc::string::{String, ToString};
use alloc::vec::Vec;

use super::members::MemberBook;
use super::snapshot_legacy as legacy;
use super::{ClockEpoch, Orchestrator};

/// First byte of every snapshot; bumped when the layout changes so an old snapshot is refused
/// instead of misread.
///
/// Format 7 is format 6 followed by the dedup table's origins (where each client's last request
/// first applied, and its command's digest); format 6 restores without them, so a retry of a
/// request applied before the upgrade is answered with the retry's own index, as it was then.
/// Format 6 is format 5 followed by the active space alarms (format 5 restores with none).
/// Format 5 has the layout of format 4, but the watch history's events carry their position
/// within their entry and the values of kv puts (see [`super::Cursor`]). Format 4 is format 3
/// followed by the election values (what candidates campaign with). Format 3 is format 2
/// followed by the clock epoch (how the current leader's stamps map to the replicated clock).
/// Format 2 is format 1 followed by the member address book. Formats 1 to 4 still restore:
/// their watch history through `snapshot_legacy` (whole entries only, without values);
/// formats 1 to 3 without election values; format 1 with an empty book; formats 1 and 2 with
/// an epoch that reads the next stamps as the old rule did (the clock moves to a later stamp)
/// until the next `LeaderChanged` begins a real epoch.
pub const SNAPSHOT_FORMAT: u8 = 7;

/// The format before the member address book.
const FORMAT_WITHOUT_MEMBERS: u8 = 1;
/// The format before the clock epoch.
const FORMAT_WITHOUT_EPOCH: u8 = 2;
/// The format before the election values.
const FORMAT_WITHOUT_ELECTION_VALUES: u8 = 3;
/// The format before watch cursors.
const FORMAT_WITHOUT_CURSORS: u8 = 4;
/// The format before space alarms.
const FORMAT_WITHOUT_ALARMS: u8 = 5;
/// The format before dedup origins.
const FORMAT_WITHOUT_ORIGINS: u8 = 6;

impl Orchestrator {
    /// `[SNAPSHOT_FORMAT] ++ postcard(state) ++ postcard(member book) ++ postcard(clock epoch)
    /// ++ postcard(election values) ++ postcard(alarms) ++ postcard(dedup origins)`.
    pub(crate) fn encode_snapshot(&self) -> Vec<u8> {
        let out = Vec::from([SNAPSHOT_FORMAT]);
        // Serializing owned maps and strings into a Vec cannot fail.
        let out = postcard::to_extend(self, out).unwrap_or_default();
        let out = postcard::to_extend(&self.members, out).unwrap_or_default();
        let out = postcard::to_extend(&self.clock_epoch, out).unwrap_or_default();
        let out = postcard::to_extend(&self.election_values, out).unwrap_or_default();
        let out = postcard::to_extend(&self.alarms, out).unwrap_or_default();
        postcard::to_extend(self.dedup.origins(), out).unwrap_or_default()
    }

    /// Reads a snapshot written by [`Orchestrator::encode_snapshot`] (or by a version before
    /// watch cursors, the clock epoch or the member address book).
    pub(crate) fn decode_snapshot(data: &[u8]) -> Result<Self, String> {
        let (version, body) = data.split_first().ok_or("empty snapshot")?;
        let (mut state, mut rest) = match *version {
            SNAPSHOT_FORMAT | FORMAT_WITHOUT_ORIGINS | FORMAT_WITHOUT_ALARMS => {
                postcard::take_from_bytes::<Self>(body).map_err(|e| e.to_string())?
            }
            FORMAT_WITHOUT_MEMBERS
            | FORMAT_WITHOUT_EPOCH
            | FORMAT_WITHOUT_ELECTION_VALUES
            | FORMAT_WITHOUT_CURSORS => legacy::take_state(body)?,
            _ => {
                return Err(format!(
                    "snapshot format {version}, expected {SNAPSHOT_FORMAT}"
                ))
            }
        };
        if *version >= FORMAT_WITHOUT_EPOCH {
            let (members, after) =
                postcard::take_from_bytes::<MemberBook>(rest).map_err(|e| e.to_string())?;
            state.members = members;
            rest = after;
        }
        if *version >= FORMAT_WITHOUT_ELECTION_VALUES {
            let (epoch, after) =
                postcard::take_from_bytes::<Option<ClockEpoch>>(rest).map_err(|e| e.to_string())?;
            state.clock_epoch = epoch;
            rest = after;
        } else {
            // Before epochs the clock was the largest stamp seen: an epoch anchored at the clock
            // itself keeps exactly that rule for the stamps of the leader in office, and the next
            // `LeaderChanged` replaces it.
            state.clock_epoch = Some(ClockEpoch {
                clock_ms: state.now_ms,
                stamp_ms: state.now_ms,
            });
        }
        if *version >= FORMAT_WITHOUT_CURSORS {
            let (values, after) =
                postcard::take_from_bytes(rest).map_err(|e: postcard::Error| e.to_string())?;
            state.election_values = values;
            rest = after;
        }
        if *version > FORMAT_WITHOUT_ALARMS {
            let (alarms, after) =
                postcard::take_from_bytes(rest).map_err(|e: postcard::Error| e.to_string())?;
            state.alarms = alarms;
            rest = after;
        }
        if *version > FORMAT_WITHOUT_ORIGINS {
            let (origins, after) =
                postcard::take_from_bytes(rest).map_err(|e: postcard::Error| e.to_string())?;
            state.dedup.restore_origins(origins);
            rest = after;
        }
        state.kv.recount();
        if !rest.is_empty() {
            return Err(format!("snapshot has {} trailing bytes", rest.len()));
        }
        Ok(state)
    }
}
