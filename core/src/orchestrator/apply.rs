//! Applying one log entry: the clock, expiry, deduplication, then the command.

use alloc::format;
use alloc::string::String;

use super::command::Command;
use super::deployment::{Deployment, DeploymentAction};
use super::election_values::MAX_ELECTION_VALUE_LEN;
use super::envelope::Envelope;
use super::error::OrchestratorError;
use super::fenced::Claimed;
use super::registry::ServiceInstance;
use super::response::{Output, Response};
use super::validate::{self, Field, Rule, ValidationError};
use super::watch::EventKind;
use super::{dedup, ClockEpoch, Orchestrator};
use crate::state_machine::StateMachine;

impl StateMachine for Orchestrator {
    type Output = Output;

    /// Applies the entry at `index`. The applied index advances even when the entry is refused;
    /// nothing else changes for an undecodable entry, and a refused command changes nothing but
    /// the clock (and what expires with it) and, when it carries a request id, the dedup table
    /// (a retry gets the same refusal).
    fn apply(&mut self, index: u64, data: &[u8]) -> Output {
        if index <= self.applied_index {
            return Err(OrchestratorError::StaleIndex {
                applied: self.applied_index,
                got: index,
            });
        }
        self.applied_index = index;
        self.repeated_from = dedup::RepeatedFrom(None);
        let envelope = Envelope::decode(data)?;
        let leader_changed = envelope.command == Command::LeaderChanged;
        self.advance_clock(envelope.now_ms, leader_changed);
        if leader_changed {
            // Refresh before expiring: deadlines may have lapsed only because there was no
            // leader to receive keep-alives.
            self.registry.leader_changed(self.now_ms);
            self.leases.leader_changed(self.now_ms);
        }
        self.expire(index);
        let digest = envelope
            .request_id
            .and(Envelope::command_bytes(data))
            .map_or(0, dedup::command_digest);
        if let Some(id) = envelope.request_id {
            if let Some(repeat) = self.dedup.seen(id, digest, index, self.now_ms) {
                self.repeated_from = dedup::RepeatedFrom(repeat.applied_at);
                return repeat.output;
            }
        }
        let output = match self.alarms.refusal(&envelope.command) {
            Some(refusal) => Err(refusal),
            None => self.execute(envelope.command, index),
        };
        self.alarms.clear_quota_below(self.live_bytes());
        if let Some(id) = envelope.request_id {
            self.dedup
                .record(id, digest, output.clone(), index, self.now_ms);
        }
        output
    }

    fn applied_at(&self) -> Option<u64> {
        self.repeated_from.0
    }

    fn snapshot(&self) -> alloc::vec::Vec<u8> {
        self.encode_snapshot()
    }

    fn restore(&mut self, data: &[u8]) -> Result<(), String> {
        *self = Self::decode_snapshot(data)?;
        Ok(())
    }
}

/// How a lease ended.
#[derive(Clone, Copy)]
enum LeaseEnd {
    Expired,
    Revoked,
}

impl Orchestrator {
    /// Moves the replicated clock for an entry the leader stamped `stamp_ms`.
    ///
    /// The first entry ever applied sets the clock to its stamp. `LeaderChanged` begins a new
    /// epoch and leaves the clock where it is: the new leader's clock is never compared with the
    /// old one's (they may be hours apart), and the election's pause is covered by the lease and
    /// heartbeat refresh that follows. Any other entry moves the clock to the epoch's clock plus
    /// the time elapsed on the leader's clock since the epoch's stamp, and never backwards.
    fn advance_clock(&mut self, stamp_ms: u64, leader_changed: bool) {
        let epoch = match self.clock_epoch {
            Some(epoch) if !leader_changed => epoch,
            Some(_) => ClockEpoch {
                clock_ms: self.now_ms,
                stamp_ms,
            },
            None => ClockEpoch {
                clock_ms: self.now_ms.max(stamp_ms),
                stamp_ms,
            },
        };
        self.clock_epoch = Some(epoch);
        self.now_ms = self.now_ms.max(epoch.time_at(stamp_ms));
    }

    /// Expires everything due before the clock: instances first (by deadline, service, id), then
    /// leases (by deadline, id).
    fn expire(&mut self, index: u64) {
        self.registry.expire(self.now_ms, index, &mut self.watch);
        for lease_id in self.leases.take_expired(self.now_ms) {
            self.end_lease(lease_id, index, LeaseEnd::Expired);
        }
    }

    /// Releases what a removed lease carried: its keys, its locks (passed to the next waiter
    /// whose lease is live now), its candidacies. Returns how many keys were deleted.
    fn end_lease(&mut self, lease_id: u64, index: u64, end: LeaseEnd) -> u64 {
        let kind = match end {
            LeaseEnd::Expired => EventKind::LeaseExpired,
            LeaseEnd::Revoked => EventKind::LeaseRevoked,
        };
        self.watch.push(index, format!("leases/{lease_id}"), kind);
        let keys = self.kv.delete_lease_keys(lease_id, index, &mut self.watch) as u64;
        let (leases, now) = (&self.leases, self.now_ms);
        let is_live = |l: u64| leases.is_live(l, now);
        self.locks
            .withdraw_lease(lease_id, index, &mut self.fence, is_live, &mut self.watch);
        let elections = self.elections.withdraw_lease(
            lease_id,
            index,
            &mut self.fence,
            is_live,
            &mut self.watch,
        );
        for election in &elections {
            self.prune_election_values(election);
        }
        keys
    }

    /// Forgets the values of candidates that no longer lead or wait in `election`.
    fn prune_election_values(&mut self, election: &str) {
        let elections = &self.elections;
        self.election_values
            .prune(election, |c| elections.is_candidate(election, c));
    }

    pub(crate) fn live_lease(&self, lease_id: u64) -> Result<(), OrchestratorError> {
        if self.leases.is_live(lease_id, self.now_ms) {
            Ok(())
        } else {
            Err(OrchestratorError::LeaseNotFound { lease_id })
        }
    }

    fn execute(&mut self, command: Command, index: u64) -> Output {
        let now = self.now_ms;
        match command {
            Command::Tick => Ok(Response::Ticked),
            // The refresh itself happened in `apply`, before expiry.
            Command::LeaderChanged => Ok(Response::LeasesRefreshed),
            Command::Register {
                service,
                instance_id,
                address,
                port,
                version,
                weight,
                tags,
                metadata,
                ttl_ms,
            } => {
                let instance = ServiceInstance {
                    service,
                    instance_id,
                    address,
                    port,
                    version,
                    weight,
                    tags,
                    metadata,
                    ttl_ms,
                    healthy: true,
                    heartbeat_deadline_ms: None,
                    registered_index: index,
                    updated_index: index,
                };
                instance.validate()?;
                let created = self.registry.upsert(instance, now, index, &mut self.watch);
                Ok(Response::Registered { index, created })
            }
            Command::Deregister {
                service,
                instance_id,
            } => {
                validate::name(Field::Service, &service)?;
                validate::name(Field::InstanceId, &instance_id)?;
                self.registry
                    .deregister(&service, &instance_id, index, &mut self.watch)?;
                Ok(Response::Deregistered)
            }
            Command::Heartbeat {
                service,
                instance_id,
            } => {
                validate::name(Field::Service, &service)?;
                validate::name(Field::InstanceId, &instance_id)?;
                let deadline_ms =
                    self.registry
                        .heartbeat(&service, &instance_id, now, index, &mut self.watch)?;
                Ok(Response::HeartbeatAccepted { deadline_ms })
            }
            Command::StartDeployment {
                service,
                stable_version,
                canary_version,
                steps,
            } => {
                let d = self.deployments.start(
                    service,
                    stable_version,
                    canary_version,
                    steps,
                    index,
                    &mut self.watch,
                )?;
                Ok(deployment_response(d))
            }
            Command::Advance { service } => {
                self.deployment_action(&service, DeploymentAction::Advance, index)
            }
            Command::Pause { service } => {
                self.deployment_action(&service, DeploymentAction::Pause, index)
            }
            Command::Resume { service } => {
                self.deployment_action(&service, DeploymentAction::Resume, index)
            }
            Command::Promote { service } => {
                self.deployment_action(&service, DeploymentAction::Promote, index)
            }
            Command::Rollback { service } => {
                self.deployment_action(&service, DeploymentAction::Rollback, index)
            }
            Command::Put {
                key,
                value,
                lease,
                expected_revision,
            } => {
                validate::key(&key)?;
                validate::value(&value)?;
                if let Some(l) = lease {
                    self.live_lease(l)?;
                }
                let kv =
                    self.kv
                        .put(key, value, lease, expected_revision, index, &mut self.watch)?;
                Ok(Response::KvPut {
                    revision: kv.mod_revision,
                    version: kv.version,
                })
            }
            Command::Delete {
                key,
                expected_revision,
            } => {
                validate::key(&key)?;
                let deleted = self
                    .kv
                    .delete(&key, expected_revision, index, &mut self.watch)?;
                Ok(Response::KvDeleted { deleted })
            }
            Command::GrantLease { ttl_ms } => {
                validate::ttl_ms(ttl_ms)?;
                let lease = self.leases.grant(index, ttl_ms, now, &mut self.watch);
                Ok(Response::LeaseGranted {
                    lease_id: lease.id,
                    ttl_ms,
                    deadline_ms: lease.deadline_ms,
                })
            }
            Command::KeepAlive { lease_id } => {
                let lease = self.leases.keep_alive(lease_id, now)?;
                Ok(Response::LeaseKeptAlive {
                    lease_id,
                    deadline_ms: lease.deadline_ms,
                })
            }
            Command::RevokeLease { lease_id } => {
                self.leases.remove(lease_id)?;
                let keys_deleted = self.end_lease(lease_id, index, LeaseEnd::Revoked);
                Ok(Response::LeaseRevoked {
                    lease_id,
                    keys_deleted,
                })
            }
            Command::AcquireLock { name, lease_id } => {
                validate::name(Field::LockName, &name)?;
                self.live_lease(lease_id)?;
                Ok(
                    match self.locks.acquire(
                        &name,
                        lease_id,
                        index,
                        &mut self.fence,
                        &mut self.watch,
                    ) {
                        Claimed::Granted(fencing_token) | Claimed::AlreadyHeld(fencing_token) => {
                            Response::LockAcquired { fencing_token }
                        }
                        Claimed::Queued(position) => Response::LockQueued { position },
                    },
                )
            }
            Command::ReleaseLock { name, lease_id } => {
                validate::name(Field::LockName, &name)?;
                let (leases, fence) = (&self.leases, &mut self.fence);
                let next_holder = self.locks.release(
                    &name,
                    lease_id,
                    index,
                    fence,
                    |l| leases.is_live(l, now),
                    &mut self.watch,
                )?;
                Ok(Response::LockReleased { next_holder })
            }
            Command::Campaign {
                election,
                candidate,
                lease_id,
            } => {
                validate::name(Field::ElectionName, &election)?;
                validate::name(Field::Candidate, &candidate)?;
                self.live_lease(lease_id)?;
                let claimed = self.elections.campaign(
                    &election,
                    candidate,
                    lease_id,
                    index,
                    &mut self.fence,
                    &mut self.watch,
                )?;
                Ok(match claimed {
                    Claimed::Granted(term) | Claimed::AlreadyHeld(term) => {
                        Response::Elected { term }
                    }
                    Claimed::Queued(position) => Response::CampaignQueued { position },
                })
            }
            Command::Resign {
                election,
                candidate,
            } => {
                validate::name(Field::ElectionName, &election)?;
                validate::name(Field::Candidate, &candidate)?;
                let (leases, fence) = (&self.leases, &mut self.fence);
                let next_leader = self.elections.resign(
                    &election,
                    &candidate,
                    index,
                    fence,
                    |l| leases.is_live(l, now),
                    &mut self.watch,
                )?;
                self.prune_election_values(&election);
                Ok(Response::Resigned { next_leader })
            }
            Command::SetMemberAddress {
                id,
                peer_addr,
                api_addr,
            } => {
                let created = self.members.set(id, peer_addr, api_addr, index)?;
                Ok(Response::MemberAddressSet { created })
            }
            Command::RemoveMemberAddress { id } => {
                let removed = self.members.remove(id, index)?;
                Ok(Response::MemberAddressRemoved { removed })
            }
            Command::Fenced { fence, command } => {
                fence.validate()?;
                if !matches!(
                    *command,
                    Command::Put { .. } | Command::Delete { .. } | Command::Txn(_)
                ) {
                    return Err(ValidationError {
                        field: Field::Fence,
                        rule: Rule::NotFenceable,
                    }
                    .into());
                }
                self.check_fence(&fence)?;
                self.execute(*command, index)
            }
            Command::Txn(txn) => self.apply_txn(txn, index),
            Command::TryLock { name, lease_id } => {
                validate::name(Field::LockName, &name)?;
                self.live_lease(lease_id)?;
                if let Some(h) = self.locks.holder(&name).filter(|h| h.lease_id != lease_id) {
                    return Err(OrchestratorError::LockHeld {
                        name,
                        lease_id: h.lease_id,
                    });
                }
                self.execute(Command::AcquireLock { name, lease_id }, index)
            }
            Command::CampaignWithValue {
                election,
                candidate,
                lease_id,
                value,
            } => {
                if value.len() > MAX_ELECTION_VALUE_LEN {
                    return Err(ValidationError {
                        field: Field::ElectionValue,
                        rule: Rule::TooLong {
                            max: MAX_ELECTION_VALUE_LEN as u64,
                        },
                    }
                    .into());
                }
                let campaign = Command::Campaign {
                    election: election.clone(),
                    candidate: candidate.clone(),
                    lease_id,
                };
                let output = self.execute(campaign, index)?;
                self.election_values.set(&election, &candidate, value);
                Ok(output)
            }
            Command::TransferElection { election, to } => {
                validate::name(Field::ElectionName, &election)?;
                validate::name(Field::Candidate, &to)?;
                let leader = self.elections.transfer(
                    &election,
                    &to,
                    index,
                    &mut self.fence,
                    &mut self.watch,
                )?;
                Ok(Response::Elected { term: leader.term })
            }
            Command::RaiseAlarm {
                member,
                kind,
                quota_bytes,
            } => {
                self.raise_alarm(member, kind, quota_bytes, index);
                Ok(Response::AlarmRaised)
            }
            Command::DisarmAlarm { member, kind } => Ok(Response::AlarmsDisarmed {
                count: self.disarm_alarms(member, kind),
            }),
        }
    }

    fn deployment_action(&mut self, service: &str, action: DeploymentAction, index: u64) -> Output {
        validate::name(Field::Service, service)?;
        let d = self
            .deployments
            .act(service, action, index, &mut self.watch)?;
        Ok(deployment_response(d))
    }
}

fn deployment_response(d: &Deployment) -> Response {
    Response::Deployment {
        state: d.state,
        canary_percent: d.canary_percent(),
    }
}
