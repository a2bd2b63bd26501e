//! The log entry: a command with the leader's clock reading and an optional request id.

use alloc::string::ToString;
use alloc::vec::Vec;

use serde::{Deserialize, Serialize};

use super::command::Command;
use super::error::OrchestratorError;

/// Identifies one client request so that a retried or re-forwarded proposal applies once.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct RequestId {
    /// The client; each client numbers its requests on its own.
    pub client_id: u64,
    /// The request's sequence number, increasing per client.
    pub seq: u64,
}

/// What one Raft log entry carries for the orchestrator.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Envelope {
    /// The proposing leader's clock, in ms (any origin: only differences between readings of
    /// one leader count). The state machine never compares the stamps of two leaders: its clock
    /// stands still at each `LeaderChanged` and then advances by how far this leader's clock
    /// moved since the stamp on that leader's `LeaderChanged`, never backwards — so a leader
    /// whose clock is ahead or behind cannot move time faster or backwards.
    pub now_ms: u64,
    /// Set for client requests that want exactly-once application.
    pub request_id: Option<RequestId>,
    /// What to do.
    pub command: Command,
}

impl Envelope {
    /// An envelope without a request id.
    pub fn new(now_ms: u64, command: Command) -> Self {
        Self {
            now_ms,
            request_id: None,
            command,
        }
    }

    /// The same envelope, tagged with a request id for exactly-once application.
    pub fn with_request(mut self, client_id: u64, seq: u64) -> Self {
        self.request_id = Some(RequestId { client_id, seq });
        self
    }

    /// The bytes to propose to Raft (postcard).
    pub fn encode(&self) -> Vec<u8> {
        // Serializing plain owned data into a Vec cannot fail.
        postcard::to_allocvec(self).unwrap_or_default()
    }

    /// Reads an entry written by [`Envelope::encode`]; trailing bytes are refused.
    pub fn decode(bytes: &[u8]) -> Result<Self, OrchestratorError> {
        match postcard::take_from_bytes::<Self>(bytes) {
            Ok((envelope, [])) => Ok(envelope),
            Ok((_, rest)) => Err(OrchestratorError::Decode {
                message: alloc::format!("{} trailing bytes", rest.len()),
            }),
            Err(e) => Err(OrchestratorError::Decode {
                message: e.to_string(),
            }),
        }
    }

    /// The bytes of the command inside an encoded envelope: what follows the stamp and the
    /// request id (postcard writes a struct's fields in order), without copying. `None` when
    /// those do not decode.
    pub fn command_bytes(bytes: &[u8]) -> Option<&[u8]> {
        postcard::take_from_bytes::<(u64, Option<RequestId>)>(bytes)
            .ok()
            .map(|(_, rest)| rest)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::string::String;

    #[test]
    fn command_bytes_are_the_commands_own_encoding() {
        let command = Command::Put {
            key: String::from("k"),
            value: alloc::vec![1, 2, 3],
            lease: None,
            expected_revision: Some(4),
        };
        let e = Envelope::new(1_700_000_000_000, command.clone()).with_request(u64::MAX, 9);
        let encoded = e.encode();
        let expected = postcard::to_allocvec(&command).unwrap();
        assert_eq!(Envelope::command_bytes(&encoded), Some(&expected[..]));
        let bare = Envelope::new(0, command).encode();
        assert_eq!(Envelope::command_bytes(&bare), Some(&expected[..]));
    }

    #[test]
    fn round_trip() {
        let e = Envelope::new(
            42,
            Command::Put {
                key: String::from("a"),
                value: alloc::vec![1, 2],
                lease: Some(3),
                expected_revision: None,
            },
        )
        .with_request(7, 9);
        assert_eq!(Envelope::decode(&e.encode()), Ok(e));
    }

    #[test]
    fn garbage_and_trailing_bytes_are_refused() {
        assert!(matches!(
            Envelope::decode(&[0xff, 0xff, 0xff]),
            Err(OrchestratorError::Decode { .. })
        ));
        assert!(matches!(
            Envelope::decode(&[]),
            Err(OrchestratorError::Decode { .. })
        ));
        let mut bytes = Envelope::new(1, Command::Tick).encode();
        bytes.push(0);
        assert!(matches!(
            Envelope::decode(&bytes),
            Err(OrchestratorError::Decode { .. })
        ));
    }
}
