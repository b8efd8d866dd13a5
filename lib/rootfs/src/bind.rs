//! Bind mounts onto a target *fd* (from [`crate::open_in_root`]), so the target is exactly
//! the object that was checked, never a path looked up again; their options; and a record's
//! mount entries ([`mount_entry`]: binds, volumes and tmpfs). A bind is a detached tree
//! ([`crate::tree`]) attached onto the fd, with the legacy `mount(2)` on `/proc/self/fd/N`
//! where the new mount API is missing.

use std::io;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::path::Path;

use rustix::mount::{mount_bind, mount_bind_recursive};

use crate::error::{Result, RootfsError};
use crate::in_root::fd_path;
use crate::proc_target::{self, MountSource};
use crate::tmpfs::mount_tmpfs_onto;
use crate::tree::{attach_tree, clone_tree};

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
    pub(crate) fn describe(&self) -> String {
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
    pub(crate) fn ms_flag(self) -> u64 {
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

/// Makes one `rootfs.mounts` entry of the record inside `root` (the container's rootfs, in
/// its mount namespace): resolves (and creates) the target with [`crate::open_in_root`] —
/// a directory, or a file for a bind of a non-directory — then binds the source (`rbind`
/// and propagation from the entry's options) or mounts the tmpfs.
pub fn mount_entry(root: BorrowedFd<'_>, entry: &berth_common::MountEntry) -> Result<()> {
    use crate::in_root::Kind;
    use berth_common::MountKind;
    match entry.kind {
        MountKind::Tmpfs => {
            let target = open_target(root, entry, Kind::Dir, MountSource::Other)?;
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
            let from = MountSource::of_bind_source(source);
            let target = open_target(root, entry, kind, from)?;
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
    use crate::in_root::Kind;
    let st = rustix::fs::fstat(tree).map_err(|e| RootfsError::Mount {
        what: format!("bind of {}", describe_entry(entry)),
        target: entry.target.clone(),
        source: e.into(),
    })?;
    let kind = match rustix::fs::FileType::from_raw_mode(st.st_mode) {
        rustix::fs::FileType::Directory => Kind::Dir,
        _ => Kind::File,
    };
    let target = open_target(root, entry, kind, MountSource::of_bind_fd(tree))?;
    let options = BindOptions::from_entry(entry.readonly, &entry.options);
    attach_tree(tree, target.as_fd(), options, &describe_entry(entry))
}

/// The mountpoint of `entry` inside `root`, created as `kind` if missing, and checked
/// against the /proc rules before (as it resolves) and after (through its fd).
fn open_target(
    root: BorrowedFd<'_>,
    entry: &berth_common::MountEntry,
    kind: crate::in_root::Kind,
    from: MountSource,
) -> Result<OwnedFd> {
    proc_target::check_in_root(root, &entry.target, from)?;
    let target = crate::in_root::open_in_root(root, &entry.target, Some(kind))?;
    proc_target::check_target_fd(root, &entry.target, target.as_fd(), from)?;
    Ok(target)
}

fn describe_entry(entry: &berth_common::MountEntry) -> String {
    entry
        .source
        .as_ref()
        .map_or_else(|| entry.target.clone(), |s| s.display().to_string())
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::in_root::{open_in_root, Kind};
    use std::fs;
    use std::path::PathBuf;

    /// Unmounts (detached, deepest first) everything below its temp dir when dropped, even
    /// when the test fails. Every mount these tests (and the tmpfs tests) make is below it.
    pub(crate) struct Guard(tempfile::TempDir);

    impl Guard {
        pub(crate) fn new() -> Guard {
            Guard(
                tempfile::Builder::new()
                    .prefix("berth-rootfs-test-")
                    .tempdir()
                    .unwrap(),
            )
        }
        pub(crate) fn path(&self) -> &Path {
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

    pub(crate) fn root_fd(dir: &Path) -> OwnedFd {
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
}
