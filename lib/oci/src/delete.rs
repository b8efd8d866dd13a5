//! `delete`: a stopped (or still created) container's cgroups and state go; a running one
//! only with `--force`, which kills it first.

use std::path::Path;
use std::time::{Duration, Instant};

use crate::state::{Container, Status};
use crate::{cgroups, OciError};

pub fn delete(root: &Path, id: &str, force: bool) -> Result<(), OciError> {
    let container = match Container::load(root, id) {
        Err(OciError::NotFound(_)) if force => return Ok(()),
        other => other?,
    };
    let status = container.status();
    match status {
        Status::Stopped => {}
        // A created container never ran its command: runc deletes it without --force.
        Status::Created => kill_init(&container),
        Status::Running | Status::Paused if force => {
            if let Some(part) = &container.saved.cgroup {
                if status == Status::Paused {
                    let _ = berth_cgroups::thaw(part, berth_cgroups::DEFAULT_TIMEOUT);
                }
            }
            kill_init(&container);
        }
        Status::Running | Status::Paused => {
            return Err(OciError::Status {
                id: id.to_string(),
                reason: format!(
                    "cannot delete container {id} that is not stopped: {}",
                    status.as_str()
                ),
            })
        }
    }
    remove(&container)
}

/// SIGKILL to the init, then a wait until it has exited (its reaper is the caller's
/// subreaper or init, not us).
fn kill_init(container: &Container) {
    berth_process::signals::forward(container.saved.pid, libc::SIGKILL);
    let deadline = Instant::now() + Duration::from_secs(10);
    while container.alive() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(1));
    }
}

/// The cgroups (whatever still runs in them is killed), the poststop hooks, and the state
/// directory.
pub fn remove(container: &Container) -> Result<(), OciError> {
    if let Some(part) = &container.saved.cgroup {
        cgroups::remove(part, container.saved.cgroup_parent.as_deref())?;
    }
    if let Some(hooks) = &container.saved.hooks {
        if let Err(e) = crate::hooks::run_all(
            "poststop",
            hooks.poststop().as_ref(),
            &container.oci_state(),
        ) {
            tracing::warn!("{e}");
        }
    }
    match std::fs::remove_dir_all(&container.dir) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(OciError::io("remove", &container.dir)(e)),
    }
}
