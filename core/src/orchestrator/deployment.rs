//! Canary deployments: a small state machine per service whose canary percentage is a pure
//! function of its state.

use alloc::collections::BTreeMap;
use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;
use core::fmt;

use serde::{Deserialize, Serialize};

use super::error::OrchestratorError;
use super::validate::{self, Field, Rule, ValidationError};
use super::watch::{EventKind, WatchLog};

/// Where a deployment is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum DeploymentState {
    /// Serving `steps[step]` percent to the canary (`step` counts from 0).
    Progressing {
        /// Index into the steps.
        step: u32,
    },
    /// Like `Progressing`, but `Advance` is refused until `Resume`.
    Paused {
        /// Index into the steps.
        step: u32,
    },
    /// Done: the canary version is the new stable and takes all traffic.
    Promoted,
    /// Aborted: all traffic is back on the stable version.
    RolledBack,
}

impl fmt::Display for DeploymentState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Progressing { step } => write!(f, "progressing at step {step}"),
            Self::Paused { step } => write!(f, "paused at step {step}"),
            Self::Promoted => f.write_str("promoted"),
            Self::RolledBack => f.write_str("rolled back"),
        }
    }
}

/// A deployment command, as named in [`OrchestratorError::InvalidTransition`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum DeploymentAction {
    /// `StartDeployment`.
    Start,
    /// `Advance`.
    Advance,
    /// `Pause`.
    Pause,
    /// `Resume`.
    Resume,
    /// `Promote`.
    Promote,
    /// `Rollback`.
    Rollback,
}

impl fmt::Display for DeploymentAction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Start => "start",
            Self::Advance => "advance",
            Self::Pause => "pause",
            Self::Resume => "resume",
            Self::Promote => "promote",
            Self::Rollback => "roll back",
        })
    }
}

/// A canary deployment of one service.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Deployment {
    /// The service.
    pub service: String,
    /// The version that served traffic when the deployment started.
    pub stable_version: String,
    /// The version being rolled out.
    pub canary_version: String,
    /// Canary percentages, strictly increasing, each 1..=100.
    pub steps: Vec<u8>,
    /// Where it is.
    pub state: DeploymentState,
    /// Index of the entry that started it.
    pub started_index: u64,
    /// Index of the entry that last changed the canary percentage.
    pub percent_changed_index: u64,
}

impl Deployment {
    /// The share of request keys (0..=100 percent) that go to `canary_version`: the current step
    /// while progressing or paused, 100 once promoted, 0 once rolled back.
    pub fn canary_percent(&self) -> u8 {
        match self.state {
            DeploymentState::Progressing { step } | DeploymentState::Paused { step } => {
                self.steps.get(step as usize).copied().unwrap_or(100)
            }
            DeploymentState::Promoted => 100,
            DeploymentState::RolledBack => 0,
        }
    }

    /// Whether it is still under way (progressing or paused).
    pub fn is_active(&self) -> bool {
        matches!(
            self.state,
            DeploymentState::Progressing { .. } | DeploymentState::Paused { .. }
        )
    }

    /// The state after `action`, or why it is not allowed.
    fn next_state(&self, action: DeploymentAction) -> Option<DeploymentState> {
        use DeploymentState::{Paused, Progressing, Promoted, RolledBack};
        let last = self.steps.len().saturating_sub(1) as u32;
        match (action, self.state) {
            (DeploymentAction::Advance, Progressing { step }) if step < last => {
                Some(Progressing { step: step + 1 })
            }
            (DeploymentAction::Pause, Progressing { step }) => Some(Paused { step }),
            (DeploymentAction::Resume, Paused { step }) => Some(Progressing { step }),
            (DeploymentAction::Promote, Progressing { .. } | Paused { .. }) => Some(Promoted),
            (DeploymentAction::Rollback, Progressing { .. } | Paused { .. }) => Some(RolledBack),
            _ => None,
        }
    }
}

/// The deployments of every service (the last one started, finished or not).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Deployments {
    by_service: BTreeMap<String, Deployment>,
}

impl Deployments {
    /// How many services have a deployment (active or finished).
    pub(crate) fn len(&self) -> usize {
        self.by_service.len()
    }

    /// Starts a deployment; refused while another one of the same service is active.
    pub(crate) fn start(
        &mut self,
        service: String,
        stable_version: String,
        canary_version: String,
        steps: Vec<u8>,
        index: u64,
        watch: &mut WatchLog,
    ) -> Result<&Deployment, OrchestratorError> {
        validate::name(Field::Service, &service)?;
        validate::version(&stable_version)?;
        validate::version(&canary_version)?;
        if stable_version == canary_version {
            return Err(ValidationError {
                field: Field::Version,
                rule: Rule::SameVersion,
            }
            .into());
        }
        validate::steps(&steps)?;
        if let Some(d) = self.by_service.get(&service).filter(|d| d.is_active()) {
            return Err(OrchestratorError::InvalidTransition {
                service,
                action: DeploymentAction::Start,
                state: d.state,
            });
        }
        let d = Deployment {
            service: service.clone(),
            stable_version,
            canary_version,
            steps,
            state: DeploymentState::Progressing { step: 0 },
            started_index: index,
            percent_changed_index: index,
        };
        watch.push(
            index,
            format!("deployments/{service}"),
            EventKind::DeploymentChanged {
                canary_percent: d.canary_percent(),
            },
        );
        self.by_service.insert(service.clone(), d);
        Ok(&self.by_service[&service])
    }

    /// Applies a transition other than `Start`.
    pub(crate) fn act(
        &mut self,
        service: &str,
        action: DeploymentAction,
        index: u64,
        watch: &mut WatchLog,
    ) -> Result<&Deployment, OrchestratorError> {
        let d =
            self.by_service
                .get_mut(service)
                .ok_or_else(|| OrchestratorError::NoDeployment {
                    service: service.into(),
                })?;
        let state = d
            .next_state(action)
            .ok_or_else(|| OrchestratorError::InvalidTransition {
                service: service.into(),
                action,
                state: d.state,
            })?;
        let before = d.canary_percent();
        d.state = state;
        if d.canary_percent() != before {
            d.percent_changed_index = index;
        }
        watch.push(
            index,
            format!("deployments/{service}"),
            EventKind::DeploymentChanged {
                canary_percent: d.canary_percent(),
            },
        );
        Ok(d)
    }

    /// The deployment of `service`, if one was ever started.
    pub(crate) fn get(&self, service: &str) -> Option<&Deployment> {
        self.by_service.get(service)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::vec;
    use DeploymentAction::*;

    fn started(steps: Vec<u8>) -> (Deployments, WatchLog) {
        let (mut d, mut w) = (Deployments::default(), WatchLog::default());
        d.start("web".into(), "v1".into(), "v2".into(), steps, 1, &mut w)
            .unwrap();
        (d, w)
    }

    fn err_state(r: Result<&Deployment, OrchestratorError>) -> DeploymentState {
        match r {
            Err(OrchestratorError::InvalidTransition { state, .. }) => state,
            other => panic!("expected an invalid transition, got {other:?}"),
        }
    }

    #[test]
    fn walks_the_steps_and_promotes() {
        let (mut d, mut w) = started(vec![10, 50]);
        assert_eq!(d.get("web").unwrap().canary_percent(), 10);
        let a = d.act("web", Advance, 2, &mut w).unwrap();
        assert_eq!((a.canary_percent(), a.percent_changed_index), (50, 2));
        let s = err_state(d.act("web", Advance, 3, &mut w));
        assert_eq!(
            s,
            DeploymentState::Progressing { step: 1 },
            "no step past the last"
        );
        let p = d.act("web", Promote, 4, &mut w).unwrap();
        assert_eq!(
            (p.state, p.canary_percent(), p.percent_changed_index),
            (DeploymentState::Promoted, 100, 4)
        );
        for action in [Advance, Pause, Resume, Promote, Rollback] {
            assert_eq!(
                err_state(d.act("web", action, 5, &mut w)),
                DeploymentState::Promoted
            );
        }
        assert_eq!(w.after("deployments/", 0, 10).unwrap().len(), 3);
    }

    #[test]
    fn pause_resume_and_rollback() {
        let (mut d, mut w) = started(vec![10, 50, 100]);
        let p = d.act("web", Pause, 2, &mut w).unwrap();
        assert_eq!(
            (p.canary_percent(), p.percent_changed_index),
            (10, 1),
            "pausing keeps the percentage"
        );
        assert_eq!(
            err_state(d.act("web", Advance, 3, &mut w)),
            DeploymentState::Paused { step: 0 }
        );
        assert_eq!(
            err_state(d.act("web", Pause, 3, &mut w)),
            DeploymentState::Paused { step: 0 }
        );
        d.act("web", Resume, 4, &mut w).unwrap();
        assert_eq!(
            err_state(d.act("web", Resume, 5, &mut w)),
            DeploymentState::Progressing { step: 0 }
        );
        let r = d.act("web", Rollback, 6, &mut w).unwrap();
        assert_eq!(
            (r.canary_percent(), r.percent_changed_index, r.is_active()),
            (0, 6, false)
        );
    }

    #[test]
    fn start_rules() {
        let (mut d, mut w) = started(vec![10]);
        let r = d.start("web".into(), "v1".into(), "v3".into(), vec![5], 2, &mut w);
        assert_eq!(err_state(r), DeploymentState::Progressing { step: 0 });
        d.act("web", Rollback, 3, &mut w).unwrap();
        assert!(
            d.start("web".into(), "v1".into(), "v3".into(), vec![5], 4, &mut w)
                .is_ok(),
            "a finished one is replaced"
        );
        let same = d.start("api".into(), "v1".into(), "v1".into(), vec![5], 5, &mut w);
        assert!(matches!(
            same,
            Err(OrchestratorError::Invalid(ValidationError {
                rule: Rule::SameVersion,
                ..
            }))
        ));
        let bad = d.start(
            "api".into(),
            "v1".into(),
            "v2".into(),
            vec![50, 40],
            5,
            &mut w,
        );
        assert!(matches!(
            bad,
            Err(OrchestratorError::Invalid(ValidationError {
                field: Field::Steps,
                ..
            }))
        ));
        assert!(matches!(
            d.act("api", Advance, 6, &mut w),
            Err(OrchestratorError::NoDeployment { .. })
        ));
    }

    #[test]
    fn error_message_is_clear() {
        let (mut d, mut w) = started(vec![10]);
        d.act("web", Pause, 2, &mut w).unwrap();
        let e = d.act("web", Advance, 3, &mut w).unwrap_err();
        assert_eq!(
            alloc::string::ToString::to_string(&e),
            "cannot advance the deployment of \"web\": it is paused at step 0"
        );
    }
}
