//! Detached mount trees: a source cloned with `open_tree`, made read-only or idmapped with
//! `mount_setattr` before anything can see it, and attached onto a target fd with
//! `move_mount`, possibly by another process (one in a user namespace, which can neither
//! reach the source nor idmap a mount itself).

use std::io;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};

use rustix::fs::CWD;
use rustix::mount::{move_mount, open_tree, MoveMountFlags, OpenTreeFlags};

use crate::bind::{BindOptions, BindSource};
use crate::error::{Result, RootfsError};
use crate::in_root::fd_path;

/// `struct mount_attr` of `mount_setattr(2)`.
#[repr(C)]
struct MountAttr {
    attr_set: u64,
    attr_clr: u64,
    propagation: u64,
    userns_fd: u64,
}

const MOUNT_ATTR_RDONLY: u64 = 0x1;
const MOUNT_ATTR_IDMAP: u64 = 0x0010_0000;
const AT_EMPTY_PATH: libc::c_int = 0x1000;
const AT_RECURSIVE: libc::c_uint = 0x8000;

/// A detached copy of `source` (`open_tree(OPEN_TREE_CLONE)`, with the mounts below it when
/// `options.recursive`), read-only if `options.readonly`, and idmapped with the user
/// namespace `idmap` if given. Nothing is attached yet: [`attach_tree`] does that, possibly
/// in another process (one in a user namespace, which cannot reach the source's path or
/// idmap a mount itself; it inherits the fd).
pub fn clone_tree(
    source: BindSource<'_>,
    options: BindOptions,
    idmap: Option<BorrowedFd<'_>>,
) -> Result<OwnedFd> {
    let mount_err = |e: io::Error| RootfsError::Mount {
        what: format!(
            "{}bind of {}",
            if idmap.is_some() { "idmapped " } else { "" },
            source.describe()
        ),
        target: "a detached tree".into(),
        source: e,
    };
    let mut flags = OpenTreeFlags::OPEN_TREE_CLONE | OpenTreeFlags::OPEN_TREE_CLOEXEC;
    if options.recursive {
        flags |= OpenTreeFlags::AT_RECURSIVE;
    }
    let tree = match source {
        BindSource::Path(p) => open_tree(CWD, p, flags),
        BindSource::Fd(fd) => open_tree(fd, "", flags | OpenTreeFlags::AT_EMPTY_PATH),
    }
    .map_err(|e| mount_err(e.into()))?;
    let mut attrs = 0;
    if options.readonly {
        attrs |= MOUNT_ATTR_RDONLY;
    }
    if idmap.is_some() {
        attrs |= MOUNT_ATTR_IDMAP;
    }
    if attrs != 0 {
        set_attr(tree.as_fd(), attrs, 0, options.recursive, idmap).map_err(mount_err)?;
    }
    Ok(tree)
}

/// Attaches a detached tree (from [`clone_tree`], or `fsmount`) onto the object `target`
/// refers to, then sets the propagation `options` ask for. `what` names the source in errors.
pub fn attach_tree(
    tree: BorrowedFd<'_>,
    target: BorrowedFd<'_>,
    options: BindOptions,
    what: &str,
) -> Result<()> {
    let mount_err = |e: io::Error| RootfsError::Mount {
        what: format!("bind of {what}"),
        target: fd_path(target).display().to_string(),
        source: e,
    };
    move_mount(
        tree,
        "",
        target,
        "",
        MoveMountFlags::MOVE_MOUNT_F_EMPTY_PATH | MoveMountFlags::MOVE_MOUNT_T_EMPTY_PATH,
    )
    .map_err(|e| mount_err(e.into()))?;
    if let Some(p) = options.propagation {
        // The fd now refers to the attached mount; propagation is set where it lives.
        set_attr(tree, 0, p.ms_flag(), options.recursive, None).map_err(mount_err)?;
    }
    Ok(())
}

/// `mount_setattr(fd, "", AT_EMPTY_PATH[|AT_RECURSIVE], {attr_set, propagation, userns_fd})`.
fn set_attr(
    tree: BorrowedFd<'_>,
    attr_set: u64,
    propagation: u64,
    recursive: bool,
    userns: Option<BorrowedFd<'_>>,
) -> io::Result<()> {
    use std::os::fd::AsRawFd;
    let attr = MountAttr {
        attr_set,
        attr_clr: 0,
        propagation,
        userns_fd: userns.map_or(0, |fd| fd.as_raw_fd() as u64),
    };
    let flags = AT_EMPTY_PATH as libc::c_uint | if recursive { AT_RECURSIVE } else { 0 };
    // SAFETY: mount_setattr reads `size_of::<MountAttr>()` bytes from `&attr`, a live
    // repr(C) struct laid out as the kernel's `struct mount_attr` (MOUNT_ATTR_SIZE_VER0);
    // the path is a static NUL-terminated empty string and the fds are open for the call.
    let rc = unsafe {
        libc::syscall(
            libc::SYS_mount_setattr,
            tree.as_raw_fd(),
            c"".as_ptr(),
            flags,
            &attr as *const MountAttr,
            std::mem::size_of::<MountAttr>(),
        )
    };
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}
