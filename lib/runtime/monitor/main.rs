//! `berth-monitor`: what a detached container's monitor becomes once the container runs.
//! The forked berth-run that started the container execs this small static program (from a
//! file shared by all monitors, see `src/monitor.rs`), so each container costs a few hundred
//! kilobytes instead of a copy of berth-run. It stays the container's parent: it copies the
//! container's output into the json-file log and to the clients attached to its socket
//! (`attach.rs`, `berth-run attach`), passes their input to the container's stdin or
//! terminal, waits for the exit, writes it to `exit.json`, then execs
//! `berth-run __teardown ID` for the heavy part. std only, on purpose: built by `build.rs`
//! with plain rustc.
//!
//! Invoked only by berth-runtime:
//! `berth-monitor PID EXIT_FILE LOG_FILE BERTH_RUN ROOT RUN_DIR ID NAME=VALUE…`
//! where each `NAME=VALUE` is one of (the fds inherited, this process's alone):
//! - `stdout=FD`, `stderr=FD`: the read ends of the container's output pipes;
//! - `pty=FD`: with `-t`, the terminal's master: its output is logged as stdout, window
//!   sizes are set on it;
//! - `stdin=FD`: with `-i`, where attached clients' input goes (the write end of the
//!   container's stdin pipe, or a second fd on the terminal's master);
//! - `attach=FD`, `attach-path=PATH`: the listening attach socket and its path (removed when
//!   the container has exited).

mod attach;
#[allow(dead_code)]
mod protocol;

use std::fs::{File, OpenOptions};
use std::io::{ErrorKind, Read, Write};
use std::os::fd::{AsRawFd, FromRawFd};
use std::os::unix::process::CommandExt;

/// One output of the container.
struct Stream {
    /// `stdout` or `stderr`, as the log names it.
    name: &'static str,
    /// The attach protocol's frame kind for it.
    kind: u8,
    file: File,
    pending: Vec<u8>,
    open: bool,
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.len() < 8 {
        eprintln!("berth-monitor: started by berth-run only (see its source)");
        std::process::exit(2);
    }
    let pid: i32 = args[1].parse().expect("container pid");
    let (exit_file, log_file, berth_run) = (&args[2], &args[3], &args[4]);
    let (root, run_dir, id) = (&args[5], &args[6], &args[7]);
    let mut streams = Vec::new();
    let (mut input, mut pty, mut listener, mut socket_path) = (None, None, None, None);
    for (name, value) in args[8..].iter().filter_map(|a| a.split_once('=')) {
        if name == "attach-path" {
            socket_path = Some(value.to_string());
            continue;
        }
        let Ok(fd) = value.parse::<i32>() else {
            continue;
        };
        // SAFETY: berth-runtime passes these fds open, for this process alone to own.
        let file = unsafe { File::from_raw_fd(fd) };
        let stream = |name, kind, file| Stream {
            name,
            kind,
            file,
            pending: Vec::new(),
            open: true,
        };
        match name {
            "stdout" => streams.push(stream("stdout", protocol::STDOUT, file)),
            "stderr" => streams.push(stream("stderr", protocol::STDERR, file)),
            "pty" => {
                pty = Some(fd);
                streams.push(stream("stdout", protocol::STDOUT, file));
            }
            "stdin" => input = Some(file),
            "attach" => listener = Some(file),
            _ => drop(file),
        }
    }
    let mut server = match (listener, socket_path) {
        (Some(listener), Some(path)) => {
            Some(attach::Server::new(listener, path, input.take(), pty))
        }
        _ => None,
    };
    let mut log = OpenOptions::new()
        .create(true)
        .append(true)
        .open(log_file)
        .ok();
    trim_resident_text();
    let code = supervise(pid, &mut streams, &mut log, &mut server);
    record_exit(exit_file, code);
    if let Some(server) = server {
        server.finish(code);
    }
    drop(streams);
    let err = std::process::Command::new(berth_run)
        .args(["--root", root, "--run-dir", run_dir, "__teardown", id])
        .exec();
    eprintln!("berth-monitor: cannot exec {berth_run} for the teardown: {err}");
    std::process::exit(1);
}

/// Copies output (and attached clients' input) until every stream is closed and the
/// container has exited; returns its status the docker way.
fn supervise(
    pid: i32,
    streams: &mut [Stream],
    log: &mut Option<File>,
    server: &mut Option<attach::Server>,
) -> i32 {
    // A pidfd turns readable when the container exits, so the loop sleeps until there is
    // output, a client or an exit; without one (kernels before 5.3), it wakes every 50 ms.
    // SAFETY: pidfd_open takes a pid and flags and returns a new fd or -1.
    let pidfd = unsafe { sys::syscall(sys::SYS_PIDFD_OPEN, pid as i64, 0i64) } as i32;
    let timeout = if pidfd >= 0 { -1 } else { 50 };
    let mut status = None;
    let mut fds: Vec<sys::PollFd> = Vec::new();
    loop {
        if status.is_none() {
            status = reap(pid);
        }
        if status.is_some() && streams.iter().all(|s| !s.open) {
            return status.unwrap_or(125);
        }
        fds.clear();
        fds.extend(streams.iter().filter(|s| s.open).map(|s| sys::PollFd {
            fd: s.file.as_raw_fd(),
            events: sys::POLLIN,
            revents: 0,
        }));
        if status.is_none() && pidfd >= 0 {
            fds.push(sys::PollFd {
                fd: pidfd,
                events: sys::POLLIN,
                revents: 0,
            });
        }
        if let Some(server) = server.as_mut() {
            server.watch(&mut fds);
        }
        // SAFETY: fds points at fds.len() initialised pollfd structs.
        unsafe { sys::poll(fds.as_mut_ptr(), fds.len() as u64, timeout) };
        for stream in streams.iter_mut().filter(|s| s.open) {
            if sys::revents(&fds, stream.file.as_raw_fd()) != 0 {
                pump(stream, log, server);
            }
        }
        if let Some(server) = server.as_mut() {
            server.serve(&fds);
            if server.left_idle() {
                trim_resident_text();
            }
        }
    }
}

/// Drops this program's code pages from the page tables once start-up is over: most of the
/// static binary (argument parsing, glibc's start-up, std's formatting) never runs again, and
/// the supervision loop faults back in only the few pages it uses, so a container's monitor
/// stays well under 1 MB resident. The pages stay in the page cache, shared by all monitors.
/// Done again each time the last attached client has gone.
fn trim_resident_text() {
    // The linker defines both symbols around the text segment; only their addresses are taken.
    let (start, end) = (
        std::ptr::addr_of!(sys::__executable_start) as usize,
        std::ptr::addr_of!(sys::etext) as usize,
    );
    let page = 4096;
    let start = start & !(page - 1);
    let len = (end - start + page - 1) & !(page - 1);
    // SAFETY: MADV_DONTNEED on our own read-only, file-backed text mapping only unmaps pages
    // that fault back in unchanged from the file when they run again.
    unsafe { sys::madvise(start as *mut u8, len, sys::MADV_DONTNEED) };
}

fn reap(pid: i32) -> Option<i32> {
    let mut status = 0;
    // SAFETY: waitpid writes the status of our own child.
    let rc = unsafe { sys::waitpid(pid, &mut status, sys::WNOHANG) };
    if rc == pid {
        // The wait status: low 7 bits the terminating signal (0 for an exit), bits 8-15 the code.
        let signal = status & 0x7f;
        return Some(if signal != 0 {
            128 + signal
        } else {
            (status >> 8) & 0xff
        });
    }
    (rc < 0).then_some(125)
}

/// Reads what the stream has: into the log a line at a time, and to the attached clients as
/// it comes.
fn pump(stream: &mut Stream, log: &mut Option<File>, server: &mut Option<attach::Server>) {
    let mut buf = [0u8; 8192];
    match stream.file.read(&mut buf) {
        // A terminal's master is non-blocking when clients may write to it.
        Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::Interrupted) => {}
        // EIO from a terminal's master once the last slave fd closed.
        Ok(0) | Err(_) => {
            stream.open = false;
            let rest = std::mem::take(&mut stream.pending);
            if !rest.is_empty() {
                write_line(log, stream.name, &rest);
            }
        }
        Ok(n) => {
            if let Some(server) = server.as_mut() {
                server.broadcast(stream.kind, &buf[..n]);
            }
            stream.pending.extend_from_slice(&buf[..n]);
            while let Some(end) = stream.pending.iter().position(|&b| b == b'\n') {
                let line: Vec<u8> = stream.pending.drain(..=end).collect();
                write_line(log, stream.name, &line);
            }
        }
    }
}

/// One line of Docker's json-file log.
fn write_line(log: &mut Option<File>, stream: &str, text: &[u8]) {
    let Some(file) = log else { return };
    let line = format!(
        "{{\"log\":\"{}\",\"stream\":\"{}\",\"time\":\"{}\"}}\n",
        json_escape(&String::from_utf8_lossy(text)),
        json_escape(stream),
        now_rfc3339()
    );
    let _ = file.write_all(line.as_bytes());
}

/// The exit, for berth-runtime to merge into `run.json`; written whole or not at all.
fn record_exit(exit_file: &str, code: i32) {
    let text = format!(
        "{{\"exit_code\":{code},\"finished\":\"{}\"}}\n",
        now_rfc3339()
    );
    let tmp = format!("{exit_file}.{}", std::process::id());
    if std::fs::write(&tmp, text).is_ok() {
        let _ = std::fs::rename(&tmp, exit_file);
    }
}

fn json_escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 2);
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out
}

/// `2026-11-29T03:04:05.123456789Z` for now.
fn now_rfc3339() -> String {
    let since = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    let secs = since.as_secs() as i64;
    let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    // Howard Hinnant's civil_from_days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{:09}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60,
        since.subsec_nanos()
    )
}

mod sys {
    #[repr(C)]
    pub struct PollFd {
        pub fd: i32,
        pub events: i16,
        pub revents: i16,
    }
    pub const POLLIN: i16 = 1;
    pub const POLLOUT: i16 = 4;
    pub const POLLERR: i16 = 8;
    pub const POLLHUP: i16 = 0x10;
    pub const WNOHANG: i32 = 1;
    pub const MADV_DONTNEED: i32 = 4;
    pub const SYS_PIDFD_OPEN: i64 = 434;
    pub const F_GETFL: i32 = 3;
    pub const F_SETFL: i32 = 4;
    pub const O_NONBLOCK: i32 = 0o4000;
    pub const TIOCSWINSZ: u64 = 0x5414;
    pub const SOL_SOCKET: i32 = 1;
    pub const SO_PEERCRED: i32 = 17;
    pub const EMFILE: i32 = 24;
    pub const ENFILE: i32 = 23;

    #[repr(C)]
    pub struct WinSize {
        pub rows: u16,
        pub cols: u16,
        pub xpixel: u16,
        pub ypixel: u16,
    }

    #[repr(C)]
    pub struct UCred {
        pub pid: i32,
        pub uid: u32,
        pub gid: u32,
    }

    /// What poll reported for `fd` (0 if it was not watched).
    pub fn revents(fds: &[PollFd], fd: i32) -> i16 {
        fds.iter().find(|p| p.fd == fd).map_or(0, |p| p.revents)
    }

    extern "C" {
        pub static __executable_start: u8;
        pub static etext: u8;
        pub fn madvise(addr: *mut u8, len: usize, advice: i32) -> i32;
        pub fn syscall(number: i64, ...) -> i64;
        pub fn poll(fds: *mut PollFd, nfds: u64, timeout: i32) -> i32;
        pub fn waitpid(pid: i32, status: *mut i32, options: i32) -> i32;
        pub fn fcntl(fd: i32, cmd: i32, ...) -> i32;
        pub fn ioctl(fd: i32, request: u64, ...) -> i32;
        pub fn getsockopt(fd: i32, level: i32, name: i32, value: *mut u8, len: *mut u32) -> i32;
        pub fn geteuid() -> u32;
    }
}
