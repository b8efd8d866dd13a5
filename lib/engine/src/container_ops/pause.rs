//! `docker pause` / `unpause`: the container's cgroup freezer (v1 freezer.state, v2
//! cgroup.freeze). The freezer itself is the record of being paused, so a container paused
//! by berthd reads as paused to anything else that looks at its cgroup.

use std::time::Duration;

use berth_api::BackendError;
use berth_cgroups::{CgroupManager, FreezerState};
use berth_runtime::state::RunState;

/// How long the kernel gets to settle FREEZING into FROZEN.
const TIMEOUT: Duration = Duration::from_secs(10);

fn cgroup_error(state: &RunState, error: berth_cgroups::CgroupError) -> BackendError {
    BackendError::new(
        error.kind(),
        format!("container {}: cgroup freezer: {error}", state.id.as_str()),
    )
}

/// The freezer's state, for a running container.
fn freezer(state: &RunState) -> Result<(Box<dyn CgroupManager>, FreezerState), BackendError> {
    let id = state.id.as_str();
    if !state.is_running() {
        return Err(BackendError::conflict(format!(
            "Container {id} is not running"
        )));
    }
    let part =
        state.record.cgroup.as_ref().ok_or_else(|| {
            BackendError::conflict(format!("Container {id} has no cgroup to freeze"))
        })?;
    let manager = berth_cgroups::manager(part).map_err(|e| cgroup_error(state, e))?;
    let current = manager
        .freezer_state()
        .map_err(|e| cgroup_error(state, e))?;
    Ok((manager, current))
}

pub fn pause(state: &RunState) -> Result<(), BackendError> {
    let (manager, current) = freezer(state)?;
    if current != FreezerState::Thawed {
        return Err(BackendError::conflict(format!(
            "Container {} is already paused",
            state.id.as_str()
        )));
    }
    manager.freeze(TIMEOUT).map_err(|e| cgroup_error(state, e))
}

pub fn unpause(state: &RunState) -> Result<(), BackendError> {
    let (manager, current) = freezer(state)?;
    if current == FreezerState::Thawed {
        return Err(BackendError::conflict(format!(
            "Container {} is not paused",
            state.id.as_str()
        )));
    }
    manager.thaw(TIMEOUT).map_err(|e| cgroup_error(state, e))
}

/// Whether running container `state` is paused (frozen or freezing): its cgroup says so.
/// A container without a cgroup, or one that cannot be read, is not.
pub fn paused(state: &RunState) -> bool {
    state
        .record
        .cgroup
        .as_ref()
        .and_then(|part| berth_cgroups::manager(part).ok())
        .and_then(|manager| manager.freezer_state().ok())
        .is_some_and(|s| s != FreezerState::Thawed)
}
