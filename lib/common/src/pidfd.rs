//! A pidfd: an fd that names one process (never a later one with a reused pid) and turns
//! readable when it exits, so a waiter can poll it instead of napping.

use std::os::fd::OwnedFd;

/// A pidfd of `pid`; None when the process is gone or the kernel has no pidfds (before
/// 5.3), so callers fall back to polling /proc.
pub fn open(pid: i32) -> Option<OwnedFd> {
    // Pid::from_raw asserts a non-negative pid; 0 (None) and below name no one process.
    if pid <= 0 {
        return None;
    }
    let pid = rustix::process::Pid::from_raw(pid)?;
    rustix::process::pidfd_open(pid, rustix::process::PidfdFlags::empty()).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_live_process_has_a_pidfd_that_turns_readable_when_it_exits() {
        let mut child = std::process::Command::new("sleep")
            .arg("0.05")
            .spawn()
            .unwrap();
        let fd = open(child.id() as i32).expect("a pidfd of a live child");
        let mut fds = [rustix::event::PollFd::new(
            &fd,
            rustix::event::PollFlags::IN,
        )];
        let ready = rustix::event::poll(&mut fds, None).unwrap();
        assert_eq!(ready, 1);
        child.wait().unwrap();
        assert!(open(0).is_none());
        assert!(open(-5).is_none());
    }
}
