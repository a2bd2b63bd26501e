//! `raftorch bench`: a closed-loop load generator (one thread and one keep-alive connection
//! per client) for the kv API of raftorch, or of etcd through its v3 JSON gateway; and
//! `--failover`, which measures recovery from `kill -9` of the leader of a cluster it starts;
//! and `--rolling-restart`, the write gap while it restarts every node of one in turn; and
//! `--scale --fill SIZE`, how writes, memory, snapshots and catch-up grow with the state.
//!
//! Without `--endpoints` it starts what it measures itself: a local 3-node raftorch cluster, and
//! with `--target etcd` also a local 3-node etcd cluster, loaded side by side.

mod compare;
mod failover;
mod load;
mod procs;
mod rolling;
mod scale;

use std::time::Duration;

use clap::{Args, ValueEnum};

/// Which server `raftorch bench` loads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Target {
    /// raftorch: `PUT/GET /v1/kv/{key}`, sent to the leader (found through `/v1/status`).
    Raftorch,
    /// etcd v3 JSON gateway: `POST /v3/kv/put` and `POST /v3/kv/range`, base64 keys. Without
    /// `--endpoints`: a local etcd cluster and a local raftorch cluster, side by side.
    Etcd,
}

/// Which node of the cluster the load goes to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Via {
    /// The leader: no forwarding hop.
    Leader,
    /// A follower: every write is forwarded to the leader (raftorch's engines forward on the
    /// peer connection; etcd's followers forward too).
    Follower,
}

/// Options of `raftorch bench`.
#[derive(Debug, Clone, Args)]
pub struct BenchArgs {
    /// Comma-separated API base URLs of a running cluster. Without them, the bench starts local
    /// 3-node clusters itself (raftorch, and etcd too with `--target etcd`).
    #[arg(long, value_delimiter = ',')]
    pub endpoints: Vec<String>,
    /// Concurrent closed-loop clients; a comma-separated list runs the load once per figure.
    #[arg(long, value_delimiter = ',', default_value = "16")]
    pub clients: Vec<usize>,
    /// How long to run: `10s`, `500ms`, `1m` or plain seconds.
    #[arg(long, default_value = "10s", value_parser = parse_duration)]
    pub duration: Duration,
    /// Bytes per written value.
    #[arg(long, default_value_t = 256)]
    pub value_size: usize,
    /// Share of operations that are reads, 0.0..=1.0.
    #[arg(long, default_value_t = 0.5)]
    pub read_ratio: f64,
    /// Distinct keys.
    #[arg(long, default_value_t = 1000)]
    pub keys: u64,
    /// The server kind.
    #[arg(long, value_enum, default_value_t = Target::Raftorch)]
    pub target: Target,
    /// Send the load to the leader, or to a follower (measures forwarded writes).
    #[arg(long, value_enum, default_value_t = Via::Leader)]
    pub via: Via,
    /// Start a 3-node cluster of this binary, kill -9 its leader ROUNDS times and measure the
    /// time from each kill to the first acknowledged write through a survivor.
    #[arg(long)]
    pub failover: bool,
    /// Rounds of `--failover` (or of `--rolling-restart`: each restarts every node once).
    #[arg(long, default_value_t = 5)]
    pub rounds: u32,
    /// Start a 3-node cluster of this binary and restart its nodes one by one (SIGTERM, start,
    /// wait until ready) while a client writes; prints the longest gap between acknowledged
    /// writes during each restart.
    #[arg(long, conflicts_with = "failover")]
    pub rolling_restart: bool,
    /// With `--rolling-restart`: start the nodes with `--shutdown-transfer-ms 0`, so a leader
    /// stops without handing leadership over (the comparison).
    #[arg(long, requires = "rolling_restart")]
    pub no_handover: bool,
    /// Without `--endpoints`: load runs per client count, alternating raftorch and etcd; the
    /// table shows each system's median run (by throughput), so a noisy moment on a shared
    /// machine does not decide the ratio.
    #[arg(long, default_value_t = 1)]
    pub repeat: u32,
    /// The API token for `--endpoints` of a raftorch cluster started with --auth-file (a
    /// `write` token; `read` suffices with --read-ratio 1). Never sent to etcd.
    #[arg(long, env = "RAFTORCH_TOKEN", hide_env_values = true)]
    pub token: Option<String>,
    /// The CA certificate (PEM) to trust for `https://` `--endpoints` of a TLS cluster.
    #[arg(long, env = "RAFTORCH_CACERT")]
    pub cacert: Option<std::path::PathBuf>,
    /// Without `--endpoints`: start the raftorch clusters secure, as a production cluster
    /// runs (peer mTLS, HTTPS and an admin token, with certificates and tokens made for the
    /// run). Off by default so the comparison with etcd (plain HTTP, no auth) is like for like.
    #[arg(long, conflicts_with = "endpoints")]
    pub secure: bool,
    /// Start a 3-node cluster of this binary with one follower down, fill its state step by
    /// step up to `--fill` (0, 64 MiB, 256 MiB, 1 GiB: those below it, and it), measure a
    /// write load at each step, then the follower's catch-up, a paged read of every key and a
    /// restart to ready, against the goals of a 1 GiB state (`cargo xtask scale`).
    #[arg(long, conflicts_with_all = ["failover", "rolling_restart", "endpoints"])]
    pub scale: bool,
    /// With `--scale`: the live state to fill up to (`1GiB`, `200MiB`, bytes).
    #[arg(long, default_value = "1GiB", value_parser = scale::parse_size, requires = "scale")]
    pub fill: u64,
}

/// Parses `10s`, `250ms`, `2m` or a plain number of seconds.
fn parse_duration(s: &str) -> Result<Duration, String> {
    let s = s.trim();
    let bad = || format!("bad duration {s:?} (e.g. 10s, 500ms, 1m)");
    let (number, unit) = match s.find(|c: char| !c.is_ascii_digit()) {
        Some(i) => s.split_at(i),
        None => (s, "s"),
    };
    let n: u64 = number.parse().map_err(|_| bad())?;
    match unit {
        "ms" => Ok(Duration::from_millis(n)),
        "s" => Ok(Duration::from_secs(n)),
        "m" => Ok(Duration::from_secs(n.saturating_mul(60))),
        _ => Err(bad()),
    }
}

/// Runs the benchmark; returns the exit code.
pub(super) fn run(args: &BenchArgs) -> i32 {
    let result = if args.scale {
        scale::run(args)
    } else if args.failover {
        failover::run(args)
    } else if args.rolling_restart {
        rolling::run(args)
    } else if args.endpoints.is_empty() {
        compare::run(args)
    } else {
        load::run(args)
    };
    match result {
        Ok(()) => 0,
        Err(e) => {
            eprintln!("raftorch bench: {e}");
            1
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_parse() {
        assert_eq!(parse_duration("10s"), Ok(Duration::from_secs(10)));
        assert_eq!(parse_duration("250ms"), Ok(Duration::from_millis(250)));
        assert_eq!(parse_duration("2m"), Ok(Duration::from_secs(120)));
        assert_eq!(parse_duration("3"), Ok(Duration::from_secs(3)));
        assert!(parse_duration("3h").is_err());
        assert!(parse_duration("s").is_err());
    }
}
