//! What berth-mount remembers about a container, so that `down --id` works without the
//! record and volumes know who uses them: `<root>/containers/<id>/rootfs.json`.

use std::path::PathBuf;

use berth_common::{ContainerPart, Paths, RootfsPart};
use serde::{Deserialize, Serialize};

use crate::error::{io_err, Result, RootfsError};

/// The state file's name inside the container's directory.
pub const STATE_FILE: &str = "rootfs.json";

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ContainerState {
    pub container: ContainerPart,
    pub rootfs: RootfsPart,
    /// The image the container was made from (`sha256:…`), and its layer directories,
    /// lowest first: what image garbage collection must keep while the container exists.
    #[serde(default)]
    pub image: String,
    #[serde(default)]
    pub layers: Vec<PathBuf>,
}

/// `<root>/containers/<id>`.
pub fn container_dir(paths: &Paths, id: &str) -> PathBuf {
    paths.containers().join(id)
}

/// `<run-dir>/containers/<id>/rootfs`: where the overlay is mounted.
pub fn rootfs_path(paths: &Paths, id: &str) -> PathBuf {
    paths.run_dir().join("containers").join(id).join("rootfs")
}

/// Refuses ids that are not 64 lowercase hex digits (they become path components).
pub fn check_id(id: &str) -> Result<()> {
    if id.len() == 64
        && id
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    {
        Ok(())
    } else {
        Err(RootfsError::Record(format!(
            "invalid container id {id:?}: 64 lowercase hex digits expected"
        )))
    }
}

/// Writes the state atomically (temp file + rename).
pub fn write_state(paths: &Paths, state: &ContainerState) -> Result<()> {
    let dir = container_dir(paths, &state.container.id);
    let path = dir.join(STATE_FILE);
    let tmp = dir.join(format!(".{STATE_FILE}.tmp"));
    let text = serde_json::to_vec_pretty(state).expect("the state serializes");
    std::fs::write(&tmp, text).map_err(io_err("writing", &tmp))?;
    std::fs::rename(&tmp, &path).map_err(io_err("writing", &path))
}

pub fn read_state(paths: &Paths, id: &str) -> Result<Option<ContainerState>> {
    berth_common::json_file::read_if_exists(&container_dir(paths, id).join(STATE_FILE))
        .map_err(|e| io_err(e.op, e.path)(e.source))
}

/// Every container with a state file.
pub fn all_states(paths: &Paths) -> Result<Vec<ContainerState>> {
    let dir = paths.containers();
    let entries = match std::fs::read_dir(&dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(io_err("reading", dir)(e)),
    };
    let mut out = Vec::new();
    for entry in entries {
        let entry = entry.map_err(io_err("reading", &dir))?;
        let name = entry.file_name().to_string_lossy().into_owned();
        if check_id(&name).is_ok() {
            if let Some(state) = read_state(paths, &name)? {
                out.push(state);
            }
        }
    }
    Ok(out)
}

/// A container id from a full id or a name (as given to `--name`).
pub fn resolve_container(paths: &Paths, id_or_name: &str) -> Result<String> {
    if check_id(id_or_name).is_ok() {
        return Ok(id_or_name.to_string());
    }
    all_states(paths)?
        .into_iter()
        .find(|s| s.container.name.as_deref() == Some(id_or_name))
        .map(|s| s.container.id)
        .ok_or_else(|| RootfsError::NoSuchContainer {
            id: id_or_name.to_string(),
        })
}

/// Lock file serialising container creation (name uniqueness) and removal.
pub fn containers_lock(paths: &Paths) -> PathBuf {
    paths.locks().join("containers.lock")
}
