//! `-t`: the container's stdio on a new pseudo-terminal whose master berth keeps. berth's
//! own terminal goes to raw mode while the container runs (so keys reach the container
//! unchanged) and the pty's window size follows it (SIGWINCH).

use std::fs::File;
use std::io::{Read, Write};
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;

use rustix::pty::{grantpt, ioctl_tiocgptpeer, openpt, unlockpt, OpenptFlags};
use rustix::termios::{
    isatty, tcgetattr, tcgetwinsize, tcsetattr, tcsetwinsize, OptionalActions, Termios,
};

/// A pty pair, made before the container's process is cloned.
pub struct Pty {
    pub master: OwnedFd,
    pub slave: OwnedFd,
    /// `/dev/pts/N`: the child binds this over its /dev/console (a bind needs the path of
    /// the mount in the child's own mount namespace; an fd refers to the parent's).
    pub path: std::path::PathBuf,
}

impl Pty {
    pub fn open() -> std::io::Result<Pty> {
        let master = openpt(OpenptFlags::RDWR | OpenptFlags::NOCTTY | OpenptFlags::CLOEXEC)?;
        grantpt(&master)?;
        unlockpt(&master)?;
        // The peer by fd, not by a path in /dev/pts that could be raced.
        let slave = ioctl_tiocgptpeer(
            &master,
            OpenptFlags::RDWR | OpenptFlags::NOCTTY | OpenptFlags::CLOEXEC,
        )?;
        if isatty(std::io::stdin()) {
            sync_size(std::io::stdin().as_fd(), &master);
        }
        let path = rustix::pty::ptsname(&master, Vec::new())?;
        let path = std::path::PathBuf::from(std::ffi::OsStr::from_bytes(path.as_bytes()));
        Ok(Pty {
            master,
            slave,
            path,
        })
    }
}

/// Copies the size of berth's terminal to the pty (the kernel then signals the
/// container's foreground process group).
pub fn sync_size(from: BorrowedFd<'_>, master: &OwnedFd) {
    if let Ok(size) = tcgetwinsize(from) {
        let _ = tcsetwinsize(master, size);
    }
}

/// The size of berth's terminal on stdout (else stdin) as (rows, columns); `None` when
/// neither is a terminal that knows its size.
pub fn size() -> Option<(u16, u16)> {
    tcgetwinsize(std::io::stdout())
        .or_else(|_| tcgetwinsize(std::io::stdin()))
        .ok()
        .filter(|ws| ws.ws_row > 0 && ws.ws_col > 0)
        .map(|ws| (ws.ws_row, ws.ws_col))
}

/// In the child: a new session whose controlling terminal is the pty, on fds 0, 1, 2.
pub fn attach(slave: BorrowedFd<'_>) -> std::io::Result<()> {
    rustix::process::setsid()?;
    rustix::process::ioctl_tiocsctty(slave)?;
    for fd in 0..3 {
        // SAFETY: dup2 onto a standard fd with an fd we own; the old fds 0-2 are not used
        // by anything else in the child.
        if unsafe { libc::dup2(std::os::fd::AsRawFd::as_raw_fd(&slave), fd) } < 0 {
            return Err(std::io::Error::last_os_error());
        }
    }
    Ok(())
}

/// berth's terminal in raw mode until dropped.
pub struct RawMode {
    saved: Option<Termios>,
}

impl RawMode {
    pub fn enter() -> RawMode {
        let stdin = std::io::stdin();
        if !isatty(&stdin) {
            return RawMode { saved: None };
        }
        let Ok(saved) = tcgetattr(&stdin) else {
            return RawMode { saved: None };
        };
        let mut raw = saved.clone();
        raw.make_raw();
        let _ = tcsetattr(&stdin, OptionalActions::Now, &raw);
        RawMode { saved: Some(saved) }
    }
}

impl Drop for RawMode {
    fn drop(&mut self) {
        if let Some(saved) = &self.saved {
            let _ = tcsetattr(std::io::stdin(), OptionalActions::Now, saved);
        }
    }
}

/// Starts the copying threads: the pty's output to berth's stdout and, with `stdin`,
/// berth's stdin to the pty. Returns the output thread, which ends when the container
/// closes the terminal.
pub fn pump(master: &OwnedFd, stdin: bool) -> std::io::Result<std::thread::JoinHandle<()>> {
    let mut from_pty = File::from(master.try_clone()?);
    if stdin {
        let mut to_pty = File::from(master.try_clone()?);
        std::thread::spawn(move || {
            let mut input = std::io::stdin().lock();
            let mut buf = [0u8; 4096];
            while let Ok(n) = input.read(&mut buf) {
                if n == 0 || to_pty.write_all(&buf[..n]).is_err() {
                    break;
                }
            }
        });
    }
    Ok(std::thread::spawn(move || {
        let mut out = std::io::stdout().lock();
        let mut buf = [0u8; 8192];
        // EIO once the last slave fd closes: the container is gone.
        while let Ok(n) = from_pty.read(&mut buf) {
            if n == 0 || out.write_all(&buf[..n]).is_err() {
                break;
            }
            let _ = out.flush();
        }
    }))
}
