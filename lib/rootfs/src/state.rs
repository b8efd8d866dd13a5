//! What berth-mount remembers about a container, so that `down --id` works without the
//! record and volumes know who uses them: `<root>/containers/<id>/rootfs.json`. Who the
//! container is (its directory, id, name, lock) is the registry's
//! ([`berth_common::registry`]).

use std::path::PathBuf;

use berth_common::{ContainerId, ContainerPart, Paths, RootfsPart};
use serde::{Deserialize, Serialize};

use crate::error::{io_err, Result};

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
pub fn container_dir(paths: &Paths, id: &ContainerId) -> PathBuf {
    paths.container_dir(id)
}

/// `<run-dir>/containers/<id>/rootfs`: where the overlay is mounted.
pub fn rootfs_path(paths: &Paths, id: &ContainerId) -> PathBuf {
    paths.container_run_dir(id).join("rootfs")
}

/// The id `text` is, or an error naming it (ids become path components).
pub fn check_id(text: &str) -> Result<ContainerId> {
    Ok(ContainerId::parse(text)?)
}

/// Writes the state atomically (and durably unless `durability` says otherwise).
pub fn write_state(
    paths: &Paths,
    state: &ContainerState,
    durability: berth_common::json_file::Durability,
) -> Result<()> {
    let path = container_dir(paths, &state.container.id).join(STATE_FILE);
    berth_common::json_file::write_atomic_as(&path, state, durability)
        .map_err(|e| io_err(e.op, e.path)(e.source))
}

pub fn read_state(paths: &Paths, id: &ContainerId) -> Result<Option<ContainerState>> {
    berth_common::json_file::read_if_exists(&container_dir(paths, id).join(STATE_FILE))
        .map_err(|e| io_err(e.op, e.path)(e.source))
}

/// Every container with a state file.
pub fn all_states(paths: &Paths) -> Result<Vec<ContainerState>> {
    let mut out = Vec::new();
    for id in berth_common::registry::ids(paths)? {
        if let Some(state) = read_state(paths, &id)? {
            out.push(state);
        }
    }
    Ok(out)
}
