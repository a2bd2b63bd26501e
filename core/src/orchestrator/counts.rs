//! How much the state holds (a backup's metadata, an operator's first look), and the one edit a
//! restore makes to it: a restored cluster's members listen where its flags say, not where the
//! backed-up cluster's did.

use serde::{Deserialize, Serialize};

use super::members::MemberBook;
use super::Orchestrator;

/// Counts of what the replicated state holds.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct StateCounts {
    /// Keys in the kv store.
    pub keys: u64,
    /// Services with at least one instance.
    pub services: u64,
    /// Registered instances, over every service.
    pub instances: u64,
    /// Live leases.
    pub leases: u64,
    /// Services with a deployment (active or finished).
    pub deployments: u64,
    /// Locks with a holder.
    pub locks: u64,
    /// Elections with a leader.
    pub elections: u64,
}

impl Orchestrator {
    /// What the state holds (one pass over the services; the keys are counted as they change).
    pub fn counts(&self) -> StateCounts {
        let services: alloc::vec::Vec<&str> = self.registry.services().collect();
        let instances = services
            .iter()
            .filter_map(|s| self.registry.instances(s))
            .map(|m| m.len() as u64)
            .sum();
        StateCounts {
            keys: self.kv.len(),
            services: services.len() as u64,
            instances,
            leases: self.leases.len() as u64,
            deployments: self.deployments.len() as u64,
            locks: self.locks.held() as u64,
            elections: self.elections.led() as u64,
        }
    }

    /// Forgets every member's address record, as of the applied index (so hosts refresh their
    /// peer tables). For a state restored into a new cluster: its members are found at the
    /// addresses it is started with until records are set again. Every member of the new
    /// cluster must make the same edit to the same state, or the replicas differ.
    pub fn forget_member_addresses(&mut self) {
        self.members = MemberBook::forgotten(self.applied_index);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::orchestrator::{Command, Envelope};
    use crate::state_machine::StateMachine;

    fn apply(sm: &mut Orchestrator, index: u64, command: Command) {
        let output = sm.apply(index, &Envelope::new(1_000, command).encode());
        assert!(output.is_ok(), "{output:?}");
    }

    #[test]
    fn counts_follow_the_state_and_the_book_can_be_forgotten() {
        let mut sm = Orchestrator::new();
        assert_eq!(sm.counts(), StateCounts::default());
        apply(&mut sm, 1, Command::GrantLease { ttl_ms: 10_000 });
        apply(
            &mut sm,
            2,
            Command::AcquireLock {
                name: "db".into(),
                lease_id: 1,
            },
        );
        apply(
            &mut sm,
            3,
            Command::SetMemberAddress {
                id: 2,
                peer_addr: "h2:7000".into(),
                api_addr: "h2:8000".into(),
            },
        );
        let counts = sm.counts();
        assert_eq!((counts.leases, counts.locks, counts.keys), (1, 1, 0));
        assert_eq!(sm.member_addresses().count(), 1);
        sm.forget_member_addresses();
        assert_eq!(sm.member_addresses().count(), 0);
        assert_eq!(sm.member_book_index(), 3);
        assert_eq!(sm.counts(), counts, "nothing else changes");
    }
}
