use super::harness::Net;
use crate::raft::{ConfChange, Error, MessageKind, Role};

#[test]
fn transfer_waits_for_a_lagging_target_then_hands_over() {
    let mut net = Net::new(&[1, 2, 3]);
    net.elect(1);
    net.isolate(3);
    for i in 0..5u8 {
        net.propose(1, &[i]);
    }
    net.heal();
    net.node(1).transfer_leader(3).unwrap();
    assert!(
        matches!(
            net.node(1).propose(b"x".to_vec()),
            Err(Error::ProposalDropped(_))
        ),
        "no proposals while transferring"
    );
    net.process(1);
    net.stabilize();
    assert!(net.count(MessageKind::TimeoutNow) >= 1);
    assert_eq!(net.node(3).role(), Role::Leader);
    assert_eq!(net.node(1).leader(), Some(3));
}

#[test]
fn a_transfer_to_an_unreachable_target_is_abandoned() {
    let mut net = Net::new(&[1, 2, 3]);
    net.elect(1);
    net.isolate(3);
    net.node(1).transfer_leader(3).unwrap();
    net.process(1);
    net.tick_all(12);
    assert!(net.node(1).is_leader());
    assert!(
        net.node(1).propose(b"x".to_vec()).is_ok(),
        "proposals accepted again"
    );
}

#[test]
fn membership_changes_one_at_a_time_and_a_removed_leader_steps_down() {
    let mut net = Net::new(&[1, 2, 3]);
    net.elect(1);
    net.tick_all(1);
    net.node(1)
        .propose_conf_change(ConfChange::RemoveNode(1))
        .unwrap();
    assert!(net
        .node(1)
        .propose_conf_change(ConfChange::AddLearner(9))
        .is_err());
    net.process(1);
    net.stabilize();
    assert_ne!(net.node(1).role(), Role::Leader);
    assert!(!net.node(2).conf_state().voters.contains(&1));
    net.tick_all(40);
    let leader = [2, 3].into_iter().find(|&id| net.node(id).is_leader());
    assert!(leader.is_some(), "the remaining voters elected a leader");
}
