//! A container's restart state, beside its other files: `<container dir>/restart.json`
//! with the restarts made by its policy (inspect's RestartCount), whether it was stopped
//! through the API (docker's "manually stopped": no restart on exit, and an
//! `unless-stopped` one stays down when the daemon starts), and whether a restart is
//! waiting out its back-off (State.Restarting).

use berth_common::{ContainerId, Paths};
use serde::{Deserialize, Serialize};

pub const RESTART_FILE: &str = "restart.json";

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct RestartRecord {
    pub count: u32,
    pub manually_stopped: bool,
    pub restarting: bool,
}

impl RestartRecord {
    pub fn read(paths: &Paths, id: &ContainerId) -> RestartRecord {
        let path = paths.container_dir(id).join(RESTART_FILE);
        berth_common::json_file::read_if_exists(&path)
            .ok()
            .flatten()
            .unwrap_or_default()
    }

    /// Writes the record (a container removed meanwhile keeps no record).
    pub fn write(&self, paths: &Paths, id: &ContainerId) {
        let dir = paths.container_dir(id);
        if !dir.is_dir() {
            return;
        }
        if let Err(e) = berth_common::json_file::write_atomic(&dir.join(RESTART_FILE), self) {
            tracing::warn!(%id, "restart state: {}: {}", e.path.display(), e.source);
        }
    }

    /// Reads, changes and writes the record.
    pub fn update(paths: &Paths, id: &ContainerId, change: impl FnOnce(&mut RestartRecord)) {
        let mut record = Self::read(paths, id);
        change(&mut record);
        record.write(paths, id);
    }
}
