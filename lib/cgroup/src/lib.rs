//! cgroup placement, limits, stats, freeze and kill on cgroup v1, v2 and hybrid hosts.
//!
//! Containers live under a parent cgroup at the ROOT of each hierarchy
//! (`<root>/<ctrl>/<parent>/<id>` on v1 and hybrid, `<root>/<parent>/<id>` on v2), never
//! relative to the caller's own cgroup. [`create`] makes them and returns the
//! [`CgroupPart`] for the container record; every other operation works from that part
//! alone, so another process can stats, freeze, kill or tear down a container from its
//! record.

pub mod detect;
pub mod devices;
pub mod error;
pub mod freeze;
pub mod fs;
pub mod io;
pub mod kill;
pub mod limits;
pub mod manager;
pub mod request;
pub mod reset;
pub mod stats;
pub mod v1;
pub mod v2;

use std::path::PathBuf;
use std::time::Duration;

use berth_common::{CgroupPart, Limits};

pub use detect::{detect, Mode};
pub use error::{CgroupError, Result};
pub use freeze::FreezerState;
pub use manager::{manager, CgroupManager};
pub use reset::{reset, ResetReport};
pub use stats::{OomReport, Stats};

/// Default name of the parent cgroup.
pub const DEFAULT_PARENT: &str = "berth";
/// Default pids cap of the parent cgroup (all containers together).
pub const DEFAULT_PARENT_PIDS_MAX: i64 = 8192;
/// Default cgroupfs root.
pub const DEFAULT_ROOT: &str = "/sys/fs/cgroup";

/// Host-level settings: where cgroupfs is, the parent cgroup and its cap.
#[derive(Debug, Clone)]
pub struct HostConfig {
    /// The cgroupfs root (`/sys/fs/cgroup`); a fake tree in tests.
    pub root: PathBuf,
    /// Parent cgroup name, relative to the root of each hierarchy (`berth`).
    pub parent: String,
    /// pids.max of the parent; 0 or less leaves it unlimited.
    pub parent_pids_max: i64,
    /// The layout; `None` detects it from `root`.
    pub mode: Option<Mode>,
    /// Install the device filter (v1 devices.deny/allow, v2 BPF program). Fake trees turn
    /// it off (a BPF program cannot attach to a plain directory).
    pub device_filter: bool,
}

impl Default for HostConfig {
    fn default() -> Self {
        HostConfig {
            root: PathBuf::from(DEFAULT_ROOT),
            parent: DEFAULT_PARENT.to_string(),
            parent_pids_max: DEFAULT_PARENT_PIDS_MAX,
            mode: None,
            device_filter: true,
        }
    }
}

impl HostConfig {
    pub fn mode(&self) -> Result<Mode> {
        match self.mode {
            Some(mode) => Ok(mode),
            None => detect(&self.root),
        }
    }

    /// The parent's path components, checked: relative, no `.` or `..`.
    pub fn parent_components(&self) -> Result<Vec<String>> {
        let parts: Vec<String> = self
            .parent
            .split('/')
            .filter(|p| !p.is_empty())
            .map(str::to_string)
            .collect();
        if parts.is_empty() || parts.iter().any(|p| p == "." || p == "..") {
            return Err(CgroupError::Invalid {
                what: "cgroup parent".into(),
                reason: format!("{:?} must be a name like berth or a/b", self.parent),
            });
        }
        Ok(parts)
    }
}

/// Default wait for freezing, killing and removal.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);

pub(crate) fn check_id(id: &str) -> Result<()> {
    if id.is_empty() || id == "." || id == ".." || id.contains('/') || id.contains('\0') {
        return Err(CgroupError::Invalid {
            what: "container id".into(),
            reason: format!("{id:?} cannot name a cgroup"),
        });
    }
    Ok(())
}

/// Creates the container's cgroups with its limits (Docker's defaults filled in) and
/// returns the record part.
pub fn create(config: &HostConfig, id: &str, limits: &Limits) -> Result<CgroupPart> {
    check_id(id)?;
    let limits = limits::effective(limits)?;
    // A termination signal waits until the cgroups are whole or undone (`not_interrupted`).
    let _setup_first = berth_common::TerminationBlocked::new();
    match config.mode()? {
        Mode::V2 => v2::create(config, id, &limits),
        mode => v1::create(config, mode, id, &limits),
    }
}

/// The last step of `create`: a termination signal that came meanwhile fails it, so that
/// what was made is undone instead of left behind by a killed process.
pub(crate) fn not_interrupted() -> Result<()> {
    match berth_common::signal_block::take_pending() {
        Some(signal) => Err(CgroupError::Interrupted { signal }),
        None => Ok(()),
    }
}

/// The part [`create`] makes for container `id` under `config`'s parent, built from the
/// layout alone: for `down --id` after a crash that left no record.
pub fn part_for(config: &HostConfig, id: &str) -> Result<CgroupPart> {
    check_id(id)?;
    let parent = config.parent_components()?.join("/");
    let mode = config.mode()?;
    let mut paths = std::collections::BTreeMap::new();
    match mode {
        Mode::V2 => {
            paths.insert(
                detect::UNIFIED.to_string(),
                config.root.join(&parent).join(id),
            );
        }
        mode => {
            for &ctrl in detect::V1_CONTROLLERS {
                let hierarchy = config.root.join(ctrl);
                if hierarchy.is_dir() {
                    paths.insert(ctrl.to_string(), hierarchy.join(&parent).join(id));
                }
            }
            if mode == Mode::Hybrid {
                let unified = config.root.join(detect::UNIFIED);
                paths.insert(detect::UNIFIED.to_string(), unified.join(&parent).join(id));
            }
        }
    }
    Ok(CgroupPart {
        mode: mode.as_str().to_string(),
        paths,
        limits: Limits::default(),
    })
}

/// Puts `pid` in the container's cgroup in every hierarchy.
pub fn place(part: &CgroupPart, pid: u32) -> Result<()> {
    manager(part)?.place(pid)
}

pub fn stats(part: &CgroupPart) -> Result<Stats> {
    manager(part)?.stats()
}

pub fn oom_killed(part: &CgroupPart) -> Result<OomReport> {
    manager(part)?.oom()
}

pub fn freeze(part: &CgroupPart, timeout: Duration) -> Result<()> {
    manager(part)?.freeze(timeout)
}

pub fn thaw(part: &CgroupPart, timeout: Duration) -> Result<()> {
    manager(part)?.thaw(timeout)
}

/// Pids in the container's cgroups (all hierarchies).
pub fn procs(part: &CgroupPart) -> Result<Vec<i32>> {
    manager(part)?.procs()
}

/// SIGKILLs every process until the cgroups are empty, or fails after `timeout`.
pub fn kill_all(part: &CgroupPart, timeout: Duration) -> Result<()> {
    manager(part)?.kill_all(timeout)
}

/// Sends `signal` once to every process; returns how many were signalled.
pub fn signal_all(part: &CgroupPart, signal: i32) -> Result<usize> {
    kill::signal_pids(&manager(part)?.procs()?, signal)
}

/// Removes the (empty) container cgroups; already gone is success.
pub fn remove(part: &CgroupPart, timeout: Duration) -> Result<()> {
    manager(part)?.remove(timeout)
}

/// Kills whatever is left and removes the cgroups: every step runs, and every failure is
/// reported together. SIGINT, SIGTERM and SIGHUP wait until it is done. Cgroups already
/// gone are not an error, so it can run again, or after a crash of `create`.
pub fn down(part: &CgroupPart, timeout: Duration) -> Result<()> {
    let _finish_first = berth_common::TerminationBlocked::new();
    let manager = manager(part)?;
    let mut errors = berth_common::ErrorList::new();
    errors.check(manager.kill_all(timeout));
    match manager.remove(timeout) {
        // One list, not a list inside a list.
        Err(CgroupError::Many(inner)) => errors.extend(inner),
        other => {
            errors.check(other);
        }
    }
    errors.finish(CgroupError::Many)
}

/// Removes the parent cgroup in every hierarchy if it is empty (no containers left);
/// a busy or absent parent is left alone and is not an error.
pub fn remove_parent_if_empty(config: &HostConfig) -> Result<()> {
    for dir in reset::parent_dirs(config)? {
        match rustix::fs::rmdir(&dir) {
            Ok(()) | Err(rustix::io::Errno::NOENT) | Err(rustix::io::Errno::BUSY) => {}
            Err(rustix::io::Errno::NOTEMPTY) => {}
            Err(e) => {
                return Err(CgroupError::Remove {
                    path: dir,
                    source: e.into(),
                })
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod fake_tests;
