//! Lessons: scenarios that show what Raft (and raftorch on top of it) protects a user from, each
//! narrated step by step on the same engine as every other run. Their host tests
//! (`lessons_tests.rs`) check, at each narrated step, the cluster property the narration claims.

use raftorch_core::sim::Consistency;

use super::scenario::{Act, Scenario, Step};

const fn step(at: u64, act: Act, say: &'static str) -> Step {
    Step { at, act, say }
}

/// The key the stale-read lesson writes and reads.
pub const STALE_KEY: &str = "x";
/// The lock of the fenced-lock lesson.
pub const FENCED_LOCK: &str = "job";
/// The key the fenced-lock lesson's holders write.
pub const FENCED_KEY: &str = "report";
/// How many writes the election-restriction lesson commits while a follower is cut off.
pub const RESTRICTION_WRITES: u32 = 3;

/// Every lesson.
pub const LESSONS: &[Scenario] = &[
    Scenario {
        id: "election-restriction",
        title: "Only an up-to-date log wins",
        nodes: 5,
        seed: 21,
        steps: &[
            step(0, Act::Say, "Five nodes elect a leader. Watch the follower with the highest id."),
            step(1500, Act::IsolateFollower, "That follower is cut off from everyone."),
            step(2000, Act::PutBurst(RESTRICTION_WRITES), "Three writes commit on the four connected nodes: a majority. The cut-off node's log is now shorter than theirs."),
            step(3000, Act::CrashLeader, "The leader crashes."),
            step(3010, Act::Heal, "At once the network heals: the node with the short log is back. A voter grants its vote only to a candidate whose log is at least as up to date as its own (the election restriction), so the short log cannot collect three votes."),
            step(6000, Act::Say, "A node that holds all three writes leads. Raft never elects a leader that lacks a committed entry; the short log catches up from the new leader."),
        ],
    },
    Scenario {
        id: "rejoin",
        title: "A returning node does not disrupt",
        nodes: 5,
        seed: 22,
        steps: &[
            step(0, Act::Say, "Five nodes elect a leader."),
            step(1500, Act::IsolateFollower, "A follower is cut off for five seconds. Its election timer runs out again and again."),
            step(2500, Act::Say, "Without pre-vote it would raise its term on every try and, once back, force the whole cluster into a new election. With pre-vote it first asks whether it could win; nobody answers, so its term stays where it was."),
            step(6500, Act::Heal, "The network heals."),
            step(7000, Act::Say, "It hears the leader's heartbeat and follows. Same leader, same term: pre-vote and check-quorum keep a returning node from deposing a healthy leader."),
        ],
    },
    Scenario {
        id: "stale-read",
        title: "Stale and linearizable reads",
        nodes: 5,
        seed: 23,
        steps: &[
            step(0, Act::Say, "Five nodes elect a leader."),
            step(1500, Act::PutAtLeader(STALE_KEY, "old"), "x = old commits everywhere."),
            step(2500, Act::IsolateLeaderWithOne, "The leader and one follower are cut off from the other three."),
            step(4500, Act::PutAtFollower(STALE_KEY, "new"), "The majority elected a new leader; x = new commits there and is acknowledged."),
            step(5000, Act::ReadAtCutOff(STALE_KEY, Consistency::Stale), "A stale read on the cut-off side answers from that node's own copy: old — after new was acknowledged. No order of these operations explains it: the answer is not linearizable."),
            step(5100, Act::ReadAtCutOff(STALE_KEY, Consistency::Linearizable), "A linearizable read there must first confirm, with a majority, that its node still leads or knows the newest commit. It cannot: the read fails or waits rather than answer old."),
            step(6500, Act::Heal, "The network heals."),
            step(7500, Act::ReadAtFollower(STALE_KEY, Consistency::Linearizable), "Now a linearizable read answers new."),
        ],
    },
    Scenario {
        id: "fenced-lock",
        title: "A paused lock holder is fenced off",
        nodes: 5,
        seed: 24,
        steps: &[
            step(0, Act::Say, "Five nodes elect a leader."),
            step(1500, Act::LockWithLease(FENCED_LOCK, 1500), "Client A takes lock job under a 1.5 s lease; the lock comes with a fencing token."),
            step(2000, Act::Say, "Client A freezes (a long GC pause, a stopped VM): it sends no keep-alive."),
            step(4500, Act::LockWithLease(FENCED_LOCK, 60_000), "A's lease expired on the replicated clock and the lock was released. Client B takes it and gets a larger fencing token."),
            step(5500, Act::FencedPutFirstToken(FENCED_LOCK, FENCED_KEY, "from A"), "A wakes, still believing it holds the lock, and writes with its old token. The state machine checks the token when it applies the write: refused."),
            step(6000, Act::FencedPutLatestToken(FENCED_LOCK, FENCED_KEY, "from B"), "B writes with the current token: applied. Without fencing, both would have written."),
        ],
    },
    Scenario {
        id: "membership",
        title: "Membership change",
        nodes: 5,
        seed: 25,
        steps: &[
            step(0, Act::Say, "Five voters elect a leader."),
            step(1500, Act::RemoveFollower, "The leader removes the follower with the highest id: four voters, so a majority is three."),
            step(2500, Act::PutBurst(5), "Five writes commit without the removed node."),
            step(3500, Act::AddLearner, "It comes back as a learner: it receives the log and catches up, but neither votes nor counts towards a majority."),
            step(5000, Act::PromoteLearner, "Caught up, it is promoted to voter: five voters again, one change at a time."),
        ],
    },
];
