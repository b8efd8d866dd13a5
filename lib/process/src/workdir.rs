//! The container's working directory (`-w`, the image's WorkingDir), entered last before the
//! exec, inside the container's root (CVE-2024-21626).
//!
//! By then the process has pivoted into (or joined) the container's mount namespace and
//! closed every fd it inherited (`fds`), and the directory is resolved from the container's
//! `/` by `berth_rootfs::open_in_root` (`RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS`): a path
//! through `/proc/self/fd/N`, `/proc/self/cwd` or an image symlink to them is refused
//! before anything is created, and a missing directory is made (as docker does) by the walk
//! that never leaves the root. The result must not be on procfs, and after the `fchdir`
//! the kernel must still see the directory below the root.

use std::os::fd::{AsFd, OwnedFd};

use berth_rootfs::{Kind, RootfsError};
use rustix::fs::{self, AtFlags, FileType, Mode, OFlags};
use rustix::io::Errno;

use crate::sync::ChildFailure;
use crate::user::ResolvedUser;

#[derive(Debug, thiserror::Error)]
pub(crate) enum WorkdirError {
    #[error("the working directory {0:?} is not an absolute path")]
    NotAbsolute(String),
    #[error(
        "invalid working directory {0:?}: it leads through a magic link (/proc/self/fd/N, \
         /proc/self/cwd…) or too many symbolic links"
    )]
    MagicLink(String),
    #[error("invalid working directory {0:?}: it is inside /proc")]
    InProc(String),
    #[error("the working directory {0:?} is outside the container")]
    Outside(String),
    #[error("the working directory {path:?} is not a directory")]
    NotDirectory { path: String },
    #[error("working directory {path}: {what}: {source}")]
    Sys {
        path: String,
        what: &'static str,
        source: std::io::Error,
    },
    #[error("working directory: {0}")]
    Resolve(RootfsError),
}

impl From<WorkdirError> for ChildFailure {
    fn from(e: WorkdirError) -> ChildFailure {
        ChildFailure {
            code: 125,
            message: e.to_string(),
        }
    }
}

/// Enters `cwd` (empty: `/`), creating it owned by `user` if the image lacks it.
pub(crate) fn enter(cwd: &str, user: &ResolvedUser) -> Result<(), WorkdirError> {
    let cwd = if cwd.is_empty() { "/" } else { cwd };
    if !cwd.starts_with('/') {
        return Err(WorkdirError::NotAbsolute(cwd.into()));
    }
    if berth_rootfs::spec::clean_target(cwd).is_ok_and(|c| c == "/proc" || c.starts_with("/proc/"))
    {
        return Err(WorkdirError::InProc(cwd.into()));
    }
    let sys = |what| {
        move |e: Errno| WorkdirError::Sys {
            path: cwd.into(),
            what,
            source: e.into(),
        }
    };
    let root = fs::open(
        "/",
        OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC,
        Mode::empty(),
    )
    .map_err(sys("open the container's root"))?;
    let dir = match open(&root, cwd, None) {
        Err(WorkdirError::Sys { source, .. }) if source.kind() == std::io::ErrorKind::NotFound => {
            let made = open(&root, cwd, Some(Kind::Dir))?;
            // Best effort, as docker: a user that cannot own it can still use it.
            let _ = fs::chownat(
                &made,
                "",
                Some(fs::Uid::from_raw_unchecked(user.uid)),
                Some(fs::Gid::from_raw_unchecked(user.gid)),
                AtFlags::EMPTY_PATH,
            );
            made
        }
        other => other?,
    };
    let stat = fs::fstat(&dir).map_err(sys("stat"))?;
    if FileType::from_raw_mode(stat.st_mode) != FileType::Directory {
        return Err(WorkdirError::NotDirectory { path: cwd.into() });
    }
    if fs::fstatfs(&dir).map_err(sys("statfs"))?.f_type == fs::PROC_SUPER_MAGIC {
        return Err(WorkdirError::InProc(cwd.into()));
    }
    rustix::process::fchdir(&dir).map_err(sys("chdir"))?;
    // As runc since its fix: the kernel names a directory outside the root
    // "(unreachable)/…" (or the libc getcwd fails with ENOENT).
    match rustix::process::getcwd(Vec::new()) {
        Ok(real) if real.as_bytes().starts_with(b"/") => Ok(()),
        Ok(_) | Err(Errno::NOENT) => Err(WorkdirError::Outside(cwd.into())),
        Err(e) => Err(sys("getcwd")(e)),
    }
}

/// `cwd` inside `root`, created as `create` says; magic links and loops refused.
fn open(root: &OwnedFd, cwd: &str, create: Option<Kind>) -> Result<OwnedFd, WorkdirError> {
    berth_rootfs::open_in_root(root.as_fd(), cwd, create).map_err(|e| match e {
        RootfsError::InRoot { source, .. } if source.raw_os_error() == Some(libc::ELOOP) => {
            WorkdirError::MagicLink(cwd.into())
        }
        RootfsError::InRoot { source, .. } => WorkdirError::Sys {
            path: cwd.into(),
            what: "resolve inside the container",
            source,
        },
        RootfsError::WrongKind { .. } => WorkdirError::NotDirectory { path: cwd.into() },
        other => WorkdirError::Resolve(other),
    })
}
