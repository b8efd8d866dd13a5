//! Killing everything in a cgroup without cgroup.kill: freeze (so nothing forks between
//! listing and signalling), SIGKILL every listed pid, thaw (a frozen task cannot die),
//! repeat until the cgroup is empty, bounded by a timeout.

use std::time::{Duration, Instant};

use crate::error::{CgroupError, Result};
use crate::v1::FreezeWith;
use crate::{freeze, CgroupManager};

/// Sends `signal` to each pid; a pid already gone is skipped. Returns how many were sent.
pub fn signal_pids(pids: &[i32], signal: i32) -> Result<usize> {
    let mut sent = 0;
    for &pid in pids {
        if pid <= 0 {
            continue; // never signal a process group or everyone
        }
        // SAFETY: kill(2) takes plain integers and touches no memory of ours; pid > 0
        // names exactly one process.
        let rc = unsafe { libc::kill(pid, signal) };
        if rc == 0 {
            sent += 1;
            continue;
        }
        let err = std::io::Error::last_os_error();
        if err.raw_os_error() != Some(libc::ESRCH) {
            return Err(CgroupError::Signal {
                pid,
                signal,
                source: err,
            });
        }
    }
    Ok(sent)
}

fn set_frozen(with: FreezeWith<'_>, frozen: bool, timeout: Duration) -> Result<()> {
    match (with, frozen) {
        (FreezeWith::V1(dir), true) => freeze::v1_freeze(dir, timeout),
        (FreezeWith::V1(dir), false) => freeze::v1_thaw(dir, timeout),
        (FreezeWith::V2(dir), f) => freeze::v2_set(dir, f, timeout),
    }
}

/// The freeze–kill–thaw loop. Without a freezer it signals without freezing.
pub fn kill_loop(
    manager: &dyn CgroupManager,
    freezer: Option<FreezeWith<'_>>,
    timeout: Duration,
) -> Result<()> {
    let start = Instant::now();
    let step = Duration::from_secs(1).min(timeout);
    loop {
        let frozen = match freezer {
            // A cgroup that will not freeze (e.g. a task in uninterruptible sleep) is
            // still signalled: SIGKILL is queued and acts when the task wakes.
            Some(with) => set_frozen(with, true, step).is_ok(),
            None => false,
        };
        let pids = manager.procs();
        let signalled = match &pids {
            Ok(p) => signal_pids(p, libc::SIGKILL).map(|_| ()),
            Err(_) => Ok(()),
        };
        if let Some(with) = freezer {
            // Thaw even after a failed freeze (v1 may be left FREEZING): a frozen task
            // cannot act on SIGKILL.
            let thawed = set_frozen(with, false, step);
            if frozen {
                thawed?;
            }
        }
        let pids = pids?;
        signalled?;
        if pids.is_empty() {
            return Ok(());
        }
        if start.elapsed() >= timeout {
            return Err(CgroupError::Timeout {
                what: format!("processes {pids:?} to die"),
                path: manager.dirs().into_iter().next().unwrap_or_default(),
                waited_ms: start.elapsed().as_millis(),
            });
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}
