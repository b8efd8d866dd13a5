//! `berth-monitor`: what a detached container's monitor becomes once the container runs.
//! The forked berth-run that started the container execs this small program, so each
//! container costs about a megabyte instead of a copy of berth-run. It stays the
//! container's parent: it copies the container's output into the json-file log, waits for
//! the exit, records it in `run.json`, then execs `berth-run __teardown ID` for the heavy
//! part. It links only std, serde_json and humantime, on purpose.
//!
//! Invoked only by berth-runtime:
//! `berth-monitor PID STATE_FILE LOG_FILE BERTH_RUN ROOT RUN_DIR ID STREAM=FD…`
//! where each `STREAM=FD` is `stdout=N`, `stderr=N` (inherited pipe read ends).

use std::fs::{File, OpenOptions};
use std::io::{Read, Write};
use std::os::fd::{AsRawFd, FromRawFd};
use std::os::unix::process::CommandExt;

struct Stream {
    name: String,
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
    let (state_file, log_file, berth_run) = (&args[2], &args[3], &args[4]);
    let (root, run_dir, id) = (&args[5], &args[6], &args[7]);
    let mut streams: Vec<Stream> = args[8..]
        .iter()
        .filter_map(|a| a.split_once('='))
        .filter_map(|(name, fd)| fd.parse::<i32>().ok().map(|fd| (name, fd)))
        .map(|(name, fd)| Stream {
            name: name.to_string(),
            // SAFETY: berth-runtime passes these fds open, for this process alone to own.
            file: unsafe { File::from_raw_fd(fd) },
            pending: Vec::new(),
            open: true,
        })
        .collect();
    let mut log = OpenOptions::new()
        .create(true)
        .append(true)
        .open(log_file)
        .ok();
    let code = supervise(pid, &mut streams, &mut log);
    record_exit(state_file, code);
    let err = std::process::Command::new(berth_run)
        .args(["--root", root, "--run-dir", run_dir, "__teardown", id])
        .exec();
    eprintln!("berth-monitor: cannot exec {berth_run} for the teardown: {err}");
    std::process::exit(1);
}

/// Copies output until every stream is closed and the container has exited; returns its
/// status the docker way.
fn supervise(pid: i32, streams: &mut [Stream], log: &mut Option<File>) -> i32 {
    let mut status = None;
    loop {
        if status.is_none() {
            status = reap(pid);
        }
        if status.is_some() && streams.iter().all(|s| !s.open) {
            return status.unwrap_or(125);
        }
        let mut fds: Vec<libc::pollfd> = streams
            .iter()
            .filter(|s| s.open)
            .map(|s| libc::pollfd {
                fd: s.file.as_raw_fd(),
                events: libc::POLLIN,
                revents: 0,
            })
            .collect();
        // A short timeout keeps this simple: the exit is noticed within 50 ms at worst.
        // SAFETY: fds points at fds.len() initialised pollfd structs.
        unsafe { libc::poll(fds.as_mut_ptr(), fds.len() as libc::nfds_t, 50) };
        for stream in streams.iter_mut().filter(|s| s.open) {
            let ready = fds
                .iter()
                .any(|p| p.fd == stream.file.as_raw_fd() && p.revents != 0);
            if ready {
                pump(stream, log);
            }
        }
    }
}

fn reap(pid: i32) -> Option<i32> {
    let mut status = 0;
    // SAFETY: waitpid writes the status of our own child.
    let rc = unsafe { libc::waitpid(pid, &mut status, libc::WNOHANG) };
    if rc == pid {
        return Some(if libc::WIFSIGNALED(status) {
            128 + libc::WTERMSIG(status)
        } else {
            libc::WEXITSTATUS(status)
        });
    }
    (rc < 0).then_some(125)
}

fn pump(stream: &mut Stream, log: &mut Option<File>) {
    let mut buf = [0u8; 8192];
    match stream.file.read(&mut buf) {
        Ok(0) | Err(_) => {
            stream.open = false;
            let rest = std::mem::take(&mut stream.pending);
            if !rest.is_empty() {
                write_line(log, &stream.name, &rest);
            }
        }
        Ok(n) => {
            stream.pending.extend_from_slice(&buf[..n]);
            while let Some(end) = stream.pending.iter().position(|&b| b == b'\n') {
                let line: Vec<u8> = stream.pending.drain(..=end).collect();
                write_line(log, &stream.name, &line);
            }
        }
    }
}

/// One line of Docker's json-file log.
fn write_line(log: &mut Option<File>, stream: &str, text: &[u8]) {
    let Some(file) = log else { return };
    let entry = serde_json::json!({
        "log": String::from_utf8_lossy(text),
        "stream": stream,
        "time": humantime::format_rfc3339_nanos(std::time::SystemTime::now()).to_string(),
    });
    let mut line = entry.to_string().into_bytes();
    line.push(b'\n');
    let _ = file.write_all(&line);
}

/// status, exit code and finish time into `run.json`, written whole or not at all.
fn record_exit(state_file: &str, code: i32) {
    let Ok(text) = std::fs::read(state_file) else {
        return;
    };
    let Ok(mut state) = serde_json::from_slice::<serde_json::Value>(&text) else {
        return;
    };
    state["status"] = "exited".into();
    state["exit_code"] = code.into();
    state["finished"] = humantime::format_rfc3339_nanos(std::time::SystemTime::now())
        .to_string()
        .into();
    let tmp = format!("{state_file}.{}", std::process::id());
    if std::fs::write(&tmp, serde_json::to_vec_pretty(&state).unwrap_or_default()).is_ok() {
        let _ = std::fs::rename(&tmp, state_file);
    }
}
