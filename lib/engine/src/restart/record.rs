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
    /// The back-off before the last restart, in ms (0: none yet).
    pub backoff_ms: u64,
    /// While `restarting`: when the restart is due, in ms since the epoch.
    pub due_ms: u64,
}

/// Now, in ms since the epoch.
pub fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

impl RestartRecord {
    /// The back-off before the last restart, to go on from.
    pub fn backoff(&self) -> Option<std::time::Duration> {
        (self.backoff_ms > 0).then(|| std::time::Duration::from_millis(self.backoff_ms))
    }

    /// How long until the restart waiting out its back-off is due (zero: now).
    pub fn until_due(&self) -> std::time::Duration {
        std::time::Duration::from_millis(self.due_ms.saturating_sub(now_ms()))
    }

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
            tracing::warn!(%id, "restart state: {e}");
        }
    }

    /// Reads, changes and writes the record.
    pub fn update(paths: &Paths, id: &ContainerId, change: impl FnOnce(&mut RestartRecord)) {
        let mut record = Self::read(paths, id);
        change(&mut record);
        record.write(paths, id);
    }
}
