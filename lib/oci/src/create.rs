//! `create`: the whole container (cgroups, namespaces, mounts, the init process), with the
//! init waiting at `exec.fifo` for `start`. On any failure nothing is left: the init is
//! killed, the cgroups and the state directory removed (`Undo`).

use std::os::fd::{AsFd, OwnedFd};
use std::path::{Path, PathBuf};

use berth_common::CgroupPart;
use berth_process::gate::{Gate, GateHooks};
use rustix::fs::{Mode, OFlags};

use crate::console::ConsoleSocket;
use crate::state::{Container, OciState, Saved, EXEC_FIFO};
use crate::{cgroups, config, OciError};

pub struct CreateRequest {
    pub root: PathBuf,
    pub id: String,
    pub bundle: PathBuf,
    pub pid_file: Option<PathBuf>,
    pub console_socket: Option<PathBuf>,
    pub preserve_fds: u32,
    pub systemd_cgroup: bool,
}

/// A created container; `started` is the init, a child of this process (for `run`,
/// which waits for it).
pub struct Created {
    pub container: Container,
    pub started: berth_process::Started,
}

/// What to undo if `create` stops half-way.
struct Undo {
    dir: Option<PathBuf>,
    cgroup: Option<(CgroupPart, String)>,
    pid: Option<i32>,
}

impl Undo {
    fn disarm(&mut self) {
        self.dir = None;
        self.cgroup = None;
        self.pid = None;
    }
}

impl Drop for Undo {
    fn drop(&mut self) {
        if let Some(pid) = self.pid {
            berth_process::signals::forward(pid, libc::SIGKILL);
            let mut status = 0;
            // SAFETY: waitpid on our own child, the init we just killed.
            unsafe { libc::waitpid(pid, &mut status, 0) };
        }
        if let Some((part, parent)) = &self.cgroup {
            if let Err(e) = cgroups::remove(part, Some(parent)) {
                tracing::warn!("undo create: {e}");
            }
        }
        if let Some(dir) = &self.dir {
            if let Err(e) = std::fs::remove_dir_all(dir) {
                tracing::warn!("undo create: remove {}: {e}", dir.display());
            }
        }
    }
}

pub fn create(req: &CreateRequest) -> Result<Created, OciError> {
    crate::id::check(&req.id)?;
    let bundle = config::load(&req.bundle)?;
    let mut mapped = config::map(&bundle)?;
    let (parent, name) = cgroups::location(&bundle.spec, &req.id, req.systemd_cgroup)?;
    let resources = bundle
        .spec
        .linux()
        .as_ref()
        .and_then(|l| l.resources().as_ref());
    let limits = cgroups::limits(resources)?;
    let device_rules = crate::devices::cgroup_rules(resources)?;
    let io_limits = cgroups::io_limits(resources);
    let console = match (&req.console_socket, mapped.terminal) {
        (Some(path), true) => Some(ConsoleSocket::connect(path)?),
        (None, true) => {
            return Err(OciError::unsupported(
                "process.terminal",
                "a terminal needs --console-socket",
            ))
        }
        (Some(_), false) => {
            return Err(OciError::unsupported(
                "process.terminal",
                "--console-socket is only for a container with a terminal",
            ))
        }
        (None, false) => None,
    };
    let dir = crate::state::make_dir(&req.root, &req.id)?;
    let mut undo = Undo {
        dir: Some(dir.clone()),
        cgroup: None,
        pid: None,
    };
    let fifo = make_fifo(&dir.join(EXEC_FIFO))?;
    let part = cgroups::create(&parent, &name, &limits, device_rules.as_deref(), &io_limits)?;
    undo.cgroup = Some((part.clone(), parent.clone()));
    let spec = &mut mapped.spec;
    spec.cgroup_procs = part
        .paths
        .values()
        .map(|p| p.join("cgroup.procs"))
        .collect();
    spec.cgroup = Some(part.clone());
    if console.is_some() {
        let pty =
            berth_process::tty::Pty::open().map_err(OciError::io("open a pty", "/dev/ptmx"))?;
        if let Some(userns) = &spec.userns {
            // Its /dev/console: the container's root's, as the pty is root's without one.
            let (uid, gid) = userns.host_root();
            rustix::fs::fchown(
                &pty.slave,
                Some(rustix::fs::Uid::from_raw(uid)),
                Some(rustix::fs::Gid::from_raw(gid)),
            )
            .map_err(|e| OciError::io("chown", &pty.path)(e.into()))?;
        }
        spec.tty = Some(pty);
    }
    let created = humantime::format_rfc3339_nanos(std::time::SystemTime::now()).to_string();
    let annotations: std::collections::BTreeMap<String, String> = bundle
        .spec
        .annotations()
        .clone()
        .unwrap_or_default()
        .into_iter()
        .collect();
    let state = OciState {
        oci_version: crate::OCI_VERSION,
        id: req.id.clone(),
        pid: 0,
        status: "creating",
        bundle: bundle.dir.clone(),
        rootfs: bundle.rootfs.clone(),
        created: created.clone(),
        owner: String::new(),
        annotations: annotations.clone(),
    };
    spec.gate = Some(Gate {
        fifo,
        preserve_fds: req.preserve_fds,
        additional_gids: mapped.additional_gids.clone(),
        caps: mapped.caps.clone(),
        hooks: gate_hooks(bundle.spec.hooks().as_ref(), &state),
        exec_label: mapped.exec_label.clone(),
    });
    let started = berth_process::start(spec)?;
    undo.pid = Some(started.pid);
    crate::sysctl::apply(
        started.pid,
        &mapped.sysctl,
        spec.network != berth_process::NetworkMode::Host,
    )?;
    if let Some(adj) = mapped.oom_score_adj {
        let path = format!("/proc/{}/oom_score_adj", started.pid);
        std::fs::write(&path, adj.to_string()).map_err(OciError::io("write", path))?;
    }
    if let (Some(console), Some(pty)) = (&console, &spec.tty) {
        console.send(pty.master.as_fd(), &pty.path)?;
    }
    // The pty's fds are the container's and the console socket's now.
    spec.tty = None;
    let start_time =
        berth_common::run_state::start_time(started.pid).ok_or_else(|| OciError::Status {
            id: req.id.clone(),
            reason: "the init exited during create".into(),
        })?;
    let saved = Saved {
        id: req.id.clone(),
        pid: started.pid,
        start_time,
        bundle: bundle.dir.clone(),
        rootfs: bundle.rootfs.clone(),
        created,
        annotations,
        cgroup: Some(part),
        hooks: bundle.spec.hooks().clone(),
        cgroup_parent: Some(parent),
    };
    Container::save(&dir, &saved)?;
    let container = Container {
        dir: dir.clone(),
        saved: saved.clone(),
    };
    if let Some(path) = &req.pid_file {
        write_pid_file(path, started.pid)?;
    }
    undo.disarm();
    Ok(Created { container, started })
}

/// The hooks the init runs or waits for. prestart and createRuntime run here, in
/// berth-oci's namespaces, while the init waits before pivot_root: the spec puts them
/// before createContainer, and a failure still undoes the whole create.
fn gate_hooks(hooks: Option<&oci_spec::runtime::Hooks>, state: &OciState) -> GateHooks {
    let Some(hooks) = hooks else {
        return GateHooks::default();
    };
    let runtime: Vec<(&'static str, Vec<berth_process::hook::Hook>)> = vec![
        ("prestart", crate::hooks::of(hooks.prestart().as_ref())),
        (
            "createRuntime",
            crate::hooks::of(hooks.create_runtime().as_ref()),
        ),
    ];
    let runtime_state = state.clone();
    GateHooks {
        state: match serde_json::to_value(state) {
            Ok(serde_json::Value::Object(map)) => map,
            _ => unreachable!("the state serialises as an object"),
        },
        create_container: crate::hooks::of(hooks.create_container().as_ref()),
        start_container: crate::hooks::of(hooks.start_container().as_ref()),
        runtime: runtime.iter().any(|(_, l)| !l.is_empty()).then(|| {
            Box::new(move |pid| {
                // runc's status in these hooks' state: the container is still being created.
                let mut state = runtime_state.clone();
                state.pid = pid;
                let input = serde_json::to_vec(&state).expect("the state serialises");
                runtime
                    .iter()
                    .try_for_each(|(stage, list)| berth_process::hook::run_all(stage, list, &input))
            }) as berth_process::gate::RuntimeHooks
        }),
    }
}

/// `exec.fifo`, 0622 as runc's, and the `O_PATH` fd the init reopens it by.
fn make_fifo(path: &Path) -> Result<OwnedFd, OciError> {
    rustix::fs::mkfifoat(rustix::fs::CWD, path, Mode::from_raw_mode(0o622))
        .map_err(|e| OciError::io("create", path)(e.into()))?;
    // mkfifo applied the umask.
    rustix::fs::chmod(path, Mode::from_raw_mode(0o622))
        .map_err(|e| OciError::io("chmod", path)(e.into()))?;
    rustix::fs::open(path, OFlags::PATH | OFlags::CLOEXEC, Mode::empty())
        .map_err(|e| OciError::io("open", path)(e.into()))
}

/// The pid, written whole or not at all (containerd reads it as soon as `create` returns).
pub(crate) fn write_pid_file(path: &Path, pid: i32) -> Result<(), OciError> {
    berth_common::json_file::write_bytes_atomic(
        path,
        pid.to_string().as_bytes(),
        berth_common::json_file::Durability::Volatile,
    )
    .map_err(OciError::from)
}
