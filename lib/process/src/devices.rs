//! The spec's own device nodes (an OCI runtime's `linux.devices`), made after the mounts:
//! mknod inside the rootfs with the given type, numbers, mode and owner; in a user
//! namespace, which cannot make device nodes, the host's node at the same path bound in
//! (it must be the same device).

use std::os::fd::AsFd;
use std::path::Path;

use rustix::fs::{self, FileType, Mode, OFlags};

use crate::rootfs::{open_in_root, Create, Result, SetupError};

/// One node to make: `kind` is `c`, `b` or `p` (a fifo; `u` is `c` as in the spec).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeviceNode {
    /// Absolute, inside the container.
    pub path: String,
    pub kind: char,
    pub major: u32,
    pub minor: u32,
    /// Permission bits (the spec's `fileMode`).
    pub mode: u32,
    pub uid: u32,
    pub gid: u32,
}

impl DeviceNode {
    fn file_type(&self) -> FileType {
        match self.kind {
            'b' => FileType::BlockDevice,
            'p' => FileType::Fifo,
            _ => FileType::CharacterDevice,
        }
    }
}

fn fail<'a>(
    what: &'static str,
    path: &'a str,
) -> impl FnOnce(rustix::io::Errno) -> SetupError + 'a {
    move |e| SetupError {
        what,
        path: path.to_string(),
        source: e.into(),
    }
}

pub(crate) fn make(
    root: std::os::fd::BorrowedFd<'_>,
    nodes: &[DeviceNode],
    bind: bool,
) -> Result<()> {
    let _umask = crate::umask::Cleared::new();
    for node in nodes {
        let path = Path::new(&node.path);
        let (Some(parent), Some(name)) = (path.parent(), path.file_name()) else {
            return Err(SetupError {
                what: "make the device",
                path: node.path.clone(),
                source: std::io::Error::other("is not a file path"),
            });
        };
        let dir = open_in_root(root, &parent.display().to_string(), Create::Dir)
            .map_err(fail("create the directory of", &node.path))?;
        // An existing node (the spec may list /dev/null, which berth made) is replaced.
        let _ = fs::unlinkat(&dir, name, fs::AtFlags::empty());
        if bind {
            bind_host(&dir, name, node)?;
            continue;
        }
        fs::mknodat(
            &dir,
            name,
            node.file_type(),
            Mode::from_raw_mode(node.mode & 0o7777),
            fs::makedev(node.major, node.minor),
        )
        .map_err(fail("mknod", &node.path))?;
        fs::chownat(
            &dir,
            name,
            Some(fs::Uid::from_raw(node.uid)),
            Some(fs::Gid::from_raw(node.gid)),
            fs::AtFlags::SYMLINK_NOFOLLOW,
        )
        .map_err(fail("chown", &node.path))?;
    }
    Ok(())
}

/// The host's node at the same path, checked to be the device asked for, bound onto an
/// empty file.
pub(crate) fn bind_host(dir: &impl AsFd, name: &std::ffi::OsStr, node: &DeviceNode) -> Result<()> {
    let source = fs::open(
        node.path.as_str(),
        OFlags::PATH | OFlags::NOFOLLOW | OFlags::CLOEXEC,
        Mode::empty(),
    )
    .map_err(fail("open the host's", &node.path))?;
    let st = fs::fstat(&source).map_err(fail("stat the host's", &node.path))?;
    if FileType::from_raw_mode(st.st_mode) != node.file_type()
        || (node.kind != 'p' && st.st_rdev != fs::makedev(node.major, node.minor))
    {
        return Err(SetupError {
            what: "check the host's",
            path: node.path.clone(),
            source: std::io::Error::other(format!(
                "is not the device {} {}:{} (a user namespace binds the host's node)",
                node.kind, node.major, node.minor
            )),
        });
    }
    let target = fs::openat(
        dir,
        name,
        OFlags::WRONLY | OFlags::CREATE | OFlags::EXCL | OFlags::NOFOLLOW | OFlags::CLOEXEC,
        Mode::from_raw_mode(0o600),
    )
    .map_err(fail("create", &node.path))?;
    berth_rootfs::mount_bind_onto(
        source.as_fd(),
        target.as_fd(),
        berth_rootfs::BindOptions::default(),
    )
    .map_err(|e| SetupError {
        what: "bind the host's device",
        path: node.path.clone(),
        source: std::io::Error::other(e.to_string()),
    })
}
