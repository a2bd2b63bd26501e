//! Graceful shutdown of a leader: before it stops, a leader hands leadership to the voter that
//! holds most of its log, so the cluster has a leader again within a round trip or two instead
//! of after an election timeout (what a rolling restart would otherwise pay once per leader).

use std::time::Duration;

use raftorch_core::raft::{NodeId, Role};
use tokio::time::Instant;

use crate::runtime::{NodeHandle, NodeStatus};

/// The shortest wait given to one target before the next is tried.
const MIN_ATTEMPT: Duration = Duration::from_millis(200);

/// The other voters of a leader's `status`, the most caught-up (highest matched index) first;
/// ties go to the lower id, so the choice is the same on every run.
pub fn candidates(status: &NodeStatus) -> Vec<NodeId> {
    let matched = |id: NodeId| {
        status
            .matched
            .iter()
            .find(|(n, _)| *n == id)
            .map_or(0, |(_, m)| *m)
    };
    let mut others: Vec<NodeId> = status
        .voters
        .iter()
        .copied()
        .filter(|&v| v != status.id)
        .collect();
    others.sort_by_key(|&v| (std::cmp::Reverse(matched(v)), v));
    others
}

/// What [`hand_over`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Not the leader, or told not to wait: nothing to hand over.
    NotLeader,
    /// The only voter: nobody to hand leadership to.
    Alone,
    /// Node `to` leads now.
    HandedTo(NodeId),
    /// No other node took over within the wait.
    TimedOut,
}

/// If this node leads, asks its most caught-up voter to take over (then the next, while time
/// remains) and waits, at most `wait`, until another node is leader.
pub async fn hand_over(node: &NodeHandle, wait: Duration) -> Outcome {
    let status = node.status();
    if status.role != Role::Leader || wait.is_zero() {
        return Outcome::NotLeader;
    }
    let me = status.id;
    let targets = candidates(&status);
    if targets.is_empty() {
        return Outcome::Alone;
    }
    let started = Instant::now();
    let deadline = started + wait;
    let share = (wait / u32::try_from(targets.len()).unwrap_or(u32::MAX)).max(MIN_ATTEMPT);
    for to in targets {
        if Instant::now() >= deadline {
            break;
        }
        match node.transfer_leader(to).await {
            Ok(()) => tracing::info!(to, "shutting down: handing leadership over"),
            Err(e) => {
                tracing::warn!(to, error = %e, "shutting down: leadership transfer refused");
                continue;
            }
        }
        let mut status = node.watch_status();
        let until = (Instant::now() + share).min(deadline);
        let led = tokio::time::timeout_at(
            until,
            status.wait_for(|s| s.leader.is_some_and(|l| l != me)),
        )
        .await;
        if let Ok(Ok(s)) = led {
            let leader = s.leader.unwrap_or(to);
            tracing::info!(
                leader,
                took_ms = started.elapsed().as_millis() as u64,
                "shutting down: node {leader} leads now"
            );
            return Outcome::HandedTo(leader);
        }
    }
    Outcome::TimedOut
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_most_caught_up_voter_comes_first_learners_never() {
        let status = NodeStatus {
            id: 2,
            role: Role::Leader,
            term: 4,
            leader: Some(2),
            commit: 90,
            applied: 90,
            last_index: 100,
            snapshot_index: 0,
            voters: vec![1, 2, 3, 5],
            learners: vec![4],
            matched: vec![(1, 80), (2, 100), (3, 95), (4, 100), (5, 80)],
        };
        assert_eq!(candidates(&status), [3, 1, 5]);
        let alone = NodeStatus {
            voters: vec![2],
            ..status
        };
        assert!(candidates(&alone).is_empty());
    }
}
