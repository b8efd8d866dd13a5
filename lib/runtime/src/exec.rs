//! `exec`: a new process in a running container, with the container's capabilities,
//! seccomp filter, user, environment and working directory unless the flags say otherwise.

use berth_common::Paths;
use berth_process::tty::{pump, Pty, RawMode};
use berth_process::{ContainerSpec, NetworkMode};

use crate::state::{self, RunState};
use crate::{Outcome, RunError};

#[derive(Debug, Clone, Default, clap::Args)]
pub struct ExecFlags {
    /// Keep stdin open
    #[arg(short = 'i', long)]
    pub interactive: bool,
    /// Allocate a pseudo-terminal
    #[arg(short = 't', long)]
    pub tty: bool,
    /// Set environment variables
    #[arg(short = 'e', long = "env")]
    pub env: Vec<String>,
    /// Working directory inside the container
    #[arg(short = 'w', long)]
    pub workdir: Option<String>,
    /// User: name|uid[:group|gid]
    #[arg(short = 'u', long)]
    pub user: Option<String>,
    /// All capabilities and no seccomp filter for this process
    #[arg(long)]
    pub privileged: bool,
}

pub fn exec(
    paths: &Paths,
    reference: &str,
    flags: &ExecFlags,
    command: &[String],
) -> Result<Outcome, RunError> {
    let container = state::find(paths, reference)?;
    if !container.is_running() {
        return Err(RunError::Control(format!(
            "container {} is not running",
            crate::control::short(&container.id)
        )));
    }
    if command.is_empty() {
        return Err(RunError::Flag {
            flag: "COMMAND",
            reason: "give a command to run in the container".into(),
        });
    }
    let mut spec = spec(&container, flags, command)?;
    let raw_mode = spec.tty.as_ref().map(|_| RawMode::enter());
    let started = berth_process::join::join(container.pid, &spec)?;
    let output = match spec.tty.take() {
        Some(pty) => {
            drop(pty.slave);
            let thread = pump(&pty.master, flags.interactive)
                .map_err(|e| RunError::Monitor(format!("terminal: {e}")))?;
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

fn spec(
    container: &RunState,
    flags: &ExecFlags,
    command: &[String],
) -> Result<ContainerSpec, RunError> {
    let snapshot = &container.process;
    let privileged = flags.privileged || snapshot.privileged;
    let caps = if flags.privileged {
        berth_process::caps::resolve(&[], &[], true)
    } else {
        berth_process::caps::from_names(&snapshot.caps)
    }
    .map_err(|e| RunError::Control(e.to_string()))?;
    let mut env = snapshot.env.clone();
    for entry in &flags.env {
        let key = entry.split_once('=').map_or(entry.as_str(), |(k, _)| k);
        env.retain(|e| e.split_once('=').map_or(e.as_str(), |(k, _)| k) != key);
        env.push(entry.clone());
    }
    let seccomp_names = berth_process::caps::names(&caps);
    let filter = match (privileged, snapshot.seccomp.as_str()) {
        (true, _) | (_, "unconfined") => None,
        (_, "default") => Some(
            berth_seccomp::docker_default(&seccomp_names)
                .map_err(|e| RunError::Control(format!("seccomp: {e}")))?,
        ),
        (_, path) => {
            let json = std::fs::read(path)
                .map_err(|e| RunError::Control(format!("seccomp profile {path}: {e}")))?;
            Some(
                berth_seccomp::from_profile_json(&json, &seccomp_names)
                    .map_err(|e| RunError::Control(format!("seccomp profile {path}: {e}")))?,
            )
        }
    };
    let seccomp: Option<berth_process::seccomp::Installer> =
        filter.map(|f| Box::new(move || f.apply().map_err(|e| e.to_string())) as _);
    let tty = if flags.tty {
        Some(Pty::open().map_err(|e| RunError::Control(format!("terminal: {e}")))?)
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
        args: command.to_vec(),
        env,
        cwd: flags
            .workdir
            .clone()
            .unwrap_or_else(|| snapshot.workdir.clone()),
        user: flags.user.clone().unwrap_or_else(|| snapshot.user.clone()),
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
        stdin: flags.interactive,
        init: false,
        // Joining enters the container's user namespace, if it has one (join.rs).
        userns: None,
    })
}
