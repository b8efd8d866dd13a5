//! Persistent network namespaces, the `ip netns` way: a namespace is kept alive by a bind mount
//! of its nsfs file onto an empty file (`<run-dir>/netns/<id>`), so it outlives every process in
//! it and can be joined (setns) or handed to the kernel (`IFLA_NET_NS_FD`) by path.
//!
//! Namespace changes happen only on short-lived dedicated threads: `unshare(CLONE_NEWNET)` and
//! `setns(CLONE_NEWNET)` affect the calling thread alone, so the caller's thread (and every
//! other thread of the process) stays in its own namespace whatever happens.

use std::fs;
use std::io;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::thread;

use rustix::fs::{Mode, OFlags};
use rustix::mount::UnmountFlags;
use rustix::thread::{LinkNameSpaceType, UnshareFlags};

use crate::netlink::{Netlink, NetlinkError};

/// The calling thread's own network namespace, as a bind-mount source.
const THREAD_NETNS: &str = "/proc/thread-self/ns/net";

/// `NSFS_MAGIC`, the `f_type` of a namespace file (widened: `f_type`'s type varies by arch).
const NSFS_MAGIC: i128 = 0x6e73_6673;

/// `ifindex` of the loopback device, fixed in every network namespace (`LOOPBACK_IFINDEX`).
const LOOPBACK_IFINDEX: u32 = 1;

/// Errors of the network-namespace helpers; each names the operation and the namespace file.
#[derive(Debug, thiserror::Error)]
pub enum NetnsError {
    /// A system call on the namespace file (or made for it) failed.
    #[error("{op} {}: {source}", path.display())]
    Io {
        op: &'static str,
        path: PathBuf,
        source: io::Error,
    },
    /// The namespace was made but `lo` could not be brought up inside it (it was removed again).
    #[error("bring up lo in the new network namespace at {}: {source}", path.display())]
    Loopback {
        path: PathBuf,
        source: Box<NetlinkError>,
    },
}

impl NetnsError {
    /// The errno behind the error, if a system call failed.
    pub fn errno(&self) -> Option<i32> {
        match self {
            NetnsError::Io { source, .. } => source.raw_os_error(),
            NetnsError::Loopback { source, .. } => source.errno(),
        }
    }
}

/// Builds a closure turning an error into [`NetnsError::Io`] for `op` on `path`.
fn io_err<'a, E: Into<io::Error>>(
    op: &'static str,
    path: &'a Path,
) -> impl FnOnce(E) -> NetnsError + 'a {
    move |e| NetnsError::Io {
        op,
        path: path.to_path_buf(),
        source: e.into(),
    }
}

/// Creates a new network namespace and bind-mounts it at `path` (creating an empty file there,
/// and its parent directories). The namespace is made on a short-lived dedicated thread
/// (`unshare(CLONE_NEWNET)`, bind mount of `/proc/thread-self/ns/net`, `lo` brought up through
/// a netlink socket opened there), so the calling thread's namespace never changes. On any
/// failure nothing is left behind: the mount is undone and the file removed.
///
/// Fails (EEXIST) if `path` already exists: a stale file must be [`remove`]d first.
pub fn create(path: &Path) -> Result<(), NetnsError> {
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        fs::create_dir_all(parent).map_err(io_err("create directory", parent))?;
        ensure_shared(parent)?;
    }
    fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o444)
        .custom_flags(libc::O_CLOEXEC)
        .open(path)
        .map_err(io_err("create network namespace file", path))?;
    let owned = path.to_path_buf();
    let spawned = thread::Builder::new()
        .name("berth-netns-new".into())
        .spawn(move || make_here(&owned));
    let outcome = match spawned {
        Ok(handle) => handle.join(),
        Err(e) => Ok(Err(io_err(
            "spawn a thread to create network namespace",
            path,
        )(e))),
    };
    match outcome {
        Ok(Ok(())) => Ok(()),
        Ok(Err(e)) => {
            let _ = fs::remove_file(path);
            Err(e)
        }
        Err(panic) => {
            let _ = detach(path);
            let _ = fs::remove_file(path);
            std::panic::resume_unwind(panic)
        }
    }
}

/// Makes `dir` a mount point of its own with shared propagation, as iproute2 does for
/// /run/netns: a mount namespace made while a namespace file is mounted here (another
/// engine's container, `unshare -m`, a service with a private /tmp) gets a copy of that
/// mount, and only with shared propagation does the later unmount reach the copy too, so the
/// namespace (and the veth in it) really goes when its container does.
fn ensure_shared(dir: &Path) -> Result<(), NetnsError> {
    let _lock = berth_common::FileLock::acquire(
        &dir.with_extension("lock"),
        berth_common::LockMode::Exclusive,
    )
    .map_err(|e| io_err("lock", dir)(io::Error::other(e)))?;
    if !is_mount_root(dir) {
        rustix::mount::mount_bind(dir, dir).map_err(io_err("bind-mount onto itself", dir))?;
    }
    rustix::mount::mount_change(dir, rustix::mount::MountPropagationFlags::SHARED)
        .map_err(io_err("make shared", dir))
}

fn is_mount_root(dir: &Path) -> bool {
    rustix::fs::statx(
        rustix::fs::CWD,
        dir,
        rustix::fs::AtFlags::SYMLINK_NOFOLLOW,
        rustix::fs::StatxFlags::BASIC_STATS,
    )
    .is_ok_and(|st| {
        st.stx_attributes
            .contains(rustix::fs::StatxAttributes::MOUNT_ROOT)
    })
}

/// Unmounts the namespace directory's own mount once no namespace file is left in it.
pub fn release_dir(dir: &Path) -> Result<(), NetnsError> {
    let empty = fs::read_dir(dir)
        .map(|mut d| d.next().is_none())
        .unwrap_or(false);
    if empty && is_mount_root(dir) {
        detach(dir).map_err(io_err("unmount", dir))?;
    }
    Ok(())
}

/// Runs on the dedicated thread of [`create`]: moves this thread into a new network namespace,
/// pins it at `path` and brings `lo` up. Undoes the mount if `lo` cannot be brought up.
fn make_here(path: &Path) -> Result<(), NetnsError> {
    unshare_netns().map_err(io_err("unshare a network namespace for", path))?;
    rustix::mount::mount_bind(THREAD_NETNS, path)
        .map_err(io_err("bind-mount a new network namespace on", path))?;
    let lo = Netlink::open().and_then(|mut nl| nl.set_up(LOOPBACK_IFINDEX));
    if let Err(e) = lo {
        let _ = detach(path);
        return Err(NetnsError::Loopback {
            path: path.to_path_buf(),
            source: Box::new(e),
        });
    }
    Ok(())
}

/// Moves the calling thread (only) into a new network namespace.
fn unshare_netns() -> rustix::io::Result<()> {
    // SAFETY: `unshare_unsafe` is unsafe because of CLONE_FILES (other threads could observe fds
    // from an unshared table). Only CLONE_NEWNET is passed: it changes the network namespace of
    // this thread and nothing about its file descriptors or memory. Callers run this on a
    // dedicated thread that exits right afterwards.
    unsafe { rustix::thread::unshare_unsafe(UnshareFlags::NEWNET) }
}

/// Moves the calling thread (only) into the network namespace `ns`.
fn enter_netns(ns: BorrowedFd<'_>) -> rustix::io::Result<()> {
    rustix::thread::move_into_link_name_space(ns, Some(LinkNameSpaceType::Network))
}

/// Lazily unmounts `path`.
fn detach(path: &Path) -> rustix::io::Result<()> {
    rustix::mount::unmount(path, UnmountFlags::DETACH)
}

/// Unmounts (MNT_DETACH) and removes the namespace file at `path`. Ok if it does not exist;
/// a file that is not mounted (a stale one) is removed all the same.
pub fn remove(path: &Path) -> Result<(), NetnsError> {
    match detach(path) {
        // EINVAL: not a mount point (stale file); ENOENT: nothing there.
        Ok(()) | Err(rustix::io::Errno::INVAL) | Err(rustix::io::Errno::NOENT) => {}
        Err(e) => return Err(io_err("unmount network namespace", path)(e)),
    }
    match fs::remove_file(path) {
        Err(e) if e.kind() != io::ErrorKind::NotFound => {
            Err(io_err("remove network namespace file", path)(e))
        }
        _ => Ok(()),
    }
}

/// Opens the namespace file (`O_RDONLY|O_CLOEXEC`), for setns or `IFLA_NET_NS_FD`.
pub fn open(path: &Path) -> Result<OwnedFd, NetnsError> {
    rustix::fs::open(path, OFlags::RDONLY | OFlags::CLOEXEC, Mode::empty())
        .map_err(io_err("open network namespace", path))
}

/// Runs `f` on a dedicated thread that has joined the network namespace at `path`, returning
/// its result; the calling thread's namespace never changes. A panic in `f` is resumed on the
/// calling thread. Used to open netlink sockets and write `/proc/sys/net` sysctls inside a
/// container's namespace (a socket stays bound to the namespace it was created in). Inside
/// `f`, `/proc/sys/net` is the joined namespace's; `/proc/net` is not (it follows the
/// process's main thread): use `/proc/thread-self/net`.
pub fn run_in<T: Send + 'static>(
    path: &Path,
    f: impl FnOnce() -> T + Send + 'static,
) -> Result<T, NetnsError> {
    let ns = open(path)?;
    let owned = path.to_path_buf();
    let handle = thread::Builder::new()
        .name("berth-netns-run".into())
        .spawn(move || {
            enter_netns(ns.as_fd()).map_err(io_err("join network namespace", &owned))?;
            drop(ns);
            Ok(f())
        })
        .map_err(io_err("spawn a thread to join network namespace", path))?;
    match handle.join() {
        Ok(result) => result,
        Err(panic) => std::panic::resume_unwind(panic),
    }
}

/// Whether `path` is a mounted namespace file (its filesystem is nsfs) — tells a live
/// namespace from a stale file left by a crash. False when `path` does not exist.
pub fn is_mounted(path: &Path) -> bool {
    rustix::fs::statfs(path).is_ok_and(|st| i128::from(st.f_type) == NSFS_MAGIC)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicU32, Ordering};

    static COUNTER: AtomicU32 = AtomicU32::new(0);

    /// A unique `bt` + 6 hex prefix for this test's objects.
    fn prefix() -> String {
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        format!(
            "bt{:06x}",
            (std::process::id().wrapping_mul(16) + n) & 0xff_ffff
        )
    }

    /// Removes the namespaces a test made (even when it panics), then its temporary directory.
    struct Guard {
        dir: tempfile::TempDir,
        netns: Vec<PathBuf>,
    }

    impl Guard {
        fn new() -> Guard {
            Guard {
                dir: tempfile::tempdir().expect("tempdir"),
                netns: Vec::new(),
            }
        }

        /// A namespace path under the temporary directory, removed on drop.
        fn netns(&mut self, rel: &str) -> PathBuf {
            let path = self.dir.path().join(rel);
            self.netns.push(path.clone());
            path
        }
    }

    impl Drop for Guard {
        fn drop(&mut self) {
            for path in &self.netns {
                let _ = remove(path);
            }
            // `create` makes a namespace's directory a shared mount of itself, with a lock
            // file beside it: undo both, or the temporary directory stays mounted.
            let mut dirs: Vec<PathBuf> = self
                .netns
                .iter()
                .filter_map(|p| p.parent().map(Path::to_path_buf))
                .collect();
            dirs.sort_by_key(|d| std::cmp::Reverse(d.components().count()));
            dirs.dedup();
            for dir in dirs {
                while is_mount_root(&dir) && detach(&dir).is_ok() {}
                let _ = fs::remove_file(dir.with_extension("lock"));
            }
        }
    }

    fn mountinfo_mentions(path: &Path) -> bool {
        let me = procfs::process::Process::myself().expect("own /proc");
        let mounts = me.mountinfo().expect("mountinfo");
        mounts.iter().any(|m| m.mount_point == path)
    }

    fn own_netns() -> PathBuf {
        fs::read_link("/proc/thread-self/ns/net").expect("own netns")
    }

    #[test]
    fn netns_create_remove() {
        let mut g = Guard::new();
        let path = g.netns(&format!("a/b/{}", prefix()));
        let before = own_netns();
        create(&path).expect("create");
        assert_eq!(
            own_netns(),
            before,
            "the calling thread stayed in its namespace"
        );
        assert!(is_mounted(&path));
        assert!(mountinfo_mentions(&path));
        let lo = run_in(&path, || {
            let mut nl = Netlink::open()?;
            Ok::<_, NetlinkError>((nl.link("lo")?, nl.links()?.len()))
        })
        .expect("run_in")
        .expect("netlink inside");
        let (lo, count) = lo;
        let lo = lo.expect("lo inside");
        assert!(lo.up, "lo is up inside");
        assert_eq!(lo.index, LOOPBACK_IFINDEX);
        assert_eq!(count, 1, "a fresh namespace has only lo");
        assert_eq!(own_netns(), before);

        remove(&path).expect("remove");
        assert!(!path.exists());
        assert!(!is_mounted(&path));
        assert!(!mountinfo_mentions(&path), "no mount left");
        remove(&path).expect("remove again");
    }

    #[test]
    fn netns_remove_missing_and_stale() {
        let mut g = Guard::new();
        let missing = g.netns(&prefix());
        remove(&missing).expect("missing is ok");
        let stale = g.netns(&prefix());
        fs::write(&stale, b"").expect("stale file");
        assert!(!is_mounted(&stale));
        remove(&stale).expect("stale removed");
        assert!(!stale.exists());
    }

    #[test]
    fn netns_create_refuses_existing_file() {
        let mut g = Guard::new();
        let path = g.netns(&prefix());
        fs::write(&path, b"keep").expect("file");
        let err = create(&path).expect_err("exists");
        assert_eq!(err.errno(), Some(libc::EEXIST));
        assert!(
            err.to_string().contains(path.to_str().expect("utf-8")),
            "{err}"
        );
        assert_eq!(fs::read(&path).expect("still there"), b"keep");
        assert!(!is_mounted(&path));
    }

    #[test]
    fn netns_open_and_run_in_errors_name_the_path() {
        let mut g = Guard::new();
        let missing = g.netns(&prefix());
        let err = open(&missing).expect_err("missing");
        assert_eq!(err.errno(), Some(libc::ENOENT));
        assert!(err.to_string().contains("open network namespace"), "{err}");
        let stale = g.netns(&prefix());
        fs::write(&stale, b"").expect("stale file");
        let err = run_in(&stale, || ()).expect_err("not a namespace");
        assert_eq!(err.errno(), Some(libc::EINVAL));
        assert!(err.to_string().contains("join network namespace"), "{err}");
    }

    #[test]
    fn netns_run_in_is_isolated() {
        let mut g = Guard::new();
        let p = prefix();
        let path = g.netns(&p);
        create(&path).expect("create");
        // A bridge made inside is invisible on the host and dies with the namespace.
        let name = format!("{p}x");
        let inside_name = name.clone();
        let (index, inside_ns) = run_in(&path, move || {
            let mut nl = Netlink::open().expect("open inside");
            (
                nl.create_bridge(&inside_name, 1500).expect("bridge inside"),
                own_netns(),
            )
        })
        .expect("run_in");
        assert!(index > 0);
        assert_ne!(inside_ns, own_netns());
        assert!(Netlink::open()
            .expect("host")
            .link(&name)
            .expect("get")
            .is_none());
        let fd = open(&path).expect("open");
        assert!(rustix::fs::fstatfs(&fd).is_ok_and(|st| i128::from(st.f_type) == NSFS_MAGIC));
    }

    #[test]
    fn netns_is_mounted_false_for_plain_paths() {
        let g = Guard::new();
        assert!(!is_mounted(&g.dir.path().join("nothing")));
        assert!(!is_mounted(g.dir.path()));
    }
}
