//! A node's configuration: identity, addresses, peers and timing, from flags, env or a TOML file.

use std::fmt;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::str::FromStr;
use std::time::Duration;

use raftorch_core::raft::NodeId;
use serde::Deserialize;

/// Another member of the cluster: where its Raft transport and its HTTP API listen.
///
/// Written `ID=PEER_HOST:PORT@API_HOST:PORT`, e.g. `2=127.0.0.1:7002@127.0.0.1:8002`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PeerSpec {
    /// The peer's node id.
    pub id: NodeId,
    /// Its Raft transport address.
    pub peer_addr: String,
    /// Its HTTP API address (writes are forwarded there when it leads).
    pub api_addr: String,
}

impl FromStr for PeerSpec {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let usage = || format!("peer {s:?} is not ID=PEER_HOST:PORT@API_HOST:PORT");
        let (id, addrs) = s.split_once('=').ok_or_else(usage)?;
        let (peer_addr, api_addr) = addrs.split_once('@').ok_or_else(usage)?;
        let id: NodeId = id.trim().parse().map_err(|_| usage())?;
        if id == 0 || peer_addr.is_empty() || api_addr.is_empty() {
            return Err(usage());
        }
        for addr in [peer_addr, api_addr] {
            if addr
                .rsplit_once(':')
                .and_then(|(_, p)| p.parse::<u16>().ok())
                .is_none()
            {
                return Err(usage());
            }
        }
        Ok(PeerSpec {
            id,
            peer_addr: peer_addr.to_owned(),
            api_addr: api_addr.to_owned(),
        })
    }
}

impl fmt::Display for PeerSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}={}@{}", self.id, self.peer_addr, self.api_addr)
    }
}

/// The `--config FILE.toml` format; every field is optional and flags override it.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileConfig {
    /// Node id.
    pub id: Option<NodeId>,
    /// Data directory.
    pub data_dir: Option<PathBuf>,
    /// Raft transport listen address.
    pub peer_listen: Option<SocketAddr>,
    /// HTTP API listen address.
    pub api_listen: Option<SocketAddr>,
    /// Peers, each `ID=PEER_HOST:PORT@API_HOST:PORT`.
    pub peers: Option<Vec<String>>,
    /// Leader heartbeat interval in ms.
    pub heartbeat_ms: Option<u64>,
    /// Minimum election timeout in ms.
    pub election_ms: Option<u64>,
    /// Take a snapshot and compact the log every this many applied entries (0: never).
    pub snapshot_every: Option<u64>,
    /// Take a snapshot once the log since the last one holds this many bytes (0: never).
    pub snapshot_log_bytes: Option<u64>,
    /// Join a running cluster instead of founding one (see [`NodeConfig::join`]).
    pub join: Option<bool>,
    /// Runtime threads (see [`NodeConfig::threads`]).
    pub threads: Option<usize>,
    /// Cluster token (see [`NodeConfig::cluster_token`]).
    pub cluster_token: Option<String>,
    /// API connection cap (see [`NodeConfig::max_connections`]).
    pub max_connections: Option<usize>,
    /// API header timeout in ms (see [`NodeConfig::api_header_timeout_ms`]).
    pub api_header_timeout_ms: Option<u64>,
    /// Largest kv value in bytes (see [`NodeConfig::max_value_bytes`]).
    pub max_value_bytes: Option<usize>,
    /// Long-poll cap (see [`NodeConfig::max_watchers`]).
    pub max_watchers: Option<usize>,
    /// Auth file (see [`NodeConfig::auth_file`]).
    pub auth_file: Option<PathBuf>,
    /// Default per-token rate (see [`NodeConfig::token_rate`]).
    pub token_rate: Option<u32>,
    /// Default per-token burst (see [`NodeConfig::token_rate`]).
    pub token_burst: Option<u32>,
    /// Run without protection off loopback (see [`NodeConfig::insecure`]).
    pub insecure: Option<bool>,
    /// Advertised peer address (see [`NodeConfig::advertise_peer`]).
    pub advertise_peer: Option<String>,
    /// Advertised API address (see [`NodeConfig::advertise_api`]).
    pub advertise_api: Option<String>,
    /// Leadership hand-over wait at shutdown (see [`NodeConfig::shutdown_transfer_ms`]).
    pub shutdown_transfer_ms: Option<u64>,
    /// CA certificate (see [`NodeConfig::tls`]).
    pub tls_ca: Option<PathBuf>,
    /// This node's certificate (see [`NodeConfig::tls`]).
    pub tls_cert: Option<PathBuf>,
    /// This node's key (see [`NodeConfig::tls`]).
    pub tls_key: Option<PathBuf>,
    /// OTLP/HTTP collector (see [`NodeConfig::otlp_endpoint`]).
    pub otlp_endpoint: Option<String>,
    /// Storage quota in bytes (see [`crate::space::SpaceLimits`]).
    pub quota_bytes: Option<u64>,
    /// Disk reserve in bytes (see [`crate::space::SpaceLimits`]).
    pub disk_reserve_bytes: Option<u64>,
}

/// Everything a node needs to start, validated.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NodeConfig {
    /// This node's id (non-zero).
    pub id: NodeId,
    /// Where the write-ahead log, hard state and snapshot live.
    pub data_dir: PathBuf,
    /// Raft transport listen address.
    pub peer_listen: SocketAddr,
    /// HTTP API listen address.
    pub api_listen: SocketAddr,
    /// The other members.
    pub peers: Vec<PeerSpec>,
    /// Leader heartbeat interval.
    pub heartbeat_ms: u64,
    /// Minimum election timeout (the actual one is drawn from `[election, 2 * election)`).
    pub election_ms: u64,
    /// Snapshot every this many applied entries (0: never).
    pub snapshot_every: u64,
    /// Snapshot once the log since the last snapshot holds this many bytes (0: never by bytes).
    pub snapshot_log_bytes: u64,
    /// Join a running cluster: on the first start (an empty data directory) write no founding
    /// membership; the node stays a silent non-member (it never campaigns) until the leader adds
    /// it, then learns the log, or a snapshot, from the leader. Its `peers` are the current
    /// members it replies to. Ignored once the data directory is initialized.
    pub join: bool,
    /// Threads of the async runtime that serves the network and the API (the disk has a thread
    /// of its own). 1, the default, runs all of it on one thread: the fewest thread switches per
    /// request, which is what bounds a write's latency. More help a node that has many cores
    /// and many clients.
    pub threads: usize,
    /// Names the cluster, as etcd's `--initial-cluster-token`: its hash is the cluster id fixed
    /// on the first start and checked in every peer handshake (see `cluster_id`). Not a secret.
    /// `None`: the stored id, or one generated (founding alone), derived from the founding
    /// voters (founding with peers) or learned from the first peer (joining).
    pub cluster_token: Option<String>,
    /// Most API connections open at once; one more is closed as soon as it is accepted.
    pub max_connections: usize,
    /// How long an API connection may take to send a request's headers, counted from when the
    /// server is ready to read them; so also how long an idle keep-alive connection stays open.
    pub api_header_timeout_ms: u64,
    /// Largest kv value a client may write, in bytes: 1 ..= 1 MiB (the state machine's limit,
    /// `validate::MAX_VALUE_LEN`), 1 MiB by default. Larger ones are refused with 413.
    pub max_value_bytes: usize,
    /// Most long-polls (watches, blocking lock acquires, election waits) waiting at once; one
    /// more is answered 503 `too_many_waiters` with `Retry-After`.
    pub max_watchers: usize,
    /// Fault injection and debugging (see `--digest-every`, `--clock-offset-ms`).
    pub debug: DebugOptions,
    /// The tokens the API accepts (TOML, see `auth::table`); `None`: the API is open to anyone
    /// who can reach it, which only a node on loopback (or one given `insecure`) may be.
    pub auth_file: Option<PathBuf>,
    /// The rate limit of every token the auth file gives no `rate` of its own
    /// (`--token-rate`, `--token-burst`): a token bucket per token name at the node that
    /// receives the request, 429 with `Retry-After` beyond it. `None`, the default: unlimited.
    pub token_rate: Option<crate::auth::RateLimit>,
    /// Start even when listening beyond loopback without an auth file or TLS.
    pub insecure: bool,
    /// The peer address this node publishes (`HOST:PORT`, a name or an address); `None`: the
    /// bound `peer_listen`, which must then not be unspecified (see `advertise`).
    pub advertise_peer: Option<String>,
    /// The API address this node publishes; `None`: the bound `api_listen`.
    pub advertise_api: Option<String>,
    /// On SIGTERM a leader hands leadership to its most caught-up voter and waits up to this
    /// long for another node to lead before it drains and exits (0: it just stops).
    pub shutdown_transfer_ms: u64,
    /// TLS on both ports (`--tls-ca`, `--tls-cert`, `--tls-key`): mutual TLS between peers,
    /// HTTPS on the API. `None`: plain TCP, which only a node on loopback (or one given
    /// `insecure`) may use.
    pub tls: Option<crate::tls::TlsFiles>,
    /// Export OpenTelemetry spans to this OTLP/HTTP collector (`http://HOST:4318`; see
    /// `telemetry`). `None`, the default: no tracing at all.
    pub otlp_endpoint: Option<String>,
    /// The storage quota and the disk reserve (`--quota-bytes`, `--disk-reserve-bytes`).
    pub space: crate::space::SpaceLimits,
}

/// Options for tests and debugging, off by default.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct DebugOptions {
    /// Sample a digest of the whole state at every multiple of this index (0: never); served by
    /// `GET /v1/debug/digests`, for comparing replicas while they run.
    pub digest_every: u64,
    /// Added to the wall clock this node anchors its clock to at start, as a skewed clock would
    /// be (for clock-skew tests; a jump is a restart with another offset).
    pub clock_offset_ms: i64,
    /// Announce this protocol version in handshakes instead of this build's (rolling-upgrade
    /// tests: a node of the next minor, or of another major).
    pub announce_version: Option<crate::transport::handshake::Version>,
    /// Bytes per snapshot chunk sent to a follower (0: the default, 1 MiB); small in tests so
    /// a small state is many chunks.
    pub snapshot_chunk_bytes: u32,
    /// Flip a byte in every Nth snapshot chunk this node sends, after its checksum was taken
    /// (0: never), so that tests see receivers refuse corrupt chunks and the sender resend them.
    pub corrupt_chunk_every: u64,
}

/// Default API connection cap (see [`NodeConfig::max_connections`]).
pub const DEFAULT_MAX_CONNECTIONS: usize = 1024;
/// Default API header timeout (see [`NodeConfig::api_header_timeout_ms`]).
pub const DEFAULT_API_HEADER_TIMEOUT_MS: u64 = 10_000;
/// Default long-poll cap (see [`NodeConfig::max_watchers`]).
pub const DEFAULT_MAX_WATCHERS: usize = 10_000;
/// Default (and largest) kv value size (see [`NodeConfig::max_value_bytes`]).
pub const DEFAULT_MAX_VALUE_BYTES: usize = raftorch_core::orchestrator::validate::MAX_VALUE_LEN;

/// Defaults: heartbeat every 50 ms, election timeout 150–300 ms, snapshot every 10 000 entries.
pub const DEFAULT_HEARTBEAT_MS: u64 = 50;
/// See [`DEFAULT_HEARTBEAT_MS`].
pub const DEFAULT_ELECTION_MS: u64 = 150;
/// See [`DEFAULT_HEARTBEAT_MS`].
pub const DEFAULT_SNAPSHOT_EVERY: u64 = 10_000;
/// Default [`NodeConfig::snapshot_log_bytes`]: 512 MiB.
pub const DEFAULT_SNAPSHOT_LOG_BYTES: u64 = 512 << 20;
/// Default runtime threads (see [`NodeConfig::threads`]).
pub const DEFAULT_THREADS: usize = 1;
/// Default leadership hand-over wait at shutdown (see [`NodeConfig::shutdown_transfer_ms`]).
pub const DEFAULT_SHUTDOWN_TRANSFER_MS: u64 = 3_000;

/// The core's logical clock derived from the timing options: a tick is half a heartbeat, the
/// leader heartbeats every 2 ticks, and the election timeout is `election_ms` rounded to ticks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Timing {
    /// Wall time of one `tick()`.
    pub tick: Duration,
    /// Ticks between heartbeats.
    pub heartbeat_tick: u32,
    /// Minimum ticks before an election.
    pub election_tick: u32,
}

impl NodeConfig {
    /// Checks the fields against each other.
    pub fn validate(&self) -> Result<(), String> {
        if self.id == 0 {
            return Err("--id must be a positive integer".into());
        }
        let mut seen = vec![self.id];
        for p in &self.peers {
            if seen.contains(&p.id) {
                return Err(format!("node id {} appears twice (self or --peer)", p.id));
            }
            seen.push(p.id);
        }
        if self.join && self.peers.is_empty() {
            return Err(
                "--join needs a --peer for each current member (at least the leader), to reply to"
                    .into(),
            );
        }
        if self.heartbeat_ms < 2 {
            return Err("--heartbeat-ms must be at least 2".into());
        }
        if self.election_ms < self.heartbeat_ms * 2 {
            return Err("--election-ms must be at least twice --heartbeat-ms".into());
        }
        if self.threads == 0 || self.threads > 256 {
            return Err("--threads must be between 1 and 256".into());
        }
        if self.max_connections == 0 || self.max_connections > 1_000_000 {
            return Err("--max-connections must be between 1 and 1000000".into());
        }
        if self.max_watchers == 0 || self.max_watchers > 1_000_000 {
            return Err("--max-watchers must be between 1 and 1000000".into());
        }
        if self.api_header_timeout_ms == 0 {
            return Err("--api-header-timeout-ms must be at least 1".into());
        }
        if self.max_value_bytes == 0 || self.max_value_bytes > DEFAULT_MAX_VALUE_BYTES {
            return Err(format!(
                "--max-value-bytes must be between 1 and {DEFAULT_MAX_VALUE_BYTES}"
            ));
        }
        self.space.validate()?;
        if self.cluster_token.as_deref().is_some_and(str::is_empty) {
            return Err("--cluster-token must not be empty".into());
        }
        if self.shutdown_transfer_ms > 60_000 {
            return Err("--shutdown-transfer-ms must be at most 60000".into());
        }
        // Exposure first: listening beyond loopback unprotected is the graver mistake.
        self.check_exposure()?;
        crate::advertise::check_listen(
            self.peer_listen,
            self.advertise_peer.as_deref(),
            "--advertise-peer",
        )?;
        crate::advertise::check_listen(
            self.api_listen,
            self.advertise_api.as_deref(),
            "--advertise-api",
        )
    }

    /// Secure by default: a node that listens on anything but loopback needs its protections
    /// (an auth file and TLS) unless it was told `insecure`.
    fn check_exposure(&self) -> Result<(), String> {
        let exposed = [self.api_listen, self.peer_listen]
            .into_iter()
            .find(|a| !a.ip().is_loopback());
        let mut missing = Vec::new();
        if self.auth_file.is_none() {
            missing.push("--auth-file");
        }
        if self.tls.is_none() {
            missing.push("TLS (--tls-ca, --tls-cert, --tls-key)");
        }
        match exposed {
            Some(addr) if !self.insecure && !missing.is_empty() => Err(format!(
                "listening on {addr} without {}; pass --insecure to run {}",
                missing.join(" and "),
                match (self.auth_file.is_none(), self.tls.is_none()) {
                    (true, true) => "unauthenticated and unencrypted",
                    (true, false) => "unauthenticated",
                    _ => "unencrypted",
                }
            )),
            _ => Ok(()),
        }
    }

    /// The voters of a brand-new cluster: this node and every peer; none for a node that joins
    /// a running cluster.
    pub fn voters(&self) -> Vec<NodeId> {
        if self.join {
            return Vec::new();
        }
        let mut v: Vec<NodeId> = std::iter::once(self.id)
            .chain(self.peers.iter().map(|p| p.id))
            .collect();
        v.sort_unstable();
        v
    }

    /// The tick length and tick counts for the core.
    pub fn timing(&self) -> Timing {
        let tick_ms = (self.heartbeat_ms / 2).max(1);
        let election_tick = (self.election_ms / tick_ms).max(3);
        Timing {
            tick: Duration::from_millis(tick_ms),
            heartbeat_tick: 2,
            election_tick: u32::try_from(election_tick).unwrap_or(u32::MAX),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn peer_spec_round_trips_and_rejects_garbage() {
        let p: PeerSpec = "2=127.0.0.1:7002@localhost:8002".parse().unwrap();
        assert_eq!(p.id, 2);
        assert_eq!(p.peer_addr, "127.0.0.1:7002");
        assert_eq!(p.api_addr, "localhost:8002");
        assert_eq!(p.to_string().parse::<PeerSpec>(), Ok(p));
        for bad in [
            "",
            "2",
            "2=a:1",
            "0=a:1@b:2",
            "x=a:1@b:2",
            "2=a@b:2",
            "2=a:1@b:x",
        ] {
            assert!(bad.parse::<PeerSpec>().is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn default_timing_gives_150_to_300_ms_elections() {
        let c = NodeConfig {
            id: 1,
            data_dir: "d".into(),
            peer_listen: "127.0.0.1:1".parse().unwrap(),
            api_listen: "127.0.0.1:2".parse().unwrap(),
            peers: vec![],
            heartbeat_ms: DEFAULT_HEARTBEAT_MS,
            election_ms: DEFAULT_ELECTION_MS,
            snapshot_every: DEFAULT_SNAPSHOT_EVERY,
            snapshot_log_bytes: DEFAULT_SNAPSHOT_LOG_BYTES,
            join: false,
            threads: DEFAULT_THREADS,
            cluster_token: None,
            max_connections: DEFAULT_MAX_CONNECTIONS,
            api_header_timeout_ms: DEFAULT_API_HEADER_TIMEOUT_MS,
            max_value_bytes: DEFAULT_MAX_VALUE_BYTES,
            max_watchers: DEFAULT_MAX_WATCHERS,
            space: crate::space::SpaceLimits::default(),
            debug: DebugOptions::default(),
            auth_file: None,
            token_rate: None,
            insecure: false,
            advertise_peer: None,
            advertise_api: None,
            shutdown_transfer_ms: DEFAULT_SHUTDOWN_TRANSFER_MS,
            tls: None,
            otlp_endpoint: None,
        };
        let t = c.timing();
        assert_eq!(t.tick, Duration::from_millis(25));
        assert_eq!((t.heartbeat_tick, t.election_tick), (2, 6));
        assert!(c.validate().is_ok());
        assert_eq!(c.voters(), [1]);
        let joining = NodeConfig {
            join: true,
            ..c.clone()
        };
        assert!(
            joining.validate().is_err(),
            "joining needs someone to reply to"
        );
        let joining = NodeConfig {
            peers: vec!["2=127.0.0.1:7002@127.0.0.1:8002".parse().unwrap()],
            ..joining
        };
        assert!(joining.validate().is_ok());
        assert!(joining.voters().is_empty(), "a joining node founds nothing");
        // Values: 1 byte up to the state machine's 1 MiB.
        assert_eq!(DEFAULT_MAX_VALUE_BYTES, 1 << 20);
        for (bytes, ok) in [
            (0, false),
            (1, true),
            (1 << 20, true),
            ((1 << 20) + 1, false),
        ] {
            let c = NodeConfig {
                max_value_bytes: bytes,
                ..joining.clone()
            };
            assert_eq!(c.validate().is_ok(), ok, "--max-value-bytes {bytes}");
        }

        let exposed = NodeConfig {
            api_listen: "0.0.0.0:8001".parse().unwrap(),
            advertise_api: Some("node-1.example:8001".into()),
            ..c.clone()
        };
        assert_eq!(
            exposed.validate().unwrap_err(),
            "listening on 0.0.0.0:8001 without --auth-file and TLS (--tls-ca, --tls-cert, \
             --tls-key); pass --insecure to run unauthenticated and unencrypted"
        );
        let peers_exposed = NodeConfig {
            peer_listen: "10.0.0.4:7001".parse().unwrap(),
            ..c.clone()
        };
        assert!(peers_exposed
            .validate()
            .unwrap_err()
            .contains("10.0.0.4:7001"));
        let insecure = NodeConfig {
            insecure: true,
            ..exposed.clone()
        };
        assert!(insecure.validate().is_ok());
        let with_auth = NodeConfig {
            auth_file: Some("auth.toml".into()),
            ..exposed.clone()
        };
        assert_eq!(
            with_auth.validate().unwrap_err(),
            "listening on 0.0.0.0:8001 without TLS (--tls-ca, --tls-cert, --tls-key); pass \
             --insecure to run unencrypted"
        );
        let tls = Some(crate::tls::TlsFiles {
            ca: "ca.pem".into(),
            cert: "node-1.pem".into(),
            key: "node-1-key.pem".into(),
        });
        let with_tls = NodeConfig {
            tls: tls.clone(),
            ..exposed.clone()
        };
        assert_eq!(
            with_tls.validate().unwrap_err(),
            "listening on 0.0.0.0:8001 without --auth-file; pass --insecure to run \
             unauthenticated"
        );
        let with_both = NodeConfig { tls, ..with_auth };
        assert!(with_both.validate().is_ok());
        let anywhere = NodeConfig {
            peer_listen: "0.0.0.0:7001".parse().unwrap(),
            ..with_both
        };
        assert!(anywhere
            .validate()
            .unwrap_err()
            .starts_with("listening on 0.0.0.0:7001 without --advertise-peer"));
        let advertised = NodeConfig {
            advertise_peer: Some("node-1.example:7001".into()),
            ..anywhere
        };
        assert!(advertised.validate().is_ok());
    }
}
