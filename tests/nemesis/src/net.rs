//! The harness's own network: one namespace per node (`rn-<seed>-<i>`), each joined by a veth
//! pair to a bridge in the root namespace that holds a private /24 the harness creates and
//! deletes. Partitions are blackhole routes inside the namespaces, so only addresses the harness
//! created are ever touched. Everything is removed on drop, also after a panic, and leftovers of
//! an earlier crashed run with the same seed are removed before a new one starts.

use std::collections::BTreeSet;
use std::process::Command;

/// Runs `ip args...`, failing with its standard error.
pub fn ip(args: &[&str]) -> Result<(), String> {
    let out = Command::new("ip")
        .args(args)
        .output()
        .map_err(|e| format!("cannot run ip: {e}"))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "`ip {}` failed: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        ))
    }
}

/// The standard output of `ip args...` (empty on failure).
fn ip_output(args: &[&str]) -> String {
    Command::new("ip")
        .args(args)
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
        .unwrap_or_default()
}

/// Why the harness cannot run here, if it cannot: it needs root and a working `ip netns`.
pub fn unavailable() -> Option<String> {
    let uid = Command::new("id").arg("-u").output().ok();
    let root = uid.is_some_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0");
    if !root {
        return Some("the nemesis harness needs root (for ip netns)".into());
    }
    let probe = "rn-probe";
    let _ = ip(&["netns", "del", probe]);
    if let Err(e) = ip(&["netns", "add", probe]) {
        return Some(format!("ip netns is unavailable: {e}"));
    }
    let _ = ip(&["netns", "del", probe]);
    None
}

/// How packets are dropped in one direction only. Both act on arrival, in the receiver's
/// namespace, so the sender sees no error: its packets just vanish, as on a lossy link.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LossMechanism {
    /// An nftables table `rnloss` with a prerouting rule `ip saddr SRC drop`.
    Nftables,
    /// A policy-routing rule `from SRC iif eth0 blackhole` (the local table's rule moved
    /// behind it), for machines without `nft`.
    PolicyRouting,
}

/// Runs `ip netns exec NS nft args...`.
fn nft(ns: &str, args: &[&str]) -> Result<(), String> {
    let out = Command::new("ip")
        .args(["netns", "exec", ns, "nft"])
        .args(args)
        .output()
        .map_err(|e| format!("cannot run nft: {e}"))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "`nft {}` in {ns} failed: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        ))
    }
}

/// The namespaces, bridge and veth pairs of one run.
pub struct Network {
    seed: u64,
    nodes: u64,
    subnet: String,
    /// Partition rules in force: `(in namespace of, destination node)`.
    blocked: BTreeSet<(u64, u64)>,
    /// One-way loss rules in force: `(source node, in namespace of)`: packets from the source
    /// are silently dropped on arrival.
    lost: BTreeSet<(u64, u64)>,
    /// Namespaces whose local routing rule was moved for the policy-routing fallback.
    moved_local: BTreeSet<u64>,
    /// How one-way loss is done here, found out at its first use.
    loss: Option<LossMechanism>,
    torn_down: bool,
}

/// A short tag for link names (at most 15 bytes: `rnv` + 5 digits + `-` + node).
fn tag(seed: u64) -> u64 {
    seed % 100_000
}

fn namespace_name(seed: u64, node: u64) -> String {
    format!("rn-{seed}-{node}")
}

fn bridge_name(seed: u64) -> String {
    format!("rnb{}", tag(seed))
}

fn veth_name(seed: u64, node: u64) -> String {
    format!("rnv{}-{node}", tag(seed))
}

/// Claims `seed` for this process: a pid file in the temp dir. Refuses while another live
/// harness process holds it, since a second run with the same seed would tear down the first
/// one's namespaces and reuse its addresses (its clients would then write into this cluster).
pub fn claim_seed(seed: u64) -> Result<(), String> {
    let path = std::env::temp_dir().join(format!("raftorch-nemesis-{seed}.pid"));
    if let Ok(pid) = std::fs::read_to_string(&path) {
        let pid = pid.trim();
        let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
        if pid != std::process::id().to_string()
            && String::from_utf8_lossy(&cmdline).contains("raftorch-nemesis")
        {
            return Err(format!(
                "another nemesis run (pid {pid}) uses seed {seed}; stop it or pick another seed"
            ));
        }
    }
    std::fs::write(&path, std::process::id().to_string())
        .map_err(|e| format!("{}: {e}", path.display()))
}

/// Removes whatever an earlier run with this seed left: processes in its namespaces, the
/// namespaces, the bridge and the veth ends.
pub fn remove_leftovers(seed: u64) {
    let prefix = format!("rn-{seed}-");
    for line in ip_output(&["netns", "list"]).lines() {
        let Some(name) = line.split_whitespace().next() else {
            continue;
        };
        if !name.starts_with(&prefix) {
            continue;
        }
        for pid in ip_output(&["netns", "pids", name]).split_whitespace() {
            let _ = Command::new("kill").args(["-CONT", pid]).status();
            let _ = Command::new("kill").args(["-KILL", pid]).status();
        }
        let _ = ip(&["netns", "del", name]);
    }
    let veth = format!("rnv{}-", tag(seed));
    for line in ip_output(&["-o", "link", "show"]).lines() {
        let Some(name) = line.split(':').nth(1).map(str::trim) else {
            continue;
        };
        let name = name.split('@').next().unwrap_or(name);
        if name.starts_with(&veth) || name == bridge_name(seed) {
            let _ = ip(&["link", "del", name]);
        }
    }
}

impl Network {
    /// Creates `nodes` namespaces on a fresh bridge with a private /24 picked from the seed
    /// (refusing one that some interface already uses).
    pub fn create(seed: u64, nodes: u64) -> Result<Network, String> {
        claim_seed(seed)?;
        remove_leftovers(seed);
        let subnet = format!("10.213.{}", 20 + seed % 200);
        let in_use = ip_output(&["-4", "-o", "addr", "show"]);
        if in_use.contains(&format!(" {subnet}.")) {
            return Err(format!(
                "{subnet}.0/24 is already in use on this machine; pick another seed"
            ));
        }
        let mut net = Network {
            seed,
            nodes,
            subnet,
            blocked: BTreeSet::new(),
            lost: BTreeSet::new(),
            moved_local: BTreeSet::new(),
            loss: None,
            torn_down: false,
        };
        let bridge = bridge_name(seed);
        ip(&["link", "add", &bridge, "type", "bridge"])?;
        ip(&[
            "addr",
            "add",
            &format!("{}.254/24", net.subnet),
            "dev",
            &bridge,
        ])?;
        ip(&["link", "set", &bridge, "up"])?;
        for node in 1..=nodes {
            let ns = net.namespace(node);
            let veth = veth_name(seed, node);
            ip(&["netns", "add", &ns])?;
            ip(&[
                "link", "add", &veth, "type", "veth", "peer", "name", "eth0", "netns", &ns,
            ])?;
            ip(&["link", "set", &veth, "master", &bridge, "up"])?;
            ip(&["-n", &ns, "link", "set", "lo", "up"])?;
            ip(&[
                "-n",
                &ns,
                "addr",
                "add",
                &format!("{}/24", net.address(node)),
                "dev",
                "eth0",
            ])?;
            ip(&["-n", &ns, "link", "set", "eth0", "up"])?;
        }
        net.torn_down = false;
        Ok(net)
    }

    /// The namespace of `node`.
    pub fn namespace(&self, node: u64) -> String {
        namespace_name(self.seed, node)
    }

    /// The IPv4 address of `node` (inside its namespace, reachable over the bridge).
    pub fn address(&self, node: u64) -> String {
        format!("{}.{node}", self.subnet)
    }

    /// Drops every packet `from` sends to `to` (a blackhole route in `from`'s namespace).
    pub fn block(&mut self, from: u64, to: u64) -> Result<(), String> {
        if from == to || !self.blocked.insert((from, to)) {
            return Ok(());
        }
        let dest = format!("{}/32", self.address(to));
        ip(&[
            "-n",
            &self.namespace(from),
            "route",
            "add",
            "blackhole",
            &dest,
        ])
    }

    /// Cuts every link between a node of `a` and a node of `b`, both ways.
    pub fn cut(&mut self, a: &[u64], b: &[u64]) -> Result<(), String> {
        for &x in a {
            for &y in b {
                self.block(x, y)?;
                self.block(y, x)?;
            }
        }
        Ok(())
    }

    /// Removes every partition and loss rule.
    pub fn heal(&mut self) -> Result<(), String> {
        let blocked = core::mem::take(&mut self.blocked);
        let mut result = self.heal_loss();
        for (from, to) in blocked {
            let dest = format!("{}/32", self.address(to));
            let r = ip(&[
                "-n",
                &self.namespace(from),
                "route",
                "del",
                "blackhole",
                &dest,
            ]);
            if result.is_ok() {
                result = r;
            }
        }
        result
    }

    /// How one-way loss works on this machine (nftables, else policy routing), or why it
    /// cannot; probed once, in `node`'s namespace, and printed.
    pub fn loss_mechanism(&mut self, node: u64) -> Result<LossMechanism, String> {
        if let Some(m) = self.loss {
            return Ok(m);
        }
        let ns = self.namespace(node);
        let chain = "{ type filter hook prerouting priority -300; policy accept; }";
        let probe = nft(&ns, &["add", "table", "inet", "rnloss"])
            .and_then(|()| nft(&ns, &["add", "chain", "inet", "rnloss", "input", chain]))
            .and_then(|()| nft(&ns, &["delete", "table", "inet", "rnloss"]));
        let mechanism = match probe {
            Ok(()) => LossMechanism::Nftables,
            Err(nft_error) => {
                let probe = self.move_local_rule(node);
                match probe {
                    Ok(()) => {
                        println!(
                            "nemesis: note: nftables unavailable ({nft_error}); one-way loss \
                             uses policy-routing blackhole rules"
                        );
                        LossMechanism::PolicyRouting
                    }
                    Err(e) => {
                        return Err(format!(
                            "one-way loss is impossible here: {nft_error}; and {e}"
                        ))
                    }
                }
            }
        };
        println!("nemesis: one-way loss by {mechanism:?}");
        self.loss = Some(mechanism);
        Ok(mechanism)
    }

    /// Puts `node`'s local-table rule behind the loss rules (priority 0 would match first).
    fn move_local_rule(&mut self, node: u64) -> Result<(), String> {
        if self.moved_local.contains(&node) {
            return Ok(());
        }
        let ns = self.namespace(node);
        ip(&["-n", &ns, "rule", "add", "pref", "100", "lookup", "local"])?;
        ip(&["-n", &ns, "rule", "del", "pref", "0"])?;
        self.moved_local.insert(node);
        Ok(())
    }

    /// Silently drops every packet `from` sends to `to`, on arrival at `to` (packets from
    /// `to` to `from` still pass: TCP data gets through one way, its acks do not).
    pub fn lose(&mut self, from: u64, to: u64) -> Result<(), String> {
        if from == to || self.lost.contains(&(from, to)) {
            return Ok(());
        }
        let mechanism = self.loss_mechanism(to)?;
        let ns = self.namespace(to);
        let src = self.address(from);
        match mechanism {
            LossMechanism::Nftables => {
                if !self.lost.iter().any(|&(_, t)| t == to) {
                    let chain = "{ type filter hook prerouting priority -300; policy accept; }";
                    nft(&ns, &["add", "table", "inet", "rnloss"])?;
                    nft(&ns, &["add", "chain", "inet", "rnloss", "input", chain])?;
                }
                nft(
                    &ns,
                    &[
                        "add", "rule", "inet", "rnloss", "input", "ip", "saddr", &src, "drop",
                    ],
                )?;
            }
            LossMechanism::PolicyRouting => {
                self.move_local_rule(to)?;
                ip(&[
                    "-n",
                    &ns,
                    "rule",
                    "add",
                    "pref",
                    "10",
                    "from",
                    &src,
                    "iif",
                    "eth0",
                    "blackhole",
                ])?;
            }
        }
        self.lost.insert((from, to));
        Ok(())
    }

    /// Removes every one-way loss rule.
    fn heal_loss(&mut self) -> Result<(), String> {
        let lost = core::mem::take(&mut self.lost);
        let mut result = Ok(());
        let mut tables = BTreeSet::new();
        for (from, to) in lost {
            let ns = self.namespace(to);
            let r = match self.loss {
                Some(LossMechanism::Nftables) => {
                    tables.insert(to);
                    Ok(())
                }
                _ => ip(&[
                    "-n",
                    &ns,
                    "rule",
                    "del",
                    "pref",
                    "10",
                    "from",
                    &self.address(from),
                    "iif",
                    "eth0",
                    "blackhole",
                ]),
            };
            if result.is_ok() {
                result = r;
            }
        }
        for to in tables {
            let r = nft(&self.namespace(to), &["delete", "table", "inet", "rnloss"]);
            if result.is_ok() {
                result = r;
            }
        }
        result
    }

    /// Deletes the namespaces (their veth ends go with them) and the bridge.
    pub fn teardown(&mut self) {
        if self.torn_down {
            return;
        }
        self.torn_down = true;
        for node in 1..=self.nodes {
            let _ = ip(&["netns", "del", &self.namespace(node)]);
            let _ = ip(&["link", "del", &veth_name(self.seed, node)]);
        }
        let _ = ip(&["link", "del", &bridge_name(self.seed)]);
        remove_leftovers(self.seed);
        let _ = std::fs::remove_file(
            std::env::temp_dir().join(format!("raftorch-nemesis-{}.pid", self.seed)),
        );
    }
}

impl Drop for Network {
    fn drop(&mut self) {
        self.teardown();
    }
}
