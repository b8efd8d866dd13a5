//! `down`: unmount a container's rootfs (also after a crash, from mountinfo), and with
//! `remove` delete its upper/work dirs, its state and its anonymous volumes.

use std::path::{Path, PathBuf};

use berth_common::{ErrorList, MountKind, Paths, RootfsPart};

use crate::error::{io_err, Result, RootfsError};
use crate::mountinfo::{mounts, points_under, unmount_all_under_each, MountInfo};
use crate::state::{check_id, container_dir, read_state, rootfs_path};
use crate::volumes::{list_volumes, read_info, remove_volume};

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
///
/// Every step runs even when an earlier one failed, and the failures come back together;
/// what is already gone is not an error, so `down` can run again, or after a crash at any
/// step of `setup`. SIGINT, SIGTERM and SIGHUP wait until it is done.
pub fn down(
    paths: &Paths,
    id: &str,
    rootfs: Option<&RootfsPart>,
    remove: bool,
) -> Result<DownReport> {
    down_with(paths, id, rootfs, remove, remove)
}

/// [`down`], where the removal of the container (`remove`) keeps its anonymous volumes
/// unless `remove_volumes`: `docker rm` without `-v`. A volume kept is an unused anonymous
/// volume then, for `volume rm` or `volume prune`.
pub fn down_with(
    paths: &Paths,
    id: &str,
    rootfs: Option<&RootfsPart>,
    remove: bool,
    remove_volumes: bool,
) -> Result<DownReport> {
    let id = &check_id(id)?;
    let _finish_first = berth_common::TerminationBlocked::new();
    let _lock = berth_common::registry::lock(paths)?;
    let mut errors = ErrorList::new();
    // An unreadable state file must not keep the mounts in place: the layout still names them.
    let state = errors.check(read_state(paths, id)).flatten();
    // Berth's own state first; a record from stdin is trusted only as far as it agrees
    // with the layout (a record naming `/` as its rootfs must not unmount the host).
    let part = state.as_ref().map(|s| &s.rootfs).or(rootfs);
    let points = mount_points(paths, id, part);
    let mut report = DownReport::default();
    let points_ref: Vec<&Path> = points.iter().map(PathBuf::as_path).collect();
    // The table left after unmounting serves the check before deleting too: one read fewer.
    let table = errors
        .check(unmount_all_under_each(&points_ref))
        .map(|(count, table)| {
            report.unmounted = count;
            table
        });
    for point in &points {
        errors.check(remove_empty_dir(point));
    }
    // `<run-dir>/containers/<id>` if nothing else is left in it.
    if let Some(parent) = rootfs_path(paths, id).parent() {
        let _ = std::fs::remove_dir(parent);
    }
    if remove {
        let volumes = remove_volumes.then_some(part);
        remove_container(
            paths,
            id,
            volumes,
            table.as_deref(),
            &mut report,
            &mut errors,
        );
    }
    errors.finish(RootfsError::Many).map(|()| report)
}

/// Where the container's rootfs may be mounted: the default layout, the recorded path if it
/// lies inside it, and both as the kernel names them (mountinfo shows resolved paths, so a
/// run dir behind a symlink must still match).
fn mount_points(
    paths: &Paths,
    id: &berth_common::ContainerId,
    part: Option<&RootfsPart>,
) -> Vec<PathBuf> {
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
    for point in points.clone() {
        if let Ok(real) = std::fs::canonicalize(&point) {
            if !points.contains(&real) {
                points.push(real);
            }
        }
    }
    points
}

/// `<root>/containers/<id>` and, with `volumes` (`Some(the rootfs part, if known)`), the
/// container's anonymous volumes; failures go to `errors`.
/// `table`: the mount table as read after the unmounts (None: read it again).
fn remove_container(
    paths: &Paths,
    id: &berth_common::ContainerId,
    volumes: Option<Option<&RootfsPart>>,
    table: Option<&[MountInfo]>,
    report: &mut DownReport,
    errors: &mut ErrorList<RootfsError>,
) {
    let anonymous = match volumes {
        Some(part) => anonymous_volumes(paths, id, part, errors),
        None => Vec::new(),
    };
    let dir = container_dir(paths, id);
    let checked = match table {
        Some(table) => refuse_if_in(&dir, table),
        None => refuse_if_mounted(&dir),
    };
    let removed = checked.and_then(|()| match std::fs::remove_dir_all(&dir) {
        Ok(()) => Ok(true),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(false),
        Err(e) => Err(io_err("removing", &dir)(e)),
    });
    report.removed = errors.check(removed).unwrap_or(false);
    for name in anonymous {
        // Only volumes that were made anonymous: a record cannot make berth delete a
        // named volume by calling it anonymous.
        let Some(info) = errors.check(read_info(paths, &name)) else {
            continue;
        };
        if info.is_some_and(|v| v.anonymous)
            && errors.check(remove_volume(paths, &name, true)).is_some()
        {
            report.volumes_removed.push(name);
        }
    }
}

/// The anonymous volumes of container `id`: those its rootfs part lists, and those made for
/// it before a crash that came ahead of its state.
fn anonymous_volumes(
    paths: &Paths,
    id: &berth_common::ContainerId,
    part: Option<&RootfsPart>,
    errors: &mut ErrorList<RootfsError>,
) -> Vec<String> {
    let mut anonymous: Vec<String> = part
        .map(|p| {
            p.mounts
                .iter()
                .filter(|m| m.kind == MountKind::Volume && m.anonymous)
                .filter_map(|m| m.volume.clone())
                .collect()
        })
        .unwrap_or_default();
    if let Some(all) = errors.check(list_volumes(paths)) {
        for volume in all {
            if volume.container.as_deref() == Some(id) && !anonymous.contains(&volume.name) {
                anonymous.push(volume.name);
            }
        }
    }
    anonymous
}

/// Fails if anything is mounted at `dir` or below it: deleting it recursively would
/// delete through the mount.
pub fn refuse_if_mounted(dir: &Path) -> Result<()> {
    let table = mounts().map_err(io_err("reading", "/proc/self/mountinfo"))?;
    refuse_if_in(dir, &table)
}

/// [`refuse_if_mounted`] against a mount table already read.
fn refuse_if_in(dir: &Path, table: &[MountInfo]) -> Result<()> {
    match points_under(table, &[dir]).first() {
        None => Ok(()),
        Some(point) => Err(RootfsError::StillMounted {
            dir: dir.to_path_buf(),
            mount: point.clone(),
        }),
    }
}

fn remove_empty_dir(dir: &Path) -> Result<()> {
    match std::fs::remove_dir(dir) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(io_err("removing", dir)(e)),
    }
}
