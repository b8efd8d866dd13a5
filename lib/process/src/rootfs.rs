//! Inside the new mount namespace, before pivot_root: the container's mounts, /proc, /dev,
//! /sys, the /etc files, masked and read-only paths; then pivot_root. Every target is
//! resolved inside the rootfs (`target.rs`) and checked through its fd before use.

use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::path::Path;

use berth_common::MountEntry;
use rustix::fs::{self, FileType, Mode, OFlags};
use rustix::io::Errno;
use rustix::mount::{self as m, MountFlags, MountPropagationFlags, UnmountFlags};

use berth_rootfs::{mount_bind_onto, BindOptions, Kind};

use crate::userns::HostSide;

/// What to create when a mount target is missing.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Create {
    Nothing,
    Dir,
    File,
}

/// A target inside the container's root, resolved without leaving it (berth-rootfs),
/// as an O_PATH fd to mount onto.
pub(crate) fn open_in_root(
    root: BorrowedFd<'_>,
    path: &str,
    create: Create,
) -> std::result::Result<OwnedFd, Errno> {
    let kind = match create {
        Create::Nothing => None,
        Create::Dir => Some(Kind::Dir),
        Create::File => Some(Kind::File),
    };
    berth_rootfs::open_in_root(root, path, kind).map_err(|e| match e {
        berth_rootfs::RootfsError::InRoot { source, .. } => {
            Errno::from_io_error(&source).unwrap_or(Errno::INVAL)
        }
        _ => Errno::INVAL,
    })
}

fn fd_path(fd: BorrowedFd<'_>) -> String {
    berth_rootfs::fd_path(fd).display().to_string()
}

const PROC_SUPER_MAGIC: i64 = 0x9fa0;
const SYSFS_MAGIC: i64 = 0x62656572;
const TMPFS_MAGIC: i64 = 0x01021994;

/// Docker's masked paths: files get /dev/null bound over them, directories an empty
/// read-only tmpfs.
pub const MASKED: &[&str] = &[
    "/proc/acpi",
    "/proc/asound",
    "/proc/interrupts",
    "/proc/kcore",
    "/proc/keys",
    "/proc/latency_stats",
    "/proc/sched_debug",
    "/proc/scsi",
    "/proc/timer_list",
    "/proc/timer_stats",
    "/sys/devices/virtual/powercap",
    "/sys/firmware",
];
pub const READ_ONLY: &[&str] = &[
    "/proc/bus",
    "/proc/fs",
    "/proc/irq",
    "/proc/sys",
    "/proc/sysrq-trigger",
];

/// Docker's default device nodes: (name, major, minor).
const DEVICES: &[(&str, u32, u32)] = &[
    ("null", 1, 3),
    ("zero", 1, 5),
    ("full", 1, 7),
    ("random", 1, 8),
    ("urandom", 1, 9),
    ("tty", 5, 0),
];
const DEV_LINKS: &[(&str, &str)] = &[
    ("fd", "/proc/self/fd"),
    ("stdin", "/proc/self/fd/0"),
    ("stdout", "/proc/self/fd/1"),
    ("stderr", "/proc/self/fd/2"),
    ("ptmx", "pts/ptmx"),
    ("core", "/proc/kcore"),
];

#[derive(Debug, thiserror::Error)]
#[error("{what} {path}: {source}")]
pub struct SetupError {
    pub what: &'static str,
    pub path: String,
    pub source: std::io::Error,
}

pub(crate) type Result<T> = std::result::Result<T, SetupError>;

fn err<'a>(what: &'static str, path: &'a str) -> impl FnOnce(Errno) -> SetupError + 'a {
    move |e| SetupError {
        what,
        path: path.to_string(),
        source: e.into(),
    }
}

pub struct RootfsPlan<'a> {
    pub rootfs: &'a Path,
    pub mounts: &'a [MountEntry],
    pub readonly: bool,
    pub privileged: bool,
    /// A new network namespace (sysfs can be mounted fresh) or the host's.
    pub own_netns: bool,
    /// Host files bound over /etc/hostname, /etc/hosts, /etc/resolv.conf.
    pub etc_files: &'a [(std::path::PathBuf, &'static str)],
    pub shm_size: u64,
    /// The container's cgroups, shown read-only at /sys/fs/cgroup.
    pub cgroup: Option<&'a berth_common::CgroupPart>,
    /// The pty slave (`/dev/pts/N` of the host), bound over /dev/console (`-t`).
    pub console: Option<&'a Path>,
    /// In a user namespace: the sources the parent cloned (the working directory is our
    /// copy of the rootfs), and devices are bound from the host's /dev (a user namespace
    /// cannot make device nodes).
    pub host: Option<&'a HostSide>,
    /// Device nodes of the spec's own, made after the mounts.
    pub devices: &'a [crate::devices::DeviceNode],
    /// Run after every mount, before pivot_root (an OCI gate's hooks).
    pub before_pivot: &'a dyn Fn() -> std::result::Result<(), String>,
}

pub fn setup(plan: &RootfsPlan<'_>) -> Result<()> {
    let rootfs_text = plan.rootfs.display().to_string();
    // Nothing we mount may propagate back to the host.
    m::mount_change(
        "/",
        MountPropagationFlags::DOWNSTREAM | MountPropagationFlags::REC,
    )
    .map_err(err("make / rslave", "/"))?;
    let root = match plan.host {
        None => {
            m::mount_bind_recursive(plan.rootfs, plan.rootfs)
                .map_err(err("bind the rootfs onto itself", &rootfs_text))?;
            fs::open(
                plan.rootfs,
                OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC,
                Mode::empty(),
            )
            .map_err(err("open rootfs", &rootfs_text))?
        }
        Some(_) => bind_cwd_onto_itself(&rootfs_text)?,
    };
    mount_proc(&root)?;
    mount_dev(&root, plan.shm_size, plan.host.is_some())?;
    if let Some(console) = plan.console {
        let target = open_in_root(root.as_fd(), "/dev/console", Create::File)
            .map_err(err("create", "/dev/console"))?;
        mount_bind_onto(console, target.as_fd(), BindOptions::default()).map_err(|e| {
            SetupError {
                what: "bind the terminal on",
                path: "/dev/console".into(),
                source: std::io::Error::other(e.to_string()),
            }
        })?;
    }
    mount_sys(
        &root,
        plan.own_netns,
        plan.host.and_then(|h| h.sysfs.as_ref()),
    )?;
    if let Some(cgroup) = plan.cgroup {
        mount_cgroups(&root, cgroup)?;
    }
    for (i, entry) in plan.mounts.iter().enumerate() {
        match plan
            .host
            .and_then(|h| h.trees.get(i))
            .and_then(Option::as_ref)
        {
            Some(tree) => berth_rootfs::mount_entry_from_tree(root.as_fd(), entry, tree.as_fd())
                .map_err(|e| SetupError {
                    what: "mount",
                    path: entry.target.clone(),
                    source: std::io::Error::other(e.to_string()),
                })?,
            None => mount_entry(&root, entry)?,
        }
    }
    crate::devices::make(root.as_fd(), plan.devices, plan.host.is_some())?;
    for (i, (source, target)) in plan.etc_files.iter().enumerate() {
        let fd = open_in_root(root.as_fd(), target, Create::File)
            .map_err(err("create mount target", target))?;
        match plan.host.and_then(|h| h.etc_trees.get(i)) {
            Some(tree) => berth_rootfs::attach_tree(
                tree.as_fd(),
                fd.as_fd(),
                BindOptions::default(),
                &source.display().to_string(),
            )
            .map_err(|e| SetupError {
                what: "bind",
                path: target.to_string(),
                source: std::io::Error::other(e.to_string()),
            })?,
            None => m::mount_bind(source, fd_path(fd.as_fd())).map_err(err("bind", target))?,
        }
    }
    if !plan.privileged {
        mask_paths(&root)?;
    }
    (plan.before_pivot)().map_err(|e| SetupError {
        what: "before",
        path: "pivot_root".into(),
        source: std::io::Error::other(e),
    })?;
    pivot(&root, &rootfs_text)?;
    if plan.readonly {
        m::mount_remount("/", MountFlags::BIND | MountFlags::RDONLY, "")
            .map_err(err("remount read-only", "/"))?;
    }
    Ok(())
}

/// In a user namespace, with the working directory on our copy of the rootfs (a mount
/// locked to the namespace, which pivot_root refuses): a bind of it on itself, made from
/// the working directory, so no host path is walked. Returns an `O_PATH` fd on the bind.
fn bind_cwd_onto_itself(rootfs: &str) -> Result<OwnedFd> {
    use rustix::mount::{move_mount, open_tree, MoveMountFlags, OpenTreeFlags};
    let tree = open_tree(
        fs::CWD,
        ".",
        OpenTreeFlags::OPEN_TREE_CLONE
            | OpenTreeFlags::OPEN_TREE_CLOEXEC
            | OpenTreeFlags::AT_RECURSIVE,
    )
    .map_err(err("clone the rootfs", rootfs))?;
    move_mount(
        &tree,
        "",
        fs::CWD,
        ".",
        MoveMountFlags::MOVE_MOUNT_F_EMPTY_PATH,
    )
    .map_err(err("bind the rootfs onto itself", rootfs))?;
    // The fd now refers to the attached bind.
    Ok(tree)
}

/// An empty directory in the image's tree to mount on; the image cannot redirect it.
fn dir_target(root: &OwnedFd, path: &'static str) -> Result<OwnedFd> {
    let fd =
        open_in_root(root.as_fd(), path, Create::Dir).map_err(err("open mount target", path))?;
    let st = fs::fstat(&fd).map_err(err("stat", path))?;
    if FileType::from_raw_mode(st.st_mode) != FileType::Directory {
        return Err(SetupError {
            what: "mount target",
            path: path.into(),
            source: std::io::Error::other("is not a directory in the image"),
        });
    }
    Ok(fd)
}

/// Reopens `path` and checks the filesystem under it is the one we mounted there.
fn check_fs(root: &OwnedFd, path: &'static str, magic: i64) -> Result<OwnedFd> {
    let fd = open_in_root(root.as_fd(), path, Create::Nothing).map_err(err("reopen", path))?;
    let st = fs::fstatfs(&fd).map_err(err("statfs", path))?;
    if st.f_type as i64 != magic {
        return Err(SetupError {
            what: "check",
            path: path.into(),
            source: std::io::Error::other("not the filesystem berth mounted there"),
        });
    }
    Ok(fd)
}

fn mount_proc(root: &OwnedFd) -> Result<()> {
    let target = dir_target(root, "/proc")?;
    let flags = MountFlags::NOSUID | MountFlags::NOEXEC | MountFlags::NODEV;
    m::mount("proc", fd_path(target.as_fd()), "proc", flags, None)
        .map_err(err("mount proc on", "/proc"))?;
    check_fs(root, "/proc", PROC_SUPER_MAGIC).map(drop)
}

fn mount_dev(root: &OwnedFd, shm_size: u64, bind_devices: bool) -> Result<()> {
    let target = dir_target(root, "/dev")?;
    let flags = MountFlags::NOSUID | MountFlags::STRICTATIME;
    m::mount(
        "tmpfs",
        fd_path(target.as_fd()),
        "tmpfs",
        flags,
        c"mode=755,size=65536k",
    )
    .map_err(err("mount tmpfs on", "/dev"))?;
    let dev = check_fs(root, "/dev", TMPFS_MAGIC)?;
    let dev = fs::openat(
        &dev,
        ".",
        OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
        Mode::empty(),
    )
    .map_err(err("open", "/dev"))?;
    let _umask = crate::umask::Cleared::new();
    for (name, major, minor) in DEVICES {
        if bind_devices {
            bind_device(&dev, name, *major, *minor)?;
            continue;
        }
        fs::mknodat(
            &dev,
            *name,
            FileType::CharacterDevice,
            Mode::from_raw_mode(0o666),
            fs::makedev(*major, *minor),
        )
        .map_err(err("mknod", name))?;
    }
    for (name, target) in DEV_LINKS {
        fs::symlinkat(*target, &dev, *name).map_err(err("symlink", name))?;
    }
    for dir in ["pts", "shm", "mqueue"] {
        fs::mkdirat(&dev, dir, Mode::from_raw_mode(0o755)).map_err(err("mkdir", dir))?;
    }
    let pts =
        open_in_root(root.as_fd(), "/dev/pts", Create::Nothing).map_err(err("open", "/dev/pts"))?;
    m::mount(
        "devpts",
        fd_path(pts.as_fd()),
        "devpts",
        MountFlags::NOSUID | MountFlags::NOEXEC,
        c"newinstance,ptmxmode=0666,mode=0620,gid=5",
    )
    .map_err(err("mount devpts on", "/dev/pts"))?;
    let shm =
        open_in_root(root.as_fd(), "/dev/shm", Create::Nothing).map_err(err("open", "/dev/shm"))?;
    let shm_opts = std::ffi::CString::new(format!("mode=1777,size={shm_size}")).expect("no NUL");
    m::mount(
        "shm",
        fd_path(shm.as_fd()),
        "tmpfs",
        MountFlags::NOSUID | MountFlags::NOEXEC | MountFlags::NODEV,
        shm_opts.as_c_str(),
    )
    .map_err(err("mount tmpfs on", "/dev/shm"))?;
    let mqueue = open_in_root(root.as_fd(), "/dev/mqueue", Create::Nothing)
        .map_err(err("open", "/dev/mqueue"))?;
    m::mount(
        "mqueue",
        fd_path(mqueue.as_fd()),
        "mqueue",
        MountFlags::NOSUID | MountFlags::NOEXEC | MountFlags::NODEV,
        None,
    )
    .map_err(err("mount mqueue on", "/dev/mqueue"))
}

/// What runc does in a user namespace: the host's device node (checked to be the
/// expected one) bound onto an empty file of the container's /dev.
fn bind_device(dev: &OwnedFd, name: &'static str, major: u32, minor: u32) -> Result<()> {
    let node = crate::devices::DeviceNode {
        path: format!("/dev/{name}"),
        kind: 'c',
        major,
        minor,
        mode: 0o666,
        uid: 0,
        gid: 0,
    };
    crate::devices::bind_host(dev, std::ffi::OsStr::new(name), &node)
}

/// A fresh sysfs (own network namespace), the one the parent mounted for a user namespace
/// (`prepared`), or the host's bound read-only.
fn mount_sys(root: &OwnedFd, own_netns: bool, prepared: Option<&OwnedFd>) -> Result<()> {
    let target = dir_target(root, "/sys")?;
    let flags = MountFlags::NOSUID | MountFlags::NOEXEC | MountFlags::NODEV | MountFlags::RDONLY;
    if let Some(sysfs) = prepared {
        berth_rootfs::attach_tree(
            sysfs.as_fd(),
            target.as_fd(),
            BindOptions::default(),
            "sysfs",
        )
        .map_err(|e| SetupError {
            what: "mount sysfs on",
            path: "/sys".into(),
            source: std::io::Error::other(e.to_string()),
        })?;
    } else if own_netns {
        m::mount("sysfs", fd_path(target.as_fd()), "sysfs", flags, None)
            .map_err(err("mount sysfs on", "/sys"))?;
    } else {
        // sysfs of the host's netns cannot be mounted again from here: bind it read-only.
        m::mount_bind_recursive("/sys", fd_path(target.as_fd()))
            .map_err(err("bind /sys on", "/sys"))?;
        let again =
            open_in_root(root.as_fd(), "/sys", Create::Nothing).map_err(err("reopen", "/sys"))?;
        m::mount_remount(fd_path(again.as_fd()), MountFlags::BIND | flags, "")
            .map_err(err("remount read-only", "/sys"))?;
    }
    check_fs(root, "/sys", SYSFS_MAGIC).map(drop)
}

/// /sys/fs/cgroup as Docker shows it. v1 and hybrid: a tmpfs with each controller's
/// container cgroup bound read-only under its name. v2: the cgroup2 filesystem of the
/// container's own cgroup namespace, read-only.
fn mount_cgroups(root: &OwnedFd, cgroup: &berth_common::CgroupPart) -> Result<()> {
    let target = open_in_root(root.as_fd(), "/sys/fs/cgroup", Create::Nothing)
        .map_err(err("open", "/sys/fs/cgroup"))?;
    let ro = MountFlags::NOSUID | MountFlags::NOEXEC | MountFlags::NODEV | MountFlags::RDONLY;
    if cgroup.mode == "v2" {
        return m::mount("cgroup2", fd_path(target.as_fd()), "cgroup2", ro, None)
            .map_err(err("mount cgroup2 on", "/sys/fs/cgroup"));
    }
    let flags = MountFlags::NOSUID | MountFlags::NOEXEC | MountFlags::NODEV;
    m::mount(
        "tmpfs",
        fd_path(target.as_fd()),
        "tmpfs",
        flags,
        c"mode=755",
    )
    .map_err(err("mount tmpfs on", "/sys/fs/cgroup"))?;
    // The tmpfs is new and nothing else writes to it before the container runs: its
    // directories are made relative to its root, with no walk from the container's root.
    let cgroupfs = open_in_root(root.as_fd(), "/sys/fs/cgroup", Create::Nothing)
        .map_err(err("open", "/sys/fs/cgroup"))?;
    for (controller, path) in &cgroup.paths {
        let inside = format!("/sys/fs/cgroup/{controller}");
        if controller.is_empty() || controller.contains('/') || controller.starts_with('.') {
            return Err(SetupError {
                what: "name a controller directory",
                path: inside,
                source: std::io::Error::from(std::io::ErrorKind::InvalidInput),
            });
        }
        fs::mkdirat(&cgroupfs, controller.as_str(), Mode::from_raw_mode(0o755))
            .map_err(err("create", &inside))?;
        let fd = fs::openat(
            &cgroupfs,
            controller.as_str(),
            OFlags::PATH | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
            Mode::empty(),
        )
        .map_err(err("open", &inside))?;
        let options = BindOptions {
            readonly: true,
            recursive: true,
            ..BindOptions::default()
        };
        mount_bind_onto(path.as_path(), fd.as_fd(), options).map_err(|e| SetupError {
            what: "bind cgroup",
            path: inside.clone(),
            source: std::io::Error::other(e.to_string()),
        })?;
    }
    m::mount_remount(fd_path(cgroupfs.as_fd()), ro, "")
        .map_err(err("remount read-only", "/sys/fs/cgroup"))
}

fn mount_entry(root: &OwnedFd, entry: &MountEntry) -> Result<()> {
    berth_rootfs::mount_entry(root.as_fd(), entry).map_err(|e| SetupError {
        what: "mount",
        path: entry.target.clone(),
        source: std::io::Error::other(e.to_string()),
    })
}

fn mask_paths(root: &OwnedFd) -> Result<()> {
    let null = open_in_root(root.as_fd(), "/dev/null", Create::Nothing)
        .map_err(err("open", "/dev/null"))?;
    let st = fs::fstat(&null).map_err(err("stat", "/dev/null"))?;
    let is_null = FileType::from_raw_mode(st.st_mode) == FileType::CharacterDevice
        && st.st_rdev == fs::makedev(1, 3);
    if !is_null {
        return Err(SetupError {
            what: "check",
            path: "/dev/null".into(),
            source: std::io::Error::other("is not the null device (1:3)"),
        });
    }
    for path in MASKED {
        let target = match open_in_root(root.as_fd(), path, Create::Nothing) {
            Ok(fd) => fd,
            Err(Errno::NOENT) => continue,
            Err(e) => return Err(err("open masked path", path)(e)),
        };
        let st = fs::fstat(&target).map_err(err("stat", path))?;
        if FileType::from_raw_mode(st.st_mode) == FileType::Directory {
            m::mount(
                "tmpfs",
                fd_path(target.as_fd()),
                "tmpfs",
                MountFlags::RDONLY,
                None,
            )
            .map_err(err("mask", path))?;
        } else {
            m::mount_bind(fd_path(null.as_fd()), fd_path(target.as_fd()))
                .map_err(err("mask", path))?;
        }
    }
    mask_thermal(root)?;
    for path in READ_ONLY {
        let target = match open_in_root(root.as_fd(), path, Create::Nothing) {
            Ok(fd) => fd,
            Err(Errno::NOENT) => continue,
            Err(e) => return Err(err("open read-only path", path)(e)),
        };
        m::mount_bind_recursive(fd_path(target.as_fd()), fd_path(target.as_fd()))
            .map_err(err("bind", path))?;
        let again =
            open_in_root(root.as_fd(), path, Create::Nothing).map_err(err("reopen", path))?;
        m::mount_remount(
            fd_path(again.as_fd()),
            MountFlags::BIND
                | MountFlags::RDONLY
                | MountFlags::NOSUID
                | MountFlags::NODEV
                | MountFlags::NOEXEC,
            "",
        )
        .map_err(err("remount read-only", path))?;
    }
    Ok(())
}

/// `/sys/devices/system/cpu/cpuN/thermal_throttle`, where present.
fn mask_thermal(root: &OwnedFd) -> Result<()> {
    let Ok(cpus) = std::fs::read_dir("/sys/devices/system/cpu") else {
        return Ok(());
    };
    for cpu in cpus.flatten() {
        let name = cpu.file_name().to_string_lossy().into_owned();
        if !name.starts_with("cpu")
            || !name[3..].chars().all(|c| c.is_ascii_digit())
            || name.len() == 3
        {
            continue;
        }
        let path = format!("/sys/devices/system/cpu/{name}/thermal_throttle");
        if let Ok(fd) = open_in_root(root.as_fd(), &path, Create::Nothing) {
            m::mount(
                "tmpfs",
                fd_path(fd.as_fd()),
                "tmpfs",
                MountFlags::RDONLY,
                None,
            )
            .map_err(|e| SetupError {
                what: "mask",
                path: path.clone(),
                source: e.into(),
            })?;
        }
    }
    Ok(())
}

/// pivot_root(".", ".") then detach the old root: no path to the host is left.
fn pivot(root: &OwnedFd, rootfs: &str) -> Result<()> {
    rustix::process::fchdir(root).map_err(err("chdir", rootfs))?;
    rustix::process::pivot_root(".", ".").map_err(err("pivot_root into", rootfs))?;
    m::unmount(".", UnmountFlags::DETACH).map_err(err("detach the old root", "/"))?;
    rustix::process::chdir("/").map_err(err("chdir", "/"))
}
