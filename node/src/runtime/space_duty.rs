//! The owner task's space duties: refuse a write the quota cannot take before proposing it,
//! raise the quota alarm then, and watch the data dir's free space against the reserve. What is
//! refused and when an alarm is due is decided by the core (`orchestrator::alarm`); this only
//! measures, proposes what the core asks for, and keeps the space gauges.

use std::path::PathBuf;
use std::sync::atomic::Ordering::Relaxed;

use raftorch_core::orchestrator::alarm::{disk_duty, quota_duty};
use raftorch_core::orchestrator::{Command, Orchestrator, OrchestratorError};

use crate::metrics::Metrics;
use crate::space::{disk_space, SpaceLimits};

/// How often the data dir's free space is measured.
const PROBE_EVERY_MS: u64 = 500;
/// The least time between two proposals of one alarm duty of this node (one may be in flight).
const PROPOSE_EVERY_MS: u64 = 250;

/// The limits of one node and when it last measured or proposed.
#[derive(Debug)]
pub(super) struct SpaceDuty {
    me: u64,
    limits: SpaceLimits,
    data_dir: PathBuf,
    next_probe_ms: u64,
    /// When the quota duty and the disk duty last proposed.
    last_proposed_ms: [Option<u64>; 2],
    /// The free-space probe failed once (logged once, then skipped quietly).
    probe_failed: bool,
}

impl SpaceDuty {
    pub(super) fn new(me: u64, limits: SpaceLimits, data_dir: PathBuf, metrics: &Metrics) -> Self {
        metrics.space.quota_bytes.store(limits.quota_bytes, Relaxed);
        Self {
            me,
            limits,
            data_dir,
            next_probe_ms: 0,
            last_proposed_ms: [None; 2],
            probe_failed: false,
        }
    }

    /// Whether duty `duty` (0 quota, 1 disk) may propose now (and notes that it does).
    fn may_propose(&mut self, duty: usize, now_ms: u64) -> bool {
        let last = &mut self.last_proposed_ms[duty];
        let due = last.is_none_or(|l| now_ms.saturating_sub(l) >= PROPOSE_EVERY_MS);
        if due {
            *last = Some(now_ms);
        }
        due
    }

    /// Checks a client's command against the quota and the active alarms. A refusal comes with
    /// the Quota alarm to propose, when one is due.
    pub(super) fn admit(
        &mut self,
        now_ms: u64,
        app: &Orchestrator,
        command: &Command,
    ) -> Result<(), Box<(OrchestratorError, Option<Command>)>> {
        app.admit(command, self.limits.quota_bytes).map_err(|e| {
            let raise = quota_duty(app, self.me, self.limits.quota_bytes)
                .filter(|_| self.may_propose(0, now_ms));
            Box::new((e, raise))
        })
    }

    /// On a tick: measures free space when due and returns the disk alarm change to propose.
    pub(super) fn on_tick(
        &mut self,
        now_ms: u64,
        app: &Orchestrator,
        metrics: &Metrics,
    ) -> Option<Command> {
        if now_ms < self.next_probe_ms {
            return None;
        }
        self.next_probe_ms = now_ms + PROBE_EVERY_MS;
        let space = match disk_space(&self.data_dir) {
            Ok(space) => space,
            Err(e) => {
                if !self.probe_failed {
                    tracing::warn!(error = %e, "cannot measure the data dir's free space; no disk reserve alarm");
                    self.probe_failed = true;
                }
                return None;
            }
        };
        let reserve = self.limits.reserve(space.total);
        metrics.space.disk_free_bytes.store(space.free, Relaxed);
        metrics.space.disk_reserve_bytes.store(reserve, Relaxed);
        let change = disk_duty(app, self.me, space.free, reserve)?;
        if !self.may_propose(1, now_ms) {
            return None;
        }
        match &change {
            Command::RaiseAlarm { .. } => tracing::warn!(
                free = space.free,
                reserve,
                "free disk space is under the reserve: raising the disk_reserve alarm (writes that grow the state are refused)"
            ),
            _ => tracing::info!(
                free = space.free,
                reserve,
                "free disk space is back: clearing this node's disk_reserve alarm"
            ),
        }
        Some(change)
    }

    /// Updates the live-state and alarm gauges from the applied state.
    pub(super) fn publish(app: &Orchestrator, metrics: &Metrics) {
        metrics.space.live_bytes.store(app.live_bytes(), Relaxed);
        metrics.space.set_alarms(app.alarms().map(|a| a.kind));
    }
}
