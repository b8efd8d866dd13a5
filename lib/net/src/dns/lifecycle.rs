//! Starting a network's DNS server as a detached process, stopping it, and the entry point
//! of the hidden subcommand that runs it.
//!
//! Detaching is a double fork: the spawned child (std's `Command`) makes a new session and
//! forks again in `pre_exec`; the intermediate exits at once and the caller reaps it before
//! `ensure_running` returns, while the grandchild execs the server and is reparented to
//! init (or to the nearest subreaper). So the caller, which may live long, never has a
//! server to reap, and the server has no controlling terminal. The server reports through
//! a pipe whose write end it inherits (its number in `BERTH_DNS_READY_FD`): "ok" once its
//! sockets are bound, or its error.

use std::ffi::c_int;
use std::fs::{File, OpenOptions};
use std::io::Read;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use berth_common::{FileLock, LockMode};
use rustix::event::{poll, PollFd, PollFlags, Timespec};
use rustix::io::Errno;
use rustix::pipe::{pipe_with, PipeFlags};
use rustix::process::{kill_process, Pid, Signal};

use super::pidfile::{is_running, read_pid};
use super::{DnsError, ServerConfig};

/// The environment variable that gives the server the number of its ready fd.
pub const READY_FD_ENV: &str = "BERTH_DNS_READY_FD";
/// How long `ensure_running` waits for the server to bind.
const READY_TIMEOUT: Duration = Duration::from_secs(10);
/// How long `stop` waits after SIGTERM, then after SIGKILL.
const STOP_GRACE: Duration = Duration::from_secs(2);

/// `<pid_file><suffix>`: the start lock and the server's log live next to the pid file.
fn next_to(pid_file: &Path, suffix: &str) -> PathBuf {
    let mut name = pid_file.as_os_str().to_owned();
    name.push(suffix);
    PathBuf::from(name)
}

/// Starts a server for `config` unless one runs (its pid file's flock is held): runs
/// `program` with `args` and the config as one JSON argument, detached (new session, stdin
/// and stdout on /dev/null, stderr appended to `<pid_file>.log`, reparented away from the
/// caller), and waits until it has bound its sockets; its error if it could not. Two
/// callers at once start one server: the check and the start hold `<pid_file>.lock`.
pub fn ensure_running(
    program: &Path,
    args: &[String],
    config: &ServerConfig,
) -> Result<(), DnsError> {
    let _start_lock = FileLock::acquire(&next_to(&config.pid_file, ".lock"), LockMode::Exclusive)?;
    if is_running(&config.pid_file) {
        return Ok(());
    }
    let log_path = next_to(&config.pid_file, ".log");
    let spawn_err = |source| DnsError::Spawn {
        network: config.network.clone(),
        program: program.to_owned(),
        source,
    };
    let log = OpenOptions::new()
        .create(true)
        .append(true)
        .open(&log_path)
        .map_err(spawn_err)?;
    let json = serde_json::to_string(config).map_err(DnsError::Config)?;
    // both ends close-on-exec here, so no other child of this process inherits them; the
    // server's copy of the write end is made inheritable in its pre_exec
    let (ready_read, ready_write) =
        pipe_with(PipeFlags::CLOEXEC).map_err(|e| spawn_err(e.into()))?;
    let ready_fd = ready_write.as_raw_fd();
    let mut command = Command::new(program);
    command
        .args(args)
        .arg(&json)
        .env(READY_FD_ENV, ready_fd.to_string())
        .current_dir("/")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::from(log));
    // SAFETY: `detach` only makes async-signal-safe system calls (setsid, fcntl,
    // close_range, fork, _exit) and touches no memory shared with the parent, as required
    // between fork and exec.
    unsafe {
        command.pre_exec(move || detach(ready_fd));
    }
    let mut intermediate = command.spawn().map_err(spawn_err)?;
    // the intermediate exits right after forking the server: reap it now
    let _ = intermediate.wait();
    drop(command);
    drop(ready_write);
    let message = read_ready(ready_read).map_err(spawn_err)?;
    match message.as_deref() {
        Some("ok") => {
            tracing::debug!(network = %config.network, "DNS server started");
            Ok(())
        }
        Some(error) => Err(start_err(config, &log_path, error.to_string())),
        None => Err(start_err(
            config,
            &log_path,
            "it exited before binding its sockets".into(),
        )),
    }
}

fn start_err(config: &ServerConfig, log: &Path, message: String) -> DnsError {
    DnsError::Start {
        network: config.network.clone(),
        message,
        log: log.to_owned(),
    }
}

/// In the spawned child, between fork and exec: a new session, the ready fd inheritable and
/// every other fd above stderr close-on-exec, then a second fork; the first child exits.
fn detach(ready_fd: c_int) -> std::io::Result<()> {
    // SAFETY: setsid has no memory effects; the child of a fork is never a group leader.
    if unsafe { libc::setsid() } < 0 {
        return Err(std::io::Error::last_os_error());
    }
    // Best effort (Linux 5.11+): fds the caller opened without O_CLOEXEC do not leak into
    // the server. std's own exec-error pipe is already close-on-exec, so it keeps working.
    // SAFETY: close_range with CLOSE_RANGE_CLOEXEC only sets flags on this process's fds.
    unsafe {
        libc::syscall(
            libc::SYS_close_range,
            3 as libc::c_long,
            libc::c_long::from(u32::MAX),
            libc::c_long::from(libc::CLOSE_RANGE_CLOEXEC),
        )
    };
    // SAFETY: F_SETFD on an fd this process owns (the pipe's write end, inherited).
    if unsafe { libc::fcntl(ready_fd, libc::F_SETFD, 0) } < 0 {
        return Err(std::io::Error::last_os_error());
    }
    // SAFETY: this process is single-threaded (the child of std's fork), so forking again
    // is sound; the parent side only calls _exit.
    match unsafe { libc::fork() } {
        -1 => Err(std::io::Error::last_os_error()),
        0 => Ok(()),
        _ => {
            // SAFETY: _exit ends the intermediate without running any destructor or
            // atexit handler of the parent's copy.
            unsafe { libc::_exit(0) }
        }
    }
}

/// Reads the server's ready line until the pipe closes; None if it closed with nothing.
fn read_ready(ready: OwnedFd) -> std::io::Result<Option<String>> {
    let deadline = Instant::now() + READY_TIMEOUT;
    let mut file = File::from(ready);
    let mut text = Vec::new();
    let mut chunk = [0u8; 512];
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Ok(Some(format!(
                "not ready after {} s",
                READY_TIMEOUT.as_secs()
            )));
        }
        let timeout = Timespec::try_from(left).unwrap_or(Timespec {
            tv_sec: 1,
            tv_nsec: 0,
        });
        let mut fds = [PollFd::new(&file, PollFlags::IN)];
        match poll(&mut fds, Some(&timeout)) {
            Ok(0) | Err(Errno::INTR) => continue,
            Ok(_) => {}
            Err(e) => return Err(e.into()),
        }
        match file.read(&mut chunk) {
            Ok(0) => break,
            Ok(n) if text.len() < 4096 => text.extend_from_slice(&chunk[..n]),
            Ok(_) => {}
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    let text = String::from_utf8_lossy(&text);
    let line = text.lines().next().unwrap_or("").trim();
    Ok((!line.is_empty()).then(|| line.to_string()))
}

/// Stops the server of `pid_file` if one runs: SIGTERM to the pid it holds (a live server:
/// its flock is held), up to 2 s for the flock to be released, then SIGKILL. Ok if none
/// runs.
pub fn stop(pid_file: &Path) -> Result<(), DnsError> {
    let stop_err = |message: String| DnsError::Stop {
        pid_file: pid_file.to_owned(),
        message,
    };
    if !is_running(pid_file) {
        return Ok(());
    }
    // a server writes its pid right after taking the lock: give it an instant
    let pid = wait_for(Duration::from_secs(1), || read_pid(pid_file))
        .ok_or_else(|| stop_err("it is locked but holds no pid".into()))?;
    if pid == std::process::id() as i32 {
        return Err(stop_err(format!("pid {pid} is this process")));
    }
    let pid = Pid::from_raw(pid).ok_or_else(|| stop_err(format!("invalid pid {pid}")))?;
    for signal in [Signal::TERM, Signal::KILL] {
        if !is_running(pid_file) {
            return Ok(());
        }
        match kill_process(pid, signal) {
            Ok(()) | Err(Errno::SRCH) => {}
            Err(e) => return Err(stop_err(format!("cannot signal pid {pid}: {e}"))),
        }
        if wait_for(STOP_GRACE, || (!is_running(pid_file)).then_some(())).is_some() {
            tracing::debug!(pid_file = %pid_file.display(), %pid, ?signal, "DNS server stopped");
            return Ok(());
        }
    }
    Err(stop_err(format!("pid {pid} still holds it after SIGKILL")))
}

/// Polls `f` until it gives something or `within` has passed.
fn wait_for<T>(within: Duration, mut f: impl FnMut() -> Option<T>) -> Option<T> {
    let deadline = Instant::now() + within;
    loop {
        if let Some(v) = f() {
            return Some(v);
        }
        if Instant::now() >= deadline {
            return None;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// The entry point of the hidden subcommand: the config as JSON, the ready fd from
/// `BERTH_DNS_READY_FD` (absent: no one waits).
pub fn serve_main(config_json: &str) -> Result<(), DnsError> {
    let config: ServerConfig = serde_json::from_str(config_json).map_err(DnsError::Config)?;
    super::serve(&config, ready_fd_from_env())
}

fn ready_fd_from_env() -> Option<OwnedFd> {
    let value = std::env::var(READY_FD_ENV).ok()?;
    let Some(fd) = value.parse::<c_int>().ok().filter(|fd| *fd > 2) else {
        tracing::warn!("ignoring {READY_FD_ENV}={value:?}: not a file descriptor above 2");
        return None;
    };
    // SAFETY: F_GETFD only queries the flags of `fd`, which may or may not be open.
    if unsafe { libc::fcntl(fd, libc::F_GETFD) } < 0 {
        tracing::warn!("ignoring {READY_FD_ENV}={fd}: not an open file descriptor");
        return None;
    }
    // SAFETY: the fd is open (checked above) and was passed to this process by
    // ensure_running for this one use; nothing else in this process owns it.
    Some(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// The real thing: `ensure_running` starts the test binary itself again, with libtest
/// selecting only `server_process` (an ignored test that is the server: it calls
/// `serve_main` with the config, the last argument), so the detaching, the ready pipe and
/// `stop` are exercised on a real, separate process. Every server started here is stopped
/// (by its pid, through `stop`) or exits idle before the test ends.
#[cfg(test)]
mod tests {
    use std::net::{Ipv4Addr, TcpListener};

    use hickory_proto::rr::RecordType;

    use super::*;
    use crate::dns::testutil::*;

    const SERVER_TEST: &str = "dns::lifecycle::tests::server_process";

    /// Not a test: the server process of the tests below. Run by hand, it does nothing.
    #[test]
    #[ignore = "the DNS server process that the lifecycle tests start"]
    fn server_process() {
        if std::env::var_os(READY_FD_ENV).is_none() {
            return;
        }
        let config = std::env::args().next_back().expect("the config argument");
        serve_main(&config).expect("the DNS server");
    }

    fn launcher() -> (PathBuf, Vec<String>) {
        let args = [
            "--exact",
            SERVER_TEST,
            "--ignored",
            "--nocapture",
            "--test-threads=1",
        ];
        (
            std::env::current_exe().unwrap(),
            args.iter().map(|a| a.to_string()).collect(),
        )
    }

    /// Stops the server of a pid file when the test ends, passed or not.
    struct StopOnDrop(PathBuf);

    impl Drop for StopOnDrop {
        fn drop(&mut self) {
            let _ = stop(&self.0);
        }
    }

    /// A test network with one container, `web` at 10.0.0.2.
    fn net_with_web() -> TestNet {
        let net = TestNet::new(Some(vec![]));
        net.add(&endpoint(
            "0123456789abcdef0123",
            "web",
            &[],
            [10, 0, 0, 2],
            &[],
        ));
        net
    }

    /// State, parent pid and session of a process, from /proc.
    fn proc_stat(pid: i32) -> Option<(char, i32, i32)> {
        let stat = procfs::process::Process::new(pid).ok()?.stat().ok()?;
        Some((stat.state, stat.ppid, stat.session))
    }

    fn own_pid() -> i32 {
        std::process::id() as i32
    }

    #[test]
    fn ensure_running_starts_one_detached_server_and_stop_stops_it() {
        let net = net_with_web();
        let _cleanup = StopOnDrop(net.config.pid_file.clone());
        let (program, args) = launcher();

        // two callers at once: one server
        let results: Vec<_> = std::thread::scope(|s| {
            let callers: Vec<_> = (0..2)
                .map(|_| s.spawn(|| ensure_running(&program, &args, &net.config)))
                .collect();
            callers.into_iter().map(|c| c.join().unwrap()).collect()
        });
        for result in results {
            result.unwrap();
        }
        assert!(is_running(net.pid_file()));
        let pid = read_pid(net.pid_file()).unwrap();
        assert_ne!(pid, own_pid());
        let (state, ppid, sid) = proc_stat(pid).unwrap();
        let (_, _, own_sid) = proc_stat(own_pid()).unwrap();
        assert_ne!(state, 'Z');
        assert_ne!(ppid, own_pid(), "not our child: nothing for us to reap");
        assert_ne!(sid, own_sid, "in a session of its own");

        let reply = ask_udp(
            Ipv4Addr::LOCALHOST,
            net.server_addr(),
            &query(1, "web", RecordType::A),
        )
        .unwrap();
        assert_eq!(a_records(&parse(&reply)), [Ipv4Addr::new(10, 0, 0, 2)]);

        // running: nothing started
        ensure_running(&program, &args, &net.config).unwrap();
        assert_eq!(read_pid(net.pid_file()), Some(pid));
        let log = std::fs::read_to_string(next_to(net.pid_file(), ".log")).unwrap_or_default();
        assert!(
            !log.contains("already runs") && !log.contains("panicked"),
            "{log}"
        );

        stop(net.pid_file()).unwrap();
        assert!(!is_running(net.pid_file()));
        let gone = wait_for(Duration::from_secs(2), || {
            (proc_stat(pid).is_none_or(|(state, ppid, _)| state == 'Z' && ppid != own_pid()))
                .then_some(())
        });
        assert!(gone.is_some(), "pid {pid} still runs: {:?}", proc_stat(pid));
        // none running: Ok
        stop(net.pid_file()).unwrap();
    }

    #[test]
    fn ensure_running_reports_the_servers_error() {
        let net = net_with_web();
        let _cleanup = StopOnDrop(net.config.pid_file.clone());
        let squatter = TcpListener::bind(net.server_addr()).unwrap();
        let (program, args) = launcher();
        let err = ensure_running(&program, &args, &net.config).unwrap_err();
        let message = err.to_string();
        assert!(matches!(err, DnsError::Start { .. }), "{message}");
        assert!(
            message.contains("testnet") && message.contains("cannot listen on 127.0.0.1"),
            "{message}"
        );
        assert!(message.contains("dns.pid.log"), "names the log: {message}");
        assert!(!is_running(net.pid_file()));
        drop(squatter);
    }

    #[test]
    fn a_program_that_cannot_start_is_an_error() {
        let net = TestNet::new(Some(vec![]));
        let missing = net.dir.path().join("no-such-program");
        let err = ensure_running(&missing, &[], &net.config).unwrap_err();
        assert!(matches!(err, DnsError::Spawn { .. }), "{err}");
        // a program that exits without a word
        let err = ensure_running(Path::new("/bin/true"), &[], &net.config).unwrap_err();
        assert!(err.to_string().contains("exited before binding"), "{err}");
    }

    #[test]
    fn a_detached_server_exits_when_its_network_is_empty() {
        let net = TestNet::new(Some(vec![]));
        let _cleanup = StopOnDrop(net.config.pid_file.clone());
        let (program, args) = launcher();
        ensure_running(&program, &args, &net.config).unwrap();
        let exited = wait_for(Duration::from_secs(5), || {
            (!is_running(net.pid_file())).then_some(())
        });
        assert!(exited.is_some(), "the server did not exit idle");
        assert!(!net.pid_file().exists());
    }

    #[test]
    fn stop_refuses_to_signal_this_process() {
        let net = net_with_web();
        let server = start_server(&net.config, crate::dns::server::Options::default());
        let err = stop(net.pid_file()).unwrap_err();
        assert!(err.to_string().contains("is this process"), "{err}");
        finish(&net, server);
    }

    #[test]
    fn the_config_round_trips_through_json() {
        let net = TestNet::new(Some(vec!["127.0.0.1:5353".parse().unwrap()]));
        let json = serde_json::to_string(&net.config).unwrap();
        let back: ServerConfig = serde_json::from_str(&json).unwrap();
        assert_eq!(back.upstreams, net.config.upstreams);
        assert_eq!(back.pid_file, net.config.pid_file);
        assert!(matches!(serve_main("{not json"), Err(DnsError::Config(_))));
    }
}
