//! `docker diff`: the container's upper dir read against its image's layers. An entry in
//! upper is added (1) when the image lacks the path, modified (0) when it has it; a
//! whiteout (a 0/0 character device) is a deletion (2). A directory that only holds
//! changes below it is listed as modified once they are. What berth itself makes in the
//! rootfs (mount targets for /etc/hosts, binds, volumes…) is left out, as docker's init
//! layer hides its own.

use std::os::fd::{AsFd, BorrowedFd, OwnedFd};

use berth_api::archive::Change;
use berth_api::BackendError;
use berth_rootfs::detached::{detached_overlay, DetachedLayers};
use rustix::fs::{
    fstat, openat, openat2, statat, AtFlags, Dir, FileType, Mode, OFlags, ResolveFlags, Stat,
};

use super::root::Root;

const MAX_DEPTH: usize = 256;
const MODIFIED: u8 = 0;
const ADDED: u8 = 1;
const DELETED: u8 = 2;

/// What berth-enter and the rootfs stage make in every container, whatever its mounts.
const BERTH_MADE: &[&str] = &[
    "/etc/hosts",
    "/etc/hostname",
    "/etc/resolv.conf",
    "/dev",
    "/proc",
    "/sys",
    "/dev/console",
    "/dev/pts",
    "/dev/shm",
    "/dev/mqueue",
];

fn internal(e: impl std::fmt::Display) -> BackendError {
    BackendError::internal(e.to_string())
}

struct Walk<'a> {
    lower: BorrowedFd<'a>,
    hidden: Vec<String>,
    out: Vec<Change>,
}

pub fn changes(root: &Root) -> Result<Vec<Change>, BackendError> {
    let Some(upper) = &root.upper else {
        // Never started: nothing written yet.
        return Ok(Vec::new());
    };
    let lower = lower_view(&root.layers)?;
    let upper_fd = openat(
        rustix::fs::CWD,
        upper,
        OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
        Mode::empty(),
    )
    .map_err(|e| internal(format!("{}: {e}", upper.display())))?;
    let mut hidden: Vec<String> = BERTH_MADE.iter().map(|s| s.to_string()).collect();
    hidden.extend(root.mount_targets.iter().cloned());
    let mut walk = Walk {
        lower: lower.as_fd(),
        hidden,
        out: Vec::new(),
    };
    walk.dir(&upper_fd, "", 0)
        .map_err(|e| internal(format!("reading {}: {e}", upper.display())))?;
    Ok(walk.out)
}

/// The image's layers merged (read-only), to ask whether a path was there before.
fn lower_view(layers: &[std::path::PathBuf]) -> Result<OwnedFd, BackendError> {
    match layers {
        [] => Err(internal("the container's image has no layers")),
        [only] => openat(
            rustix::fs::CWD,
            only,
            OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC,
            Mode::empty(),
        )
        .map_err(|e| internal(format!("{}: {e}", only.display()))),
        many => {
            let top_first: Vec<_> = many.iter().rev().cloned().collect();
            detached_overlay(DetachedLayers::ReadOnly(&top_first))
                .map_err(|e| BackendError::new(e.kind(), e.to_string()))
        }
    }
}

impl Walk<'_> {
    /// The image's object at `path` (no symlink followed on the way).
    fn in_lower(&self, path: &str) -> Option<Stat> {
        let rel = path.trim_start_matches('/');
        let (dir, name) = rel.rsplit_once('/').unwrap_or(("", rel));
        let parent = openat2(
            self.lower,
            if dir.is_empty() { "." } else { dir },
            OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC,
            Mode::empty(),
            ResolveFlags::BENEATH | ResolveFlags::NO_SYMLINKS | ResolveFlags::NO_MAGICLINKS,
        )
        .ok()?;
        statat(&parent, name, AtFlags::SYMLINK_NOFOLLOW).ok()
    }

    fn is_hidden(&self, path: &str) -> bool {
        self.hidden.iter().any(|h| h == path)
    }

    /// Walks directory `dir` (container path `prefix`); whether it reported anything.
    fn dir(&mut self, dir: &OwnedFd, prefix: &str, depth: usize) -> std::io::Result<bool> {
        if depth > MAX_DEPTH {
            return Err(std::io::Error::other("too many levels of directories"));
        }
        let mut names = Vec::new();
        for entry in Dir::read_from(dir)? {
            let name = entry?.file_name().to_string_lossy().into_owned();
            if name != "." && name != ".." {
                names.push(name);
            }
        }
        names.sort();
        let mut any = false;
        for name in names {
            let path = format!("{prefix}/{name}");
            let stat = match statat(dir, name.as_str(), AtFlags::SYMLINK_NOFOLLOW) {
                Ok(stat) => stat,
                Err(_) => continue,
            };
            let kind = FileType::from_raw_mode(stat.st_mode);
            if kind == FileType::CharacterDevice && stat.st_rdev == 0 {
                if !self.is_hidden(&path) {
                    self.push(&path, DELETED);
                    any = true;
                }
                continue;
            }
            let before = self.in_lower(&path);
            if kind != FileType::Directory {
                if !self.is_hidden(&path) {
                    self.push(&path, if before.is_some() { MODIFIED } else { ADDED });
                    any = true;
                }
                continue;
            }
            let sub = openat(
                dir,
                name.as_str(),
                OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
                Mode::empty(),
            )?;
            let at = self.out.len();
            let inner = self.dir(&sub, &path, depth + 1)?;
            let was_dir = before
                .as_ref()
                .is_some_and(|s| FileType::from_raw_mode(s.st_mode) == FileType::Directory);
            let report = if !was_dir {
                // New here: reported unless berth made it and nothing else is in it.
                (before.is_some() || !self.is_hidden(&path) || inner)
                    .then_some(if before.is_some() { MODIFIED } else { ADDED })
            } else {
                let own = fstat(&sub)?;
                let lower = before.expect("was a directory");
                let changed = own.st_mode != lower.st_mode
                    || own.st_uid != lower.st_uid
                    || own.st_gid != lower.st_gid
                    || opaque(sub.as_fd());
                (inner || changed).then_some(MODIFIED)
            };
            if let Some(kind) = report {
                self.out.insert(
                    at,
                    Change {
                        path: path.clone(),
                        kind,
                    },
                );
                any = true;
            }
        }
        Ok(any)
    }

    fn push(&mut self, path: &str, kind: u8) {
        self.out.push(Change {
            path: path.to_string(),
            kind,
        });
    }
}

/// overlayfs's mark of a directory that hides the layers' one.
fn opaque(dir: BorrowedFd<'_>) -> bool {
    let mut value = [0u8; 4];
    matches!(
        rustix::fs::fgetxattr(dir, "trusted.overlay.opaque", &mut value),
        Ok(n) if value[..n] == *b"y"
    )
}
