//! The browser visualizer's tool chain, build, size check, local server and browser tests,
//! following shared/TOOLCHAIN.md exactly: trunk and wasm-bindgen-cli from crates.io, wasm-pack
//! from crates.io into `.tools/`, wasm-opt from npm's binaryen 132 (Debian's is too old),
//! Chromium, its driver and Firefox ESR from Debian, geckodriver from crates.io into `.tools/`.

use std::path::{Path, PathBuf};

use crate::shell;

/// The trunk release that builds with this toolchain (0.22 needs a newer rustc).
const TRUNK_VERSION: &str = "0.21.14";
/// The wasm-pack release that runs the in-browser tests the way users of wasm crates do.
const WASM_PACK_VERSION: &str = "0.15.1";
/// The geckodriver release that drives Debian's Firefox ESR (built from crates.io: its GitHub
/// release binaries are out of reach here).
const GECKODRIVER_VERSION: &str = "0.37.1";
/// binaryen from npm: the first that parses what wasm-bindgen 0.2.130 emits.
const BINARYEN: &str = "binaryen@132.0.0";
/// The gzipped .wasm must stay under this many bytes.
pub(crate) const WASM_GZIP_BUDGET: u64 = 300 * 1024;

/// `PATH` with the project's tools (`.tools/bin`, npm's) and cargo's binaries first, so that
/// an old Debian `wasm-opt` is never picked.
pub(crate) fn tool_path() -> String {
    let root = shell::workspace_root();
    let tools_bin = root.join(".tools/bin");
    let npm_bin = root.join(".tools/npm/node_modules/.bin");
    let cargo_bin = home().join(".cargo/bin");
    let old = std::env::var("PATH").unwrap_or_default();
    format!(
        "{}:{}:{}:{old}",
        tools_bin.display(),
        npm_bin.display(),
        cargo_bin.display()
    )
}

fn home() -> PathBuf {
    PathBuf::from(std::env::var("HOME").unwrap_or_else(|_| "/root".into()))
}

/// The environment every web step runs with.
fn env(path: &str) -> Vec<(&'static str, String)> {
    vec![
        ("PATH", path.to_string()),
        ("TRUNK_SKIP_VERSION_CHECK", "true".to_string()),
        ("CHROMEDRIVER", "/usr/bin/chromedriver".to_string()),
        ("GECKODRIVER", geckodriver().to_string_lossy().into_owned()),
    ]
}

/// Where `ensure_tools` puts geckodriver.
fn geckodriver() -> PathBuf {
    shell::workspace_root().join(".tools/bin/geckodriver")
}

fn run(program: &str, args: &[&str], env: &[(&'static str, String)]) -> Result<(), String> {
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    shell::run_with_env(program, args, &env)
}

/// The `wasm-bindgen` version pinned in Cargo.lock (the CLI must match it exactly).
fn locked_wasm_bindgen() -> Result<String, String> {
    let lock = std::fs::read_to_string(shell::workspace_root().join("Cargo.lock"))
        .map_err(|e| format!("cannot read Cargo.lock: {e}"))?;
    let mut lines = lock.lines();
    while let Some(line) = lines.next() {
        if line == "name = \"wasm-bindgen\"" {
            if let Some(version) = lines.next().and_then(|l| l.strip_prefix("version = \"")) {
                return Ok(version.trim_end_matches('"').to_string());
            }
        }
    }
    Err("Cargo.lock has no wasm-bindgen".into())
}

fn version_of(program: &str, path: &str) -> String {
    std::process::Command::new(program)
        .arg("--version")
        .env("PATH", path)
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
        .unwrap_or_default()
}

fn is_root() -> bool {
    shell::output("id", &["-u"]).is_ok_and(|id| id.trim() == "0")
}

/// Runs `apt-get args`, through sudo unless already root.
pub(crate) fn apt_get(args: &[&str]) -> Result<(), String> {
    if is_root() {
        shell::run("apt-get", args)
    } else {
        let mut with = vec!["apt-get"];
        with.extend_from_slice(args);
        shell::run("sudo", &with)
    }
}

/// Installs whatever the web build and its tests lack. Cheap when everything is there.
pub(crate) fn ensure_tools(browser: bool) -> Result<(), String> {
    crate::setup::ensure_rust_targets()?;
    let path = tool_path();
    if !version_of("trunk", &path).contains(TRUNK_VERSION) {
        shell::run(
            "cargo",
            &["install", "--locked", "trunk", "--version", TRUNK_VERSION],
        )?;
    }
    let bindgen = locked_wasm_bindgen()?;
    if !version_of("wasm-bindgen", &path).contains(&bindgen) {
        // Not --locked: the CLI's own lockfile pins a crate version missing from the registry.
        shell::run(
            "cargo",
            &["install", "wasm-bindgen-cli", "--version", &bindgen],
        )?;
    }
    let root = shell::workspace_root();
    // Into the project's .tools, not ~/.cargo: only the tests use them.
    let tools = root.join(".tools");
    let install_tool = |krate: &str, version: &str| {
        shell::run(
            "cargo",
            &[
                "install",
                "--locked",
                krate,
                "--version",
                version,
                "--root",
                &tools.to_string_lossy(),
            ],
        )
    };
    if browser && !version_of("wasm-pack", &path).contains(WASM_PACK_VERSION) {
        install_tool("wasm-pack", WASM_PACK_VERSION)?;
    }
    // Asked by path: the tests run this one, not whichever geckodriver is on PATH.
    let geckodriver = geckodriver();
    if browser && !version_of(&geckodriver.to_string_lossy(), &path).contains(GECKODRIVER_VERSION) {
        install_tool("geckodriver", GECKODRIVER_VERSION)?;
    }
    if !root.join(".tools/npm/node_modules/.bin/wasm-opt").exists() {
        if shell::output("npm", &["--version"]).map_or(true, |v| v.trim().is_empty()) {
            apt_get(&["update"])?;
            apt_get(&["install", "-y", "npm"])?;
        }
        let prefix = root.join(".tools/npm");
        shell::run(
            "npm",
            &["install", "--prefix", &prefix.to_string_lossy(), BINARYEN],
        )?;
    }
    if browser {
        let missing: Vec<&str> = [
            ("/usr/bin/chromium", "chromium"),
            ("/usr/bin/chromedriver", "chromium-driver"),
            ("/usr/bin/firefox-esr", "firefox-esr"),
        ]
        .into_iter()
        .filter(|(binary, _)| !Path::new(binary).exists())
        .map(|(_, package)| package)
        .collect();
        if !missing.is_empty() {
            apt_get(&["update"])?;
            let mut args = vec!["install", "-y"];
            args.extend(missing);
            apt_get(&args)?;
        }
    }
    Ok(())
}

/// Builds `dist/` with trunk (release: the `wasm-release` profile and wasm-opt -Oz) and checks
/// the gzipped size of the .wasm against the budget. Returns the dist directory.
pub(crate) fn build() -> Result<PathBuf, String> {
    let path = tool_path();
    run("trunk", &["build", "--release", "--offline"], &env(&path))?;
    let dist = shell::workspace_root().join("dist");
    let wasm = std::fs::read_dir(&dist)
        .map_err(|e| format!("no dist/: {e}"))?
        .flatten()
        .map(|e| e.path())
        .find(|p| p.extension().is_some_and(|e| e == "wasm"))
        .ok_or("dist/ has no .wasm")?;
    let raw = std::fs::metadata(&wasm).map_err(|e| e.to_string())?.len();
    let gz = shell::output(
        "sh",
        &["-c", &format!("gzip -9 -c '{}' | wc -c", wasm.display())],
    )?
    .trim()
    .parse::<u64>()
    .map_err(|e| format!("cannot measure the gzipped size: {e}"))?;
    eprintln!(
        "xtask: {} is {} KB, {} KB gzipped (budget {} KB)",
        wasm.display(),
        raw / 1024,
        gz / 1024,
        WASM_GZIP_BUDGET / 1024
    );
    if gz > WASM_GZIP_BUDGET {
        return Err(format!(
            "the gzipped wasm is {gz} bytes, over the {WASM_GZIP_BUDGET}-byte budget"
        ));
    }
    Ok(dist)
}

/// Lints the browser code (host builds compile only the model), runs the in-browser
/// wasm-bindgen tests in headless Chromium through wasm-pack, builds `dist/`, and drives it end
/// to end in headless Chromium and Firefox.
pub(crate) fn test() -> Result<(), String> {
    ensure_tools(true)?;
    let path = tool_path();
    let mut env = env(&path);
    run(
        "cargo",
        &[
            "clippy",
            "-p",
            "raftorch-web",
            "--target",
            "wasm32-unknown-unknown",
            "--all-targets",
            "--",
            "-D",
            "warnings",
        ],
        &env,
    )?;
    env.push(("WASM_BINDGEN_TEST_TIMEOUT", "120".into()));
    // As users of wasm crates run them. wasm-pack takes the wasm-bindgen matching Cargo.lock
    // from PATH (without one it would download its own); only the browser tests, since the
    // model's unit tests run on the host.
    run(
        "wasm-pack",
        &[
            "test",
            "--headless",
            "--chrome",
            "--chromedriver",
            "/usr/bin/chromedriver",
            "web",
            "--test",
            "browser",
        ],
        &env,
    )?;
    let dist = build()?;
    env.push(("RAFTORCH_E2E_DIST", dist.to_string_lossy().into_owned()));
    run(
        "cargo",
        &[
            "test",
            "-p",
            "raftorch-web",
            "--test",
            "e2e",
            "--",
            "--nocapture",
        ],
        &env,
    )?;
    Ok(())
}
