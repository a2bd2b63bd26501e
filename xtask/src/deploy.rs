//! `cargo xtask deploy-check`: checks what `deploy/` holds without a container runtime or a
//! Kubernetes cluster (container images cannot be built here).
//!
//! - the Kubernetes manifests against the Kubernetes schema, strictly (`kubernetes-validate`
//!   from PyPI in `.tools/venv`; it bundles the schemas, so it needs no network once
//!   installed), then `deploy/checks/manifests.py`: the PodDisruptionBudget keeps a quorum,
//!   readiness is `/readyz`, one member per replica at its pod's DNS name, and so on;
//! - the Prometheus alert rules with `promtool check rules`, and their unit tests with
//!   `promtool test rules` (Debian's `prometheus` package);
//! - the systemd unit with `systemd-analyze verify` (any warning fails) and `systemd-analyze
//!   security` (its exposure must stay low); `systemd` comes from Debian if missing.
//!
//! Which metric names the dashboard and the rules may use is a test of the node crate
//! (`node/tests/deploy_metrics.rs`), against what `/metrics` renders.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::{shell, web};

/// The PyPI package that validates the manifests; pinned, so the schema version is too.
const KUBERNETES_VALIDATE: &str = "kubernetes-validate==1.37.0";
/// The Kubernetes version the manifests are validated against.
const KUBERNETES_VERSION: &str = "1.30.0";
/// Most `systemd-analyze security` exposure the unit may have (0.0 best, 10.0 worst).
const MAX_EXPOSURE: &str = "2.5";

/// Runs every check of `deploy/`.
pub(crate) fn check() -> Result<(), String> {
    let root = shell::workspace_root();
    let deploy = root.join("deploy");
    kubernetes(&root, &deploy)?;
    prometheus(&deploy)?;
    systemd(&deploy)?;
    eprintln!("xtask: deploy/ checks passed");
    Ok(())
}

fn kubernetes(root: &Path, deploy: &Path) -> Result<(), String> {
    let python = venv_python(root)?;
    let manifests = files(&deploy.join("kubernetes"), "yaml")?;
    let mut args = vec![
        "-m".to_owned(),
        "kubernetes_validate".to_owned(),
        "--strict".to_owned(),
        "--kubernetes-version".to_owned(),
        KUBERNETES_VERSION.to_owned(),
    ];
    args.extend(manifests.iter().map(|p| p.to_string_lossy().into_owned()));
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    // No network needed past the install: the schemas come with the package (checked in a
    // network namespace without interfaces, `unshare -n`).
    shell::run(&python, &args)?;
    shell::run(
        &python,
        &["deploy/checks/manifests.py", "deploy/kubernetes"],
    )
}

/// `.tools/venv/bin/python` with `kubernetes-validate` (and so PyYAML) installed.
fn venv_python(root: &Path) -> Result<String, String> {
    let venv = root.join(".tools/venv");
    let python = venv.join("bin/python");
    if !python.is_file() {
        shell::run("python3", &["-m", "venv", &venv.to_string_lossy()])?;
    }
    let py = python.to_string_lossy().into_owned();
    let installed = Command::new(&py)
        .args(["-m", "pip", "show", "--quiet", "kubernetes-validate"])
        .output()
        .is_ok_and(|o| o.status.success() && String::from_utf8_lossy(&o.stdout).contains("1.37.0"));
    if !installed {
        shell::run(
            &py,
            &["-m", "pip", "install", "--quiet", KUBERNETES_VALIDATE],
        )?;
    }
    Ok(py)
}

fn prometheus(deploy: &Path) -> Result<(), String> {
    if shell::output("promtool", &["--version"]).is_err() {
        web::apt_get(&["update"])?;
        // The package also installs a Prometheus server service; only promtool is used.
        web::apt_get(&["install", "-y", "--no-install-recommends", "prometheus"])?;
    }
    let monitoring = deploy.join("monitoring");
    let rules = monitoring.join("alerts.yaml");
    shell::run("promtool", &["check", "rules", &rules.to_string_lossy()])?;
    let tests = monitoring.join("alerts-test.yaml");
    shell::run("promtool", &["test", "rules", &tests.to_string_lossy()])
}

fn systemd(deploy: &Path) -> Result<(), String> {
    if shell::output("systemd-analyze", &["--version"]).is_err() {
        web::apt_get(&["update"])?;
        web::apt_get(&["install", "-y", "--no-install-recommends", "systemd"])?;
    }
    let unit = deploy.join("systemd/raftorch.service");
    let text = std::fs::read_to_string(&unit)
        .map_err(|e| format!("cannot read {}: {e}", unit.display()))?;
    // `verify` wants the ExecStart binary to exist: check a copy that runs /bin/true instead
    // (same name, so the unit's name checks still apply).
    let scratch = std::env::temp_dir().join(format!("raftorch-unit-{}", std::process::id()));
    std::fs::create_dir_all(&scratch).map_err(|e| format!("{}: {e}", scratch.display()))?;
    let copy = scratch.join("raftorch.service");
    std::fs::write(&copy, text.replace("/usr/local/bin/raftorch", "/bin/true"))
        .map_err(|e| format!("{}: {e}", copy.display()))?;
    let result = verify_unit(&copy);
    let _ = std::fs::remove_dir_all(&scratch);
    result
}

fn verify_unit(unit: &Path) -> Result<(), String> {
    let path = unit.to_string_lossy().into_owned();
    eprintln!("$ systemd-analyze verify {path}");
    let out = Command::new("systemd-analyze")
        .args(["verify", &path])
        .output()
        .map_err(|e| format!("cannot run systemd-analyze: {e}"))?;
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    // It reports unknown keys and unparsable values as warnings and still exits 0.
    if !out.status.success() || !said.trim().is_empty() {
        return Err(format!(
            "systemd-analyze verify: the unit has problems:\n{said}"
        ));
    }
    let threshold = format!("--threshold={}", threshold());
    eprintln!("$ systemd-analyze security --offline=yes {threshold} {path}");
    let out = Command::new("systemd-analyze")
        .args(["security", "--offline=yes", &threshold, "--no-pager", &path])
        .output()
        .map_err(|e| format!("cannot run systemd-analyze: {e}"))?;
    let report = String::from_utf8_lossy(&out.stdout);
    if !out.status.success() {
        return Err(format!(
            "systemd-analyze security: exposure over {MAX_EXPOSURE}:\n{report}"
        ));
    }
    // The verdict line only; the whole table when it fails.
    let verdict = report.lines().rev().find(|l| l.contains("exposure level"));
    eprintln!("{}", verdict.unwrap_or("exposure within the threshold"));
    Ok(())
}

/// [`MAX_EXPOSURE`] as `systemd-analyze security --threshold` counts it (tenths).
fn threshold() -> u32 {
    MAX_EXPOSURE
        .parse::<f32>()
        .map_or(25, |e| (e * 10.0).round() as u32)
}

/// The files in `dir` ending in `.ext`, sorted.
fn files(dir: &Path, ext: &str) -> Result<Vec<PathBuf>, String> {
    let mut found: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(|e| format!("cannot read {}: {e}", dir.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == ext))
        .collect();
    found.sort();
    if found.is_empty() {
        return Err(format!("no .{ext} files in {}", dir.display()));
    }
    Ok(found)
}
