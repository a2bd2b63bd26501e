//! `raftorch ctl`: a small client that finds the leader itself and prints its answers as
//! tables (the default) or as the API's JSON (`-o json`).

use std::time::Duration;

use clap::{Args, Subcommand};
use serde_json::{json, Value};

use super::client;
use super::ctl_members::{self, MembersOp};
use super::ctl_output::{self, Output, Shape};

/// Options of `raftorch ctl`.
#[derive(Debug, Clone, Args)]
pub struct CtlArgs {
    /// API URLs of some members, comma-separated (e.g. http://127.0.0.1:8001,...).
    #[arg(
        long,
        env = "RAFTORCH_ENDPOINTS",
        value_delimiter = ',',
        required = true
    )]
    pub endpoints: Vec<String>,
    /// The API token (`Authorization: Bearer`), for a cluster started with --auth-file.
    #[arg(long, env = "RAFTORCH_TOKEN", hide_env_values = true)]
    pub token: Option<String>,
    /// Output format: `table` for people, `json` (the API's answers) for scripts.
    #[arg(short = 'o', long, value_enum, default_value_t = Output::Table, global = true)]
    pub output: Output,
    /// The CA certificate (PEM) to trust for `https://` endpoints (a TLS cluster's `ca.pem`).
    #[arg(long, env = "RAFTORCH_CACERT")]
    pub cacert: Option<std::path::PathBuf>,
    /// What to do.
    #[command(subcommand)]
    pub command: CtlCommand,
}

/// `ctl` subcommands.
#[derive(Debug, Clone, Subcommand)]
pub enum CtlCommand {
    /// The status of every endpoint.
    Status,
    /// List services (a page of them: see `--limit`, `--start-after`).
    Services {
        /// Which page.
        #[command(flatten)]
        page: PageArgs,
    },
    /// Show a service's instances (a page of them).
    Service {
        /// Service name.
        name: String,
        /// Only healthy instances.
        #[arg(long)]
        healthy: bool,
        /// Which page.
        #[command(flatten)]
        page: PageArgs,
    },
    /// Register (or update) an instance.
    Register {
        /// Service name.
        service: String,
        /// Instance id.
        instance: String,
        /// Address.
        #[arg(long)]
        address: String,
        /// Port.
        #[arg(long)]
        port: u16,
        /// Version.
        #[arg(long, default_value = "v1")]
        version: String,
        /// Routing weight.
        #[arg(long, default_value_t = 100)]
        weight: u16,
        /// Heartbeat TTL in ms.
        #[arg(long)]
        ttl_ms: Option<u64>,
    },
    /// Remove an instance.
    Deregister {
        /// Service name.
        service: String,
        /// Instance id.
        instance: String,
    },
    /// Heartbeat an instance.
    Heartbeat {
        /// Service name.
        service: String,
        /// Instance id.
        instance: String,
    },
    /// Where a request with this key goes.
    Route {
        /// Service name.
        service: String,
        /// Request key.
        #[arg(long, default_value = "")]
        key: String,
    },
    /// Key-value operations.
    Kv {
        /// What to do.
        #[command(subcommand)]
        op: KvOp,
    },
    /// Hand leadership to another node.
    TransferLeader {
        /// The node to lead next.
        to: u64,
    },
    /// Raft membership: list, add (a node started with `node --join`), remove.
    Members {
        /// What to do.
        #[command(subcommand)]
        op: MembersOp,
    },
    /// Space alarms: list them, or disarm them (admin) once the cause is gone.
    Alarm {
        /// What to do.
        #[command(subcommand)]
        op: AlarmOp,
    },
}

/// `ctl alarm` subcommands.
#[derive(Debug, Clone, Subcommand)]
pub enum AlarmOp {
    /// The active alarms, the live state's size and the quota.
    List,
    /// Clear alarms (all by default). A node whose disk is still under its reserve raises its
    /// alarm again; a quota alarm clears by itself once the state is under 90% of the quota.
    Disarm {
        /// Only this node's alarms.
        #[arg(long)]
        member: Option<u64>,
        /// Only alarms of this kind: quota or disk_reserve.
        #[arg(long)]
        kind: Option<String>,
    },
}

/// `ctl kv` subcommands.
#[derive(Debug, Clone, Subcommand)]
pub enum KvOp {
    /// Read a key.
    Get {
        /// Key.
        key: String,
    },
    /// Write a key.
    Put {
        /// Key.
        key: String,
        /// Value.
        value: String,
        /// Only if the key's revision is this (0: only if absent).
        #[arg(long)]
        cas: Option<u64>,
    },
    /// Delete a key.
    Del {
        /// Key.
        key: String,
    },
    /// List keys under a prefix (a page of them).
    List {
        /// Prefix.
        #[arg(long, default_value = "")]
        prefix: String,
        /// Which page.
        #[command(flatten)]
        page: PageArgs,
    },
}

/// Which page of a listing to show; a table ends with the `--start-after` of the next one.
#[derive(Debug, Clone, Default, Args)]
pub struct PageArgs {
    /// At most this many items (the server's default is 1000, its maximum 10000).
    #[arg(long)]
    pub limit: Option<u32>,
    /// Start after this key (the `next` of the previous page).
    #[arg(long)]
    pub start_after: Option<String>,
}

impl PageArgs {
    /// The query parameters, each starting with `&`.
    fn query(&self) -> String {
        let mut q = String::new();
        if let Some(n) = self.limit {
            q.push_str(&format!("&limit={n}"));
        }
        if let Some(k) = &self.start_after {
            q.push_str(&format!("&start_after={}", percent_encode(k)));
        }
        q
    }
}

/// Runs the command; returns the exit code (0 ok, 1 error answer, 2 no endpoint reachable).
pub(super) fn run(args: &CtlArgs) -> i32 {
    let access = match client::Access::new(args.token.as_deref(), args.cacert.as_deref()) {
        Ok(a) => a,
        Err(e) => {
            eprintln!("raftorch ctl: {e}");
            return 2;
        }
    };
    // Every request below goes through this agent, so every one carries the token.
    let agent = access.agent(Duration::from_secs(10));
    let endpoints: Vec<String> = args
        .endpoints
        .iter()
        .filter(|e| !e.trim().is_empty())
        .map(|e| access.base(e))
        .collect();
    if let CtlCommand::Status = args.command {
        return status(&agent, &access, &endpoints, args.output);
    }
    if let CtlCommand::Members { op } = &args.command {
        return ctl_members::run(&agent, &endpoints, op, args.output);
    }
    let Some(base) = find_leader(&agent, &endpoints) else {
        eprintln!("no endpoint answered: {}", endpoints.join(", "));
        if let Some(e) = endpoints.first() {
            if let Err(err) = agent.get(&format!("{e}/v1/status")).call() {
                eprintln!("{e}: {}", access.explain(&err));
            }
        }
        return 2;
    };
    let enc = |s: &str| percent_encode(s);
    let shape = match &args.command {
        CtlCommand::Services { .. } => Shape::Services,
        CtlCommand::Service { .. } => Shape::Instances,
        CtlCommand::Route { .. } => Shape::Route,
        CtlCommand::Kv {
            op: KvOp::Get { .. },
        } => Shape::KvGet,
        CtlCommand::Kv {
            op: KvOp::List { .. },
        } => Shape::KvList,
        _ => Shape::Fields,
    };
    let (method, path, body): (&str, String, Option<Vec<u8>>) = match &args.command {
        CtlCommand::Status | CtlCommand::Members { .. } => handled_above(),
        CtlCommand::Services { page } => ("GET", format!("/v1/services?{}", page.query()), None),
        CtlCommand::Service {
            name,
            healthy,
            page,
        } => (
            "GET",
            format!(
                "/v1/services/{}?healthy={healthy}{}",
                enc(name),
                page.query()
            ),
            None,
        ),
        CtlCommand::Register {
            service,
            instance,
            address,
            port,
            version,
            weight,
            ttl_ms,
        } => {
            let mut b =
                json!({"address": address, "port": port, "version": version, "weight": weight});
            if let Some(t) = ttl_ms {
                b["ttl_ms"] = json!(t);
            }
            (
                "PUT",
                format!("/v1/services/{}/instances/{}", enc(service), enc(instance)),
                Some(b.to_string().into_bytes()),
            )
        }
        CtlCommand::Deregister { service, instance } => (
            "DELETE",
            format!("/v1/services/{}/instances/{}", enc(service), enc(instance)),
            None,
        ),
        CtlCommand::Heartbeat { service, instance } => (
            "POST",
            format!(
                "/v1/services/{}/instances/{}/heartbeat",
                enc(service),
                enc(instance)
            ),
            Some(Vec::new()),
        ),
        CtlCommand::Route { service, key } => (
            "GET",
            format!("/v1/route/{}?key={}", enc(service), enc(key)),
            None,
        ),
        CtlCommand::Kv { op } => match op {
            KvOp::Get { key } => ("GET", format!("/v1/kv/{key}"), None),
            KvOp::Put { key, value, cas } => (
                "PUT",
                format!(
                    "/v1/kv/{key}{}",
                    cas.map_or(String::new(), |c| format!("?cas={c}"))
                ),
                Some(json!({ "value": value }).to_string().into_bytes()),
            ),
            KvOp::Del { key } => ("DELETE", format!("/v1/kv/{key}"), None),
            KvOp::List { prefix, page } => (
                "GET",
                format!("/v1/kv?prefix={}{}", enc(prefix), page.query()),
                None,
            ),
        },
        CtlCommand::Alarm { op: AlarmOp::List } => ("GET", "/v1/alarms".into(), None),
        CtlCommand::Alarm {
            op: AlarmOp::Disarm { member, kind },
        } => (
            "POST",
            "/v1/alarms/disarm".into(),
            Some(
                json!({"member": member, "kind": kind})
                    .to_string()
                    .into_bytes(),
            ),
        ),
        CtlCommand::TransferLeader { to } => (
            "POST",
            "/v1/cluster/transfer-leader".into(),
            Some(json!({"to": to}).to_string().into_bytes()),
        ),
    };
    let request = agent.request(method, &format!("{base}{path}"));
    let result = match body {
        Some(b) => request.send_bytes(&b),
        None => request.call(),
    };
    match result {
        Ok(resp) => {
            ctl_output::print_ok(args.output, shape, &resp.into_string().unwrap_or_default());
            0
        }
        Err(ureq::Error::Status(code, resp)) => {
            let body = resp.into_string().unwrap_or_default();
            ctl_output::print_error(args.output, code, &body);
            1
        }
        Err(e) => {
            eprintln!("{}", access.explain(&e));
            2
        }
    }
}

/// `ctl status`: every endpoint's `/v1/status`, as a table or as a JSON array (an endpoint that
/// does not answer is `{"endpoint","error"}`). Exits 2 if none answered.
fn status(
    agent: &ureq::Agent,
    access: &client::Access,
    endpoints: &[String],
    output: Output,
) -> i32 {
    let mut all = Vec::new();
    let mut answered = false;
    for e in endpoints {
        let answer = match agent.get(&format!("{e}/v1/status")).call() {
            Ok(r) | Err(ureq::Error::Status(_, r)) => r
                .into_string()
                .map_err(|e| e.to_string())
                .and_then(|t| serde_json::from_str(&t).map_err(|e| e.to_string())),
            Err(err) => Err(access.explain(&err)),
        };
        all.push(match answer {
            Ok(v) => {
                answered = true;
                v
            }
            Err(err) => json!({"endpoint": e, "error": err}),
        });
    }
    match output {
        Output::Json => println!("{}", ctl_output::pretty(&Value::Array(all))),
        Output::Table => {
            let rows = all
                .into_iter()
                .zip(endpoints)
                .map(|(mut v, e)| {
                    v["endpoint"] = json!(e);
                    v
                })
                .collect();
            print!("{}", ctl_output::human(Shape::Status, &Value::Array(rows)));
        }
    }
    if answered {
        0
    } else {
        2
    }
}

/// The request of a command answered before the generic path (`status`, `members`), which is
/// never sent: a harmless placeholder keeps the match below exhaustive without a panic.
fn handled_above() -> (&'static str, String, Option<Vec<u8>>) {
    ("GET", "/v1/status".into(), None)
}

pub(super) fn get_json(agent: &ureq::Agent, url: &str) -> Result<Value, String> {
    let text = match agent.get(url).call() {
        Ok(r) => r.into_string().map_err(|e| e.to_string())?,
        Err(ureq::Error::Status(_, r)) => r.into_string().map_err(|e| e.to_string())?,
        Err(e) => return Err(e.to_string()),
    };
    serde_json::from_str(&text).map_err(|e| e.to_string())
}

/// The leader's API URL if some endpoint knows it, else the first endpoint that answers.
pub(super) fn find_leader(agent: &ureq::Agent, endpoints: &[String]) -> Option<String> {
    let mut first_alive = None;
    for e in endpoints {
        if let Ok(status) = get_json(agent, &format!("{e}/v1/status")) {
            if let Some(api) = status["leader_api"].as_str() {
                return Some(format!("{}://{api}", client::scheme_of(e)));
            }
            first_alive.get_or_insert_with(|| e.clone());
        }
    }
    first_alive
}

/// Percent-encodes everything but unreserved characters (RFC 3986).
fn percent_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}
