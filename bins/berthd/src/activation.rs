//! Socket activation (`-H fd://`): the listening sockets systemd passes from fd 3 on, as
//! `sd_listen_fds` defines it (`LISTEN_PID` names this process, `LISTEN_FDS` counts them,
//! `LISTEN_FDNAMES` names them). Hand-written rather than a crate: the protocol is three
//! variables, and berthd needs only listening Unix and TCP sockets from it.

use std::os::fd::{FromRawFd, OwnedFd};

use anyhow::{bail, Context};
use berth_api::serve::Listener;

/// The first fd systemd passes.
const FIRST_FD: i32 = 3;

/// The activated sockets not yet given to a `-H`.
pub struct Activated {
    sockets: Vec<(String, OwnedFd)>,
}

/// Takes the passed sockets, if any were passed to this process; clears the variables so
/// that no child inherits them.
pub fn take() -> anyhow::Result<Activated> {
    let pid = std::env::var("LISTEN_PID").ok();
    let count = std::env::var("LISTEN_FDS").ok();
    let names = std::env::var("LISTEN_FDNAMES").unwrap_or_default();
    for var in ["LISTEN_PID", "LISTEN_FDS", "LISTEN_FDNAMES"] {
        // SAFETY: called from main before the runtime's threads exist: nothing reads the
        // environment concurrently.
        unsafe { std::env::remove_var(var) };
    }
    let ours = pid.is_some_and(|p| p.trim() == std::process::id().to_string());
    let count: i32 = match (ours, count) {
        (true, Some(n)) => n.trim().parse().context("LISTEN_FDS is not a number")?,
        _ => 0,
    };
    let names: Vec<&str> = names.split(':').collect();
    let sockets = (0..count)
        .map(|i| {
            let fd = FIRST_FD + i;
            let name = names.get(i as usize).copied().unwrap_or("").to_string();
            (name, owned(fd))
        })
        .collect();
    Ok(Activated { sockets })
}

/// SAFETY wrapper: systemd hands these fds to this process alone (LISTEN_PID checked), and
/// nothing else in berthd has touched fds 3.. yet.
fn owned(fd: i32) -> OwnedFd {
    // SAFETY: see above: the fd is open, ours, and owned by nothing else.
    unsafe { OwnedFd::from_raw_fd(fd) }
}

impl Activated {
    /// The sockets for `fd://` (all) or `fd://NAME`; an error when there are none.
    pub fn pick(&mut self, name: Option<&str>) -> anyhow::Result<Vec<Listener>> {
        let taken: Vec<OwnedFd> = match name {
            None => self.sockets.drain(..).map(|(_, fd)| fd).collect(),
            Some(want) => {
                let (matching, rest) = std::mem::take(&mut self.sockets)
                    .into_iter()
                    .partition(|(n, _)| n == want);
                self.sockets = rest;
                matching.into_iter().map(|(_, fd)| fd).collect()
            }
        };
        if taken.is_empty() {
            bail!(
                "-H fd://{}: no socket was passed by systemd (socket activation: LISTEN_FDS)",
                name.unwrap_or("")
            );
        }
        taken.into_iter().map(listener).collect()
    }
}

fn listener(fd: OwnedFd) -> anyhow::Result<Listener> {
    let address = rustix::net::getsockname(&fd).context("a passed socket")?;
    let unix = matches!(address.address_family(), rustix::net::AddressFamily::UNIX);
    if unix {
        let std = std::os::unix::net::UnixListener::from(fd);
        std.set_nonblocking(true)?;
        Ok(Listener::Unix(tokio::net::UnixListener::from_std(std)?))
    } else {
        let std = std::net::TcpListener::from(fd);
        std.set_nonblocking(true)?;
        let local = std.local_addr()?;
        if !local.ip().is_loopback() {
            bail!("a passed TCP socket on {local} is not loopback: pass a Unix socket, or use -H tcp:// with --tlsverify");
        }
        Ok(Listener::Tcp(tokio::net::TcpListener::from_std(std)?))
    }
}
