//! Scenario presets: short scripts of faults and client requests at fixed simulated times, with
//! narration. Acts name roles ("the leader", "a follower"), resolved against the cluster when
//! they fire, so a script reads like the story it tells.

use raftorch_core::orchestrator::Command;
use raftorch_core::raft::NodeId;
use raftorch_core::sim::Consistency;

use raftorch_core::orchestrator::{Query, WriteFence};
use raftorch_core::raft::ConfChange;

use super::client::ClientState;
use super::input::Input;
use super::lessons::LESSONS;
use super::timeline::Sim;

/// What a scenario step does.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Act {
    /// Only narration.
    Say,
    /// Crash the current leader.
    CrashLeader,
    /// Crash the follower with the highest id.
    CrashFollower,
    /// Restart every crashed node.
    RestartCrashed,
    /// Put the leader and one follower on side A, the rest on side B.
    IsolateLeaderWithOne,
    /// Remove every partition.
    Heal,
    /// Ask the leader to hand leadership to the next node id.
    TransferToNext,
    /// A `put key=value` sent to the leader.
    PutAtLeader(&'static str, &'static str),
    /// A `put key=value` sent to a node that is not the leader (reachable from the majority).
    PutAtFollower(&'static str, &'static str),
    /// `n` puts at the leader.
    PutBurst(u32),
    /// Register instance `web-<n>` of service `web` with a version, at the leader.
    Register(u8, &'static str),
    /// Start a canary of `web`: v1 → v2, steps 20%, 50%, 100%.
    StartCanary,
    /// Advance the canary, through a follower (forwarded to the leader).
    AdvanceAtFollower,
    /// Promote the canary, through a follower.
    PromoteAtFollower,
    /// Route 100 keys of `web` through a follower.
    RouteBurst,
    /// Cut the follower with the highest id off from every other node.
    IsolateFollower,
    /// Read `key` at the leader.
    ReadAtLeader(&'static str, Consistency),
    /// Read `key` at the lowest-id running node that cannot reach the leader (the cut-off side).
    ReadAtCutOff(&'static str, Consistency),
    /// Read `key` at the running node with the lowest id that is not the leader.
    ReadAtFollower(&'static str, Consistency),
    /// Grant a lease of this many ms and take lock `name` with it, at the leader.
    LockWithLease(&'static str, u64),
    /// A `put key=value` fenced by the client's first fencing token for lock `name`.
    FencedPutFirstToken(&'static str, &'static str, &'static str),
    /// A `put key=value` fenced by the client's latest fencing token for lock `name`.
    FencedPutLatestToken(&'static str, &'static str, &'static str),
    /// The leader proposes removing the follower with the highest id.
    RemoveFollower,
    /// The leader proposes adding, as a learner, the lowest node id that is not a member.
    AddLearner,
    /// The leader proposes promoting its lowest-id learner to voter.
    PromoteLearner,
}

/// One step of a scenario.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Step {
    /// When, in simulated ms.
    pub at: u64,
    /// What to do.
    pub act: Act,
    /// What to say (shown until the next step that says something).
    pub say: &'static str,
}

/// A scenario preset.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Scenario {
    /// Id used in the URL.
    pub id: &'static str,
    /// Button label.
    pub title: &'static str,
    /// Cluster size.
    pub nodes: u64,
    /// Seed that tells the story well (a URL `seed` overrides it).
    pub seed: u64,
    /// The script.
    pub steps: &'static [Step],
}

const fn step(at: u64, act: Act, say: &'static str) -> Step {
    Step { at, act, say }
}

/// Every preset.
pub const SCENARIOS: &[Scenario] = &[
    Scenario {
        id: "leader-crash",
        title: "Leader crash",
        nodes: 5,
        seed: 1,
        steps: &[
            step(0, Act::Say, "Five nodes start as followers. Each one's election timer (the arc) runs down at a random pace; the first to run out asks the others for votes."),
            step(1500, Act::PutAtLeader("color", "blue"), "A leader won a majority. Its heartbeats reset everyone's timer; a write goes through it and commits once a majority stores it."),
            step(2500, Act::CrashLeader, "The leader crashes. Nobody resets the followers' timers now: the first to run out campaigns for the next term."),
            step(5000, Act::PutAtFollower("color", "green"), "The new leader commits with four of five nodes: still a majority. A write sent to a follower is forwarded to it."),
            step(6500, Act::RestartCrashed, "The old leader restarts from its durable log, sees the higher term, follows, and catches up on what it missed."),
        ],
    },
    Scenario {
        id: "split-vote",
        title: "Split vote",
        nodes: 4,
        seed: SPLIT_VOTE_SEED,
        steps: &[
            step(0, Act::Say, "Four nodes: a leader needs three votes. Watch the timers."),
            step(1500, Act::CrashLeader, "The leader crashes. Three nodes remain, and a winner needs three votes — all of them."),
            step(1800, Act::Say, "When two candidates campaign at once, each votes for itself and neither reaches a majority: a split vote. Their randomized timers fire again at different moments, and a later term elects one leader."),
        ],
    },
    Scenario {
        id: "partition",
        title: "Partition, minority leader",
        nodes: 5,
        seed: 3,
        steps: &[
            step(0, Act::Say, "Five nodes elect a leader."),
            step(2000, Act::IsolateLeaderWithOne, "The network splits: the leader and one follower on one side, three nodes on the other."),
            step(2200, Act::PutAtLeader("x", "minority"), "A write at the old leader reaches only two of five nodes: it cannot commit."),
            step(3000, Act::Say, "The majority side stops hearing heartbeats and elects a leader in a higher term. The old leader, missing a quorum, steps down (check-quorum): never two leaders that can commit."),
            step(4500, Act::PutAtFollower("x", "majority"), "The majority side commits writes."),
            step(6000, Act::Heal, "Healed. The minority learns the higher term; its uncommitted entry is overwritten by the majority's log."),
        ],
    },
    Scenario {
        id: "snapshot",
        title: "Catch-up by snapshot",
        nodes: 5,
        seed: 4,
        steps: &[
            step(0, Act::Say, "Every node compacts its log into a snapshot every 30 applied entries."),
            step(1500, Act::CrashFollower, "A follower crashes."),
            step(2000, Act::PutBurst(40), "Forty writes commit without it; the others compact their logs (the hatched block in each log strip)."),
            step(5000, Act::RestartCrashed, "It restarts. The entries it lacks are gone from the leader's log, so the leader sends its snapshot (the large square) and then the rest."),
        ],
    },
    Scenario {
        id: "transfer",
        title: "Leadership transfer",
        nodes: 5,
        seed: 5,
        steps: &[
            step(0, Act::Say, "A leader is elected."),
            step(2500, Act::TransferToNext, "Leadership transfer: the leader stops taking writes, brings the target up to date, then sends it TimeoutNow (triangle). The target campaigns at once, without waiting for its timer."),
        ],
    },
    Scenario {
        id: "canary",
        title: "Canary during failover",
        nodes: 5,
        seed: 6,
        steps: &[
            step(0, Act::Say, "The orchestrator runs on top of Raft: every registration and deployment step is a log entry."),
            step(1200, Act::Register(1, "v1"), "Three instances of service web register: two run v1, one runs v2."),
            step(1300, Act::Register(2, "v1"), ""),
            step(1400, Act::Register(3, "v2"), ""),
            step(2000, Act::StartCanary, "A canary deployment starts: 20% of keys go to v2."),
            step(2600, Act::RouteBurst, "100 request keys are routed (through a follower): see the bar chart."),
            step(3500, Act::CrashLeader, "The leader crashes in the middle of the rollout."),
            step(6000, Act::AdvanceAtFollower, "A new leader is elected; the deployment state survived. Advancing to 50%, sent to a follower and forwarded."),
            step(6800, Act::RouteBurst, "Routing again: about half the keys go to v2 now."),
            step(8000, Act::PromoteAtFollower, "Promote: v2 is the new stable."),
            step(8800, Act::RouteBurst, "All keys go to v2."),
            step(9500, Act::RestartCrashed, "The crashed node returns and replays the same deployment history."),
        ],
    },
];

/// A seed on which the split-vote scenario actually splits a vote (found by `split_vote_seed`).
pub const SPLIT_VOTE_SEED: u64 = 1;

/// The scenario or lesson with this id.
pub fn find(id: &str) -> Option<&'static Scenario> {
    SCENARIOS.iter().chain(LESSONS).find(|s| s.id == id)
}

impl Scenario {
    /// The narration in force at simulated time `now`.
    pub fn narration(&self, now: u64) -> &'static str {
        self.steps
            .iter()
            .rev()
            .find(|s| s.at <= now && !s.say.is_empty())
            .map_or("", |s| s.say)
    }
}

impl Act {
    /// The inputs this act makes, given the cluster and the client now.
    pub fn resolve(self, cluster: &Sim, client: &ClientState) -> Vec<Input> {
        let leader = cluster.leader();
        let ids = 1..=cluster.config().nodes;
        let up: Vec<NodeId> = ids.clone().filter(|&id| cluster.node(id).is_up()).collect();
        let follower = up.iter().copied().filter(|&id| Some(id) != leader).max();
        let service = || "web".to_string();
        let write_at = |node: Option<NodeId>, command: Command| {
            node.or(leader)
                .map(|node| Input::Write { node, command })
                .into_iter()
                .collect()
        };
        let put = |k: &str, v: &str| Command::Put {
            key: k.into(),
            value: v.as_bytes().to_vec(),
            lease: None,
            expected_revision: None,
        };
        match self {
            Act::Say => vec![],
            Act::CrashLeader => leader.map(Input::Crash).into_iter().collect(),
            Act::CrashFollower => follower.map(Input::Crash).into_iter().collect(),
            Act::RestartCrashed => ids
                .filter(|&id| !cluster.node(id).is_up())
                .map(Input::Restart)
                .collect(),
            Act::IsolateLeaderWithOne => {
                let Some(leader) = leader else { return vec![] };
                let mate = up.iter().copied().find(|&id| id != leader);
                let groups = ids
                    .map(|id| u8::from(id == leader || Some(id) == mate))
                    .collect();
                vec![Input::Partition(groups)]
            }
            Act::Heal => vec![Input::Heal],
            Act::TransferToNext => {
                let Some(from) = leader else { return vec![] };
                let to = from % cluster.config().nodes + 1;
                vec![Input::Transfer { from, to }]
            }
            Act::PutAtLeader(k, v) => write_at(leader, put(k, v)),
            Act::PutAtFollower(k, v) => {
                // A follower that can reach the leader, so the forward arrives.
                let node = up.iter().copied().find(|&id| {
                    Some(id) != leader
                        && leader.is_some_and(|l| cluster.topology().can_reach(id, l))
                });
                write_at(node, put(k, v))
            }
            Act::PutBurst(n) => (0..n)
                .flat_map(|i| write_at(leader, put(&format!("key-{i}"), &format!("{i}"))))
                .collect(),
            Act::Register(n, version) => write_at(
                leader,
                Command::Register {
                    service: service(),
                    instance_id: format!("web-{n}"),
                    address: format!("10.0.0.{n}"),
                    port: 8080,
                    version: version.into(),
                    weight: 100,
                    tags: vec![],
                    metadata: Default::default(),
                    ttl_ms: None,
                },
            ),
            Act::StartCanary => write_at(
                leader,
                Command::StartDeployment {
                    service: service(),
                    stable_version: "v1".into(),
                    canary_version: "v2".into(),
                    steps: vec![20, 50, 100],
                },
            ),
            Act::AdvanceAtFollower => write_at(follower, Command::Advance { service: service() }),
            Act::PromoteAtFollower => write_at(follower, Command::Promote { service: service() }),
            Act::RouteBurst => follower
                .or(leader)
                .map(|node| Input::RouteBurst {
                    node,
                    service: service(),
                    count: 100,
                    consistency: Consistency::Linearizable,
                })
                .into_iter()
                .collect(),
            Act::IsolateFollower => follower
                .map(|alone| Input::Partition(ids.map(|id| u8::from(id == alone)).collect()))
                .into_iter()
                .collect(),
            Act::ReadAtLeader(key, consistency) => read_at(leader, key, consistency),
            Act::ReadAtCutOff(key, consistency) => {
                let cut_off = up.iter().copied().find(|&id| {
                    leader.is_some_and(|l| id != l && !cluster.topology().can_reach(id, l))
                });
                read_at(cut_off, key, consistency)
            }
            Act::ReadAtFollower(key, consistency) => {
                let node = up.iter().copied().find(|&id| Some(id) != leader);
                read_at(node, key, consistency)
            }
            Act::LockWithLease(name, ttl_ms) => leader
                .map(|node| Input::AcquireLock {
                    node,
                    name: name.into(),
                    ttl_ms,
                })
                .into_iter()
                .collect(),
            Act::FencedPutFirstToken(lock, k, v) | Act::FencedPutLatestToken(lock, k, v) => {
                let mut tokens = client.tokens.iter().filter(|(n, _)| n == lock);
                let token = if matches!(self, Act::FencedPutFirstToken(..)) {
                    tokens.next()
                } else {
                    tokens.next_back()
                };
                let Some(&(_, token)) = token else {
                    return vec![];
                };
                let fenced = Command::Fenced {
                    fence: WriteFence::Lock {
                        name: lock.into(),
                        token,
                    },
                    command: Box::new(put(k, v)),
                };
                write_at(leader, fenced)
            }
            Act::RemoveFollower => membership(leader, follower.map(ConfChange::RemoveNode)),
            Act::AddLearner => {
                let conf = leader
                    .and_then(|l| cluster.node(l).raw())
                    .map(|r| r.conf_state());
                let outsider = ids.clone().find(|&id| {
                    conf.is_some_and(|c| !c.voters.contains(&id) && !c.learners.contains(&id))
                });
                membership(leader, outsider.map(ConfChange::AddLearner))
            }
            Act::PromoteLearner => {
                let conf = leader
                    .and_then(|l| cluster.node(l).raw())
                    .map(|r| r.conf_state());
                let learner = conf.and_then(|c| c.learners.first().copied());
                membership(leader, learner.map(ConfChange::AddVoter))
            }
        }
    }
}

/// A read of `key` at `node`, if there is one.
fn read_at(node: Option<NodeId>, key: &str, consistency: Consistency) -> Vec<Input> {
    node.map(|node| Input::Read {
        node,
        query: Query::KvGet { key: key.into() },
        consistency,
    })
    .into_iter()
    .collect()
}

/// A membership change proposed at the leader, if there is a leader and a change.
fn membership(leader: Option<NodeId>, change: Option<ConfChange>) -> Vec<Input> {
    leader
        .zip(change)
        .map(|(node, change)| Input::Membership { node, change })
        .into_iter()
        .collect()
}
