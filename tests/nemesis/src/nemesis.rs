//! The nemesis: a schedule of faults drawn from the seed, and the code that starts and ends each
//! one against the cluster and its network. Every fault is healed before the next starts.

use std::time::{Duration, Instant};

use rand_core::{RngCore, SeedableRng};
use rand_xoshiro::Xoshiro256PlusPlus;

use crate::cluster::Cluster;
use crate::net::Network;

/// The kinds of fault, each a different way real deployments break.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum FaultKind {
    /// A random 2 | 3 split of the five nodes.
    PartitionHalves,
    /// The leader and one follower in the minority, the other three in the majority.
    PartitionLeaderMinority,
    /// The leader alone (clients can still reach it).
    IsolateLeader,
    /// Two groups that cannot see each other, and one node that sees both.
    PartitionBridge,
    /// `kill -9` of the leader, restarted at the end.
    KillLeader,
    /// `kill -9` of two nodes at once, restarted at the end.
    KillTwo,
    /// SIGSTOP of the leader for longer than the election timeout, then SIGCONT.
    PauseLeader,
    /// A follower restarted with its clock an hour ahead or behind, then made leader; at the
    /// end its clock jumps back (a restart with the true clock).
    SkewedLeader,
    /// While another follower is paused, a follower is removed from the voters; at the end
    /// the paused one resumes and the removed one comes back as a learner and is promoted.
    MembershipUnderPause,
    /// One-way loss at the leader: it is deaf (its heartbeats go out, no ack comes back) or,
    /// every other time, mute (it hears everyone, nothing it sends arrives). The first of a
    /// run is deaf.
    OneWayLeader,
    /// One-way loss between followers or anyone: one node's packets to two others vanish,
    /// while theirs to it still arrive.
    OneWayLinks,
}

/// Every kind, in a fixed order (the schedule shuffles it).
pub const ALL_KINDS: [FaultKind; 11] = [
    FaultKind::PartitionHalves,
    FaultKind::PartitionLeaderMinority,
    FaultKind::IsolateLeader,
    FaultKind::PartitionBridge,
    FaultKind::KillLeader,
    FaultKind::KillTwo,
    FaultKind::PauseLeader,
    FaultKind::SkewedLeader,
    FaultKind::MembershipUnderPause,
    FaultKind::OneWayLeader,
    FaultKind::OneWayLinks,
];

impl FaultKind {
    /// A short name for logs and the report.
    pub fn name(self) -> &'static str {
        match self {
            FaultKind::PartitionHalves => "partition-halves",
            FaultKind::PartitionLeaderMinority => "partition-leader-minority",
            FaultKind::IsolateLeader => "isolate-leader",
            FaultKind::PartitionBridge => "partition-bridge",
            FaultKind::KillLeader => "kill-leader",
            FaultKind::KillTwo => "kill-two",
            FaultKind::PauseLeader => "pause-leader",
            FaultKind::SkewedLeader => "skewed-leader",
            FaultKind::MembershipUnderPause => "membership-under-pause",
            FaultKind::OneWayLeader => "one-way-leader",
            FaultKind::OneWayLinks => "one-way-links",
        }
    }
}

/// One planned fault: when it starts (ms after the epoch), how long it lasts, and a random
/// number that picks its nodes.
#[derive(Clone, Debug)]
pub struct Step {
    /// What it does.
    pub kind: FaultKind,
    /// Start, in ms after the run's epoch.
    pub at_ms: u64,
    /// How long it lasts, in ms.
    pub duration_ms: u64,
    /// Picks nodes when the fault starts.
    pub pick: u64,
}

/// A fault as it happened. Times are microseconds since the run's epoch.
#[derive(Clone, Debug)]
pub struct Fault {
    /// What it was.
    pub kind: FaultKind,
    /// Which nodes it hit, in words (`"{1,4} | {2,3,5}"`, `"node 3"`).
    pub detail: String,
    /// When it started.
    pub start_us: u64,
    /// When it was healed.
    pub end_us: u64,
}

/// Quiet time before the first fault and after the last, in ms.
const WARMUP_MS: u64 = 5_000;
const COOLDOWN_MS: u64 = 5_000;

/// The schedule for a run of `total_ms`: every kind once in a seeded order (a little shorter
/// each, so that all of them fit in a 2-minute run), then seeded random kinds, each followed
/// by a quiet gap, as long as they fit.
pub fn schedule(seed: u64, total_ms: u64) -> Vec<Step> {
    let mut rng = Xoshiro256PlusPlus::seed_from_u64(seed ^ 0x6E65_6D65_7369_7321);
    let mut order = ALL_KINDS.to_vec();
    for i in (1..order.len()).rev() {
        order.swap(i, (rng.next_u64() % (i as u64 + 1)) as usize);
    }
    let mut steps = Vec::new();
    let mut at = WARMUP_MS;
    loop {
        let kind = if steps.len() < order.len() {
            order[steps.len()]
        } else {
            ALL_KINDS[(rng.next_u64() % ALL_KINDS.len() as u64) as usize]
        };
        let first_round = steps.len() < order.len();
        let duration_ms = match kind {
            // Well past the 150–300 ms election timeout, short of the clients' patience.
            FaultKind::PauseLeader => 1_500 + rng.next_u64() % 1_500,
            _ if first_round => 2_500 + rng.next_u64() % 1_500,
            _ => 2_500 + rng.next_u64() % 2_500,
        };
        let gap = if first_round {
            3_500 + rng.next_u64() % 1_500
        } else {
            4_000 + rng.next_u64() % 2_000
        };
        if at + duration_ms + gap + COOLDOWN_MS > total_ms {
            return steps;
        }
        let mut pick = rng.next_u64();
        if matches!(kind, FaultKind::SkewedLeader | FaultKind::OneWayLeader) && first_round {
            // The first skew of a run is the harmful direction (a clock an hour ahead), and
            // the first one-way loss leaves a leader that sends heartbeats but hears no acks.
            pick &= !1;
        }
        steps.push(Step {
            kind,
            at_ms: at,
            duration_ms,
            pick,
        });
        at += duration_ms + gap;
    }
}

/// A seeded shuffle of `nodes`.
fn shuffled(mut nodes: Vec<u64>, mut pick: u64) -> Vec<u64> {
    for i in (1..nodes.len()).rev() {
        pick = pick
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        nodes.swap(i, ((pick >> 33) % (i as u64 + 1)) as usize);
    }
    nodes
}

fn set(nodes: &[u64]) -> String {
    let mut sorted = nodes.to_vec();
    sorted.sort_unstable();
    let inner: Vec<String> = sorted.iter().map(u64::to_string).collect();
    format!("{{{}}}", inner.join(","))
}

/// The leader now, or a seeded random node when there is none.
fn leader_or_any(cluster: &Cluster, pick: u64) -> (u64, &'static str) {
    match cluster.leader() {
        Some(l) => (l, "leader"),
        None => (1 + pick % cluster.ids().len() as u64, "no leader; random"),
    }
}

/// What must be undone to end a fault.
enum Undo {
    Heal,
    Restart(Vec<u64>),
    Resume(u64),
    /// Restart the node with the true clock.
    Reclock(u64),
    /// Resume the paused node, then add the removed one back (learner, then voter).
    Rejoin {
        paused: u64,
        removed: u64,
    },
}

/// Asks whoever leads to make a membership change until one answers 2xx (a change waits for
/// the previous one and needs a quorum), for up to `patience`.
fn change_membership(
    cluster: &Cluster,
    patience: Duration,
    change: impl Fn(&Cluster, u64) -> bool,
) -> Result<(), String> {
    let deadline = Instant::now() + patience;
    while Instant::now() < deadline {
        if let Some(l) = cluster.leader() {
            if change(cluster, l) {
                return Ok(());
            }
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    Err(format!("no leader accepted the change within {patience:?}"))
}

/// The leader, once there is one (for up to `patience`).
fn wait_for_leader(cluster: &Cluster, patience: Duration) -> Option<u64> {
    let deadline = Instant::now() + patience;
    loop {
        let leader = cluster.leader();
        if leader.is_some() || Instant::now() >= deadline {
            return leader;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Adds `node` back: first as a learner, then (once it caught up) as a voter.
fn rejoin(cluster: &Cluster, node: u64) -> Result<(), String> {
    let (peer_addr, api_addr) = cluster.member_addresses(node);
    let add = |voter: bool| {
        let body = serde_json::json!({
            "id": node, "peer_addr": peer_addr, "api_addr": api_addr, "voter": voter,
        });
        move |c: &Cluster, leader: u64| c.post_json(leader, "/v1/cluster/members", &body).is_some()
    };
    change_membership(cluster, Duration::from_secs(20), add(false))
        .map_err(|e| format!("add node {node} as a learner: {e}"))?;
    change_membership(cluster, Duration::from_secs(20), add(true))
        .map_err(|e| format!("promote node {node}: {e}"))
}

/// The skew of [`FaultKind::SkewedLeader`]: an hour.
const SKEW_MS: i64 = 3_600_000;

/// Restarts a follower with its clock [`SKEW_MS`] ahead (even `pick`) or behind, then asks the
/// leader to hand it leadership (for up to 3 s, while it catches up). Returns the node and
/// whether it was seen leading.
fn skew_and_elect(cluster: &mut Cluster, pick: u64) -> (u64, i64, bool) {
    let leader = cluster.leader();
    let others: Vec<u64> = cluster
        .ids()
        .into_iter()
        .filter(|&n| Some(n) != leader)
        .collect();
    let node = shuffled(others, pick)[0];
    let offset = if pick.is_multiple_of(2) {
        SKEW_MS
    } else {
        -SKEW_MS
    };
    cluster.kill(node);
    cluster.set_clock_offset(node, offset);
    if cluster.spawn(node).is_err() {
        return (node, offset, false);
    }
    let deadline = Instant::now() + Duration::from_secs(3);
    while Instant::now() < deadline {
        if cluster.status(node).is_some_and(|s| s.role == "leader") {
            return (node, offset, true);
        }
        if let Some(l) = cluster.leader() {
            let _ = cluster.post_json(
                l,
                "/v1/cluster/transfer-leader",
                &serde_json::json!({ "to": node }),
            );
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    (node, offset, false)
}

/// Carries out `step`, waits for its duration, heals it, and returns what happened.
pub fn run_step(
    step: &Step,
    cluster: &mut Cluster,
    net: &mut Network,
    epoch: Instant,
) -> Result<Fault, String> {
    let ids = cluster.ids();
    let start = Instant::now();
    let (detail, undo) = match step.kind {
        FaultKind::PartitionHalves => {
            let order = shuffled(ids, step.pick);
            let (a, b) = order.split_at(2);
            net.cut(a, b)?;
            (format!("{} | {}", set(a), set(b)), Undo::Heal)
        }
        FaultKind::PartitionLeaderMinority | FaultKind::IsolateLeader => {
            let (leader, how) = leader_or_any(cluster, step.pick);
            let others = shuffled(
                ids.into_iter().filter(|&n| n != leader).collect(),
                step.pick,
            );
            let with = usize::from(step.kind == FaultKind::PartitionLeaderMinority);
            let mut minority = vec![leader];
            minority.extend_from_slice(&others[..with]);
            let majority = &others[with..];
            net.cut(&minority, majority)?;
            (
                format!("{} | {} ({how} {leader})", set(&minority), set(majority)),
                Undo::Heal,
            )
        }
        FaultKind::PartitionBridge => {
            let order = shuffled(ids, step.pick);
            let (bridge, rest) = (order[0], &order[1..]);
            let (a, b) = rest.split_at(rest.len() / 2);
            net.cut(a, b)?;
            (
                format!("{} | {} bridged by {bridge}", set(a), set(b)),
                Undo::Heal,
            )
        }
        FaultKind::KillLeader => {
            let (leader, how) = leader_or_any(cluster, step.pick);
            cluster.kill(leader);
            (
                format!("node {leader} ({how})"),
                Undo::Restart(vec![leader]),
            )
        }
        FaultKind::KillTwo => {
            let victims: Vec<u64> = shuffled(ids, step.pick)[..2].to_vec();
            for &v in &victims {
                cluster.kill(v);
            }
            (format!("nodes {}", set(&victims)), Undo::Restart(victims))
        }
        FaultKind::PauseLeader => {
            let (leader, how) = leader_or_any(cluster, step.pick);
            cluster.pause(leader)?;
            (format!("node {leader} ({how})"), Undo::Resume(leader))
        }
        FaultKind::MembershipUnderPause => {
            // Right after another fault (a restart) there may be no leader yet: a node picked
            // then could be the next leader, which refuses to remove itself (leader_removal).
            let leader = wait_for_leader(cluster, Duration::from_secs(10));
            let followers: Vec<u64> = shuffled(
                ids.into_iter().filter(|&n| Some(n) != leader).collect(),
                step.pick,
            );
            let paused = followers[0];
            let removed = std::cell::Cell::new(followers[1]);
            cluster.pause(paused)?;
            let asked = change_membership(cluster, Duration::from_secs(10), |c, l| {
                // Leadership may still move to the node picked: pick another follower then.
                if removed.get() == l {
                    if let Some(&other) = followers.iter().find(|&&n| n != l && n != paused) {
                        removed.set(other);
                    }
                }
                c.delete(l, &format!("/v1/cluster/members/{}", removed.get()))
            });
            let removed = removed.get();
            if let Err(e) = asked {
                // Never leave a node stopped behind a failed fault.
                cluster.resume(paused)?;
                return Err(format!("remove node {removed}: {e}"));
            }
            (
                format!("node {removed} removed while node {paused} is paused"),
                Undo::Rejoin { paused, removed },
            )
        }
        FaultKind::OneWayLeader => {
            let (leader, how) = leader_or_any(cluster, step.pick);
            let deaf = step.pick.is_multiple_of(2);
            for other in ids.into_iter().filter(|&n| n != leader) {
                if deaf {
                    net.lose(other, leader)?;
                } else {
                    net.lose(leader, other)?;
                }
            }
            let what = if deaf {
                "deaf: hears no peer"
            } else {
                "mute: no peer hears it"
            };
            (format!("node {leader} ({how}) {what}"), Undo::Heal)
        }
        FaultKind::OneWayLinks => {
            let order = shuffled(ids, step.pick);
            let (from, to) = (order[0], &order[1..3]);
            for &t in to {
                net.lose(from, t)?;
            }
            (
                format!("node {from} -> {} lost (the other way passes)", set(to)),
                Undo::Heal,
            )
        }
        FaultKind::SkewedLeader => {
            let (node, offset, led) = skew_and_elect(cluster, step.pick);
            let led = if led {
                "made leader"
            } else {
                "not seen leading"
            };
            (
                format!("node {node} clock {:+} h ({led})", offset / SKEW_MS),
                Undo::Reclock(node),
            )
        }
    };
    let start_us = start.duration_since(epoch).as_micros() as u64;
    log(
        epoch,
        &format!(
            "start {} {detail} for {} ms",
            step.kind.name(),
            step.duration_ms
        ),
    );
    std::thread::sleep(Duration::from_millis(step.duration_ms));
    match undo {
        Undo::Heal => net.heal()?,
        Undo::Restart(nodes) => {
            for n in nodes {
                cluster.spawn(n)?;
            }
        }
        Undo::Resume(n) => cluster.resume(n)?,
        Undo::Rejoin { paused, removed } => {
            cluster.resume(paused)?;
            rejoin(cluster, removed)?;
        }
        Undo::Reclock(n) => {
            cluster.kill(n);
            cluster.set_clock_offset(n, 0);
            cluster.spawn(n)?;
        }
    }
    let end_us = epoch.elapsed().as_micros() as u64;
    log(epoch, &format!("end   {}", step.kind.name()));
    Ok(Fault {
        kind: step.kind,
        detail,
        start_us,
        end_us,
    })
}

/// Prints one timestamped line of the nemesis log.
pub fn log(epoch: Instant, line: &str) {
    println!("[{:>8.3}s] {line}", epoch.elapsed().as_secs_f64());
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_kind_fits_in_the_two_minute_run() {
        for seed in 0..500 {
            let plan = schedule(seed, 120_000);
            for kind in ALL_KINDS {
                assert!(
                    plan.iter().any(|s| s.kind == kind),
                    "seed {seed}: {} missing",
                    kind.name()
                );
            }
            let first = plan.iter().find(|s| s.kind == FaultKind::OneWayLeader);
            assert!(
                first.is_some_and(|s| s.pick.is_multiple_of(2)),
                "the first is a deaf leader"
            );
        }
    }
}
