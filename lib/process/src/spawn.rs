//! Starting the container's first process and waiting for it.

use std::collections::HashSet;
use std::ffi::OsStr;
use std::fs::File;
use std::io::Write;
use std::os::fd::AsFd;
use std::path::PathBuf;

use berth_common::MountEntry;
use caps::Capability;
use rustix::thread::UnshareFlags;

use crate::rootfs::RootfsPlan;
use crate::signals::{self, Blocked};
use crate::sync::{self, ChildFailure};
use crate::{caps as capsets, exec, user};

/// Which network namespace the container gets.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NetworkMode {
    /// A new, empty one (only `lo`, down until a network stage sets it up).
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
    #[error(transparent)]
    Child(#[from] ChildFailure),
}

impl SpawnError {
    /// The exit status to report for this failure, as docker would.
    pub fn exit_code(&self) -> i32 {
        match self {
            SpawnError::Child(f) => f.code,
            _ => 125,
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
    let sys = |op| move |e: std::io::Error| SpawnError::Sys { op, source: e };
    let go = sync::pipe().map_err(sys("create pipe"))?;
    let result = sync::pipe().map_err(sys("create pipe"))?;
    let signals = Blocked::block().map_err(sys("block signals"))?;
    // The child is pid 1 of a new pid namespace; berth itself stays outside it, and unlike
    // unshare(CLONE_NEWPID) this leaves the caller free to create threads afterwards.
    // SAFETY: a fork-like clone (no new stack, SIGCHLD on exit). The caller is
    // single-threaded here, so the child may run ordinary Rust code (no lock is held by
    // another thread) until it execs or exits.
    let pid = unsafe {
        libc::syscall(
            libc::SYS_clone,
            (libc::CLONE_NEWPID | libc::SIGCHLD) as libc::c_ulong,
            0usize,
            0usize,
            0usize,
            0usize,
        )
    } as i32;
    if pid < 0 {
        return Err(SpawnError::Sys {
            op: "fork",
            source: std::io::Error::last_os_error(),
        });
    }
    if pid == 0 {
        drop(go.write);
        drop(result.read);
        let failure = child(spec, go.read, &signals);
        sync::report(&result.write, &failure);
        // SAFETY: _exit ends the child without running the parent's atexit handlers.
        unsafe { libc::_exit(failure.code) };
    }
    drop(go.read);
    drop(result.write);
    let winch = spec.tty.as_ref().and_then(|t| t.master.try_clone().ok());
    let started = Started {
        pid,
        signals,
        winch,
    };
    if let Err(e) = place(pid, &spec.cgroup_procs) {
        signals::forward(pid, libc::SIGKILL);
        let _ = started.wait();
        return Err(e);
    }
    let mut go_write = go.write;
    let _ = go_write.write_all(b"g");
    drop(go_write);
    if let Err(failure) = sync::outcome(result.read) {
        let _ = started.wait();
        return Err(failure.into());
    }
    Ok(started)
}

fn place(pid: i32, procs: &[PathBuf]) -> Result<(), SpawnError> {
    for path in procs {
        std::fs::write(path, pid.to_string()).map_err(|source| SpawnError::Cgroup {
            pid,
            path: path.clone(),
            source,
        })?;
    }
    Ok(())
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

fn fail(stage: &str, err: impl std::fmt::Display) -> ChildFailure {
    ChildFailure {
        code: 125,
        message: format!("{stage}: {err}"),
    }
}

/// Runs in the child; returns only on failure.
fn child(spec: &ContainerSpec, go: File, signals: &Blocked) -> ChildFailure {
    signals.restore();
    // Nothing in the container may open this process's memory or /proc/self/exe (the
    // berth binary) before it execs the command (CVE-2019-5736).
    if let Err(e) =
        rustix::process::set_dumpable_behavior(rustix::process::DumpableBehavior::NotDumpable)
    {
        return fail("prctl(PR_SET_DUMPABLE)", e);
    }
    let mut byte = [0u8; 1];
    if std::io::Read::read(&mut &go, &mut byte).unwrap_or(0) != 1 {
        return fail("waiting for the parent", "it went away");
    }
    drop(go);
    if let Err(e) = stdio(spec) {
        return fail("stdio", e);
    }
    match setup(spec) {
        Ok(env) => exec::exec(&spec.args, &env),
        Err(failure) => failure,
    }
}

/// The pty as controlling terminal and stdio; or stdin from /dev/null without `-i`.
fn stdio(spec: &ContainerSpec) -> std::io::Result<()> {
    if let Some(tty) = &spec.tty {
        return crate::tty::attach(tty.slave.as_fd());
    }
    if !spec.stdin {
        let null = File::open("/dev/null")?;
        // SAFETY: dup2 onto fd 0 with an fd we own.
        if unsafe { libc::dup2(std::os::fd::AsRawFd::as_raw_fd(&null), 0) } < 0 {
            return Err(std::io::Error::last_os_error());
        }
    }
    Ok(())
}

fn setup(spec: &ContainerSpec) -> Result<Vec<String>, ChildFailure> {
    let mut flags = UnshareFlags::NEWNS | UnshareFlags::NEWUTS | UnshareFlags::NEWIPC;
    // Docker gives a container its own cgroup namespace on pure v2 hosts only. The parent
    // has placed us in our cgroups already, so they become the namespace's root.
    if spec.cgroup.as_ref().is_some_and(|c| c.mode == "v2") {
        flags |= UnshareFlags::NEWCGROUP;
    }
    if spec.network == NetworkMode::None {
        flags |= UnshareFlags::NEWNET;
    }
    // SAFETY: no FILES flag, and the child is single-threaded.
    unsafe { rustix::thread::unshare_unsafe(flags) }.map_err(|e| fail("unshare namespaces", e))?;
    if let NetworkMode::Join(path) = &spec.network {
        let netns = File::open(path)
            .map_err(|e| fail(&format!("open network namespace {}", path.display()), e))?;
        rustix::thread::move_into_link_name_space(
            std::os::fd::AsFd::as_fd(&netns),
            Some(rustix::thread::LinkNameSpaceType::Network),
        )
        .map_err(|e| fail(&format!("join network namespace {}", path.display()), e))?;
    }
    rustix::system::sethostname(spec.hostname.as_bytes()).map_err(|e| fail("sethostname", e))?;
    let plan = RootfsPlan {
        rootfs: &spec.rootfs,
        mounts: &spec.mounts,
        readonly: spec.readonly,
        privileged: spec.privileged,
        own_netns: spec.network != NetworkMode::Host,
        etc_files: &spec.etc_files,
        shm_size: spec.shm_size,
        cgroup: spec.cgroup.as_ref(),
        console: spec.tty.as_ref().map(|t| t.path.as_path()),
    };
    crate::rootfs::setup(&plan).map_err(|e| fail("rootfs", e))?;
    for (resource, soft, hard) in &spec.rlimits {
        let limit = rustix::process::Rlimit {
            current: Some(*soft),
            maximum: Some(*hard),
        };
        rustix::process::setrlimit(*resource, limit).map_err(|e| fail("setrlimit", e))?;
    }
    let user =
        user::resolve(&spec.user, std::path::Path::new("/etc")).map_err(|e| ChildFailure {
            code: 125,
            message: e.to_string(),
        })?;
    let mut env = spec.env.clone();
    if !env.iter().any(|e| e.starts_with("HOME=")) {
        env.push(format!("HOME={}", user.home));
    }
    enter_workdir(&spec.cwd, &user)?;
    if spec.no_new_privs {
        rustix::thread::set_no_new_privs(true).map_err(|e| fail("set no_new_privs", e))?;
    }
    if let Some(apply) = &spec.seccomp {
        apply().map_err(|e| fail("seccomp", e))?;
    }
    capsets::limit_bounding(&spec.caps).map_err(|e| fail("capabilities", e))?;
    switch_user(&user)?;
    capsets::set_process_caps(&spec.caps, user.uid == 0).map_err(|e| fail("capabilities", e))?;
    close_inherited_fds()?;
    Ok(env)
}

/// Creates the working directory if the image lacks it (as docker does) and enters it;
/// the result must lie inside the container's root (CVE-2024-21626).
fn enter_workdir(cwd: &str, user: &user::ResolvedUser) -> Result<(), ChildFailure> {
    let cwd = if cwd.is_empty() { "/" } else { cwd };
    if !cwd.starts_with('/') {
        return Err(ChildFailure {
            code: 125,
            message: format!("the working directory {cwd:?} is not an absolute path"),
        });
    }
    if cwd.starts_with("/proc/") || cwd == "/proc" {
        return Err(ChildFailure {
            code: 125,
            message: format!("the working directory {cwd:?} is inside /proc"),
        });
    }
    if std::fs::metadata(cwd).is_err() {
        std::fs::create_dir_all(cwd)
            .map_err(|e| fail(&format!("create working directory {cwd}"), e))?;
        let _ = rustix::fs::chown(
            cwd,
            Some(rustix::fs::Uid::from_raw_unchecked(user.uid)),
            Some(rustix::fs::Gid::from_raw_unchecked(user.gid)),
        );
    }
    rustix::process::chdir(cwd).map_err(|e| fail(&format!("chdir to {cwd}"), e))?;
    let real = std::env::current_dir().map_err(|e| fail("getcwd", e))?;
    if !real.starts_with("/") || real.as_os_str() == OsStr::new("") {
        return Err(ChildFailure {
            code: 125,
            message: format!("the working directory {cwd:?} is outside the container"),
        });
    }
    Ok(())
}

fn switch_user(user: &user::ResolvedUser) -> Result<(), ChildFailure> {
    let groups: Vec<rustix::process::Gid> = user
        .groups
        .iter()
        .map(|g| rustix::process::Gid::from_raw_unchecked(*g))
        .collect();
    rustix::thread::set_thread_groups(&groups).map_err(|e| fail("setgroups", e))?;
    let gid = rustix::process::Gid::from_raw_unchecked(user.gid);
    rustix::thread::set_thread_res_gid(gid, gid, gid).map_err(|e| fail("setresgid", e))?;
    let uid = rustix::process::Uid::from_raw_unchecked(user.uid);
    rustix::thread::set_thread_res_uid(uid, uid, uid).map_err(|e| fail("setresuid", e))
}

/// Only stdio crosses into the container (CVE-2024-21626): every other fd is marked
/// close-on-exec, including the result pipe, which closing tells the parent we exec'd.
fn close_inherited_fds() -> Result<(), ChildFailure> {
    // SAFETY: close_range with CLOSE_RANGE_CLOEXEC only sets flags on our own fds.
    let rc = unsafe {
        libc::syscall(
            libc::SYS_close_range,
            3u32,
            u32::MAX,
            libc::CLOSE_RANGE_CLOEXEC,
        )
    };
    if rc != 0 {
        return Err(fail("close_range", std::io::Error::last_os_error()));
    }
    Ok(())
}
