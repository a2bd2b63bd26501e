//! The registry through `apply`, and the replicated clock.

use super::*;

#[test]
fn registry_commands() {
    let mut d = Driver::new();
    assert_eq!(
        d.at(0, register("web", "a", "v1", 10, Some(100))),
        Ok(Response::Registered {
            index: 1,
            created: true
        })
    );
    assert_eq!(
        d.at(0, register("web", "a", "v1", 20, Some(100))),
        Ok(Response::Registered {
            index: 2,
            created: false
        })
    );
    assert_eq!(d.sm.instance("web", "a").unwrap().weight, 20);
    d.at(0, register("api", "b", "v1", 1, None)).unwrap();
    assert_eq!(d.sm.services(), ["api", "web"]);
    assert_eq!(
        d.at(
            50,
            Command::Heartbeat {
                service: "web".into(),
                instance_id: "a".into()
            }
        ),
        Ok(Response::HeartbeatAccepted {
            deadline_ms: Some(150)
        })
    );
    assert_eq!(
        d.at(
            60,
            Command::Deregister {
                service: "web".into(),
                instance_id: "a".into()
            }
        ),
        Ok(Response::Deregistered)
    );
    assert_eq!(d.sm.services(), ["api"]);
    let gone = OrchestratorError::InstanceNotFound {
        service: "web".into(),
        instance_id: "a".into(),
    };
    refused(
        &mut d,
        Command::Deregister {
            service: "web".into(),
            instance_id: "a".into(),
        },
        gone.clone(),
    );
    refused(
        &mut d,
        Command::Heartbeat {
            service: "web".into(),
            instance_id: "a".into(),
        },
        gone,
    );
    assert_eq!(
        kinds(&d.sm, "services/web/", 0),
        [
            EventKind::InstanceRegistered,
            EventKind::InstanceUpdated,
            EventKind::InstanceDeregistered
        ]
    );
}

#[test]
fn registry_validation() {
    let mut d = Driver::new();
    let cases = [
        (
            register(".web", "a", "v1", 1, None),
            invalid(Field::Service, Rule::LeadingDot),
        ),
        (
            register("web", "a/b", "v1", 1, None),
            invalid(Field::InstanceId, Rule::BadChar),
        ),
        (
            register("web", "a", "", 1, None),
            invalid(Field::Version, Rule::Empty),
        ),
        (
            register("web", "a", "v1", 1001, None),
            invalid(Field::Weight, Rule::OutOfRange { min: 0, max: 1000 }),
        ),
        (
            register("web", "a", "v1", 1, Some(0)),
            invalid(
                Field::TtlMs,
                Rule::OutOfRange {
                    min: 1,
                    max: validate::MAX_TTL_MS,
                },
            ),
        ),
    ];
    for (command, error) in cases {
        refused(&mut d, command, error);
    }
    let mut bad_port = register("web", "a", "v1", 1, None);
    if let Command::Register { port, .. } = &mut bad_port {
        *port = 0;
    }
    refused(
        &mut d,
        bad_port,
        invalid(Field::Port, Rule::OutOfRange { min: 1, max: 65535 }),
    );
    let mut bad_tags = register("web", "a", "v1", 1, None);
    if let Command::Register { tags, .. } = &mut bad_tags {
        *tags = (0..33).map(|_| String::from("t")).collect();
    }
    refused(
        &mut d,
        bad_tags,
        invalid(Field::Tags, Rule::TooLong { max: 32 }),
    );
    refused(
        &mut d,
        Command::Heartbeat {
            service: "web".into(),
            instance_id: "".into(),
        },
        invalid(Field::InstanceId, Rule::Empty),
    );
}

#[test]
fn instance_ttl_expiry() {
    let mut d = Driver::new();
    d.at(0, register("web", "a", "v1", 1, Some(100))).unwrap();
    d.at(0, register("web", "b", "v1", 1, None)).unwrap();
    d.at(100, Command::Tick).unwrap();
    assert_eq!(d.sm.instances("web", true).len(), 2);
    d.at(101, Command::Tick).unwrap();
    assert_eq!(d.sm.instances("web", true).len(), 1);
    assert_eq!(d.sm.instances("web", false).len(), 2);
    d.at(100 + UNHEALTHY_GRACE_TTLS * 100 + 1, Command::Tick)
        .unwrap();
    assert_eq!(d.sm.instances("web", false).len(), 1);
    assert_eq!(
        kinds(&d.sm, "services/web/a", 0),
        [
            EventKind::InstanceRegistered,
            EventKind::InstanceUnhealthy,
            EventKind::InstanceExpired
        ]
    );
}

#[test]
fn clock_never_goes_backwards() {
    let mut d = Driver::new();
    d.at(1_000, Command::Tick).unwrap();
    d.at(500, Command::Tick).unwrap();
    assert_eq!(d.sm.now_ms(), 1_000);
    assert_eq!(d.sm.applied_index(), 2);
    assert_eq!(
        d.at(500, Command::GrantLease { ttl_ms: 10 }),
        Ok(Response::LeaseGranted {
            lease_id: 3,
            ttl_ms: 10,
            deadline_ms: 1_010
        })
    );
}

#[test]
fn leader_change_refreshes_deadlines() {
    let setup = || {
        let mut d = Driver::new();
        d.at(0, register("web", "a", "v1", 1, Some(100))).unwrap();
        d.at(0, Command::GrantLease { ttl_ms: 100 }).unwrap(); // lease 2
        d
    };
    // Without a leader nobody could keep anything alive; a plain tick at the new leader's clock
    // would expire it all.
    let mut ticked = setup();
    ticked.at(350, Command::Tick).unwrap();
    assert!(ticked.sm.lease(2).is_none());
    assert!(!ticked.sm.instance("web", "a").unwrap().healthy);
    // The new leader's first entry refreshes before it expires anything. The clock stands
    // still there (0), and the new leader's later stamps count from its own stamp (350).
    let mut d = setup();
    assert_eq!(
        d.at(350, Command::LeaderChanged),
        Ok(Response::LeasesRefreshed)
    );
    assert_eq!(d.sm.now_ms(), 0);
    assert_eq!(d.sm.lease(2).map(|l| l.deadline_ms), Some(100));
    assert!(d.sm.instance("web", "a").unwrap().healthy);
    d.at(450, Command::Tick).unwrap();
    assert!(d.sm.lease(2).is_some());
    d.at(451, Command::Tick).unwrap();
    assert!(d.sm.lease(2).is_none());
    assert!(!d.sm.instance("web", "a").unwrap().healthy);
}

#[test]
fn undecodable_and_stale_entries_change_nothing() {
    let mut d = Driver::new();
    d.at(5, Command::Tick).unwrap();
    let before = d.sm.clone();
    assert!(matches!(
        d.raw(&[1, 2, 3, 4, 5, 6]),
        Err(OrchestratorError::Decode { .. })
    ));
    assert_eq!(d.sm.applied_index(), 2);
    let mut after = d.sm.clone();
    after.applied_index = 1;
    assert_eq!(after, before);
    let tick = Envelope::new(9, Command::Tick).encode();
    assert_eq!(
        d.sm.apply(2, &tick),
        Err(OrchestratorError::StaleIndex { applied: 2, got: 2 })
    );
    assert_eq!(d.sm.now_ms(), 5);
}
