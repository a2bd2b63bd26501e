//! The peer handshake: the first bytes each way on every peer connection.
//!
//! The connecting side sends a [`Hello`] (protocol version, cluster id, its node id); the
//! accepting side checks it ([`admit`]) and either closes the connection or answers with its own
//! `Hello`, which the connecting side checks the same way (and that its node id is the peer it
//! meant to reach). A node that does not know its cluster id yet (a joining node) sends 0 and
//! learns the id from the other side.
//!
//! Versions are `MAJOR.MINOR` ([`Version`]). Within one major the frames keep their format, and
//! a minor may only add what older minors of that major can ignore; so two nodes of the same
//! major whose minors differ by at most one talk (the window of a rolling upgrade, one minor at
//! a time). Anything else is refused at the handshake with a log line naming both versions
//! ([`compatible`]).
//!
//! Without TLS the node id in a `Hello` is only a claim: it binds the connection's frames to one
//! sender (see `inbound`), it does not prove who that sender is. Mutual TLS will.

use std::fmt;
use std::sync::OnceLock;

use raftorch_core::raft::NodeId;
use tokio::io::{AsyncRead, AsyncReadExt};

use crate::cluster_id::{show, ClusterIdentity};

/// A peer protocol version: the major is also every frame's version byte.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Version {
    /// Changes when the frames or the handshake change shape: no compatibility across it.
    pub major: u8,
    /// Changes when a major gains something older minors can ignore.
    pub minor: u8,
}

impl fmt::Display for Version {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}", self.major, self.minor)
    }
}

impl std::str::FromStr for Version {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad = || format!("{s:?} is not a protocol version MAJOR.MINOR (e.g. 4.1)");
        let (major, minor) = s.split_once('.').ok_or_else(bad)?;
        Ok(Version {
            major: major.parse().map_err(|_| bad())?,
            minor: minor.parse().map_err(|_| bad())?,
        })
    }
}

/// The peer protocol version this node speaks. Majors: 6, a snapshot chunk carries the whole
/// checksum only on the last chunk (`Option`); 5, snapshots in chunks (engine messages a node
/// of 4 cannot decode); 4, a `Hello` with a minor; 3, a handshake first and zero-length
/// keep-alive frames; 2 had neither.
pub const PROTOCOL_VERSION: Version = Version { major: 6, minor: 0 };
/// What a `Hello` starts with, so a stray client (or an older node) is told apart at once.
const MAGIC: [u8; 8] = *b"RAFTORCH";
/// `[magic 8][major u8][minor u8][cluster id u64 BE][node id u64 BE]`. Every major keeps the
/// magic and the major byte where they are, so any two versions can tell each other apart.
pub const HELLO_LEN: usize = 26;

/// The version this process announces: [`PROTOCOL_VERSION`] unless a test set another one.
static ANNOUNCED: OnceLock<Version> = OnceLock::new();

/// Testing only (`raftorch node --debug-announce-version`): announce `version` in every
/// handshake of this process instead of [`PROTOCOL_VERSION`], as a node of another release
/// would (frames stay this build's). Only the first call counts.
pub fn announce(version: Version) {
    let _ = ANNOUNCED.set(version);
}

/// The version this process announces and admits peers against.
pub fn announced() -> Version {
    ANNOUNCED.get().copied().unwrap_or(PROTOCOL_VERSION)
}

/// Whether a node speaking `ours` talks to one speaking `theirs`: the same major, minors at
/// most one apart.
pub fn compatible(ours: Version, theirs: Version) -> bool {
    ours.major == theirs.major && ours.minor.abs_diff(theirs.minor) <= 1
}

/// One side's introduction.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Hello {
    /// The sender's protocol version.
    pub version: Version,
    /// The sender's cluster id (0: not known yet).
    pub cluster: u64,
    /// The sender's node id.
    pub node: NodeId,
}

impl Hello {
    /// This node's `Hello`.
    pub fn ours(identity: &ClusterIdentity, me: NodeId) -> Hello {
        Hello {
            version: announced(),
            cluster: identity.get().unwrap_or(0),
            node: me,
        }
    }

    /// Its bytes on the wire.
    pub fn encode(&self) -> [u8; HELLO_LEN] {
        let mut out = [0u8; HELLO_LEN];
        out[..8].copy_from_slice(&MAGIC);
        out[8] = self.version.major;
        out[9] = self.version.minor;
        out[10..18].copy_from_slice(&self.cluster.to_be_bytes());
        out[18..].copy_from_slice(&self.node.to_be_bytes());
        out
    }

    /// Reads the other side's `Hello` (the caller bounds the wait). A `Hello` of another major
    /// is refused after its first 9 bytes, whatever its length: an older node's is shorter.
    pub async fn read<R: AsyncRead + Unpin>(reader: &mut R) -> Result<Hello, Refusal> {
        let io = |e: std::io::Error| Refusal::Io(e.to_string());
        let mut bytes = [0u8; HELLO_LEN];
        reader.read_exact(&mut bytes[..9]).await.map_err(io)?;
        if bytes[..8] != MAGIC {
            return Err(Refusal::NotAPeer);
        }
        let ours = announced();
        if bytes[8] != ours.major {
            return Err(Refusal::Version {
                node: None,
                theirs: Version {
                    major: bytes[8],
                    minor: 0,
                },
                ours,
            });
        }
        reader.read_exact(&mut bytes[9..]).await.map_err(io)?;
        let word = |at: usize| {
            let mut w = [0u8; 8];
            w.copy_from_slice(&bytes[at..at + 8]);
            u64::from_be_bytes(w)
        };
        Ok(Hello {
            version: Version {
                major: bytes[8],
                minor: bytes[9],
            },
            cluster: word(10),
            node: word(18),
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
    /// The peer speaks a protocol version this one does not talk to (see [`compatible`]).
    Version {
        /// The peer's node id, when its `Hello` got that far.
        node: Option<NodeId>,
        /// The peer's version (of another major: its minor is not read, and shows as 0).
        theirs: Version,
        /// This node's.
        ours: Version,
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
            Self::Version { node, theirs, ours } => {
                match node {
                    Some(n) => write!(f, "node {n} speaks protocol {theirs}")?,
                    None => write!(f, "the peer speaks protocol {}.x", theirs.major)?,
                }
                write!(
                    f,
                    ", this node {ours}: incompatible (peers need the same major version and \
                     minors at most one apart)"
                )
            }
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
    let ours = announced();
    if !compatible(ours, hello.version) {
        return Err(Refusal::Version {
            node: Some(hello.node),
            theirs: hello.version,
            ours,
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

    fn v(s: &str) -> Version {
        s.parse().unwrap()
    }

    #[test]
    fn the_same_major_one_minor_apart_is_compatible() {
        assert!(compatible(v("4.0"), v("4.0")));
        assert!(compatible(v("4.0"), v("4.1")));
        assert!(compatible(v("4.3"), v("4.2")));
        assert!(!compatible(v("4.0"), v("4.2")), "two minors apart");
        assert!(!compatible(v("4.0"), v("5.0")), "another major");
        assert!(!compatible(v("4.0"), v("3.9")), "another major");
        assert_eq!(v("4.1").to_string(), "4.1");
        for bad in ["4", "4.", ".1", "4.1.2", "x.1", "256.0"] {
            assert!(bad.parse::<Version>().is_err(), "{bad:?} accepted");
        }
        let line = Refusal::Version {
            node: Some(3),
            theirs: v("5.0"),
            ours: v("4.0"),
        }
        .to_string();
        assert!(
            line.starts_with("node 3 speaks protocol 5.0, this node 4.0: incompatible"),
            "{line}"
        );
    }

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
        // A node of protocol 3 (a 25-byte `Hello`, version byte 3): refused, not waited for.
        let mut v3 = [0u8; 25];
        v3[..8].copy_from_slice(&MAGIC);
        v3[8] = 3;
        let refusal = Hello::read(&mut &v3[..]).await.unwrap_err();
        assert!(
            refusal
                .to_string()
                .starts_with("the peer speaks protocol 3.x, this node 6.0: incompatible"),
            "{refusal}"
        );
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
            version: Version { major: 3, minor: 0 },
            ..Hello::ours(&a, 2)
        };
        assert!(matches!(
            admit(&a, 1, &old),
            Err(Refusal::Version { node: Some(2), .. })
        ));
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
