//! `--join`: a new process inside a running container (the base of `exec`). It enters the
//! container's pid, ipc, uts, net, cgroup and mount namespaces, its cgroups, and gets the
//! container's capabilities, seccomp filter, user and environment, as a new container's
//! first process does. A container with its own user namespace has it entered last: berth
//! needs its host capabilities to join the others (the network namespace belongs to the
//! host's user namespace), and entering it is what makes the process the container's root.

use std::fs::File;
use std::os::fd::AsFd;
use std::path::PathBuf;

use rustix::thread::{move_into_link_name_space, LinkNameSpaceType};

use crate::child::Entry;
use crate::spawn::{launch, ContainerSpec, SpawnError, Started};

/// Namespaces a new container joins (an OCI spec's `linux.namespaces[].path`) instead of
/// making its own: the pid namespace by the parent around its fork, the others by the
/// child before its mount namespace is made (the paths are the caller's).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ByPath {
    pub pid: Option<PathBuf>,
    pub ipc: Option<PathBuf>,
    pub uts: Option<PathBuf>,
    pub cgroup: Option<PathBuf>,
}

impl ByPath {
    /// In the child: setns into each of ipc, uts and cgroup that has a path.
    pub(crate) fn enter(&self) -> std::io::Result<()> {
        for (path, kind, name) in [
            (
                &self.ipc,
                LinkNameSpaceType::InterProcessCommunication,
                "ipc",
            ),
            (
                &self.uts,
                LinkNameSpaceType::HostNameAndNISDomainName,
                "uts",
            ),
            (&self.cgroup, LinkNameSpaceType::ControlGroup, "cgroup"),
        ] {
            let Some(path) = path else { continue };
            let file = File::open(path).map_err(|e| {
                std::io::Error::other(format!("open {name} namespace {}: {e}", path.display()))
            })?;
            move_into_link_name_space(file.as_fd(), Some(kind)).map_err(|e| {
                std::io::Error::other(format!("join {name} namespace {}: {e}", path.display()))
            })?;
        }
        Ok(())
    }
}

/// In the parent: forks by `fork` with its children's pid namespace that of `path` (berth
/// itself stays in its own and returns to it for its later children).
pub(crate) fn fork_in_pid_ns(
    path: &std::path::Path,
    fork: impl FnOnce() -> (i32, Option<PathBuf>),
) -> Result<(i32, Option<PathBuf>), SpawnError> {
    let sys = |op| move |e: std::io::Error| SpawnError::Sys { op, source: e };
    let own = File::open("/proc/self/ns/pid").map_err(sys("open /proc/self/ns/pid"))?;
    let target = File::open(path).map_err(|e| SpawnError::Prepare {
        what: format!("open pid namespace {}", path.display()),
        source: e,
    })?;
    move_into_link_name_space(target.as_fd(), Some(LinkNameSpaceType::ProcessID)).map_err(|e| {
        SpawnError::Prepare {
            what: format!("join pid namespace {}", path.display()),
            source: e.into(),
        }
    })?;
    let forked = fork();
    // Only the parent goes back: the child's children are the container's.
    if forked.0 != 0 {
        let _ = move_into_link_name_space(own.as_fd(), Some(LinkNameSpaceType::ProcessID));
    }
    Ok(forked)
}

/// A running container's namespaces, opened by the parent before it forks.
pub struct Namespaces {
    others: Vec<(File, LinkNameSpaceType, &'static str)>,
    pid: File,
    /// The container's user namespace, when it is not berth's own.
    user: Option<File>,
}

impl Namespaces {
    /// Opens `/proc/<pid>/ns/*` of the container's first process.
    pub fn of(pid: i32) -> std::io::Result<Namespaces> {
        let open = |name: &str| File::open(format!("/proc/{pid}/ns/{name}"));
        let mut others = Vec::new();
        for (name, kind) in [
            ("ipc", LinkNameSpaceType::InterProcessCommunication),
            ("uts", LinkNameSpaceType::HostNameAndNISDomainName),
            ("net", LinkNameSpaceType::Network),
            ("cgroup", LinkNameSpaceType::ControlGroup),
            // Last: it also moves the process into the container's root.
            ("mnt", LinkNameSpaceType::Mount),
        ] {
            others.push((open(name)?, kind, name));
        }
        let user = open("user")?;
        let own = File::open("/proc/self/ns/user")?;
        let same = |a: &File, b: &File| -> std::io::Result<bool> {
            let (a, b) = (rustix::fs::fstat(a)?, rustix::fs::fstat(b)?);
            Ok((a.st_dev, a.st_ino) == (b.st_dev, b.st_ino))
        };
        let user = if same(&user, &own)? { None } else { Some(user) };
        Ok(Namespaces {
            others,
            pid: open("pid")?,
            user,
        })
    }

    /// In the child: every namespace but pid (which it was forked into).
    pub(crate) fn enter(&self) -> std::io::Result<()> {
        for (file, kind, name) in &self.others {
            move_into_link_name_space(file.as_fd(), Some(*kind))
                .map_err(|e| std::io::Error::other(format!("setns {name}: {e}")))?;
        }
        if let Some(user) = &self.user {
            move_into_link_name_space(user.as_fd(), Some(LinkNameSpaceType::User))
                .map_err(|e| std::io::Error::other(format!("setns user: {e}")))?;
            crate::userns::become_root()
                .map_err(|e| std::io::Error::other(format!("become the container's root: {e}")))?;
        }
        rustix::process::chdir("/")?;
        Ok(())
    }
}

/// Starts `spec`'s command inside the container whose first process is `target`.
pub fn join(target: i32, spec: &ContainerSpec) -> Result<Started, SpawnError> {
    let sys = |op| move |e: std::io::Error| SpawnError::Sys { op, source: e };
    let namespaces = Namespaces::of(target).map_err(sys("open the container's namespaces"))?;
    let own_pid_ns = File::open("/proc/self/ns/pid").map_err(sys("open /proc/self/ns/pid"))?;
    launch(spec, Entry::Join(&namespaces), || {
        // Children go into the container's pid namespace; berth returns to its own right
        // after the fork, so it may still start threads (which a foreign pid namespace for
        // children forbids).
        move_into_link_name_space(namespaces.pid.as_fd(), Some(LinkNameSpaceType::ProcessID))
            .map_err(|e| SpawnError::Sys {
                op: "join the container's pid namespace",
                source: e.into(),
            })?;
        // SAFETY: berth is single-threaded here; glibc's fork keeps malloc usable in the child.
        let pid = unsafe { libc::fork() };
        if pid != 0 {
            let _ =
                move_into_link_name_space(own_pid_ns.as_fd(), Some(LinkNameSpaceType::ProcessID));
        }
        Ok((pid, None))
    })
}
