//! Work in progress under `tmp/`, removed on drop unless persisted into place.

use std::path::{Path, PathBuf};

use crate::error::{ImageError, Result};

#[derive(Debug)]
pub struct TempPath {
    path: Option<PathBuf>,
}

impl TempPath {
    /// A fresh name under `tmp`; nothing is created yet.
    pub fn new_file(tmp: &Path, kind: &str) -> Result<TempPath> {
        let name = format!(
            "{kind}-{}-{:016x}",
            std::process::id(),
            rand::random::<u64>()
        );
        Ok(TempPath {
            path: Some(tmp.join(name)),
        })
    }

    /// A fresh, empty directory under `tmp`.
    pub fn new_dir(tmp: &Path, kind: &str) -> Result<TempPath> {
        let temp = TempPath::new_file(tmp, kind)?;
        std::fs::create_dir(temp.path()).map_err(|e| ImageError::io(temp.path(), e))?;
        Ok(temp)
    }

    pub fn path(&self) -> &Path {
        self.path.as_deref().expect("temp path used after persist")
    }

    /// Renames into place. Fails if `dest` is a non-empty directory.
    pub fn persist(mut self, dest: &Path) -> Result<()> {
        let path = self.path.take().expect("temp path persisted twice");
        std::fs::rename(&path, dest).map_err(|e| {
            remove(&path);
            ImageError::io(dest, e)
        })
    }
}

impl Drop for TempPath {
    fn drop(&mut self) {
        if let Some(path) = self.path.take() {
            remove(&path);
        }
    }
}

/// Best-effort removal; `remove_dir_all` never follows symlinks out of the tree.
fn remove(path: &Path) {
    let result = match std::fs::symlink_metadata(path) {
        Ok(meta) if meta.is_dir() => std::fs::remove_dir_all(path),
        Ok(_) => std::fs::remove_file(path),
        Err(_) => return,
    };
    if let Err(e) = result {
        tracing::warn!(path = %path.display(), error = %e, "cannot remove temporary data");
    }
}
