//! The container operations of `berth-api` over the store and the container's cgroup.

pub(crate) mod admin;
pub(crate) mod archive;
pub(crate) mod pause;
mod stats;
mod top;

use berth_api::{BackendError, ContainerOpsBackend, StatsSample};
use berth_common::ErrorKind;
use berth_runtime::state::{self, RunState, StateError};
use bollard_stubs::models::ContainerTopResponse;

use crate::Engine;

impl ContainerOpsBackend for Engine {
    fn top(&self, reference: &str, ps_args: &str) -> Result<ContainerTopResponse, BackendError> {
        let state = find(self, reference)?;
        if !state.is_running() {
            return Err(BackendError::conflict(format!(
                "Container {} is not running",
                state.id.as_str()
            )));
        }
        top::top(&state, ps_args).map_err(|e| BackendError::new(e.kind(), e.to_string()))
    }

    fn stats_sample(&self, reference: &str) -> Result<StatsSample, BackendError> {
        Ok(stats::sample(&find(self, reference)?))
    }

    fn pause(&self, reference: &str) -> Result<(), BackendError> {
        let state = find(self, reference)?;
        pause::pause(&state)?;
        crate::events::record_state(self.paths(), "pause", &state);
        Ok(())
    }

    fn unpause(&self, reference: &str) -> Result<(), BackendError> {
        let state = find(self, reference)?;
        pause::unpause(&state)?;
        crate::events::record_state(self.paths(), "unpause", &state);
        Ok(())
    }
}

/// The container's run state, with docker's wording for a reference that names none.
fn find(engine: &Engine, reference: &str) -> Result<RunState, BackendError> {
    state::find(engine.paths(), reference).map_err(|error| match error {
        StateError::NotFound(_) => no_such_container(reference),
        StateError::Registry(e) if e.kind() == ErrorKind::NotFound => no_such_container(reference),
        StateError::Registry(e) => BackendError::new(e.kind(), e.to_string()),
        other => BackendError::internal(other.to_string()),
    })
}

pub(crate) fn no_such_container(reference: &str) -> BackendError {
    BackendError::not_found(format!("No such container: {reference}"))
}
