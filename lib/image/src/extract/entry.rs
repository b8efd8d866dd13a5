//! Making one tar entry in its parent directory, with `*at` calls that follow no symlink.

use std::io::{self, Read};
use std::os::fd::{AsFd, BorrowedFd};

use rustix::fs::{
    chownat, fchmod, fchown, futimens, linkat, makedev, mkdirat, mknodat, openat, statat,
    symlinkat, unlinkat, utimensat, AtFlags, FileType, Gid, Mode, OFlags, Uid,
};

use crate::unpack::meta::timestamps;

use super::{clean, ExtractError, Extractor, Owner, Ownership, Result};

impl Extractor<'_> {
    pub(super) fn entry<R: Read>(
        &self,
        entry: &mut tar::Entry<'_, R>,
        name: &str,
        parent: BorrowedFd<'_>,
        last: &str,
    ) -> Result<()> {
        let header = entry.header();
        let kind = header.entry_type();
        let mode = Mode::from_raw_mode(header.mode().unwrap_or(0o644) & 0o7777);
        let mtime = header.mtime().unwrap_or(0) as i64;
        let owner = match self.options.ownership {
            Ownership::Process => None,
            Ownership::Fixed(owner) => Some(owner),
            Ownership::Archive => Some(Owner {
                uid: header.uid().unwrap_or(0) as u32,
                gid: header.gid().unwrap_or(0) as u32,
            }),
        };
        let err = |e: rustix::io::Errno| ExtractError::Sys {
            entry: name.into(),
            source: e.into(),
        };
        if matches!(kind, tar::EntryType::Char | tar::EntryType::Block) && !self.options.devices {
            return Err(ExtractError::Device { entry: name.into() });
        }
        let existing = statat(parent, last, AtFlags::SYMLINK_NOFOLLOW).ok();
        let existing_dir = existing
            .as_ref()
            .map(|s| FileType::from_raw_mode(s.st_mode) == FileType::Directory);
        if kind == tar::EntryType::Directory {
            if existing_dir == Some(false) {
                if self.options.no_overwrite_dir_non_dir {
                    return Err(ExtractError::DirOverNonDir { entry: name.into() });
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
            return finish_fd(&dir, owner, mode, mtime).map_err(err);
        }
        if matches!(
            kind,
            tar::EntryType::XGlobalHeader
                | tar::EntryType::XHeader
                | tar::EntryType::GNULongName
                | tar::EntryType::GNULongLink
        ) {
            return Ok(());
        }
        if existing_dir == Some(true) {
            if self.options.no_overwrite_dir_non_dir {
                return Err(ExtractError::NonDirOverDir { entry: name.into() });
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
                io::copy(entry, &mut file).map_err(|source| ExtractError::Sys {
                    entry: name.into(),
                    source,
                })?;
                finish_fd(&file, owner, mode, mtime).map_err(err)
            }
            tar::EntryType::Symlink => {
                let target = entry
                    .link_name_bytes()
                    .map(|b| String::from_utf8_lossy(&b).into_owned())
                    .unwrap_or_default();
                symlinkat(target.as_str(), parent, last).map_err(err)?;
                if let Some(owner) = owner {
                    chownat(
                        parent,
                        last,
                        Some(Uid::from_raw(owner.uid)),
                        Some(Gid::from_raw(owner.gid)),
                        AtFlags::SYMLINK_NOFOLLOW,
                    )
                    .map_err(err)?;
                }
                utimensat(parent, last, &timestamps(mtime), AtFlags::SYMLINK_NOFOLLOW).map_err(err)
            }
            tar::EntryType::Link => {
                let target = entry
                    .link_name_bytes()
                    .map(|b| String::from_utf8_lossy(&b).into_owned())
                    .unwrap_or_default();
                let missing = || ExtractError::LinkTargetMissing {
                    entry: name.into(),
                    target: target.clone(),
                };
                let comps = clean(&target).map_err(|_| ExtractError::Escapes {
                    entry: format!("{name} -> {target}"),
                })?;
                let Some((source, dirs)) = comps.split_last() else {
                    return Err(missing());
                };
                let source_parent = self.parent(name, dirs, false).map_err(|e| match e {
                    ExtractError::Sys { .. } => missing(),
                    e => e,
                })?;
                // No AT_SYMLINK_FOLLOW: a symlink source is linked as the link itself.
                linkat(
                    &source_parent,
                    source.as_str(),
                    parent,
                    last,
                    AtFlags::empty(),
                )
                .map_err(|e| match e {
                    rustix::io::Errno::NOENT => missing(),
                    e => err(e),
                })
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
                if let Some(owner) = owner {
                    rustix::fs::chown(
                        &proc_path,
                        Some(Uid::from_raw(owner.uid)),
                        Some(Gid::from_raw(owner.gid)),
                    )
                    .map_err(err)?;
                }
                rustix::fs::chmod(&proc_path, mode).map_err(err)
            }
            // Anything else has no file to make.
            _ => Ok(()),
        }
    }
}

/// Owner, then mode (a chown clears set-id bits), then times.
fn finish_fd(
    fd: impl AsFd,
    owner: Option<Owner>,
    mode: Mode,
    mtime: i64,
) -> rustix::io::Result<()> {
    if let Some(owner) = owner {
        fchown(
            &fd,
            Some(Uid::from_raw(owner.uid)),
            Some(Gid::from_raw(owner.gid)),
        )?;
    }
    fchmod(&fd, mode)?;
    futimens(&fd, &timestamps(mtime))
}
