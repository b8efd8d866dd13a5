//! `exec`: a new process in a running container, with the container's capabilities,
//! seccomp filter, user, environment and working directory unless the flags say otherwise.
//! It needs only the container's run state (berth-common's `run_state`), so berth-enter's
//! `--join` and berth-runtime's `exec` share it without berth-enter pulling the runtime.

use berth_common::run_state::{self, RunState, StateError};
use berth_common::{ErrorKind, Paths};
use serde::{Deserialize, Serialize};

use crate::seccomp::SeccompSetupError;
use crate::spawn::{ContainerSpec, NetworkMode, SpawnError};
use crate::tty::{pump, Pty, RawMode};

/// What `exec` runs, and how (docker's exec flags as plain values).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct ExecRequest {
    /// The command and its arguments.
    pub command: Vec<String>,
    /// Keep stdin open.
    pub interactive: bool,
    /// A pseudo-terminal for the process.
    pub tty: bool,
    /// `KEY=VALUE` entries over the container's environment.
    pub env: Vec<String>,
    /// Working directory inside the container (default: the container's).
    pub workdir: Option<String>,
    /// `name|uid[:group|gid]` (default: the container's).
    pub user: Option<String>,
    /// All capabilities and no seccomp filter for this process.
    pub privileged: bool,
}

#[derive(Debug, thiserror::Error)]
pub enum ExecError {
    /// Finding the container: not found, an ambiguous prefix, an unreadable state.
    #[error(transparent)]
    State(#[from] StateError),
    #[error("container {container} is not running")]
    NotRunning { container: String },
    #[error("invalid COMMAND: give a command to run in the container")]
    NoCommand,
    #[error("{0}")]
    Caps(#[from] crate::caps::CapsError),
    #[error("{0}")]
    Seccomp(#[from] SeccompSetupError),
    /// Compiling Docker's default seccomp profile.
    #[error("seccomp: {0}")]
    SeccompFilter(#[from] berth_seccomp::Error),
    /// The process's pseudo-terminal (open, copy).
    #[error("terminal: {0}")]
    Terminal(std::io::Error),
    #[error("{0}")]
    Start(#[from] SpawnError),
}

impl ExecError {
    /// Docker's convention: 125 for berth's own failures, 126/127 for a command that
    /// cannot be run.
    pub fn exit_code(&self) -> i32 {
        match self {
            ExecError::Start(e) => e.exit_code(),
            _ => 125,
        }
    }

    /// What kind of failure this is, for a caller that answers requests.
    pub fn kind(&self) -> ErrorKind {
        match self {
            ExecError::State(e) => e.kind(),
            ExecError::NotRunning { .. } => ErrorKind::Conflict,
            ExecError::NoCommand => ErrorKind::InvalidInput,
            ExecError::Caps(e) => e.kind(),
            ExecError::Seccomp(e) => e.kind(),
            ExecError::Start(e) => e.kind(),
            ExecError::SeccompFilter(_) | ExecError::Terminal(_) => ErrorKind::Internal,
        }
    }
}

/// Runs `request` in the container `reference` names (name, id or id prefix) and waits for
/// it; returns its exit status the docker way.
pub fn exec(paths: &Paths, reference: &str, request: &ExecRequest) -> Result<i32, ExecError> {
    let container = run_state::find(paths, reference)?;
    if !container.is_running() {
        return Err(ExecError::NotRunning {
            container: container.id.short().to_string(),
        });
    }
    if request.command.is_empty() {
        return Err(ExecError::NoCommand);
    }
    let mut spec = spec(&container, request)?;
    let raw_mode = spec.tty.as_ref().map(|_| RawMode::enter());
    let started = crate::join::join(container.pid, &spec)?;
    let output = match spec.tty.take() {
        Some(pty) => {
            drop(pty.slave);
            let thread = pump(&pty.master, request.interactive).map_err(ExecError::Terminal)?;
            Some((thread, pty.master))
        }
        None => None,
    };
    let code = started.wait();
    if let Some((thread, master)) = output {
        let _ = thread.join();
        drop(master);
    }
    drop(raw_mode);
    Ok(code)
}

/// The request's flags over the container's settings, where a flag beats the container.
fn spec(container: &RunState, request: &ExecRequest) -> Result<ContainerSpec, ExecError> {
    let snapshot = &container.process;
    let privileged = request.privileged || snapshot.privileged;
    let caps = if request.privileged {
        crate::caps::resolve(&[], &[], true)
    } else {
        crate::caps::from_names(&snapshot.caps)
    }?;
    let seccomp_names = crate::caps::names(&caps);
    let filter = match (privileged, snapshot.seccomp.as_str()) {
        (true, _) | (_, "unconfined") => None,
        (_, "default") => Some(berth_seccomp::docker_default(&seccomp_names)?),
        (_, path) => {
            let json = std::fs::read(path).map_err(|source| SeccompSetupError::Read {
                path: path.into(),
                source,
            })?;
            Some(
                berth_seccomp::from_profile_json(&json, &seccomp_names).map_err(|source| {
                    SeccompSetupError::Profile {
                        path: path.to_string(),
                        source,
                    }
                })?,
            )
        }
    };
    let seccomp: Option<crate::seccomp::Installer> =
        filter.map(|f| Box::new(move || f.apply().map_err(|e| e.to_string())) as _);
    let tty = if request.tty {
        Some(Pty::open().map_err(ExecError::Terminal)?)
    } else {
        None
    };
    Ok(ContainerSpec {
        rootfs: Default::default(),
        mounts: Vec::new(),
        readonly: false,
        privileged,
        network: NetworkMode::Host,
        etc_files: Vec::new(),
        shm_size: 0,
        hostname: String::new(),
        args: request.command.clone(),
        env: merged_env(&snapshot.env, &request.env),
        cwd: request
            .workdir
            .clone()
            .unwrap_or_else(|| snapshot.workdir.clone()),
        user: request
            .user
            .clone()
            .unwrap_or_else(|| snapshot.user.clone()),
        caps,
        no_new_privs: snapshot.no_new_privs,
        seccomp,
        rlimits: Vec::new(),
        cgroup_procs: container
            .record
            .cgroup
            .iter()
            .flat_map(|c| c.paths.values())
            .map(|p| p.join("cgroup.procs"))
            .collect(),
        cgroup: None,
        tty,
        stdin: request.interactive,
        init: false,
        // Joining enters the container's user namespace, if it has one (join.rs).
        userns: None,
        gate: None,
        joined: Default::default(),
        devices: Vec::new(),
    })
}

/// The container's environment with the request's entries replacing those of the same key.
fn merged_env(container: &[String], request: &[String]) -> Vec<String> {
    let key = |e: &str| e.split_once('=').map_or(e, |(k, _)| k).to_string();
    let mut env = container.to_vec();
    for entry in request {
        env.retain(|e| key(e) != key(entry));
        env.push(entry.clone());
    }
    env
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_env_replaces_the_containers_by_key() {
        let env = merged_env(
            &["PATH=/bin".into(), "A=1".into(), "B".into()],
            &["A=2".into(), "B=3".into(), "C=4".into()],
        );
        assert_eq!(env, ["PATH=/bin", "A=2", "B=3", "C=4"]);
    }

    #[test]
    fn an_unknown_container_is_not_found() {
        let dir = tempfile::tempdir().unwrap();
        let paths = Paths::new(dir.path().join("root"), dir.path().join("run"));
        let error = exec(&paths, "nope", &ExecRequest::default()).unwrap_err();
        assert_eq!(error.kind(), ErrorKind::NotFound);
        assert_eq!(error.exit_code(), 125);
        assert_eq!(error.to_string(), "No such container: nope");
    }
}
