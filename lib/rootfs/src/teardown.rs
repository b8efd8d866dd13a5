//! `down`: unmount a container's rootfs (also after a crash, from mountinfo), and with
//! `remove` delete its upper/work dirs, its state and its anonymous volumes.

use std::path::{Path, PathBuf};

use berth_common::{MountKind, Paths, RootfsPart};

use crate::error::{io_err, Result, RootfsError};
use crate::mountinfo::{mounts_under, unmount_all_under};
use crate::state::{check_id, container_dir, read_state, rootfs_path};
use crate::volumes::{read_info, remove_volume};

/// What `down` did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DownReport {
    /// Mounts removed (0 when nothing was mounted).
    pub unmounted: usize,
    /// The container's directory was deleted.
    pub removed: bool,
    /// Anonymous volumes deleted.
    pub volumes_removed: Vec<String>,
}

/// Unmounts container `id`'s rootfs: whatever is mounted at the path the record (`rootfs`),
/// the state file or the default layout names, and below it. With `remove`, also deletes
/// `<root>/containers/<id>` (upper, work, state) and the container's anonymous volumes.
pub fn down(
    paths: &Paths,
    id: &str,
    rootfs: Option<&RootfsPart>,
    remove: bool,
) -> Result<DownReport> {
    let id = &check_id(id)?;
    let _lock = berth_common::registry::lock(paths)?;
    let state = read_state(paths, id)?;
    // Berth's own state first; a record from stdin is trusted only as far as it agrees
    // with the layout (a record naming `/` as its rootfs must not unmount the host).
    let part = state.as_ref().map(|s| &s.rootfs).or(rootfs);
    let mut points: Vec<PathBuf> = vec![rootfs_path(paths, id)];
    let own = paths.container_run_dir(id);
    let own_real = std::fs::canonicalize(paths.run_dir())
        .map(|r| Paths::new(paths.root(), r).container_run_dir(id))
        .unwrap_or_else(|_| own.clone());
    if let Some(p) = part {
        let inside = p.path.starts_with(&own) || p.path.starts_with(&own_real);
        if inside && !points.contains(&p.path) {
            points.push(p.path.clone());
        } else if !inside {
            tracing::warn!(
                "ignoring rootfs path {} outside {}",
                p.path.display(),
                own.display()
            );
        }
    }
    // mountinfo names resolved paths; a run dir behind a symlink must still match.
    for point in points.clone() {
        if let Ok(real) = std::fs::canonicalize(&point) {
            if !points.contains(&real) {
                points.push(real);
            }
        }
    }
    let mut report = DownReport::default();
    for point in &points {
        report.unmounted += unmount_all_under(point)?;
        remove_empty_dir(point)?;
    }
    // `<run-dir>/containers/<id>` if nothing else is left in it.
    if let Some(parent) = rootfs_path(paths, id).parent() {
        let _ = std::fs::remove_dir(parent);
    }
    if !remove {
        return Ok(report);
    }
    let anonymous: Vec<String> = part
        .map(|p| {
            p.mounts
                .iter()
                .filter(|m| m.kind == MountKind::Volume && m.anonymous)
                .filter_map(|m| m.volume.clone())
                .collect()
        })
        .unwrap_or_default();
    let dir = container_dir(paths, id);
    if dir.exists() {
        refuse_if_mounted(&dir)?;
        std::fs::remove_dir_all(&dir).map_err(io_err("removing", &dir))?;
        report.removed = true;
    }
    for name in anonymous {
        // Only volumes that were made anonymous: a record cannot make berth delete a
        // named volume by calling it anonymous.
        if read_info(paths, &name)?.is_some_and(|v| v.anonymous) {
            remove_volume(paths, &name, true)?;
            report.volumes_removed.push(name);
        }
    }
    Ok(report)
}

/// Fails if anything is mounted at `dir` or below it: deleting it recursively would
/// delete through the mount.
pub fn refuse_if_mounted(dir: &Path) -> Result<()> {
    let found = mounts_under(dir).map_err(io_err("reading", "/proc/self/mountinfo"))?;
    match found.first() {
        None => Ok(()),
        Some(point) => Err(RootfsError::Record(format!(
            "refusing to delete {}: {} is still mounted",
            dir.display(),
            point.display()
        ))),
    }
}

fn remove_empty_dir(dir: &Path) -> Result<()> {
    match std::fs::remove_dir(dir) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(io_err("removing", dir)(e)),
    }
}
