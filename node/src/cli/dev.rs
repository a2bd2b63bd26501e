//! `raftorch dev --nodes N`: N real node processes of this binary on free loopback ports;
//! `--auth` turns tokens on, `--secure` tokens and TLS (certificates from `raftorch certs`
//! into the data directory).

use std::io::Write;
use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use clap::Args;

/// Options of `raftorch dev`.
#[derive(Debug, Clone, Args)]
pub struct DevArgs {
    /// How many nodes.
    #[arg(long, default_value_t = 3)]
    pub nodes: u64,
    /// Where the nodes keep their data (default: a new directory under the system temp dir,
    /// removed on exit).
    #[arg(long)]
    pub data_dir: Option<PathBuf>,
    /// Turn tokens on: write an auth file with fresh admin, write and read tokens into the
    /// data directory, start every node with it, and print the admin token.
    #[arg(long)]
    pub auth: bool,
    /// Tokens (as --auth) and TLS: writes a CA and node certificates into DATA_DIR/certs,
    /// starts every node with mutual TLS between peers and an HTTPS API, and prints the admin
    /// token and the CA to pass as --cacert.
    #[arg(long)]
    pub secure: bool,
}

/// Picks a free loopback port (the OS chooses; there is a small window before the child binds).
fn free_port() -> std::io::Result<u16> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

/// Runs the cluster until Ctrl-C or SIGTERM; returns the exit code.
pub(super) fn run(args: &DevArgs) -> i32 {
    match run_inner(args) {
        Ok(()) => 0,
        Err(e) => {
            eprintln!("raftorch dev: {e}");
            1
        }
    }
}

fn run_inner(args: &DevArgs) -> Result<(), String> {
    if args.nodes == 0 || args.nodes > 9 {
        return Err("--nodes must be within 1..=9".into());
    }
    let exe = std::env::current_exe().map_err(|e| format!("cannot find this binary: {e}"))?;
    let (base, remove_after) = match &args.data_dir {
        Some(d) => (d.clone(), false),
        None => (
            std::env::temp_dir().join(format!("raftorch-dev-{}", std::process::id())),
            true,
        ),
    };
    let tokens = if args.auth || args.secure {
        Some(super::dev_auth::write(&base)?)
    } else {
        None
    };
    let certs = base.join("certs");
    if args.secure {
        super::certs::write_all(&super::certs::CertsArgs {
            dir: certs.clone(),
            nodes: (1..=args.nodes).collect(),
            hosts: Vec::new(),
            years: 1,
        })?;
    }
    let scheme = if args.secure { "https" } else { "http" };
    let mut addrs = Vec::new();
    for id in 1..=args.nodes {
        let peer = free_port().map_err(|e| format!("no free port: {e}"))?;
        let api = free_port().map_err(|e| format!("no free port: {e}"))?;
        addrs.push((id, format!("127.0.0.1:{peer}"), format!("127.0.0.1:{api}")));
    }
    let mut children: Vec<(u64, Child)> = Vec::new();
    for (id, peer, api) in &addrs {
        let mut cmd = Command::new(&exe);
        cmd.arg("node")
            .arg("--id")
            .arg(id.to_string())
            .arg("--data-dir")
            .arg(base.join(format!("node-{id}")))
            .arg("--peer-listen")
            .arg(peer)
            .arg("--api-listen")
            .arg(api);
        for (other, p, a) in &addrs {
            if other != id {
                cmd.arg("--peer").arg(format!("{other}={p}@{a}"));
            }
        }
        if let Some(t) = &tokens {
            cmd.arg("--auth-file").arg(&t.path);
        }
        if args.secure {
            cmd.arg("--tls-ca")
                .arg(certs.join("ca.pem"))
                .arg("--tls-cert")
                .arg(certs.join(format!("node-{id}.pem")))
                .arg("--tls-key")
                .arg(certs.join(format!("node-{id}-key.pem")));
        }
        match cmd.spawn() {
            Ok(child) => children.push((*id, child)),
            Err(e) => {
                stop(&mut children);
                return Err(format!("cannot start node {id}: {e}"));
            }
        }
    }
    println!(
        "raftorch dev cluster: {} nodes, data in {}",
        args.nodes,
        base.display()
    );
    for (id, _, api) in &addrs {
        println!("  node {id}: {scheme}://{api}");
    }
    let endpoints: Vec<String> = addrs
        .iter()
        .map(|(_, _, a)| format!("{scheme}://{a}"))
        .collect();
    let cacert = args.secure.then(|| certs.join("ca.pem"));
    if let Some(ca) = &cacert {
        println!(
            "TLS on: peers use mutual TLS, the API HTTPS; certificates in {}",
            certs.display()
        );
        println!("cacert: {}", ca.display());
    }
    let ca_flag = cacert
        .as_ref()
        .map_or(String::new(), |ca| format!(" --cacert {}", ca.display()));
    match &tokens {
        None => println!(
            "try: raftorch ctl --endpoints {} status",
            endpoints.join(",")
        ),
        Some(t) => {
            println!(
                "tokens on: {} holds an admin, a write and a read token",
                t.path.display()
            );
            println!("admin token: {}", t.admin);
            println!(
                "try: RAFTORCH_TOKEN={} raftorch ctl{ca_flag} --endpoints {} status",
                t.admin,
                endpoints.join(",")
            );
        }
    }
    println!("Ctrl-C stops every node.");

    let stopping = Arc::new(AtomicBool::new(false));
    let flag = stopping.clone();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| e.to_string())?;
    std::thread::spawn(move || {
        runtime.block_on(async {
            let mut term =
                tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).ok();
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = async { match term.as_mut() { Some(t) => { t.recv().await; } None => std::future::pending().await } } => {}
            }
        });
        flag.store(true, Ordering::SeqCst);
    });
    while !stopping.load(Ordering::SeqCst) {
        for (id, child) in &mut children {
            if let Ok(Some(status)) = child.try_wait() {
                eprintln!("node {id} exited: {status}");
            }
        }
        children.retain_mut(|(_, c)| matches!(c.try_wait(), Ok(None)));
        if children.is_empty() {
            break;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    // Not `println!`: a reader that closed our stdout (a pipe into `head`, a test that read
    // what it needed) would make it panic here and leave every node running.
    let _ = writeln!(std::io::stdout(), "stopping {} nodes", children.len());
    stop(&mut children);
    if remove_after {
        let _ = std::fs::remove_dir_all(&base);
    }
    Ok(())
}

fn stop(children: &mut Vec<(u64, Child)>) {
    for (_, child) in children.iter_mut() {
        let _ = child.kill();
    }
    for (_, child) in children.iter_mut() {
        let _ = child.wait();
    }
    children.clear();
}
