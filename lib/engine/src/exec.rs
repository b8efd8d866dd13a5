//! Exec instances: made by `POST /containers/{id}/exec`, run by `start`. They live in
//! berthd's memory only (as docker's do). A process joining a container forks, and berthd
//! is multi-threaded, so each runs as `berth-run exec` (the same code as the CLI's),
//! spawned with pipes (or a terminal of berthd's) for its stdio.

use std::collections::HashMap;
use std::io::{Read, Write};
use std::os::fd::{AsFd, OwnedFd};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};

use berth_api::containers::AttachTarget;
use berth_api::exec::ExecCreateBody;
use berth_api::stream::{InputReceiver, OutputSink, StreamKind};
use berth_api::{BackendError, ExecBackend};
use berth_common::{ContainerId, ErrorKind};
use serde_json::{json, Value};

use crate::containers::{running_container, ContainerError};

#[derive(Debug, thiserror::Error)]
pub enum ExecError {
    #[error("No such exec instance: {0}")]
    NotFound(String),
    #[error("exec instance {0} has already run")]
    AlreadyRan(String),
    #[error("cannot run {} for exec {id}: {source}", exe.display())]
    Spawn {
        id: String,
        exe: std::path::PathBuf,
        source: std::io::Error,
    },
    #[error("a terminal for exec {id}: {source}")]
    Terminal { id: String, source: std::io::Error },
    #[error(transparent)]
    Container(#[from] Box<ContainerError>),
}

impl ExecError {
    pub fn kind(&self) -> ErrorKind {
        match self {
            ExecError::NotFound(_) => ErrorKind::NotFound,
            ExecError::AlreadyRan(_) => ErrorKind::Conflict,
            ExecError::Spawn { source, .. } | ExecError::Terminal { source, .. } => {
                ErrorKind::of_io(source)
            }
            ExecError::Container(e) => e.kind(),
        }
    }
}

impl From<ContainerError> for ExecError {
    fn from(error: ContainerError) -> Self {
        ExecError::Container(Box::new(error))
    }
}

impl From<ExecError> for BackendError {
    fn from(error: ExecError) -> Self {
        BackendError::new(error.kind(), error.to_string())
    }
}

struct Instance {
    container: ContainerId,
    body: ExecCreateBody,
    started: bool,
    running: bool,
    pid: i32,
    /// The exec'd process's host pid, once an inspect found it (`exec_pid.rs`).
    process_pid: Option<i32>,
    exit_code: Option<i32>,
    /// The terminal's master while it runs (for resize).
    master: Option<Arc<OwnedFd>>,
}

/// Every exec instance of this daemon's life.
#[derive(Default)]
pub struct Execs {
    instances: Mutex<HashMap<String, Arc<Mutex<Instance>>>>,
}

pub struct ExecEngine(pub Arc<crate::Engine>);

impl ExecEngine {
    fn instance(&self, id: &str) -> Result<Arc<Mutex<Instance>>, ExecError> {
        self.0
            .execs
            .instances
            .lock()
            .expect("execs")
            .get(id)
            .cloned()
            .ok_or_else(|| ExecError::NotFound(id.to_string()))
    }

    fn command(&self, instance: &Instance) -> Command {
        let exe = berth_run_exe();
        let paths = self.0.paths();
        let body = &instance.body;
        let mut cmd = Command::new(exe);
        cmd.arg("--root")
            .arg(paths.root())
            .arg("--run-dir")
            .arg(paths.run_dir())
            .arg("exec");
        if body.attach_stdin {
            cmd.arg("-i");
        }
        if body.tty {
            cmd.arg("-t");
        }
        for env in body.env.iter().flatten() {
            cmd.arg("-e").arg(env);
        }
        if let Some(w) = body.working_dir.as_ref().filter(|w| !w.is_empty()) {
            cmd.arg("-w").arg(w);
        }
        if let Some(u) = body.user.as_ref().filter(|u| !u.is_empty()) {
            cmd.arg("-u").arg(u);
        }
        if body.privileged {
            cmd.arg("--privileged");
        }
        cmd.arg(instance.container.as_str())
            .arg("--")
            .args(body.cmd.iter().flatten());
        cmd
    }

    fn run(
        &self,
        id: &str,
        out: Option<&OutputSink>,
        input: Option<InputReceiver>,
    ) -> Result<(), ExecError> {
        let shared = self.instance(id)?;
        let mut instance = shared.lock().expect("exec");
        if instance.started {
            return Err(ExecError::AlreadyRan(id.to_string()));
        }
        running_container(self.0.paths(), instance.container.as_str())?;
        let mut cmd = self.command(&instance);
        let tty = instance.body.tty;
        let terminal_error = |source| ExecError::Terminal {
            id: id.to_string(),
            source,
        };
        let master = if tty {
            let pty = berth_process::tty::Pty::open().map_err(terminal_error)?;
            let slave = |fd: &OwnedFd| fd.try_clone().map(Stdio::from);
            cmd.stdin(slave(&pty.slave).map_err(terminal_error)?)
                .stdout(slave(&pty.slave).map_err(terminal_error)?)
                .stderr(Stdio::from(pty.slave));
            Some(Arc::new(pty.master))
        } else {
            cmd.stdin(if input.is_some() && instance.body.attach_stdin {
                Stdio::piped()
            } else {
                Stdio::null()
            })
            .stdout(if out.is_some() {
                Stdio::piped()
            } else {
                Stdio::null()
            })
            .stderr(if out.is_some() {
                Stdio::piped()
            } else {
                Stdio::null()
            });
            None
        };
        let mut child = cmd.spawn().map_err(|source| ExecError::Spawn {
            id: id.to_string(),
            exe: berth_run_exe(),
            source,
        })?;
        // The command holds the terminal's slave; with it open the master never ends.
        drop(cmd);
        instance.started = true;
        instance.running = true;
        instance.pid = child.id() as i32;
        instance.master = master.clone();
        exec_event(self.0.paths(), &instance, id, "exec_start", None);
        drop(instance);
        let Some(out) = out else {
            let shared = shared.clone();
            let (paths, id) = (self.0.paths().clone(), id.to_string());
            std::thread::spawn(move || finish(&paths, &id, &shared, child.wait().ok()));
            return Ok(());
        };
        std::thread::scope(|scope| {
            match &master {
                Some(master) => {
                    if let (Some(input), Ok(fd)) = (input, master.try_clone()) {
                        scope.spawn(move || copy_input(input, std::fs::File::from(fd)));
                    }
                    if let Ok(fd) = master.try_clone() {
                        // EIO once the process and its terminal are gone.
                        copy_output(std::fs::File::from(fd), StreamKind::Stdout, out);
                    }
                }
                None => {
                    if let (Some(input), Some(stdin)) = (input, child.stdin.take()) {
                        scope.spawn(move || copy_input(input, stdin));
                    }
                    let stderr = child.stderr.take();
                    let errors = scope.spawn(move || {
                        if let Some(e) = stderr {
                            copy_output(e, StreamKind::Stderr, out)
                        }
                    });
                    if let Some(stdout) = child.stdout.take() {
                        copy_output(stdout, StreamKind::Stdout, out);
                    }
                    let _ = errors.join();
                }
            }
            finish(self.0.paths(), id, &shared, wait(&mut child));
        });
        Ok(())
    }
}

fn wait(child: &mut Child) -> Option<std::process::ExitStatus> {
    child.wait().ok()
}

fn finish(
    paths: &berth_common::Paths,
    id: &str,
    shared: &Mutex<Instance>,
    status: Option<std::process::ExitStatus>,
) {
    let mut instance = shared.lock().expect("exec");
    instance.running = false;
    instance.master = None;
    let code = status.and_then(|s| s.code()).unwrap_or(-1);
    instance.exit_code = Some(code);
    exec_event(paths, &instance, id, "exec_die", Some(code));
}

/// docker's exec events: `exec_create: CMD…`, `exec_start: CMD…` and `exec_die` (with
/// the exit code), each an event of the container with the exec's id.
fn exec_event(
    paths: &berth_common::Paths,
    instance: &Instance,
    exec_id: &str,
    action: &str,
    code: Option<i32>,
) {
    let Ok(Some(entry)) = crate::containers::entry::Entry::read(paths, &instance.container) else {
        return;
    };
    let action = match code {
        Some(_) => action.to_string(),
        None => {
            let cmd: Vec<&str> = instance
                .body
                .cmd
                .iter()
                .flatten()
                .map(String::as_str)
                .collect();
            format!("{action}: {}", cmd.join(" "))
        }
    };
    let mut event = berth_common::events::Event::container(
        paths,
        &action,
        &entry.id,
        &entry.name(),
        &entry.image(),
    )
    .with("execID", exec_id);
    if let Some(code) = code {
        event = event.with("exitCode", code.to_string());
    }
    berth_common::events::emit(paths, &event);
}

fn copy_output(mut from: impl Read, kind: StreamKind, out: &OutputSink) {
    let mut buf = vec![0u8; 32 * 1024];
    loop {
        match from.read(&mut buf) {
            Ok(0) | Err(_) => return,
            Ok(n) => {
                if !out.send(kind, &buf[..n]) {
                    return;
                }
            }
        }
    }
}

/// The client's input to the process; its end closes the process's stdin.
fn copy_input(input: InputReceiver, mut to: impl Write) {
    while let Ok(data) = input.recv() {
        if to.write_all(&data).is_err() {
            return;
        }
    }
}

pub(crate) fn berth_run_exe() -> std::path::PathBuf {
    std::env::current_exe()
        .map(|exe| exe.with_file_name("berth-run"))
        .unwrap_or_else(|_| "berth-run".into())
}

impl ExecBackend for ExecEngine {
    fn create(&self, container: &str, body: ExecCreateBody) -> Result<String, BackendError> {
        let id = running_container(self.0.paths(), container).map_err(ExecError::from)?;
        let exec_id = ContainerId::random().to_string();
        let instance = Instance {
            container: id,
            body,
            started: false,
            running: false,
            pid: 0,
            process_pid: None,
            exit_code: None,
            master: None,
        };
        exec_event(self.0.paths(), &instance, &exec_id, "exec_create", None);
        self.0
            .execs
            .instances
            .lock()
            .expect("execs")
            .insert(exec_id.clone(), Arc::new(Mutex::new(instance)));
        Ok(exec_id)
    }

    fn target(&self, id: &str) -> Result<AttachTarget, BackendError> {
        let shared = self.instance(id)?;
        let instance = shared.lock().expect("exec");
        Ok(AttachTarget {
            id: id.to_string(),
            tty: instance.body.tty,
        })
    }

    fn start(
        &self,
        id: &str,
        out: Option<&OutputSink>,
        input: Option<InputReceiver>,
    ) -> Result<(), BackendError> {
        Ok(self.run(id, out, input)?)
    }

    fn inspect(&self, id: &str) -> Result<Value, BackendError> {
        let shared = self.instance(id)?;
        let (launcher, container, look) = {
            let i = shared.lock().expect("exec");
            (
                i.pid,
                i.container.clone(),
                i.running && i.process_pid.is_none(),
            )
        };
        // Looked for without the lock: the exec's end takes it meanwhile.
        if look {
            let state = berth_runtime::state::RunState::read(self.0.paths(), &container);
            let found = match state {
                Ok(Some(state)) => crate::exec_pid::in_container(launcher, state.pid),
                _ => None,
            };
            shared.lock().expect("exec").process_pid = found;
        }
        let i = shared.lock().expect("exec");
        let cmd: Vec<String> = i.body.cmd.clone().unwrap_or_default();
        Ok(json!({
            "ID": id,
            "Running": i.running,
            "ExitCode": i.exit_code,
            "ProcessConfig": {
                "tty": i.body.tty,
                "entrypoint": cmd.first().cloned().unwrap_or_default(),
                "arguments": cmd.iter().skip(1).collect::<Vec<_>>(),
                "privileged": i.body.privileged,
                "user": i.body.user.clone().unwrap_or_default(),
            },
            "OpenStdin": i.body.attach_stdin,
            "OpenStderr": i.body.attach_stderr,
            "OpenStdout": i.body.attach_stdout,
            "CanRemove": false,
            "ContainerID": i.container.as_str(),
            "DetachKeys": "",
            "Pid": i.process_pid.unwrap_or(0),
        }))
    }

    fn resize(&self, id: &str, height: u16, width: u16) -> Result<(), BackendError> {
        let shared = self.instance(id)?;
        let master = shared.lock().expect("exec").master.clone();
        if let (Some(master), true) = (master, height > 0 && width > 0) {
            let size = rustix::termios::Winsize {
                ws_row: height,
                ws_col: width,
                ws_xpixel: 0,
                ws_ypixel: 0,
            };
            let _ = rustix::termios::tcsetwinsize(master.as_fd(), size);
        }
        Ok(())
    }
}
