//! Closing inherited fds in the container's process (CVE-2024-21626). The child is a fork of
//! berth (or of a monitor), so it holds every fd its caller left open and every fd berth
//! opened for the start (layer directories, the cgroup directory, namespace fds, the
//! caller's own). Close-on-exec is not enough before the exec: until then
//! `/proc/self/fd/N` still reaches each of them, so they are closed for real before the
//! container's own paths (the working directory) are looked at.

use std::os::fd::RawFd;

/// Closes every fd from 3 up except `keep` (the start pipe, the dmz's memfd).
pub(crate) fn close_all_but(keep: &[RawFd]) -> std::io::Result<()> {
    let mut keep: Vec<u32> = keep
        .iter()
        .filter(|fd| **fd > 2)
        .map(|fd| *fd as u32)
        .collect();
    keep.sort_unstable();
    keep.dedup();
    let mut first = 3u32;
    for fd in keep {
        if fd > first {
            close_range(first, fd - 1)?;
        }
        first = fd + 1;
    }
    close_range(first, u32::MAX)
}

/// close(2) of every fd in `first..=last`.
fn close_range(first: u32, last: u32) -> std::io::Result<()> {
    // SAFETY: close_range only closes this process's own fds; the callers (the child before
    // its exec, pid 1 under --init) own every fd in the range and never use them again.
    let rc = unsafe { libc::syscall(libc::SYS_close_range, first, last, 0u32) };
    if rc == 0 {
        return Ok(());
    }
    let error = std::io::Error::last_os_error();
    if error.raw_os_error() != Some(libc::ENOSYS) {
        return Err(error);
    }
    // Before Linux 5.9: one by one, as far as the fd limit goes.
    let max = rustix::process::getrlimit(rustix::process::Resource::Nofile)
        .current
        .unwrap_or(1024)
        .min(1 << 20) as u32;
    for fd in first..=last.min(max) {
        // SAFETY: as above; closing an fd that is not open is harmless (EBADF).
        unsafe { libc::close(fd as i32) };
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::fd::{AsRawFd, IntoRawFd};

    fn is_open(fd: RawFd) -> bool {
        // SAFETY: F_GETFD only reads the flags of an fd number.
        unsafe { libc::fcntl(fd, libc::F_GETFD) >= 0 }
    }

    /// In a forked child, so the test process's own fds stay as they are.
    #[test]
    fn closes_everything_but_what_is_kept() {
        let kept = std::fs::File::open("/").unwrap();
        let a = std::fs::File::open("/").unwrap().into_raw_fd();
        let b = std::fs::File::open("/").unwrap().into_raw_fd();
        let kept_fd = kept.as_raw_fd();
        // SAFETY: the child only makes syscalls, allocates (glibc's fork keeps malloc usable in
        // the child) and _exits.
        let pid = unsafe { libc::fork() };
        if pid == 0 {
            let ok = close_all_but(&[kept_fd, 1]).is_ok()
                && is_open(kept_fd)
                && !is_open(a)
                && !is_open(b)
                && is_open(0)
                && is_open(1)
                && is_open(2);
            // SAFETY: ends the forked child without running the test harness's code.
            unsafe { libc::_exit(if ok { 0 } else { 1 }) };
        }
        let mut status = 0;
        // SAFETY: waits for our own child.
        assert_eq!(unsafe { libc::waitpid(pid, &mut status, 0) }, pid);
        assert!(libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0);
        // SAFETY: a and b are ours (into_raw_fd above).
        unsafe {
            libc::close(a);
            libc::close(b);
        }
    }
}
