//! Paths resolved INSIDE a root directory, never outside it.
//!
//! A container's rootfs comes from an image, so any directory in it may be a symlink to `/`,
//! to `../../..` or to a host path. Mount targets are therefore never resolved by the host's
//! path lookup: [`open_in_root`] resolves them as if `root` were `/` (symlinks, absolute or
//! relative, and `..` all stay inside), with `openat2(RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS)`
//! when everything exists, and with a component-by-component walk over directory fds
//! (`O_NOFOLLOW` at every step, symlinks read and re-rooted, `..` popped from our own stack of
//! fds so that renames cannot move us out, magic links refused as openat2 does) when
//! mountpoints have to be created. [`resolved_in_root`] names where a path would land by the
//! same walk, creating nothing.

use std::collections::VecDeque;
use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::path::PathBuf;

use rustix::fs::{
    fstat, fstatfs, mkdirat, openat, openat2, readlinkat, FileType, Mode, OFlags, ResolveFlags,
};
use rustix::io::Errno;

use crate::error::{Result, RootfsError};

/// What a mountpoint must be: a directory (for directory binds, volumes, tmpfs) or a
/// non-directory (an empty regular file is created) for file binds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Dir,
    File,
}

impl Kind {
    fn name(self) -> &'static str {
        match self {
            Kind::Dir => "a directory",
            Kind::File => "a file",
        }
    }
}

/// How many symlinks one resolution may follow (as the kernel's MAXSYMLINKS).
const MAX_SYMLINKS: usize = 40;
/// Bound on walk steps, against a concurrent process that keeps removing what we create.
const MAX_STEPS: usize = 4096;

/// Opens `path` inside `root` as an `O_PATH` descriptor, treating `root` as `/`: absolute and
/// relative symlinks and `..` never leave it, and magic links (`/proc/self/fd/…`) are refused.
///
/// With `create: Some(kind)`, missing components are created (directories 0755, subject to
/// the umask) and a missing last component becomes a directory or, for [`Kind::File`], an
/// empty 0644 file; a symlink whose target is missing is created at its target *inside* the
/// root. An existing last component must match `kind` (a directory for `Dir`, anything but a
/// directory for `File`), otherwise [`RootfsError::WrongKind`]. With `create: None` nothing
/// is created and a missing path fails with `ENOENT`.
///
/// The returned fd can be a mount target: pass it to [`crate::mount_bind_onto`] or
/// [`crate::mount_tmpfs_onto`], or use [`fd_path`]. For reading a directory, reopen it with
/// [`reopen_dir`].
pub fn open_in_root(root: BorrowedFd<'_>, path: &str, create: Option<Kind>) -> Result<OwnedFd> {
    let comps = components(path)?;
    let fd = match fast_open(root, &comps) {
        Ok(fd) => fd,
        Err(Errno::NOENT) if create.is_some() => walk(root, path, comps, create)?,
        // openat2 missing (Linux < 5.6) or unhappy: the walk does the same job by hand.
        Err(Errno::NOSYS | Errno::AGAIN | Errno::XDEV) => walk(root, path, comps, create)?,
        Err(e) => return Err(in_root_err(path, e)),
    };
    if let Some(kind) = create {
        check_kind(&fd, path, kind)?;
    }
    Ok(fd)
}

/// Reopens an `O_PATH` directory fd (e.g. from [`open_in_root`]) for reading its entries.
pub fn reopen_dir(fd: BorrowedFd<'_>) -> io::Result<OwnedFd> {
    Ok(openat(
        fd,
        ".",
        OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
        Mode::empty(),
    )?)
}

/// `/proc/self/fd/N` for `fd`: a path naming exactly the object the fd holds, for APIs that
/// take paths (the legacy `mount(2)`).
pub fn fd_path(fd: BorrowedFd<'_>) -> PathBuf {
    PathBuf::from(format!("/proc/self/fd/{}", fd.as_raw_fd()))
}

/// The container path `path` resolves to inside `root` now, creating nothing: symlinks of
/// the root followed inside it (dangling ones too, as creating a mountpoint would), and a
/// missing rest taken as written (`..` popping a component).
pub fn resolved_in_root(root: BorrowedFd<'_>, path: &str) -> Result<String> {
    match walk_with(root, path, components(path)?, Walk::Resolve)? {
        Walked::Found(_, resolved) | Walked::Missing(resolved) => Ok(resolved),
    }
}

/// The container path of `fd`, an object below `root`, from the kernel's names of both
/// (`/proc/self/fd/N`).
pub fn container_path(root: BorrowedFd<'_>, fd: BorrowedFd<'_>) -> io::Result<String> {
    let root_path = std::fs::read_link(fd_path(root))?;
    let path = std::fs::read_link(fd_path(fd))?;
    let below = if root_path == std::path::Path::new("/") {
        Some(path.as_path())
    } else {
        path.strip_prefix(&root_path).ok()
    };
    match below.and_then(std::path::Path::to_str) {
        Some(rel) => Ok(format!("/{}", rel.trim_start_matches('/'))),
        None => Err(io::Error::other(format!(
            "{} is not below the container's root {}",
            path.display(),
            root_path.display()
        ))),
    }
}

/// Splits `path` into its components, dropping empty ones and `.`; `..` is kept (it is
/// resolved inside the root).
fn components(path: &str) -> Result<Vec<String>> {
    if path.is_empty() {
        return Err(RootfsError::BadPath {
            path: path.into(),
            reason: "empty path",
        });
    }
    if path.contains('\0') {
        return Err(RootfsError::BadPath {
            path: path.into(),
            reason: "contains a NUL byte",
        });
    }
    Ok(path
        .split('/')
        .filter(|c| !c.is_empty() && *c != ".")
        .map(str::to_string)
        .collect())
}

fn fast_open(root: BorrowedFd<'_>, comps: &[String]) -> Result<OwnedFd, Errno> {
    let rel = if comps.is_empty() {
        ".".to_string()
    } else {
        comps.join("/")
    };
    let flags = OFlags::PATH | OFlags::CLOEXEC;
    let resolve = ResolveFlags::IN_ROOT | ResolveFlags::NO_MAGICLINKS;
    let mut tries = 0;
    loop {
        match openat2(root, &rel, flags, Mode::empty(), resolve) {
            // The kernel asks for a retry when a rename raced with `..` resolution.
            Err(Errno::AGAIN) if tries < 8 => tries += 1,
            other => return other,
        }
    }
}

/// The component-by-component resolver (and creator).
fn walk(
    root: BorrowedFd<'_>,
    path: &str,
    comps: Vec<String>,
    create: Option<Kind>,
) -> Result<OwnedFd> {
    match walk_with(root, path, comps, Walk::Open(create))? {
        Walked::Found(fd, _) => Ok(fd),
        Walked::Missing(_) => Err(in_root_err(path, Errno::NOENT)),
    }
}

/// What [`walk_with`] does at a missing component.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Walk {
    /// Create it (`Some`) or fail with ENOENT.
    Open(Option<Kind>),
    /// Stop and name the container path the rest would be made at.
    Resolve,
}

enum Walked {
    /// The object, and its container path.
    Found(OwnedFd, String),
    /// The container path of a missing object (only for [`Walk::Resolve`]).
    Missing(String),
}

fn walk_with(root: BorrowedFd<'_>, path: &str, comps: Vec<String>, how: Walk) -> Result<Walked> {
    let err = |e: Errno| in_root_err(path, e);
    let create = match how {
        Walk::Open(create) => create,
        Walk::Resolve => None,
    };
    let open_path = |dir: BorrowedFd<'_>, name: &str| {
        openat(
            dir,
            name,
            OFlags::PATH | OFlags::NOFOLLOW | OFlags::CLOEXEC,
            Mode::empty(),
        )
    };
    let joined = |names: &[String]| format!("/{}", names.join("/"));
    // stack[0] is the root; each further entry is a directory below it, names[i] the name
    // of stack[i + 1].
    let mut stack: Vec<OwnedFd> = vec![open_path(root, ".").map_err(err)?];
    let mut names: Vec<String> = Vec::new();
    let mut todo: VecDeque<String> = comps.into();
    let (mut links, mut steps) = (0, 0);
    while let Some(name) = todo.pop_front() {
        steps += 1;
        if steps > MAX_STEPS {
            return Err(err(Errno::LOOP));
        }
        if name == ".." {
            if stack.len() > 1 {
                stack.pop();
                names.pop();
            }
            continue;
        }
        let last = todo.is_empty();
        let parent = stack.last().expect("the root stays on the stack").as_fd();
        match open_path(parent, &name) {
            Ok(fd) => {
                let file_type = FileType::from_raw_mode(fstat(&fd).map_err(err)?.st_mode);
                match file_type {
                    FileType::Symlink => {
                        if is_magic_link_dir(parent).map_err(err)? {
                            return Err(err(Errno::LOOP));
                        }
                        links += 1;
                        if links > MAX_SYMLINKS {
                            return Err(err(Errno::LOOP));
                        }
                        let target = readlinkat(parent, name.as_str(), Vec::new()).map_err(err)?;
                        let target = target.to_string_lossy().into_owned();
                        if target.starts_with('/') {
                            stack.truncate(1);
                            names.clear();
                        }
                        for comp in components(&target)?.into_iter().rev() {
                            todo.push_front(comp);
                        }
                    }
                    FileType::Directory => {
                        stack.push(fd);
                        names.push(name);
                    }
                    _ if last => {
                        names.push(name);
                        return Ok(Walked::Found(fd, joined(&names)));
                    }
                    _ => return Err(err(Errno::NOTDIR)),
                }
            }
            Err(Errno::NOENT) if how == Walk::Resolve => {
                names.push(name);
                for comp in todo {
                    if comp == ".." {
                        names.pop();
                    } else {
                        names.push(comp);
                    }
                }
                return Ok(Walked::Missing(joined(&names)));
            }
            Err(Errno::NOENT) if create.is_some() => {
                let made = if last && create == Some(Kind::File) {
                    openat(
                        parent,
                        name.as_str(),
                        OFlags::CREATE
                            | OFlags::EXCL
                            | OFlags::NOFOLLOW
                            | OFlags::WRONLY
                            | OFlags::CLOEXEC,
                        Mode::from_raw_mode(0o644),
                    )
                    .map(drop)
                } else {
                    mkdirat(parent, name.as_str(), Mode::from_raw_mode(0o755))
                };
                match made {
                    // EEXIST: something appeared meanwhile; look at it again.
                    Ok(()) | Err(Errno::EXIST) => todo.push_front(name),
                    Err(e) => return Err(err(e)),
                }
            }
            Err(e) => return Err(err(e)),
        }
    }
    let fd = stack.pop().expect("the root stays on the stack");
    Ok(Walked::Found(fd, joined(&names)))
}

/// procfs's own root directory (`PROC_ROOT_INO`).
const PROC_ROOT_INO: u64 = 1;

/// Whether a symlink in `dir` is a magic link: on procfs every symlink is one
/// (`/proc/PID/{cwd,root,exe,fd/N,ns/*,map_files/*}`) except those in procfs's root
/// (`self`, `thread-self`, `mounts`, `net`), which are plain text. Reading a magic link
/// gives a path that means nothing inside the root, so the walk refuses it as
/// `RESOLVE_NO_MAGICLINKS` does.
fn is_magic_link_dir(dir: BorrowedFd<'_>) -> Result<bool, Errno> {
    if fstatfs(dir)?.f_type != rustix::fs::PROC_SUPER_MAGIC {
        return Ok(false);
    }
    Ok(fstat(dir)?.st_ino != PROC_ROOT_INO)
}

fn check_kind(fd: &OwnedFd, path: &str, kind: Kind) -> Result<()> {
    let stat = fstat(fd).map_err(|e| in_root_err(path, e))?;
    let is_dir = FileType::from_raw_mode(stat.st_mode) == FileType::Directory;
    let ok = match kind {
        Kind::Dir => is_dir,
        Kind::File => !is_dir,
    };
    if ok {
        return Ok(());
    }
    Err(RootfsError::WrongKind {
        path: path.to_string(),
        found: if is_dir {
            "a directory"
        } else {
            "not a directory"
        },
        wanted: kind.name(),
    })
}

fn in_root_err(path: &str, e: Errno) -> RootfsError {
    RootfsError::InRoot {
        path: path.to_string(),
        source: e.into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;
    use std::os::unix::fs::{symlink, MetadataExt};
    use std::path::Path;

    fn root_fd(dir: &Path) -> OwnedFd {
        fs::File::open(dir).unwrap().into()
    }

    fn same(fd: &OwnedFd, path: &Path) -> bool {
        let a = fstat(fd).unwrap();
        let b = fs::symlink_metadata(path).unwrap();
        a.st_ino == b.ino() && a.st_dev == b.dev()
    }

    #[test]
    fn symlink_to_slash_resolves_inside() {
        let tmp = tempfile::tempdir().unwrap();
        symlink("/", tmp.path().join("link")).unwrap();
        let root = root_fd(tmp.path());
        let fd = open_in_root(root.as_fd(), "/link/etc/sub", Some(Kind::Dir)).unwrap();
        assert!(same(&fd, &tmp.path().join("etc/sub")));
        // And the fast path (everything exists now) agrees.
        let again = open_in_root(root.as_fd(), "link/link/etc/sub", None).unwrap();
        assert!(same(&again, &tmp.path().join("etc/sub")));
    }

    #[test]
    fn dotdot_symlinks_and_dotdot_stay_inside() {
        let tmp = tempfile::tempdir().unwrap();
        fs::create_dir_all(tmp.path().join("a/b")).unwrap();
        symlink("../../../../..", tmp.path().join("a/b/up")).unwrap();
        let root = root_fd(tmp.path());
        let fd = open_in_root(root.as_fd(), "/a/b/up/x", Some(Kind::Dir)).unwrap();
        assert!(same(&fd, &tmp.path().join("x")));
        let fd = open_in_root(root.as_fd(), "/../../../y", Some(Kind::Dir)).unwrap();
        assert!(same(&fd, &tmp.path().join("y")));
        let fd = open_in_root(root.as_fd(), "/a/b/up/../../..", None).unwrap();
        assert!(same(&fd, tmp.path()));
    }

    #[test]
    fn symlink_to_a_host_path_creates_nothing_outside() {
        let tmp = tempfile::tempdir().unwrap();
        let outside = std::env::temp_dir().join(format!(
            "berth-in-root-outside-{}-{}",
            std::process::id(),
            tmp.path().file_name().unwrap().to_string_lossy()
        ));
        assert!(!outside.exists());
        let rootdir = tmp.path().join("root");
        fs::create_dir(&rootdir).unwrap();
        symlink(&outside, rootdir.join("evil")).unwrap();
        let root = root_fd(&rootdir);
        let fd = open_in_root(root.as_fd(), "/evil/x", Some(Kind::Dir)).unwrap();
        assert!(
            !outside.exists(),
            "created {} outside the root",
            outside.display()
        );
        let inside = rootdir.join(outside.strip_prefix("/").unwrap()).join("x");
        assert!(same(&fd, &inside), "not created at {}", inside.display());
        // A file mountpoint through the same link also stays inside.
        open_in_root(root.as_fd(), "/evil/f", Some(Kind::File)).unwrap();
        assert!(!outside.exists());
        assert!(inside.with_file_name("f").is_file());
    }

    #[test]
    fn existing_host_target_is_not_touched() {
        // The symlink points at a directory that exists on the host: resolution must still
        // use the root's copy (created), never the host's.
        let tmp = tempfile::tempdir().unwrap();
        let host = tmp.path().join("host");
        fs::create_dir(&host).unwrap();
        let rootdir = tmp.path().join("root");
        fs::create_dir(&rootdir).unwrap();
        symlink(&host, rootdir.join("evil")).unwrap();
        let root = root_fd(&rootdir);
        open_in_root(root.as_fd(), "/evil/x", Some(Kind::Dir)).unwrap();
        assert_eq!(fs::read_dir(&host).unwrap().count(), 0);
        assert!(rootdir
            .join(host.strip_prefix("/").unwrap())
            .join("x")
            .is_dir());
    }

    #[test]
    fn file_mountpoints_and_kinds() {
        let tmp = tempfile::tempdir().unwrap();
        let root = root_fd(tmp.path());
        let fd = open_in_root(root.as_fd(), "/etc/deep/hosts", Some(Kind::File)).unwrap();
        let meta = fs::metadata(tmp.path().join("etc/deep/hosts")).unwrap();
        assert!(meta.is_file() && meta.len() == 0);
        assert!(same(&fd, &tmp.path().join("etc/deep/hosts")));
        let err = open_in_root(root.as_fd(), "/etc/deep", Some(Kind::File)).unwrap_err();
        assert!(matches!(err, RootfsError::WrongKind { .. }), "{err}");
        let err = open_in_root(root.as_fd(), "/etc/deep/hosts", Some(Kind::Dir)).unwrap_err();
        assert!(err.to_string().contains("/etc/deep/hosts"), "{err}");
        let err = open_in_root(root.as_fd(), "/etc/deep/hosts/below", Some(Kind::Dir)).unwrap_err();
        assert!(matches!(err, RootfsError::InRoot { .. }), "{err}");
    }

    #[test]
    fn missing_without_create_fails_and_creates_nothing() {
        let tmp = tempfile::tempdir().unwrap();
        let root = root_fd(tmp.path());
        let err = open_in_root(root.as_fd(), "/no/such", None).unwrap_err();
        match err {
            RootfsError::InRoot { source, .. } => {
                assert_eq!(source.kind(), io::ErrorKind::NotFound)
            }
            other => panic!("{other}"),
        }
        assert_eq!(fs::read_dir(tmp.path()).unwrap().count(), 0);
    }

    #[test]
    fn symlink_loops_are_refused() {
        let tmp = tempfile::tempdir().unwrap();
        symlink("b", tmp.path().join("a")).unwrap();
        symlink("a", tmp.path().join("b")).unwrap();
        let root = root_fd(tmp.path());
        assert!(open_in_root(root.as_fd(), "/a/x", Some(Kind::Dir)).is_err());
    }

    #[test]
    fn magic_links_are_refused_by_both_resolvers() {
        let root = root_fd(Path::new("/"));
        for path in [
            "/proc/self/fd/0",
            "/proc/self/cwd/x",
            "/proc/thread-self/root/tmp",
        ] {
            let comps = components(path).unwrap();
            match walk(root.as_fd(), path, comps, None) {
                Err(RootfsError::InRoot { source, .. }) => {
                    assert_eq!(source.raw_os_error(), Some(libc::ELOOP), "{path}")
                }
                other => panic!("{path}: {:?}", other.map(drop)),
            }
            let err = open_in_root(root.as_fd(), path, None).unwrap_err();
            assert!(err.to_string().contains(path), "{err}");
        }
        // procfs's plain links (in its root) are followed.
        let comps = components("/proc/self/status").unwrap();
        walk(root.as_fd(), "/proc/self/status", comps, None).unwrap();
        open_in_root(root.as_fd(), "/proc/self/status", None).unwrap();
    }

    #[test]
    fn walk_without_openat2_matches() {
        let tmp = tempfile::tempdir().unwrap();
        fs::create_dir_all(tmp.path().join("usr/lib")).unwrap();
        symlink("usr/lib", tmp.path().join("lib")).unwrap();
        let root = root_fd(tmp.path());
        let comps = components("/lib/../lib/./x").unwrap();
        let fd = walk(root.as_fd(), "/lib/x", comps, Some(Kind::Dir)).unwrap();
        assert!(same(&fd, &tmp.path().join("usr/lib/x")));
    }
}
