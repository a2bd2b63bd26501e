//! `raftorch dev --auth`: an auth file with fresh `admin`, `write` and `read` tokens in the
//! dev cluster's data directory, for every node to load.

use std::io::Write as _;
use std::path::{Path, PathBuf};

/// The tokens written, by role.
#[derive(Debug)]
pub(crate) struct DevTokens {
    /// Where the file is.
    pub(crate) path: PathBuf,
    /// The `admin` token's secret.
    pub(crate) admin: String,
}

/// A fresh secret: 32 bytes from the OS's random source, hex.
pub(crate) fn new_secret() -> Result<String, String> {
    let mut bytes = [0u8; 32];
    getrandom::getrandom(&mut bytes).map_err(|e| format!("no randomness for a token: {e}"))?;
    Ok(bytes.iter().map(|b| format!("{b:02x}")).collect())
}

/// Writes `dir/auth.toml` (owner-only) with an `admin`, a `write` and a `read` token.
pub(crate) fn write(dir: &Path) -> Result<DevTokens, String> {
    std::fs::create_dir_all(dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    let path = dir.join("auth.toml");
    let mut text = String::from(
        "# raftorch dev --auth: the tokens of this dev cluster (send one as \
         Authorization: Bearer <secret>).\n",
    );
    let mut admin = String::new();
    for role in ["admin", "write", "read"] {
        let secret = new_secret()?;
        text.push_str(&format!(
            "\n[[token]]\nname = \"dev-{role}\"\nsecret = \"{secret}\"\nrole = \"{role}\"\n"
        ));
        if role == "admin" {
            admin = secret;
        }
    }
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options
        .open(&path)
        .map_err(|e| format!("cannot write {}: {e}", path.display()))?;
    file.write_all(text.as_bytes())
        .and_then(|()| file.sync_all())
        .map_err(|e| format!("cannot write {}: {e}", path.display()))?;
    Ok(DevTokens { path, admin })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::{Role, TokenTable};

    #[test]
    fn the_dev_file_loads_with_three_roles() {
        let dir = tempfile::tempdir().unwrap();
        let tokens = write(dir.path()).unwrap();
        let table = TokenTable::load(&tokens.path).unwrap();
        assert_eq!(table.len(), 3);
        assert_eq!(table.lookup(&tokens.admin).unwrap().role, Role::Admin);
        assert_ne!(new_secret().unwrap(), new_secret().unwrap());
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&tokens.path)
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o077, 0, "readable by others: {mode:o}");
    }
}
