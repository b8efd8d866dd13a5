//! Writing a tar of a tree inside a container root, by file descriptors only: every step
//! is an `openat(…, O_NOFOLLOW)` from the directory above, so a container that swaps a
//! directory for a symlink while it is read cannot send the walk to the host. procfs and
//! sysfs mounted in the container are listed, not descended into.

use std::io::{self, Read, Write};
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};

use rustix::fs::{
    fstat, fstatfs, major, minor, openat, readlinkat, statat, AtFlags, Dir, FileType, Mode, OFlags,
    Stat,
};

/// Deeper trees are refused rather than walked (each level holds a descriptor).
const MAX_DEPTH: usize = 256;
const SYSFS_MAGIC: u64 = 0x6265_6572;

pub struct Packer<W: Write> {
    tar: tar::Builder<W>,
}

fn header(stat: &Stat, kind: tar::EntryType) -> tar::Header {
    let mut h = tar::Header::new_gnu();
    h.set_entry_type(kind);
    h.set_mode(stat.st_mode & 0o7777);
    h.set_uid(u64::from(stat.st_uid));
    h.set_gid(u64::from(stat.st_gid));
    h.set_mtime(stat.st_mtime.max(0) as u64);
    h.set_size(0);
    h
}

fn is_pseudo_fs(dir: BorrowedFd<'_>) -> io::Result<bool> {
    // f_type's width differs between architectures.
    #[allow(clippy::unnecessary_cast)]
    let magic = fstatfs(dir)?.f_type as u64;
    #[allow(clippy::unnecessary_cast)]
    let proc_magic = rustix::fs::PROC_SUPER_MAGIC as u64;
    Ok(magic == proc_magic || magic == SYSFS_MAGIC)
}

impl<W: Write> Packer<W> {
    pub fn new(out: W) -> Self {
        let mut tar = tar::Builder::new(out);
        tar.mode(tar::HeaderMode::Complete);
        Packer { tar }
    }

    pub fn finish(self) -> io::Result<W> {
        self.tar.into_inner()
    }

    /// Adds `name` of directory `parent` as `path` (and, for a directory, what it holds).
    pub fn add(&mut self, parent: BorrowedFd<'_>, name: &str, path: &str) -> io::Result<()> {
        self.add_at(parent, name, path, 0)
    }

    /// Adds what directory `dir` (any fd on it) holds, named below `prefix` (`""`: at the
    /// top of the archive).
    pub fn add_contents(&mut self, dir: BorrowedFd<'_>, prefix: &str) -> io::Result<()> {
        let readable = openat(
            dir,
            ".",
            OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
            Mode::empty(),
        )?;
        self.contents(&readable, prefix, 0)
    }

    fn add_at(
        &mut self,
        parent: BorrowedFd<'_>,
        name: &str,
        path: &str,
        depth: usize,
    ) -> io::Result<()> {
        let stat = statat(parent, name, AtFlags::SYMLINK_NOFOLLOW)?;
        match FileType::from_raw_mode(stat.st_mode) {
            FileType::RegularFile => self.file(parent, name, path),
            FileType::Directory => {
                let dir = openat(
                    parent,
                    name,
                    OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
                    Mode::empty(),
                )?;
                let stat = fstat(&dir)?;
                let mut h = header(&stat, tar::EntryType::Directory);
                self.tar
                    .append_data(&mut h, format!("{path}/"), io::empty())?;
                if is_pseudo_fs(dir.as_fd())? {
                    return Ok(());
                }
                self.contents(&dir, path, depth + 1)
            }
            FileType::Symlink => {
                let target = readlinkat(parent, name, Vec::new())?;
                let mut h = header(&stat, tar::EntryType::Symlink);
                self.tar
                    .append_link(&mut h, path, target.to_string_lossy().as_ref())
            }
            kind @ (FileType::CharacterDevice | FileType::BlockDevice | FileType::Fifo) => {
                let entry = match kind {
                    FileType::CharacterDevice => tar::EntryType::Char,
                    FileType::BlockDevice => tar::EntryType::Block,
                    _ => tar::EntryType::Fifo,
                };
                let mut h = header(&stat, entry);
                if kind != FileType::Fifo {
                    h.set_device_major(major(stat.st_rdev))?;
                    h.set_device_minor(minor(stat.st_rdev))?;
                }
                self.tar.append_data(&mut h, path, io::empty())
            }
            // Sockets have no place in a tar (docker skips them too).
            _ => Ok(()),
        }
    }

    fn file(&mut self, parent: BorrowedFd<'_>, name: &str, path: &str) -> io::Result<()> {
        let fd: OwnedFd = openat(
            parent,
            name,
            OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::NONBLOCK | OFlags::NOCTTY | OFlags::CLOEXEC,
            Mode::empty(),
        )?;
        let stat = fstat(&fd)?;
        if FileType::from_raw_mode(stat.st_mode) != FileType::RegularFile {
            // Swapped while we looked: leave it out.
            return Ok(());
        }
        let size = stat.st_size.max(0) as u64;
        let mut h = header(&stat, tar::EntryType::Regular);
        h.set_size(size);
        // A file that shrinks while it is read is padded, one that grows is cut: the
        // header's size must hold.
        let data = std::fs::File::from(fd)
            .take(size)
            .chain(io::repeat(0))
            .take(size);
        self.tar.append_data(&mut h, path, data)
    }

    fn contents(&mut self, dir: &OwnedFd, prefix: &str, depth: usize) -> io::Result<()> {
        if depth > MAX_DEPTH {
            return Err(io::Error::other(format!(
                "{prefix}: more than {MAX_DEPTH} levels of directories"
            )));
        }
        let mut names = Vec::new();
        for entry in Dir::read_from(dir)? {
            let entry = entry?;
            let name = entry.file_name().to_string_lossy().into_owned();
            if name != "." && name != ".." {
                names.push(name);
            }
        }
        names.sort();
        for name in names {
            let path = if prefix.is_empty() {
                name.clone()
            } else {
                format!("{prefix}/{name}")
            };
            match self.add_at(dir.as_fd(), &name, &path, depth) {
                Ok(()) => {}
                // Gone since the listing (a running container changes its files).
                Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }
}
