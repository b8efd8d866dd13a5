//! Detached containers (`-d`). A monitor process, forked from berth-run and detached from
//! it (its own session), starts the container as its child and stays its parent: it holds
//! the exit status, writes the logs (json-file) and tears the container down when it ends.
//! It depends on no daemon, so a daemon can adopt it (and restart) at will. It listens on
//! `<run-dir>/containers/<id>/attach.sock` for `attach` clients (see `attach.rs` and
//! `monitor/protocol.rs`).

use std::fs::{File, OpenOptions};
use std::io::{Read, Write};
use std::os::fd::{AsRawFd, OwnedFd};
use std::sync::{Arc, Mutex};

use berth_common::Paths;
use berth_process::sync;

use crate::state::{self, RunState};
use crate::{attach, logs, Prepared, RunError};

/// Starting a detached container's monitor failed.
#[derive(Debug, thiserror::Error)]
pub enum MonitorError {
    #[error("{op}: {source}")]
    Sys {
        op: &'static str,
        source: std::io::Error,
    },
    #[error("the monitor ended without a word ({said:?})")]
    Silent { said: String },
}

/// Starts `prepared` (made from `request`) under a new monitor and returns once the
/// command runs (or failed to).
pub fn start_detached(
    paths: &Paths,
    prepared: Prepared,
    request: &crate::RunRequest,
) -> Result<RunState, RunError> {
    let auto_remove = request.rm;
    let process = crate::snapshot(&prepared.spec, &request.process);
    let report = sync::pipe().map_err(|source| MonitorError::Sys {
        op: "create pipe",
        source,
    })?;
    // SAFETY: berth-run is single-threaded here, so the child may run ordinary Rust code.
    let pid = unsafe { libc::fork() };
    if pid < 0 {
        return Err(MonitorError::Sys {
            op: "fork",
            source: std::io::Error::last_os_error(),
        }
        .into());
    }
    if pid == 0 {
        drop(report.read);
        let code = monitor(
            paths,
            prepared,
            &request.image,
            (auto_remove, process),
            report.write,
        );
        // SAFETY: _exit ends the monitor without running berth-run's exit handlers.
        unsafe { libc::_exit(code) };
    }
    // The monitor owns the container and its teardown now.
    let Prepared { teardown, .. } = prepared;
    teardown.disarm();
    drop(report.write);
    let mut text = String::new();
    let _ = { report.read }.read_to_string(&mut text);
    let mut status = 0;
    // SAFETY: reaps the monitor's first process if it already exited (it exits at once
    // only on failure); WNOHANG never blocks.
    unsafe { libc::waitpid(pid, &mut status, libc::WNOHANG) };
    match serde_json::from_str::<Report>(&text) {
        Ok(Report::Started { state }) => {
            crate::events::emit(paths, "start", &state);
            Ok(*state)
        }
        Ok(Report::Failed { code, message }) => Err(RunError::Start(
            berth_process::SpawnError::Child(sync::ChildFailure { code, message }),
        )),
        Err(_) => Err(MonitorError::Silent { said: text }.into()),
    }
}

#[derive(serde::Serialize, serde::Deserialize)]
#[serde(tag = "report", rename_all = "lowercase")]
enum Report {
    Started { state: Box<RunState> },
    Failed { code: i32, message: String },
}

fn say(mut to: &File, report: &Report) {
    let _ = to.write_all(serde_json::to_string(report).unwrap_or_default().as_bytes());
}

/// The monitor's life; returns its exit code.
fn monitor(
    paths: &Paths,
    prepared: Prepared,
    image: &str,
    (auto_remove, process): (bool, state::ProcessSnapshot),
    report: File,
) -> i32 {
    // Its own session: no terminal, no SIGHUP when berth-run's terminal goes away.
    let _ = rustix::process::setsid();
    // SAFETY: prctl(PR_SET_CHILD_SUBREAPER) only sets a flag on this process.
    unsafe { libc::prctl(libc::PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) };
    let fail = |message: String| {
        say(&report, &Report::Failed { code: 125, message });
        125
    };
    let Prepared {
        record,
        spec,
        teardown,
    } = prepared;
    let id = record
        .container
        .as_ref()
        .map(|c| c.id.clone())
        .expect("prepared containers have an id");
    let log = match OpenOptions::new()
        .create(true)
        .append(true)
        .open(state::log_path(paths, &id))
    {
        Ok(f) => Arc::new(Mutex::new(f)),
        Err(e) => return fail(format!("cannot create the log: {e}")),
    };
    let (Ok(out), Ok(err), Ok(null)) = (
        rustix::pipe::pipe(),
        rustix::pipe::pipe(),
        File::open("/dev/null"),
    ) else {
        return fail("cannot create the container's stdio".into());
    };
    // `-i` without a terminal: a pipe the monitor keeps open (as docker does), written by
    // attached clients; otherwise the container reads /dev/null (or its terminal).
    let stdin = if spec.stdin && spec.tty.is_none() {
        match rustix::pipe::pipe_with(rustix::pipe::PipeFlags::CLOEXEC) {
            Ok((read, write)) => Some((read, write)),
            Err(e) => return fail(format!("cannot create the container's stdin: {e}")),
        }
    } else {
        None
    };
    // The attach socket exists before the container is reported started.
    let listener = match attach::listen(paths, &id) {
        Ok(listener) => listener,
        Err(e) => return fail(e.to_string()),
    };
    let stdin_fd = stdin
        .as_ref()
        .map_or(null.as_raw_fd(), |(read, _)| read.as_raw_fd());
    redirect(stdin_fd, out.1.as_raw_fd(), err.1.as_raw_fd());
    drop((out.1, err.1));
    let stdin = stdin.map(|(_, write)| write);
    let mut spec = spec;
    let started = match berth_process::start(&spec) {
        Ok(s) => s,
        Err(e) => {
            let code = e.exit_code();
            say(
                &report,
                &Report::Failed {
                    code,
                    message: e.to_string(),
                },
            );
            drop(listener);
            attach::unlisten(paths, &id);
            drop(teardown);
            return code;
        }
    };
    // Only the container holds the write ends (and the read end of its stdin) now: EOF on
    // them means it is gone.
    redirect(null.as_raw_fd(), null.as_raw_fd(), null.as_raw_fd());
    let mut run_state = RunState::running(
        &record,
        &spec.args,
        image,
        started.pid,
        auto_remove,
        process,
    );
    if let Err(e) = run_state.write(paths) {
        tracing::error!(error = %e, "cannot write the container state");
    }
    say(
        &report,
        &Report::Started {
            state: Box::new(run_state.clone()),
        },
    );
    drop(report);
    // With -t the terminal's output is the log (one stream, as docker's json-file has it).
    let interactive = spec.stdin;
    let mut fds: Vec<(&'static str, OwnedFd)> = match spec.tty.take() {
        Some(pty) => {
            drop(pty.slave);
            let mut fds = Vec::new();
            // Attached clients' input goes to the terminal, with -i only (as docker's).
            if let (true, Ok(input)) = (interactive, pty.master.try_clone()) {
                fds.push(("stdin", input));
            }
            fds.push(("pty", pty.master));
            fds
        }
        None => vec![("stdout", out.0), ("stderr", err.0)],
    };
    fds.extend(stdin.map(|write| ("stdin", write)));
    fds.push(("attach", OwnedFd::from(listener)));
    // From here on a small program does the watching (about 1 MB instead of a copy of
    // berth-run). If it cannot be started, this process does the same job itself, without
    // attach.
    let fds = match become_small_monitor(paths, &id, started.pid, fds) {
        Ok(never) => match never {},
        Err((error, fds)) => {
            tracing::warn!(%error, "berth-monitor is not available; monitoring in berth-run (no attach)");
            fds
        }
    };
    attach::unlisten(paths, &id);
    let mut pumps = Vec::new();
    // The container's stdin stays open until the monitor ends, as with berth-monitor.
    let mut keep = Vec::new();
    for (name, fd) in fds {
        match name {
            "stdout" | "pty" => pumps.push(pump_thread(fd, "stdout", log.clone())),
            "stderr" => pumps.push(pump_thread(fd, "stderr", log.clone())),
            "stdin" => keep.push(fd),
            _ => drop(fd),
        }
    }
    let code = started.wait();
    for pump in pumps {
        let _ = pump.join();
    }
    drop(keep);
    run_state.exited(code, crate::oom_killed(&record));
    run_state.refresh_identity(paths);
    if !auto_remove {
        let _ = run_state.write(paths);
    }
    crate::events::exited(paths, &run_state);
    let errors = teardown.run();
    if auto_remove && errors.is_empty() {
        crate::events::emit(paths, "destroy", &run_state);
    }
    for error in errors {
        tracing::error!(%error, "teardown");
    }
    0
}

/// The monitor program, built static by `build.rs` from `monitor/main.rs`.
const MONITOR: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/berth-monitor"));

/// Writes the embedded monitor into `<run-dir>/bin/` once (named by its digest, so every
/// monitor of this berth shares one file and its pages) and returns its path.
fn monitor_binary(paths: &Paths) -> std::io::Result<std::path::PathBuf> {
    use std::os::unix::fs::PermissionsExt;
    let dir = paths.run_dir().join("bin");
    let digest = berth_image::Digest::of_bytes(MONITOR);
    let path = dir.join(format!("berth-monitor-{}", &digest.hex()[..16]));
    if path.is_file() {
        return Ok(path);
    }
    std::fs::create_dir_all(&dir)?;
    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o700))?;
    let tmp = dir.join(format!(".berth-monitor.{}", std::process::id()));
    std::fs::write(&tmp, MONITOR)?;
    std::fs::set_permissions(&tmp, std::fs::Permissions::from_mode(0o500))?;
    std::fs::rename(&tmp, &path)?;
    Ok(path)
}

/// Execs the small monitor program, handing it the container, its output, its input and the
/// attach socket (`NAME=FD` arguments, see `monitor/main.rs`). Returns only on failure,
/// with the fds back.
#[allow(clippy::type_complexity)]
fn become_small_monitor(
    paths: &Paths,
    id: &berth_common::ContainerId,
    pid: i32,
    streams: Vec<(&'static str, OwnedFd)>,
) -> Result<std::convert::Infallible, (String, Vec<(&'static str, OwnedFd)>)> {
    use std::os::unix::process::CommandExt;
    let monitor = match monitor_binary(paths) {
        Ok(path) => path,
        Err(e) => return Err((format!("cannot write the monitor program: {e}"), streams)),
    };
    let Ok(berth_run) = std::env::current_exe().map(|exe| exe.with_file_name("berth-run")) else {
        return Err(("no current exe".into(), streams));
    };
    if !berth_run.is_file() {
        return Err((
            format!("{} is missing (it does the teardown)", berth_run.display()),
            streams,
        ));
    }
    let mut args: Vec<String> = vec![
        pid.to_string(),
        state::dir(paths, id)
            .join(state::EXIT_FILE)
            .display()
            .to_string(),
        state::log_path(paths, id).display().to_string(),
        berth_run.display().to_string(),
        paths.root().display().to_string(),
        paths.run_dir().display().to_string(),
        id.to_string(),
    ];
    for (name, fd) in &streams {
        // The fd must survive the exec.
        let _ = rustix::io::fcntl_setfd(fd, rustix::io::FdFlags::empty());
        args.push(format!("{name}={}", fd.as_raw_fd()));
    }
    args.push(format!(
        "attach-path={}",
        state::attach_socket(paths, id).display()
    ));
    let error = std::process::Command::new(&monitor).args(&args).exec();
    Err((format!("exec {}: {error}", monitor.display()), streams))
}

fn pump_thread(
    from: OwnedFd,
    stream: &'static str,
    log: Arc<Mutex<File>>,
) -> std::thread::JoinHandle<()> {
    std::thread::spawn(move || logs::pump(File::from(from), stream, log))
}

/// Points fds 0, 1, 2 at `stdin`, `stdout` and `stderr`.
fn redirect(stdin: i32, stdout: i32, stderr: i32) {
    // SAFETY: dup2 onto the standard fds with fds we own; nothing else uses them here.
    unsafe {
        libc::dup2(stdin, 0);
        libc::dup2(stdout, 1);
        libc::dup2(stderr, 2);
    }
}
