//! Exactly-once writes through forwarding and leader changes: a client that retries a request
//! the cluster applied already gets the first answer, and the index it first applied at.

use raftorch_core::orchestrator::{Command, Response};
use raftorch_tests::Harness;

fn put(key: &str, value: &[u8]) -> Command {
    Command::Put {
        key: key.into(),
        value: value.to_vec(),
        lease: None,
        expected_revision: None,
    }
}

#[test]
fn a_forwarded_write_retried_after_a_leader_change_is_answered_with_its_first_index() {
    let mut networks = vec![Harness::new(3, 0)];
    networks.extend((1..=10).map(|seed| Harness::with_network_faults(3, seed)));
    for mut h in networks {
        let old = h.leader();
        let follower = h.followers(old)[0];
        let write = h.tag(put("a", b"1"));
        let (first, at) = h.send(follower, &write).expect("written");
        assert!(
            matches!(first, Response::KvPut { revision, .. } if revision == at),
            "{first:?} at {at}"
        );
        // One request in flight per client: its next request would make this one stale.
        h.cluster.crash(old);
        let new = h.leader();
        assert_ne!(new, old);
        let survivor = h.followers(new).first().copied().unwrap_or(new);
        // The client never heard back (say) and sends the same request again, elsewhere.
        let (again, again_at) = h.send(survivor, &write).expect("answered");
        assert_eq!(again, first, "the first answer, not a second application");
        assert_eq!(again_at, at, "the index the write took effect at");
        h.assert_safe();
    }
}
