//! The `CgroupManager` trait: what can be done to an existing container cgroup, with a v1
//! (also hybrid) and a v2 implementation built from the record's `CgroupPart` alone.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::time::Duration;

use berth_common::CgroupPart;

use crate::detect::{Mode, UNIFIED};
use crate::error::{CgroupError, Result};
use crate::freeze::FreezerState;
use crate::stats::{OomReport, Stats};
use crate::{fs, v1, v2};

pub trait CgroupManager {
    fn mode(&self) -> Mode;
    /// Every cgroup directory of the container (one per hierarchy).
    fn dirs(&self) -> Vec<PathBuf>;
    fn place(&self, pid: u32) -> Result<()>;
    fn stats(&self) -> Result<Stats>;
    fn oom(&self) -> Result<OomReport>;
    fn freeze(&self, timeout: Duration) -> Result<()>;
    fn thaw(&self, timeout: Duration) -> Result<()>;
    fn freezer_state(&self) -> Result<FreezerState>;
    fn kill_all(&self, timeout: Duration) -> Result<()>;

    /// Union of cgroup.procs over all hierarchies, sorted.
    fn procs(&self) -> Result<Vec<i32>> {
        let mut all = BTreeSet::new();
        for dir in self.dirs() {
            all.extend(fs::read_pids(&dir.join("cgroup.procs"))?);
        }
        Ok(all.into_iter().collect())
    }

    /// rmdir of every directory (deepest first); absent is success, EBUSY retried until
    /// `timeout`; errors collected.
    fn remove(&self, timeout: Duration) -> Result<()> {
        let mut dirs = self.dirs();
        dirs.sort_by_key(|d| std::cmp::Reverse(d.components().count()));
        let mut errors = berth_common::ErrorList::new();
        for dir in dirs {
            errors.check(fs::rmdir(&dir, timeout));
        }
        errors.finish(CgroupError::Many)
    }
}

fn check_absolute(path: &Path) -> Result<()> {
    let ok = path.is_absolute()
        && path
            .components()
            .all(|c| !matches!(c, std::path::Component::ParentDir));
    if !ok {
        return Err(CgroupError::Invalid {
            what: "cgroup path in the record".into(),
            reason: format!("{} is not an absolute path without ..", path.display()),
        });
    }
    Ok(())
}

/// The manager for a recorded cgroup.
pub fn manager(part: &CgroupPart) -> Result<Box<dyn CgroupManager>> {
    let mode = Mode::parse(&part.mode)?;
    for path in part.paths.values() {
        check_absolute(path)?;
    }
    match mode {
        Mode::V2 => {
            let dir = part
                .paths
                .get(UNIFIED)
                .ok_or_else(|| CgroupError::MissingPath {
                    key: UNIFIED.into(),
                    mode: part.mode.clone(),
                })?;
            Ok(Box::new(v2::V2Manager { dir: dir.clone() }))
        }
        Mode::V1 | Mode::Hybrid => {
            let mut paths = part.paths.clone();
            let unified = paths.remove(UNIFIED);
            Ok(Box::new(v1::V1Manager {
                mode,
                paths,
                unified,
            }))
        }
    }
}
