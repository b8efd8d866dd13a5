//! `attach`: a terminal (or plain stdio) joined to a detached container's, through the Unix
//! socket its monitor listens on (`<run-dir>/containers/<id>/attach.sock`, mode 0600). The
//! frames are defined once, in `monitor/protocol.rs`, which the monitor and this module
//! share. The monitor keeps the container's stdin, output and terminal; any number of
//! clients come and go, and the daemon will attach the same way.

use std::io::{ErrorKind, Read, Write};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use berth_common::{ContainerId, Paths};

use crate::control::short;
pub use crate::detach_keys::{parse_detach_keys, DetachKeys};
use crate::state::{self, RunState, StateError};

/// The frames of the attach protocol, shared with the monitor program.
#[allow(dead_code)]
#[path = "../monitor/protocol.rs"]
pub mod protocol;

/// docker's default: ctrl-p ctrl-q.
pub const DEFAULT_DETACH_KEYS: &str = "ctrl-p,ctrl-q";

/// Frames waiting to go to the monitor before stdin is no longer read.
const QUEUE_LIMIT: usize = 64 * 1024;

#[derive(Debug, thiserror::Error)]
pub enum AttachError {
    #[error(transparent)]
    State(#[from] StateError),
    #[error("You cannot attach to a stopped container, start it first (container {container})")]
    Stopped { container: String },
    #[error(
        "container {container} has no monitor socket to attach to: only containers started \
         with -d can be attached (a foreground container's terminal is its berth-run's)"
    )]
    NotDetached { container: String },
    #[error("container {container}: cannot connect to its monitor at {path}: {source}")]
    Connect {
        container: String,
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("container {container}: the monitor's answer: {reason}")]
    Protocol { container: String, reason: String },
    #[error(
        "container {container}: the monitor closed the connection while the container runs \
         (it drops a client that falls behind the output, and refuses more than 16)"
    )]
    Lost { container: String },
    #[error("container {container}: {op}: {source}")]
    Io {
        container: String,
        op: &'static str,
        source: std::io::Error,
    },
    #[error("invalid --detach-keys {keys:?}: {reason}")]
    DetachKeys { keys: String, reason: String },
    #[error("container {container}: cannot create its attach socket {path}: {source}")]
    Listen {
        container: String,
        path: PathBuf,
        source: std::io::Error,
    },
}

/// How `attach` joins (docker attach's flags as plain values).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(default)]
pub struct AttachRequest {
    /// Do not send stdin to the container.
    pub no_stdin: bool,
    /// The key sequence that detaches, leaving the container running (docker's format:
    /// `ctrl-p,ctrl-q`, `ctrl-a,d`).
    pub detach_keys: String,
}

impl Default for AttachRequest {
    fn default() -> Self {
        AttachRequest {
            no_stdin: false,
            detach_keys: DEFAULT_DETACH_KEYS.into(),
        }
    }
}

impl AttachError {
    /// What kind of failure this is, for a caller that answers requests.
    pub fn kind(&self) -> berth_common::ErrorKind {
        use berth_common::ErrorKind;
        match self {
            AttachError::State(e) => e.kind(),
            AttachError::Stopped { .. } | AttachError::NotDetached { .. } => ErrorKind::Conflict,
            AttachError::DetachKeys { .. } => ErrorKind::InvalidInput,
            AttachError::Connect { source, .. }
            | AttachError::Io { source, .. }
            | AttachError::Listen { source, .. } => ErrorKind::of_io(source),
            AttachError::Protocol { .. } | AttachError::Lost { .. } => ErrorKind::Internal,
        }
    }
}

/// The monitor's side: the listening socket for container `id`, mode 0600. A stale file is
/// replaced. The monitor also refuses peers that are not root (or its own user), so the
/// moment between bind and chmod gives nobody a way in.
pub fn listen(paths: &Paths, id: &ContainerId) -> Result<UnixListener, AttachError> {
    let path = state::attach_socket(paths, id);
    let err = |source| AttachError::Listen {
        container: short(id).to_string(),
        path: path.clone(),
        source,
    };
    let (_dir, reachable) = reachable(&path).map_err(err)?;
    match std::fs::remove_file(&reachable) {
        Err(e) if e.kind() != ErrorKind::NotFound => return Err(err(e)),
        _ => {}
    }
    let listener = UnixListener::bind(&reachable).map_err(err)?;
    if let Err(e) = std::fs::set_permissions(&reachable, std::fs::Permissions::from_mode(0o600)) {
        let _ = std::fs::remove_file(&reachable);
        return Err(err(e));
    }
    Ok(listener)
}

/// Removes container `id`'s attach socket, if it is there.
pub fn unlisten(paths: &Paths, id: &ContainerId) {
    let path = state::attach_socket(paths, id);
    if let Ok((_dir, reachable)) = reachable(&path) {
        let _ = std::fs::remove_file(reachable);
    }
}

/// A socket's path as bind and connect can take it: itself, or, when it is longer than a
/// `sockaddr_un` holds (108 bytes: a deep `--run-dir`), through `/proc/self/fd/N/` of its
/// directory, which stays open as long as the returned fd.
fn reachable(path: &Path) -> std::io::Result<(Option<OwnedFd>, PathBuf)> {
    const SUN_PATH: usize = 108;
    if path.as_os_str().len() < SUN_PATH {
        return Ok((None, path.to_path_buf()));
    }
    let (Some(parent), Some(name)) = (path.parent(), path.file_name()) else {
        return Err(std::io::Error::from(ErrorKind::InvalidInput));
    };
    let dir = rustix::fs::open(
        parent,
        rustix::fs::OFlags::PATH | rustix::fs::OFlags::DIRECTORY | rustix::fs::OFlags::CLOEXEC,
        rustix::fs::Mode::empty(),
    )?;
    let short = PathBuf::from(format!("/proc/self/fd/{}", dir.as_raw_fd())).join(name);
    Ok((Some(dir), short))
}

/// `berth-run attach`: joins this process's stdio to container `reference`'s until the
/// container exits (returns its exit status) or the detach keys are typed (returns 0).
pub fn attach(paths: &Paths, reference: &str, request: &AttachRequest) -> Result<i32, AttachError> {
    let keys = parse_detach_keys(&request.detach_keys)?;
    let state = state::find(paths, reference)?;
    let container = state
        .name
        .clone()
        .map_or_else(|| state.id.short().to_string(), String::from);
    if !state.is_running() {
        return Err(AttachError::Stopped { container });
    }
    let path = state::attach_socket(paths, &state.id);
    let conn = match connect(&path) {
        Ok(conn) => conn,
        Err(e) if matches!(e.kind(), ErrorKind::NotFound | ErrorKind::ConnectionRefused) => {
            // It exited meanwhile (the monitor removes the socket), or it has no monitor.
            return Err(if still_running(paths, &state.id) {
                AttachError::NotDetached { container }
            } else {
                AttachError::Stopped { container }
            });
        }
        Err(source) => {
            return Err(AttachError::Connect {
                container,
                path,
                source,
            })
        }
    };
    let (tty, stdin_open) = match hello(&conn, &container)? {
        Some(hello) => hello,
        // Closed before a word: the container is ending.
        None => return ended(paths, &state, container),
    };
    let forward_stdin = stdin_open && !request.no_stdin;
    let stdin = std::io::stdin();
    // Taken from here on, so no signal ends this process with its terminal left raw.
    let signals = SignalFd::new(&[libc::SIGWINCH, libc::SIGINT, libc::SIGTERM, libc::SIGHUP])
        .map_err(|source| AttachError::Io {
            container: container.clone(),
            op: "signalfd",
            source,
        })?;
    // Raw mode only when keys go to the container's terminal; otherwise ctrl-c stays ours.
    let raw = (tty && forward_stdin).then(berth_process::tty::RawMode::enter);
    let mut session = Session {
        conn,
        inbuf: Vec::new(),
        queue: Vec::new(),
        keys: DetachKeys::new(keys),
        stdin_open: forward_stdin,
        container: container.clone(),
    };
    if tty {
        session.queue_resize();
    }
    let result = session.run(stdin.as_fd(), &signals);
    drop(raw);
    match result? {
        End::Exit(code) => Ok(code),
        End::Detached => Ok(0),
        End::Signal(sig) => Ok(128 + sig),
        End::Closed => ended(paths, &state, container),
    }
}

/// A client's connection to container `id`'s monitor (the daemon's way in), however deep
/// the run dir is. The monitor's hello frame comes first.
pub fn connect_monitor(paths: &Paths, id: &ContainerId) -> std::io::Result<UnixStream> {
    connect(&state::attach_socket(paths, id))
}

fn connect(path: &Path) -> std::io::Result<UnixStream> {
    let (_dir, reachable) = reachable(path)?;
    UnixStream::connect(reachable)
}

fn still_running(paths: &Paths, id: &ContainerId) -> bool {
    RunState::read(paths, id)
        .ok()
        .flatten()
        .is_some_and(|s| s.is_running())
}

/// The monitor's first frame: whether the container has a terminal and an open stdin; None
/// if it closed the connection first.
fn hello(conn: &UnixStream, container: &str) -> Result<Option<(bool, bool)>, AttachError> {
    let io = |op| {
        let container = container.to_string();
        move |source| AttachError::Io {
            container,
            op,
            source,
        }
    };
    conn.set_read_timeout(Some(Duration::from_secs(10)))
        .map_err(io("set a timeout"))?;
    let mut frame = [0u8; protocol::HEADER + 2];
    let mut got = 0;
    while got < frame.len() {
        match (&*conn).read(&mut frame[got..]) {
            Ok(0) => return Ok(None),
            Ok(n) => got += n,
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(e) if e.kind() == ErrorKind::ConnectionReset => return Ok(None),
            Err(e) => return Err(io("read the monitor's hello")(e)),
        }
    }
    let protocol_error = |reason: String| AttachError::Protocol {
        container: container.to_string(),
        reason,
    };
    let (kind, payload) = (frame[0], &frame[protocol::HEADER..]);
    if kind != protocol::HELLO || protocol::payload_len(&frame) != 2 {
        return Err(protocol_error(format!(
            "expected a hello frame, got kind {kind}"
        )));
    }
    if payload[0] != protocol::VERSION {
        return Err(protocol_error(format!(
            "attach protocol version {}, this berth-run speaks {}",
            payload[0],
            protocol::VERSION
        )));
    }
    conn.set_read_timeout(None)
        .map_err(io("clear the timeout"))?;
    conn.set_nonblocking(true)
        .map_err(io("make the socket non-blocking"))?;
    Ok(Some((
        payload[1] & protocol::HELLO_TTY != 0,
        payload[1] & protocol::HELLO_STDIN != 0,
    )))
}

/// The monitor closed without an exit frame: the container's exit status once its monitor
/// records it, or [`AttachError::Lost`] if it still runs (the monitor dropped this client).
fn ended(paths: &Paths, state: &RunState, container: String) -> Result<i32, AttachError> {
    let start = Instant::now();
    loop {
        match RunState::read(paths, &state.id) {
            Ok(Some(now)) if now.exit_code.is_some() => return Ok(now.exit_code.unwrap_or(0)),
            Ok(Some(now)) if now.is_running() => return Err(AttachError::Lost { container }),
            // Removed (--rm) after it exited, with no status left to read.
            Ok(None) => return Err(AttachError::Stopped { container }),
            _ => {}
        }
        if start.elapsed() > Duration::from_secs(5) {
            return Err(AttachError::Stopped { container });
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

enum End {
    Exit(i32),
    Detached,
    Signal(i32),
    /// The monitor closed the connection without an exit frame.
    Closed,
}

struct Session {
    conn: UnixStream,
    /// An incomplete frame from the monitor.
    inbuf: Vec<u8>,
    /// Frames for the monitor that the socket did not take yet.
    queue: Vec<u8>,
    keys: DetachKeys,
    /// stdin is forwarded and not at its end.
    stdin_open: bool,
    container: String,
}

impl Session {
    fn io(&self, op: &'static str) -> impl FnOnce(std::io::Error) -> AttachError {
        let container = self.container.clone();
        move |source| AttachError::Io {
            container,
            op,
            source,
        }
    }

    /// One poll loop over the socket, stdin and the signals; no threads, so nothing is left
    /// blocked in a read when it ends.
    fn run(&mut self, stdin: BorrowedFd<'_>, signals: &SignalFd) -> Result<End, AttachError> {
        let (mut out, mut err) = (std::io::stdout().lock(), std::io::stderr().lock());
        loop {
            let mut conn_events = libc::POLLIN;
            if !self.queue.is_empty() {
                conn_events |= libc::POLLOUT;
            }
            let mut fds = [
                poll_fd(self.conn.as_fd(), conn_events),
                poll_fd(signals.fd.as_fd(), libc::POLLIN),
                poll_fd(stdin, libc::POLLIN),
            ];
            if !self.stdin_open || self.queue.len() >= QUEUE_LIMIT {
                // Not watched at all: a hung-up pipe would be reported even with no events.
                fds[2].fd = -1;
            }
            poll(&mut fds).map_err(self.io("poll"))?;
            if fds[1].revents != 0 {
                match signals.read() {
                    Some(libc::SIGWINCH) => self.queue_resize(),
                    Some(sig) => return Ok(End::Signal(sig)),
                    None => {}
                }
            }
            if fds[2].revents != 0 && self.read_stdin(stdin)? {
                self.drain_queue();
                return Ok(End::Detached);
            }
            if fds[0].revents & libc::POLLOUT != 0 {
                self.flush().map_err(self.io("write to the monitor"))?;
            }
            if fds[0].revents & (libc::POLLIN | libc::POLLHUP | libc::POLLERR) != 0 {
                if let Some(end) = self.read_conn(&mut out, &mut err)? {
                    return Ok(end);
                }
            }
        }
    }

    /// Reads stdin into stdin frames; true when the detach keys were typed.
    fn read_stdin(&mut self, stdin: BorrowedFd<'_>) -> Result<bool, AttachError> {
        let mut buf = [0u8; protocol::MAX_CLIENT_PAYLOAD];
        let n = match rustix::io::read(stdin, &mut buf) {
            Ok(n) => n,
            Err(rustix::io::Errno::INTR) | Err(rustix::io::Errno::AGAIN) => return Ok(false),
            // EOF (or a terminal gone): nothing more to send; the output still comes.
            Err(_) => 0,
        };
        let mut forward = Vec::with_capacity(n);
        let detached = if n == 0 {
            self.stdin_open = false;
            self.keys.flush(&mut forward);
            false
        } else {
            self.keys.feed(&buf[..n], &mut forward)
        };
        if !forward.is_empty() {
            self.queue
                .extend_from_slice(&protocol::header(protocol::STDIN, forward.len()));
            self.queue.extend_from_slice(&forward);
            self.flush().map_err(self.io("write to the monitor"))?;
        }
        Ok(detached)
    }

    /// Reads frames from the monitor: output to stdout/stderr, the exit status.
    fn read_conn(
        &mut self,
        out: &mut impl Write,
        err: &mut impl Write,
    ) -> Result<Option<End>, AttachError> {
        let mut buf = [0u8; 16 * 1024];
        let n = match self.conn.read(&mut buf) {
            Ok(0) => return Ok(Some(End::Closed)),
            Ok(n) => n,
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::Interrupted) => {
                return Ok(None)
            }
            Err(e) if e.kind() == ErrorKind::ConnectionReset => return Ok(Some(End::Closed)),
            Err(e) => return Err(self.io("read from the monitor")(e)),
        };
        self.inbuf.extend_from_slice(&buf[..n]);
        let mut used = 0;
        while let Some((kind, payload, len)) = protocol::split(&self.inbuf[used..]) {
            used += len;
            match kind {
                protocol::STDOUT => {
                    out.write_all(payload)
                        .and_then(|()| out.flush())
                        .map_err(self.io("write stdout"))?;
                }
                protocol::STDERR => {
                    err.write_all(payload)
                        .and_then(|()| err.flush())
                        .map_err(self.io("write stderr"))?;
                }
                protocol::EXIT if payload.len() == 4 => {
                    let code = i32::from_be_bytes([payload[0], payload[1], payload[2], payload[3]]);
                    return Ok(Some(End::Exit(code)));
                }
                _ => {}
            }
        }
        self.inbuf.drain(..used);
        Ok(None)
    }

    /// The window size of this process's terminal, for the container's.
    fn queue_resize(&mut self) {
        let size = rustix::termios::tcgetwinsize(std::io::stdin())
            .or_else(|_| rustix::termios::tcgetwinsize(std::io::stdout()))
            .ok();
        let Some(size) = size else { return };
        self.queue
            .extend_from_slice(&protocol::header(protocol::RESIZE, 4));
        self.queue.extend_from_slice(&size.ws_row.to_be_bytes());
        self.queue.extend_from_slice(&size.ws_col.to_be_bytes());
        let _ = self.flush();
    }

    /// Writes what the socket takes of the queue.
    fn flush(&mut self) -> std::io::Result<()> {
        while !self.queue.is_empty() {
            match self.conn.write(&self.queue) {
                Ok(n) => {
                    self.queue.drain(..n);
                }
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(e) if e.kind() == ErrorKind::WouldBlock => return Ok(()),
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }

    /// Before leaving: what was typed before the detach keys, for at most a second.
    fn drain_queue(&mut self) {
        let start = Instant::now();
        while !self.queue.is_empty() && start.elapsed() < Duration::from_secs(1) {
            if self.flush().is_err() {
                return;
            }
            let mut fds = [poll_fd(self.conn.as_fd(), libc::POLLOUT)];
            let _ = poll_timeout(&mut fds, 100);
        }
    }
}

/// Signals taken from an fd instead of handlers (blocked in this thread; attach runs before
/// any other thread exists).
struct SignalFd {
    fd: OwnedFd,
}

impl SignalFd {
    fn new(signals: &[i32]) -> std::io::Result<SignalFd> {
        let set = sigset(signals);
        // SAFETY: `set` is an initialised signal set; the old mask is not wanted.
        let rc = unsafe { libc::pthread_sigmask(libc::SIG_BLOCK, &set, std::ptr::null_mut()) };
        if rc != 0 {
            return Err(std::io::Error::from_raw_os_error(rc));
        }
        // SAFETY: signalfd reads the set and returns a new fd or -1.
        let fd = unsafe { libc::signalfd(-1, &set, libc::SFD_CLOEXEC | libc::SFD_NONBLOCK) };
        if fd < 0 {
            return Err(std::io::Error::last_os_error());
        }
        // SAFETY: signalfd just returned this fd; nothing else owns it.
        let fd = unsafe { OwnedFd::from_raw_fd(fd) };
        Ok(SignalFd { fd })
    }

    /// The next pending signal, if any.
    fn read(&self) -> Option<i32> {
        let mut info = [0u8; std::mem::size_of::<libc::signalfd_siginfo>()];
        match rustix::io::read(&self.fd, &mut info) {
            // ssi_signo is the struct's first field, a u32.
            Ok(n) if n == info.len() => {
                Some(u32::from_ne_bytes([info[0], info[1], info[2], info[3]]) as i32)
            }
            _ => None,
        }
    }
}

fn sigset(signals: &[i32]) -> libc::sigset_t {
    let mut set = std::mem::MaybeUninit::<libc::sigset_t>::uninit();
    // SAFETY: sigemptyset initialises the set; sigaddset takes valid signal numbers.
    unsafe {
        libc::sigemptyset(set.as_mut_ptr());
        for &sig in signals {
            libc::sigaddset(set.as_mut_ptr(), sig);
        }
        set.assume_init()
    }
}

fn poll_fd(fd: BorrowedFd<'_>, events: i16) -> libc::pollfd {
    libc::pollfd {
        fd: fd.as_raw_fd(),
        events,
        revents: 0,
    }
}

/// Waits without a timeout.
fn poll(fds: &mut [libc::pollfd]) -> std::io::Result<()> {
    poll_timeout(fds, -1)
}

fn poll_timeout(fds: &mut [libc::pollfd], timeout_ms: i32) -> std::io::Result<()> {
    // SAFETY: fds points at fds.len() initialised pollfd structs.
    let rc = unsafe { libc::poll(fds.as_mut_ptr(), fds.len() as libc::nfds_t, timeout_ms) };
    if rc < 0 {
        let e = std::io::Error::last_os_error();
        if e.kind() != ErrorKind::Interrupted {
            return Err(e);
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_round_trip() {
        let mut wire = protocol::header(protocol::STDOUT, 3).to_vec();
        wire.extend_from_slice(b"abc");
        wire.extend_from_slice(&protocol::header(protocol::EXIT, 4));
        assert_eq!(protocol::split(&wire[..6]), None, "incomplete");
        let (kind, payload, used) = protocol::split(&wire).unwrap();
        assert_eq!((kind, payload, used), (protocol::STDOUT, &b"abc"[..], 8));
        assert_eq!(
            protocol::split(&wire[used..]),
            None,
            "exit's payload is missing"
        );
    }
}
