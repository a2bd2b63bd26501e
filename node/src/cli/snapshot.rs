//! `raftorch snapshot save | status | restore` and `raftorch recover`: backups and disaster
//! recovery from the command line (see [`crate::backup`]).

use std::path::{Path, PathBuf};
use std::time::Duration;

use clap::{Args, Subcommand, ValueEnum};
use serde_json::json;

use super::client;
use crate::api::SNAPSHOT_HEADER;
use crate::backup::file::{self, Verified};
use crate::backup::recover;
use crate::backup::restore::{self, RestoreOptions};
use crate::backup::BackupMeta;
use crate::cluster_id;
use crate::config::PeerSpec;

/// Options of `raftorch snapshot`.
#[derive(Debug, Clone, Args)]
pub struct SnapshotArgs {
    /// What to do.
    #[command(subcommand)]
    pub command: SnapshotCommand,
}

/// How to print.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Output {
    /// Aligned lines for a person.
    Table,
    /// One JSON object, for scripts.
    Json,
}

/// `snapshot` subcommands.
#[derive(Debug, Clone, Subcommand)]
pub enum SnapshotCommand {
    /// Take a consistent snapshot of a running cluster (linearizable: it holds every write
    /// acknowledged before it started) and write it to FILE atomically. Needs an admin token
    /// on a cluster with --auth-file.
    Save {
        /// The backup file to write.
        file: PathBuf,
        /// API URLs of some members, comma-separated; the first that answers serves it.
        #[arg(
            long,
            env = "RAFTORCH_ENDPOINTS",
            value_delimiter = ',',
            required = true
        )]
        endpoints: Vec<String>,
        /// The API token (`Authorization: Bearer`).
        #[arg(long, env = "RAFTORCH_TOKEN", hide_env_values = true)]
        token: Option<String>,
        /// The CA certificate (PEM) to trust for `https://` endpoints (a TLS cluster's `ca.pem`).
        #[arg(long, env = "RAFTORCH_CACERT")]
        cacert: Option<PathBuf>,
        /// Output format.
        #[arg(short = 'o', long, value_enum, default_value = "table")]
        output: Output,
    },
    /// Verify a backup's checksums and print its metadata; exit 1 if it is damaged.
    Status {
        /// The backup file.
        file: PathBuf,
        /// Output format.
        #[arg(short = 'o', long, value_enum, default_value = "table")]
        output: Output,
    },
    /// Prepare the data directory of one member of a NEW cluster from a backup. Run it for
    /// every member with the same FILE and membership, then start each with `raftorch node`.
    Restore {
        /// The backup file.
        file: PathBuf,
        /// The new member's data directory (must not exist, or be empty).
        #[arg(long)]
        data_dir: PathBuf,
        /// The new member's id.
        #[arg(long)]
        id: u64,
        /// Another member of the new cluster: ID=PEER_HOST:PORT@API_HOST:PORT (repeat), as
        /// `raftorch node --peer`.
        #[arg(long = "peer", value_delimiter = ',')]
        peers: Vec<PeerSpec>,
        /// Names the new cluster (its id is the token's hash); give the same to every member
        /// and to `raftorch node`. Without it, the id is derived from the backup's checksum and
        /// the membership.
        #[arg(long)]
        cluster_token: Option<String>,
    },
}

/// `raftorch recover`: a survivor's data into a new single-member cluster.
#[derive(Debug, Clone, Args)]
pub struct RecoverArgs {
    /// The data directory of the most up-to-date survivor (its node must be stopped).
    #[arg(long)]
    pub data_dir: PathBuf,
    /// The id the node ran with; it is the new cluster's only member.
    #[arg(long)]
    pub id: u64,
    /// Names the new cluster (pass the same to `raftorch node`); without it a fresh id is
    /// generated. Either way the old members are refused at the peer handshake.
    #[arg(long)]
    pub cluster_token: Option<String>,
}

/// Runs `raftorch snapshot`; the exit code.
pub(super) fn run(args: &SnapshotArgs) -> i32 {
    let result = match &args.command {
        SnapshotCommand::Save {
            file,
            endpoints,
            token,
            cacert,
            output,
        } => client::Access::new(token.as_deref(), cacert.as_deref())
            .and_then(|access| save(file, endpoints, &access))
            .map(|v| {
                if *output == Output::Table {
                    println!("saved {}", file.display());
                }
                print(&v, *output)
            }),
        SnapshotCommand::Status { file, output } => file::verify(file)
            .map(|v| print(&v, *output))
            .map_err(|e| e.to_string()),
        SnapshotCommand::Restore {
            file,
            data_dir,
            id,
            peers,
            cluster_token,
        } => run_restore(&RestoreOptions {
            file: file.clone(),
            data_dir: data_dir.clone(),
            id: *id,
            peers: peers.clone(),
            cluster_token: cluster_token.clone(),
        }),
    };
    match result {
        Ok(()) => 0,
        Err(e) => {
            eprintln!("raftorch snapshot: {e}");
            1
        }
    }
}

/// Runs `raftorch recover`; the exit code.
pub(super) fn run_recover(args: &RecoverArgs) -> i32 {
    match recover::recover(&args.data_dir, args.id, args.cluster_token.as_deref()) {
        Ok(r) => {
            println!(
                "recovered {} as node {} alone: a new cluster {} at index {} (term {}, {} log \
                 entries replayed; voters before: {:?})",
                args.data_dir.display(),
                args.id,
                cluster_id::show(r.cluster_id),
                r.index,
                r.term,
                r.replayed,
                r.old_voters
            );
            println!("the previous files are in {}", r.kept.display());
            println!(
                "start it with `raftorch node --id {} --data-dir {} ...`{}; add members with \
                 `ctl members add`. Never restart the old members into it: wipe their data \
                 first.",
                args.id,
                args.data_dir.display(),
                args.cluster_token
                    .as_ref()
                    .map_or(String::new(), |t| format!(" (with --cluster-token {t})"))
            );
            0
        }
        Err(e) => {
            eprintln!("raftorch recover: {e}");
            1
        }
    }
}

fn run_restore(opts: &RestoreOptions) -> Result<(), String> {
    let r = restore::restore(opts)?;
    println!(
        "restored index {} (term {}) from {} into {} as node {} of a new cluster {} (voters \
         {:?}; the backup's cluster was {})",
        r.backup.meta.index,
        r.backup.meta.term,
        opts.file.display(),
        opts.data_dir.display(),
        opts.id,
        cluster_id::show(r.cluster_id),
        r.voters,
        r.backup.meta.cluster_id
    );
    Ok(())
}

/// Fetches a snapshot from the first endpoint that serves one and writes it to `path`.
fn save(path: &Path, endpoints: &[String], access: &client::Access) -> Result<Verified, String> {
    let agent = access
        .builder()
        .timeout_connect(Duration::from_secs(5))
        .timeout_read(Duration::from_secs(60))
        .build();
    let mut failures = Vec::new();
    for endpoint in endpoints {
        let url = format!("{}/v1/snapshot", access.base(endpoint));
        let response = match agent.get(&url).call() {
            Ok(r) => r,
            Err(ureq::Error::Status(code @ (401 | 403), r)) => {
                return Err(format!(
                    "{url}: {code} {} (saving a snapshot needs an admin token)",
                    r.into_string().unwrap_or_default().trim()
                ))
            }
            Err(ureq::Error::Status(code, r)) => {
                failures.push(format!(
                    "{url}: {code} {}",
                    r.into_string().unwrap_or_default().trim()
                ));
                continue;
            }
            Err(e) => {
                failures.push(format!("{url}: {}", access.explain(&e)));
                continue;
            }
        };
        let meta: BackupMeta = response
            .header(SNAPSHOT_HEADER)
            .ok_or_else(|| format!("{url}: the answer has no {SNAPSHOT_HEADER} header"))
            .and_then(|h| {
                serde_json::from_str(h).map_err(|e| format!("{url}: bad {SNAPSHOT_HEADER}: {e}"))
            })?;
        let length = response
            .header("content-length")
            .and_then(|l| l.parse().ok());
        if length.is_some_and(|l: u64| l != meta.body_bytes) {
            return Err(format!(
                "{url}: the body is {length:?} bytes, its metadata says {}",
                meta.body_bytes
            ));
        }
        let mut body = response.into_reader();
        return file::write(path, &meta, &mut body).map_err(|e| format!("{url}: {e}"));
    }
    Err(format!(
        "no endpoint served a snapshot: {}",
        failures.join("; ")
    ))
}

/// Prints a verified backup as a table or as JSON.
fn print(v: &Verified, output: Output) {
    let m = &v.meta;
    match output {
        Output::Json => {
            let body = json!({
                "format": file::FORMAT_VERSION,
                "checksum": {"algorithm": "sha256", "value": v.sha256_hex(), "verified": true},
                "file_bytes": v.file_bytes,
                "meta": m,
            });
            println!("{body:#}");
        }
        Output::Table => {
            let c = &m.counts;
            let rows = [
                ("format", file::FORMAT_VERSION.to_string()),
                ("checksum", format!("sha256 {} (verified)", v.sha256_hex())),
                (
                    "size",
                    format!("{} bytes (state {} bytes)", v.file_bytes, m.body_bytes),
                ),
                ("index", m.index.to_string()),
                ("term", m.term.to_string()),
                ("cluster id", m.cluster_id.clone()),
                ("voters", format!("{:?}", m.voters)),
                ("learners", format!("{:?}", m.learners)),
                ("taken from", format!("node {}", m.taken_from)),
                ("taken at", utc(m.taken_at_unix_ms)),
                (
                    "version",
                    format!(
                        "raftorch {}, state format {}",
                        m.raftorch_version, m.snapshot_format
                    ),
                ),
                ("keys", c.keys.to_string()),
                (
                    "services",
                    format!("{} ({} instances)", c.services, c.instances),
                ),
                ("leases", c.leases.to_string()),
                ("deployments", c.deployments.to_string()),
                ("locks", format!("{} held", c.locks)),
                ("elections", format!("{} led", c.elections)),
            ];
            for (name, value) in rows {
                println!("{name:<12} {value}");
            }
        }
    }
}

/// `ms` since the Unix epoch as `YYYY-MM-DDTHH:MM:SS.mmmZ` (proleptic Gregorian, UTC).
fn utc(ms: u64) -> String {
    let (days, rest) = (ms / 86_400_000, ms % 86_400_000);
    // Howard Hinnant's civil_from_days.
    let z = days as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    let (h, m, s, milli) = (
        rest / 3_600_000,
        rest / 60_000 % 60,
        rest / 1_000 % 60,
        rest % 1_000,
    );
    format!("{year:04}-{month:02}-{day:02}T{h:02}:{m:02}:{s:02}.{milli:03}Z")
}

#[cfg(test)]
mod tests {
    use super::utc;

    #[test]
    fn utc_dates() {
        assert_eq!(utc(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(utc(951_782_400_000), "2000-02-29T00:00:00.000Z");
        assert_eq!(utc(1_796_183_999_123), "2026-12-02T03:59:59.123Z");
    }
}
