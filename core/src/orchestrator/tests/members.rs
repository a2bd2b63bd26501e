//! The member address book through `apply`: records, validation, snapshots.

use super::*;

fn set(id: u64, host: &str) -> Command {
    Command::SetMemberAddress {
        id,
        peer_addr: alloc::format!("{host}:7000"),
        api_addr: alloc::format!("{host}:8000"),
    }
}

#[test]
fn records_are_set_replaced_and_removed_through_the_log() {
    let mut d = Driver::new();
    assert_eq!(d.sm.member_book_index(), 0);
    assert_eq!(
        d.at(0, set(4, "10.0.0.4")),
        Ok(Response::MemberAddressSet { created: true })
    );
    let m = d.sm.member_address(4).cloned().expect("a record");
    assert_eq!(
        (m.peer_addr.as_str(), m.api_addr.as_str()),
        ("10.0.0.4:7000", "10.0.0.4:8000")
    );
    assert_eq!((m.set_index, d.sm.member_book_index()), (1, 1));
    // Another entry in between: the book's index stays where the book last changed.
    d.at(0, Command::Tick).unwrap();
    assert_eq!(
        d.at(0, set(4, "10.0.0.4")),
        Ok(Response::MemberAddressSet { created: false })
    );
    assert_eq!(d.sm.member_book_index(), 1, "same addresses: no change");
    d.at(0, set(4, "10.0.0.44")).unwrap();
    assert_eq!(d.sm.member_book_index(), 4);
    d.at(0, set(5, "10.0.0.5")).unwrap();
    let ids: Vec<u64> = d.sm.member_addresses().map(|(id, _)| id).collect();
    assert_eq!(ids, [4, 5]);
    assert_eq!(
        d.at(0, Command::RemoveMemberAddress { id: 4 }),
        Ok(Response::MemberAddressRemoved { removed: true })
    );
    assert_eq!(
        d.at(0, Command::RemoveMemberAddress { id: 4 }),
        Ok(Response::MemberAddressRemoved { removed: false })
    );
    assert_eq!(d.sm.member_address(4), None);
    assert_eq!(d.sm.member_book_index(), 6);
}

#[test]
fn invalid_records_change_nothing() {
    let mut d = Driver::new();
    d.at(0, set(4, "10.0.0.4")).unwrap();
    let record = |id, peer: &str, api: &str| Command::SetMemberAddress {
        id,
        peer_addr: peer.into(),
        api_addr: api.into(),
    };
    refused(
        &mut d,
        record(0, "h:1", "h:2"),
        invalid(
            Field::NodeId,
            Rule::OutOfRange {
                min: 1,
                max: u64::MAX,
            },
        ),
    );
    refused(
        &mut d,
        record(5, "h", "h:2"),
        invalid(Field::PeerAddr, Rule::NotHostPort),
    );
    refused(
        &mut d,
        record(5, "h:1", "http://h:2"),
        invalid(Field::ApiAddr, Rule::BadChar),
    );
    refused(
        &mut d,
        record(5, "h:1", &"h".repeat(300)),
        invalid(Field::ApiAddr, Rule::TooLong { max: 261 }),
    );
    refused(
        &mut d,
        record(5, "h:1", "h:1"),
        OrchestratorError::AddressInUse {
            address: "h:1".into(),
            node_id: 5,
        },
    );
    refused(
        &mut d,
        record(5, "10.0.0.5:7000", "10.0.0.4:8000"),
        OrchestratorError::AddressInUse {
            address: "10.0.0.4:8000".into(),
            node_id: 4,
        },
    );
    refused(
        &mut d,
        Command::RemoveMemberAddress { id: 0 },
        invalid(
            Field::NodeId,
            Rule::OutOfRange {
                min: 1,
                max: u64::MAX,
            },
        ),
    );
}

#[test]
fn the_book_travels_in_snapshots() {
    let mut d = Driver::new();
    d.at(0, set(4, "10.0.0.4")).unwrap();
    d.at(0, set(5, "[fd00::5]")).unwrap();
    d.at(0, Command::RemoveMemberAddress { id: 4 }).unwrap();
    let snapshot = d.sm.snapshot();
    assert_eq!(snapshot[0], SNAPSHOT_FORMAT);
    let mut restored = Orchestrator::new();
    restored.restore(&snapshot).unwrap();
    assert_eq!(restored, d.sm);
    assert_eq!(restored.member_book_index(), 3);
    assert_eq!(
        restored.member_address(5).map(|m| m.peer_addr.as_str()),
        Some("[fd00::5]:7000")
    );
    assert_eq!(restored.member_address(4), None);
    // A trailing byte, or a book cut short, is refused.
    let mut longer = snapshot.clone();
    longer.push(0);
    assert!(Orchestrator::new().restore(&longer).is_err());
    assert!(Orchestrator::new()
        .restore(&snapshot[..snapshot.len() - 1])
        .is_err());
}

#[test]
fn a_format_1_snapshot_restores_with_an_empty_book() {
    let mut d = Driver::new();
    d.at(0, Command::GrantLease { ttl_ms: 1_000 }).unwrap();
    // Format 1 was `[1] ++ postcard(state)`, the state without the book.
    let mut v1 = Vec::from([1u8]);
    v1.extend(crate::orchestrator::snapshot_legacy::encode_state(&d.sm));
    let mut restored = Orchestrator::new();
    restored.restore(&v1).unwrap();
    assert_eq!(restored, d.sm);
    assert_eq!(restored.member_addresses().count(), 0);
}
