//! A node joining a running cluster: it starts with no membership and no log, never campaigns
//! while it is not a voter of its applied configuration, and catches up once the leader adds it.

use super::harness::Net;
use crate::raft::{ConfChange, Error, Message, MessageBody, Role};

/// Every message node `id` ever sent.
fn sent_by(net: &Net, id: u64) -> usize {
    net.delivered.iter().filter(|m| m.from == id).count()
}

#[test]
fn a_joining_node_stays_quiet_until_added_then_catches_up_and_may_campaign_once_a_voter() {
    let mut net = Net::new(&[1, 2, 3]);
    net.elect(1);
    let x = net.propose(1, b"x");
    net.add_joining(4);
    assert!(net.node(4).conf_state().voters.is_empty());
    assert_eq!(
        net.node(4).campaign(),
        Err(Error::UnknownNode(4)),
        "an empty configuration has no voter to campaign as"
    );
    // Many election timeouts, and a leader's nudge to campaign: nothing happens.
    net.tick_all(60);
    let term = net.node(1).term();
    net.deliver(Message {
        from: 1,
        to: 4,
        term,
        body: MessageBody::TimeoutNow,
    });
    net.tick_all(60);
    assert_eq!(net.node(4).role(), Role::Follower);
    assert_eq!(sent_by(&net, 4), 0, "the joining node sent nothing");
    assert_eq!(net.node(1).role(), Role::Leader, "nobody was disturbed");

    // Added as a learner: it receives the whole log, and still does not campaign.
    net.node(1)
        .propose_conf_change(ConfChange::AddLearner(4))
        .unwrap();
    net.process(1);
    net.stabilize();
    net.tick_all(60);
    assert!(net.node(4).conf_state().learners.contains(&4));
    assert_eq!(net.node(4).applied_index(), net.node(1).applied_index());
    assert!(net.applied[&4].iter().any(|e| e.index == x));
    assert_eq!(net.node(4).campaign(), Err(Error::UnknownNode(4)));
    assert_eq!(net.node(4).role(), Role::Follower);

    // Promoted: it votes and may lead.
    net.node(1)
        .propose_conf_change(ConfChange::AddVoter(4))
        .unwrap();
    net.process(1);
    net.stabilize();
    net.tick_all(2);
    assert!(net.node(4).conf_state().voters.contains(&4));
    // Leadership moves to it (a plain campaign would meet the others' leader lease).
    net.node(1).transfer_leader(4).unwrap();
    net.process(1);
    net.stabilize();
    assert!(net.node(4).is_leader());
    let y = net.propose(4, b"y");
    assert!(net.applied[&1].iter().any(|e| e.index == y));
}
