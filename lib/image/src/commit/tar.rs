//! An overlay upper dir (or any directory) written as an OCI layer tar: entries sorted by
//! name, a directory before what it holds; overlayfs whiteouts (0/0 character devices)
//! become `.wh.NAME` files and opaque directories (`trusted.overlay.opaque=y`, or
//! `user.overlay.opaque` under a `userxattr` mount) get a `.wh..wh..opq` entry, as the OCI
//! image spec and moby's overlay converter write them. Hard links inside the tree stay
//! links. Times are clamped to `SOURCE_DATE_EPOCH` when it is given, so the same content
//! gives the same bytes.
//!
//! The tree may belong to a container that still runs: every name is opened relative to
//! its directory's fd with `O_NOFOLLOW`, so a symlink swapped in cannot lead the walk out.

use std::collections::HashMap;
use std::io::{self, Write};
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::path::Path;

use rustix::fs::{self as rfs, AtFlags, Dir, FileType, Mode, OFlags, Stat};
use tar::{EntryType, Header};

const MAX_DEPTH: usize = 512;

/// How a tree is written.
#[derive(Debug, Default, Clone)]
pub struct LayerTarOptions {
    /// Container paths (`/etc/hosts`) left out with everything under them: what berth
    /// itself makes in every container (mount targets), as docker's init layer hides them.
    pub skip: Vec<String>,
    /// `SOURCE_DATE_EPOCH`: no entry is newer than this.
    pub clamp_mtime: Option<i64>,
}

/// What was written.
#[derive(Debug, Default, Clone, Copy)]
pub struct LayerTarStats {
    pub entries: u64,
}

/// Writes the tree at `dir` as a tar stream into `out` (finished with the end blocks).
pub fn write_layer_tar<W: Write>(
    dir: &Path,
    out: W,
    opts: &LayerTarOptions,
) -> io::Result<LayerTarStats> {
    let root = rfs::open(
        dir,
        OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
        Mode::empty(),
    )
    .map_err(|e| with_path(dir.display(), e.into()))?;
    let mut builder = tar::Builder::new(out);
    builder.mode(tar::HeaderMode::Complete);
    let mut walk = Walk {
        tar: builder,
        opts,
        links: HashMap::new(),
        stats: LayerTarStats::default(),
    };
    walk.dir(root.as_fd(), "", 0)?;
    walk.tar.into_inner()?.flush()?;
    Ok(walk.stats)
}

fn with_path(path: impl std::fmt::Display, e: io::Error) -> io::Error {
    io::Error::new(e.kind(), format!("{path}: {e}"))
}

struct Walk<'a, W: Write> {
    tar: tar::Builder<W>,
    opts: &'a LayerTarOptions,
    /// First name written for each (dev, inode) with more than one link.
    links: HashMap<(u64, u64), String>,
    stats: LayerTarStats,
}

impl<W: Write> Walk<'_, W> {
    fn dir(&mut self, dir: BorrowedFd<'_>, prefix: &str, depth: usize) -> io::Result<()> {
        if depth > MAX_DEPTH {
            return Err(io::Error::other(format!(
                "{prefix}: too many levels of directories"
            )));
        }
        let mut names: Vec<Vec<u8>> = Vec::new();
        for entry in Dir::read_from(dir)? {
            let name = entry?.file_name().to_bytes().to_vec();
            if name != b"." && name != b".." {
                names.push(name);
            }
        }
        names.sort();
        for name in names {
            let name = String::from_utf8(name).map_err(|n| {
                io::Error::other(format!(
                    "{prefix}/{}: the name is not UTF-8",
                    String::from_utf8_lossy(n.as_bytes())
                ))
            })?;
            let path = format!("{prefix}/{name}");
            if self.opts.skip.contains(&path) {
                continue;
            }
            self.entry(dir, &name, &path, depth)
                .map_err(|e| with_path(&path, e))?;
        }
        Ok(())
    }

    fn entry(
        &mut self,
        dir: BorrowedFd<'_>,
        name: &str,
        path: &str,
        depth: usize,
    ) -> io::Result<()> {
        let stat = match rfs::statat(dir, name, AtFlags::SYMLINK_NOFOLLOW) {
            Ok(stat) => stat,
            // Removed by the still-running container since the listing.
            Err(rustix::io::Errno::NOENT) => return Ok(()),
            Err(e) => return Err(e.into()),
        };
        let tar_name = &path[1..];
        let kind = FileType::from_raw_mode(stat.st_mode);
        let mut header = self.header(&stat);
        match kind {
            FileType::CharacterDevice if stat.st_rdev == 0 => {
                let (parent, base) = tar_name.rsplit_once('/').unwrap_or(("", tar_name));
                let whiteout = match parent {
                    "" => format!(".wh.{base}"),
                    parent => format!("{parent}/.wh.{base}"),
                };
                header.set_entry_type(EntryType::Regular);
                header.set_mode(0o600);
                header.set_device_major(0)?;
                header.set_device_minor(0)?;
                self.append(&mut header, &whiteout, io::empty())
            }
            FileType::Directory => {
                let sub = rfs::openat(
                    dir,
                    name,
                    OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
                    Mode::empty(),
                )?;
                self.pax_xattrs(sub.as_fd())?;
                header.set_entry_type(EntryType::Directory);
                self.append(&mut header, &format!("{tar_name}/"), io::empty())?;
                if is_opaque(sub.as_fd()) {
                    let mut marker = self.header(&stat);
                    marker.set_entry_type(EntryType::Regular);
                    marker.set_mode(0o600);
                    self.append(
                        &mut marker,
                        &format!("{tar_name}/.wh..wh..opq"),
                        io::empty(),
                    )?;
                }
                self.dir(sub.as_fd(), path, depth + 1)
            }
            FileType::Symlink => {
                let target = rfs::readlinkat(dir, name, Vec::new())?;
                let target = target
                    .to_str()
                    .map_err(|_| io::Error::other("the symbolic link's target is not UTF-8"))?;
                header.set_entry_type(EntryType::Symlink);
                self.stats.entries += 1;
                self.tar.append_link(&mut header, tar_name, target)
            }
            FileType::RegularFile => {
                if stat.st_nlink > 1 {
                    let key = (stat.st_dev, stat.st_ino);
                    if let Some(first) = self.links.get(&key).cloned() {
                        header.set_entry_type(EntryType::Link);
                        header.set_size(0);
                        self.stats.entries += 1;
                        return self.tar.append_link(&mut header, tar_name, first);
                    }
                    self.links.insert(key, tar_name.to_string());
                }
                let file = open_file(dir, name)?;
                self.pax_xattrs(file.as_fd())?;
                header.set_entry_type(EntryType::Regular);
                header.set_size(stat.st_size as u64);
                // A file still written to must not make the entry disagree with its size.
                let reader = io::Read::take(std::fs::File::from(file), stat.st_size as u64);
                self.append(
                    &mut header,
                    tar_name,
                    Padded::new(reader, stat.st_size as u64),
                )
            }
            FileType::CharacterDevice | FileType::BlockDevice | FileType::Fifo => {
                header.set_entry_type(match kind {
                    FileType::CharacterDevice => EntryType::Char,
                    FileType::BlockDevice => EntryType::Block,
                    _ => EntryType::Fifo,
                });
                header.set_device_major(rustix::fs::major(stat.st_rdev))?;
                header.set_device_minor(rustix::fs::minor(stat.st_rdev))?;
                self.append(&mut header, tar_name, io::empty())
            }
            // Sockets have no place in an image (docker skips them too).
            _ => Ok(()),
        }
    }

    fn header(&self, stat: &Stat) -> Header {
        let mut header = Header::new_gnu();
        header.set_mode(stat.st_mode & 0o7777);
        header.set_uid(u64::from(stat.st_uid));
        header.set_gid(u64::from(stat.st_gid));
        let mtime = match self.opts.clamp_mtime {
            Some(epoch) => stat.st_mtime.min(epoch),
            None => stat.st_mtime,
        };
        header.set_mtime(mtime.max(0) as u64);
        header.set_size(0);
        header
    }

    fn append(&mut self, header: &mut Header, name: &str, data: impl io::Read) -> io::Result<()> {
        self.stats.entries += 1;
        self.tar.append_data(header, name, data)
    }

    /// The xattrs a layer may carry (as the unpacker keeps them), as PAX records before
    /// the entry; overlayfs's own (`trusted.overlay.*`, `user.overlay.*`) stay out.
    fn pax_xattrs(&mut self, fd: BorrowedFd<'_>) -> io::Result<()> {
        let mut records: Vec<(String, Vec<u8>)> = Vec::new();
        for key in list_xattrs(fd)? {
            let keep = (key.starts_with("user.") && !key.starts_with("user.overlay."))
                || key.starts_with("security.")
                || key.starts_with("system.posix_acl_");
            if !keep {
                continue;
            }
            if let Some(value) = get_xattr(fd, &key)? {
                records.push((format!("SCHILY.xattr.{key}"), value));
            }
        }
        if records.is_empty() {
            return Ok(());
        }
        records.sort();
        self.tar.append_pax_extensions(
            records
                .iter()
                .map(|(key, value)| (key.as_str(), value.as_slice())),
        )
    }
}

fn open_file(dir: BorrowedFd<'_>, name: &str) -> io::Result<OwnedFd> {
    Ok(rfs::openat(
        dir,
        name,
        OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::CLOEXEC | OFlags::NOCTTY,
        Mode::empty(),
    )?)
}

/// overlayfs's mark of a directory that hides the lower layers' one ("y"; "x" only says
/// the directory holds whiteouts of the newer kind).
fn is_opaque(dir: BorrowedFd<'_>) -> bool {
    ["trusted.overlay.opaque", "user.overlay.opaque"]
        .iter()
        .any(|key| matches!(get_xattr(dir, key), Ok(Some(v)) if v == b"y"))
}

fn list_xattrs(fd: BorrowedFd<'_>) -> io::Result<Vec<String>> {
    let mut buf = vec![0u8; 4096];
    loop {
        match rfs::flistxattr(fd, &mut buf) {
            Ok(n) => {
                return Ok(buf[..n]
                    .split(|b| *b == 0)
                    .filter(|k| !k.is_empty())
                    .map(|k| String::from_utf8_lossy(k).into_owned())
                    .collect())
            }
            Err(rustix::io::Errno::RANGE) if buf.len() < (1 << 20) => buf.resize(buf.len() * 4, 0),
            Err(rustix::io::Errno::NOTSUP) => return Ok(Vec::new()),
            Err(e) => return Err(e.into()),
        }
    }
}

fn get_xattr(fd: BorrowedFd<'_>, key: &str) -> io::Result<Option<Vec<u8>>> {
    let mut buf = vec![0u8; 256];
    loop {
        match rfs::fgetxattr(fd, key, &mut buf) {
            Ok(n) => {
                buf.truncate(n);
                return Ok(Some(buf));
            }
            Err(rustix::io::Errno::RANGE) if buf.len() < (1 << 20) => buf.resize(buf.len() * 4, 0),
            Err(rustix::io::Errno::NODATA | rustix::io::Errno::NOTSUP) => return Ok(None),
            Err(e) => return Err(e.into()),
        }
    }
}

/// A reader of exactly `len` bytes: a file truncated while it is read is padded with
/// zeros, so the tar entry still has the size its header says.
struct Padded<R> {
    inner: R,
    left: u64,
}

impl<R> Padded<R> {
    fn new(inner: R, len: u64) -> Self {
        Padded { inner, left: len }
    }
}

impl<R: io::Read> io::Read for Padded<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.left == 0 {
            return Ok(0);
        }
        let want = buf.len().min(self.left as usize);
        let mut n = self.inner.read(&mut buf[..want])?;
        if n == 0 {
            buf[..want].fill(0);
            n = want;
        }
        self.left -= n as u64;
        Ok(n)
    }
}
