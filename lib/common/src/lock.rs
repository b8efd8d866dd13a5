//! Advisory file locks (flock) so that several berth processes can share one store.
//! A lock is released when its `FileLock` is dropped or the process dies, so a crash
//! never leaves a store locked.

use std::fs::{File, OpenOptions};
use std::path::{Path, PathBuf};

use rustix::fs::{flock, FlockOperation};

#[derive(Debug, thiserror::Error)]
pub enum LockError {
    #[error("cannot open lock file {path}: {source}")]
    Open {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot lock {path}: {source}")]
    Lock {
        path: PathBuf,
        source: std::io::Error,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LockMode {
    /// Many holders at once: work that adds to the store.
    Shared,
    /// One holder: work that removes from the store.
    Exclusive,
}

/// A held flock on a file; dropping it unlocks.
#[derive(Debug)]
pub struct FileLock {
    _file: File,
    path: PathBuf,
}

impl FileLock {
    /// Blocks until the lock on `path` is held, creating the file (and its directory) if needed.
    pub fn acquire(path: &Path, mode: LockMode) -> Result<FileLock, LockError> {
        Ok(Self::take(path, mode, true)?.expect("a blocking lock is always taken"))
    }

    /// The lock if it can be had now; `None` when someone else holds it in a mode that
    /// excludes `mode`.
    pub fn try_acquire(path: &Path, mode: LockMode) -> Result<Option<FileLock>, LockError> {
        Self::take(path, mode, false)
    }

    fn take(path: &Path, mode: LockMode, wait: bool) -> Result<Option<FileLock>, LockError> {
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).map_err(|source| LockError::Open {
                path: path.to_owned(),
                source,
            })?;
        }
        let file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(path)
            .map_err(|source| LockError::Open {
                path: path.to_owned(),
                source,
            })?;
        let op = match (mode, wait) {
            (LockMode::Shared, true) => FlockOperation::LockShared,
            (LockMode::Exclusive, true) => FlockOperation::LockExclusive,
            (LockMode::Shared, false) => FlockOperation::NonBlockingLockShared,
            (LockMode::Exclusive, false) => FlockOperation::NonBlockingLockExclusive,
        };
        loop {
            match flock(&file, op) {
                Ok(()) => break,
                Err(rustix::io::Errno::INTR) => continue,
                Err(rustix::io::Errno::WOULDBLOCK) if !wait => return Ok(None),
                Err(e) => {
                    return Err(LockError::Lock {
                        path: path.to_owned(),
                        source: e.into(),
                    });
                }
            }
        }
        Ok(Some(FileLock {
            _file: file,
            path: path.to_owned(),
        }))
    }

    pub fn path(&self) -> &Path {
        &self.path
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exclusive_lock_excludes_a_second_holder() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("l");
        let held = FileLock::acquire(&path, LockMode::Exclusive).unwrap();
        let other = File::open(&path).unwrap();
        let try_again = flock(&other, FlockOperation::NonBlockingLockShared);
        assert_eq!(try_again, Err(rustix::io::Errno::WOULDBLOCK));
        drop(held);
        assert!(flock(&other, FlockOperation::NonBlockingLockShared).is_ok());
    }

    #[test]
    fn shared_locks_coexist() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("l");
        let _a = FileLock::acquire(&path, LockMode::Shared).unwrap();
        let _b = FileLock::acquire(&path, LockMode::Shared).unwrap();
    }

    #[test]
    fn try_acquire_says_none_while_another_holds_it() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("l");
        let shared = FileLock::acquire(&path, LockMode::Shared).unwrap();
        assert!(FileLock::try_acquire(&path, LockMode::Shared)
            .unwrap()
            .is_some());
        assert!(FileLock::try_acquire(&path, LockMode::Exclusive)
            .unwrap()
            .is_none());
        drop(shared);
        assert!(FileLock::try_acquire(&path, LockMode::Exclusive)
            .unwrap()
            .is_some());
    }
}
