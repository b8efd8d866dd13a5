//! Filling a new volume from the image, as Docker does: the content of the rootfs at the
//! volume's target is copied into the volume, keeping types, modes (with setuid/setgid/
//! sticky), owners, symlinks, hard links, device nodes, fifos, xattrs where the destination
//! takes them, and times.
//!
//! Every step is relative to directory fds opened with `O_NOFOLLOW`, so a symlink in the
//! image is copied as a symlink and never followed, on either side.

use std::collections::HashMap;
use std::ffi::CString;
use std::io;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use rustix::fs::{
    chownat, fchmod, fchown, fgetxattr, flistxattr, fsetxattr, fstat, futimens, linkat, mkdirat,
    mknodat, openat, readlinkat, statat, symlinkat, utimensat, AtFlags, Dir, FileType, Gid, Mode,
    OFlags, Stat, Timestamps, Uid, XattrFlags,
};
use rustix::io::Errno;

/// Copies the contents of directory `src` into the (empty) directory `dst`, and gives `dst`
/// the owner, mode, xattrs and times of `src`. Both fds must be readable directory fds.
pub fn copy_tree(src: BorrowedFd<'_>, dst: BorrowedFd<'_>) -> io::Result<()> {
    copy_tree_with(src, dst, Owners(None))
}

/// How owners of the source become owners of the copy: as they are, or, for a source seen
/// through mounts idmapped for a user namespace, shifted back to what the namespace's
/// maps make of them (host 100000 becomes 0 for `0 100000 65536`). Ids outside the maps
/// are kept.
#[derive(Debug, Clone, Copy)]
pub struct Owners<'a>(pub Option<&'a berth_common::UserNamespace>);

impl Owners<'_> {
    fn of(self, stat: &Stat) -> (Uid, Gid) {
        let (uid, gid) = match self.0 {
            None => (stat.st_uid, stat.st_gid),
            Some(ns) => (
                ns.container_uid(stat.st_uid).unwrap_or(stat.st_uid),
                ns.container_gid(stat.st_gid).unwrap_or(stat.st_gid),
            ),
        };
        (Uid::from_raw(uid), Gid::from_raw(gid))
    }
}

/// [`copy_tree`] with owners translated by `owners`.
pub fn copy_tree_with(
    src: BorrowedFd<'_>,
    dst: BorrowedFd<'_>,
    owners: Owners<'_>,
) -> io::Result<()> {
    let mut links = HashMap::new();
    copy_dir_contents(src, dst, dst, Path::new(""), &mut links, owners)?;
    copy_metadata(src, dst, &fstat(src)?, owners)?;
    Ok(())
}

/// (dev, ino) of a multiply-linked file → its path relative to the destination root.
type Links = HashMap<(u64, u64), PathBuf>;

fn copy_dir_contents(
    src: BorrowedFd<'_>,
    dst: BorrowedFd<'_>,
    dst_root: BorrowedFd<'_>,
    rel: &Path,
    links: &mut Links,
    owners: Owners<'_>,
) -> io::Result<()> {
    let mut dir = Dir::read_from(src)?;
    while let Some(entry) = dir.read() {
        let entry = entry?;
        let name = entry.file_name();
        if name == c"." || name == c".." {
            continue;
        }
        let name = name.to_owned();
        let entry_rel = rel.join(std::ffi::OsStr::from_bytes(name.to_bytes()));
        copy_entry(src, dst, dst_root, &name, &entry_rel, links, owners)
            .map_err(|e| io::Error::new(e.kind(), format!("{}: {e}", entry_rel.display())))?;
    }
    Ok(())
}

fn copy_entry(
    src: BorrowedFd<'_>,
    dst: BorrowedFd<'_>,
    dst_root: BorrowedFd<'_>,
    name: &CString,
    rel: &Path,
    links: &mut Links,
    owners: Owners<'_>,
) -> io::Result<()> {
    let stat = statat(src, name.as_c_str(), AtFlags::SYMLINK_NOFOLLOW)?;
    let (uid, gid) = owners.of(&stat);
    let kind = FileType::from_raw_mode(stat.st_mode);
    let perm = Mode::from_raw_mode(stat.st_mode & 0o7777);
    if kind != FileType::Directory && stat.st_nlink > 1 {
        let key = (stat.st_dev, stat.st_ino);
        if let Some(first) = links.get(&key) {
            linkat(
                dst_root,
                first.as_path(),
                dst,
                name.as_c_str(),
                AtFlags::empty(),
            )?;
            return Ok(());
        }
        links.insert(key, rel.to_path_buf());
    }
    match kind {
        FileType::Directory => {
            mkdirat(dst, name.as_c_str(), Mode::from_raw_mode(0o700))?;
            let s = open_dir(src, name)?;
            let d = open_dir(dst, name)?;
            copy_dir_contents(s.as_fd(), d.as_fd(), dst_root, rel, links, owners)?;
            copy_metadata(s.as_fd(), d.as_fd(), &stat, owners)?;
        }
        FileType::RegularFile => {
            let s = openat(
                src,
                name.as_c_str(),
                OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
                Mode::empty(),
            )?;
            let d = openat(
                dst,
                name.as_c_str(),
                OFlags::WRONLY | OFlags::CREATE | OFlags::EXCL | OFlags::NOFOLLOW | OFlags::CLOEXEC,
                Mode::from_raw_mode(0o600),
            )?;
            let mut from = std::fs::File::from(s);
            let mut to = std::fs::File::from(d);
            io::copy(&mut from, &mut to)?;
            copy_metadata(from.as_fd(), to.as_fd(), &stat, owners)?;
        }
        FileType::Symlink => {
            let target = readlinkat(src, name.as_c_str(), Vec::new())?;
            symlinkat(target.as_c_str(), dst, name.as_c_str())?;
            chownat(
                dst,
                name.as_c_str(),
                Some(uid),
                Some(gid),
                AtFlags::SYMLINK_NOFOLLOW,
            )?;
            utimensat(
                dst,
                name.as_c_str(),
                &times(&stat),
                AtFlags::SYMLINK_NOFOLLOW,
            )?;
        }
        FileType::CharacterDevice | FileType::BlockDevice | FileType::Fifo => {
            mknodat(
                dst,
                name.as_c_str(),
                kind,
                Mode::from_raw_mode(0o600),
                stat.st_rdev,
            )?;
            chownat(
                dst,
                name.as_c_str(),
                Some(uid),
                Some(gid),
                AtFlags::SYMLINK_NOFOLLOW,
            )?;
            rustix::fs::chmodat(dst, name.as_c_str(), perm, AtFlags::empty())?;
            utimensat(
                dst,
                name.as_c_str(),
                &times(&stat),
                AtFlags::SYMLINK_NOFOLLOW,
            )?;
        }
        // Sockets (and anything else) mean nothing in a copy.
        _ => {}
    }
    Ok(())
}

fn open_dir(parent: BorrowedFd<'_>, name: &CString) -> io::Result<OwnedFd> {
    Ok(openat(
        parent,
        name.as_c_str(),
        OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
        Mode::empty(),
    )?)
}

fn times(stat: &Stat) -> Timestamps {
    Timestamps {
        last_access: rustix::fs::Timespec {
            tv_sec: stat.st_atime as _,
            tv_nsec: stat.st_atime_nsec as _,
        },
        last_modification: rustix::fs::Timespec {
            tv_sec: stat.st_mtime as _,
            tv_nsec: stat.st_mtime_nsec as _,
        },
    }
}

/// Owner, then mode (chown clears setuid/setgid), xattrs, times.
fn copy_metadata(
    src: BorrowedFd<'_>,
    dst: BorrowedFd<'_>,
    stat: &Stat,
    owners: Owners<'_>,
) -> io::Result<()> {
    let (uid, gid) = owners.of(stat);
    fchown(dst, Some(uid), Some(gid))?;
    fchmod(dst, Mode::from_raw_mode(stat.st_mode & 0o7777))?;
    copy_xattrs(src, dst)?;
    futimens(dst, &times(stat))?;
    Ok(())
}

/// Copies the xattrs the destination accepts; overlay's own (`trusted.overlay.*`) never.
fn copy_xattrs(src: BorrowedFd<'_>, dst: BorrowedFd<'_>) -> io::Result<()> {
    let mut names = vec![0u8; 4096];
    let len = match flistxattr(src, &mut names[..]) {
        Ok(n) => n,
        Err(Errno::RANGE) => {
            let needed = flistxattr(src, &mut [0u8; 0][..])?;
            names.resize(needed, 0);
            flistxattr(src, &mut names[..])?
        }
        Err(Errno::NOTSUP) => return Ok(()),
        Err(e) => return Err(e.into()),
    };
    for name in names[..len].split(|b| *b == 0).filter(|n| !n.is_empty()) {
        if name.starts_with(b"trusted.overlay.") {
            continue;
        }
        let name = CString::new(name).expect("split at NUL");
        let mut value = vec![0u8; 65536];
        let n = match fgetxattr(src, name.as_c_str(), &mut value[..]) {
            Ok(n) => n,
            Err(Errno::NODATA) => continue,
            Err(e) => return Err(e.into()),
        };
        match fsetxattr(dst, name.as_c_str(), &value[..n], XattrFlags::empty()) {
            // "where possible": a destination filesystem or namespace may refuse some.
            Ok(()) | Err(Errno::NOTSUP | Errno::PERM | Errno::ACCESS) => {}
            Err(e) => return Err(e.into()),
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;
    use std::os::unix::fs::{symlink, MetadataExt, PermissionsExt};

    #[test]
    fn copies_types_modes_owners_links() {
        let tmp = tempfile::tempdir().unwrap();
        let src = tmp.path().join("src");
        let dst = tmp.path().join("dst");
        fs::create_dir_all(src.join("sub/deeper")).unwrap();
        fs::create_dir(&dst).unwrap();
        fs::write(src.join("sub/file"), "hello").unwrap();
        std::os::unix::fs::chown(src.join("sub/file"), Some(1234), Some(5678)).unwrap();
        fs::set_permissions(src.join("sub/file"), fs::Permissions::from_mode(0o4751)).unwrap();
        fs::hard_link(src.join("sub/file"), src.join("hard")).unwrap();
        symlink("/etc/passwd", src.join("sub/abs")).unwrap();
        fs::set_permissions(&src, fs::Permissions::from_mode(0o1777)).unwrap();
        let _ = rustix::fs::setxattr(
            src.join("sub/file"),
            "user.berth",
            b"v",
            XattrFlags::empty(),
        );
        let s = fs::File::open(&src).unwrap();
        let d = fs::File::open(&dst).unwrap();
        copy_tree(s.as_fd(), d.as_fd()).unwrap();
        let meta = fs::symlink_metadata(dst.join("sub/file")).unwrap();
        assert_eq!(meta.mode() & 0o7777, 0o4751);
        assert_eq!((meta.uid(), meta.gid()), (1234, 5678));
        assert_eq!(fs::read(dst.join("sub/file")).unwrap(), b"hello");
        assert_eq!(fs::metadata(dst.join("hard")).unwrap().ino(), meta.ino());
        assert_eq!(
            fs::read_link(dst.join("sub/abs")).unwrap(),
            Path::new("/etc/passwd")
        );
        assert!(dst.join("sub/deeper").is_dir());
        assert_eq!(fs::metadata(&dst).unwrap().mode() & 0o7777, 0o1777);
        if rustix::fs::getxattr(src.join("sub/file"), "user.berth", &mut [0u8; 8][..]).is_ok() {
            let mut buf = [0u8; 8];
            let n = rustix::fs::getxattr(dst.join("sub/file"), "user.berth", &mut buf[..]).unwrap();
            assert_eq!(&buf[..n], b"v");
        }
    }
}
