//! The spec's hooks, as `berth_process::hook`s. berth-oci runs `prestart` and
//! `createRuntime` in its own namespaces while the init waits before pivot_root (so they
//! come before `createContainer`, as the spec orders them, and a failure still undoes the
//! whole create), `poststart` after `start`, `poststop` at `delete`; the init runs
//! `createContainer` (in its namespaces, after the mounts, before pivot_root) and
//! `startContainer` (after `start`, before the command). A hook that fails or outlives its
//! `timeout` (seconds) fails the step; poststop failures are only logged, as in runc.

use std::time::Duration;

use berth_process::hook::{Hook, HookError};

use crate::state::OciState;

/// The spec's hooks of one stage, for the runner.
pub fn of(hooks: Option<&Vec<oci_spec::runtime::Hook>>) -> Vec<Hook> {
    hooks
        .into_iter()
        .flatten()
        .map(|h| Hook {
            path: h.path().clone(),
            args: h.args().clone().unwrap_or_default(),
            env: h.env().clone().unwrap_or_default(),
            timeout: h
                .timeout()
                .filter(|t| *t > 0)
                .map(|t| Duration::from_secs(t as u64)),
        })
        .collect()
}

pub fn run_all(
    stage: &'static str,
    hooks: Option<&Vec<oci_spec::runtime::Hook>>,
    state: &OciState,
) -> Result<(), HookError> {
    let input = serde_json::to_vec(state).expect("the state serialises");
    berth_process::hook::run_all(stage, &of(hooks), &input)
}
