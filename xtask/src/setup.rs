//! Installs what a fresh machine lacks. Everything comes from rustup, crates.io, Debian or npm;
//! nothing is downloaded from elsewhere (see shared/TOOLCHAIN.md).

use crate::shell;

/// Targets the core must build for: an embedded no_std target and the browser.
pub(crate) const NO_STD_TARGETS: [&str; 2] = ["thumbv7em-none-eabihf", "wasm32-unknown-unknown"];

/// Adds the rustup targets and components the checks use, if missing.
pub(crate) fn ensure_rust_targets() -> Result<(), String> {
    let installed = shell::output("rustup", &["target", "list", "--installed"])?;
    for target in NO_STD_TARGETS {
        if !installed.lines().any(|line| line.trim() == target) {
            shell::run("rustup", &["target", "add", target])?;
        }
    }
    let components = shell::output("rustup", &["component", "list", "--installed"])?;
    for component in ["rustfmt", "clippy"] {
        if !components.lines().any(|line| line.starts_with(component)) {
            shell::run("rustup", &["component", "add", component])?;
        }
    }
    Ok(())
}
