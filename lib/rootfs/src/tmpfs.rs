//! A fresh tmpfs mounted onto a target fd (`fsopen` + `fsmount` + `move_mount`, the legacy
//! `mount(2)` on `/proc/self/fd/N` where the new API is missing), its `mount -o` style
//! options split into mount attributes and tmpfs parameters.

use std::io;
use std::os::fd::{AsFd, BorrowedFd};

use rustix::io::Errno;
use rustix::mount::{
    fsconfig_create, fsconfig_set_flag, fsconfig_set_string, fsmount, fsopen, mount, move_mount,
    FsMountFlags, FsOpenFlags, MountAttrFlags, MountFlags, MoveMountFlags,
};

use crate::error::{Result, RootfsError};
use crate::in_root::fd_path;

/// Mounts a fresh tmpfs onto `target` (an fd from [`crate::open_in_root`]). `options` are
/// `mount -o` style: `ro`/`rw`, `nosuid`/`suid`, `nodev`/`dev`, `noexec`/`exec`,
/// `noatime`/`relatime`/`strictatime` become mount attributes; `key=value` (`size=64m`,
/// `mode=1777`, `uid=0`, `nr_inodes=…`) and other flags are given to tmpfs. `readonly` is
/// the same as an `ro` option.
pub fn mount_tmpfs_onto(target: BorrowedFd<'_>, options: &[String], readonly: bool) -> Result<()> {
    let mount_err = |e: io::Error| RootfsError::Mount {
        what: format!("tmpfs ({})", options.join(",")),
        target: fd_path(target).display().to_string(),
        source: e,
    };
    let (attrs, data) = split_tmpfs_options(options, readonly);
    let fs = match fsopen("tmpfs", FsOpenFlags::FSOPEN_CLOEXEC) {
        Ok(fs) => fs,
        Err(Errno::NOSYS) => {
            return legacy_tmpfs(target, attrs, &data).map_err(mount_err);
        }
        Err(e) => return Err(mount_err(e.into())),
    };
    for opt in &data {
        let set = match opt.split_once('=') {
            Some((k, v)) => fsconfig_set_string(&fs, k, v),
            None => fsconfig_set_flag(&fs, opt.as_str()),
        };
        set.map_err(|e| mount_err(io::Error::other(format!("option {opt}: {e}"))))?;
    }
    fsconfig_create(&fs).map_err(|e| mount_err(e.into()))?;
    let mnt =
        fsmount(&fs, FsMountFlags::FSMOUNT_CLOEXEC, attrs).map_err(|e| mount_err(e.into()))?;
    move_mount(
        mnt.as_fd(),
        "",
        target,
        "",
        MoveMountFlags::MOVE_MOUNT_F_EMPTY_PATH | MoveMountFlags::MOVE_MOUNT_T_EMPTY_PATH,
    )
    .map_err(|e| mount_err(e.into()))
}

/// Splits tmpfs options into mount attributes and filesystem parameters (last one wins).
fn split_tmpfs_options(options: &[String], readonly: bool) -> (MountAttrFlags, Vec<String>) {
    let mut attrs = MountAttrFlags::empty();
    let mut data = Vec::new();
    for opt in options.iter().flat_map(|o| o.split(',')) {
        let (set, clear) = match opt {
            "" | "defaults" => continue,
            "ro" => (MountAttrFlags::MOUNT_ATTR_RDONLY, MountAttrFlags::empty()),
            "rw" => (MountAttrFlags::empty(), MountAttrFlags::MOUNT_ATTR_RDONLY),
            "nosuid" => (MountAttrFlags::MOUNT_ATTR_NOSUID, MountAttrFlags::empty()),
            "suid" => (MountAttrFlags::empty(), MountAttrFlags::MOUNT_ATTR_NOSUID),
            "nodev" => (MountAttrFlags::MOUNT_ATTR_NODEV, MountAttrFlags::empty()),
            "dev" => (MountAttrFlags::empty(), MountAttrFlags::MOUNT_ATTR_NODEV),
            "noexec" => (MountAttrFlags::MOUNT_ATTR_NOEXEC, MountAttrFlags::empty()),
            "exec" => (MountAttrFlags::empty(), MountAttrFlags::MOUNT_ATTR_NOEXEC),
            "noatime" => (
                MountAttrFlags::MOUNT_ATTR_NOATIME,
                MountAttrFlags::MOUNT_ATTR__ATIME,
            ),
            "relatime" => (
                MountAttrFlags::MOUNT_ATTR_RELATIME,
                MountAttrFlags::MOUNT_ATTR__ATIME,
            ),
            "strictatime" => (
                MountAttrFlags::MOUNT_ATTR_STRICTATIME,
                MountAttrFlags::MOUNT_ATTR__ATIME,
            ),
            // Propagation is not a tmpfs parameter; the caller handles it.
            "private" | "rprivate" | "shared" | "rshared" | "slave" | "rslave" => continue,
            other => {
                let key = other.split('=').next().unwrap_or(other);
                data.retain(|d: &String| d.split('=').next() != Some(key));
                data.push(other.to_string());
                continue;
            }
        };
        attrs.remove(clear);
        attrs.insert(set);
    }
    if readonly {
        attrs.insert(MountAttrFlags::MOUNT_ATTR_RDONLY);
    }
    (attrs, data)
}

fn legacy_tmpfs(target: BorrowedFd<'_>, attrs: MountAttrFlags, data: &[String]) -> io::Result<()> {
    let mut flags = MountFlags::empty();
    for (attr, flag) in [
        (MountAttrFlags::MOUNT_ATTR_RDONLY, MountFlags::RDONLY),
        (MountAttrFlags::MOUNT_ATTR_NOSUID, MountFlags::NOSUID),
        (MountAttrFlags::MOUNT_ATTR_NODEV, MountFlags::NODEV),
        (MountAttrFlags::MOUNT_ATTR_NOEXEC, MountFlags::NOEXEC),
    ] {
        if attrs.contains(attr) {
            flags |= flag;
        }
    }
    let data = std::ffi::CString::new(data.join(",")).map_err(io::Error::other)?;
    mount(
        "tmpfs",
        fd_path(target),
        "tmpfs",
        flags,
        Some(data.as_c_str()),
    )?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bind::tests::{root_fd, Guard};
    use crate::in_root::{open_in_root, Kind};
    use std::fs;

    #[test]
    fn tmpfs_with_options() {
        let g = Guard::new();
        let root = g.path().join("root");
        fs::create_dir(&root).unwrap();
        let rfd = root_fd(&root);
        let target = open_in_root(rfd.as_fd(), "/run/shm", Some(Kind::Dir)).unwrap();
        let opts = vec![
            "noexec,nosuid,nodev".to_string(),
            "size=1m".into(),
            "mode=1777".into(),
        ];
        mount_tmpfs_onto(target.as_fd(), &opts, false).unwrap();
        let path = root.join("run/shm");
        use std::os::unix::fs::MetadataExt;
        assert_eq!(fs::metadata(&path).unwrap().mode() & 0o7777, 0o1777);
        let info = crate::mountinfo::mounts().unwrap();
        let m = info
            .iter()
            .find(|m| m.mount_point == path)
            .expect("mounted");
        assert_eq!(m.fs_type, "tmpfs");
        assert!(
            m.options.contains("noexec") && m.options.contains("nosuid"),
            "{}",
            m.options
        );
        let ro = open_in_root(rfd.as_fd(), "/ro", Some(Kind::Dir)).unwrap();
        mount_tmpfs_onto(ro.as_fd(), &[], true).unwrap();
        let err = fs::write(root.join("ro/x"), "x").unwrap_err();
        assert_eq!(err.raw_os_error(), Some(libc::EROFS));
        let err = mount_tmpfs_onto(ro.as_fd(), &["bogus_option=1".into()], false).unwrap_err();
        assert!(err.to_string().contains("bogus_option"), "{err}");
    }

    #[test]
    fn tmpfs_options_split_into_attrs_and_data() {
        let opts: Vec<String> = [
            "noexec,nosuid,nodev",
            "size=1m",
            "exec",
            "mode=1777",
            "size=2m",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        let (attrs, data) = split_tmpfs_options(&opts, true);
        assert!(attrs.contains(MountAttrFlags::MOUNT_ATTR_NOSUID));
        assert!(attrs.contains(MountAttrFlags::MOUNT_ATTR_NODEV));
        assert!(attrs.contains(MountAttrFlags::MOUNT_ATTR_RDONLY));
        assert!(!attrs.contains(MountAttrFlags::MOUNT_ATTR_NOEXEC));
        assert_eq!(data, vec!["mode=1777".to_string(), "size=2m".to_string()]);
    }
}
