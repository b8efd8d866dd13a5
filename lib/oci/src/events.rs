//! `events`: the container's cgroup statistics as runc's event lines
//! (`{"type":"stats","id":…,"data":{"cpu":…,"memory":…,"pids":…}}`, the fields berth-cgroups
//! reads), and `{"type":"oom","id":…}` when the OOM killer strikes in it.

use std::path::Path;

use serde_json::{json, Value};

use crate::state::{Container, Status};
use crate::OciError;

fn running(root: &Path, id: &str) -> Result<Container, OciError> {
    let container = Container::load(root, id)?;
    if container.status() == Status::Stopped {
        return Err(OciError::Status {
            id: id.to_string(),
            reason: "container is stopped".into(),
        });
    }
    Ok(container)
}

/// One stats event.
pub fn stats(root: &Path, id: &str) -> Result<Value, OciError> {
    let container = running(root, id)?;
    let stats = berth_cgroups::stats(container.cgroup()?)?;
    Ok(json!({
        "type": "stats",
        "id": id,
        "data": {
            "cpu": {"usage": {"total": stats.cpu_usage_ns.unwrap_or(0)}},
            "memory": {"usage": {
                "usage": stats.memory_usage.unwrap_or(0),
                "max": stats.memory_max_usage.unwrap_or(0),
                "limit": stats.memory_limit.unwrap_or(u64::MAX),
            }},
            "pids": {"current": stats.pids_current.unwrap_or(0)},
        }
    }))
}

/// Events every `interval` until the container stops: stats, and an `oom` event each time
/// its OOM kill count grows. `emit` gets each one.
pub fn watch(
    root: &Path,
    id: &str,
    interval: std::time::Duration,
    mut emit: impl FnMut(&Value),
) -> Result<(), OciError> {
    let mut kills = berth_cgroups::oom_killed(running(root, id)?.cgroup()?)?.oom_kills;
    loop {
        let container = Container::load(root, id)?;
        if container.status() == Status::Stopped {
            return Ok(());
        }
        let now = berth_cgroups::oom_killed(container.cgroup()?)?.oom_kills;
        if now > kills {
            emit(&json!({"type": "oom", "id": id}));
            kills = now;
        }
        match stats(root, id) {
            Ok(event) => emit(&event),
            Err(OciError::Status { .. }) => return Ok(()),
            Err(e) => return Err(e),
        }
        std::thread::sleep(interval);
    }
}
