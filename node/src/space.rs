//! Space limits: the storage quota on the live state, the free-space reserve of the data dir's
//! filesystem, and their metrics. What an alarm refuses is decided in the core
//! (`raftorch_core::orchestrator::alarm`); this module only measures and configures.

use std::fmt::Write as _;
use std::io;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

use clap::Args;
use raftorch_core::orchestrator::AlarmKind;

/// Default storage quota on the live state: 2 GiB, as etcd's.
pub const DEFAULT_QUOTA_BYTES: u64 = 2 << 30;
/// The smallest default disk reserve.
pub const MIN_DEFAULT_RESERVE: u64 = 4 << 20;
/// The largest default disk reserve.
pub const MAX_DEFAULT_RESERVE: u64 = 64 << 20;

/// `--quota-bytes` and `--disk-reserve-bytes` of `raftorch node`.
#[derive(Debug, Clone, Default, Args)]
pub struct SpaceArgs {
    /// Storage quota on the live state (keys and values plus a per-key overhead), e.g. 2GiB
    /// (the default), 512MiB or 1048576. Past it the cluster raises a quota alarm and refuses
    /// writes that grow the state (507 no_space) until it is back under 90% of it.
    #[arg(long, env = "RAFTORCH_QUOTA_BYTES", value_parser = parse_bytes)]
    pub quota_bytes: Option<u64>,
    /// Free space to keep on the data dir's filesystem: below it this node raises a
    /// disk_reserve alarm (writes that grow the state are refused), cleared once free space is
    /// above twice the reserve. Default: 5% of the filesystem, between 4MiB and 64MiB. 0: off.
    #[arg(long, env = "RAFTORCH_DISK_RESERVE_BYTES", value_parser = parse_bytes)]
    pub disk_reserve_bytes: Option<u64>,
}

/// The validated limits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SpaceLimits {
    /// See [`SpaceArgs::quota_bytes`].
    pub quota_bytes: u64,
    /// See [`SpaceArgs::disk_reserve_bytes`]; `None`: the default share of the filesystem.
    pub disk_reserve_bytes: Option<u64>,
}

impl Default for SpaceLimits {
    fn default() -> Self {
        Self {
            quota_bytes: DEFAULT_QUOTA_BYTES,
            disk_reserve_bytes: None,
        }
    }
}

impl SpaceLimits {
    /// The reserve for a filesystem of `total` bytes.
    pub fn reserve(&self, total: u64) -> u64 {
        self.disk_reserve_bytes
            .unwrap_or_else(|| (total / 20).clamp(MIN_DEFAULT_RESERVE, MAX_DEFAULT_RESERVE))
    }

    /// Refuses a quota of 0 (nothing could ever be written).
    pub fn validate(&self) -> Result<(), String> {
        if self.quota_bytes == 0 {
            return Err("--quota-bytes must be at least 1".into());
        }
        Ok(())
    }
}

/// Reads a size: a number of bytes, optionally with a suffix `KiB`, `MiB`, `GiB`, `TiB` (or
/// `K`, `M`, `G`, `T`, powers of 1024; `KB`, `MB`, `GB`, `TB` are powers of 1000).
pub fn parse_bytes(s: &str) -> Result<u64, String> {
    let s = s.trim();
    let split = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    let (digits, unit) = s.split_at(split);
    let n: u64 = digits
        .parse()
        .map_err(|_| format!("{s:?} is not a size (e.g. 2GiB, 512MiB, 1048576)"))?;
    let factor: u64 = match unit.trim() {
        "" | "B" => 1,
        "K" | "KiB" => 1 << 10,
        "M" | "MiB" => 1 << 20,
        "G" | "GiB" => 1 << 30,
        "T" | "TiB" => 1 << 40,
        "KB" => 1_000,
        "MB" => 1_000_000,
        "GB" => 1_000_000_000,
        "TB" => 1_000_000_000_000,
        other => return Err(format!("unknown size unit {other:?} in {s:?}")),
    };
    n.checked_mul(factor)
        .ok_or_else(|| format!("{s:?} is too large"))
}

/// Free and total bytes of a filesystem.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DiskSpace {
    /// Bytes an unprivileged writer may still use.
    pub free: u64,
    /// The filesystem's size.
    pub total: u64,
}

/// The space of the filesystem that holds `dir` (statvfs).
#[cfg(unix)]
pub fn disk_space(dir: &Path) -> io::Result<DiskSpace> {
    let st = rustix::fs::statvfs(dir)?;
    Ok(DiskSpace {
        free: st.f_bavail.saturating_mul(st.f_frsize),
        total: st.f_blocks.saturating_mul(st.f_frsize),
    })
}

/// The space of the filesystem that holds `dir` (not measured on this platform).
#[cfg(not(unix))]
pub fn disk_space(_dir: &Path) -> io::Result<DiskSpace> {
    Err(io::Error::new(
        io::ErrorKind::Unsupported,
        "free space is measured on unix only",
    ))
}

/// Whether an I/O error means the device is full (ENOSPC, or EDQUOT: a quota is full).
pub fn is_out_of_space(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::StorageFull | io::ErrorKind::QuotaExceeded
    )
}

/// The space gauges, set by the owner task.
#[derive(Debug, Default)]
pub struct SpaceMetrics {
    /// Live state bytes, as the quota counts them.
    pub live_bytes: AtomicU64,
    /// This node's quota.
    pub quota_bytes: AtomicU64,
    /// Free bytes on the data dir's filesystem.
    pub disk_free_bytes: AtomicU64,
    /// The reserve in force.
    pub disk_reserve_bytes: AtomicU64,
    /// Active alarms of each kind (in `AlarmKind::ALL` order), over every member.
    pub alarms: [AtomicU64; 2],
    /// 1 while this node's own disk is full: a log write failed with `ENOSPC` and is being
    /// retried; the node refuses writes and serves stale reads meanwhile (a local state, not a
    /// replicated alarm: the node cannot write its log to propose one).
    pub disk_full: AtomicU64,
    /// Times this node's disk became full (a log write failed with `ENOSPC` or `EDQUOT`).
    pub disk_full_events: AtomicU64,
    /// Peer messages dropped unread while the disk was full.
    pub disk_full_dropped_messages: AtomicU64,
}

impl SpaceMetrics {
    /// Sets the alarm gauges from the active alarms' kinds.
    pub fn set_alarms(&self, kinds: impl Iterator<Item = AlarmKind>) {
        let mut counts = [0u64; 2];
        for kind in kinds {
            if let Some(i) = AlarmKind::ALL.iter().position(|k| *k == kind) {
                counts[i] += 1;
            }
        }
        for (gauge, n) in self.alarms.iter().zip(counts) {
            gauge.store(n, Relaxed);
        }
    }

    /// Appends the space series to a Prometheus exposition.
    pub fn render(&self, out: &mut String) {
        let mut gauge = |name: &str, help: &str, v: u64| {
            let _ = writeln!(
                out,
                "# HELP raftorch_{name} {help}\n# TYPE raftorch_{name} gauge\nraftorch_{name} {v}"
            );
        };
        gauge(
            "live_state_bytes",
            "Live state bytes as the storage quota counts them.",
            self.live_bytes.load(Relaxed),
        );
        gauge(
            "quota_bytes",
            "This node's storage quota (--quota-bytes).",
            self.quota_bytes.load(Relaxed),
        );
        gauge(
            "disk_free_bytes",
            "Free bytes on the data directory's filesystem.",
            self.disk_free_bytes.load(Relaxed),
        );
        gauge(
            "disk_reserve_bytes",
            "Free space this node keeps (--disk-reserve-bytes).",
            self.disk_reserve_bytes.load(Relaxed),
        );
        gauge(
            "disk_full",
            "1 while a log write of this node failed with ENOSPC and is retried: writes refused, stale reads served.",
            self.disk_full.load(Relaxed),
        );
        for (name, help, v) in [
            (
                "disk_full_events_total",
                "Times a log write of this node failed with ENOSPC or EDQUOT.",
                &self.disk_full_events,
            ),
            (
                "disk_full_dropped_messages_total",
                "Peer messages dropped unread while this node's disk was full.",
                &self.disk_full_dropped_messages,
            ),
        ] {
            let _ = writeln!(
                out,
                "# HELP raftorch_{name} {help}\n# TYPE raftorch_{name} counter\nraftorch_{name} {}",
                v.load(Relaxed)
            );
        }
        let _ = writeln!(
            out,
            "# HELP raftorch_alarm_active Active space alarms, by kind (writes that grow the state are refused while any is).\n# TYPE raftorch_alarm_active gauge"
        );
        for (kind, gauge) in AlarmKind::ALL.iter().zip(&self.alarms) {
            let _ = writeln!(
                out,
                "raftorch_alarm_active{{kind=\"{kind}\"}} {}",
                gauge.load(Relaxed)
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_parse_with_units_and_refuse_garbage() {
        assert_eq!(parse_bytes("1048576"), Ok(1 << 20));
        assert_eq!(parse_bytes("2GiB"), Ok(2 << 30));
        assert_eq!(parse_bytes("64K"), Ok(64 << 10));
        assert_eq!(parse_bytes("3MB"), Ok(3_000_000));
        assert!(parse_bytes("").is_err());
        assert!(parse_bytes("12XB").is_err());
        assert!(parse_bytes("99999999999TiB").is_err());
    }

    #[test]
    fn the_default_reserve_is_five_percent_within_bounds() {
        let d = SpaceLimits::default();
        assert_eq!(d.reserve(24 << 20), MIN_DEFAULT_RESERVE);
        assert_eq!(d.reserve(1 << 30), (1 << 30) / 20);
        assert_eq!(d.reserve(100 << 30), MAX_DEFAULT_RESERVE);
        assert_eq!(d.reserve(1 << 50), MAX_DEFAULT_RESERVE);
        let off = SpaceLimits {
            disk_reserve_bytes: Some(0),
            ..d
        };
        assert_eq!(off.reserve(1 << 30), 0);
    }

    #[test]
    fn the_data_dir_filesystem_is_measured() {
        let dir = tempfile::tempdir().unwrap();
        let space = disk_space(dir.path()).unwrap();
        assert!(space.total >= space.free && space.total > 0);
    }
}
