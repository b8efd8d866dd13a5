//! `exec`: a new process in a running container, with the container's capabilities,
//! seccomp filter, user, environment and working directory unless the flags say otherwise.

use berth_common::Paths;
use berth_process::seccomp::SeccompSetupError;
use berth_process::tty::{pump, Pty, RawMode};
use berth_process::{ContainerSpec, NetworkMode};
use serde::{Deserialize, Serialize};

use crate::state::{self, RunState};
use crate::{Outcome, RunError};

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

pub fn exec(paths: &Paths, reference: &str, request: &ExecRequest) -> Result<Outcome, RunError> {
    let container = state::find(paths, reference)?;
    if !container.is_running() {
        return Err(RunError::NotRunning {
            container: crate::control::short(&container.id).to_string(),
        });
    }
    if request.command.is_empty() {
        return Err(RunError::InvalidInput {
            flag: "COMMAND",
            reason: "give a command to run in the container".into(),
        });
    }
    let mut spec = spec(&container, request)?;
    let raw_mode = spec.tty.as_ref().map(|_| RawMode::enter());
    let started = berth_process::join::join(container.pid, &spec)?;
    let output = match spec.tty.take() {
        Some(pty) => {
            drop(pty.slave);
            let thread = pump(&pty.master, request.interactive).map_err(RunError::Terminal)?;
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
    Ok(Outcome {
        code,
        oom_killed: false,
    })
}

fn spec(container: &RunState, request: &ExecRequest) -> Result<ContainerSpec, RunError> {
    let snapshot = &container.process;
    let privileged = request.privileged || snapshot.privileged;
    let caps = if request.privileged {
        berth_process::caps::resolve(&[], &[], true)
    } else {
        berth_process::caps::from_names(&snapshot.caps)
    }?;
    let mut env = snapshot.env.clone();
    for entry in &request.env {
        let key = entry.split_once('=').map_or(entry.as_str(), |(k, _)| k);
        env.retain(|e| e.split_once('=').map_or(e.as_str(), |(k, _)| k) != key);
        env.push(entry.clone());
    }
    let seccomp_names = berth_process::caps::names(&caps);
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
    let seccomp: Option<berth_process::seccomp::Installer> =
        filter.map(|f| Box::new(move || f.apply().map_err(|e| e.to_string())) as _);
    let tty = if request.tty {
        Some(Pty::open().map_err(RunError::Terminal)?)
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
        env,
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
    })
}
