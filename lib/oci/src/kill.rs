//! `kill`, `pause`, `resume`: signals to the init (or, with `--all`, every process of the
//! container's cgroups) and the freezer.

use std::path::Path;

use crate::state::{Container, Status};
use crate::OciError;

pub fn kill(root: &Path, id: &str, signal: i32, all: bool) -> Result<(), OciError> {
    let container = Container::load(root, id)?;
    if container.status() == Status::Stopped {
        return Err(OciError::Status {
            id: id.to_string(),
            reason: "container not running".into(),
        });
    }
    if all {
        if let Some(part) = &container.saved.cgroup {
            berth_cgroups::signal_all(part, signal)?;
            return Ok(());
        }
    }
    // SAFETY: kill(2) with a pid checked above to still be the container's init.
    if unsafe { libc::kill(container.saved.pid, signal) } != 0 {
        return Err(OciError::io(
            "signal",
            format!("pid {}", container.saved.pid),
        )(std::io::Error::last_os_error()));
    }
    Ok(())
}

/// Freezes (`pause`) or thaws (`resume`) the container's cgroups.
pub fn freeze(root: &Path, id: &str, frozen: bool) -> Result<(), OciError> {
    let container = Container::load(root, id)?;
    let (wanted, reason) = if frozen {
        (Status::Running, "container not running")
    } else {
        (Status::Paused, "container not paused")
    };
    if container.status() != wanted {
        return Err(OciError::Status {
            id: id.to_string(),
            reason: reason.into(),
        });
    }
    let part = container.cgroup()?;
    if frozen {
        berth_cgroups::freeze(part, berth_cgroups::DEFAULT_TIMEOUT)?;
    } else {
        berth_cgroups::thaw(part, berth_cgroups::DEFAULT_TIMEOUT)?;
    }
    Ok(())
}
