//! The nemesis: random faults drawn from the run's seed — crashes, restarts, pauses,
//! partitions, one-way link cuts, message loss, duplication and reordering.

use alloc::vec::Vec;

use super::cluster::Cluster;
use crate::engine::Application;

/// Which kinds of faults the nemesis may inject.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FaultSet {
    /// Crash and restart nodes.
    pub crash: bool,
    /// Split the network into partitions and cut single links one way.
    pub partition: bool,
    /// Lose messages.
    pub drop: bool,
    /// Deliver messages twice.
    pub duplicate: bool,
    /// Widen the latency range so messages overtake each other.
    pub reorder: bool,
    /// Pause nodes (alive but silent), then resume them.
    pub pause: bool,
}

impl FaultSet {
    /// Every fault.
    pub const ALL: FaultSet = FaultSet {
        crash: true,
        partition: true,
        drop: true,
        duplicate: true,
        reorder: true,
        pause: true,
    };

    /// No fault.
    pub const NONE: FaultSet = FaultSet {
        crash: false,
        partition: false,
        drop: false,
        duplicate: false,
        reorder: false,
        pause: false,
    };

    /// Parses a comma-separated list such as `crash,partition,drop` (`all` for every fault).
    pub fn parse(list: &str) -> Result<FaultSet, &str> {
        let mut set = FaultSet::NONE;
        for name in list.split(',').map(str::trim).filter(|s| !s.is_empty()) {
            match name {
                "all" => set = FaultSet::ALL,
                "crash" => set.crash = true,
                "partition" => set.partition = true,
                "drop" => set.drop = true,
                "duplicate" => set.duplicate = true,
                "reorder" => set.reorder = true,
                "pause" => set.pause = true,
                other => return Err(other),
            }
        }
        Ok(set)
    }
}

/// Applies one random fault (or repair) to the cluster.
pub fn inject_random_fault<A: Application>(cluster: &mut Cluster<A>, faults: FaultSet) {
    let n = cluster.config().nodes;
    let pick_node = |c: &mut Cluster<A>| 1 + c.random() % n;
    let mut actions: Vec<u8> = Vec::new();
    if faults.crash {
        actions.extend([0, 1, 1]);
    }
    if faults.partition {
        actions.extend([2, 3, 4]);
    }
    if faults.drop || faults.duplicate || faults.reorder {
        actions.push(5);
    }
    if faults.pause {
        actions.extend([6, 7]);
    }
    if actions.is_empty() {
        return;
    }
    let action = actions[(cluster.random() % actions.len() as u64) as usize];
    match action {
        0 => {
            let id = pick_node(cluster);
            cluster.crash(id);
        }
        1 => {
            let down: Vec<u64> = cluster
                .nodes()
                .iter()
                .filter(|n| !n.is_up())
                .map(|n| n.id)
                .collect();
            if !down.is_empty() {
                let id = down[(cluster.random() % down.len() as u64) as usize];
                cluster.restart(id);
            }
        }
        2 => {
            let groups = (0..n).map(|_| (cluster.random() % 2) as u8).collect();
            cluster.partition(groups);
        }
        3 => {
            let (from, to) = (pick_node(cluster), pick_node(cluster));
            if from != to {
                cluster.set_link(from, to, false);
            }
        }
        4 => cluster.heal(),
        5 => {
            let drop = if faults.drop {
                (cluster.random() % 150) as u32
            } else {
                0
            };
            let dup = if faults.duplicate {
                (cluster.random() % 100) as u32
            } else {
                0
            };
            cluster.set_drop_rate(drop);
            cluster.set_duplicate_rate(dup);
            if faults.reorder {
                let max = 1 + cluster.random() % 40;
                cluster.set_latency(1, max);
            }
        }
        6 => {
            let id = pick_node(cluster);
            cluster.set_paused(id, true);
        }
        _ => {
            for id in 1..=n {
                cluster.set_paused(id, false);
            }
        }
    }
}

/// Removes every fault: heals the network, restarts crashed nodes, resumes paused ones, and
/// restores a clean, in-order network.
pub fn heal_everything<A: Application>(cluster: &mut Cluster<A>) {
    cluster.heal();
    cluster.set_drop_rate(0);
    cluster.set_duplicate_rate(0);
    cluster.set_latency(1, 10);
    for id in 1..=cluster.config().nodes {
        cluster.set_paused(id, false);
        cluster.restart(id);
    }
}
