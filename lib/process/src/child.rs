//! The container's first (or joining) process, between clone and execve: its namespaces,
//! its stdio, then the process settings in the order the kernel needs.

use std::fs::File;
use std::os::fd::{AsFd, AsRawFd};

use rustix::thread::UnshareFlags;

use crate::exe_seal::SealedDmz;
use crate::rootfs::RootfsPlan;
use crate::signals::Blocked;
use crate::spawn::{ContainerSpec, NetworkMode};
use crate::sync::ChildFailure;
use crate::userns::{become_root, set_netns_sysctls, HostSide};
use crate::{caps as capsets, exec, user};

/// How the child gets its namespaces.
#[derive(Clone, Copy)]
pub(crate) enum Entry<'a> {
    /// New ones, with the root filesystem set up inside; in a new user namespace, with what
    /// the parent prepared for it.
    New(Option<&'a HostSide>),
    /// A running container's (`/proc/<pid>/ns/*` fds opened by the parent).
    Join(&'a crate::join::Namespaces),
}

pub(crate) fn fail(stage: &str, err: impl std::fmt::Display) -> ChildFailure {
    ChildFailure {
        code: 125,
        message: format!("{stage}: {err}"),
    }
}

/// Runs in the child; returns only on failure. The command is exec'd through `dmz`.
pub(crate) fn child(
    spec: &ContainerSpec,
    entry: Entry<'_>,
    go: File,
    placement: crate::placement::SelfPlacement,
    to_parent: &File,
    signals: &Blocked,
    dmz: &SealedDmz,
) -> ChildFailure {
    signals.restore();
    // Nothing in the container may open this process's memory or /proc/self/exe (the
    // berth binary) while it sets up (CVE-2019-5736); after it, `exe_seal` keeps the
    // berth binary out of reach.
    if let Err(e) =
        rustix::process::set_dumpable_behavior(rustix::process::DumpableBehavior::NotDumpable)
    {
        return fail("prctl(PR_SET_DUMPABLE)", e);
    }
    let go = Go::new(go);
    if let Err(failure) = go.wait(b'g') {
        return failure;
    }
    // Into the v1 cgroups before anything else, so that what the setup allocates is the
    // container's (in a user namespace: after `g`, the maps written).
    if let Err(failure) = placement.enter() {
        return failure;
    }
    if let Err(e) = stdio(spec) {
        return fail("stdio", e);
    }
    let before_pivot = || match &spec.gate {
        Some(gate) => crate::gate::before_pivot(gate, to_parent, &go),
        None => Ok(()),
    };
    let entered = match entry {
        Entry::New(host) => setup(spec, host, &before_pivot),
        Entry::Join(namespaces) => namespaces
            .enter()
            .map_err(|e| fail("join the container's namespaces", e)),
    };
    let entered = entered.and_then(|()| go.wait(b'p'));
    drop(go);
    // Before any path of the container is looked at (user, working directory): no fd of
    // the caller's or of berth's may be reachable through /proc/self/fd (CVE-2024-21626).
    let mut keep = vec![to_parent.as_raw_fd(), dmz.as_fd().as_raw_fd()];
    keep.extend(spec.gate.iter().flat_map(crate::gate::Gate::keep));
    let entered = entered.and_then(|()| {
        crate::fds::close_all_but(&keep).map_err(|e| fail("close inherited fds", e))
    });
    let finished = entered
        .and_then(|()| finish(spec))
        .and_then(|env| match &spec.gate {
            Some(gate) => crate::gate::wait(gate, &spec.args, &env, to_parent).map(|()| env),
            None => Ok(env),
        });
    match finished {
        Ok(env) if spec.init => crate::init::run(&spec.args, &env, to_parent, dmz),
        Ok(env) => exec::exec(&spec.args, &env, dmz, to_parent),
        Err(failure) => failure,
    }
}

/// The parent's go pipe, where bytes come in a fixed order: `g` (go ahead with the
/// namespaces and mounts), `p` (placed in the cgroups: the process may exec; the parent may
/// send both at once), and for a gate with runtime hooks, `h` (they have run). A wait for
/// one that came already (read by a wait for a later one) returns at once.
pub(crate) struct Go {
    pipe: File,
    seen: std::cell::RefCell<Vec<u8>>,
}

impl Go {
    fn new(pipe: File) -> Go {
        Go {
            pipe,
            seen: Default::default(),
        }
    }

    pub(crate) fn wait(&self, what: u8) -> Result<(), ChildFailure> {
        while !self.seen.borrow().contains(&what) {
            let mut byte = [0u8; 1];
            match std::io::Read::read(&mut &self.pipe, &mut byte) {
                Ok(1) => self.seen.borrow_mut().push(byte[0]),
                _ => return Err(fail("waiting for the parent", "it went away")),
            }
        }
        Ok(())
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

/// New namespaces and the root filesystem inside them. In a user namespace (`host`), the
/// child was born in it, and in the network namespace it joins.
fn setup(
    spec: &ContainerSpec,
    host: Option<&HostSide>,
    before_pivot: &dyn Fn() -> Result<(), String>,
) -> Result<(), ChildFailure> {
    if let Some(host) = host {
        // The parent wrote our maps before `g`.
        become_root().map_err(|e| fail("become the user namespace's root", e))?;
        // Unsharing the mount namespace moves the working directory to our copy of it:
        // the way to the rootfs that needs no walk through host directories.
        rustix::process::fchdir(&host.rootfs).map_err(|e| fail("enter the rootfs", e))?;
    }
    // Joined before the mount namespace is made: the paths are the caller's.
    spec.joined
        .enter()
        .map_err(|e| fail("join namespaces", e))?;
    let mut flags = UnshareFlags::NEWNS;
    if spec.joined.uts.is_none() {
        flags |= UnshareFlags::NEWUTS;
    }
    if spec.joined.ipc.is_none() {
        flags |= UnshareFlags::NEWIPC;
    }
    // Docker gives a container its own cgroup namespace on pure v2 hosts only. The parent
    // has placed us in our cgroups already, so they become the namespace's root.
    if spec.cgroup.as_ref().is_some_and(|c| c.mode == "v2") && spec.joined.cgroup.is_none() {
        flags |= UnshareFlags::NEWCGROUP;
    }
    if spec.network == NetworkMode::None {
        flags |= UnshareFlags::NEWNET;
    }
    // SAFETY: no FILES flag, and the child is single-threaded.
    unsafe { rustix::thread::unshare_unsafe(flags) }.map_err(|e| fail("unshare namespaces", e))?;
    if let (NetworkMode::Join(path), None) = (&spec.network, host) {
        let netns = File::open(path)
            .map_err(|e| fail(&format!("open network namespace {}", path.display()), e))?;
        rustix::thread::move_into_link_name_space(
            std::os::fd::AsFd::as_fd(&netns),
            Some(rustix::thread::LinkNameSpaceType::Network),
        )
        .map_err(|e| fail(&format!("join network namespace {}", path.display()), e))?;
    }
    // A joined UTS namespace keeps its name unless one is given (as runc).
    if spec.joined.uts.is_none() || !spec.hostname.is_empty() {
        rustix::system::sethostname(spec.hostname.as_bytes())
            .map_err(|e| fail("sethostname", e))?;
    }
    if spec.network == NetworkMode::None {
        loopback_up().map_err(|e| fail("bring lo up", e))?;
    }
    // (For a user namespace joining berth-net's namespace, the parent set them.)
    match (&spec.network, &spec.userns) {
        (NetworkMode::Host, _) => {}
        (NetworkMode::Join(_), Some(_)) => {}
        // Gids must be mapped in the writer's user namespace.
        (_, Some(userns)) => {
            set_netns_sysctls(userns.contiguous_gids_from_zero()).map_err(|e| fail("sysctls", e))?
        }
        (_, None) => set_netns_sysctls(u32::MAX >> 1).map_err(|e| fail("sysctls", e))?,
    }
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
        host,
        devices: &spec.devices,
        before_pivot,
    };
    crate::rootfs::setup(&plan).map_err(|e| fail("rootfs", e))
}

/// A new network namespace has `lo`, down; Docker's `--network none` has it up. One
/// ioctl pair on a throw-away socket does it (no netlink needed for a flag).
fn loopback_up() -> std::io::Result<()> {
    // SAFETY: plain socket(2); the fd is owned right away.
    let fd = unsafe { libc::socket(libc::AF_INET, libc::SOCK_DGRAM | libc::SOCK_CLOEXEC, 0) };
    if fd < 0 {
        return Err(std::io::Error::last_os_error());
    }
    // SAFETY: fd was just returned by socket(2) and nothing else owns it.
    let socket = unsafe { <std::os::fd::OwnedFd as std::os::fd::FromRawFd>::from_raw_fd(fd) };
    // SAFETY: an all-zero ifreq is valid; the name is NUL-terminated within IFNAMSIZ.
    let mut request: libc::ifreq = unsafe { std::mem::zeroed() };
    for (dst, src) in request.ifr_name.iter_mut().zip(b"lo\0") {
        *dst = *src as libc::c_char;
    }
    let raw = std::os::fd::AsRawFd::as_raw_fd(&socket);
    // SAFETY: SIOCGIFFLAGS/SIOCSIFFLAGS read and write the ifreq we own.
    unsafe {
        if libc::ioctl(raw, libc::SIOCGIFFLAGS, &mut request) < 0 {
            return Err(std::io::Error::last_os_error());
        }
        request.ifr_ifru.ifru_flags |= libc::IFF_UP as libc::c_short;
        if libc::ioctl(raw, libc::SIOCSIFFLAGS, &request) < 0 {
            return Err(std::io::Error::last_os_error());
        }
    }
    Ok(())
}

/// Limits, user, working directory, no_new_privs, seccomp, capabilities, fds: the same
/// for a new container and for a process joining one. Returns the environment.
fn finish(spec: &ContainerSpec) -> Result<Vec<String>, ChildFailure> {
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
    crate::workdir::enter(&spec.cwd, &user)?;
    if spec.no_new_privs {
        rustix::thread::set_no_new_privs(true).map_err(|e| fail("set no_new_privs", e))?;
    }
    if let Some(apply) = &spec.seccomp {
        apply().map_err(|e| fail("seccomp", e))?;
    }
    let mut user = user;
    match &spec.gate {
        Some(gate) => {
            user.groups = gate.additional_gids.clone();
            gate.caps.before_user()?;
            switch_user(&user)?;
            gate.caps.after_user()?;
        }
        None => {
            capsets::limit_bounding(&spec.caps).map_err(|e| fail("capabilities", e))?;
            switch_user(&user)?;
            capsets::set_process_caps(&spec.caps, user.uid == 0)
                .map_err(|e| fail("capabilities", e))?;
        }
    }
    close_inherited_fds()?;
    Ok(env)
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

/// Only stdio crosses into the container (CVE-2024-21626): what is still open (the start
/// pipe, which closing tells the parent we exec'd, and the dmz's memfd; whatever `finish`
/// opened) is marked close-on-exec.
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
