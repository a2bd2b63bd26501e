//! Test helpers: a driver that numbers entries, and a seeded random workload.

use alloc::collections::BTreeMap;
use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;

use rand_xoshiro::rand_core::{RngCore, SeedableRng};
use rand_xoshiro::Xoshiro256PlusPlus;

use alloc::boxed::Box;

use super::{
    Command, Compare, CompareOp, CompareTarget, Envelope, Orchestrator, Output, Txn, TxnOp,
    WriteFence,
};
use crate::state_machine::StateMachine;

/// Applies envelopes at consecutive indexes.
#[derive(Debug, Clone, Default)]
pub(crate) struct Driver {
    pub(crate) sm: Orchestrator,
    pub(crate) index: u64,
}

impl Driver {
    pub(crate) fn new() -> Self {
        Self::default()
    }

    pub(crate) fn envelope(&mut self, envelope: &Envelope) -> Output {
        self.raw(&envelope.encode())
    }

    pub(crate) fn raw(&mut self, bytes: &[u8]) -> Output {
        self.index += 1;
        self.sm.apply(self.index, bytes)
    }

    pub(crate) fn at(&mut self, now_ms: u64, command: Command) -> Output {
        self.envelope(&Envelope::new(now_ms, command))
    }
}

/// A valid `Register` command.
pub(crate) fn register(
    service: &str,
    id: &str,
    version: &str,
    weight: u16,
    ttl_ms: Option<u64>,
) -> Command {
    Command::Register {
        service: service.into(),
        instance_id: id.into(),
        address: "10.0.0.1".into(),
        port: 80,
        version: version.into(),
        weight,
        tags: Vec::new(),
        metadata: BTreeMap::new(),
        ttl_ms,
    }
}

/// A seeded workload over a few names, so commands collide on the same instances, keys, leases,
/// locks and elections. Entry `i` of the result is meant for index `i + 1`; some entries are
/// garbage bytes and some repeat an earlier request id.
pub(crate) fn workload(seed: u64, len: usize) -> Vec<Vec<u8>> {
    let mut rng = Xoshiro256PlusPlus::seed_from_u64(seed);
    let mut pick = move |n: u64| rng.next_u64() % n;
    let mut now = 0u64;
    let mut leases: Vec<u64> = Vec::new();
    let mut sent: Vec<Vec<u8>> = Vec::new();
    let mut seqs = [0u64; 4];
    for i in 0..len {
        let index = i as u64 + 1;
        now += pick(100);
        if pick(50) == 0 {
            sent.push(Vec::from([0xde, 0xad, 0xbe, 0xef]));
            continue;
        }
        if pick(20) == 0 && !sent.is_empty() {
            let old = sent[pick(sent.len() as u64) as usize].clone();
            sent.push(old);
            continue;
        }
        let svc = String::from(["web", "api"][pick(2) as usize]);
        let inst = format!("i{}", pick(4));
        // Mostly one of the last few leases, so that many are still alive when used.
        let lease = match leases.len() as u64 {
            0 => 1,
            n => leases[(n - 1 - pick(n.min(4))) as usize],
        };
        let name = format!("n{}", pick(3));
        let command = match pick(29) {
            0 => Command::Tick,
            1 => Command::LeaderChanged,
            2 | 3 => {
                let ttl = [None, Some(300), Some(1_000)][pick(3) as usize];
                register(
                    &svc,
                    &inst,
                    ["v1", "v2", "v3"][pick(3) as usize],
                    pick(4) as u16,
                    ttl,
                )
            }
            4 => Command::Deregister {
                service: svc,
                instance_id: inst,
            },
            5 => Command::Heartbeat {
                service: svc,
                instance_id: inst,
            },
            6 => Command::StartDeployment {
                service: svc,
                stable_version: "v1".into(),
                canary_version: "v2".into(),
                steps: Vec::from([10, 50, 100]),
            },
            7 => [
                Command::Advance {
                    service: svc.clone(),
                },
                Command::Pause {
                    service: svc.clone(),
                },
                Command::Resume {
                    service: svc.clone(),
                },
                Command::Promote {
                    service: svc.clone(),
                },
                Command::Rollback { service: svc },
            ][pick(5) as usize]
                .clone(),
            8 | 9 => Command::Put {
                key: format!("k/{}", pick(5)),
                value: Vec::from([pick(256) as u8]),
                lease: (pick(2) == 0).then_some(lease),
                expected_revision: (pick(4) == 0).then(|| pick(index)),
            },
            10 => Command::Delete {
                key: format!("k/{}", pick(5)),
                expected_revision: None,
            },
            11 | 12 => {
                leases.push(index);
                Command::GrantLease {
                    ttl_ms: 200 + pick(2_000),
                }
            }
            13 | 14 => Command::KeepAlive { lease_id: lease },
            15 => Command::RevokeLease { lease_id: lease },
            16 | 17 => Command::AcquireLock {
                name,
                lease_id: lease,
            },
            18 => Command::ReleaseLock {
                name,
                lease_id: lease,
            },
            19 | 20 => Command::Campaign {
                election: name,
                candidate: format!("c{lease}"),
                lease_id: lease,
            },
            21 => Command::Resign {
                election: name,
                candidate: format!("c{lease}"),
            },
            // Addresses collide across ids now and then (refused), and records come and go.
            22 => {
                let id = pick(4);
                let host = pick(5);
                Command::SetMemberAddress {
                    id,
                    peer_addr: format!("10.0.0.{host}:7000"),
                    api_addr: format!("10.0.0.{host}:8000"),
                }
            }
            23 => Command::RemoveMemberAddress { id: pick(4) },
            // Fences name a recent token or term: some hold, most do not.
            24 => {
                let number = index.saturating_sub(pick(30));
                let fence = if pick(2) == 0 {
                    WriteFence::Lock {
                        name,
                        token: number,
                    }
                } else {
                    WriteFence::Election { name, term: number }
                };
                let write = if pick(3) == 0 {
                    Command::Delete {
                        key: format!("k/{}", pick(5)),
                        expected_revision: None,
                    }
                } else {
                    Command::Put {
                        key: format!("k/{}", pick(5)),
                        value: Vec::from([pick(256) as u8]),
                        lease: None,
                        expected_revision: None,
                    }
                };
                Command::Fenced {
                    fence,
                    command: Box::new(write),
                }
            }
            25 => {
                let key = |pick: &mut dyn FnMut(u64) -> u64| format!("k/{}", pick(5));
                let compare = (0..pick(3))
                    .map(|_| Compare {
                        key: key(&mut pick),
                        op: [
                            CompareOp::Equal,
                            CompareOp::NotEqual,
                            CompareOp::Less,
                            CompareOp::Greater,
                        ][pick(4) as usize],
                        target: match pick(5) {
                            0 => CompareTarget::Value(Vec::from([pick(256) as u8])),
                            1 => CompareTarget::Revision(pick(index + 1)),
                            2 => CompareTarget::Version(pick(3)),
                            3 => CompareTarget::Exists(pick(2) == 0),
                            _ => CompareTarget::Lease(lease),
                        },
                    })
                    .collect();
                let ops = |pick: &mut dyn FnMut(u64) -> u64| -> Vec<TxnOp> {
                    (0..pick(4))
                        .map(|_| match pick(3) {
                            0 => TxnOp::Put {
                                key: key(pick),
                                value: Vec::from([pick(256) as u8]),
                                lease: (pick(2) == 0).then_some(lease),
                            },
                            1 => TxnOp::Delete { key: key(pick) },
                            _ => TxnOp::Get { key: key(pick) },
                        })
                        .collect()
                };
                let success = ops(&mut pick);
                let failure = ops(&mut pick);
                Command::Txn(Txn {
                    compare,
                    success,
                    failure,
                })
            }
            26 => Command::TryLock {
                name,
                lease_id: lease,
            },
            27 => Command::CampaignWithValue {
                election: name,
                candidate: format!("c{lease}"),
                lease_id: lease,
                value: format!("http://10.0.0.{}", pick(9)),
            },
            _ => Command::TransferElection {
                election: name,
                to: format!("c{lease}"),
            },
        };
        let mut envelope = Envelope::new(now, command);
        if pick(2) == 0 {
            let client = pick(4) as usize;
            seqs[client] += 1;
            envelope = envelope.with_request(client as u64, seqs[client]);
        }
        sent.push(envelope.encode());
    }
    sent
}
