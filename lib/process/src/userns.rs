//! A container in a user namespace: what berth prepares on the host before the fork.
//!
//! The child is born in the new user namespace (`CLONE_NEWUSER` with `CLONE_NEWPID`, so
//! the namespace owns its pid namespace and the mount, uts, ipc, cgroup and network
//! namespaces it unshares later: /proc, mqueue, devpts and sysfs can be mounted there).
//! Its root is root only over what the namespace maps: it cannot walk host directories
//! that are closed to others (the store is 0700), idmap a mount, or join a network
//! namespace of the host's user namespace. So the parent, still root on the host, does
//! those parts first:
//!
//! - an `O_PATH` fd on the rootfs: the child `fchdir`s into it before it unshares its
//!   mount namespace, which turns its working directory into its own copy of the rootfs;
//! - every bind and volume source cloned as a detached mount tree (volumes idmapped with
//!   the container's maps, as the rootfs is; host binds as they are) and the /etc files;
//! - with a network namespace from berth-net (the host's user namespace owns it): the
//!   child is cloned from inside it, the namespace's sysctls are set, and a sysfs showing
//!   its interfaces is mounted detached for the child to attach at /sys.
//!
//! Then [`write_maps`](berth_rootfs::idmap::write_maps) gives the child its maps before it
//! is let go.

use std::fs::File;
use std::os::fd::{AsFd, OwnedFd};
use std::path::Path;

use berth_common::{MountKind, UserNamespace};
use rustix::fs::{Mode, OFlags};
use rustix::mount::{fsconfig_create, fsmount, fsopen, FsMountFlags, FsOpenFlags, MountAttrFlags};
use rustix::thread::{move_into_link_name_space, LinkNameSpaceType};

use crate::spawn::{ContainerSpec, NetworkMode, SpawnError};

/// What the parent made for a child in a user namespace (fds it inherits).
pub struct HostSide {
    /// The rootfs (an `O_PATH` directory fd in the host's mount namespace).
    pub rootfs: OwnedFd,
    /// Per entry of `spec.mounts`: the cloned source of a bind or volume.
    pub trees: Vec<Option<OwnedFd>>,
    /// Per entry of `spec.etc_files`: the cloned file.
    pub etc_trees: Vec<OwnedFd>,
    /// A read-only sysfs of the network namespace the child is born in.
    pub sysfs: Option<OwnedFd>,
    /// The network namespace to clone the child in (and berth's own, to come back to).
    netns: Option<NetnsSwitch>,
}

fn sys(op: &'static str) -> impl FnOnce(std::io::Error) -> SpawnError {
    move |source| SpawnError::Sys { op, source }
}

impl HostSide {
    /// Everything above, for `spec` (whose `userns` is `userns`).
    pub fn prepare(spec: &ContainerSpec, userns: &UserNamespace) -> Result<HostSide, SpawnError> {
        let rootfs = rustix::fs::open(
            &spec.rootfs,
            OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC,
            Mode::empty(),
        )
        .map_err(|e| SpawnError::Prepare {
            what: format!("open the rootfs {}", spec.rootfs.display()),
            source: e.into(),
        })?;
        let mapper = if spec.mounts.iter().any(|m| m.kind == MountKind::Volume) {
            Some(
                berth_rootfs::idmap::MapperNs::new(userns)
                    .map_err(sys("make a user namespace to idmap volumes with"))?,
            )
        } else {
            None
        };
        let mut trees = Vec::new();
        for entry in &spec.mounts {
            let idmap = match entry.kind {
                MountKind::Tmpfs => {
                    trees.push(None);
                    continue;
                }
                // Volumes are berth's: stored unshifted like the layers, seen through the
                // container's maps. Host binds keep the host's owners (a host root's file
                // stays out of the container root's reach).
                MountKind::Volume => mapper.as_ref().map(|m| m.as_fd()),
                MountKind::Bind => None,
            };
            let tree =
                berth_rootfs::entry_tree(entry, idmap).map_err(|e| SpawnError::PrepareMount {
                    what: format!("prepare the mount on {}", entry.target),
                    source: Box::new(e),
                })?;
            trees.push(Some(tree));
        }
        let mut etc_trees = Vec::new();
        for (source, target) in &spec.etc_files {
            let tree = berth_rootfs::clone_tree(
                source.as_path().into(),
                berth_rootfs::BindOptions::default(),
                None,
            )
            .map_err(|e| SpawnError::PrepareMount {
                what: format!("prepare {target}"),
                source: Box::new(e),
            })?;
            etc_trees.push(tree);
        }
        let (netns, sysfs) = match &spec.network {
            NetworkMode::Join(path) => {
                let switch = NetnsSwitch::open(path)?;
                let sysfs = switch.inside(|| {
                    set_netns_sysctls(u32::MAX >> 1).map_err(|e| SpawnError::Prepare {
                        what: "the network namespace's sysctls".into(),
                        source: e,
                    })?;
                    mount_sysfs()
                })?;
                (Some(switch), Some(sysfs))
            }
            _ => (None, None),
        };
        Ok(HostSide {
            rootfs,
            trees,
            etc_trees,
            sysfs,
            netns,
        })
    }

    /// Runs `fork` (which returns the child's pid, 0 in the child) inside the network
    /// namespace the child must be born in, if any; the parent comes back to its own, the
    /// child stays (it could not come back from its user namespace anyway).
    pub(crate) fn born_in_netns<T>(
        &self,
        fork: impl FnOnce() -> (i32, T),
    ) -> Result<(i32, T), SpawnError> {
        let Some(switch) = &self.netns else {
            return Ok(fork());
        };
        switch.enter()?;
        let (pid, rest) = fork();
        if pid != 0 {
            switch.leave();
        }
        Ok((pid, rest))
    }
}

/// In a user namespace just entered (born in it, or joined): become its root. The process
/// keeps the host ids it had, which the namespace does not map (files it creates would fail
/// with EOVERFLOW); its capabilities there stay (permitted and effective are full, and
/// switching to the namespace's root keeps them). Supplementary groups go: the user's are
/// set later.
pub(crate) fn become_root() -> std::io::Result<()> {
    use rustix::process::{Gid, Uid};
    rustix::thread::set_thread_groups(&[])?;
    rustix::thread::set_thread_res_gid(Gid::ROOT, Gid::ROOT, Gid::ROOT)?;
    rustix::thread::set_thread_res_uid(Uid::ROOT, Uid::ROOT, Uid::ROOT)?;
    Ok(())
}

/// Docker's sysctls of a container's own network namespace: unprivileged ICMP sockets for
/// gids `0..=max_gid` (as the writer's user namespace numbers them) and low ports for
/// everyone. Net sysctls belong to the writer's network namespace.
pub(crate) fn set_netns_sysctls(max_gid: u32) -> std::io::Result<()> {
    for (key, value) in [
        ("net/ipv4/ping_group_range", format!("0 {max_gid}")),
        ("net/ipv4/ip_unprivileged_port_start", "0".to_string()),
    ] {
        let path = format!("/proc/sys/{key}");
        std::fs::write(&path, value)
            .map_err(|e| std::io::Error::new(e.kind(), format!("write {path}: {e}")))?;
    }
    Ok(())
}

/// A read-only sysfs, detached, of the caller's network namespace.
fn mount_sysfs() -> Result<OwnedFd, SpawnError> {
    let fail = |e: rustix::io::Errno| SpawnError::Prepare {
        what: "mount a sysfs for the container's network namespace".into(),
        source: e.into(),
    };
    let fs = fsopen("sysfs", FsOpenFlags::FSOPEN_CLOEXEC).map_err(fail)?;
    fsconfig_create(&fs).map_err(fail)?;
    fsmount(
        &fs,
        FsMountFlags::FSMOUNT_CLOEXEC,
        MountAttrFlags::MOUNT_ATTR_RDONLY
            | MountAttrFlags::MOUNT_ATTR_NOSUID
            | MountAttrFlags::MOUNT_ATTR_NODEV
            | MountAttrFlags::MOUNT_ATTR_NOEXEC,
    )
    .map_err(fail)
}

/// A network namespace to enter for a moment, and berth's own to return to.
struct NetnsSwitch {
    target: File,
    own: File,
    path: std::path::PathBuf,
}

impl NetnsSwitch {
    fn open(path: &Path) -> Result<NetnsSwitch, SpawnError> {
        let target = File::open(path).map_err(|e| SpawnError::Prepare {
            what: format!("open network namespace {}", path.display()),
            source: e,
        })?;
        let own =
            File::open("/proc/thread-self/ns/net").map_err(sys("open /proc/thread-self/ns/net"))?;
        Ok(NetnsSwitch {
            target,
            own,
            path: path.to_path_buf(),
        })
    }

    /// Runs `work` with the calling thread in the target namespace; always comes back.
    fn inside<T>(&self, work: impl FnOnce() -> Result<T, SpawnError>) -> Result<T, SpawnError> {
        self.enter()?;
        let result = work();
        self.leave();
        result
    }

    fn enter(&self) -> Result<(), SpawnError> {
        move_into_link_name_space(self.target.as_fd(), Some(LinkNameSpaceType::Network)).map_err(
            |e| SpawnError::Prepare {
                what: format!("join network namespace {}", self.path.display()),
                source: e.into(),
            },
        )
    }

    /// Back to berth's own namespace. berth (root on the host, single-threaded here)
    /// cannot be refused that; if it were, staying in the container's namespace would be
    /// worse than stopping.
    fn leave(&self) {
        if let Err(e) =
            move_into_link_name_space(self.own.as_fd(), Some(LinkNameSpaceType::Network))
        {
            panic!("cannot return to berth's network namespace: {e}");
        }
    }
}
