//! A container's overlay as a detached mount: `fsopen`/`fsconfig`/`fsmount` without
//! `move_mount`, so it is attached nowhere, shows in no mountinfo, and goes when its fd is
//! closed, however the holder ends. For looking at a stopped container's files (`docker
//! cp`, `export`) without mounting anything where others would see it.

use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};

use rustix::mount::{
    fsconfig_create, fsconfig_set_flag, fsconfig_set_string, fsmount, fsopen, FsMountFlags,
    FsOpenFlags, MountAttrFlags,
};

use crate::error::{Result, RootfsError};

/// What the detached overlay is made of.
#[derive(Debug, Clone, Copy)]
pub enum DetachedLayers<'a> {
    /// Read-only: these directories as lower dirs, the first on top (a container's upper
    /// dir may be one: overlayfs honours whiteouts in lower dirs too). At least two.
    ReadOnly(&'a [PathBuf]),
    /// Writable: the image's layers (lowest first, as in the record) under `upper`.
    Writable {
        layers: &'a [PathBuf],
        upper: &'a Path,
        work: &'a Path,
    },
}

fn err(target: &str, reason: String) -> RootfsError {
    RootfsError::Overlay {
        target: PathBuf::from(target),
        reason,
    }
}

/// Mounts the overlay detached; the fd is its root directory (an `O_PATH`-like mount fd,
/// usable as the root of [`crate::open_in_root`]).
pub fn detached_overlay(layers: DetachedLayers<'_>) -> Result<OwnedFd> {
    const WHAT: &str = "(detached)";
    let fs = fsopen("overlay", FsOpenFlags::FSOPEN_CLOEXEC)
        .map_err(|e| err(WHAT, format!("fsopen: {e}")))?;
    let _ = fsconfig_set_string(&fs, "source", "berth");
    let set_lower = |dir: &Path| {
        fsconfig_set_string(&fs, "lowerdir+", dir).map_err(|e| RootfsError::Layer {
            layer: dir.to_path_buf(),
            reason: format!("overlay refuses it as a lower dir: {e}"),
        })
    };
    let mut attrs = MountAttrFlags::empty();
    match layers {
        DetachedLayers::ReadOnly(dirs) => {
            if dirs.len() < 2 {
                return Err(err(WHAT, "a read-only overlay needs two lower dirs".into()));
            }
            for dir in dirs {
                set_lower(dir)?;
            }
            fsconfig_set_flag(&fs, "ro").map_err(|e| err(WHAT, format!("ro: {e}")))?;
            attrs |= MountAttrFlags::MOUNT_ATTR_RDONLY;
        }
        DetachedLayers::Writable {
            layers,
            upper,
            work,
        } => {
            for dir in layers.iter().rev() {
                set_lower(dir)?;
            }
            fsconfig_set_string(&fs, "upperdir", upper)
                .map_err(|e| err(WHAT, format!("upperdir {}: {e}", upper.display())))?;
            fsconfig_set_string(&fs, "workdir", work)
                .map_err(|e| err(WHAT, format!("workdir {}: {e}", work.display())))?;
        }
    }
    fsconfig_create(&fs).map_err(|e| err(WHAT, format!("creating the overlay: {e}")))?;
    fsmount(&fs, FsMountFlags::FSMOUNT_CLOEXEC, attrs)
        .map_err(|e| err(WHAT, format!("fsmount: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_read_only_overlay_merges_and_leaves_no_mount() {
        let tmp = tempfile::tempdir().unwrap();
        let (top, bottom) = (tmp.path().join("top"), tmp.path().join("bottom"));
        std::fs::create_dir_all(&top).unwrap();
        std::fs::create_dir_all(&bottom).unwrap();
        std::fs::write(top.join("a"), "top").unwrap();
        std::fs::write(bottom.join("a"), "bottom").unwrap();
        std::fs::write(bottom.join("b"), "b").unwrap();
        let dirs = [top.clone(), bottom.clone()];
        let fd = match detached_overlay(DetachedLayers::ReadOnly(&dirs)) {
            Ok(fd) => fd,
            // Without CAP_SYS_ADMIN there is nothing to test.
            Err(e) if e.to_string().contains("EPERM") => return,
            Err(e) => panic!("{e}"),
        };
        let read = |name: &str| {
            let f = crate::open_in_root(std::os::fd::AsFd::as_fd(&fd), name, None).unwrap();
            std::fs::read_to_string(crate::fd_path(std::os::fd::AsFd::as_fd(&f))).unwrap()
        };
        assert_eq!(read("a"), "top");
        assert_eq!(read("/b"), "b");
        let mounts = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
        assert!(!mounts.contains(top.to_str().unwrap()));
        assert!(detached_overlay(DetachedLayers::ReadOnly(&dirs[..1])).is_err());
    }
}
