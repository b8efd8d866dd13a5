//! Ownership, permissions, xattrs and times of one entry, applied in the order the kernel
//! needs: chown first (it clears setuid bits and `security.capability`), then chmod and
//! xattrs, times last.

use std::ffi::OsStr;
use std::io::Read;
use std::os::fd::BorrowedFd;
use std::os::unix::ffi::OsStrExt;

use rustix::fs::Timespec;
use rustix::fs::{self as rfs, AtFlags, Gid, Mode, Timestamps, Uid};

use super::{sys, Result, UnpackError};

pub(super) struct EntryMeta {
    pub mode: u32,
    pub uid: u32,
    pub gid: u32,
    pub mtime: i64,
    pub device: (u32, u32),
    xattrs: Vec<(String, Vec<u8>)>,
}

impl EntryMeta {
    pub fn read<R: Read>(entry: &mut tar::Entry<'_, R>, name: &str) -> Result<EntryMeta> {
        let bad = |reason: String| UnpackError::BadEntry {
            entry: name.to_string(),
            reason,
        };
        let header = entry.header();
        let mut meta = EntryMeta {
            mode: header.mode().map_err(|e| bad(format!("mode: {e}")))? & 0o7777,
            uid: header
                .uid()
                .map_err(|e| bad(format!("uid: {e}")))?
                .try_into()
                .map_err(|_| bad("uid out of range".into()))?,
            gid: header
                .gid()
                .map_err(|e| bad(format!("gid: {e}")))?
                .try_into()
                .map_err(|_| bad("gid out of range".into()))?,
            mtime: header
                .mtime()
                .map_err(|e| bad(format!("mtime: {e}")))?
                .try_into()
                .unwrap_or(i64::MAX),
            device: (
                header.device_major().ok().flatten().unwrap_or(0),
                header.device_minor().ok().flatten().unwrap_or(0),
            ),
            xattrs: Vec::new(),
        };
        if let Some(extensions) = entry
            .pax_extensions()
            .map_err(|e| bad(format!("pax header: {e}")))?
        {
            for ext in extensions {
                let ext = ext.map_err(|e| bad(format!("pax header: {e}")))?;
                let Ok(key) = ext.key() else { continue };
                let value = ext.value_bytes();
                let number = || {
                    std::str::from_utf8(value)
                        .ok()
                        .and_then(|v| v.split('.').next()?.parse::<i64>().ok())
                };
                if let Some(xattr) = key.strip_prefix("SCHILY.xattr.") {
                    if wanted_xattr(xattr) {
                        meta.xattrs.push((xattr.to_string(), value.to_vec()));
                    } else {
                        tracing::warn!(
                            entry = name,
                            xattr,
                            "dropping xattr outside the user, security and ACL namespaces"
                        );
                    }
                } else if key == "uid" {
                    meta.uid = number()
                        .and_then(|n| u32::try_from(n).ok())
                        .ok_or_else(|| bad("pax uid out of range".into()))?;
                } else if key == "gid" {
                    meta.gid = number()
                        .and_then(|n| u32::try_from(n).ok())
                        .ok_or_else(|| bad("pax gid out of range".into()))?;
                } else if key == "mtime" {
                    meta.mtime = number().ok_or_else(|| bad("pax mtime is not a number".into()))?;
                }
            }
        }
        if meta.uid == u32::MAX || meta.gid == u32::MAX {
            return Err(bad("uid or gid -1".into()));
        }
        Ok(meta)
    }

    fn owner(&self) -> (Option<Uid>, Option<Gid>) {
        (
            Some(Uid::from_raw_unchecked(self.uid)),
            Some(Gid::from_raw_unchecked(self.gid)),
        )
    }

    /// For an open file or directory.
    pub fn apply_fd(&self, fd: BorrowedFd<'_>, name: &str) -> Result<()> {
        let (uid, gid) = self.owner();
        rfs::fchown(fd, uid, gid).map_err(sys(name, "chown"))?;
        rfs::fchmod(fd, Mode::from_raw_mode(self.mode)).map_err(sys(name, "chmod"))?;
        for (key, value) in &self.xattrs {
            rfs::fsetxattr(fd, key.as_str(), value, rfs::XattrFlags::empty())
                .map_err(sys(name, "set xattr"))?;
        }
        Ok(())
    }

    /// For a regular file just created with its permission bits (umask 0) by this
    /// process: skips the chown and chmod that would change nothing.
    pub fn apply_new_file(&self, fd: BorrowedFd<'_>, setgid_dirs: bool, name: &str) -> Result<()> {
        static CREATOR: std::sync::OnceLock<(u32, u32)> = std::sync::OnceLock::new();
        let creator = *CREATOR.get_or_init(|| {
            (
                rustix::process::geteuid().as_raw(),
                rustix::process::getegid().as_raw(),
            )
        });
        let owned_as_created = (self.uid, self.gid) == creator && !setgid_dirs;
        if !owned_as_created {
            let (uid, gid) = self.owner();
            rfs::fchown(fd, uid, gid).map_err(sys(name, "chown"))?;
        }
        if self.mode & 0o7000 != 0 || !owned_as_created {
            rfs::fchmod(fd, Mode::from_raw_mode(self.mode)).map_err(sys(name, "chmod"))?;
        }
        for (key, value) in &self.xattrs {
            rfs::fsetxattr(fd, key.as_str(), value, rfs::XattrFlags::empty())
                .map_err(sys(name, "set xattr"))?;
        }
        Ok(())
    }

    /// For an entry just created at `dir`/`base` that cannot be opened (symlink, device,
    /// fifo). Never follows `base`.
    pub fn apply_at(
        &self,
        dir: BorrowedFd<'_>,
        base: &[u8],
        chmod: bool,
        name: &str,
    ) -> Result<()> {
        let (uid, gid) = self.owner();
        let path = OsStr::from_bytes(base);
        rfs::chownat(dir, path, uid, gid, AtFlags::SYMLINK_NOFOLLOW).map_err(sys(name, "chown"))?;
        if chmod {
            // The node was created by us a moment ago in a directory only we write to, and
            // it is not a symlink, so chmodat (which cannot refuse to follow) is safe here.
            rfs::chmodat(dir, path, Mode::from_raw_mode(self.mode), AtFlags::empty())
                .map_err(sys(name, "chmod"))?;
            if !self.xattrs.is_empty() {
                let proc_path = proc_fd_path(dir, base);
                for (key, value) in &self.xattrs {
                    rfs::lsetxattr(&proc_path, key.as_str(), value, rfs::XattrFlags::empty())
                        .map_err(sys(name, "set xattr"))?;
                }
            }
        }
        set_times(dir, Some(base), self.mtime, name)
    }

    pub fn set_times_fd(&self, fd: BorrowedFd<'_>, name: &str) -> Result<()> {
        rfs::futimens(fd, &timestamps(self.mtime)).map_err(sys(name, "set times"))
    }
}

fn wanted_xattr(name: &str) -> bool {
    // trusted.* would let an image forge overlayfs metadata (whiteouts, redirects).
    name.starts_with("user.")
        || name.starts_with("security.")
        || name.starts_with("system.posix_acl_")
}

/// Access and modification times both `mtime` (seconds), as tar keeps only the one.
pub(crate) fn timestamps(mtime: i64) -> Timestamps {
    let at = Timespec {
        tv_sec: mtime,
        tv_nsec: 0,
    };
    Timestamps {
        last_access: at,
        last_modification: at,
    }
}

fn proc_fd_path(dir: BorrowedFd<'_>, base: &[u8]) -> std::path::PathBuf {
    use std::os::fd::AsRawFd;
    let mut path = std::path::PathBuf::from(format!("/proc/self/fd/{}", dir.as_raw_fd()));
    path.push(OsStr::from_bytes(base));
    path
}

/// Sets atime and mtime of `dir`/`base` (or of `dir` itself), never following a link.
pub(super) fn set_times(
    dir: BorrowedFd<'_>,
    base: Option<&[u8]>,
    mtime: i64,
    name: &str,
) -> Result<()> {
    match base {
        Some(base) => rfs::utimensat(
            dir,
            OsStr::from_bytes(base),
            &timestamps(mtime),
            AtFlags::SYMLINK_NOFOLLOW,
        ),
        None => rfs::futimens(dir, &timestamps(mtime)),
    }
    .map_err(sys(name, "set times"))
}
