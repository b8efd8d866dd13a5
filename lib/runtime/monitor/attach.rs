//! The monitor's side of `attach`: clients on the container's Unix socket get its output as
//! it comes and may send input and window sizes (the frames are in `protocol.rs`).
//!
//! Nothing a client does may block or kill the container or the monitor: every socket is
//! non-blocking, a client whose unsent output passes [`OUT_LIMIT`] is dropped, a client
//! that goes away is forgotten, and input waits in a bounded buffer (clients are not read
//! while it is full) until the container takes it.

use std::fs::File;
use std::io::{ErrorKind, Read, Write};
use std::os::fd::{AsRawFd, FromRawFd, IntoRawFd};
use std::os::unix::net::{UnixListener, UnixStream};

use crate::protocol;
use crate::sys;

/// Unsent output a client may fall behind by before it is dropped.
const OUT_LIMIT: usize = 64 * 1024;
/// Clients' input not yet taken by the container.
const INPUT_LIMIT: usize = 64 * 1024;
/// Clients at once; more are refused (closed at once).
const MAX_CLIENTS: usize = 16;

pub struct Server {
    listener: UnixListener,
    path: String,
    clients: Vec<Client>,
    /// Where stdin frames go (`-i`): a pipe to the container's stdin or its terminal.
    input: Option<Input>,
    /// The terminal's master (`-t`), for window sizes; owned by the output stream.
    pty: Option<i32>,
    hello: [u8; protocol::HEADER + 2],
    /// A frame being sent to every client.
    frame: Vec<u8>,
    /// Clients were attached at the last look.
    busy: bool,
    /// An fd held in reserve: out of fds (EMFILE), it is closed to accept and refuse the
    /// waiting client, or the listener would stay readable and the loop spin.
    spare: Option<File>,
}

struct Client {
    stream: UnixStream,
    /// An incomplete frame from the client.
    inbuf: Vec<u8>,
    /// Output the socket did not take yet.
    out: Vec<u8>,
    /// Its sending half is open.
    reading: bool,
    dead: bool,
}

struct Input {
    file: File,
    pending: Vec<u8>,
    open: bool,
    /// A client ended the input: closed once `pending` is written.
    ending: bool,
}

impl Server {
    pub fn new(listener: File, path: String, input: Option<File>, pty: Option<i32>) -> Server {
        // SAFETY: berth-runtime passed this fd as a listening Unix socket, ours alone.
        let listener = unsafe { UnixListener::from_raw_fd(listener.into_raw_fd()) };
        let _ = listener.set_nonblocking(true);
        let input = input.map(|file| {
            set_nonblocking(file.as_raw_fd());
            Input {
                file,
                pending: Vec::new(),
                open: true,
                ending: false,
            }
        });
        let mut flags = 0;
        if pty.is_some() {
            flags |= protocol::HELLO_TTY;
        }
        if input.is_some() {
            flags |= protocol::HELLO_STDIN;
        }
        let mut hello = [0u8; protocol::HEADER + 2];
        hello[..protocol::HEADER].copy_from_slice(&protocol::header(protocol::HELLO, 2));
        hello[protocol::HEADER..].copy_from_slice(&[protocol::VERSION, flags]);
        Server {
            listener,
            path,
            clients: Vec::new(),
            input,
            pty,
            hello,
            frame: Vec::new(),
            busy: false,
            spare: File::open("/dev/null").ok(),
        }
    }

    /// Adds what the server waits for to the poll set. The idle case (no client, no input
    /// pending) is inlined into the supervision loop, so a monitor nobody attaches to faults
    /// in none of the code below (see `trim_resident_text`).
    #[inline(always)]
    pub fn watch(&self, fds: &mut Vec<sys::PollFd>) {
        fds.push(sys::PollFd {
            fd: self.listener.as_raw_fd(),
            events: sys::POLLIN,
            revents: 0,
        });
        if !self.idle() {
            self.watch_busy(fds);
        }
    }

    #[inline(always)]
    fn idle(&self) -> bool {
        self.clients.is_empty() && self.input.as_ref().is_none_or(|i| i.pending.is_empty())
    }

    #[inline(never)]
    fn watch_busy(&self, fds: &mut Vec<sys::PollFd>) {
        let fd = |fd: i32, events: i16| sys::PollFd {
            fd,
            events,
            revents: 0,
        };
        let mut input_full = false;
        if let Some(input) = self.input.as_ref().filter(|i| !i.pending.is_empty()) {
            fds.push(fd(input.file.as_raw_fd(), sys::POLLOUT));
            input_full = input.pending.len() >= INPUT_LIMIT;
        }
        for client in &self.clients {
            let mut events = 0;
            if client.reading && !input_full {
                events |= sys::POLLIN;
            }
            if !client.out.is_empty() {
                events |= sys::POLLOUT;
            }
            // Watched even with no events: a hang-up is always reported.
            fds.push(fd(client.stream.as_raw_fd(), events));
        }
    }

    /// Handles what poll reported: new clients, their frames and hang-ups, pending writes.
    #[inline(always)]
    pub fn serve(&mut self, fds: &[sys::PollFd]) {
        let listener = self.listener.as_raw_fd();
        if !self.idle() || fds.iter().any(|p| p.fd == listener && p.revents != 0) {
            self.serve_busy(fds);
        }
    }

    #[inline(never)]
    fn serve_busy(&mut self, fds: &[sys::PollFd]) {
        // The clients poll saw first; a client accepted now may have the number of an fd
        // closed since (one dropped for falling behind), whose poll result is not its own.
        let mut clients = std::mem::take(&mut self.clients);
        for client in &mut clients {
            let events = sys::revents(fds, client.stream.as_raw_fd());
            if events & (sys::POLLHUP | sys::POLLERR) != 0 {
                // What it sent before it went still counts: its last input, a stdin end.
                if events & sys::POLLIN != 0 {
                    self.receive_rest(client);
                }
                client.dead = true;
                continue;
            }
            if events & sys::POLLOUT != 0 {
                client.flush();
            }
            if events & sys::POLLIN != 0 {
                self.receive(client);
            }
        }
        self.forget_dead(&mut clients);
        self.clients = clients;
        if sys::revents(fds, self.listener.as_raw_fd()) != 0 {
            self.accept();
        }
        self.flush_input();
    }

    /// Passes pending input on; once a client ended the input and all of it is written,
    /// closes our write end: the container's end of input.
    fn flush_input(&mut self) {
        if let Some(input) = self.input.as_mut() {
            input.flush();
            if input.ending && (input.pending.is_empty() || !input.open) {
                self.input = None;
            }
        }
    }

    /// True once each time the last client has gone: the code that served clients may
    /// leave the resident set again.
    #[inline(always)]
    pub fn left_idle(&mut self) -> bool {
        let busy = !self.clients.is_empty();
        if busy == self.busy {
            return false;
        }
        self.busy = busy;
        if !busy {
            self.frame = Vec::new();
        }
        !busy
    }

    /// Sends output of stream `kind` to every client; drops those that fell too far behind.
    #[inline(always)]
    pub fn broadcast(&mut self, kind: u8, data: &[u8]) {
        if !self.clients.is_empty() {
            self.broadcast_busy(kind, data);
        }
    }

    #[inline(never)]
    fn broadcast_busy(&mut self, kind: u8, data: &[u8]) {
        self.frame.clear();
        self.frame
            .extend_from_slice(&protocol::header(kind, data.len()));
        self.frame.extend_from_slice(data);
        let mut clients = std::mem::take(&mut self.clients);
        for client in &mut clients {
            client.send(&self.frame);
        }
        self.forget_dead(&mut clients);
        self.clients = clients;
    }

    /// Drops the clients found gone, after acting on what each sent before it went: a
    /// client that writes its last input and closes at once may be noticed by a failed
    /// write before its frames are read.
    fn forget_dead(&mut self, clients: &mut Vec<Client>) {
        for client in clients.iter_mut().filter(|c| c.dead) {
            self.receive_rest(client);
        }
        clients.retain(|c| !c.dead);
    }

    /// The container has exited (and its exit is recorded): takes the clients still
    /// waiting to be accepted, removes the socket, and sends everyone the rest of the
    /// output and the exit status (for at most a second), then closes.
    pub fn finish(mut self, code: i32) {
        self.accept();
        let _ = std::fs::remove_file(&self.path);
        let Server {
            listener,
            mut clients,
            ..
        } = self;
        drop(listener);
        let mut exit = protocol::header(protocol::EXIT, 4).to_vec();
        exit.extend_from_slice(&code.to_be_bytes());
        for client in &mut clients {
            client.send(&exit);
        }
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(1);
        loop {
            clients.retain(|c| !c.dead && !c.out.is_empty());
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            if clients.is_empty() || left.is_zero() {
                return;
            }
            let mut fds: Vec<sys::PollFd> = clients
                .iter()
                .map(|c| sys::PollFd {
                    fd: c.stream.as_raw_fd(),
                    events: sys::POLLOUT,
                    revents: 0,
                })
                .collect();
            // SAFETY: fds points at fds.len() initialised pollfd structs.
            unsafe {
                sys::poll(
                    fds.as_mut_ptr(),
                    fds.len() as u64,
                    left.as_millis() as i32 + 1,
                )
            };
            for client in &mut clients {
                match sys::revents(&fds, client.stream.as_raw_fd()) {
                    0 => {}
                    events if events & sys::POLLOUT != 0 => client.flush(),
                    _ => client.dead = true,
                }
            }
        }
    }

    fn accept(&mut self) {
        loop {
            let stream = match self.listener.accept() {
                Ok((stream, _)) => stream,
                Err(e) if e.kind() == ErrorKind::Interrupted => continue,
                Err(e) if matches!(e.raw_os_error(), Some(sys::EMFILE | sys::ENFILE)) => {
                    // Refuse the waiting client with the spare fd's slot.
                    let Some(spare) = self.spare.take() else {
                        return;
                    };
                    drop(spare);
                    drop(self.listener.accept());
                    self.spare = File::open("/dev/null").ok();
                    continue;
                }
                Err(_) => return,
            };
            // The socket is root's (0600); its peer must be too, or this monitor's user.
            if !peer_allowed(&stream) || self.clients.len() >= MAX_CLIENTS {
                continue;
            }
            if stream.set_nonblocking(true).is_err() {
                continue;
            }
            let mut client = Client {
                stream,
                inbuf: Vec::new(),
                out: Vec::new(),
                reading: true,
                dead: false,
            };
            client.send(&self.hello);
            if client.dead {
                self.receive_rest(&mut client);
            } else {
                self.clients.push(client);
            }
        }
    }

    /// A client that hung up: what is left in its socket (a few reads at most; the kernel's
    /// buffer bounds it).
    fn receive_rest(&mut self, client: &mut Client) {
        for _ in 0..64 {
            if !client.reading || !self.receive(client) {
                return;
            }
        }
    }

    /// Reads what the client sent and acts on each whole frame; false when nothing came.
    fn receive(&mut self, client: &mut Client) -> bool {
        let mut buf = [0u8; protocol::HEADER + protocol::MAX_CLIENT_PAYLOAD];
        match client.stream.read(&mut buf) {
            Ok(0) => {
                client.reading = false;
                return false;
            }
            Ok(n) => client.inbuf.extend_from_slice(&buf[..n]),
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::Interrupted) => {
                return false
            }
            Err(_) => {
                client.dead = true;
                return false;
            }
        }
        let mut used = 0;
        while client.inbuf.len() - used >= protocol::HEADER {
            let rest = &client.inbuf[used..];
            if protocol::payload_len(rest) > protocol::MAX_CLIENT_PAYLOAD {
                client.dead = true;
                return false;
            }
            let Some((kind, payload, len)) = protocol::split(rest) else {
                break;
            };
            match kind {
                protocol::STDIN => {
                    if let Some(input) = self.input.as_mut().filter(|i| i.open && !i.ending) {
                        input.pending.extend_from_slice(payload);
                    }
                }
                // A terminal has no end of input short of hanging up, which would end the
                // container's session: with `-t` the frame is ignored, as dockerd does.
                protocol::STDIN_END if self.pty.is_none() => {
                    if let Some(input) = self.input.as_mut() {
                        input.ending = true;
                    }
                }
                protocol::RESIZE if payload.len() == 4 => {
                    if let Some(pty) = self.pty {
                        let rows = u16::from_be_bytes([payload[0], payload[1]]);
                        let cols = u16::from_be_bytes([payload[2], payload[3]]);
                        resize(pty, rows, cols);
                    }
                }
                _ => {}
            }
            used += len;
        }
        client.inbuf.drain(..used);
        if self.input.as_ref().is_some_and(|i| i.ending) {
            // Now, not at the next poll: with nothing pending, none would come for it.
            self.flush_input();
        }
        true
    }
}

impl Client {
    /// Writes what the socket takes of `frame` now and queues the rest.
    fn send(&mut self, frame: &[u8]) {
        if self.dead {
            return;
        }
        let mut written = 0;
        if self.out.is_empty() {
            match write_some(&mut self.stream, frame) {
                Some(n) => written = n,
                None => {
                    self.dead = true;
                    return;
                }
            }
        }
        let rest = &frame[written..];
        if self.out.len() + rest.len() > OUT_LIMIT {
            self.dead = true;
            return;
        }
        self.out.extend_from_slice(rest);
    }

    fn flush(&mut self) {
        match write_some(&mut self.stream, &self.out) {
            Some(n) if n == self.out.len() => self.out = Vec::new(),
            Some(n) => {
                self.out.drain(..n);
            }
            None => self.dead = true,
        }
    }
}

/// Writes as much of `data` as the non-blocking socket takes; None if the client is gone.
fn write_some(stream: &mut UnixStream, data: &[u8]) -> Option<usize> {
    let mut written = 0;
    while written < data.len() {
        match stream.write(&data[written..]) {
            Ok(0) => return None,
            Ok(n) => written += n,
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(e) if e.kind() == ErrorKind::WouldBlock => break,
            Err(_) => return None,
        }
    }
    Some(written)
}

impl Input {
    fn flush(&mut self) {
        while self.open && !self.pending.is_empty() {
            match self.file.write(&self.pending) {
                Ok(n) => {
                    self.pending.drain(..n);
                }
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(e) if e.kind() == ErrorKind::WouldBlock => return,
                // EPIPE: the container closed its stdin; what comes later is dropped.
                Err(_) => self.open = false,
            }
        }
        if !self.open || self.pending.is_empty() {
            self.pending = Vec::new();
        }
    }
}

fn peer_allowed(stream: &UnixStream) -> bool {
    let mut cred = sys::UCred {
        pid: 0,
        uid: u32::MAX,
        gid: u32::MAX,
    };
    let mut len = std::mem::size_of::<sys::UCred>() as u32;
    // SAFETY: SO_PEERCRED writes at most `len` bytes into `cred`, a ucred struct.
    let rc = unsafe {
        sys::getsockopt(
            stream.as_raw_fd(),
            sys::SOL_SOCKET,
            sys::SO_PEERCRED,
            (&mut cred as *mut sys::UCred).cast(),
            &mut len,
        )
    };
    // SAFETY: geteuid has no side effects.
    rc == 0 && (cred.uid == 0 || cred.uid == unsafe { sys::geteuid() })
}

fn set_nonblocking(fd: i32) {
    // SAFETY: fcntl on an fd we own; F_GETFL/F_SETFL only read and set its status flags.
    unsafe {
        let flags = sys::fcntl(fd, sys::F_GETFL);
        if flags >= 0 {
            sys::fcntl(fd, sys::F_SETFL, flags | sys::O_NONBLOCK);
        }
    }
}

/// Sets the terminal's window size; the kernel signals its foreground process group.
fn resize(pty: i32, rows: u16, cols: u16) {
    let size = sys::WinSize {
        rows,
        cols,
        xpixel: 0,
        ypixel: 0,
    };
    // SAFETY: TIOCSWINSZ reads a winsize struct from the pointer.
    unsafe { sys::ioctl(pty, sys::TIOCSWINSZ, &size as *const sys::WinSize) };
}
