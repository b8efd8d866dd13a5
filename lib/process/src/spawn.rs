//! Starting the container's first process and waiting for it.

use std::collections::HashSet;
use std::io::Write;
use std::os::fd::AsFd;
use std::path::PathBuf;

use berth_common::MountEntry;
use caps::Capability;

use crate::child::Entry;
use crate::exe_seal::SealedDmz;
use crate::placement;
use crate::signals::{self, Blocked};
use crate::sync::{self, ChildFailure};
use crate::userns::HostSide;

/// Which network namespace the container gets.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NetworkMode {
    /// A new one with only `lo`, up (as Docker's `--network none`).
    None,
    /// The host's.
    Host,
    /// Join the namespace bind-mounted at this path.
    Join(PathBuf),
}

/// Everything the child needs, decided before fork.
pub struct ContainerSpec {
    pub rootfs: PathBuf,
    pub mounts: Vec<MountEntry>,
    pub readonly: bool,
    pub privileged: bool,
    pub network: NetworkMode,
    pub etc_files: Vec<(PathBuf, &'static str)>,
    pub shm_size: u64,
    pub hostname: String,
    pub args: Vec<String>,
    pub env: Vec<String>,
    pub cwd: String,
    pub user: String,
    pub caps: HashSet<Capability>,
    pub no_new_privs: bool,
    /// Applied in the child after the mounts, before capabilities are dropped.
    pub seccomp: Option<Box<dyn Fn() -> Result<(), String>>>,
    /// `(resource, soft, hard)`.
    pub rlimits: Vec<(rustix::process::Resource, u64, u64)>,
    /// `cgroup.procs` (or `tasks`) files the process is written into before it starts.
    pub cgroup_procs: Vec<PathBuf>,
    /// The container's cgroups (shown at /sys/fs/cgroup; on v2 also its cgroup namespace).
    pub cgroup: Option<berth_common::CgroupPart>,
    /// `-t`: the container's stdio is this pty's slave (also its /dev/console).
    pub tty: Option<crate::tty::Pty>,
    /// `-i`: keep stdin; otherwise the container reads /dev/null, as in docker.
    pub stdin: bool,
    /// `--init`: pid 1 reaps zombies and forwards signals; the command is its child.
    pub init: bool,
    /// A new user namespace with these maps (the record's `rootfs.userns`: the rootfs is
    /// idmapped for it); None: the host's.
    pub userns: Option<berth_common::UserNamespace>,
    /// An OCI runtime's create/start split: the process waits at this gate before its
    /// exec, and `start` returns as soon as it waits there (`gate`).
    pub gate: Option<crate::gate::Gate>,
    /// Namespaces joined by path instead of made (an OCI spec's); none for berth's own.
    pub joined: crate::join::ByPath,
    /// Device nodes beyond berth's standard ones (an OCI spec's `linux.devices`).
    pub devices: Vec<crate::devices::DeviceNode>,
}

#[derive(Debug, thiserror::Error)]
pub enum SpawnError {
    #[error("{op}: {source}")]
    Sys {
        op: &'static str,
        source: std::io::Error,
    },
    #[error("cannot place pid {pid} into cgroup {path}: {source}")]
    Cgroup {
        pid: i32,
        path: PathBuf,
        source: std::io::Error,
    },
    /// Preparing the host's side of a container in a user namespace failed.
    #[error("user namespace: {what}: {source}")]
    Prepare {
        what: String,
        source: std::io::Error,
    },
    /// Preparing a mount of the container in a user namespace (a bind, a volume, an /etc
    /// file) failed: berth-rootfs's error, which says whether the request was at fault.
    #[error("user namespace: {what}: {source}")]
    PrepareMount {
        what: String,
        source: Box<berth_rootfs::RootfsError>,
    },
    #[error(transparent)]
    Child(#[from] ChildFailure),
    /// A runtime hook run while the child waited (`gate`).
    #[error(transparent)]
    Hook(#[from] crate::hook::HookError),
}

impl SpawnError {
    /// The exit status to report for this failure, as docker would.
    pub fn exit_code(&self) -> i32 {
        match self {
            SpawnError::Child(f) => f.code,
            _ => 125,
        }
    }

    /// What kind of failure this is, for a caller that answers requests: a command that
    /// cannot be run (126, 127) is the request's fault.
    pub fn kind(&self) -> berth_common::ErrorKind {
        use berth_common::ErrorKind;
        match self {
            SpawnError::Child(f) if f.code == 126 || f.code == 127 => ErrorKind::InvalidInput,
            SpawnError::Child(_) | SpawnError::Hook(_) => ErrorKind::Internal,
            SpawnError::PrepareMount { source, .. } => source.kind(),
            SpawnError::Sys { source, .. }
            | SpawnError::Cgroup { source, .. }
            | SpawnError::Prepare { source, .. } => ErrorKind::of_io(source),
        }
    }
}

/// A started container process.
pub struct Started {
    pub pid: i32,
    signals: Blocked,
    /// The pty master, when the container has a terminal: SIGWINCH resizes it.
    winch: Option<std::os::fd::OwnedFd>,
}

/// Forks the container's first process into new namespaces and waits until it has
/// exec'd the command (or failed to).
pub fn start(spec: &ContainerSpec) -> Result<Started, SpawnError> {
    // Born in its v2 cgroup (clone3 CLONE_INTO_CGROUP), the child needs no migration there;
    // on a pure v2 host that is all of its placement. Older kernels fall back to clone.
    let unified = spec
        .cgroup
        .as_ref()
        .and_then(|c| c.paths.get("unified"))
        .cloned();
    let unified_dir = unified.as_ref().and_then(|p| std::fs::File::open(p).ok());
    // A user namespace is created with the pid namespace, so that it owns it (and every
    // namespace the child makes later).
    let host = match &spec.userns {
        Some(userns) => Some(HostSide::prepare(spec, userns)?),
        None => None,
    };
    let mut namespaces = if host.is_some() {
        libc::CLONE_NEWPID | libc::CLONE_NEWUSER
    } else {
        libc::CLONE_NEWPID
    };
    if spec.joined.pid.is_some() {
        namespaces &= !libc::CLONE_NEWPID;
    }
    let clone = move || {
        if let Some(dir) = &unified_dir {
            if let Some(pid) = clone_into_cgroup(dir, namespaces) {
                return (pid, unified.map(|p| p.join("cgroup.procs")));
            }
        }
        // The child is pid 1 of a new pid namespace; berth itself stays outside it, and
        // unlike unshare(CLONE_NEWPID) this leaves the caller free to create threads later.
        // SAFETY: a fork-like clone (no new stack, SIGCHLD on exit). The caller is
        // single-threaded here, so the child may run ordinary Rust code (no lock is held by
        // another thread) until it execs or exits.
        let pid = unsafe {
            libc::syscall(
                libc::SYS_clone,
                (namespaces | libc::SIGCHLD) as libc::c_ulong,
                0usize,
                0usize,
                0usize,
                0usize,
            )
        };
        (pid as i32, None)
    };
    match &host {
        // Its namespaces would have to be joined from inside it, as the user namespace's
        // root, which has no rights over the host's.
        Some(_) if spec.joined != crate::join::ByPath::default() => Err(SpawnError::Prepare {
            what: "join namespaces by path from a new user namespace".into(),
            source: std::io::Error::from(std::io::ErrorKind::Unsupported),
        }),
        Some(host_side) => launch(spec, Entry::New(Some(host_side)), || {
            host_side.born_in_netns(clone)
        }),
        None => launch(spec, Entry::New(None), || match &spec.joined.pid {
            Some(path) => crate::join::fork_in_pid_ns(path, clone),
            None => Ok(clone()),
        }),
    }
}

/// `struct clone_args` of clone3(2), up to `cgroup` (Linux 5.7).
#[repr(C)]
#[derive(Default)]
struct CloneArgs {
    flags: u64,
    pidfd: u64,
    child_tid: u64,
    parent_tid: u64,
    exit_signal: u64,
    stack: u64,
    stack_size: u64,
    tls: u64,
    set_tid: u64,
    set_tid_size: u64,
    cgroup: u64,
}

const CLONE_INTO_CGROUP: u64 = 0x2_0000_0000;

/// A fork-like clone3 into new `namespaces` (pid, and user for a user namespace) and
/// straight into the cgroup `dir`; None when the kernel cannot (then nothing was created).
fn clone_into_cgroup(dir: &std::fs::File, namespaces: libc::c_int) -> Option<i32> {
    use std::os::fd::AsRawFd;
    let args = CloneArgs {
        flags: namespaces as u64 | CLONE_INTO_CGROUP,
        exit_signal: libc::SIGCHLD as u64,
        cgroup: dir.as_raw_fd() as u64,
        ..Default::default()
    };
    // SAFETY: as for clone above (no new stack: the child runs on a copy of ours, like
    // fork); `args` is a valid clone_args of the size passed.
    let pid = unsafe {
        libc::syscall(
            libc::SYS_clone3,
            &args as *const CloneArgs,
            std::mem::size_of::<CloneArgs>(),
        )
    };
    (pid >= 0).then_some(pid as i32)
}

/// The handshake shared by a new container and a joining process: fork with `fork`, give
/// a child in a new user namespace its maps, put the child in its cgroups, let it go, and
/// wait until it has exec'd (or failed to).
pub(crate) fn launch(
    spec: &ContainerSpec,
    entry: Entry<'_>,
    fork: impl FnOnce() -> Result<(i32, Option<PathBuf>), SpawnError>,
) -> Result<Started, SpawnError> {
    let sys = |op| move |e: std::io::Error| SpawnError::Sys { op, source: e };
    let entry_kind = match entry {
        Entry::New(_) => EntryKind::New,
        Entry::Join(_) => EntryKind::Join,
    };
    // A sealed memfd of berth-dmz for this start alone (CVE-2019-5736, see `exe_seal`).
    let dmz = SealedDmz::create().map_err(sys("create the sealed berth-dmz memfd"))?;
    let go = sync::pipe().map_err(sys("create pipe"))?;
    let result = sync::pipe().map_err(sys("create pipe"))?;
    let signals = Blocked::block().map_err(sys("block signals"))?;
    // Opened before fork: the child inherits them (see `placement`).
    let (own_placement, parent_places) = placement::split(&spec.cgroup_procs);
    // `placed`: the cgroup.procs the child was born in, if any.
    let (pid, placed) = fork()?;
    if pid < 0 {
        return Err(SpawnError::Sys {
            op: "fork",
            source: std::io::Error::last_os_error(),
        });
    }
    if pid == 0 {
        drop(go.write);
        drop(result.read);
        let failure = crate::child::child(
            spec,
            entry,
            go.read,
            own_placement,
            &result.write,
            &signals,
            &dmz,
        );
        sync::report(&result.write, &failure);
        // SAFETY: _exit ends the child without running the parent's atexit handlers.
        unsafe { libc::_exit(failure.code) };
    }
    drop(go.read);
    drop(result.write);
    drop(dmz);
    drop(own_placement);
    let winch = spec.tty.as_ref().and_then(|t| t.master.try_clone().ok());
    let started = Started {
        pid,
        signals,
        winch,
    };
    // The child waits for `g` before anything else; in a new user namespace it needs its
    // maps first (until then it has no ids there).
    if let (Entry::New(Some(_)), Some(userns)) = (entry, &spec.userns) {
        if let Err(e) = berth_rootfs::idmap::write_maps(pid, userns) {
            signals::forward(pid, libc::SIGKILL);
            let _ = started.wait();
            return Err(SpawnError::Sys {
                op: "write the user namespace's maps",
                source: e,
            });
        }
    }
    // Whatever the parent still places (v2 without clone3's placement), a new container
    // sets its namespaces and mounts up meanwhile (berth's own code), and only waits to be
    // placed before it drops privileges and execs. A cgroup namespace (pure v2) takes its
    // root from where the process is, so there it waits first.
    let overlap =
        matches!(entry_kind, EntryKind::New) && spec.cgroup.as_ref().is_none_or(|c| c.mode != "v2");
    let mut go_write = go.write;
    if overlap {
        let _ = go_write.write_all(b"g");
    }
    let to_place: Vec<PathBuf> = parent_places
        .into_iter()
        .filter(|p| Some(p) != placed.as_ref())
        .collect();
    if let Err(e) = placement::place(pid, &to_place) {
        signals::forward(pid, libc::SIGKILL);
        let _ = started.wait();
        return Err(e);
    }
    if !overlap {
        let _ = go_write.write_all(b"g");
    }
    // Placed: the child may exec.
    let _ = go_write.write_all(b"p");
    let outcome = match &spec.gate {
        Some(gate) => crate::gate::outcome(result.read, pid, gate, go_write),
        None => {
            drop(go_write);
            sync::outcome(result.read).map_err(SpawnError::from)
        }
    };
    if let Err(e) = outcome {
        let _ = started.wait();
        return Err(e);
    }
    Ok(started)
}

enum EntryKind {
    New,
    Join,
}

impl Started {
    /// Forwards signals until the process exits; returns its status the docker way
    /// (the exit code, or 128+N for a signal).
    pub fn wait(&self) -> i32 {
        loop {
            if let Some(code) = self.reap() {
                return code;
            }
            match (self.signals.wait(), &self.winch) {
                (libc::SIGCHLD, _) => {}
                (libc::SIGWINCH, Some(master)) => {
                    crate::tty::sync_size(std::io::stdin().as_fd(), master)
                }
                (sig, _) => signals::forward(self.pid, sig),
            }
        }
    }

    fn reap(&self) -> Option<i32> {
        let mut status = 0;
        // SAFETY: waitpid writes the status of our own child.
        let rc = unsafe { libc::waitpid(self.pid, &mut status, libc::WNOHANG) };
        if rc == self.pid {
            if libc::WIFEXITED(status) {
                return Some(libc::WEXITSTATUS(status));
            }
            if libc::WIFSIGNALED(status) {
                return Some(128 + libc::WTERMSIG(status));
            }
        }
        if rc < 0 {
            return Some(125);
        }
        None
    }
}
