//! Uninstalling berth's cgroups: the parent cgroup (`berth`) that [`crate::create`] makes at
//! the root of every hierarchy stays when its last container goes (the next container
//! reuses it and its pids cap). [`reset`] removes it everywhere, and refuses, touching
//! nothing, while any hierarchy still holds a container cgroup or a process in it.

use std::path::{Path, PathBuf};

use crate::detect::{Mode, UNIFIED, V1_CONTROLLERS};
use crate::error::{CgroupError, Result};
use crate::{fs, HostConfig};

/// What a [`reset`] found and did.
#[derive(Debug, Default, Clone, PartialEq, Eq, serde::Serialize)]
pub struct ResetReport {
    /// Parent cgroups removed (one per hierarchy that had one).
    pub removed: Vec<PathBuf>,
}

/// The parent cgroup's directory in every hierarchy of the host's layout, whether or not it
/// exists.
pub(crate) fn parent_dirs(config: &HostConfig) -> Result<Vec<PathBuf>> {
    let parent = config.parent_components()?.join("/");
    Ok(match config.mode()? {
        Mode::V2 => vec![config.root.join(&parent)],
        mode => {
            let mut dirs: Vec<PathBuf> = V1_CONTROLLERS
                .iter()
                .map(|ctrl| config.root.join(ctrl).join(&parent))
                .collect();
            if mode == Mode::Hybrid {
                dirs.push(config.root.join(UNIFIED).join(&parent));
            }
            dirs
        }
    })
}

/// Removes the parent cgroup from every hierarchy. Refused with
/// [`CgroupError::ParentInUse`] (nothing removed) while a container cgroup or a process
/// remains under it; a parent that is absent is skipped. Only the last component of a
/// nested `--cgroup-parent` (`a/b`: `b`) is removed: the ones above may not be berth's.
pub fn reset(config: &HostConfig) -> Result<ResetReport> {
    let existing: Vec<PathBuf> = parent_dirs(config)?
        .into_iter()
        .filter(|dir| dir.is_dir())
        .collect();
    for dir in &existing {
        check_unused(dir)?;
    }
    let mut report = ResetReport::default();
    for dir in existing {
        match rustix::fs::rmdir(&dir) {
            Ok(()) => report.removed.push(dir),
            // Removed by someone else meanwhile.
            Err(rustix::io::Errno::NOENT) => {}
            Err(e) => {
                return Err(CgroupError::Remove {
                    path: dir,
                    source: e.into(),
                })
            }
        }
    }
    Ok(report)
}

/// Errors unless `dir` has neither child cgroups (containers) nor processes of its own.
fn check_unused(dir: &Path) -> Result<()> {
    let read_err = |source| CgroupError::Read {
        path: dir.to_path_buf(),
        source,
    };
    let mut children: Vec<String> = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(read_err)? {
        let entry = entry.map_err(read_err)?;
        if entry.file_type().map_err(read_err)?.is_dir() {
            children.push(entry.file_name().to_string_lossy().into_owned());
        }
    }
    let pids = fs::read_pids(&dir.join("cgroup.procs"))?;
    if children.is_empty() && pids.is_empty() {
        return Ok(());
    }
    children.sort();
    Err(CgroupError::ParentInUse {
        path: dir.to_path_buf(),
        children,
        pids,
    })
}
