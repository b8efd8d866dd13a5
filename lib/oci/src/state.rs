//! One directory per container under `--root` (0700, as runc's): `state.json` (what
//! `create` decided, for every later command) and, until `start`, `exec.fifo`. The status
//! is read from the process, never stored: a dead init (or a pid reused by another
//! process, told apart by its start time) is `stopped`.

use std::collections::BTreeMap;
use std::os::unix::fs::DirBuilderExt;
use std::path::{Path, PathBuf};

use berth_common::CgroupPart;
use serde::{Deserialize, Serialize};

use crate::OciError;

pub const STATE_FILE: &str = "state.json";
pub const EXEC_FIFO: &str = "exec.fifo";

/// What `create` saved.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Saved {
    pub id: String,
    pub pid: i32,
    /// Field 22 of /proc/PID/stat when the init was created.
    pub start_time: u64,
    pub bundle: PathBuf,
    pub rootfs: PathBuf,
    /// RFC 3339 with nanoseconds, UTC.
    pub created: String,
    #[serde(default)]
    pub annotations: BTreeMap<String, String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cgroup: Option<CgroupPart>,
    /// The spec's hooks, for `start` (poststart) and `delete` (poststop).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hooks: Option<oci_spec::runtime::Hooks>,
    /// The cgroup parent `create` made (removed with the container when left empty).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cgroup_parent: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    Created,
    Running,
    Paused,
    Stopped,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Created => "created",
            Status::Running => "running",
            Status::Paused => "paused",
            Status::Stopped => "stopped",
        }
    }
}

/// A container's directory under `--root`.
#[derive(Debug, Clone)]
pub struct Container {
    pub dir: PathBuf,
    pub saved: Saved,
}

pub fn dir_of(root: &Path, id: &str) -> PathBuf {
    root.join(id)
}

/// Makes `--root` (0700) if needed, then the container's directory: an existing one is a
/// duplicate id.
pub fn make_dir(root: &Path, id: &str) -> Result<PathBuf, OciError> {
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(root)
        .map_err(OciError::io("create the state root", root))?;
    let dir = dir_of(root, id);
    match std::fs::DirBuilder::new().mode(0o700).create(&dir) {
        Ok(()) => Ok(dir),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
            Err(OciError::Exists(id.to_string()))
        }
        Err(e) => Err(OciError::io("create the state directory", dir)(e)),
    }
}

impl Container {
    pub fn load(root: &Path, id: &str) -> Result<Container, OciError> {
        crate::id::check(id)?;
        let dir = dir_of(root, id);
        let path = dir.join(STATE_FILE);
        let text = match std::fs::read(&path) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(OciError::NotFound(id.to_string()))
            }
            Err(e) => return Err(OciError::io("read", path)(e)),
        };
        let saved = serde_json::from_slice(&text).map_err(|e| OciError::Config {
            path: path.clone(),
            reason: e.to_string(),
        })?;
        Ok(Container { dir, saved })
    }

    pub fn save(dir: &Path, saved: &Saved) -> Result<(), OciError> {
        // The state lives on tmpfs (/run) and means nothing after a reboot: no fsync.
        berth_common::json_file::write_atomic_as(
            &dir.join(STATE_FILE),
            saved,
            berth_common::json_file::Durability::Volatile,
        )
        .map_err(OciError::from)
    }

    /// Every container under `root`, by id.
    pub fn all(root: &Path) -> Result<Vec<Container>, OciError> {
        let entries = match std::fs::read_dir(root) {
            Ok(entries) => entries,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(OciError::io("read", root)(e)),
        };
        let mut out = Vec::new();
        for entry in entries.flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            // A directory a failed create is still cleaning up has no state yet.
            if let Ok(container) = Container::load(root, &name) {
                out.push(container);
            }
        }
        out.sort_by(|a, b| a.saved.id.cmp(&b.saved.id));
        Ok(out)
    }

    /// The cgroup `create` made; every container has one, so None is a damaged state.
    pub fn cgroup(&self) -> Result<&CgroupPart, OciError> {
        self.saved.cgroup.as_ref().ok_or_else(|| OciError::Status {
            id: self.saved.id.clone(),
            reason: "the container has no cgroup".into(),
        })
    }

    pub fn fifo(&self) -> PathBuf {
        self.dir.join(EXEC_FIFO)
    }

    /// Whether the saved init still runs (a zombie has exited).
    pub fn alive(&self) -> bool {
        berth_common::proc_stat::read(self.saved.pid)
            .is_some_and(|s| s.start_time == self.saved.start_time && s.is_alive())
    }

    pub fn status(&self) -> Status {
        if !self.alive() {
            return Status::Stopped;
        }
        if self.fifo().exists() {
            return Status::Created;
        }
        let frozen = self
            .saved
            .cgroup
            .as_ref()
            .and_then(|c| berth_cgroups::manager(c).ok())
            .and_then(|m| m.freezer_state().ok())
            .is_some_and(|s| s == berth_cgroups::FreezerState::Frozen);
        if frozen {
            Status::Paused
        } else {
            Status::Running
        }
    }

    /// The OCI state, with runc's extras (rootfs, created, owner), as `runc state` prints
    /// it: a stopped container's pid is 0.
    pub fn oci_state(&self) -> OciState {
        let status = self.status();
        OciState {
            oci_version: crate::OCI_VERSION,
            id: self.saved.id.clone(),
            pid: if status == Status::Stopped {
                0
            } else {
                self.saved.pid
            },
            status: status.as_str(),
            bundle: self.saved.bundle.clone(),
            rootfs: self.saved.rootfs.clone(),
            created: self.saved.created.clone(),
            owner: String::new(),
            annotations: self.saved.annotations.clone(),
        }
    }
}

/// The state document, its fields in runc's order.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct OciState {
    pub oci_version: &'static str,
    pub id: String,
    pub pid: i32,
    pub status: &'static str,
    pub bundle: PathBuf,
    pub rootfs: PathBuf,
    pub created: String,
    pub owner: String,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub annotations: BTreeMap<String, String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_directory_for_one_id_is_a_duplicate() {
        let root = tempfile::tempdir().unwrap();
        let state_root = root.path().join("state");
        make_dir(&state_root, "a").unwrap();
        let mode = std::fs::metadata(&state_root).unwrap();
        assert_eq!(
            std::os::unix::fs::PermissionsExt::mode(&mode.permissions()) & 0o777,
            0o700
        );
        assert!(matches!(
            make_dir(&state_root, "a"),
            Err(OciError::Exists(_))
        ));
        assert!(matches!(
            Container::load(&state_root, "b"),
            Err(OciError::NotFound(_))
        ));
    }
}
