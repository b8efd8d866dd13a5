//! One daemon per root: an exclusive lock on `<root>/locks/berthd.lock`, held for the
//! daemon's life, with its pid written in the file so that a second daemon can say who
//! holds the root.

use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, Write};
use std::path::PathBuf;

use rustix::fs::{flock, FlockOperation};

#[derive(Debug, thiserror::Error)]
pub enum DaemonLockError {
    #[error("another berthd (pid {pid}) is running on root {root}")]
    Held { pid: String, root: PathBuf },
    #[error("cannot lock {path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
}

impl DaemonLockError {
    pub fn kind(&self) -> berth_common::ErrorKind {
        match self {
            DaemonLockError::Held { .. } => berth_common::ErrorKind::Busy,
            DaemonLockError::Io { .. } => berth_common::ErrorKind::Internal,
        }
    }
}

/// The held lock; the root is free again when it is dropped or the process dies.
#[derive(Debug)]
pub struct DaemonLock {
    _file: File,
}

impl DaemonLock {
    pub fn take(paths: &berth_common::Paths) -> Result<DaemonLock, DaemonLockError> {
        let path = lock_path(paths);
        let io = |source| DaemonLockError::Io {
            path: path.clone(),
            source,
        };
        std::fs::create_dir_all(paths.locks()).map_err(io)?;
        let mut file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .read(true)
            .write(true)
            .open(&path)
            .map_err(io)?;
        match flock(&file, FlockOperation::NonBlockingLockExclusive) {
            Ok(()) => {}
            Err(rustix::io::Errno::WOULDBLOCK) => {
                return Err(DaemonLockError::Held {
                    pid: holder(&mut file),
                    root: paths.root().to_owned(),
                })
            }
            Err(e) => return Err(io(e.into())),
        }
        file.set_len(0).map_err(io)?;
        file.rewind().map_err(io)?;
        writeln!(file, "{}", std::process::id()).map_err(io)?;
        Ok(DaemonLock { _file: file })
    }
}

fn holder(file: &mut File) -> String {
    let mut text = String::new();
    let _ = file.read_to_string(&mut text);
    match text.trim() {
        "" => "unknown".to_string(),
        pid => pid.to_string(),
    }
}

/// Where the lock of a root is.
fn lock_path(paths: &berth_common::Paths) -> PathBuf {
    paths.locks().join("berthd.lock")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_daemon_is_told_who_holds_the_root() {
        let dir = tempfile::tempdir().unwrap();
        let paths = berth_common::Paths::new(dir.path().join("root"), dir.path().join("run"));
        let first = DaemonLock::take(&paths).unwrap();
        let text = std::fs::read_to_string(lock_path(&paths)).unwrap();
        assert_eq!(text.trim(), std::process::id().to_string());
        // flock is per open file description: a second open in the same process conflicts.
        match DaemonLock::take(&paths) {
            Err(DaemonLockError::Held { pid, .. }) => {
                assert_eq!(pid, std::process::id().to_string())
            }
            other => panic!("expected Held, got {other:?}"),
        }
        drop(first);
        DaemonLock::take(&paths).unwrap();
    }
}
