//! Mounting onto a target *fd* (from [`crate::open_in_root`]), so the target is exactly the
//! object that was checked, never a path looked up again: the new mount API
//! (`open_tree` + `mount_setattr` + `move_mount`, `fsopen` + `fsmount` for tmpfs), with the
//! legacy `mount(2)` on `/proc/self/fd/N` where the new API is missing.

use std::io;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::path::Path;

use rustix::fs::CWD;
use rustix::io::Errno;
use rustix::mount::{
    fsconfig_create, fsconfig_set_flag, fsconfig_set_string, fsmount, fsopen, mount, mount_bind,
    mount_bind_recursive, move_mount, open_tree, FsMountFlags, FsOpenFlags, MountAttrFlags,
    MountFlags, MoveMountFlags, OpenTreeFlags,
};

use crate::error::{Result, RootfsError};
use crate::in_root::fd_path;

/// Where a bind mount comes from: a host path, or an fd already open on it.
#[derive(Debug, Clone, Copy)]
pub enum BindSource<'a> {
    Path(&'a Path),
    Fd(BorrowedFd<'a>),
}

impl<'a> From<&'a Path> for BindSource<'a> {
    fn from(path: &'a Path) -> Self {
        BindSource::Path(path)
    }
}

impl<'a> From<BorrowedFd<'a>> for BindSource<'a> {
    fn from(fd: BorrowedFd<'a>) -> Self {
        BindSource::Fd(fd)
    }
}

impl BindSource<'_> {
    fn describe(&self) -> String {
        match self {
            BindSource::Path(p) => p.display().to_string(),
            BindSource::Fd(fd) => fd_path(*fd).display().to_string(),
        }
    }
}

/// Options of [`mount_bind_onto`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct BindOptions {
    /// Make the new mount (and with `recursive`, every mount below it) read-only.
    pub readonly: bool,
    /// `rbind`: also bind the mounts below the source (Docker's default for `-v`).
    pub recursive: bool,
    /// Propagation of the new mount (and with `recursive`, of those below it), set once it
    /// is attached; `None` keeps what the kernel gives it.
    pub propagation: Option<Propagation>,
}

/// Mount propagation, as `-v …:rslave` names it (the `r` is carried by `recursive`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Propagation {
    Private,
    Shared,
    Slave,
    Unbindable,
}

impl Propagation {
    fn ms_flag(self) -> u64 {
        match self {
            Propagation::Unbindable => 1 << 17,
            Propagation::Private => 1 << 18,
            Propagation::Slave => 1 << 19,
            Propagation::Shared => 1 << 20,
        }
    }
}

impl BindOptions {
    /// The options of a record's bind or volume entry (`MountEntry::readonly` and
    /// `options`): `rbind`/`bind` set `recursive`, `[r]private`, `[r]shared`, `[r]slave`,
    /// `[r]unbindable` the propagation, `ro`/`rw` override `readonly`; others are ignored.
    pub fn from_entry(readonly: bool, options: &[String]) -> BindOptions {
        let mut out = BindOptions {
            readonly,
            ..BindOptions::default()
        };
        for opt in options.iter().flat_map(|o| o.split(',')) {
            match opt {
                "rbind" => out.recursive = true,
                "bind" => out.recursive = false,
                "ro" => out.readonly = true,
                "rw" => out.readonly = false,
                _ => {
                    let base = opt
                        .strip_prefix('r')
                        .filter(|b| matches!(*b, "private" | "shared" | "slave" | "unbindable"));
                    out.propagation = match base.unwrap_or(opt) {
                        "private" => Some(Propagation::Private),
                        "shared" => Some(Propagation::Shared),
                        "slave" => Some(Propagation::Slave),
                        "unbindable" => Some(Propagation::Unbindable),
                        _ => out.propagation,
                    };
                }
            }
        }
        out
    }
}

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

/// Bind-mounts `source` onto the object `target` refers to (an `O_PATH` fd is enough; get one
/// with [`crate::open_in_root`]). Symlinks in a *path* source are followed (it is a host
/// path chosen by the user); the target is never looked up again.
///
/// Read-only binds are made read-only before they are attached (`mount_setattr` on the
/// detached tree), so there is no moment where the mount is writable inside the target.
/// On kernels without `open_tree` (< 5.2) the legacy `mount(2)` is used on `/proc/self/fd`
/// paths; a read-only bind then needs Linux 5.12 and fails with a clear error.
pub fn mount_bind_onto<'a>(
    source: impl Into<BindSource<'a>>,
    target: BorrowedFd<'_>,
    options: BindOptions,
) -> Result<()> {
    let source = source.into();
    let tree = match clone_tree(source, options, None) {
        Ok(tree) => tree,
        Err(RootfsError::Mount { source: e, .. }) if e.raw_os_error() == Some(libc::ENOSYS) => {
            return legacy_bind(source, target, options).map_err(|e| RootfsError::Mount {
                what: format!("bind of {}", source.describe()),
                target: fd_path(target).display().to_string(),
                source: e,
            })
        }
        // Name the target the caller knows, not the detached tree.
        Err(RootfsError::Mount { what, source, .. }) => {
            return Err(RootfsError::Mount {
                what,
                target: fd_path(target).display().to_string(),
                source,
            })
        }
        Err(e) => return Err(e),
    };
    attach_tree(tree.as_fd(), target, options, &source.describe())
}

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

fn legacy_bind(
    source: BindSource<'_>,
    target: BorrowedFd<'_>,
    options: BindOptions,
) -> io::Result<()> {
    if options.readonly || options.propagation.is_some() {
        return Err(io::Error::other(
            "read-only binds and propagation need the new mount API (Linux 5.12 or later)",
        ));
    }
    let from = match source {
        BindSource::Path(p) => p.to_path_buf(),
        BindSource::Fd(fd) => fd_path(fd),
    };
    let to = fd_path(target);
    if options.recursive {
        mount_bind_recursive(&from, &to)?;
    } else {
        mount_bind(&from, &to)?;
    }
    Ok(())
}

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

/// Makes one `rootfs.mounts` entry of the record inside `root` (the container's rootfs, in
/// its mount namespace): resolves (and creates) the target with [`crate::open_in_root`] —
/// a directory, or a file for a bind of a non-directory — then binds the source (`rbind`
/// and propagation from the entry's options) or mounts the tmpfs.
pub fn mount_entry(root: BorrowedFd<'_>, entry: &berth_common::MountEntry) -> Result<()> {
    use crate::in_root::{open_in_root, Kind};
    use berth_common::MountKind;
    match entry.kind {
        MountKind::Tmpfs => {
            let target = open_in_root(root, &entry.target, Some(Kind::Dir))?;
            mount_tmpfs_onto(target.as_fd(), &entry.options, entry.readonly)
        }
        MountKind::Bind | MountKind::Volume => {
            let source = entry.source.as_deref().ok_or_else(|| RootfsError::Mount {
                what: format!("{:?} without a source", entry.kind),
                target: entry.target.clone(),
                source: io::Error::from(io::ErrorKind::InvalidInput),
            })?;
            let kind = match std::fs::metadata(source) {
                Ok(meta) if !meta.is_dir() => Kind::File,
                Ok(_) => Kind::Dir,
                Err(_) => {
                    return Err(RootfsError::BindSourceMissing {
                        path: source.to_path_buf(),
                    })
                }
            };
            let target = open_in_root(root, &entry.target, Some(kind))?;
            let options = BindOptions::from_entry(entry.readonly, &entry.options);
            mount_bind_onto(source, target.as_fd(), options)
        }
    }
}

/// The detached tree [`mount_entry_from_tree`] needs for a bind or volume entry: its
/// source cloned (read-only, recursive as the entry says) and idmapped with `idmap` if given.
/// Made by a process that can reach the source, for one that may not.
pub fn entry_tree(
    entry: &berth_common::MountEntry,
    idmap: Option<BorrowedFd<'_>>,
) -> Result<OwnedFd> {
    let source = entry.source.as_deref().ok_or_else(|| RootfsError::Mount {
        what: format!("{:?} without a source", entry.kind),
        target: entry.target.clone(),
        source: io::Error::from(io::ErrorKind::InvalidInput),
    })?;
    if !source.exists() {
        return Err(RootfsError::BindSourceMissing {
            path: source.to_path_buf(),
        });
    }
    let options = BindOptions::from_entry(entry.readonly, &entry.options);
    clone_tree(BindSource::Path(source), options, idmap)
}

/// [`mount_entry`] for a bind or volume entry whose source was cloned beforehand by
/// [`entry_tree`]: the target is resolved (and created) in `root` as a directory or a file
/// after the tree's root, and the tree attached there.
pub fn mount_entry_from_tree(
    root: BorrowedFd<'_>,
    entry: &berth_common::MountEntry,
    tree: BorrowedFd<'_>,
) -> Result<()> {
    use crate::in_root::{open_in_root, Kind};
    let st = rustix::fs::fstat(tree).map_err(|e| RootfsError::Mount {
        what: format!("bind of {}", describe_entry(entry)),
        target: entry.target.clone(),
        source: e.into(),
    })?;
    let kind = match rustix::fs::FileType::from_raw_mode(st.st_mode) {
        rustix::fs::FileType::Directory => Kind::Dir,
        _ => Kind::File,
    };
    let target = open_in_root(root, &entry.target, Some(kind))?;
    let options = BindOptions::from_entry(entry.readonly, &entry.options);
    attach_tree(tree, target.as_fd(), options, &describe_entry(entry))
}

fn describe_entry(entry: &berth_common::MountEntry) -> String {
    entry
        .source
        .as_ref()
        .map_or_else(|| entry.target.clone(), |s| s.display().to_string())
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
    use crate::in_root::{open_in_root, Kind};
    use std::fs;
    use std::path::PathBuf;

    /// Unmounts (detached, deepest first) everything below its temp dir when dropped, even
    /// when the test fails. Every mount these tests make is below it.
    struct Guard(tempfile::TempDir);

    impl Guard {
        fn new() -> Guard {
            Guard(
                tempfile::Builder::new()
                    .prefix("berth-rootfs-test-")
                    .tempdir()
                    .unwrap(),
            )
        }
        fn path(&self) -> &Path {
            self.0.path()
        }
    }

    impl Drop for Guard {
        fn drop(&mut self) {
            for _ in 0..16 {
                let mut found: Vec<PathBuf> = crate::mountinfo::mounts_under(self.path()).unwrap();
                if found.is_empty() {
                    return;
                }
                found.sort_by_key(|p| std::cmp::Reverse(p.components().count()));
                for p in found {
                    let _ = rustix::mount::unmount(
                        &p,
                        rustix::mount::UnmountFlags::DETACH | rustix::mount::UnmountFlags::NOFOLLOW,
                    );
                }
            }
        }
    }

    fn root_fd(dir: &Path) -> OwnedFd {
        fs::File::open(dir).unwrap().into()
    }

    #[test]
    fn read_only_dir_bind_lands_inside_the_root() {
        let g = Guard::new();
        let src = g.path().join("src");
        let root = g.path().join("root");
        let outside = g.path().join("outside");
        for d in [&src, &root, &outside] {
            fs::create_dir(d).unwrap();
        }
        fs::write(src.join("file"), "data").unwrap();
        std::os::unix::fs::symlink(&outside, root.join("evil")).unwrap();
        let rfd = root_fd(&root);
        let target = open_in_root(rfd.as_fd(), "/evil/mnt", Some(Kind::Dir)).unwrap();
        let opts = BindOptions::from_entry(true, &["rbind".into(), "rshared".into()]);
        assert_eq!(
            opts,
            BindOptions {
                readonly: true,
                recursive: true,
                propagation: Some(Propagation::Shared)
            }
        );
        mount_bind_onto(src.as_path(), target.as_fd(), opts).unwrap();
        let inside = root.join(outside.strip_prefix("/").unwrap()).join("mnt");
        assert_eq!(fs::read(inside.join("file")).unwrap(), b"data");
        assert_eq!(
            fs::read_dir(&outside).unwrap().count(),
            0,
            "nothing outside the root"
        );
        let err = fs::write(inside.join("new"), "x").unwrap_err();
        assert_eq!(err.raw_os_error(), Some(libc::EROFS));
        assert_eq!(
            crate::mountinfo::mounts_under(g.path()).unwrap(),
            vec![inside.clone()]
        );
        let mountinfo = fs::read_to_string("/proc/self/mountinfo").unwrap();
        let line = mountinfo
            .lines()
            .find(|l| l.split(' ').nth(4) == inside.to_str())
            .unwrap();
        assert!(line.contains(" shared:"), "propagation not set: {line}");
    }

    #[test]
    fn record_entries_are_mounted() {
        use berth_common::{MountEntry, MountKind};
        let g = Guard::new();
        let root = g.path().join("root");
        let vol = g.path().join("vol");
        fs::create_dir(&root).unwrap();
        fs::create_dir(&vol).unwrap();
        fs::write(vol.join("v"), "v").unwrap();
        let rfd = root_fd(&root);
        let entry =
            |kind, source: Option<PathBuf>, target: &str, readonly, options: Vec<String>| {
                MountEntry {
                    kind,
                    source,
                    target: target.into(),
                    readonly,
                    volume: None,
                    anonymous: false,
                    options,
                }
            };
        mount_entry(
            rfd.as_fd(),
            &entry(MountKind::Volume, Some(vol.clone()), "/data", true, vec![]),
        )
        .unwrap();
        mount_entry(
            rfd.as_fd(),
            &entry(
                MountKind::Tmpfs,
                None,
                "/data/t",
                false,
                vec!["size=1m".into()],
            ),
        )
        .unwrap_err();
        mount_entry(
            rfd.as_fd(),
            &entry(
                MountKind::Tmpfs,
                None,
                "/run",
                false,
                vec!["size=1m".into()],
            ),
        )
        .unwrap();
        assert_eq!(fs::read(root.join("data/v")).unwrap(), b"v");
        assert_eq!(
            fs::write(root.join("data/w"), "x")
                .unwrap_err()
                .raw_os_error(),
            Some(libc::EROFS)
        );
        fs::write(root.join("run/x"), "x").unwrap();
        let missing = entry(
            MountKind::Bind,
            Some(g.path().join("gone")),
            "/x",
            false,
            vec![],
        );
        let err = mount_entry(rfd.as_fd(), &missing).unwrap_err();
        assert!(err.to_string().contains("gone"), "{err}");
    }

    #[test]
    fn file_bind_from_an_fd() {
        let g = Guard::new();
        let root = g.path().join("root");
        fs::create_dir(&root).unwrap();
        let src = g.path().join("hosts");
        fs::write(&src, "127.0.0.1 box\n").unwrap();
        let rfd = root_fd(&root);
        let target = open_in_root(rfd.as_fd(), "/etc/hosts", Some(Kind::File)).unwrap();
        let source = fs::File::open(&src).unwrap();
        mount_bind_onto(source.as_fd(), target.as_fd(), BindOptions::default()).unwrap();
        assert_eq!(
            fs::read(root.join("etc/hosts")).unwrap(),
            b"127.0.0.1 box\n"
        );
        fs::write(root.join("etc/hosts"), "rw").unwrap();
        assert_eq!(fs::read(&src).unwrap(), b"rw");
    }

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
