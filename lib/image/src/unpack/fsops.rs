//! File operations relative to directory fds that never follow a symlink. The unpacker
//! only ever touches the layer through these, so no entry can reach outside the layer.

use std::ffi::OsStr;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;

use rustix::fs::{self, AtFlags, FileType, Mode, OFlags};
use rustix::io::Errno;

/// What is at a name, without following it.
pub fn kind_at(dir: BorrowedFd<'_>, name: &[u8]) -> Result<Option<FileType>, Errno> {
    match fs::statat(dir, OsStr::from_bytes(name), AtFlags::SYMLINK_NOFOLLOW) {
        Ok(stat) => Ok(Some(FileType::from_raw_mode(stat.st_mode))),
        Err(Errno::NOENT) => Ok(None),
        Err(e) => Err(e),
    }
}

/// Opens a directory entry of `dir`; fails with ELOOP or ENOTDIR rather than follow a link.
pub fn open_dir(dir: BorrowedFd<'_>, name: &[u8]) -> Result<OwnedFd, Errno> {
    fs::openat(
        dir,
        OsStr::from_bytes(name),
        OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
        Mode::empty(),
    )
}

/// Creates a new file that must not exist yet (so never a link someone left there).
pub fn create_file(dir: BorrowedFd<'_>, name: &[u8], mode: u32) -> Result<OwnedFd, Errno> {
    fs::openat(
        dir,
        OsStr::from_bytes(name),
        OFlags::WRONLY | OFlags::CREATE | OFlags::EXCL | OFlags::NOFOLLOW | OFlags::CLOEXEC,
        Mode::from_raw_mode(mode),
    )
}

/// Removes whatever is at `name`: a file, a link, or a whole directory tree.
pub fn remove_any(dir: BorrowedFd<'_>, name: &[u8]) -> Result<(), Errno> {
    match kind_at(dir, name)? {
        None => Ok(()),
        Some(FileType::Directory) => remove_tree(dir, name),
        Some(_) => fs::unlinkat(dir, OsStr::from_bytes(name), AtFlags::empty()),
    }
}

fn remove_tree(parent: BorrowedFd<'_>, name: &[u8]) -> Result<(), Errno> {
    let dir = open_dir(parent, name)?;
    let mut children = Vec::new();
    for entry in fs::Dir::read_from(&dir)? {
        let entry = entry?;
        let child = entry.file_name().to_bytes();
        if child != b"." && child != b".." {
            children.push(child.to_vec());
        }
    }
    for child in children {
        remove_any(dir.as_fd(), &child)?;
    }
    fs::unlinkat(parent, OsStr::from_bytes(name), AtFlags::REMOVEDIR)
}
