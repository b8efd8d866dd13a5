//! The stage: give the container an id, mount its overlay, make its volumes, pre-create its
//! mountpoints, and describe all of it in the record. On any error everything this call made
//! is undone (unmounted, deleted) before the error is returned.

use std::os::fd::{AsFd, OwnedFd};
use std::path::{Path, PathBuf};

use berth_common::json_file::Durability;
use berth_common::{
    registry, ContainerId, ContainerName, ContainerPart, ContainerRecord, MountKind, Paths,
    RootfsPart,
};
use rustix::fs::{openat, Mode, OFlags, CWD};

use crate::error::{io_err, Result, RootfsError};
use crate::idmap::as_container_root;
use crate::in_root::{open_in_root, Kind};
use crate::overlay::{mount_overlay, mount_overlay_idmapped, Overlay, OverlayMethod};
use crate::plan::{materialize, plan, Planned};
use crate::state::{container_dir, read_state, rootfs_path, write_state, ContainerState};
use crate::{mountinfo, teardown};

/// The stage's flags.
#[derive(Debug, Clone, Default)]
pub struct SetupOptions {
    /// `-v` arguments, as given.
    pub volumes: Vec<String>,
    /// `--tmpfs` arguments, as given.
    pub tmpfs: Vec<String>,
    pub read_only: bool,
    /// `--name` for a container the record does not have yet.
    pub name: Option<ContainerName>,
    pub method: OverlayMethod,
    /// Mount the overlay `volatile` (the container is removed when it stops).
    pub volatile: bool,
    /// The container's user namespace ([`crate::UsernsRequest::resolve`]): the overlay is
    /// mounted over idmapped layers for it, and the record says so.
    pub userns: Option<berth_common::UserNamespace>,
}

/// What to undo if setup fails, in reverse order.
pub(crate) enum Undo {
    Unmount(PathBuf),
    RemoveDir(PathBuf),
    RemoveVolume(String),
    /// A shared parent (`<root>/containers`, `<run-dir>/containers`): only if empty.
    RemoveEmptyDir(PathBuf),
}

pub(crate) struct Rollback<'a> {
    pub(crate) paths: &'a Paths,
    pub(crate) steps: Vec<Undo>,
}

impl Drop for Rollback<'_> {
    fn drop(&mut self) {
        while let Some(step) = self.steps.pop() {
            let result = match &step {
                Undo::Unmount(p) => mountinfo::unmount_all_under(p).map(drop),
                Undo::RemoveDir(p) => teardown::refuse_if_mounted(p).and_then(|()| {
                    std::fs::remove_dir_all(p).or_else(|e| match e.kind() {
                        std::io::ErrorKind::NotFound => Ok(()),
                        _ => Err(io_err("removing", p)(e)),
                    })
                }),
                Undo::RemoveEmptyDir(p) => {
                    let _ = std::fs::remove_dir(p);
                    Ok(())
                }
                Undo::RemoveVolume(name) => {
                    crate::volumes::remove_volume(self.paths, name, true).map(drop)
                }
            };
            if let Err(e) = result {
                tracing::warn!("cleaning up after a failed setup: {e}");
            }
        }
    }
}

/// Runs the stage on `record`: fills `record.container` (if missing) and `record.rootfs`.
pub fn setup(paths: &Paths, record: &mut ContainerRecord, opts: &SetupOptions) -> Result<()> {
    if let Some(rootfs) = &record.rootfs {
        return Err(RootfsError::AlreadySetUp {
            path: rootfs.path.clone(),
        });
    }
    // Everything that can be checked without side effects, first.
    let layers_dir = paths.layers();
    for layer in &record.image.layers {
        if !layer.starts_with(&layers_dir)
            || layer
                .components()
                .any(|c| c == std::path::Component::ParentDir)
        {
            return Err(RootfsError::Layer {
                layer: layer.clone(),
                reason: format!("not a layer of the store at {}", paths.root().display()),
            });
        }
    }
    let mut planned = plan(record, opts)?;
    // A termination signal waits until the setup is whole or undone (`commit`).
    let _setup_first = berth_common::TerminationBlocked::new();
    // Held to the end: a name is taken, and a directory made, by one process at a time.
    let lock = registry::lock(paths)?;
    let container = match &record.container {
        Some(c) => {
            let mut c = c.clone();
            if c.name.is_none() {
                c.name = opts.name.clone();
            }
            c
        }
        None => ContainerPart::new(opts.name.clone()),
    };
    let id = container.id.clone();
    let mut rollback = Rollback {
        paths,
        steps: Vec::new(),
    };

    // Directories.
    if let Some(state) = read_state(paths, &id)? {
        registry::check_name_free(paths, &lock, &container)?;
        return restart(paths, record, state, opts, rollback);
    }
    let cdir = container_dir(paths, &id);
    // A daemon registers a container at create and sets its rootfs up at the first start:
    // the directory then holds the identity (and, after a `docker cp` into it, its upper
    // dir: `pre_start_dirs`), and stays when a setup fails.
    let registered = registry::identity(paths, &id)?.is_some_and(|c| c.id == id);
    if cdir.exists() && !registered {
        return Err(RootfsError::StateExists { id, dir: cdir });
    }
    let (upper, work) = upper_and_work(paths, &id);
    // Files copied in before the first start are the container's: kept, even when this
    // setup fails.
    let copied_in = registered && upper.exists();
    if registered {
        registry::check_name_free(paths, &lock, &container)?;
        if !copied_in {
            rollback.steps.push(Undo::RemoveDir(upper.clone()));
            rollback.steps.push(Undo::RemoveDir(work.clone()));
        }
    } else {
        let containers = paths.containers();
        let made_parent = !containers.exists();
        registry::create(paths, &lock, &container, durability(opts))?;
        if made_parent {
            rollback
                .steps
                .push(Undo::RemoveEmptyDir(containers.clone()));
        }
        rollback.steps.push(Undo::RemoveDir(cdir.clone()));
    }
    mkdir_mode(&upper, 0o755, copied_in)?;
    mkdir_mode(&work, 0o700, copied_in)?;
    let (target, root) = mount_rootfs(
        paths,
        record,
        &id,
        &upper,
        &work,
        (opts.method, opts.volatile, opts.userns.as_ref()),
        &mut rollback,
    )?;
    berth_common::fault::point("mount:overlay");

    // Volumes (seeded from the image), then every mountpoint; none of them at or under
    // /proc through a symlink of the image (`proc_target`).
    for p in &planned {
        crate::proc_target::check_in_root(root.as_fd(), p.target(), p.mount_source())?;
    }
    let mut mounts = Vec::new();
    planned.sort_by_key(|p| depth(p.target()));
    for p in &planned {
        mounts.push(materialize(
            paths,
            &root,
            (&id, p),
            opts.userns.as_ref(),
            &mut rollback,
        )?);
    }
    berth_common::fault::point("mount:volumes");
    let kinds: Vec<Kind> = planned
        .iter()
        .map(|p| match p {
            Planned::Bind { kind, .. } => *kind,
            _ => Kind::Dir,
        })
        .collect();
    as_writer(opts.userns.as_ref(), || {
        for (i, m) in mounts.iter().enumerate() {
            // A target below another mount's target is created by berth-enter inside that
            // mount at run time; making it in the rootfs now would only litter the upper dir.
            let nested = mounts[..i].iter().any(|o| is_below(&m.target, &o.target));
            if nested {
                continue;
            }
            open_in_root(root.as_fd(), &m.target, Some(kinds[i]))?;
        }
        Ok(())
    })?;

    let rootfs = RootfsPart {
        path: target,
        upper,
        work,
        readonly: opts.read_only,
        mounts,
        userns: opts.userns.clone(),
    };
    commit(
        paths,
        record,
        container,
        rootfs,
        durability(opts),
        &mut rollback,
    )
}

/// A container's overlay upper and work dirs.
fn upper_and_work(paths: &Paths, id: &ContainerId) -> (PathBuf, PathBuf) {
    let cdir = container_dir(paths, id);
    (cdir.join("upper"), cdir.join("work"))
}

/// The upper and work dirs of a registered container that was never started, made for a
/// write into its filesystem (`docker cp` before `start`); its first setup mounts over them.
pub fn pre_start_dirs(paths: &Paths, id: &ContainerId) -> Result<(PathBuf, PathBuf)> {
    let (upper, work) = upper_and_work(paths, id);
    mkdir_mode(&upper, 0o755, true)?;
    mkdir_mode(&work, 0o700, true)?;
    Ok((upper, work))
}

/// The upper dir of a never-started container, when a write before its first start made it.
pub fn pre_start_upper(paths: &Paths, id: &ContainerId) -> Option<PathBuf> {
    Some(upper_and_work(paths, id).0).filter(|upper| upper.is_dir())
}

/// Creates the run-dir side and mounts the overlay; returns the mountpoint and an `O_PATH`
/// fd on the mounted root.
fn mount_rootfs(
    paths: &Paths,
    record: &ContainerRecord,
    id: &ContainerId,
    upper: &Path,
    work: &Path,
    (method, volatile, userns): (OverlayMethod, bool, Option<&berth_common::UserNamespace>),
    rollback: &mut Rollback<'_>,
) -> Result<(PathBuf, OwnedFd)> {
    let target = rootfs_path(paths, id);
    if !mountinfo::mounts_under(&target)
        .map_err(io_err("reading", "/proc/self/mountinfo"))?
        .is_empty()
    {
        return Err(RootfsError::AlreadyMounted {
            id: id.clone(),
            target,
        });
    }
    let run_container = target.parent().expect("rootfs has a parent").to_path_buf();
    let run_containers = run_container.parent().expect("has a parent").to_path_buf();
    if !run_containers.exists() {
        std::fs::create_dir_all(&run_containers).map_err(io_err("creating", &run_containers))?;
        rollback.steps.push(Undo::RemoveEmptyDir(run_containers));
    }
    mkdir_mode(&run_container, 0o755, true)?;
    rollback.steps.push(Undo::RemoveEmptyDir(run_container));
    mkdir_mode(&target, 0o755, true)?;
    rollback.steps.push(Undo::RemoveEmptyDir(target.clone()));
    // mountinfo shows resolved paths: record the mountpoint as the kernel will name it, so
    // `down` finds it even when the run dir is reached through a symlink.
    let target = std::fs::canonicalize(&target).map_err(io_err("resolving", &target))?;
    let overlay = Overlay {
        lower: &record.image.layers,
        upper,
        work,
        target: &target,
        layers_dir: &paths.layers(),
        volatile,
    };
    match userns {
        Some(userns) => {
            mount_overlay_idmapped(&overlay, userns)?;
            rollback.steps.push(Undo::Unmount(target.clone()));
            tracing::info!(
                "mounted the overlay at {} over layers idmapped for {}",
                target.display(),
                userns.source
            );
        }
        None => {
            let used = mount_overlay(&overlay, method)?;
            rollback.steps.push(Undo::Unmount(target.clone()));
            tracing::info!("mounted the overlay at {} ({used:?})", target.display());
        }
    }
    let root = openat(
        CWD,
        &target,
        OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC,
        Mode::empty(),
    )
    .map_err(io_err("opening", &target))?;
    Ok((target, root))
}

/// Mounts an existing container again (after `down` without `--remove`), with the upper
/// dir and mounts it was created with.
fn restart(
    paths: &Paths,
    record: &mut ContainerRecord,
    state: ContainerState,
    opts: &SetupOptions,
    mut rollback: Rollback<'_>,
) -> Result<()> {
    let id = state.container.id.clone();
    if !opts.volumes.is_empty() || !opts.tmpfs.is_empty() {
        return Err(RootfsError::KeepsMounts { id });
    }
    let ContainerState {
        container,
        mut rootfs,
        layers,
        ..
    } = state;
    // The upper dir only makes sense over the layers it was made on.
    if !layers.is_empty() && layers != record.image.layers {
        return Err(RootfsError::OtherLayers {
            id,
            image: record.image.id.clone(),
        });
    }
    for dir in [&rootfs.upper, &rootfs.work] {
        if !dir.is_dir() {
            return Err(RootfsError::Damaged {
                id: id.clone(),
                missing: dir.clone(),
            });
        }
    }
    for m in &rootfs.mounts {
        if let (MountKind::Bind | MountKind::Volume, Some(src)) = (m.kind, &m.source) {
            if !src.exists() {
                return Err(RootfsError::BindSourceMissing { path: src.clone() });
            }
        }
    }
    let (target, root) = mount_rootfs(
        paths,
        record,
        &id,
        &rootfs.upper,
        &rootfs.work,
        // A volatile upper dir cannot be mounted again: a restarted container is never volatile.
        (opts.method, false, opts.userns.as_ref()),
        &mut rollback,
    )?;
    as_writer(opts.userns.as_ref(), || {
        for (i, m) in rootfs.mounts.iter().enumerate() {
            if rootfs.mounts[..i]
                .iter()
                .any(|o| is_below(&m.target, &o.target))
            {
                continue;
            }
            let kind = match (m.kind, &m.source) {
                (MountKind::Bind, Some(src)) if !src.is_dir() => Kind::File,
                _ => Kind::Dir,
            };
            open_in_root(root.as_fd(), &m.target, Some(kind))?;
        }
        Ok(())
    })?;
    rootfs.path = target;
    rootfs.readonly |= opts.read_only;
    // The upper dir is stored as without a user namespace: it may restart with or without.
    rootfs.userns = opts.userns.clone();
    commit(
        paths,
        record,
        container,
        rootfs,
        durability(opts),
        &mut rollback,
    )
}

/// Runs `work`, which writes into the mounted rootfs: as the container's root when it has
/// a user namespace (through the idmapped overlay host root's own ids have no mapping).
fn as_writer(
    userns: Option<&berth_common::UserNamespace>,
    work: impl FnOnce() -> Result<()> + Send,
) -> Result<()> {
    match userns {
        None => work(),
        Some(userns) => as_container_root(userns, work).map_err(|source| RootfsError::Idmap {
            what: "cannot act as the container's root to make its mountpoints".into(),
            source,
        })?,
    }
}

pub(crate) fn depth(target: &str) -> usize {
    target.split('/').filter(|c| !c.is_empty()).count()
}

fn is_below(path: &str, parent: &str) -> bool {
    path.strip_prefix(parent)
        .is_some_and(|rest| rest.starts_with('/'))
}

/// Creates `dir` with `mode` (exactly, regardless of the umask); an existing directory is
/// fine only when `may_exist`.
fn mkdir_mode(dir: &Path, mode: u32, may_exist: bool) -> Result<()> {
    use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
    match std::fs::DirBuilder::new().mode(mode).create(dir) {
        Ok(()) => std::fs::set_permissions(dir, std::fs::Permissions::from_mode(mode))
            .map_err(io_err("creating", dir)),
        Err(e) if may_exist && e.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
        Err(e) => Err(io_err("creating", dir)(e)),
    }
}

/// A container removed when it stops (`--rm`, the overlay `volatile`) keeps its state
/// without fsync: a crash of the machine makes it garbage either way.
fn durability(opts: &SetupOptions) -> Durability {
    if opts.volatile {
        Durability::Volatile
    } else {
        Durability::Durable
    }
}

/// The mount is complete: save the state, extend the record, keep everything.
fn commit(
    paths: &Paths,
    record: &mut ContainerRecord,
    container: ContainerPart,
    rootfs: RootfsPart,
    durability: Durability,
    rollback: &mut Rollback<'_>,
) -> Result<()> {
    // The caller holds the termination signals: one that came meanwhile undoes the setup
    // (the rollback) instead of killing the process with everything in place.
    if let Some(signal) = berth_common::signal_block::take_pending() {
        return Err(RootfsError::Interrupted { signal });
    }
    write_state(
        paths,
        &ContainerState {
            container: container.clone(),
            rootfs: rootfs.clone(),
            image: record.image.id.clone(),
            layers: record.image.layers.clone(),
        },
        durability,
    )?;
    berth_common::fault::point("mount:state");
    record.container = Some(container);
    record.rootfs = Some(rootfs);
    rollback.steps.clear();
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nesting_and_depth() {
        assert!(is_below("/data/cache", "/data"));
        assert!(!is_below("/database", "/data"));
        assert!(!is_below("/data", "/data"));
        assert_eq!(depth("/a/b/c"), 3);
    }
}
