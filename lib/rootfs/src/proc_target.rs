//! Which mount targets may lie at or under `/proc` (runc's `checkProcMount`).
//!
//! A bind, volume or tmpfs over the container's `/proc` would replace the procfs berth
//! mounted (and masks) with whatever the source holds; one under it would hide or replace
//! a kernel file (`/proc/sys/…`, `/proc/self/…`). As runc, berth refuses both, except a bind
//! of a procfs onto `/proc` itself and binds onto the few files lxcfs emulates
//! ([`PROC_ALLOWED`]). `/sys` is not restricted: Docker lets `-v /sys:/sys` through.
//!
//! The target is checked three times: lexically when the flags are parsed
//! ([`check_target`], nothing made yet), resolved inside the image before any mountpoint or
//! volume is made (`berth-mount`, [`check_in_root`]: an image symlink `/p -> /proc` makes
//! `/p/sys` mean `/proc/sys`), and at mount time through the fd of the opened target
//! ([`check_target_fd`]: the path it resolves to, and whether it is on procfs).

use std::os::fd::BorrowedFd;
use std::path::Path;

use crate::error::{Result, RootfsError};
use crate::in_root::{container_path, resolved_in_root};

/// The files under /proc a bind may cover (lxcfs emulates them), as runc's list.
pub const PROC_ALLOWED: &[&str] = &[
    "/proc/cpuinfo",
    "/proc/diskstats",
    "/proc/meminfo",
    "/proc/stat",
    "/proc/swaps",
    "/proc/uptime",
    "/proc/loadavg",
    "/proc/slabinfo",
    "/proc/net/dev",
    "/proc/sys/kernel/ns_last_pid",
];

/// The kind of mount that is to go on a target.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MountSource {
    /// A bind whose source is on procfs (`-v /proc:/proc`).
    ProcBind,
    /// Any other bind, a volume, a tmpfs.
    Other,
}

impl MountSource {
    /// The kind for a bind of host path `source` (a source that cannot be examined is
    /// not a procfs).
    pub fn of_bind_source(source: &Path) -> MountSource {
        match rustix::fs::statfs(source) {
            Ok(st) if st.f_type == rustix::fs::PROC_SUPER_MAGIC => MountSource::ProcBind,
            _ => MountSource::Other,
        }
    }

    /// The kind for a bind of the object `source` holds (a detached tree).
    pub fn of_bind_fd(source: BorrowedFd<'_>) -> MountSource {
        match rustix::fs::fstatfs(source) {
            Ok(st) if st.f_type == rustix::fs::PROC_SUPER_MAGIC => MountSource::ProcBind,
            _ => MountSource::Other,
        }
    }
}

/// Checks `target`, a cleaned absolute container path, as written.
pub fn check_target(target: &str, source: MountSource) -> Result<()> {
    check_resolved(target, target, source)
}

/// Checks `target` as it resolves inside `root` now (symlinks of the image followed inside
/// it; a missing tail taken as written). Creates nothing.
pub fn check_in_root(root: BorrowedFd<'_>, target: &str, source: MountSource) -> Result<()> {
    let resolved = resolved_in_root(root, target)?;
    check_resolved(target, &resolved, source)
}

/// Checks the opened mount target `fd` (an fd from `open_in_root` on `root`): the container
/// path it is at, and that it is not on a procfs unless that path may be covered.
pub fn check_target_fd(
    root: BorrowedFd<'_>,
    target: &str,
    fd: BorrowedFd<'_>,
    source: MountSource,
) -> Result<()> {
    let resolved = container_path(root, fd).map_err(|e| RootfsError::InRoot {
        path: target.to_string(),
        source: e,
    })?;
    check_resolved(target, &resolved, source)?;
    let on_proc = rustix::fs::fstatfs(fd)
        .map_err(|e| RootfsError::InRoot {
            path: target.to_string(),
            source: e.into(),
        })?
        .f_type
        == rustix::fs::PROC_SUPER_MAGIC;
    if on_proc && !PROC_ALLOWED.contains(&resolved.as_str()) && resolved != "/proc" {
        return Err(refused(
            target,
            &resolved,
            format!("it is on a procfs; only {} may be covered", allowed_list()),
        ));
    }
    Ok(())
}

fn check_resolved(target: &str, resolved: &str, source: MountSource) -> Result<()> {
    if resolved == "/proc" {
        if source == MountSource::ProcBind {
            return Ok(());
        }
        return Err(refused(
            target,
            resolved,
            "a mount at /proc must be of type proc".into(),
        ));
    }
    if resolved.starts_with("/proc/") && !PROC_ALLOWED.contains(&resolved) {
        return Err(refused(
            target,
            resolved,
            format!("it is inside /proc; only {} may be covered", allowed_list()),
        ));
    }
    Ok(())
}

fn refused(target: &str, resolved: &str, reason: String) -> RootfsError {
    let reason = if resolved == target {
        reason
    } else {
        format!("it resolves to {resolved} inside the container, and {reason}")
    };
    RootfsError::ProcTarget {
        target: target.to_string(),
        reason,
    }
}

fn allowed_list() -> String {
    PROC_ALLOWED.join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;
    use std::os::fd::{AsFd, OwnedFd};
    use std::os::unix::fs::symlink;

    fn root_fd(dir: &Path) -> OwnedFd {
        fs::File::open(dir).unwrap().into()
    }

    #[test]
    fn proc_itself_only_for_a_procfs_bind() {
        let err = check_target("/proc", MountSource::Other).unwrap_err();
        assert_eq!(
            err.to_string(),
            "invalid mount target /proc: a mount at /proc must be of type proc"
        );
        check_target("/proc", MountSource::ProcBind).unwrap();
    }

    #[test]
    fn below_proc_only_the_lxcfs_files() {
        for allowed in PROC_ALLOWED {
            check_target(allowed, MountSource::Other).unwrap();
        }
        for refused in ["/proc/sys", "/proc/self/fd", "/proc/1", "/proc/cpuinfo/x"] {
            let err = check_target(refused, MountSource::Other).unwrap_err();
            let text = err.to_string();
            assert!(
                text.starts_with(&format!(
                    "invalid mount target {refused}: it is inside /proc"
                )),
                "{text}"
            );
            // Even a procfs source may not go under /proc.
            assert!(check_target(refused, MountSource::ProcBind).is_err());
        }
        for elsewhere in ["/sys", "/sys/kernel", "/procfs", "/proc2/x", "/data/proc"] {
            check_target(elsewhere, MountSource::Other).unwrap();
        }
    }

    #[test]
    fn a_symlink_in_the_image_into_proc_is_seen_through() {
        let tmp = tempfile::tempdir().unwrap();
        fs::create_dir_all(tmp.path().join("proc")).unwrap();
        symlink("/proc", tmp.path().join("p")).unwrap();
        symlink("../proc/sys", tmp.path().join("s")).unwrap();
        let root = root_fd(tmp.path());
        let err = check_in_root(root.as_fd(), "/p", MountSource::Other).unwrap_err();
        assert_eq!(
            err.to_string(),
            "invalid mount target /p: it resolves to /proc inside the container, and a mount \
             at /proc must be of type proc"
        );
        // Missing below the link: still under /proc.
        let err = check_in_root(root.as_fd(), "/p/sys/kernel", MountSource::Other).unwrap_err();
        assert!(
            err.to_string().contains("resolves to /proc/sys/kernel"),
            "{err}"
        );
        assert!(check_in_root(root.as_fd(), "/s", MountSource::Other).is_err());
        check_in_root(root.as_fd(), "/p/cpuinfo", MountSource::Other).unwrap();
        check_in_root(root.as_fd(), "/data/x", MountSource::Other).unwrap();
        // Nothing was created by the checks.
        assert_eq!(fs::read_dir(tmp.path().join("proc")).unwrap().count(), 0);
        assert!(!tmp.path().join("data").exists());
    }

    #[test]
    fn an_opened_target_is_checked_by_where_it_is() {
        let tmp = tempfile::tempdir().unwrap();
        fs::create_dir_all(tmp.path().join("proc/sys")).unwrap();
        fs::create_dir_all(tmp.path().join("data")).unwrap();
        symlink("/proc", tmp.path().join("p")).unwrap();
        let root = root_fd(tmp.path());
        let open = |path: &str| crate::open_in_root(root.as_fd(), path, None).unwrap();
        let fd = open("/p/sys");
        let err =
            check_target_fd(root.as_fd(), "/p/sys", fd.as_fd(), MountSource::Other).unwrap_err();
        assert!(err.to_string().contains("resolves to /proc/sys"), "{err}");
        let fd = open("/data");
        check_target_fd(root.as_fd(), "/data", fd.as_fd(), MountSource::Other).unwrap();
    }

    #[test]
    fn a_target_on_a_procfs_elsewhere_is_refused() {
        // The host's /proc seen from a root of "/": /proc/sys is on procfs and not allowed,
        // /proc/cpuinfo is.
        let root = root_fd(Path::new("/"));
        let sys = crate::open_in_root(root.as_fd(), "/proc/sys", None).unwrap();
        assert!(
            check_target_fd(root.as_fd(), "/proc/sys", sys.as_fd(), MountSource::Other).is_err()
        );
        let cpuinfo = crate::open_in_root(root.as_fd(), "/proc/cpuinfo", None).unwrap();
        check_target_fd(
            root.as_fd(),
            "/proc/cpuinfo",
            cpuinfo.as_fd(),
            MountSource::Other,
        )
        .unwrap();
        assert_eq!(
            MountSource::of_bind_source(Path::new("/proc")),
            MountSource::ProcBind
        );
        assert_eq!(
            MountSource::of_bind_source(Path::new("/")),
            MountSource::Other
        );
    }
}
