//! [`Election`]: campaign, resign, observe, transfer. A won election is a [`Leadership`] that
//! carries its term as a fence and ends with its session.

use core::time::Duration;

use hyper::Method;
use serde_json::{json, Value};
use tokio::time::Instant;

use crate::client::{Call, Client};
use crate::error::{Error, Result};
use crate::fence::Fence;
use crate::session::Session;
use crate::transport::encode;

/// Longest single long-poll.
const MAX_WAIT: Duration = Duration::from_secs(30);

/// An election's leader.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LeaderInfo {
    /// Who leads.
    pub candidate: String,
    /// The lease the leadership dies with.
    pub lease_id: u64,
    /// Its term: a fence, greater than every term before.
    pub term: u64,
    /// The index of the entry that made it leader.
    pub since_index: u64,
    /// The value it campaigned with.
    pub value: Option<String>,
}

impl LeaderInfo {
    fn from_json(v: &Value) -> Option<Self> {
        Some(LeaderInfo {
            candidate: v["candidate"].as_str()?.to_owned(),
            lease_id: v["lease_id"].as_u64().unwrap_or(0),
            term: v["term"].as_u64()?,
            since_index: v["since_index"].as_u64().unwrap_or(0),
            value: v["value"].as_str().map(str::to_owned),
        })
    }
}

/// An election as read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Observation {
    /// The leader, `None` when there is none.
    pub leader: Option<LeaderInfo>,
    /// Queued candidates, first in line first.
    pub candidates: Vec<String>,
    /// The applied index the answer was read at; pass it as the next `after`.
    pub index: u64,
}

/// What a campaign got.
#[derive(Debug)]
pub enum Campaign {
    /// This candidate leads.
    Elected(Leadership),
    /// Another leads; this one waits at this 1-based place.
    Queued {
        /// Place in line.
        position: u64,
    },
}

/// One named election.
#[derive(Debug, Clone)]
pub struct Election {
    client: Client,
    name: String,
}

impl Election {
    /// Election `name` (`[A-Za-z0-9._-]`, up to 128 bytes).
    pub fn new(client: &Client, name: impl Into<String>) -> Self {
        Election {
            client: client.clone(),
            name: name.into(),
        }
    }

    /// Its name.
    pub fn name(&self) -> &str {
        &self.name
    }

    fn path(&self, rest: &str) -> String {
        format!("/v1/elections/{}{rest}", encode(&self.name, false))
    }

    /// Campaigns once as `candidate` under `session`'s lease: elected now, or queued.
    pub async fn campaign(
        &self,
        session: &Session,
        candidate: &str,
        value: Option<&str>,
    ) -> Result<Campaign> {
        let mut body = json!({"candidate": candidate, "lease_id": session.lease_id()});
        let features = self.client.features();
        if let (Some(v), false) = (value, features.no_campaign_value.get()) {
            body["value"] = Value::from(v);
        }
        let call = Call::write(Method::POST, self.path("/campaign"), Some(body.clone()));
        let a = match self.client.call(call).await {
            Err(e) if body.get("value").is_some() && e.is_unknown_param("value") => {
                features.no_campaign_value.set();
                body.as_object_mut().map(|o| o.remove("value"));
                self.client
                    .call(Call::write(
                        Method::POST,
                        self.path("/campaign"),
                        Some(body),
                    ))
                    .await?
            }
            other => other?,
        };
        match a.body["result"].as_str() {
            Some("elected") => {
                let term = a.body["term"].as_u64().ok_or_else(|| {
                    Error::Protocol(format!("elected without a term: {}", a.body))
                })?;
                Ok(Campaign::Elected(Leadership {
                    election: self.clone(),
                    candidate: candidate.to_owned(),
                    term,
                    since_index: a.body["index"].as_u64().or(a.index).unwrap_or(0),
                    session: session.clone(),
                }))
            }
            Some("campaign_queued") => Ok(Campaign::Queued {
                position: a.body["position"].as_u64().unwrap_or(0),
            }),
            _ => Err(Error::Protocol(format!("campaign answer: {}", a.body))),
        }
    }

    /// Campaigns and waits until elected; `Err(SessionLost)` if the session ends first.
    pub async fn campaign_and_wait(
        &self,
        session: &Session,
        candidate: &str,
        value: Option<&str>,
    ) -> Result<Leadership> {
        let mut after = match self.campaign(session, candidate, value).await? {
            Campaign::Elected(l) => return Ok(l),
            Campaign::Queued { .. } => None,
        };
        loop {
            let wait = session
                .deadline()
                .saturating_duration_since(Instant::now())
                .min(Duration::from_secs(5));
            let o = tokio::select! {
                o = self.observe(after, wait) => o?,
                _ = session.lost() => return Err(Error::SessionLost),
            };
            if !session.is_alive() {
                return Err(Error::SessionLost);
            }
            match &o.leader {
                Some(l) if l.candidate == candidate && l.lease_id == session.lease_id() => {
                    return Ok(Leadership {
                        election: self.clone(),
                        candidate: candidate.to_owned(),
                        term: l.term,
                        since_index: l.since_index,
                        session: session.clone(),
                    });
                }
                // Not leading and not queued (resigned by someone, or a transfer raced): join again.
                _ if !o.candidates.iter().any(|c| c == candidate) => {
                    if let Campaign::Elected(l) = self.campaign(session, candidate, value).await? {
                        return Ok(l);
                    }
                }
                _ => {}
            }
            after = Some(o.index);
        }
    }

    /// The election now (linearizable).
    pub async fn leader(&self) -> Result<Observation> {
        let a = self.client.call(Call::get(self.path(""))).await?;
        Ok(observation(&a.body, a.index))
    }

    /// Long-polls: answers once the leader (candidate, term) differs from what it was at
    /// `after`, or when `wait` ends. `after = None` answers at once.
    pub async fn observe(&self, after: Option<u64>, wait: Duration) -> Result<Observation> {
        let Some(after) = after else {
            return self.leader().await;
        };
        let wait = wait.min(MAX_WAIT);
        let features = self.client.features();
        if !features.no_election_wait.get() {
            let path = self.path(&format!("?wait_ms={}&after={after}", wait.as_millis()));
            match self.client.call(Call::get(path).waiting(wait)).await {
                Ok(a) => return Ok(observation(&a.body, a.index)),
                Err(e) if e.is_unknown_param("wait_ms") || e.is_unknown_param("after") => {
                    features.no_election_wait.set();
                }
                Err(e) => return Err(e),
            }
        }
        // An older server: wait for any event of this election in the raw watch, then read.
        let prefix = encode(&format!("elections/{}", self.name), false);
        let path = format!(
            "/v1/watch?prefix={prefix}&after={after}&wait_ms={}",
            wait.as_millis()
        );
        self.client.call(Call::get(path).waiting(wait)).await?;
        self.leader().await
    }

    /// Resigns `candidate`: the leader steps down (the next in line takes over) or a queued
    /// candidate leaves the line.
    pub async fn resign(&self, candidate: &str) -> Result<()> {
        let body = json!({"candidate": candidate});
        match self
            .client
            .call(Call::write(Method::POST, self.path("/resign"), Some(body)))
            .await
        {
            Ok(_) => Ok(()),
            Err(e) if e.is("not_candidate") => Ok(()),
            Err(e) => Err(e),
        }
    }

    /// Hands leadership to the queued candidate `to`; its new term.
    pub async fn transfer(&self, to: &str) -> Result<u64> {
        let body = json!({"to": to});
        let a = self
            .client
            .call(Call::write(
                Method::POST,
                self.path("/transfer"),
                Some(body),
            ))
            .await?;
        a.body["term"]
            .as_u64()
            .ok_or_else(|| Error::Protocol(format!("transfer answer: {}", a.body)))
    }
}

fn observation(body: &Value, header_index: Option<u64>) -> Observation {
    Observation {
        leader: LeaderInfo::from_json(&body["leader"]),
        candidates: body["candidates"]
            .as_array()
            .map(|cs| {
                cs.iter()
                    .filter_map(|c| c.as_str().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default(),
        index: body["index"].as_u64().or(header_index).unwrap_or(0),
    }
}

/// Leading an election: valid while the session is alive and the election still names this
/// candidate with this term. Its term is the fence of every write made as leader.
#[derive(Debug, Clone)]
pub struct Leadership {
    election: Election,
    candidate: String,
    term: u64,
    since_index: u64,
    session: Session,
}

impl Leadership {
    /// The term.
    pub fn term(&self) -> u64 {
        self.term
    }

    /// The index of the entry that made this candidate leader.
    pub fn since_index(&self) -> u64 {
        self.since_index
    }

    /// The candidate.
    pub fn candidate(&self) -> &str {
        &self.candidate
    }

    /// The session it dies with.
    pub fn session(&self) -> &Session {
        &self.session
    }

    /// The election.
    pub fn election(&self) -> &Election {
        &self.election
    }

    /// The fence for writes made as this leader.
    pub fn fence(&self) -> Fence {
        Fence::Election {
            name: self.election.name.clone(),
            term: self.term,
        }
    }

    /// Whether the session is before its local deadline. No I/O: a transfer or resignation
    /// is seen by [`Leadership::lost`]; the fence covers the gap.
    pub fn is_current(&self) -> bool {
        self.session.is_alive()
    }

    /// Resolves when the leadership ends: the session is lost, or the election names another
    /// leader or term (transfer, resignation). Transport errors are retried until the session
    /// deadline, which then ends it.
    pub async fn lost(&self) -> LostLeadership {
        let mut after = Some(self.since_index);
        loop {
            let wait = Duration::from_secs(5);
            let observed = tokio::select! {
                o = self.election.observe(after, wait) => o,
                _ = self.session.lost() => return LostLeadership::SessionLost,
            };
            match observed {
                Ok(o) => {
                    let still = o
                        .leader
                        .as_ref()
                        .is_some_and(|l| l.candidate == self.candidate && l.term == self.term);
                    if !still {
                        return LostLeadership::Replaced(o.leader);
                    }
                    after = Some(o.index.max(after.unwrap_or(0)));
                }
                Err(e) => {
                    tracing::debug!(
                        "raftorch election {}: observe failed: {e}",
                        self.election.name
                    );
                    tokio::select! {
                        _ = tokio::time::sleep(Duration::from_millis(100)) => {}
                        _ = self.session.lost() => return LostLeadership::SessionLost,
                    }
                }
            }
        }
    }

    /// Steps down.
    pub async fn resign(&self) -> Result<()> {
        self.election.resign(&self.candidate).await
    }
}

/// How a leadership ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LostLeadership {
    /// The session ended (deadline, expiry, revocation).
    SessionLost,
    /// The election names someone else (or no one).
    Replaced(Option<LeaderInfo>),
}
