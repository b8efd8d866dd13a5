//! The directory a file operation works in, as an fd: a running container's root as its
//! own mount namespace shows it (`/proc/PID/root`: its volumes, binds and tmpfs mounts
//! included), or a stopped container's overlay mounted detached for the operation (gone
//! when the fd closes); a never-started one's image layers, with the upper dir its first
//! start will use when the operation writes. Every path below it is resolved with `open_in_root`, so nothing a
//! container holds (symlinks to `/`, `..`) leads to the host.

use std::os::fd::OwnedFd;
use std::path::PathBuf;

use berth_api::BackendError;
use berth_common::{registry, ContainerId, Paths};
use berth_rootfs::detached::{detached_overlay, DetachedLayers};
use berth_runtime::state::RunState;
use rustix::fs::{open, Mode, OFlags};

use crate::container_ops::no_such_container;

/// Which tree an operation sees.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum View {
    /// `docker cp`: the container's mounts included while it runs.
    Mounts,
    /// `docker export`: the overlay alone.
    Rootfs,
}

/// An opened container root.
pub struct Root {
    pub fd: OwnedFd,
    pub id: ContainerId,
    /// The container's upper dir, when it has one (for `docker diff`).
    pub upper: Option<PathBuf>,
    /// Its image's layers, lowest first.
    pub layers: Vec<PathBuf>,
    /// Mount targets berth itself made in the rootfs (hidden from `docker diff`).
    pub mount_targets: Vec<String>,
}

fn internal(what: impl std::fmt::Display) -> BackendError {
    BackendError::internal(what.to_string())
}

/// The registered container `reference` names.
pub fn resolve(paths: &Paths, reference: &str) -> Result<ContainerId, BackendError> {
    let id = match registry::resolve(paths, reference) {
        Ok(id) => id,
        Err(registry::RegistryError::NotFound(_)) => return Err(no_such_container(reference)),
        Err(e) => return Err(BackendError::new(e.kind(), e.to_string())),
    };
    match registry::identity(paths, &id) {
        Ok(Some(_)) => Ok(id),
        Ok(None) => Err(no_such_container(reference)),
        Err(e) => Err(BackendError::new(e.kind(), e.to_string())),
    }
}

fn open_dir(path: &std::path::Path) -> Result<OwnedFd, BackendError> {
    open(
        path,
        OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC,
        Mode::empty(),
    )
    .map_err(|e| internal(format!("opening {}: {e}", path.display())))
}

/// Opens the root of container `reference`; `write`: the operation changes files.
pub fn open_root(
    paths: &Paths,
    reference: &str,
    view: View,
    write: bool,
) -> Result<Root, BackendError> {
    let id = resolve(paths, reference)?;
    let rootfs = berth_rootfs::state::read_state(paths, &id).map_err(internal)?;
    let run = RunState::read(paths, &id).ok().flatten();
    let (upper, layers, mount_targets) = match &rootfs {
        Some(state) => (
            Some(state.rootfs.upper.clone()),
            state.layers.clone(),
            state
                .rootfs
                .mounts
                .iter()
                .map(|m| m.target.clone())
                .collect(),
        ),
        None => (None, image_layers(paths, &id)?, Vec::new()),
    };
    let root = |fd| Root {
        fd,
        id: id.clone(),
        upper: upper.clone(),
        layers: layers.clone(),
        mount_targets: mount_targets.clone(),
    };
    if let Some(run) = run.filter(RunState::is_running) {
        let fd = match (view, &rootfs) {
            (View::Rootfs, Some(state)) => open_dir(&state.rootfs.path)?,
            _ => open_dir(&PathBuf::from(format!("/proc/{}/root", run.pid)))?,
        };
        // The pid could have been reused between the check and the open: look again.
        if !run.is_running() {
            return Err(BackendError::conflict(format!(
                "Container {} stopped during the operation; try again",
                id.as_str()
            )));
        }
        return Ok(root(fd));
    }
    let Some(state) = rootfs else {
        if write {
            // docker lets `cp` write into a container never started: the files go to the
            // upper dir its first start mounts over the image.
            let (upper, work) = berth_rootfs::setup::pre_start_dirs(paths, &id)
                .map_err(|e| BackendError::new(e.kind(), e.to_string()))?;
            let fd = detached(DetachedLayers::Writable {
                layers: &layers,
                upper: &upper,
                work: &work,
            })?;
            return Ok(Root {
                upper: Some(upper),
                ..root(fd)
            });
        }
        // What a `cp` put in before the first start lies over the image.
        let copied = berth_rootfs::setup::pre_start_upper(paths, &id);
        let top_first: Vec<PathBuf> = copied.iter().chain(layers.iter().rev()).cloned().collect();
        return match top_first.as_slice() {
            [] => Err(internal(format!(
                "container {}: its image has no layers",
                id.as_str()
            ))),
            [only] => Ok(root(open_dir(only)?)),
            many => Ok(Root {
                upper: copied.clone(),
                ..root(detached(DetachedLayers::ReadOnly(many))?)
            }),
        };
    };
    let fd = if write {
        detached(DetachedLayers::Writable {
            layers: &state.layers,
            upper: &state.rootfs.upper,
            work: &state.rootfs.work,
        })?
    } else {
        let mut top_first = vec![state.rootfs.upper.clone()];
        top_first.extend(state.layers.iter().rev().cloned());
        detached(DetachedLayers::ReadOnly(&top_first))?
    };
    Ok(root(fd))
}

fn detached(layers: DetachedLayers<'_>) -> Result<OwnedFd, BackendError> {
    detached_overlay(layers).map_err(|e| BackendError::new(e.kind(), e.to_string()))
}

/// The layers of the image a never-started container was created from.
fn image_layers(paths: &Paths, id: &ContainerId) -> Result<Vec<PathBuf>, BackendError> {
    let file = paths.container_dir(id).join("create.json");
    let created: serde_json::Value = berth_common::json_file::read_if_exists(&file)
        .map_err(internal)?
        .ok_or_else(|| {
            BackendError::conflict(format!(
                "Container {} has no filesystem (it was made by a stage and never set up)",
                id.as_str()
            ))
        })?;
    let image = created
        .get("image_id")
        .and_then(|v| v.as_str())
        .ok_or_else(|| internal(format!("{}: no image_id", file.display())))?;
    let store = berth_image::Store::open(paths.clone()).map_err(internal)?;
    let info = store.resolve(image).map_err(internal)?;
    Ok(store.record(&info, None).map_err(internal)?.image.layers)
}
