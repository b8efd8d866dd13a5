//! Extracting an uploaded tar into a directory inside a container root. Each entry's name
//! is cleaned lexically (`..` may not climb above the extraction point), its parent is
//! opened with `open_in_root` (a symlink, in the container or made by an earlier entry,
//! resolves inside the root and must stay below the extraction point), and the entry is
//! made with `*at` calls on that parent that never follow a symlink.

use std::io::{self, Read};
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};

use berth_api::archive::PutOptions;
use berth_api::BackendError;
use berth_rootfs::{open_in_root, resolved_in_root, Kind};
use rustix::fs::{
    chownat, fchmod, fchown, futimens, linkat, makedev, mkdirat, mknodat, openat, statat,
    symlinkat, unlinkat, utimensat, AtFlags, FileType, Gid, Mode, OFlags, Timespec, Timestamps,
    Uid,
};

/// Who the extracted files belong to.
#[derive(Debug, Clone, Copy, Default)]
pub struct Owner {
    pub uid: u32,
    pub gid: u32,
}

fn invalid(message: String) -> BackendError {
    BackendError::invalid(message)
}

fn io_err(path: &str, e: impl std::fmt::Display) -> BackendError {
    BackendError::internal(format!("extracting {path}: {e}"))
}

/// `name`'s components below the extraction point, or an error for one that climbs out.
pub fn clean(name: &str) -> Result<Vec<String>, BackendError> {
    let mut out: Vec<String> = Vec::new();
    for comp in name.split('/') {
        match comp {
            "" | "." => {}
            ".." => {
                if out.pop().is_none() {
                    return Err(invalid(format!(
                        "tar entry {name:?} points outside the extraction point"
                    )));
                }
            }
            other => out.push(other.to_string()),
        }
    }
    Ok(out)
}

fn below(path: &str, top: &str) -> bool {
    top == "/" || path == top || path.starts_with(&format!("{top}/"))
}

pub struct Unpacker<'a> {
    pub root: BorrowedFd<'a>,
    /// The extraction point, resolved inside the root.
    pub dest: String,
    pub options: PutOptions,
    pub owner: Owner,
}

impl Unpacker<'_> {
    pub fn unpack(&self, input: &mut dyn Read) -> Result<(), BackendError> {
        let mut archive = tar::Archive::new(input);
        let entries = archive
            .entries()
            .map_err(|e| invalid(format!("not a tar archive: {e}")))?;
        for entry in entries {
            let mut entry = entry.map_err(|e| invalid(format!("reading the tar: {e}")))?;
            let name = String::from_utf8_lossy(&entry.path_bytes()).into_owned();
            let comps = clean(&name)?;
            let Some((last, dirs)) = comps.split_last() else {
                continue;
            };
            let parent = self.parent(&name, dirs)?;
            self.entry(&mut entry, &name, parent.as_fd(), last)?;
        }
        Ok(())
    }

    /// The directory an entry goes in, made if missing; refused when a symlink takes it
    /// out of the extraction point.
    fn parent(&self, name: &str, dirs: &[String]) -> Result<OwnedFd, BackendError> {
        let path = if dirs.is_empty() {
            self.dest.clone()
        } else {
            format!("{}/{}", self.dest.trim_end_matches('/'), dirs.join("/"))
        };
        let resolved = resolved_in_root(self.root, &path)
            .map_err(|e| BackendError::new(e.kind(), e.to_string()))?;
        if !below(&resolved, &self.dest) {
            return Err(invalid(format!(
                "tar entry {name:?} points outside the extraction point through a symlink"
            )));
        }
        open_in_root(self.root, &path, Some(Kind::Dir))
            .map_err(|e| BackendError::new(e.kind(), e.to_string()))
    }

    fn entry<R: Read>(
        &self,
        entry: &mut tar::Entry<'_, R>,
        name: &str,
        parent: BorrowedFd<'_>,
        last: &str,
    ) -> Result<(), BackendError> {
        let header = entry.header();
        let kind = header.entry_type();
        let mode = Mode::from_raw_mode(header.mode().unwrap_or(0o644) & 0o7777);
        let mtime = header.mtime().unwrap_or(0) as i64;
        let existing = statat(parent, last, AtFlags::SYMLINK_NOFOLLOW).ok();
        let existing_dir = existing
            .as_ref()
            .map(|s| FileType::from_raw_mode(s.st_mode) == FileType::Directory);
        let err = |e: rustix::io::Errno| io_err(name, e);
        if kind == tar::EntryType::Directory {
            if existing_dir == Some(false) {
                if self.options.no_overwrite_dir_non_dir {
                    return Err(invalid(format!(
                        "cannot overwrite non-directory {name:?} with directory"
                    )));
                }
                unlinkat(parent, last, AtFlags::empty()).map_err(err)?;
            }
            if existing_dir != Some(true) {
                mkdirat(parent, last, Mode::from_raw_mode(0o700)).map_err(err)?;
            }
            let dir = openat(
                parent,
                last,
                OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
                Mode::empty(),
            )
            .map_err(err)?;
            return self.finish_fd(&dir, mode, mtime).map_err(err);
        }
        if existing_dir == Some(true) {
            if self.options.no_overwrite_dir_non_dir {
                return Err(invalid(format!(
                    "cannot overwrite directory {name:?} with non-directory"
                )));
            }
            unlinkat(parent, last, AtFlags::REMOVEDIR).map_err(err)?;
        } else if existing.is_some() {
            unlinkat(parent, last, AtFlags::empty()).map_err(err)?;
        }
        match kind {
            tar::EntryType::Regular | tar::EntryType::Continuous => {
                let fd = openat(
                    parent,
                    last,
                    OFlags::WRONLY
                        | OFlags::CREATE
                        | OFlags::EXCL
                        | OFlags::NOFOLLOW
                        | OFlags::CLOEXEC,
                    Mode::from_raw_mode(0o600),
                )
                .map_err(err)?;
                let mut file = std::fs::File::from(fd);
                io::copy(entry, &mut file).map_err(|e| io_err(name, e))?;
                self.finish_fd(&file, mode, mtime).map_err(err)
            }
            tar::EntryType::Symlink => {
                let target = entry
                    .link_name_bytes()
                    .map(|b| String::from_utf8_lossy(&b).into_owned())
                    .unwrap_or_default();
                symlinkat(target.as_str(), parent, last).map_err(err)?;
                self.finish_link(parent, last, mtime).map_err(err)
            }
            tar::EntryType::Link => {
                let target = entry
                    .link_name_bytes()
                    .map(|b| String::from_utf8_lossy(&b).into_owned())
                    .unwrap_or_default();
                let comps = clean(&target)?;
                let Some((source, dirs)) = comps.split_last() else {
                    return Err(invalid(format!(
                        "tar entry {name:?}: a hard link to nothing"
                    )));
                };
                let source_parent = self.parent(&target, dirs)?;
                linkat(
                    &source_parent,
                    source.as_str(),
                    parent,
                    last,
                    AtFlags::empty(),
                )
                .map_err(err)
            }
            tar::EntryType::Char | tar::EntryType::Block | tar::EntryType::Fifo => {
                let file_type = match kind {
                    tar::EntryType::Char => FileType::CharacterDevice,
                    tar::EntryType::Block => FileType::BlockDevice,
                    _ => FileType::Fifo,
                };
                let dev = makedev(
                    header.device_major().ok().flatten().unwrap_or(0),
                    header.device_minor().ok().flatten().unwrap_or(0),
                );
                mknodat(parent, last, file_type, Mode::from_raw_mode(0o600), dev).map_err(err)?;
                let fd = openat(
                    parent,
                    last,
                    OFlags::PATH | OFlags::NOFOLLOW | OFlags::CLOEXEC,
                    Mode::empty(),
                )
                .map_err(err)?;
                // Through the fd's /proc name, so a swapped-in symlink is not followed.
                let proc_path = berth_rootfs::fd_path(fd.as_fd());
                rustix::fs::chown(
                    &proc_path,
                    Some(Uid::from_raw(self.owner.uid)),
                    Some(Gid::from_raw(self.owner.gid)),
                )
                .map_err(err)?;
                rustix::fs::chmod(&proc_path, mode).map_err(err)
            }
            // PAX and GNU extension headers are read by the tar crate; anything else has
            // no file to make.
            _ => Ok(()),
        }
    }

    /// Owner, then mode (a chown clears set-id bits), then times.
    fn finish_fd(&self, fd: impl AsFd, mode: Mode, mtime: i64) -> rustix::io::Result<()> {
        fchown(
            &fd,
            Some(Uid::from_raw(self.owner.uid)),
            Some(Gid::from_raw(self.owner.gid)),
        )?;
        fchmod(&fd, mode)?;
        futimens(&fd, &times(mtime))
    }

    fn finish_link(
        &self,
        parent: BorrowedFd<'_>,
        last: &str,
        mtime: i64,
    ) -> rustix::io::Result<()> {
        chownat(
            parent,
            last,
            Some(Uid::from_raw(self.owner.uid)),
            Some(Gid::from_raw(self.owner.gid)),
            AtFlags::SYMLINK_NOFOLLOW,
        )?;
        utimensat(parent, last, &times(mtime), AtFlags::SYMLINK_NOFOLLOW)
    }
}

fn times(mtime: i64) -> Timestamps {
    let at = Timespec {
        tv_sec: mtime,
        tv_nsec: 0,
    };
    Timestamps {
        last_access: at,
        last_modification: at,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_cleaned_and_may_not_climb_out() {
        assert_eq!(clean("./a//b/./c").unwrap(), ["a", "b", "c"]);
        assert_eq!(clean("a/../b").unwrap(), ["b"]);
        assert_eq!(clean("/abs/x").unwrap(), ["abs", "x"]);
        assert!(clean("../x").is_err());
        assert!(clean("a/../../x").is_err());
        assert!(clean("./").unwrap().is_empty());
        assert!(below("/tmp/x", "/tmp"));
        assert!(!below("/tmpx", "/tmp"));
        assert!(below("/etc", "/"));
    }
}
