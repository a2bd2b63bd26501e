//! Deployments, kv and leases through `apply`.

use super::*;

#[test]
fn deployment_commands() {
    let mut d = Driver::new();
    let start = |steps: &[u8]| Command::StartDeployment {
        service: "web".into(),
        stable_version: "v1".into(),
        canary_version: "v2".into(),
        steps: steps.to_vec(),
    };
    refused(&mut d, start(&[]), invalid(Field::Steps, Rule::Empty));
    refused(
        &mut d,
        Command::Advance {
            service: "web".into(),
        },
        OrchestratorError::NoDeployment {
            service: "web".into(),
        },
    );
    let progressing = |step| DeploymentState::Progressing { step };
    assert_eq!(
        d.at(0, start(&[10, 50])),
        Ok(Response::Deployment {
            state: progressing(0),
            canary_percent: 10
        })
    );
    refused(
        &mut d,
        start(&[20]),
        OrchestratorError::InvalidTransition {
            service: "web".into(),
            action: DeploymentAction::Start,
            state: progressing(0),
        },
    );
    d.at(
        0,
        Command::Pause {
            service: "web".into(),
        },
    )
    .unwrap();
    refused(
        &mut d,
        Command::Advance {
            service: "web".into(),
        },
        OrchestratorError::InvalidTransition {
            service: "web".into(),
            action: DeploymentAction::Advance,
            state: DeploymentState::Paused { step: 0 },
        },
    );
    d.at(
        0,
        Command::Resume {
            service: "web".into(),
        },
    )
    .unwrap();
    assert_eq!(
        d.at(
            0,
            Command::Advance {
                service: "web".into()
            }
        ),
        Ok(Response::Deployment {
            state: progressing(1),
            canary_percent: 50
        })
    );
    assert_eq!(
        d.sm.deployment("web").unwrap().percent_changed_index,
        d.index
    );
    assert_eq!(
        d.at(
            0,
            Command::Rollback {
                service: "web".into()
            }
        ),
        Ok(Response::Deployment {
            state: DeploymentState::RolledBack,
            canary_percent: 0
        })
    );
    d.at(0, start(&[100])).unwrap();
    assert_eq!(
        d.at(
            0,
            Command::Promote {
                service: "web".into()
            }
        ),
        Ok(Response::Deployment {
            state: DeploymentState::Promoted,
            canary_percent: 100
        })
    );
    assert_eq!(kinds(&d.sm, "deployments/web", 0).len(), 7);
}

#[test]
fn kv_commands() {
    let mut d = Driver::new();
    assert_eq!(
        d.at(0, put("a/1", None, Some(0))),
        Ok(Response::KvPut {
            revision: 1,
            version: 1
        })
    );
    refused(
        &mut d,
        put("a/1", None, Some(0)),
        OrchestratorError::CasFailed {
            current_revision: 1,
        },
    );
    assert_eq!(
        d.at(0, put("a/1", None, Some(1))),
        Ok(Response::KvPut {
            revision: 3,
            version: 2
        })
    );
    assert_eq!(
        d.at(0, put("a/2", None, None)),
        Ok(Response::KvPut {
            revision: 4,
            version: 1
        })
    );
    assert_eq!(d.sm.kv_range("a/").len(), 2);
    refused(
        &mut d,
        Command::Delete {
            key: "a/1".into(),
            expected_revision: Some(1),
        },
        OrchestratorError::CasFailed {
            current_revision: 3,
        },
    );
    assert_eq!(
        d.at(
            0,
            Command::Delete {
                key: "a/1".into(),
                expected_revision: Some(3)
            }
        ),
        Ok(Response::KvDeleted { deleted: true })
    );
    assert_eq!(
        d.at(
            0,
            Command::Delete {
                key: "a/1".into(),
                expected_revision: None
            }
        ),
        Ok(Response::KvDeleted { deleted: false })
    );
    assert!(d.sm.kv_get("a/1").is_none());
    refused(
        &mut d,
        put("has space", None, None),
        invalid(Field::Key, Rule::BadChar),
    );
    refused(
        &mut d,
        Command::Put {
            key: "big".into(),
            value: alloc::vec![0; validate::MAX_VALUE_LEN + 1],
            lease: None,
            expected_revision: None,
        },
        invalid(
            Field::Value,
            Rule::TooLong {
                max: validate::MAX_VALUE_LEN as u64,
            },
        ),
    );
    refused(
        &mut d,
        put("a", Some(42), None),
        OrchestratorError::LeaseNotFound { lease_id: 42 },
    );
    refused(
        &mut d,
        Command::Delete {
            key: "".into(),
            expected_revision: None,
        },
        invalid(Field::Key, Rule::Empty),
    );
}

#[test]
fn lease_commands_and_attached_keys() {
    let mut d = Driver::new();
    refused(
        &mut d,
        Command::GrantLease { ttl_ms: 0 },
        invalid(
            Field::TtlMs,
            Rule::OutOfRange {
                min: 1,
                max: validate::MAX_TTL_MS,
            },
        ),
    );
    let lease = 2;
    assert_eq!(
        d.at(0, Command::GrantLease { ttl_ms: 100 }),
        Ok(Response::LeaseGranted {
            lease_id: lease,
            ttl_ms: 100,
            deadline_ms: 100
        })
    );
    d.at(0, put("a", Some(lease), None)).unwrap();
    d.at(0, put("b", Some(lease), None)).unwrap();
    assert_eq!(
        d.at(80, Command::KeepAlive { lease_id: lease }),
        Ok(Response::LeaseKeptAlive {
            lease_id: lease,
            deadline_ms: 180
        })
    );
    d.at(180, Command::Tick).unwrap();
    assert!(d.sm.kv_get("a").is_some());
    d.at(181, Command::Tick).unwrap();
    assert!(d.sm.kv_get("a").is_none() && d.sm.kv_get("b").is_none());
    refused(
        &mut d,
        Command::KeepAlive { lease_id: lease },
        OrchestratorError::LeaseNotFound { lease_id: lease },
    );
    let lease = d.index + 1;
    d.at(200, Command::GrantLease { ttl_ms: 100 }).unwrap();
    d.at(200, put("c", Some(lease), None)).unwrap();
    assert_eq!(
        d.at(200, Command::RevokeLease { lease_id: lease }),
        Ok(Response::LeaseRevoked {
            lease_id: lease,
            keys_deleted: 1
        })
    );
    refused(
        &mut d,
        Command::RevokeLease { lease_id: lease },
        OrchestratorError::LeaseNotFound { lease_id: lease },
    );
    assert_eq!(
        kinds(&d.sm, "leases/", 0),
        [
            EventKind::LeaseGranted,
            EventKind::LeaseExpired,
            EventKind::LeaseGranted,
            EventKind::LeaseRevoked
        ]
    );
}
