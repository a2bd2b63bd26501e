//! The peer handshake: the first bytes each way on every peer connection.
//!
//! The connecting side sends a [`Hello`] (protocol version, cluster id, its node id); the
//! accepting side checks it ([`admit`]) and either closes the connection or answers with its own
//! `Hello`, which the connecting side checks the same way (and that its node id is the peer it
//! meant to reach). A node that does not know its cluster id yet (a joining node) sends 0 and
//! learns the id from the other side.
//!
//! Without TLS the node id in a `Hello` is only a claim: it binds the connection's frames to one
//! sender (see `inbound`), it does not prove who that sender is. Mutual TLS will.

use std::fmt;

use raftorch_core::raft::NodeId;
use tokio::io::{AsyncRead, AsyncReadExt};

use crate::cluster_id::{show, ClusterIdentity};

/// The peer protocol version this node speaks, in the handshake and in every frame's version
/// byte (3: a handshake first, and zero-length keep-alive frames; 2 had neither).
pub const PROTOCOL_VERSION: u8 = 3;
/// What a `Hello` starts with, so a stray client (or an older node) is told apart at once.
const MAGIC: [u8; 8] = *b"RAFTORCH";
/// `[magic 8][version u8][cluster id u64 BE][node id u64 BE]`.
pub const HELLO_LEN: usize = 25;

/// One side's introduction.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Hello {
    /// The sender's protocol version.
    pub version: u8,
    /// The sender's cluster id (0: not known yet).
    pub cluster: u64,
    /// The sender's node id.
    pub node: NodeId,
}

impl Hello {
    /// This node's `Hello`.
    pub fn ours(identity: &ClusterIdentity, me: NodeId) -> Hello {
        Hello {
            version: PROTOCOL_VERSION,
            cluster: identity.get().unwrap_or(0),
            node: me,
        }
    }

    /// Its bytes on the wire.
    pub fn encode(&self) -> [u8; HELLO_LEN] {
        let mut out = [0u8; HELLO_LEN];
        out[..8].copy_from_slice(&MAGIC);
        out[8] = self.version;
        out[9..17].copy_from_slice(&self.cluster.to_be_bytes());
        out[17..].copy_from_slice(&self.node.to_be_bytes());
        out
    }

    /// Reads the other side's `Hello` (the caller bounds the wait).
    pub async fn read<R: AsyncRead + Unpin>(reader: &mut R) -> Result<Hello, Refusal> {
        let mut bytes = [0u8; HELLO_LEN];
        reader
            .read_exact(&mut bytes)
            .await
            .map_err(|e| Refusal::Io(e.to_string()))?;
        if bytes[..8] != MAGIC {
            return Err(Refusal::NotAPeer);
        }
        let word = |at: usize| {
            let mut w = [0u8; 8];
            w.copy_from_slice(&bytes[at..at + 8]);
            u64::from_be_bytes(w)
        };
        Ok(Hello {
            version: bytes[8],
            cluster: word(9),
            node: word(17),
        })
    }
}

/// Why a handshake failed; the connection is closed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Refusal {
    /// The socket failed or closed before a whole `Hello` came (or the wait ran out).
    Io(String),
    /// The peer closed the connection instead of answering our `Hello`: it refused us (its
    /// log says why: another cluster or protocol, most likely).
    Closed,
    /// The first bytes are not a `Hello`: not a raftorch peer, or one older than version 3.
    NotAPeer,
    /// The peer speaks another protocol version.
    Version {
        /// The peer's.
        theirs: u8,
    },
    /// The peer belongs to another cluster.
    OtherCluster {
        /// The peer's node id.
        node: NodeId,
        /// The peer's cluster id.
        theirs: u64,
        /// This node's.
        ours: u64,
    },
    /// Neither side knows its cluster id (two joining nodes): nothing to agree on.
    NeitherKnows {
        /// The peer's node id.
        node: NodeId,
    },
    /// The peer's node id is 0, this node's own, or not the peer this node dialled.
    WrongNode {
        /// The id in the peer's `Hello`.
        node: NodeId,
    },
    /// Storing a learned cluster id failed.
    Store(String),
}

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Io(e) => write!(f, "no handshake: {e}"),
            Self::Closed => write!(
                f,
                "the peer closed the connection at the handshake (another cluster or protocol? \
                 see its log)"
            ),
            Self::NotAPeer => write!(
                f,
                "not a raftorch peer handshake (not raftorch, or older than protocol \
                 {PROTOCOL_VERSION})"
            ),
            Self::Version { theirs } => write!(
                f,
                "peer speaks protocol {theirs}, this node {PROTOCOL_VERSION}"
            ),
            Self::OtherCluster { node, theirs, ours } => write!(
                f,
                "node {node} belongs to cluster {}, this node to cluster {}",
                show(*theirs),
                show(*ours)
            ),
            Self::NeitherKnows { node } => write!(
                f,
                "neither this node nor node {node} knows its cluster id yet"
            ),
            Self::WrongNode { node } => write!(f, "unexpected node id {node} in the handshake"),
            Self::Store(e) => write!(f, "cannot store the learned cluster id: {e}"),
        }
    }
}

/// Whether this node (`me`, of `identity`) talks to the sender of `hello`; adopts the peer's
/// cluster id if this node has none yet.
pub fn admit(identity: &ClusterIdentity, me: NodeId, hello: &Hello) -> Result<(), Refusal> {
    if hello.version != PROTOCOL_VERSION {
        return Err(Refusal::Version {
            theirs: hello.version,
        });
    }
    if hello.node == 0 || hello.node == me {
        return Err(Refusal::WrongNode { node: hello.node });
    }
    match (identity.get(), hello.cluster) {
        (None, 0) => Err(Refusal::NeitherKnows { node: hello.node }),
        // A node that knows none yet learns ours from our answer.
        (Some(_), 0) => Ok(()),
        (_, theirs) => match identity.agree(theirs) {
            Ok(true) => Ok(()),
            Ok(false) => Err(Refusal::OtherCluster {
                node: hello.node,
                theirs,
                ours: identity.get().unwrap_or(0),
            }),
            Err(e) => Err(Refusal::Store(e)),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn identity(token: Option<&str>, voters: &[NodeId]) -> (tempfile::TempDir, ClusterIdentity) {
        let dir = tempfile::tempdir().unwrap();
        let id = ClusterIdentity::resolve(dir.path(), token, voters).unwrap();
        (dir, id)
    }

    #[tokio::test]
    async fn hellos_round_trip_and_strangers_are_told_apart() {
        let hello = Hello {
            version: PROTOCOL_VERSION,
            cluster: 0xdead_beef,
            node: 7,
        };
        let bytes = hello.encode();
        assert_eq!(Hello::read(&mut &bytes[..]).await, Ok(hello));
        let http = b"GET / HTTP/1.1\r\nHost: x\r\n\r\n";
        assert_eq!(Hello::read(&mut &http[..]).await, Err(Refusal::NotAPeer));
        assert!(matches!(
            Hello::read(&mut &bytes[..10]).await,
            Err(Refusal::Io(_))
        ));
    }

    #[test]
    fn another_cluster_or_version_is_refused_and_a_joining_node_learns() {
        let (_a, a) = identity(Some("a"), &[1, 2, 3]);
        let (_b, b) = identity(Some("b"), &[1, 2, 3]);
        let from_b = Hello::ours(&b, 2);
        let refusal = admit(&a, 1, &from_b).unwrap_err();
        assert!(matches!(refusal, Refusal::OtherCluster { node: 2, .. }));
        let line = refusal.to_string();
        assert!(line.contains(&show(b.get().unwrap())) && line.contains(&show(a.get().unwrap())));
        let old = Hello {
            version: 2,
            ..Hello::ours(&a, 2)
        };
        assert_eq!(admit(&a, 1, &old), Err(Refusal::Version { theirs: 2 }));
        assert!(matches!(
            admit(&a, 1, &Hello::ours(&a, 1)),
            Err(Refusal::WrongNode { node: 1 })
        ));
        assert_eq!(admit(&a, 1, &Hello::ours(&a, 2)), Ok(()));
        // A joining node: admitted by a member, learns from the member's answer.
        let (_j, joining) = identity(None, &[]);
        assert_eq!(admit(&a, 1, &Hello::ours(&joining, 4)), Ok(()));
        let (_k, other_joining) = identity(None, &[]);
        assert!(matches!(
            admit(&joining, 4, &Hello::ours(&other_joining, 5)),
            Err(Refusal::NeitherKnows { node: 5 })
        ));
        assert_eq!(admit(&joining, 4, &Hello::ours(&a, 1)), Ok(()));
        assert_eq!(joining.get(), a.get());
    }
}
