//! Fenced writes under the lock workload: each holder writes the key `nem-fenced/log` fenced by
//! its lock token (`?fence=lock:nem-lock:TOKEN`) while it holds the lock, and some holders write
//! once more with the same token after their release was acknowledged. Checked: acknowledged
//! fenced writes never interleave (ordered by revision, their tokens never go down: once a newer
//! holder's write applied, an older holder's never does), and no write with a released token is
//! ever acknowledged.

use serde_json::Value;

/// The key every fenced write goes to (outside the kv workload's prefix).
pub const KEY: &str = "nem-fenced/log";

/// One fenced write as its client saw it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FencedWrite {
    /// The client.
    pub client: u64,
    /// The fencing token it wrote with.
    pub token: u64,
    /// Sent after the client's release (or lease revoke) was acknowledged.
    pub after_release: bool,
    /// What came of it.
    pub outcome: FencedOutcome,
}

/// How a fenced write ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FencedOutcome {
    /// 200, applied at this revision.
    Applied(u64),
    /// 409 `fenced_out`: the token was no longer current.
    FencedOut,
    /// Anything else (a timeout, another error): it may or may not have applied.
    Unknown,
}

/// Writes `value` to [`KEY`] fenced by `token` of lock `lock` through `base`.
pub fn write(
    agent: &ureq::Agent,
    base: &str,
    lock: &str,
    token: u64,
    value: &str,
) -> FencedOutcome {
    let url = format!("{base}/v1/kv/{KEY}?fence=lock:{lock}:{token}");
    let body = serde_json::json!({ "value": value }).to_string();
    match agent.put(&url).send_string(&body) {
        Ok(r) => serde_json::from_str::<Value>(&r.into_string().unwrap_or_default())
            .ok()
            .and_then(|v| v["revision"].as_u64())
            .map_or(FencedOutcome::Unknown, FencedOutcome::Applied),
        Err(ureq::Error::Status(409, r)) => {
            let body: Value =
                serde_json::from_str(&r.into_string().unwrap_or_default()).unwrap_or(Value::Null);
            if body["error"]["code"] == "fenced_out" {
                FencedOutcome::FencedOut
            } else {
                FencedOutcome::Unknown
            }
        }
        Err(_) => FencedOutcome::Unknown,
    }
}

/// How the fenced writes ended, for the report.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Counts {
    /// Writes sent.
    pub sent: usize,
    /// Writes applied (200).
    pub applied: usize,
    /// Writes made while holding the lock and refused with `fenced_out` (the lease lapsed
    /// during a fault, so another client may hold the lock).
    pub held_refused: usize,
    /// Writes with a released token, refused with `fenced_out`.
    pub late_refused: usize,
}

impl Counts {
    /// The counts of `writes`.
    pub fn of(writes: &[FencedWrite]) -> Self {
        let mut c = Counts {
            sent: writes.len(),
            ..Counts::default()
        };
        for w in writes {
            match (w.outcome, w.after_release) {
                (FencedOutcome::Applied(_), _) => c.applied += 1,
                (FencedOutcome::FencedOut, false) => c.held_refused += 1,
                (FencedOutcome::FencedOut, true) => c.late_refused += 1,
                (FencedOutcome::Unknown, _) => {}
            }
        }
        c
    }
}

/// What is wrong with the fenced writes, if anything.
pub fn check(writes: &[FencedWrite]) -> Vec<String> {
    let mut problems = Vec::new();
    let mut applied: Vec<(u64, &FencedWrite)> = writes
        .iter()
        .filter_map(|w| match w.outcome {
            FencedOutcome::Applied(revision) => Some((revision, w)),
            _ => None,
        })
        .collect();
    applied.sort_by_key(|(revision, _)| *revision);
    for pair in applied.windows(2) {
        let ((r1, a), (r2, b)) = (pair[0], pair[1]);
        if b.token < a.token {
            problems.push(format!(
                "fenced writes interleaved: client {} with token {} applied at {r1}, then client \
                 {} with the older token {} at {r2}",
                a.client, a.token, b.client, b.token
            ));
        }
    }
    for w in writes.iter().filter(|w| w.after_release) {
        if let FencedOutcome::Applied(revision) = w.outcome {
            problems.push(format!(
                "client {} wrote with token {} after releasing it, applied at {revision}",
                w.client, w.token
            ));
        }
    }
    problems
}

#[cfg(test)]
mod tests {
    use super::*;

    fn w(client: u64, token: u64, after_release: bool, outcome: FencedOutcome) -> FencedWrite {
        FencedWrite {
            client,
            token,
            after_release,
            outcome,
        }
    }

    #[test]
    fn ordered_writes_and_refused_late_ones_pass() {
        let writes = [
            w(1, 5, false, FencedOutcome::Applied(10)),
            w(1, 5, false, FencedOutcome::Applied(11)),
            w(1, 5, true, FencedOutcome::FencedOut),
            w(2, 7, false, FencedOutcome::Applied(14)),
            w(3, 6, false, FencedOutcome::FencedOut),
            w(2, 7, false, FencedOutcome::Unknown),
        ];
        assert!(check(&writes).is_empty());
        assert_eq!(
            Counts::of(&writes),
            Counts {
                sent: 6,
                applied: 3,
                held_refused: 1,
                late_refused: 1
            }
        );
    }

    #[test]
    fn an_older_token_applied_after_a_newer_one_and_a_late_write_applied_are_caught() {
        let writes = [
            w(2, 7, false, FencedOutcome::Applied(14)),
            w(1, 5, false, FencedOutcome::Applied(15)),
            w(3, 8, true, FencedOutcome::Applied(16)),
        ];
        let problems = check(&writes);
        assert_eq!(problems.len(), 2, "{problems:?}");
        assert_eq!(Counts::of(&writes).applied, 3);
        assert!(problems[0].contains("interleaved"));
        assert!(problems[1].contains("after releasing"));
    }
}
