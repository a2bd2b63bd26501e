//! `cargo xtask nemesis`: builds the node binary and the harness (`tests/nemesis`), then runs
//! five real nodes in network namespaces under partitions, kills and pauses (see that crate).

use std::path::PathBuf;

use crate::shell;

/// The cargo target directory this build uses.
pub(crate) fn target_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| shell::workspace_root().join("target"))
}

/// Builds `raftorch` and runs the harness with `args` (`--seconds N`, `--minutes N`,
/// `--seed N`, `--report DIR`, `--clients N`, `--min-ops N`). `--release` builds the node
/// optimized. Without root or `ip netns` the harness skips with a message (fails under CI=true).
pub(crate) fn run(args: &[String]) -> Result<(), String> {
    ensure_nft();
    let release = args.iter().any(|a| a == "--release");
    let mut build = vec!["build", "-p", "raftorch-node", "--bin", "raftorch"];
    if release {
        build.push("--release");
    }
    shell::run("cargo", &build)?;
    let profile = if release { "release" } else { "debug" };
    let binary = target_dir().join(profile).join("raftorch");
    let mut harness: Vec<String> = ["run", "--quiet", "-p", "raftorch-nemesis", "--"]
        .iter()
        .map(|s| (*s).to_string())
        .collect();
    harness.push("--binary".into());
    harness.push(binary.to_string_lossy().into_owned());
    let mut has_report = false;
    for a in args.iter().filter(|a| *a != "--release") {
        has_report |= a == "--report";
        harness.push(a.clone());
    }
    if !has_report {
        let seed = args
            .iter()
            .position(|a| a == "--seed")
            .and_then(|i| args.get(i + 1))
            .map_or("latest".to_string(), |s| format!("seed-{s}"));
        harness.push("--report".into());
        harness.push(
            target_dir()
                .join("nemesis")
                .join(seed)
                .to_string_lossy()
                .into_owned(),
        );
    }
    let harness: Vec<&str> = harness.iter().map(String::as_str).collect();
    shell::run("cargo", &harness)
}

/// Installs Debian's `nftables` (the `nft` the one-way loss nemesis uses) when it is missing
/// and this runs as root. Best effort: without it the harness falls back to policy-routing
/// rules and says so.
fn ensure_nft() {
    let root = shell::output("id", &["-u"]).is_ok_and(|id| id.trim() == "0");
    let present = std::process::Command::new("nft")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    if present || !root {
        return;
    }
    let installed = crate::web::apt_get(&["update"]).and_then(|()| {
        crate::web::apt_get(&["install", "-y", "--no-install-recommends", "nftables"])
    });
    if let Err(e) = installed {
        println!("nemesis: could not install nftables ({e}); one-way loss falls back to ip rules");
    }
}
