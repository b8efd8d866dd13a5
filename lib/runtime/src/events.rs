//! The events a container's run records in the root's journal (`berth_common::events`):
//! whoever does the thing records it, so `berth-run`, berthd's start helper and a
//! monitor's teardown all write the same lines. The exit (`die`, after `oom` when the
//! kernel's OOM killer struck) is recorded by the teardown that first reads the code the
//! monitor wrote: berth-monitor stays std-only and writes no JSON of its own.

use berth_common::events::{self, Event};
use berth_common::Paths;

use crate::state::RunState;

/// An event of the container `state` describes.
pub(crate) fn of(paths: &Paths, action: &str, state: &RunState) -> Event {
    let name = state.name.as_ref().map_or("", |n| n.as_str());
    Event::container(paths, action, &state.id, name, &state.image)
}

pub(crate) fn emit(paths: &Paths, action: &str, state: &RunState) {
    events::emit(paths, &of(paths, action, state));
}

/// `oom` (when it struck) and `die` with the exit code, for a container that has exited.
pub(crate) fn exited(paths: &Paths, state: &RunState) {
    if state.oom_killed {
        emit(paths, "oom", state);
    }
    let code = state.exit_code.unwrap_or(-1);
    events::emit(
        paths,
        &of(paths, "die", state).with("exitCode", code.to_string()),
    );
}
