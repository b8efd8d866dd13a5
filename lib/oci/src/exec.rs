//! `exec`: a new process in a running container, joining its init's namespaces and
//! cgroups (berth-process's `join`), under the container's seccomp profile. The process is
//! `--process p.json` (a runtime spec `process`, as containerd's shim writes it) or the
//! container's own process with the command line's args, env, cwd and user.

use std::os::fd::AsFd;
use std::path::{Path, PathBuf};

use oci_spec::runtime::Process;

use crate::console::ConsoleSocket;
use crate::state::{Container, Status};
use crate::{config, OciError};

pub struct ExecRequest {
    pub root: PathBuf,
    pub id: String,
    /// A process.json; otherwise the container's process with the fields below.
    pub process: Option<PathBuf>,
    pub args: Vec<String>,
    pub env: Vec<String>,
    pub cwd: Option<String>,
    /// `uid[:gid]`.
    pub user: Option<String>,
    pub tty: bool,
    pub console_socket: Option<PathBuf>,
    pub pid_file: Option<PathBuf>,
}

/// The started process (a child of this one: `exec` without `--detach` waits for it).
pub fn exec(req: &ExecRequest) -> Result<berth_process::Started, OciError> {
    let container = Container::load(&req.root, &req.id)?;
    if container.status() == Status::Stopped {
        return Err(OciError::Status {
            id: req.id.clone(),
            reason: "cannot exec in a stopped container".into(),
        });
    }
    let bundle = config::load(&container.saved.bundle)?;
    let process = process(req, &bundle)?;
    let mut bundle = bundle;
    bundle.spec.set_process(Some(process.clone()));
    let mut mapped = config::map(&bundle)?;
    let spec = &mut mapped.spec;
    spec.mounts.clear();
    spec.cgroup_procs = container
        .saved
        .cgroup
        .iter()
        .flat_map(|c| c.paths.values())
        .map(|p| p.join("cgroup.procs"))
        .collect();
    // The capabilities the joining process keeps are the bounding set; the five sets of a
    // process.json are not applied to an exec yet.
    spec.caps = mapped.caps.bounding.clone();
    let terminal = process.terminal().unwrap_or(false) || req.tty;
    let console = match (&req.console_socket, terminal) {
        (Some(path), true) => Some(ConsoleSocket::connect(path)?),
        (None, true) => {
            return Err(OciError::unsupported(
                "process.terminal",
                "a terminal needs --console-socket",
            ))
        }
        _ => None,
    };
    if console.is_some() {
        spec.tty =
            Some(berth_process::tty::Pty::open().map_err(OciError::io("open a pty", "/dev/ptmx"))?);
    }
    let started = berth_process::join::join(container.saved.pid, spec)?;
    if let (Some(console), Some(pty)) = (&console, &spec.tty) {
        console.send(pty.master.as_fd(), &pty.path)?;
    }
    if let Some(path) = &req.pid_file {
        crate::create::write_pid_file(path, started.pid)?;
    }
    Ok(started)
}

fn process(req: &ExecRequest, bundle: &config::Bundle) -> Result<Process, OciError> {
    if let Some(path) = &req.process {
        let text = std::fs::read(path).map_err(OciError::io("read", path))?;
        return serde_json::from_slice(&text).map_err(|e| OciError::Config {
            path: path.clone(),
            reason: e.to_string(),
        });
    }
    let mut process = config::process(&bundle.spec)?.clone();
    if req.args.is_empty() {
        return Err(OciError::unsupported("exec", "no command given"));
    }
    process.set_args(Some(req.args.clone()));
    let mut env = process.env().clone().unwrap_or_default();
    env.extend(req.env.iter().cloned());
    process.set_env(Some(env));
    if let Some(cwd) = &req.cwd {
        process.set_cwd(Path::new(cwd).to_path_buf());
    }
    if let Some(user) = &req.user {
        let (uid, gid) = user.split_once(':').unwrap_or((user, "0"));
        let parse = |v: &str| {
            v.parse::<u32>()
                .map_err(|_| OciError::unsupported("--user", format!("{user:?} is not uid[:gid]")))
        };
        let mut u = process.user().clone();
        u.set_uid(parse(uid)?);
        u.set_gid(parse(gid)?);
        process.set_user(u);
    }
    process.set_terminal(Some(req.tty));
    Ok(process)
}
