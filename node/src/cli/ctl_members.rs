//! `raftorch ctl members`: list, add and remove Raft members. Membership changes are made at the
//! leader, so these find it, and retry there when leadership moves mid-way.

use std::time::{Duration, Instant};

use clap::Subcommand;
use serde_json::{json, Value};

use super::ctl::{find_leader, get_json};
use super::ctl_output::{self, Output, Shape};

/// How long a membership command keeps looking for a leader that takes the change.
const DEADLINE: Duration = Duration::from_secs(20);
/// The pause between two attempts.
const RETRY_EVERY: Duration = Duration::from_millis(200);

/// `ctl members` subcommands.
#[derive(Debug, Clone, Subcommand)]
pub enum MembersOp {
    /// The members of the Raft configuration, with their addresses.
    List,
    /// Add a node (started with `raftorch node --join`) as a learner, or a voter.
    ///
    /// Its addresses are recorded in the replicated address book first, so every member can
    /// reach it; --voter also promotes a learner. Answers once the change is applied.
    Add {
        /// The new node's id.
        #[arg(long)]
        id: u64,
        /// Its Raft peer address, HOST:PORT as the other nodes reach it.
        #[arg(long)]
        peer_addr: String,
        /// Its HTTP API address, HOST:PORT.
        #[arg(long)]
        api_addr: String,
        /// Add it as a voter (default: learner).
        #[arg(long)]
        voter: bool,
    },
    /// Remove a node and its address record.
    ///
    /// Removing the leader first hands leadership to another voter.
    Remove {
        /// The node's id.
        id: u64,
    },
}

/// The leader as some endpoint reports it: its id, API URL and that endpoint's status.
struct Leader {
    id: u64,
    url: String,
    status: Value,
}

fn find(agent: &ureq::Agent, endpoints: &[String]) -> Option<Leader> {
    endpoints.iter().find_map(|e| {
        let status = get_json(agent, &format!("{e}/v1/status")).ok()?;
        let id = status["leader_id"].as_u64()?;
        let api = status["leader_api"].as_str()?;
        Some(Leader {
            id,
            url: format!("{}://{api}", super::client::scheme_of(e)),
            status,
        })
    })
}

/// What one request got: a final answer (status and body) or a reason to try again.
enum Attempt {
    Done(u16, String),
    Retry(String),
}

fn send(agent: &ureq::Agent, method: &str, url: &str, body: Option<&Value>) -> Attempt {
    let request = agent.request(method, url);
    let result = match body {
        Some(b) => request.send_string(&b.to_string()),
        None => request.call(),
    };
    match result {
        Ok(r) => Attempt::Done(r.status(), r.into_string().unwrap_or_default()),
        Err(ureq::Error::Status(code, r)) => {
            let text = r.into_string().unwrap_or_default();
            let error_code = serde_json::from_str::<Value>(&text)
                .ok()
                .and_then(|v| v["error"]["code"].as_str().map(str::to_owned))
                .unwrap_or_default();
            // Leadership moved, or there is none right now: ask again where it is. A learner
            // still catching up is promoted once it has.
            let again = ["not_leader", "learner_not_ready"].contains(&error_code.as_str());
            if code == 503 || (code == 409 && again) {
                Attempt::Retry(format!("HTTP {code}: {text}"))
            } else {
                Attempt::Done(code, text)
            }
        }
        Err(e) => Attempt::Retry(e.to_string()),
    }
}

/// Sends `method path body` to the leader until it answers for good or [`DEADLINE`] passes;
/// with `hand_over`, a leader whose id is `hand_over` first hands leadership to another voter.
fn at_leader(
    agent: &ureq::Agent,
    endpoints: &[String],
    method: &str,
    path: &str,
    body: Option<&Value>,
    hand_over: Option<u64>,
    output: Output,
) -> i32 {
    let deadline = Instant::now() + DEADLINE;
    let mut last = String::from("no endpoint knows a leader");
    while Instant::now() < deadline {
        if let Some(leader) = find(agent, endpoints) {
            if hand_over == Some(leader.id) {
                last = hand_leadership_over(agent, &leader);
            } else {
                match send(agent, method, &format!("{}{path}", leader.url), body) {
                    Attempt::Done(code, text) => {
                        if (200..300).contains(&code) {
                            ctl_output::print_ok(output, Shape::Fields, &text);
                            return 0;
                        }
                        ctl_output::print_error(output, code, &text);
                        return 1;
                    }
                    Attempt::Retry(why) => last = why,
                }
            }
        }
        std::thread::sleep(RETRY_EVERY);
    }
    eprintln!("gave up after {DEADLINE:?}: {last}");
    2
}

/// Asks `leader` to hand leadership to another voter (the first listed); what happened, for the
/// message printed should the command give up.
fn hand_leadership_over(agent: &ureq::Agent, leader: &Leader) -> String {
    let to = leader.status["members"].as_array().and_then(|members| {
        members
            .iter()
            .filter(|m| m["voter"] == true)
            .filter_map(|m| m["id"].as_u64())
            .find(|&id| id != leader.id)
    });
    let Some(to) = to else {
        return format!("node {} is the only voter: it cannot be removed", leader.id);
    };
    eprintln!(
        "node {} leads: handing leadership to node {to} first",
        leader.id
    );
    let url = format!("{}/v1/cluster/transfer-leader", leader.url);
    match send(agent, "POST", &url, Some(&json!({ "to": to }))) {
        Attempt::Done(code, text) if !(200..300).contains(&code) => {
            format!("transfer to node {to}: HTTP {code}: {text}")
        }
        Attempt::Retry(why) => format!("transfer to node {to}: {why}"),
        Attempt::Done(..) => {
            // Give the transfer an election's time before looking for the leader again.
            std::thread::sleep(Duration::from_millis(500));
            format!("leadership is moving from node {} to node {to}", leader.id)
        }
    }
}

/// Runs a `ctl members` command; the exit code (0 ok, 1 error answer, 2 no leader in time).
pub(super) fn run(
    agent: &ureq::Agent,
    endpoints: &[String],
    op: &MembersOp,
    output: Output,
) -> i32 {
    match op {
        MembersOp::List => {
            // Any member can list them (the leader when one is known).
            let Some(base) = find_leader(agent, endpoints) else {
                eprintln!("no endpoint answered: {}", endpoints.join(", "));
                return 2;
            };
            match get_json(agent, &format!("{base}/v1/members")) {
                Ok(v) => {
                    ctl_output::print_ok(output, Shape::Members, &v.to_string());
                    0
                }
                Err(e) => {
                    eprintln!("{e}");
                    2
                }
            }
        }
        MembersOp::Add {
            id,
            peer_addr,
            api_addr,
            voter,
        } => {
            let body =
                json!({"id": id, "peer_addr": peer_addr, "api_addr": api_addr, "voter": voter});
            at_leader(
                agent,
                endpoints,
                "POST",
                "/v1/cluster/members",
                Some(&body),
                None,
                output,
            )
        }
        MembersOp::Remove { id } => {
            let path = format!("/v1/cluster/members/{id}");
            at_leader(agent, endpoints, "DELETE", &path, None, Some(*id), output)
        }
    }
}
