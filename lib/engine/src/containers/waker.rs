//! Sleeping until something happens to a container, instead of polling its files: an
//! inotify watch on its directory (the log appended, the exit recorded, the run state
//! written, the directory removed) and, when asked, a pidfd of a process (its monitor,
//! gone once the teardown is done). A wait ends at the first event or the timeout, so
//! the callers' loops stay as they were, only without the fixed naps: a `docker run`
//! sees its container's exit as soon as the monitor writes it.

use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::time::Duration;

use berth_common::{ContainerId, Paths};
use rustix::fs::inotify::{self, CreateFlags, WatchFlags};

/// The nap when the kernel gives no inotify or pidfd.
const FALLBACK: Duration = Duration::from_millis(20);

pub struct Waker {
    inotify: Option<OwnedFd>,
    /// Dropped once the process ended: a pidfd stays readable from then on.
    pidfd: Option<OwnedFd>,
}

impl Waker {
    /// Wakes on any change in container `id`'s directory.
    pub fn on_container(paths: &Paths, id: &ContainerId) -> Waker {
        let watch = WatchFlags::CREATE
            | WatchFlags::MODIFY
            | WatchFlags::CLOSE_WRITE
            | WatchFlags::MOVED_TO
            | WatchFlags::DELETE
            | WatchFlags::DELETE_SELF
            | WatchFlags::ONLYDIR;
        let inotify = inotify::init(CreateFlags::NONBLOCK | CreateFlags::CLOEXEC)
            .ok()
            .filter(|fd| inotify::add_watch(fd, paths.container_dir(id), watch).is_ok());
        Waker {
            inotify,
            pidfd: None,
        }
    }

    /// Wakes only when process `pid` ends.
    pub fn on_pid(pid: i32) -> Waker {
        Waker {
            inotify: None,
            pidfd: berth_common::pidfd::open(pid),
        }
    }

    /// Sleeps until an event or `timeout`; the events are used up.
    pub fn wait(&mut self, timeout: Duration) {
        let mut fds: Vec<libc::pollfd> = [&self.inotify, &self.pidfd]
            .into_iter()
            .flatten()
            .map(|fd| libc::pollfd {
                fd: fd.as_raw_fd(),
                events: libc::POLLIN,
                revents: 0,
            })
            .collect();
        if fds.is_empty() {
            std::thread::sleep(timeout.min(FALLBACK));
            return;
        }
        poll(&mut fds, timeout);
        if let Some(fd) = &self.inotify {
            drain(fd.as_fd());
        }
        let pid_ended = self.pidfd.as_ref().is_some_and(|p| {
            fds.iter()
                .any(|f| f.fd == p.as_raw_fd() && f.revents & libc::POLLIN != 0)
        });
        if pid_ended {
            self.pidfd = None;
        }
    }
}

fn poll(fds: &mut [libc::pollfd], timeout: Duration) {
    let millis = timeout.as_millis().min(i32::MAX as u128) as i32;
    // SAFETY: `fds` is a live, initialised slice of pollfds of fds we own; poll only
    // writes their revents.
    unsafe { libc::poll(fds.as_mut_ptr(), fds.len() as libc::nfds_t, millis) };
}

/// Reads the queued inotify events away (their content does not matter: the caller looks
/// at the files again).
fn drain(fd: std::os::fd::BorrowedFd<'_>) {
    let mut buf = [0u8; 4096];
    while matches!(rustix::io::read(fd, &mut buf), Ok(n) if n > 0) {}
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Instant;

    #[test]
    fn a_change_in_the_directory_ends_the_wait_at_once_and_none_waits_the_timeout() {
        let dir = tempfile::tempdir().unwrap();
        let paths = Paths::new(dir.path().join("root"), dir.path().join("run"));
        let id = ContainerId::parse(&"ab".repeat(32)).unwrap();
        let cdir = paths.container_dir(&id);
        std::fs::create_dir_all(&cdir).unwrap();
        let mut waker = Waker::on_container(&paths, &id);
        let begin = Instant::now();
        waker.wait(Duration::from_millis(100));
        assert!(
            begin.elapsed() >= Duration::from_millis(90),
            "no event, no wake"
        );
        std::fs::write(cdir.join("exit.json"), "{}").unwrap();
        let begin = Instant::now();
        waker.wait(Duration::from_secs(5));
        assert!(
            begin.elapsed() < Duration::from_secs(1),
            "the write woke it"
        );
        // The events were used up: the next wait sleeps again.
        let begin = Instant::now();
        waker.wait(Duration::from_millis(100));
        assert!(begin.elapsed() >= Duration::from_millis(90));
    }

    #[test]
    fn a_process_ending_ends_the_wait() {
        let mut child = std::process::Command::new("sleep")
            .arg("0.2")
            .spawn()
            .unwrap();
        let mut waker = Waker::on_pid(child.id() as i32);
        let begin = Instant::now();
        waker.wait(Duration::from_secs(10));
        assert!(begin.elapsed() < Duration::from_secs(5));
        child.wait().unwrap();
        assert!(
            waker.pidfd.is_none(),
            "an ended process is not polled again"
        );
    }
}
