//! Mount targets inside the container's root, resolved without leaving it.

use std::os::fd::{AsFd, BorrowedFd, OwnedFd};

use rustix::fs::{self, Mode, OFlags, ResolveFlags};
use rustix::io::Errno;

/// What to create when a target is missing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Create {
    Nothing,
    Dir,
    File,
}

/// Opens `path` (absolute, in the container's view) under `root` as an O_PATH fd, with
/// every symlink resolved inside `root` (openat2 RESOLVE_IN_ROOT), creating what is
/// missing. Mounting onto `/proc/self/fd/N` of the result can never land outside.
pub fn open_in_root(root: BorrowedFd<'_>, path: &str, create: Create) -> Result<OwnedFd, Errno> {
    let relative = path.trim_start_matches('/');
    let how = ResolveFlags::IN_ROOT | ResolveFlags::NO_MAGICLINKS;
    let flags = OFlags::PATH | OFlags::CLOEXEC;
    match fs::openat2(
        root,
        if relative.is_empty() { "." } else { relative },
        flags,
        Mode::empty(),
        how,
    ) {
        Err(Errno::NOENT) if create != Create::Nothing => {}
        other => return other,
    }
    // Walk component by component, creating as we go, each step resolved in root.
    let parts: Vec<&str> = relative
        .split('/')
        .filter(|p| !p.is_empty() && *p != ".")
        .collect();
    let mut current = fs::openat2(root, ".", flags | OFlags::DIRECTORY, Mode::empty(), how)?;
    for (i, part) in parts.iter().enumerate() {
        let last = i == parts.len() - 1;
        let next = fs::openat2(current.as_fd(), *part, flags, Mode::empty(), how);
        current = match next {
            Ok(fd) => fd,
            Err(Errno::NOENT) => {
                let dir = fs::openat2(
                    current.as_fd(),
                    ".",
                    OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
                    Mode::empty(),
                    how,
                )?;
                if last && create == Create::File {
                    drop(fs::openat(
                        &dir,
                        *part,
                        OFlags::CREATE | OFlags::WRONLY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
                        Mode::from_raw_mode(0o644),
                    )?);
                } else {
                    match fs::mkdirat(&dir, *part, Mode::from_raw_mode(0o755)) {
                        Ok(()) | Err(Errno::EXIST) => {}
                        Err(e) => return Err(e),
                    }
                }
                fs::openat2(current.as_fd(), *part, flags, Mode::empty(), how)?
            }
            Err(e) => return Err(e),
        };
    }
    Ok(current)
}

/// `/proc/self/fd/N` of an fd: the path the kernel resolves to exactly that object.
pub fn fd_path(fd: BorrowedFd<'_>) -> String {
    use std::os::fd::AsRawFd;
    format!("/proc/self/fd/{}", fd.as_raw_fd())
}
