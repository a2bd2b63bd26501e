//! Reads as data: a [`Query`] any host can carry (over HTTP, the simulator, the browser) and
//! answer from one replica's state with [`Orchestrator::query`].

use alloc::string::String;
use alloc::vec::Vec;
use serde::{Deserialize, Serialize};

use super::cursor::{Cursor, EventFilter};
use super::deployment::Deployment;
use super::election::ElectionLeader;
use super::error::OrchestratorError;
use super::kv::KeyValue;
use super::lock::LockHolder;
use super::registry::ServiceInstance;
use super::routing::RouteDecision;
use super::watch::EventPage;
use super::Orchestrator;

/// A read of the orchestrator's state.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Query {
    /// Names of the registered services.
    Services,
    /// A service's instances.
    Instances {
        /// Service name.
        service: String,
        /// Only the healthy ones.
        healthy_only: bool,
    },
    /// Where a request with `key` to `service` goes.
    Route {
        /// Service name.
        service: String,
        /// The request's routing key (e.g. a user id).
        key: Vec<u8>,
    },
    /// A service's deployment.
    Deployment {
        /// Service name.
        service: String,
    },
    /// One key.
    KvGet {
        /// The key.
        key: String,
    },
    /// Every key with a prefix.
    KvRange {
        /// The prefix.
        prefix: String,
    },
    /// Who holds a lock.
    LockHolder {
        /// Lock name.
        name: String,
    },
    /// Who leads an application election.
    ElectionLeader {
        /// Election name.
        name: String,
    },
    /// A page of watch events after a cursor.
    Events {
        /// Which keys (`"services/"`, `"kv/"`, ... as a prefix, or one exact key).
        filter: EventFilter,
        /// Only events after this one.
        after: Cursor,
        /// At most this many.
        limit: u32,
        /// With the values of kv puts.
        values: bool,
    },
}

/// The answer to a [`Query`], with the applied index it reflects.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct QueryAnswer {
    /// The replica's applied index when it answered.
    pub index: u64,
    /// The answer.
    pub result: QueryResult,
}

/// The data a [`Query`] returns.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[allow(missing_docs)]
pub enum QueryResult {
    Services(Vec<String>),
    Instances(Vec<ServiceInstance>),
    Route(Result<RouteDecision, OrchestratorError>),
    Deployment(Option<Deployment>),
    Kv(Option<KeyValue>),
    KvRange(Vec<(String, KeyValue)>),
    Lock(Option<LockHolder>),
    Election(Option<ElectionLeader>),
    Events(Result<EventPage, OrchestratorError>),
}

impl Orchestrator {
    /// Answers `query` from this replica's applied state.
    pub fn query(&self, query: &Query) -> QueryAnswer {
        let result = match query {
            Query::Services => {
                QueryResult::Services(self.services().into_iter().map(String::from).collect())
            }
            Query::Instances {
                service,
                healthy_only,
            } => QueryResult::Instances(
                self.instances(service, *healthy_only)
                    .into_iter()
                    .cloned()
                    .collect(),
            ),
            Query::Route { service, key } => QueryResult::Route(self.route(service, key)),
            Query::Deployment { service } => {
                QueryResult::Deployment(self.deployment(service).cloned())
            }
            Query::KvGet { key } => QueryResult::Kv(self.kv_get(key).cloned()),
            Query::KvRange { prefix } => QueryResult::KvRange(
                self.kv_range(prefix)
                    .into_iter()
                    .map(|(k, v)| (String::from(k), v.clone()))
                    .collect(),
            ),
            Query::LockHolder { name } => QueryResult::Lock(self.lock_holder(name)),
            Query::ElectionLeader { name } => QueryResult::Election(self.election_leader(name)),
            Query::Events {
                filter,
                after,
                limit,
                values,
            } => QueryResult::Events(self.events_page(filter, *after, *limit as usize, *values)),
        };
        QueryAnswer {
            index: self.applied_index(),
            result,
        }
    }
}
