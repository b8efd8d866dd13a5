//! Applies one layer tarball to an empty directory in the form overlayfs reads directly:
//! a whiteout `.wh.NAME` becomes a 0:0 character device NAME, an opaque marker
//! `.wh..wh..opq` sets `trusted.overlay.opaque=y` on its directory.
//!
//! Every file operation goes through directory fds opened with O_NOFOLLOW (`fsops`), so
//! nothing an entry says can reach outside the layer: a name that climbs out with `..`, a
//! write through a symlinked parent, a hard link whose target climbs out, all fail with an
//! error naming the entry. Symlinks themselves are created as they are, never followed;
//! at run time they resolve inside the container's root.

mod fsops;
pub(crate) mod meta;
mod path;

use std::collections::HashMap;
use std::ffi::OsStr;
use std::io::{self, Read, Write};
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;
use std::rc::Rc;

use rustix::fs::{self as rfs, AtFlags, FileType, Mode};
use rustix::io::Errno;
use tar::EntryType;

pub use path::LayerPath;

use meta::EntryMeta;

const WHITEOUT_PREFIX: &[u8] = b".wh.";
const OPAQUE_MARKER: &[u8] = b".wh..wh..opq";
const AUFS_META_PREFIX: &[u8] = b".wh..wh.";
const DIR_CACHE_LIMIT: usize = 1024;

#[derive(Debug, Clone)]
pub struct UnpackOptions {
    /// Create device nodes found in the layer (as Docker does when run as root).
    pub allow_devices: bool,
}

impl Default for UnpackOptions {
    fn default() -> Self {
        UnpackOptions {
            allow_devices: true,
        }
    }
}

#[derive(Debug, Default, Clone, Copy)]
pub struct UnpackStats {
    pub entries: u64,
    /// Bytes of regular file content written.
    pub file_bytes: u64,
}

#[derive(Debug, thiserror::Error)]
pub enum UnpackError {
    #[error("entry {entry}: the name climbs out of the layer")]
    Escapes { entry: String },
    #[error("entry {entry}: hard link target {target} climbs out of the layer")]
    LinkEscapes { entry: String, target: String },
    #[error("entry {entry}: {component} is a symbolic link; writing through it is refused")]
    ThroughSymlink { entry: String, component: String },
    #[error("entry {entry}: {component} is not a directory")]
    NotADirectory { entry: String, component: String },
    #[error("entry {entry}: hard link target {target} does not exist earlier in this layer")]
    LinkTargetMissing { entry: String, target: String },
    #[error("entry {entry}: hard link target {target} is a directory")]
    LinkToDirectory { entry: String, target: String },
    #[error("entry {entry}: device nodes are not allowed (--no-devices)")]
    DeviceNotAllowed { entry: String },
    #[error("entry {entry}: not a valid whiteout")]
    BadWhiteout { entry: String },
    #[error("entry {entry}: {reason}")]
    BadEntry { entry: String, reason: String },
    #[error("entry {entry}: {op}: {source}")]
    Sys {
        entry: String,
        op: &'static str,
        source: io::Error,
    },
    #[error("reading the layer{}: {source}", entry.as_ref().map(|e| format!(" at entry {e}")).unwrap_or_default())]
    Read {
        entry: Option<String>,
        source: io::Error,
    },
}

type Result<T, E = UnpackError> = std::result::Result<T, E>;

/// Unpacks the tar stream into `dest`, which must be an existing empty directory.
pub fn apply_layer<R: Read>(stream: R, dest: &Path, opts: &UnpackOptions) -> Result<UnpackStats> {
    let root = rfs::open(
        dest,
        rfs::OFlags::RDONLY | rfs::OFlags::DIRECTORY | rfs::OFlags::CLOEXEC,
        Mode::empty(),
    )
    .map_err(|e| UnpackError::Sys {
        entry: dest.display().to_string(),
        op: "open layer dir",
        source: e.into(),
    })?;
    let mut writer = LayerWriter {
        root: Rc::new(root),
        dirs: HashMap::new(),
        dir_times: Vec::new(),
        buf: vec![0u8; 256 * 1024],
        opts: opts.clone(),
        stats: UnpackStats::default(),
        setgid_dirs: false,
    };
    let _umask = UmaskGuard::clear();
    let mut archive = tar::Archive::new(stream);
    let entries = archive.entries().map_err(|source| UnpackError::Read {
        entry: None,
        source,
    })?;
    for entry in entries {
        let mut entry = entry.map_err(|source| UnpackError::Read {
            entry: None,
            source,
        })?;
        writer.apply_entry(&mut entry)?;
    }
    writer.finish()
}

/// Clears the process umask while a layer is unpacked, so files get the modes the layer
/// says; restores it after. Unpacking runs on one thread.
struct UmaskGuard(Mode);

impl UmaskGuard {
    fn clear() -> UmaskGuard {
        UmaskGuard(rustix::process::umask(Mode::empty()))
    }
}

impl Drop for UmaskGuard {
    fn drop(&mut self) {
        rustix::process::umask(self.0);
    }
}

struct LayerWriter {
    root: Rc<OwnedFd>,
    /// Open directories by their components; shared so a caller can hold one while the
    /// cache is cleared.
    dirs: HashMap<Vec<Vec<u8>>, Rc<OwnedFd>>,
    /// Directory mtimes, applied at the end since adding children changes them.
    dir_times: Vec<(Vec<Vec<u8>>, i64)>,
    buf: Vec<u8>,
    opts: UnpackOptions,
    stats: UnpackStats,
    /// Whether a setgid directory exists, in which new files would not get gid 0.
    setgid_dirs: bool,
}

fn sys<'a>(entry: &'a str, op: &'static str) -> impl FnOnce(Errno) -> UnpackError + 'a {
    move |e| UnpackError::Sys {
        entry: entry.to_string(),
        op,
        source: e.into(),
    }
}

impl LayerWriter {
    fn apply_entry<R: Read>(&mut self, entry: &mut tar::Entry<'_, R>) -> Result<()> {
        let raw_name = entry.path_bytes().into_owned();
        let name = String::from_utf8_lossy(&raw_name).into_owned();
        let kind = entry.header().entry_type();
        if matches!(
            kind,
            EntryType::XGlobalHeader
                | EntryType::XHeader
                | EntryType::GNULongName
                | EntryType::GNULongLink
        ) {
            return Ok(());
        }
        let path = LayerPath::parse(&raw_name).map_err(|_| UnpackError::Escapes {
            entry: name.clone(),
        })?;
        let meta = EntryMeta::read(entry, &name)?;
        self.stats.entries += 1;
        let Some((parent, base)) = path.split_last() else {
            return self.apply_root(kind, &meta, &name);
        };
        if parent.iter().any(|c| c.starts_with(AUFS_META_PREFIX)) {
            return Ok(());
        }
        if base.starts_with(WHITEOUT_PREFIX) {
            return self.apply_whiteout(parent, base, &name);
        }
        let dir_fd = self.dir(parent, &name)?;
        let dir = dir_fd.as_fd();
        match kind {
            EntryType::Directory => self.make_dir(dir, parent, base, &meta, &name),
            EntryType::Regular | EntryType::Continuous | EntryType::GNUSparse => {
                self.write_file(dir, base, entry, &meta, &name)
            }
            EntryType::Symlink => {
                let target = entry
                    .link_name_bytes()
                    .ok_or_else(|| UnpackError::BadEntry {
                        entry: name.clone(),
                        reason: "symlink without a target".into(),
                    })?
                    .into_owned();
                self.replace(dir, base, &name)?;
                rfs::symlinkat(OsStr::from_bytes(&target), dir, OsStr::from_bytes(base))
                    .map_err(sys(&name, "symlink"))?;
                meta.apply_at(dir, base, false, &name)
            }
            EntryType::Link => {
                let target = entry
                    .link_name_bytes()
                    .ok_or_else(|| UnpackError::BadEntry {
                        entry: name.clone(),
                        reason: "hard link without a target".into(),
                    })?
                    .into_owned();
                self.hard_link(dir, &path, base, &target, &name)
            }
            EntryType::Char | EntryType::Block | EntryType::Fifo => {
                let file_type = match kind {
                    EntryType::Char => FileType::CharacterDevice,
                    EntryType::Block => FileType::BlockDevice,
                    _ => FileType::Fifo,
                };
                if file_type != FileType::Fifo && !self.opts.allow_devices {
                    return Err(UnpackError::DeviceNotAllowed { entry: name });
                }
                let dev = rfs::makedev(meta.device.0, meta.device.1);
                self.replace(dir, base, &name)?;
                rfs::mknodat(
                    dir,
                    OsStr::from_bytes(base),
                    file_type,
                    Mode::from_raw_mode(0o600),
                    dev,
                )
                .map_err(sys(&name, "mknod"))?;
                meta.apply_at(dir, base, true, &name)
            }
            other => Err(UnpackError::BadEntry {
                entry: name,
                reason: format!("unsupported tar entry type {other:?}"),
            }),
        }
    }

    /// An entry for the layer root itself (`./`) carries the root directory's metadata.
    fn apply_root(&mut self, kind: EntryType, meta: &EntryMeta, name: &str) -> Result<()> {
        if kind != EntryType::Directory {
            return Err(UnpackError::BadEntry {
                entry: name.to_string(),
                reason: "the layer root must be a directory".into(),
            });
        }
        meta.apply_fd(self.root.as_fd(), name)?;
        self.dir_times.push((Vec::new(), meta.mtime));
        Ok(())
    }

    fn apply_whiteout(&mut self, parent: &[Vec<u8>], base: &[u8], name: &str) -> Result<()> {
        let dir = self.dir(parent, name)?;
        if base == OPAQUE_MARKER {
            return rfs::fsetxattr(
                dir.as_fd(),
                "trusted.overlay.opaque",
                b"y",
                rfs::XattrFlags::empty(),
            )
            .map_err(sys(name, "set trusted.overlay.opaque"));
        }
        if base.starts_with(AUFS_META_PREFIX) {
            return Ok(());
        }
        let target = &base[WHITEOUT_PREFIX.len()..];
        if target.is_empty() || target == b"." || target == b".." {
            return Err(UnpackError::BadWhiteout {
                entry: name.to_string(),
            });
        }
        self.replace(dir.as_fd(), target, name)?;
        rfs::mknodat(
            dir.as_fd(),
            OsStr::from_bytes(target),
            FileType::CharacterDevice,
            Mode::empty(),
            rfs::makedev(0, 0),
        )
        .map_err(sys(name, "create whiteout"))
    }

    fn make_dir(
        &mut self,
        dir: BorrowedFd<'_>,
        parent: &[Vec<u8>],
        base: &[u8],
        meta: &EntryMeta,
        name: &str,
    ) -> Result<()> {
        match fsops::kind_at(dir, base).map_err(sys(name, "stat"))? {
            Some(FileType::Directory) => {}
            existing => {
                if existing.is_some() {
                    fsops::remove_any(dir, base).map_err(sys(name, "remove what was there"))?;
                }
                rfs::mkdirat(dir, OsStr::from_bytes(base), Mode::from_raw_mode(0o700))
                    .map_err(sys(name, "mkdir"))?;
            }
        }
        let fd = fsops::open_dir(dir, base).map_err(sys(name, "open directory"))?;
        meta.apply_fd(fd.as_fd(), name)?;
        self.setgid_dirs |= meta.mode & 0o2000 != 0;
        let mut path = parent.to_vec();
        path.push(base.to_vec());
        self.dir_times.push((path, meta.mtime));
        Ok(())
    }

    fn write_file<R: Read>(
        &mut self,
        dir: BorrowedFd<'_>,
        base: &[u8],
        entry: &mut tar::Entry<'_, R>,
        meta: &EntryMeta,
        name: &str,
    ) -> Result<()> {
        // Created with its final permission bits (umask is 0 while unpacking), so only
        // setuid/setgid/sticky need a chmod after the chown.
        let fd = match fsops::create_file(dir, base, meta.mode & 0o777) {
            Err(Errno::EXIST) => {
                self.replace(dir, base, name)?;
                fsops::create_file(dir, base, meta.mode & 0o777)
            }
            other => other,
        }
        .map_err(sys(name, "create"))?;
        let mut file = std::fs::File::from(fd);
        loop {
            let n = match entry.read(&mut self.buf) {
                Ok(0) => break,
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(source) => {
                    return Err(UnpackError::Read {
                        entry: Some(name.to_string()),
                        source,
                    })
                }
            };
            file.write_all(&self.buf[..n])
                .map_err(|source| UnpackError::Sys {
                    entry: name.to_string(),
                    op: "write",
                    source,
                })?;
            self.stats.file_bytes += n as u64;
        }
        meta.apply_new_file(file.as_fd(), self.setgid_dirs, name)?;
        meta.set_times_fd(file.as_fd(), name)
    }

    fn hard_link(
        &mut self,
        dir: BorrowedFd<'_>,
        path: &LayerPath,
        base: &[u8],
        target: &[u8],
        name: &str,
    ) -> Result<()> {
        let target_text = String::from_utf8_lossy(target).into_owned();
        let target_path = LayerPath::parse(target).map_err(|_| UnpackError::LinkEscapes {
            entry: name.to_string(),
            target: target_text.clone(),
        })?;
        if &target_path == path {
            return Ok(());
        }
        let missing = || UnpackError::LinkTargetMissing {
            entry: name.to_string(),
            target: target_text.clone(),
        };
        let (target_parent, target_base) =
            target_path
                .split_last()
                .ok_or_else(|| UnpackError::LinkToDirectory {
                    entry: name.to_string(),
                    target: target_text.clone(),
                })?;
        let target_dir = self
            .existing_dir(target_parent, name)?
            .ok_or_else(missing)?;
        match fsops::kind_at(target_dir.as_fd(), target_base)
            .map_err(sys(name, "stat link target"))?
        {
            None => return Err(missing()),
            Some(FileType::Directory) => {
                return Err(UnpackError::LinkToDirectory {
                    entry: name.to_string(),
                    target: target_text,
                });
            }
            Some(_) => {}
        }
        self.replace(dir, base, name)?;
        rfs::linkat(
            target_dir.as_fd(),
            OsStr::from_bytes(target_base),
            dir,
            OsStr::from_bytes(base),
            AtFlags::empty(),
        )
        .map_err(sys(name, "link"))
    }

    /// Clears the way for a new entry at `base`; a whole directory tree goes if need be.
    fn replace(&mut self, dir: BorrowedFd<'_>, base: &[u8], name: &str) -> Result<()> {
        match fsops::kind_at(dir, base).map_err(sys(name, "stat"))? {
            None => Ok(()),
            Some(kind) => {
                if kind == FileType::Directory {
                    self.dirs.clear();
                }
                fsops::remove_any(dir, base).map_err(sys(name, "remove what was there"))
            }
        }
    }

    /// The directory at `parts`, created (0755, like tar) where missing.
    fn dir(&mut self, parts: &[Vec<u8>], name: &str) -> Result<Rc<OwnedFd>> {
        Ok(self
            .walk(parts, name, true)?
            .expect("walk creates missing directories"))
    }

    /// The directory at `parts` if it exists.
    fn existing_dir(&mut self, parts: &[Vec<u8>], name: &str) -> Result<Option<Rc<OwnedFd>>> {
        self.walk(parts, name, false)
    }

    fn walk(&mut self, parts: &[Vec<u8>], name: &str, create: bool) -> Result<Option<Rc<OwnedFd>>> {
        if parts.is_empty() {
            return Ok(Some(self.root.clone()));
        }
        if let Some(fd) = self.dirs.get(parts) {
            return Ok(Some(fd.clone()));
        }
        if self.dirs.len() >= DIR_CACHE_LIMIT {
            self.dirs.clear();
        }
        let mut current: Option<Rc<OwnedFd>> = None;
        for depth in 0..parts.len() {
            let prefix = &parts[..=depth];
            if let Some(fd) = self.dirs.get(prefix) {
                current = Some(fd.clone());
                continue;
            }
            let parent = current.as_ref().map_or(self.root.as_fd(), |fd| fd.as_fd());
            let component = &parts[depth];
            let opened = match fsops::open_dir(parent, component) {
                Ok(fd) => fd,
                Err(Errno::NOENT) if create => {
                    rfs::mkdirat(
                        parent,
                        OsStr::from_bytes(component),
                        Mode::from_raw_mode(0o755),
                    )
                    .map_err(sys(name, "create parent directory"))?;
                    fsops::open_dir(parent, component)
                        .map_err(sys(name, "open parent directory"))?
                }
                Err(Errno::NOENT) => return Ok(None),
                Err(Errno::LOOP | Errno::NOTDIR) => {
                    let shown = LayerPath::parse(&prefix.join(&b'/'))
                        .map(|p| p.to_string())
                        .unwrap_or_default();
                    let is_link =
                        fsops::kind_at(parent, component).ok().flatten() == Some(FileType::Symlink);
                    return Err(if is_link {
                        UnpackError::ThroughSymlink {
                            entry: name.to_string(),
                            component: shown,
                        }
                    } else {
                        UnpackError::NotADirectory {
                            entry: name.to_string(),
                            component: shown,
                        }
                    });
                }
                Err(e) => return Err(sys(name, "open parent directory")(e)),
            };
            let opened = Rc::new(opened);
            self.dirs.insert(prefix.to_vec(), opened.clone());
            current = Some(opened);
        }
        Ok(current)
    }

    fn finish(mut self) -> Result<UnpackStats> {
        self.dirs.clear();
        let times = std::mem::take(&mut self.dir_times);
        for (parts, mtime) in times.iter().rev() {
            let shown = LayerPath::parse(&parts.join(&b'/'))
                .map(|p| p.to_string())
                .unwrap_or_default();
            match parts.split_last() {
                None => meta::set_times(self.root.as_fd(), None, *mtime, &shown)?,
                Some((base, parent)) => {
                    // The directory may have been replaced by a later entry: nothing to do then.
                    let Some(dir) = self.existing_dir(parent, &shown).ok().flatten() else {
                        continue;
                    };
                    if fsops::kind_at(dir.as_fd(), base).ok().flatten() == Some(FileType::Directory)
                    {
                        meta::set_times(dir.as_fd(), Some(base), *mtime, &shown)?;
                    }
                }
            }
        }
        Ok(self.stats)
    }
}
