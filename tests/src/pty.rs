//! Pseudo-terminals for tests of interactive clients (`docker -it`, `berth -it`): a
//! terminal of the test's own, made the client's controlling terminal so that a window
//! size change signals it as a user's terminal would.

use std::os::fd::{AsFd, OwnedFd};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};

use rustix::pty::{grantpt, ioctl_tiocgptpeer, openpt, unlockpt, OpenptFlags};

/// A new terminal of `rows` x `cols`: (master, slave).
pub fn terminal(rows: u16, cols: u16) -> (OwnedFd, OwnedFd) {
    let master = openpt(OpenptFlags::RDWR | OpenptFlags::NOCTTY | OpenptFlags::CLOEXEC).unwrap();
    grantpt(&master).unwrap();
    unlockpt(&master).unwrap();
    let slave = ioctl_tiocgptpeer(&master, OpenptFlags::RDWR | OpenptFlags::NOCTTY).unwrap();
    set_size(&master, rows, cols);
    (master, slave)
}

/// Resizes the terminal of `master`.
pub fn set_size(master: &impl AsFd, rows: u16, cols: u16) {
    let size = rustix::termios::Winsize {
        ws_row: rows,
        ws_col: cols,
        ws_xpixel: 0,
        ws_ypixel: 0,
    };
    rustix::termios::tcsetwinsize(master, size).unwrap();
}

/// Spawns `cmd` on a new 33 x 101 terminal that is its controlling terminal: the child,
/// the master to type into, and what the terminal shows.
pub fn spawn_on_terminal(mut cmd: Command) -> (Child, std::fs::File, Arc<Mutex<Vec<u8>>>) {
    use std::os::unix::process::CommandExt;
    let (master, slave) = terminal(33, 101);
    cmd.stdin(Stdio::from(slave.try_clone().unwrap()))
        .stdout(Stdio::from(slave.try_clone().unwrap()))
        .stderr(Stdio::from(slave));
    // SAFETY: only setsid and an ioctl on fd 0 between fork and exec, both async-signal
    // safe; nothing allocates.
    unsafe {
        cmd.pre_exec(|| {
            rustix::process::setsid()?;
            rustix::process::ioctl_tiocsctty(rustix::stdio::stdin())?;
            Ok(())
        });
    }
    let child = cmd
        .spawn()
        .unwrap_or_else(|e| panic!("spawn {:?}: {e}", cmd.get_program()));
    let term = std::fs::File::from(master);
    let seen = crate::collect(term.try_clone().unwrap());
    (child, term, seen)
}
