//! What a detached container's monitor records about it, so that `ps`, `stop`, `kill`,
//! `logs`, `rm`, `exec` (and later the daemon) work from any process:
//! `<root>/containers/<id>/run.json`, written whole or not at all. It lives beside the
//! registry (the container's identity), below both berth-runtime, which writes it, and
//! berth-process's `exec`, which joins the container it describes.

use std::path::PathBuf;

use crate::registry::{self, RegistryError};
use crate::{ContainerId, ContainerName, ContainerRecord, ErrorKind, Paths};
use serde::{Deserialize, Serialize};

pub const RUN_STATE: &str = "run.json";
/// Written by the monitor when the container exits: `{"exit_code":N,"finished":"…"}`.
pub const EXIT_FILE: &str = "exit.json";
/// The monitor's attach socket, in the container's run directory.
pub const ATTACH_SOCKET: &str = "attach.sock";

#[derive(Deserialize)]
struct ExitRecord {
    exit_code: i32,
    finished: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Running,
    Exited,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RunState {
    pub id: ContainerId,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<ContainerName>,
    /// As the user named it.
    pub image: String,
    pub command: Vec<String>,
    pub created: String,
    pub status: Status,
    /// The container's first process, as the host sees it.
    pub pid: i32,
    /// The monitor: parent and subreaper of the container, writer of its logs.
    pub monitor_pid: i32,
    /// When `pid` started (field 22 of /proc/PID/stat, clock ticks after boot): with the
    /// pid it names the process for good, so a liveness check need not read the kernel's
    /// cgroup files (which take its cgroup lock). Absent in older states.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start_time: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exit_code: Option<i32>,
    #[serde(default)]
    pub oom_killed: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub finished: Option<String>,
    /// Remove the container when it exits (`--rm`).
    #[serde(default)]
    pub auto_remove: bool,
    /// Signal for `stop` (the image's StopSignal, else SIGTERM).
    pub stop_signal: i32,
    /// What a process joining the container (`exec`) inherits.
    #[serde(default)]
    pub process: ProcessSnapshot,
    pub record: ContainerRecord,
}

/// The container's process settings, for processes that join it later.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct ProcessSnapshot {
    pub caps: Vec<String>,
    /// `default`, `unconfined` or a profile path.
    pub seccomp: String,
    pub no_new_privs: bool,
    pub env: Vec<String>,
    pub user: String,
    pub workdir: String,
    pub privileged: bool,
}

#[derive(Debug, thiserror::Error)]
pub enum StateError {
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}: not a container state: {source}")]
    Parse {
        path: PathBuf,
        source: serde_json::Error,
    },
    #[error("No such container: {0}")]
    NotFound(String),
    /// Resolving the reference: not found, an ambiguous prefix, an unreadable registry.
    #[error(transparent)]
    Registry(#[from] RegistryError),
    #[error(transparent)]
    Identity(#[from] crate::IdentityError),
}

impl StateError {
    /// What kind of failure this is, for a caller that answers requests.
    pub fn kind(&self) -> ErrorKind {
        match self {
            StateError::NotFound(_) => ErrorKind::NotFound,
            StateError::Registry(e) => e.kind(),
            StateError::Identity(_) => ErrorKind::InvalidInput,
            StateError::Io { source, .. } => ErrorKind::of_io(source),
            StateError::Parse { .. } => ErrorKind::Internal,
        }
    }
}

pub fn dir(paths: &Paths, id: &ContainerId) -> PathBuf {
    paths.container_dir(id)
}

pub fn log_path(paths: &Paths, id: &ContainerId) -> PathBuf {
    dir(paths, id).join(format!("{id}-json.log"))
}

/// `<run-dir>/containers/<id>/attach.sock`: where a detached container's monitor takes
/// `attach` clients while the container runs (beside its rootfs mount point; runtime state,
/// gone with a reboot).
pub fn attach_socket(paths: &Paths, id: &ContainerId) -> PathBuf {
    paths.container_run_dir(id).join(ATTACH_SOCKET)
}

impl RunState {
    /// The state of a container whose first process (`pid`, running `command`) was just
    /// started by this process (its monitor, or a foreground berth-run). The record has its
    /// container part (berth-rootfs gave it one).
    pub fn running(
        record: &ContainerRecord,
        command: &[String],
        image: &str,
        pid: i32,
        auto_remove: bool,
        process: ProcessSnapshot,
    ) -> RunState {
        let container = record
            .container
            .as_ref()
            .expect("a started container has an identity");
        RunState {
            id: container.id.clone(),
            name: container.name.clone(),
            image: image.to_string(),
            command: command.to_vec(),
            created: container.created.clone(),
            status: Status::Running,
            pid,
            monitor_pid: std::process::id() as i32,
            start_time: start_time(pid),
            exit_code: None,
            oom_killed: false,
            finished: None,
            auto_remove,
            stop_signal: record
                .image
                .config
                .stop_signal
                .as_deref()
                .and_then(crate::signal::parse)
                .unwrap_or(libc::SIGTERM),
            process,
            record: record.clone(),
        }
    }

    /// The monitor writes the exit apart from `run.json` (it does not parse JSON); merge it.
    fn merge_exit(&mut self, paths: &Paths) {
        if self.status != Status::Running {
            return;
        }
        let Ok(data) = std::fs::read(dir(paths, &self.id).join(EXIT_FILE)) else {
            return;
        };
        if let Ok(exit) = serde_json::from_slice::<ExitRecord>(&data) {
            self.status = Status::Exited;
            self.exit_code = Some(exit.exit_code);
            self.finished = Some(exit.finished);
        }
    }

    /// Takes the name the registry has now: a process that holds this state from the
    /// start to the exit writes a `docker rename` made meanwhile back, not over.
    pub fn refresh_identity(&mut self, paths: &Paths) {
        if let Ok(Some(part)) = registry::identity(paths, &self.id) {
            self.name = part.name.clone();
            self.record.container = Some(part);
        }
    }

    /// Records the exit.
    pub fn exited(&mut self, code: i32, oom_killed: bool) {
        self.status = Status::Exited;
        self.exit_code = Some(code);
        self.oom_killed = oom_killed;
        self.finished =
            Some(humantime::format_rfc3339_nanos(std::time::SystemTime::now()).to_string());
    }

    /// Writes `run.json` atomically; durably unless the container is removed when it stops
    /// (its overlay is `volatile`: a crash of the machine makes it garbage either way).
    pub fn write(&self, paths: &Paths) -> Result<(), StateError> {
        use crate::json_file::{write_atomic_as, Durability};
        let path = dir(paths, &self.id).join(RUN_STATE);
        let durability = if self.auto_remove {
            Durability::Volatile
        } else {
            Durability::Durable
        };
        write_atomic_as(&path, self, durability).map_err(|e| StateError::Io {
            path: e.path,
            source: e.source,
        })
    }

    pub fn read(paths: &Paths, id: &ContainerId) -> Result<Option<RunState>, StateError> {
        let path = dir(paths, id).join(RUN_STATE);
        match std::fs::read(&path) {
            Ok(data) => {
                let mut state: RunState = serde_json::from_slice(&data)
                    .map_err(|source| StateError::Parse { path, source })?;
                state.merge_exit(paths);
                Ok(Some(state))
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(source) => Err(StateError::Io { path, source }),
        }
    }

    /// Whether the container still runs: the state says so and its first process is alive
    /// and still in the container's cgroup. A monitor killed with SIGKILL leaves a state that
    /// says running; this sees through it, and never mistakes a reused pid for the container.
    pub fn is_running(&self) -> bool {
        if self.status != Status::Running {
            return false;
        }
        if let Some(recorded) = self.start_time {
            return start_time(self.pid) == Some(recorded);
        }
        match std::fs::read_to_string(format!("/proc/{}/cgroup", self.pid)) {
            Ok(cgroups) => cgroups.lines().any(|line| line.ends_with(self.id.as_str())),
            Err(_) => false,
        }
    }
}

/// When process `pid` started: field 22 of /proc/PID/stat (None: no such process).
pub fn start_time(pid: i32) -> Option<u64> {
    use std::io::Read;
    // One read into a buffer that holds the whole line (the kernel prints it as one
    // record, a few hundred bytes): `ps` asks this of every running container, and
    // `read_to_string` would add a stat and several reads each time.
    let mut file = std::fs::File::open(format!("/proc/{pid}/stat")).ok()?;
    let mut buf = [0u8; 2048];
    let n = file.read(&mut buf).ok()?;
    if n == buf.len() {
        let mut all = buf.to_vec();
        file.read_to_end(&mut all).ok()?;
        return parse_start_time(&String::from_utf8_lossy(&all));
    }
    parse_start_time(&String::from_utf8_lossy(&buf[..n]))
}

/// The fields after the command (in parentheses, which may hold anything) start at the
/// third, the state: the start time is the 20th of them.
fn parse_start_time(stat: &str) -> Option<u64> {
    let (_, rest) = stat.rsplit_once(')')?;
    rest.split_whitespace().nth(19)?.parse().ok()
}

/// Every container with a run state, oldest first.
pub fn all(paths: &Paths) -> Vec<RunState> {
    let mut states: Vec<RunState> = registry::ids(paths)
        .unwrap_or_default()
        .iter()
        .filter_map(|id| RunState::read(paths, id).ok().flatten())
        .collect();
    states.sort_by(|a, b| a.created.cmp(&b.created));
    states
}

/// By name, full id or unambiguous id prefix, as the registry resolves them
/// ([`registry::resolve`]); a container without a run state (made by the stages, never
/// run by berth-run) is not found.
pub fn find(paths: &Paths, reference: &str) -> Result<RunState, StateError> {
    let id = registry::resolve(paths, reference)?;
    RunState::read(paths, &id)?.ok_or_else(|| StateError::NotFound(reference.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_start_time_is_field_22_whatever_the_command_holds() {
        let stat = "4242 (a) b) (c) S 1 4242 4242 0 -1 4194560 100 0 0 0 1 2 0 0 20 0 1 0 \
                    987654 2000000 100 18446744073709551615";
        assert_eq!(parse_start_time(stat), Some(987654));
        assert_eq!(parse_start_time("4242 (short) S 1"), None);
    }

    #[test]
    fn this_process_has_a_start_time_that_stays_and_a_gone_one_has_none() {
        let me = std::process::id() as i32;
        let first = start_time(me).expect("this process is alive");
        assert_eq!(start_time(me), Some(first));
        assert_eq!(start_time(i32::MAX), None);
    }
}
