//! The pid file of a network's DNS server. The running server holds an exclusive flock on
//! it, so "a server runs" is "the flock is held" (a pid alone could be stale or recycled),
//! and a server that dies for any reason releases it.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use rustix::fs::{flock, FlockOperation};
use rustix::io::Errno;

use super::DnsError;

/// How long a starting server retries the flock: a prober (`is_running`) holds it shared
/// for an instant.
const LOCK_RETRY: Duration = Duration::from_millis(300);

/// The pid file, locked and holding our pid. Dropping it unlocks (the file stays).
#[derive(Debug)]
pub(crate) struct PidLock {
    file: File,
    path: PathBuf,
}

impl PidLock {
    /// Takes the exclusive flock on `path` (creating it) and writes our pid. Fails with
    /// `AlreadyRunning` if another server holds it.
    pub(crate) fn acquire(path: &Path, network: &str) -> Result<PidLock, DnsError> {
        let err = |source| DnsError::PidFile {
            path: path.to_owned(),
            source,
        };
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(err)?;
        }
        let deadline = Instant::now() + LOCK_RETRY;
        loop {
            let file = OpenOptions::new()
                .read(true)
                .write(true)
                .create(true)
                .truncate(false)
                .open(path)
                .map_err(err)?;
            match flock(&file, FlockOperation::NonBlockingLockExclusive) {
                Ok(()) => {}
                Err(Errno::INTR) => continue,
                Err(Errno::WOULDBLOCK) if Instant::now() < deadline => {
                    std::thread::sleep(Duration::from_millis(10));
                    continue;
                }
                Err(Errno::WOULDBLOCK) => {
                    return Err(DnsError::AlreadyRunning {
                        network: network.to_string(),
                        pid_file: path.to_owned(),
                        pid: read_pid(path),
                    })
                }
                Err(e) => return Err(err(e.into())),
            }
            // A server going idle removes its pid file: the name may point elsewhere now.
            if !names_file(path, &file) {
                continue;
            }
            file.set_len(0).map_err(err)?;
            (&file)
                .write_all(format!("{}\n", std::process::id()).as_bytes())
                .map_err(err)?;
            return Ok(PidLock {
                file,
                path: path.to_owned(),
            });
        }
    }

    /// Removes the pid file (if it is still ours), then unlocks.
    pub(crate) fn remove(self) {
        if names_file(&self.path, &self.file) {
            if let Err(e) = std::fs::remove_file(&self.path) {
                tracing::warn!(path = %self.path.display(), error = %e, "cannot remove the DNS server's pid file");
            }
        }
    }
}

/// Whether `path` is the file `file` is open on.
fn names_file(path: &Path, file: &File) -> bool {
    match (std::fs::metadata(path), file.metadata()) {
        (Ok(a), Ok(b)) => a.dev() == b.dev() && a.ino() == b.ino(),
        _ => false,
    }
}

/// Whether a server holds `pid_file` (its flock is held).
pub fn is_running(pid_file: &Path) -> bool {
    let Ok(file) = File::open(pid_file) else {
        return false;
    };
    loop {
        match flock(&file, FlockOperation::NonBlockingLockShared) {
            // dropping the file unlocks at once
            Ok(()) => return false,
            Err(Errno::INTR) => continue,
            Err(Errno::WOULDBLOCK) => return true,
            Err(_) => return false,
        }
    }
}

/// The pid written in `pid_file`, if any.
pub(crate) fn read_pid(pid_file: &Path) -> Option<i32> {
    std::fs::read_to_string(pid_file)
        .ok()?
        .trim()
        .parse::<i32>()
        .ok()
        .filter(|pid| *pid > 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_held_pid_file_is_running_and_cannot_be_taken_twice() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("run/dns.pid");
        assert!(!is_running(&path));
        let held = PidLock::acquire(&path, "net1").unwrap();
        assert!(is_running(&path));
        assert_eq!(read_pid(&path), Some(std::process::id() as i32));
        let second = PidLock::acquire(&path, "net1").unwrap_err();
        assert!(
            matches!(second, DnsError::AlreadyRunning { pid: Some(_), .. }),
            "{second}"
        );
        let message = second.to_string();
        assert!(
            message.contains("net1") && message.contains("dns.pid"),
            "{message}"
        );
        held.remove();
        assert!(!path.exists());
        assert!(!is_running(&path));
        // and it can be taken again
        let again = PidLock::acquire(&path, "net1").unwrap();
        drop(again);
        assert!(path.exists(), "dropping without remove leaves the file");
        assert!(!is_running(&path));
    }
}
