//! Idmapped mounts for a container in a user namespace.
//!
//! The image's layers and the container's upper/work dirs are stored as if there were no
//! user namespace (owned by host uid 0 and so on). An idmapped mount shows them shifted by
//! the container's maps: a file owned by 0 on disk is owned by the container root's host
//! uid (say 100000) through the mount, so the container, whose user namespace maps its 0
//! to 100000, sees it as its own root's; what it creates as root lands on disk as 0.
//!
//! `mount_setattr(MOUNT_ATTR_IDMAP)` takes the maps from a user namespace fd. The
//! container's own namespace does not exist yet when its rootfs is mounted, so
//! [`MapperNs`] makes one with the same maps: a short-lived helper process unshares it,
//! berth writes the maps, keeps an fd on it and lets the helper exit (the kernel copies the
//! maps into the mount, Linux 6.3+).

use std::io::{self, Write};
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};

use berth_common::UserNamespace;

/// A user namespace with a container's maps, for idmapping mounts; no process lives in it.
pub struct MapperNs {
    fd: OwnedFd,
}

impl MapperNs {
    /// Makes the namespace: clone a helper into a new user namespace, write its maps, open
    /// `/proc/<helper>/ns/user`, let the helper exit and reap it.
    pub fn new(userns: &UserNamespace) -> io::Result<MapperNs> {
        let (wait_read, wait_write) = rustix::pipe::pipe_with(rustix::pipe::PipeFlags::CLOEXEC)?;
        let pid = clone_helper(&wait_read, &wait_write)?;
        drop(wait_read);
        let opened = write_maps(pid, userns)
            .and_then(|()| std::fs::File::open(format!("/proc/{pid}/ns/user")).map(OwnedFd::from));
        // EOF on the pipe ends the helper, whatever happened.
        drop(wait_write);
        reap(pid);
        Ok(MapperNs { fd: opened? })
    }
}

impl AsFd for MapperNs {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }
}

/// Forks a helper into a new user namespace; it waits for EOF on `wait_read`, then exits.
fn clone_helper(wait_read: &OwnedFd, wait_write: &OwnedFd) -> io::Result<i32> {
    use std::os::fd::AsRawFd;
    let (read_fd, write_fd) = (wait_read.as_raw_fd(), wait_write.as_raw_fd());
    // SAFETY: a fork-like clone (no new stack, SIGCHLD on exit). The caller may have other
    // threads, so the child only makes async-signal-safe raw calls (close, read, _exit)
    // on fds it inherited, and never returns into Rust code.
    let pid = unsafe {
        libc::syscall(
            libc::SYS_clone,
            (libc::CLONE_NEWUSER | libc::SIGCHLD) as libc::c_ulong,
            0usize,
            0usize,
            0usize,
            0usize,
        )
    };
    if pid == 0 {
        // SAFETY: as above; `byte` is a live one-byte buffer.
        unsafe {
            libc::close(write_fd);
            let mut byte = 0u8;
            while libc::read(read_fd, (&mut byte as *mut u8).cast(), 1) > 0 {}
            libc::_exit(0);
        }
    }
    if pid < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(pid as i32)
}

fn reap(pid: i32) {
    let mut status = 0;
    // SAFETY: waitpid on our own child, writing its status into a local.
    while unsafe { libc::waitpid(pid, &mut status, 0) } < 0
        && io::Error::last_os_error().kind() == io::ErrorKind::Interrupted
    {}
}

/// Writes `/proc/<pid>/uid_map` and `gid_map` (each in one write, as the kernel wants).
/// berth is root in the initial user namespace, so the maps may have many ranges and
/// `setgroups` stays allowed.
pub fn write_maps(pid: i32, userns: &UserNamespace) -> io::Result<()> {
    for (file, text) in [
        ("uid_map", userns.uid_map_text()),
        ("gid_map", userns.gid_map_text()),
    ] {
        let path = format!("/proc/{pid}/{file}");
        let mut f = std::fs::OpenOptions::new().write(true).open(&path)?;
        f.write_all(text.as_bytes())
            .map_err(|e| io::Error::new(e.kind(), format!("write {path}: {e}")))?;
    }
    Ok(())
}

/// Runs `work` as the container's root would touch files on the host: on a thread of its
/// own whose filesystem uid and gid are the root's host ids, with berth's capabilities
/// (which a change of fsuid takes out of the effective set) back in effect. What it creates
/// through an idmapped mount is stored as owned by 0; through a plain one, it would be
/// owned by the host ids. The thread, and its credentials, end with `work`.
///
/// overlayfs remembers who mounted it and does its work in the upper dir with those
/// credentials: an overlay over idmapped layers is created this way, or it could not write
/// its work dir (root's fsuid 0 has no mapping through the idmapped upper: EOVERFLOW).
pub fn as_container_root<T: Send>(
    userns: &UserNamespace,
    work: impl FnOnce() -> T + Send,
) -> io::Result<T> {
    let (uid, gid) = userns.host_root();
    std::thread::scope(|scope| {
        scope
            .spawn(|| -> io::Result<T> {
                set_fs_ids(uid, gid)?;
                let permitted =
                    caps::read(None, caps::CapSet::Permitted).map_err(io::Error::other)?;
                caps::set(None, caps::CapSet::Effective, &permitted).map_err(io::Error::other)?;
                Ok(work())
            })
            .join()
            .unwrap_or_else(|_| {
                Err(io::Error::other(
                    "the thread acting as the container's root panicked",
                ))
            })
    })
}

/// setfsuid/setfsgid for the calling thread only (glibc does not broadcast them), checked:
/// the calls report no errors, so the ids are read back.
fn set_fs_ids(uid: u32, gid: u32) -> io::Result<()> {
    // SAFETY: setfsgid/setfsuid change only this thread's credentials; an invalid id (-1)
    // changes nothing and returns the current one, which is how the result is checked.
    let (now_gid, now_uid) = unsafe {
        libc::setfsgid(gid);
        libc::setfsuid(uid);
        (libc::setfsgid(u32::MAX), libc::setfsuid(u32::MAX))
    };
    if now_uid as u32 != uid || now_gid as u32 != gid {
        return Err(io::Error::other(format!(
            "could not act as uid {uid} gid {gid} (setfsuid/setfsgid refused)"
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use berth_common::IdRange;

    fn remap(host: u32) -> UserNamespace {
        let range = vec![IdRange {
            container: 0,
            host,
            size: 65536,
        }];
        UserNamespace {
            uid_map: range.clone(),
            gid_map: range,
            source: String::new(),
        }
    }

    #[test]
    fn an_idmapped_tree_shows_files_shifted_by_the_maps() {
        if !rustix::process::geteuid().is_root() {
            return;
        }
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("f"), "x").unwrap();
        std::os::unix::fs::chown(dir.path().join("f"), Some(7), Some(8)).unwrap();
        // The namespace outlives its helper process.
        let ns = MapperNs::new(&remap(300000)).unwrap();
        let options = crate::BindOptions::default();
        let tree = crate::tree::clone_tree(dir.path().into(), options, Some(ns.as_fd())).unwrap();
        let st = rustix::fs::statat(&tree, "f", rustix::fs::AtFlags::empty()).unwrap();
        assert_eq!((st.st_uid, st.st_gid), (300007, 300008));
    }

    #[test]
    fn acting_as_the_container_root_creates_files_as_its_host_ids() {
        if !rustix::process::geteuid().is_root() {
            return;
        }
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("made");
        as_container_root(&remap(300000), || std::fs::write(&file, "x"))
            .unwrap()
            .unwrap();
        use std::os::unix::fs::MetadataExt;
        let meta = std::fs::metadata(&file).unwrap();
        assert_eq!((meta.uid(), meta.gid()), (300000, 300000));
        // The calling thread is untouched.
        std::fs::write(dir.path().join("mine"), "y").unwrap();
        assert_eq!(std::fs::metadata(dir.path().join("mine")).unwrap().uid(), 0);
    }
}
