//! The `raftorch` command line: `node` runs one node, `dev` a local cluster of real node
//! processes, `ctl` talks to a cluster's API.

mod bench;
mod certs;
mod client;
mod ctl;
mod ctl_members;
mod ctl_output;
mod dev;
pub(crate) mod dev_auth;
mod progress;
mod sim;
mod snapshot;
mod table;

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

use crate::config::{
    DebugOptions, FileConfig, NodeConfig, PeerSpec, DEFAULT_API_HEADER_TIMEOUT_MS,
    DEFAULT_ELECTION_MS, DEFAULT_HEARTBEAT_MS, DEFAULT_MAX_CONNECTIONS, DEFAULT_MAX_VALUE_BYTES,
    DEFAULT_MAX_WATCHERS, DEFAULT_SHUTDOWN_TRANSFER_MS, DEFAULT_SNAPSHOT_EVERY,
    DEFAULT_SNAPSHOT_LOG_BYTES, DEFAULT_THREADS,
};
use crate::transport::handshake::Version;

pub use bench::{BenchArgs, Target};
pub use certs::{write_all as write_certs, CertsArgs};
pub use ctl::CtlArgs;
pub use ctl_output::Output;
pub use dev::DevArgs;
pub use sim::SimArgs;
pub use snapshot::{RecoverArgs, SnapshotArgs};

/// raftorch: a highly available service orchestrator built on Raft.
#[derive(Debug, Parser)]
#[command(name = "raftorch", version, about)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: CliCommand,
}

/// The subcommands.
// Parsed once per process: the node's many options need no box.
#[derive(Debug, Subcommand)]
pub enum CliCommand {
    /// Run one node.
    Node(Box<NodeArgs>),
    /// Run a local cluster of N node processes on loopback ports (data in a temp dir).
    Dev(DevArgs),
    /// Talk to a running cluster.
    Ctl(CtlArgs),
    /// Run the core's randomized chaos checks (simulated cluster) over many seeds.
    Sim(SimArgs),
    /// Load a cluster's kv API (closed loop) or measure leader failover.
    Bench(BenchArgs),
    /// Backups: save a consistent snapshot of a running cluster, check one, restore one into
    /// the data directories of a new cluster.
    Snapshot(SnapshotArgs),
    /// Force a new single-member cluster from a survivor's data directory when a quorum is
    /// lost for good (as etcd's --force-new-cluster). Writes acknowledged only by the lost
    /// nodes may be gone; never restart the old members into the new cluster.
    Recover(RecoverArgs),
    /// Write a CA and node and client certificates for a TLS cluster.
    Certs(CertsArgs),
}

/// `raftorch node`: flags override `--config FILE.toml`; each flag also reads `RAFTORCH_*`.
#[derive(Debug, Clone, Args)]
pub struct NodeArgs {
    /// TOML file with any of: id, data_dir, peer_listen, api_listen, peers, heartbeat_ms,
    /// election_ms, snapshot_every, snapshot_log_bytes, join, threads, cluster_token, max_connections,
    /// api_header_timeout_ms, max_value_bytes, max_watchers, auth_file, token_rate, token_burst,
    /// insecure, advertise_peer,
    /// advertise_api, shutdown_transfer_ms, tls_ca, tls_cert, tls_key, otlp_endpoint,
    /// quota_bytes, disk_reserve_bytes.
    #[arg(long, env = "RAFTORCH_CONFIG")]
    pub config: Option<PathBuf>,
    /// This node's id (a positive integer, unique in the cluster).
    #[arg(long, env = "RAFTORCH_ID")]
    pub id: Option<u64>,
    /// Data directory (write-ahead log, hard state, snapshot).
    #[arg(long, env = "RAFTORCH_DATA_DIR")]
    pub data_dir: Option<PathBuf>,
    /// Listen address of the Raft peer transport.
    #[arg(long, env = "RAFTORCH_PEER_LISTEN")]
    pub peer_listen: Option<SocketAddr>,
    /// Listen address of the HTTP API.
    #[arg(long, env = "RAFTORCH_API_LISTEN")]
    pub api_listen: Option<SocketAddr>,
    /// Another member: ID=PEER_HOST:PORT@API_HOST:PORT (repeat, or comma-separate in the env).
    #[arg(long = "peer", env = "RAFTORCH_PEERS", value_delimiter = ',')]
    pub peers: Vec<PeerSpec>,
    /// Leader heartbeat interval in ms (a Raft tick is half of it). Default 50.
    #[arg(long, env = "RAFTORCH_HEARTBEAT_MS")]
    pub heartbeat_ms: Option<u64>,
    /// Minimum election timeout in ms (actual: random in [T, 2T)). Default 150.
    #[arg(long, alias = "election-timeout-ms", env = "RAFTORCH_ELECTION_MS")]
    pub election_ms: Option<u64>,
    /// Snapshot and compact the log every N applied entries (0: never). Default 10000.
    #[arg(long, env = "RAFTORCH_SNAPSHOT_EVERY")]
    pub snapshot_every: Option<u64>,
    /// Snapshot once the log since the last snapshot holds this many bytes, whatever the state's
    /// size (0: never by bytes). A large state otherwise waits until the log since its last
    /// snapshot is half its size, and any state is snapshotted after 30 minutes with new
    /// entries. Default 512 MiB.
    #[arg(long, env = "RAFTORCH_SNAPSHOT_LOG_BYTES")]
    pub snapshot_log_bytes: Option<u64>,
    /// Join a running cluster (the leader adds this node with `ctl members add`) instead of
    /// founding one with the --peer nodes. Only matters on the first start.
    #[arg(long, env = "RAFTORCH_JOIN")]
    pub join: bool,
    /// Threads for the network and the API (the disk has its own). 1 runs them all on one
    /// thread: the fewest thread switches per request. Default 1.
    #[arg(long, env = "RAFTORCH_THREADS")]
    pub threads: Option<usize>,
    /// Names the cluster (as etcd's --initial-cluster-token; not a secret): its hash is the
    /// cluster id fixed on the first start and checked in every peer handshake, so nodes of
    /// another cluster are refused. Give every cluster its own.
    #[arg(long, env = "RAFTORCH_CLUSTER_TOKEN")]
    pub cluster_token: Option<String>,
    /// Most API connections open at once; more are closed as soon as accepted. Default 1024.
    #[arg(long, env = "RAFTORCH_MAX_CONNECTIONS")]
    pub max_connections: Option<usize>,
    /// Ms an API connection gets to send a request's headers (also the keep-alive idle
    /// timeout). Default 10000.
    #[arg(long, env = "RAFTORCH_API_HEADER_TIMEOUT_MS")]
    pub api_header_timeout_ms: Option<u64>,
    /// Largest kv value a client may write, in bytes (at most 1048576, the default).
    #[arg(long, env = "RAFTORCH_MAX_VALUE_BYTES")]
    pub max_value_bytes: Option<usize>,
    /// Most long-polls (watches, blocking lock acquires, election waits) waiting at once; one
    /// more gets 503 too_many_waiters with Retry-After. Default 10000.
    #[arg(long, env = "RAFTORCH_MAX_WATCHERS")]
    pub max_watchers: Option<usize>,
    /// The storage quota and the disk reserve.
    #[command(flatten)]
    pub space: crate::space::SpaceArgs,
    /// Testing: sample a digest of the whole state at every multiple of N applied entries,
    /// served by GET /v1/debug/digests (0, the default: never; each sample serializes the
    /// whole state).
    #[arg(long, env = "RAFTORCH_DIGEST_EVERY", default_value_t = 0)]
    pub digest_every: u64,
    /// Testing: send snapshots to followers in chunks of N bytes (0, the default: 1 MiB), so
    /// a small state travels as many chunks.
    #[arg(long, env = "RAFTORCH_SNAPSHOT_CHUNK_BYTES", default_value_t = 0)]
    pub snapshot_chunk_bytes: u32,
    /// Testing: flip a byte in every Nth snapshot chunk this node sends, after its checksum
    /// was taken (0, the default: never), as a faulty link or disk would.
    #[arg(long, env = "RAFTORCH_DEBUG_CORRUPT_CHUNK_EVERY", default_value_t = 0)]
    pub debug_corrupt_chunk_every: u64,
    /// Testing: start this node's clock this many ms off the wall clock (negative: behind), as
    /// a skewed clock would be.
    #[arg(
        long,
        env = "RAFTORCH_CLOCK_OFFSET_MS",
        default_value_t = 0,
        allow_negative_numbers = true
    )]
    pub clock_offset_ms: i64,
    /// TOML file of API tokens ([[token]] with name, secret or secret_sha256, role = read |
    /// write | admin, optional prefixes). With it, every request but /healthz and /readyz
    /// needs `Authorization: Bearer <secret>`. Reloaded on SIGHUP.
    #[arg(long, env = "RAFTORCH_AUTH_FILE")]
    pub auth_file: Option<PathBuf>,
    /// Requests a second each token may send, for the tokens the auth file gives no `rate` of
    /// their own (a token bucket per token; beyond it 429 with Retry-After). Default: no limit.
    #[arg(long, env = "RAFTORCH_TOKEN_RATE")]
    pub token_rate: Option<u32>,
    /// How many requests such a token may send at once (default: --token-rate).
    #[arg(long, env = "RAFTORCH_TOKEN_BURST")]
    pub token_burst: Option<u32>,
    /// Start even when listening beyond loopback without an auth file or TLS (anyone who
    /// reaches the ports can then read, write and change the membership, or listen in).
    #[arg(long, env = "RAFTORCH_INSECURE")]
    pub insecure: bool,
    /// The peer address other nodes reach this one at, HOST:PORT (default: --peer-listen;
    /// required when that is 0.0.0.0 or ::), as etcd's --initial-advertise-peer-urls.
    #[arg(long, env = "RAFTORCH_ADVERTISE_PEER")]
    pub advertise_peer: Option<String>,
    /// The API address clients and forwarding nodes reach this one at, HOST:PORT (default:
    /// --api-listen; required when that is 0.0.0.0 or ::).
    #[arg(long, env = "RAFTORCH_ADVERTISE_API")]
    pub advertise_api: Option<String>,
    /// On SIGTERM, a leader hands leadership to its most caught-up voter and waits up to this
    /// many ms for it before it stops (0: it just stops). Default 3000.
    #[arg(long, env = "RAFTORCH_SHUTDOWN_TRANSFER_MS")]
    pub shutdown_transfer_ms: Option<u64>,
    /// Testing: announce protocol version MAJOR.MINOR in peer handshakes instead of this
    /// build's, as a node of another release would.
    #[arg(long, hide = true)]
    pub debug_announce_version: Option<Version>,
    /// The CA certificate (PEM) peers' and clients' certificates must chain to. With
    /// --tls-cert and --tls-key: mutual TLS on the peer port, HTTPS on the API.
    #[arg(long, env = "RAFTORCH_TLS_CA")]
    pub tls_ca: Option<PathBuf>,
    /// This node's certificate (PEM, naming this node's id: `raftorch certs` writes them).
    #[arg(long, env = "RAFTORCH_TLS_CERT")]
    pub tls_cert: Option<PathBuf>,
    /// This node's private key (PEM).
    #[arg(long, env = "RAFTORCH_TLS_KEY")]
    pub tls_key: Option<PathBuf>,
    /// Export OpenTelemetry traces by OTLP/HTTP (protobuf) to this collector, e.g.
    /// http://localhost:4318 (spans go to /v1/traces under it): a span per API request
    /// (continuing the client's W3C traceparent), forwarding, propose, commit, apply and
    /// snapshots. Off by default.
    #[arg(long, env = "RAFTORCH_OTLP_ENDPOINT")]
    pub otlp_endpoint: Option<String>,
}

impl NodeArgs {
    /// Merges flags over the config file over defaults, and validates.
    pub fn resolve(&self) -> Result<NodeConfig, String> {
        let file = match &self.config {
            Some(path) => {
                let text = std::fs::read_to_string(path)
                    .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
                toml::from_str::<FileConfig>(&text)
                    .map_err(|e| format!("{}: {e}", path.display()))?
            }
            None => FileConfig::default(),
        };
        let peers = if self.peers.is_empty() {
            file.peers
                .unwrap_or_default()
                .iter()
                .map(|p| p.parse())
                .collect::<Result<Vec<PeerSpec>, _>>()?
        } else {
            self.peers.clone()
        };
        let missing = |what: &str| format!("--{what} is required (flag, env or config file)");
        let config = NodeConfig {
            id: self.id.or(file.id).ok_or_else(|| missing("id"))?,
            data_dir: self
                .data_dir
                .clone()
                .or(file.data_dir)
                .ok_or_else(|| missing("data-dir"))?,
            peer_listen: self
                .peer_listen
                .or(file.peer_listen)
                .ok_or_else(|| missing("peer-listen"))?,
            api_listen: self
                .api_listen
                .or(file.api_listen)
                .ok_or_else(|| missing("api-listen"))?,
            peers,
            heartbeat_ms: self
                .heartbeat_ms
                .or(file.heartbeat_ms)
                .unwrap_or(DEFAULT_HEARTBEAT_MS),
            election_ms: self
                .election_ms
                .or(file.election_ms)
                .unwrap_or(DEFAULT_ELECTION_MS),
            snapshot_every: self
                .snapshot_every
                .or(file.snapshot_every)
                .unwrap_or(DEFAULT_SNAPSHOT_EVERY),
            snapshot_log_bytes: self
                .snapshot_log_bytes
                .or(file.snapshot_log_bytes)
                .unwrap_or(DEFAULT_SNAPSHOT_LOG_BYTES),
            join: self.join || file.join.unwrap_or(false),
            threads: self.threads.or(file.threads).unwrap_or(DEFAULT_THREADS),
            cluster_token: self.cluster_token.clone().or(file.cluster_token),
            max_connections: self
                .max_connections
                .or(file.max_connections)
                .unwrap_or(DEFAULT_MAX_CONNECTIONS),
            api_header_timeout_ms: self
                .api_header_timeout_ms
                .or(file.api_header_timeout_ms)
                .unwrap_or(DEFAULT_API_HEADER_TIMEOUT_MS),
            max_value_bytes: self
                .max_value_bytes
                .or(file.max_value_bytes)
                .unwrap_or(DEFAULT_MAX_VALUE_BYTES),
            max_watchers: self
                .max_watchers
                .or(file.max_watchers)
                .unwrap_or(DEFAULT_MAX_WATCHERS),
            debug: DebugOptions {
                digest_every: self.digest_every,
                snapshot_chunk_bytes: self.snapshot_chunk_bytes,
                corrupt_chunk_every: self.debug_corrupt_chunk_every,
                clock_offset_ms: self.clock_offset_ms,
                announce_version: self.debug_announce_version,
            },
            auth_file: self.auth_file.clone().or(file.auth_file),
            token_rate: match (
                self.token_rate.or(file.token_rate),
                self.token_burst.or(file.token_burst),
            ) {
                (Some(rate), burst) => Some(crate::auth::RateLimit::new(
                    rate,
                    burst,
                    "--token-rate/--token-burst",
                )?),
                (None, Some(_)) => return Err("--token-burst needs --token-rate".into()),
                (None, None) => None,
            },
            insecure: self.insecure || file.insecure.unwrap_or(false),
            advertise_peer: self.advertise_peer.clone().or(file.advertise_peer),
            advertise_api: self.advertise_api.clone().or(file.advertise_api),
            shutdown_transfer_ms: self
                .shutdown_transfer_ms
                .or(file.shutdown_transfer_ms)
                .unwrap_or(DEFAULT_SHUTDOWN_TRANSFER_MS),
            space: crate::space::SpaceLimits {
                quota_bytes: self
                    .space
                    .quota_bytes
                    .or(file.quota_bytes)
                    .unwrap_or(crate::space::DEFAULT_QUOTA_BYTES),
                disk_reserve_bytes: self.space.disk_reserve_bytes.or(file.disk_reserve_bytes),
            },
            tls: crate::tls::TlsFiles::from_parts(
                self.tls_ca.clone().or(file.tls_ca),
                self.tls_cert.clone().or(file.tls_cert),
                self.tls_key.clone().or(file.tls_key),
            )?,
            otlp_endpoint: self.otlp_endpoint.clone().or(file.otlp_endpoint),
        };
        config.validate()?;
        Ok(config)
    }
}

/// Runs the parsed command line; returns the process exit code.
pub fn run(cli: Cli) -> i32 {
    match cli.command {
        CliCommand::Node(args) => {
            let config = match args.resolve() {
                Ok(c) => c,
                Err(e) => {
                    eprintln!("raftorch node: {e}");
                    return 2;
                }
            };
            let mut builder = if config.threads == 1 {
                tokio::runtime::Builder::new_current_thread()
            } else {
                let mut b = tokio::runtime::Builder::new_multi_thread();
                b.worker_threads(config.threads);
                b
            };
            let runtime = match builder.enable_all().build() {
                Ok(r) => r,
                Err(e) => {
                    eprintln!("raftorch node: cannot start the runtime: {e}");
                    return 1;
                }
            };
            match runtime.block_on(crate::server::run(config)) {
                Ok(()) => 0,
                Err(e) => {
                    tracing::error!("{e}");
                    eprintln!("raftorch node: {e}");
                    1
                }
            }
        }
        CliCommand::Dev(args) => dev::run(&args),
        CliCommand::Ctl(args) => ctl::run(&args),
        CliCommand::Sim(args) => sim::run(&args),
        CliCommand::Bench(args) => bench::run(&args),
        CliCommand::Snapshot(args) => snapshot::run(&args),
        CliCommand::Recover(args) => snapshot::run_recover(&args),
        CliCommand::Certs(args) => certs::run(&args),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_override_the_config_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("node.toml");
        std::fs::write(
            &path,
            "id = 1\ndata_dir = \"/d\"\npeer_listen = \"127.0.0.1:7001\"\n\
             api_listen = \"127.0.0.1:8001\"\npeers = [\"2=127.0.0.1:7002@127.0.0.1:8002\"]\n",
        )
        .unwrap();
        let cli = Cli::try_parse_from([
            "raftorch",
            "node",
            "--config",
            path.to_str().unwrap(),
            "--api-listen",
            "127.0.0.1:9001",
        ])
        .unwrap();
        let CliCommand::Node(args) = cli.command else {
            panic!("not the node command");
        };
        let c = args.resolve().unwrap();
        assert_eq!(c.id, 1);
        assert_eq!(c.api_listen, "127.0.0.1:9001".parse().unwrap());
        assert_eq!(c.peers.len(), 1);
        assert_eq!(c.heartbeat_ms, DEFAULT_HEARTBEAT_MS);
        assert_eq!(c.threads, DEFAULT_THREADS);
    }

    #[test]
    fn threads_come_from_the_flag_or_the_config_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("node.toml");
        std::fs::write(&path, "id = 1\ndata_dir = \"/d\"\nthreads = 4\n").unwrap();
        let resolve = |extra: &[&str]| {
            let mut argv = vec!["raftorch", "node", "--config", path.to_str().unwrap()];
            argv.extend_from_slice(&["--peer-listen", "127.0.0.1:7001"]);
            argv.extend_from_slice(&["--api-listen", "127.0.0.1:8001"]);
            argv.extend_from_slice(extra);
            let CliCommand::Node(args) = Cli::try_parse_from(argv).unwrap().command else {
                panic!("not the node command");
            };
            args.resolve()
        };
        assert_eq!(resolve(&[]).unwrap().threads, 4);
        assert_eq!(resolve(&["--threads", "2"]).unwrap().threads, 2);
        assert!(resolve(&["--threads", "0"])
            .unwrap_err()
            .contains("--threads"));
    }

    #[test]
    fn unknown_config_keys_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("node.toml");
        std::fs::write(&path, "id = 1\nbogus = 2\n").unwrap();
        let args = NodeArgs {
            config: Some(path),
            id: None,
            data_dir: None,
            peer_listen: None,
            api_listen: None,
            peers: vec![],
            heartbeat_ms: None,
            election_ms: None,
            snapshot_every: None,
            snapshot_log_bytes: None,
            join: false,
            threads: None,
            cluster_token: None,
            max_connections: None,
            api_header_timeout_ms: None,
            max_value_bytes: None,
            max_watchers: None,
            space: Default::default(),
            digest_every: 0,
            snapshot_chunk_bytes: 0,
            debug_corrupt_chunk_every: 0,
            clock_offset_ms: 0,
            auth_file: None,
            token_rate: None,
            token_burst: None,
            insecure: false,
            advertise_peer: None,
            advertise_api: None,
            shutdown_transfer_ms: None,
            debug_announce_version: None,
            tls_ca: None,
            tls_cert: None,
            tls_key: None,
            otlp_endpoint: None,
        };
        assert!(args.resolve().unwrap_err().contains("bogus"));
    }

    #[test]
    fn join_comes_from_the_flag_or_the_config_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("node.toml");
        std::fs::write(
            &path,
            "id = 4\ndata_dir = \"/d\"\npeer_listen = \"127.0.0.1:7004\"\n\
             api_listen = \"127.0.0.1:8004\"\npeers = [\"1=127.0.0.1:7001@127.0.0.1:8001\"]\n",
        )
        .unwrap();
        let parse = |extra: &[&str], toml_join: Option<bool>| {
            let mut text = std::fs::read_to_string(&path).unwrap();
            if let Some(j) = toml_join {
                text.push_str(&format!("join = {j}\n"));
            }
            let path = dir.path().join("with-join.toml");
            std::fs::write(&path, text).unwrap();
            let mut argv = vec!["raftorch", "node", "--config", path.to_str().unwrap()];
            argv.extend_from_slice(extra);
            let CliCommand::Node(args) = Cli::try_parse_from(argv).unwrap().command else {
                panic!("not the node command");
            };
            args.resolve().unwrap()
        };
        assert!(!parse(&[], None).join);
        assert!(parse(&["--join"], None).join);
        assert!(parse(&[], Some(true)).join);
        let c = parse(&[], Some(true));
        assert!(c.voters().is_empty());
    }
}
