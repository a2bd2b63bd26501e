//! The token table a node checks requests against, reloaded from its file on SIGHUP.

use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};

use super::rate::{Limiter, RateLimit};
use super::table::TokenTable;

/// The auth file, the table last loaded from it and the tokens' rate-limit buckets.
#[derive(Debug)]
pub struct Guard {
    path: PathBuf,
    table: RwLock<Arc<TokenTable>>,
    /// The limit of tokens the file gives no `rate` (`--token-rate`); `None`: unlimited.
    default_limit: Option<RateLimit>,
    limiter: Limiter,
}

impl Guard {
    /// Loads the auth file at `path`; an unreadable or invalid file is an error (the node
    /// refuses to start rather than run with no tokens or the wrong ones).
    /// `default_limit` applies to the tokens the file gives no `rate`.
    pub fn load(path: &Path, default_limit: Option<RateLimit>) -> Result<Arc<Guard>, String> {
        let table = TokenTable::load(path)?;
        warn_if_readable_by_others(path);
        Ok(Arc::new(Guard {
            path: path.to_owned(),
            table: RwLock::new(Arc::new(table)),
            default_limit,
            limiter: Limiter::default(),
        }))
    }

    /// The limit that applies to token `name` of `table`: its own `rate`, else the default.
    pub fn limit_of(&self, table: &TokenTable, name: &str) -> Option<RateLimit> {
        table.limit(name).or(self.default_limit)
    }

    /// The tokens' buckets.
    pub fn limiter(&self) -> &Limiter {
        &self.limiter
    }

    /// The file this guard loads.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The current table.
    pub fn table(&self) -> Arc<TokenTable> {
        // A poisoned lock still holds a whole table: the writer only ever swaps an `Arc`.
        self.table
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    /// Reads the file again and, if it is valid, makes it the table (its token count); if not,
    /// keeps the table it had and says why.
    pub fn reload(&self) -> Result<usize, String> {
        let table = TokenTable::load(&self.path)?;
        let n = table.len();
        self.limiter.retain(|name| table.has(name));
        *self
            .table
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = Arc::new(table);
        Ok(n)
    }
}

/// From now on, reloads `guard` on every SIGHUP, logging the outcome (a task that runs until
/// the process ends). Call it inside the runtime: the handler is in place when this returns,
/// so a SIGHUP sent after it can no longer end the process (the default action).
pub fn reload_on_sighup(guard: Arc<Guard>) -> Result<(), String> {
    use tokio::signal::unix::{signal, SignalKind};
    let mut hangups =
        signal(SignalKind::hangup()).map_err(|e| format!("cannot watch for SIGHUP: {e}"))?;
    tokio::spawn(async move {
        while hangups.recv().await.is_some() {
            reload_now(&guard);
        }
    });
    Ok(())
}

fn reload_now(guard: &Guard) {
    match guard.reload() {
        Ok(n) => tracing::info!(
            file = %guard.path().display(),
            tokens = n,
            "SIGHUP: auth file reloaded"
        ),
        Err(e) => tracing::error!("SIGHUP: {e}; keeping the tokens loaded before"),
    }
}

/// A file of secrets others can read is a leak waiting to happen; say so (but start: the
/// operator may have reasons, e.g. a group-readable secrets mount).
fn warn_if_readable_by_others(path: &Path) {
    use std::os::unix::fs::PermissionsExt;
    if let Ok(meta) = std::fs::metadata(path) {
        if meta.permissions().mode() & 0o004 != 0 {
            tracing::warn!(
                file = %path.display(),
                "the auth file is readable by every user; chmod 600 it"
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bad_reload_keeps_the_old_table() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("auth.toml");
        let token = |name: &str, secret: &str| {
            format!("[[token]]\nname = \"{name}\"\nsecret = \"{secret}\"\nrole = \"read\"\n")
        };
        std::fs::write(&path, token("a", "secret-a-0123456789")).unwrap();
        let guard = Guard::load(&path, None).unwrap();
        assert!(guard.table().lookup("secret-a-0123456789").is_some());

        std::fs::write(&path, "this is not toml [").unwrap();
        assert!(guard.reload().is_err());
        assert!(guard.table().lookup("secret-a-0123456789").is_some());

        let both = token("a", "secret-a-0123456789") + &token("b", "secret-b-0123456789");
        std::fs::write(&path, both).unwrap();
        assert_eq!(guard.reload(), Ok(2));
        assert!(guard.table().lookup("secret-b-0123456789").is_some());
    }
}
