//! Extracting a tar someone else made (a build context, a container's `docker cp` archive,
//! an upload into a container) into a directory, without letting any entry reach outside
//! it. Every user of such a tar goes through [`Extractor`]: a layer, whose whiteouts mean
//! something, goes through [`crate::unpack`] instead.
//!
//! Each entry's name is cleaned lexically (`..` may not climb above the extraction point);
//! its parent directory is reached either component by component with `O_NOFOLLOW` (a
//! symlink on the way is refused: [`Symlinks::Refuse`], for a host directory) or with
//! `open_in_root` (a symlink resolves inside the root and must stay below the extraction
//! point: [`Symlinks::InRoot`], a container's tree). The entry is then made with `*at`
//! calls on that parent that never follow a symlink.

mod entry;

use std::io::Read;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::path::{Path, PathBuf};

use berth_rootfs::{open_in_root, resolved_in_root, Kind, RootfsError};
use rustix::fs::{mkdirat, openat, statat, AtFlags, FileType, Mode, OFlags};
use rustix::io::Errno;

/// Who extracted files belong to.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Owner {
    pub uid: u32,
    pub gid: u32,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Ownership {
    /// Files belong to whoever extracts them (no chown).
    #[default]
    Process,
    /// Every file is chowned to this owner.
    Fixed(Owner),
    /// Each file gets the owner its tar header names.
    Archive,
}

/// How a symlink met on the way to an entry is treated.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Symlinks {
    /// Writing through one is refused: the extraction point is a host directory, where
    /// nothing the archive says may be followed.
    #[default]
    Refuse,
    /// Resolved inside the root, as the container would see it; it must stay below the
    /// extraction point.
    InRoot,
}

#[derive(Debug, Clone, Default)]
pub struct ExtractOptions {
    pub ownership: Ownership,
    pub symlinks: Symlinks,
    /// Refuse an entry named by an absolute path (else it is taken below the extraction
    /// point, as tar does).
    pub refuse_absolute: bool,
    /// Create device nodes (else an entry that is one is refused).
    pub devices: bool,
    /// Refuse replacing a directory with a non-directory and the other way round (docker's
    /// `noOverwriteDirNonDir`).
    pub no_overwrite_dir_non_dir: bool,
}

impl ExtractOptions {
    /// For a tar from a client or a container unpacked into a host directory: absolute
    /// names, device nodes and writes through symlinks refused, files owned by us.
    pub fn untrusted() -> ExtractOptions {
        ExtractOptions {
            refuse_absolute: true,
            ..ExtractOptions::default()
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ExtractError {
    #[error("not a tar archive: {0}")]
    NotTar(std::io::Error),
    #[error("reading the tar{}: {source}", after.as_ref().map(|e| format!(" after entry {e:?}")).unwrap_or_default())]
    Read {
        after: Option<String>,
        source: std::io::Error,
    },
    #[error("tar entry {entry:?} points outside the extraction point")]
    Escapes { entry: String },
    #[error("tar entry {entry:?} has an absolute name")]
    Absolute { entry: String },
    #[error("tar entry {entry:?} points outside the extraction point through a symlink")]
    LinkEscapes { entry: String },
    #[error(
        "tar entry {entry:?}: {component:?} is a symbolic link; writing through it is refused"
    )]
    ThroughSymlink { entry: String, component: String },
    #[error("tar entry {entry:?}: {component:?} is not a directory")]
    NotADirectory { entry: String, component: String },
    #[error("tar entry {entry:?} is a device node; none may be made here")]
    Device { entry: String },
    #[error(
        "tar entry {entry:?}: a hard link to {target:?}, which is not in the archive before it"
    )]
    LinkTargetMissing { entry: String, target: String },
    #[error("cannot overwrite non-directory {entry:?} with directory")]
    DirOverNonDir { entry: String },
    #[error("cannot overwrite directory {entry:?} with non-directory")]
    NonDirOverDir { entry: String },
    #[error("extracting {entry:?}: {source}")]
    Sys {
        entry: String,
        source: std::io::Error,
    },
    #[error("{}: {source}", path.display())]
    Dest {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(transparent)]
    InRoot(#[from] RootfsError),
}

impl ExtractError {
    pub fn kind(&self) -> berth_common::ErrorKind {
        use berth_common::ErrorKind;
        match self {
            ExtractError::Sys { source, .. } | ExtractError::Dest { source, .. } => {
                ErrorKind::of_io(source)
            }
            ExtractError::InRoot(e) => e.kind(),
            _ => ErrorKind::InvalidInput,
        }
    }
}

type Result<T, E = ExtractError> = std::result::Result<T, E>;

/// Extracts `input` into the directory `dir` (a host path, made by the caller), with
/// `options` (see [`ExtractOptions::untrusted`]).
pub fn extract_into(dir: &Path, input: &mut dyn Read, options: ExtractOptions) -> Result<()> {
    let root = rustix::fs::open(
        dir,
        OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
        Mode::empty(),
    )
    .map_err(|e| ExtractError::Dest {
        path: dir.to_path_buf(),
        source: e.into(),
    })?;
    Extractor {
        root: root.as_fd(),
        dest: "/".into(),
        options,
    }
    .unpack(input)
}

/// `name`'s components below the extraction point, or an error for one that climbs out.
pub fn clean(name: &str) -> Result<Vec<String>> {
    let mut out: Vec<String> = Vec::new();
    for comp in name.split('/') {
        match comp {
            "" | "." => {}
            ".." => {
                if out.pop().is_none() {
                    return Err(ExtractError::Escapes { entry: name.into() });
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

pub struct Extractor<'a> {
    /// What `/` is for paths and (with [`Symlinks::InRoot`]) for symlinks.
    pub root: BorrowedFd<'a>,
    /// The extraction point below the root, as `open_in_root` resolves it.
    pub dest: String,
    pub options: ExtractOptions,
}

impl Extractor<'_> {
    pub fn unpack(&self, input: &mut dyn Read) -> Result<()> {
        let mut archive = tar::Archive::new(input);
        let entries = archive.entries().map_err(ExtractError::NotTar)?;
        let mut last: Option<String> = None;
        // Directory times go last: what is extracted into a directory changes its mtime.
        let mut dir_times: Vec<(String, Vec<String>, i64)> = Vec::new();
        for entry in entries {
            let mut entry = entry.map_err(|source| ExtractError::Read {
                after: last.clone(),
                source,
            })?;
            let name = String::from_utf8_lossy(&entry.path_bytes()).into_owned();
            if self.options.refuse_absolute && name.starts_with('/') {
                return Err(ExtractError::Absolute { entry: name });
            }
            let comps = clean(&name)?;
            if let Some((base, dirs)) = comps.split_last() {
                let parent = self.parent(&name, dirs, true)?;
                if entry.header().entry_type() == tar::EntryType::Directory {
                    dir_times.push((
                        name.clone(),
                        comps.clone(),
                        entry.header().mtime().unwrap_or(0) as i64,
                    ));
                }
                self.entry(&mut entry, &name, parent.as_fd(), base)?;
            }
            last = Some(name);
        }
        for (name, comps, mtime) in dir_times {
            let Some((base, dirs)) = comps.split_last() else {
                continue;
            };
            let parent = self.parent(&name, dirs, false)?;
            rustix::fs::utimensat(
                &parent,
                base.as_str(),
                &crate::unpack::meta::timestamps(mtime),
                AtFlags::SYMLINK_NOFOLLOW,
            )
            .map_err(|e| ExtractError::Sys {
                entry: name.clone(),
                source: e.into(),
            })?;
        }
        Ok(())
    }

    /// The directory an entry goes in (made if missing and `create`); refused when a
    /// symlink takes it out of the extraction point or, with [`Symlinks::Refuse`], when
    /// there is a symlink on the way at all.
    fn parent(&self, name: &str, dirs: &[String], create: bool) -> Result<OwnedFd> {
        let path = if dirs.is_empty() {
            self.dest.clone()
        } else {
            format!("{}/{}", self.dest.trim_end_matches('/'), dirs.join("/"))
        };
        match self.options.symlinks {
            Symlinks::InRoot => {
                if !below(&resolved_in_root(self.root, &path)?, &self.dest) {
                    return Err(ExtractError::LinkEscapes { entry: name.into() });
                }
                Ok(open_in_root(self.root, &path, create.then_some(Kind::Dir))?)
            }
            Symlinks::Refuse => self.walk(name, &path, create),
        }
    }

    fn walk(&self, name: &str, path: &str, create: bool) -> Result<OwnedFd> {
        let sys = |source: Errno| ExtractError::Sys {
            entry: name.into(),
            source: source.into(),
        };
        let mut dir = openat(
            self.root,
            ".",
            OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
            Mode::empty(),
        )
        .map_err(sys)?;
        for comp in path.split('/').filter(|c| !c.is_empty() && *c != ".") {
            if comp == ".." {
                // Cleaned names have none; a caller's dest with one is refused outright.
                return Err(ExtractError::Escapes { entry: name.into() });
            }
            let kind = match statat(&dir, comp, AtFlags::SYMLINK_NOFOLLOW) {
                Ok(stat) => Some(FileType::from_raw_mode(stat.st_mode)),
                Err(Errno::NOENT) => None,
                Err(e) => return Err(sys(e)),
            };
            match kind {
                Some(FileType::Directory) => {}
                Some(FileType::Symlink) => {
                    return Err(ExtractError::ThroughSymlink {
                        entry: name.into(),
                        component: comp.into(),
                    })
                }
                Some(_) => {
                    return Err(ExtractError::NotADirectory {
                        entry: name.into(),
                        component: comp.into(),
                    })
                }
                None if create => match mkdirat(&dir, comp, Mode::from_raw_mode(0o755)) {
                    Ok(()) | Err(Errno::EXIST) => {}
                    Err(e) => return Err(sys(e)),
                },
                None => return Err(sys(Errno::NOENT)),
            }
            dir = openat(
                &dir,
                comp,
                OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
                Mode::empty(),
            )
            .map_err(|e| match e {
                Errno::LOOP | Errno::NOTDIR => ExtractError::ThroughSymlink {
                    entry: name.into(),
                    component: comp.into(),
                },
                e => sys(e),
            })?;
        }
        Ok(dir)
    }
}

#[cfg(test)]
mod tests;
