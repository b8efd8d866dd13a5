//! Where an archive path lands inside a container root, as dockerd resolves it: the
//! directory part fully (symlinks followed, inside the root), the last component as it is
//! (a symlink is copied as a symlink), unless the path ends in `/` or `/.`.

use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use berth_api::archive::PathStat;
use berth_api::BackendError;
use berth_rootfs::{open_in_root, resolved_in_root, RootfsError};
use rustix::fs::{statat, AtFlags, FileType, Stat};

/// The object a path names: its parent directory and its name there, or (for a path that
/// ends in `/`, `/.` or `..`) the resolved object itself.
pub struct Target {
    pub parent: Option<OwnedFd>,
    /// The name in `parent`, or the resolved object (`O_PATH`).
    pub name: String,
    pub object: Option<OwnedFd>,
    /// What the tar's entries are named from (Go's `filepath.Base` of the path).
    pub base: String,
    /// The path as given, made absolute.
    pub abs: String,
}

pub fn not_found(path: &str, reference: &str) -> BackendError {
    BackendError::not_found(format!(
        "Could not find the file {path} in container {reference}"
    ))
}

fn missing(e: &std::io::Error) -> bool {
    e.kind() == std::io::ErrorKind::NotFound || e.raw_os_error() == Some(libc::ENOTDIR)
}

/// A resolution failure: a missing path is docker's 404, the rest say what failed.
pub fn in_root_error(e: RootfsError, path: &str, reference: &str) -> BackendError {
    match &e {
        RootfsError::InRoot { source, .. } if missing(source) => not_found(path, reference),
        RootfsError::InRoot { source, .. } if source.raw_os_error() == Some(libc::ELOOP) => {
            BackendError::invalid(format!("{path}: too many levels of symbolic links"))
        }
        _ => BackendError::new(e.kind(), e.to_string()),
    }
}

/// Go's `filepath.Base`: the last element, trailing slashes dropped; `/` for the root.
fn go_base(abs: &str) -> String {
    let trimmed = abs.trim_end_matches('/');
    if trimmed.is_empty() {
        return "/".into();
    }
    trimmed.rsplit('/').next().unwrap_or("/").to_string()
}

pub fn find(root: BorrowedFd<'_>, path: &str, reference: &str) -> Result<Target, BackendError> {
    let abs = format!("/{}", path.trim_start_matches('/'));
    let (dir, last) = abs.rsplit_once('/').unwrap_or(("", &abs));
    let base = go_base(&abs);
    let err = |e| in_root_error(e, path, reference);
    if matches!(last, "" | "." | "..") {
        let object = open_in_root(root, &abs, None).map_err(err)?;
        return Ok(Target {
            parent: None,
            name: String::new(),
            object: Some(object),
            base,
            abs,
        });
    }
    let parent = open_in_root(root, if dir.is_empty() { "/" } else { dir }, None).map_err(err)?;
    let target = Target {
        parent: Some(parent),
        name: last.to_string(),
        object: None,
        base,
        abs,
    };
    // It must exist.
    target.lstat().map_err(|e| {
        if missing(&e) {
            not_found(path, reference)
        } else {
            BackendError::internal(format!("{path}: {e}"))
        }
    })?;
    Ok(target)
}

impl Target {
    pub fn lstat(&self) -> std::io::Result<Stat> {
        match (&self.parent, &self.object) {
            (Some(parent), _) => Ok(statat(parent, &self.name, AtFlags::SYMLINK_NOFOLLOW)?),
            (None, Some(object)) => Ok(rustix::fs::fstat(object)?),
            (None, None) => unreachable!("a target has a parent or an object"),
        }
    }

    /// The parent to read the object from, and its name there (`.` for a resolved object).
    pub fn at(&self) -> (BorrowedFd<'_>, &str) {
        match (&self.parent, &self.object) {
            (Some(parent), _) => (parent.as_fd(), &self.name),
            (None, Some(object)) => (object.as_fd(), "."),
            (None, None) => unreachable!("a target has a parent or an object"),
        }
    }
}

/// Go's `os.FileMode` of a `st_mode`.
pub fn go_mode(st_mode: u32) -> u32 {
    let mut mode = st_mode & 0o777;
    mode |= match FileType::from_raw_mode(st_mode) {
        FileType::Directory => 1 << 31,
        FileType::Symlink => 1 << 27,
        FileType::BlockDevice => 1 << 26,
        FileType::CharacterDevice => (1 << 26) | (1 << 21),
        FileType::Fifo => 1 << 25,
        FileType::Socket => 1 << 24,
        _ => 0,
    };
    for (bit, go) in [(0o4000, 1 << 23), (0o2000, 1 << 22), (0o1000, 1 << 20)] {
        if st_mode & bit != 0 {
            mode |= go;
        }
    }
    mode
}

pub fn mtime(stat: &Stat) -> SystemTime {
    let secs = stat.st_mtime.max(0) as u64;
    UNIX_EPOCH + Duration::new(secs, stat.st_mtime_nsec.clamp(0, 999_999_999) as u32)
}

/// `HEAD archive`'s answer for `target`.
pub fn path_stat(root: BorrowedFd<'_>, target: &Target) -> Result<PathStat, BackendError> {
    let stat = target
        .lstat()
        .map_err(|e| BackendError::internal(format!("{}: {e}", target.abs)))?;
    let is_link = FileType::from_raw_mode(stat.st_mode) == FileType::Symlink;
    let link_target = if is_link {
        resolved_in_root(root, &target.abs)
            .map_err(|e| BackendError::new(e.kind(), e.to_string()))?
    } else {
        String::new()
    };
    Ok(PathStat {
        name: target.base.clone(),
        size: stat.st_size,
        mode: go_mode(stat.st_mode),
        mtime: humantime::format_rfc3339_nanos(mtime(&stat)).to_string(),
        link_target,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn modes_and_bases_are_go_s() {
        assert_eq!(go_mode(0o040755), (1 << 31) | 0o755);
        assert_eq!(go_mode(0o100644), 0o644);
        assert_eq!(go_mode(0o120777), (1 << 27) | 0o777);
        assert_eq!(go_mode(0o104755), (1 << 23) | 0o755);
        assert_eq!(go_base("/tmp/d/"), "d");
        assert_eq!(go_base("/tmp/d/."), ".");
        assert_eq!(go_base("/"), "/");
        assert_eq!(go_base("/etc/hostname"), "hostname");
    }
}
