//! Detached containers, managed without a daemon: `ps`, `stop`, `kill`, `logs`, `rm`
//! (`attach` is in `attach.rs`).
//! Everything works from the state files the monitors write, so the daemon can call the
//! same functions.

use std::io::Write;
use std::time::{Duration, Instant};

/// A process that exists and is not a zombie (an exited monitor waits for init to reap it).
pub use berth_common::proc_stat::alive;
use berth_common::{registry, ContainerId, Paths};

use crate::state::{self, RunState};
use crate::{logs, RunError};

/// Sends `signal` to the container's first process.
pub fn kill(paths: &Paths, reference: &str, signal: i32) -> Result<RunState, RunError> {
    let state = state::find(paths, reference)?;
    if !state.is_running() {
        return Err(RunError::NotRunning {
            container: short(&state.id).to_string(),
        });
    }
    // SAFETY: kill has no memory effects; the pid is the container's first process.
    if unsafe { libc::kill(state.pid, signal) } != 0 {
        return Err(RunError::Signal {
            container: short(&state.id).to_string(),
            source: std::io::Error::last_os_error(),
        });
    }
    killed(paths, &state, signal);
    Ok(state)
}

/// The `kill` event docker records for each signal sent, by stop too.
fn killed(paths: &Paths, state: &RunState, signal: i32) {
    let event = crate::events::of(paths, "kill", state).with("signal", signal.to_string());
    berth_common::events::emit(paths, &event);
}

/// The stop signal, then SIGKILL to every process of the container after `timeout`; waits
/// until the monitor has recorded the exit.
pub fn stop(paths: &Paths, reference: &str, timeout: Duration) -> Result<RunState, RunError> {
    let state = state::find(paths, reference)?;
    if !state.is_running() {
        return Ok(state);
    }
    // SAFETY: kill has no memory effects.
    unsafe { libc::kill(state.pid, state.stop_signal) };
    killed(paths, &state, state.stop_signal);
    if !wait_exit(&state, timeout) {
        killed(paths, &state, libc::SIGKILL);
        if let Some(cgroup) = &state.record.cgroup {
            let _ = berth_cgroups::kill_all(cgroup, berth_cgroups::DEFAULT_TIMEOUT);
        }
        if state.is_running() {
            // SAFETY: as above; the pid is checked to still be the container's.
            unsafe { libc::kill(state.pid, libc::SIGKILL) };
        }
        wait_exit(&state, Duration::from_secs(10));
    }
    wait_monitor(&state, Duration::from_secs(10));
    crate::events::emit(paths, "stop", &state);
    Ok(state::find(paths, &state.id).unwrap_or(state))
}

fn wait_exit(state: &RunState, timeout: Duration) -> bool {
    let start = Instant::now();
    while alive(state.pid) && state.is_running() {
        if start.elapsed() > timeout {
            return false;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    true
}

/// Waits until the monitor is gone (it exits after recording the status and tearing down).
fn wait_monitor(state: &RunState, timeout: Duration) {
    let start = Instant::now();
    while start.elapsed() < timeout {
        if !alive(state.monitor_pid) {
            return;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// Removes a stopped container (or, with `force`, kills it first): its rootfs, writable
/// layer, anonymous volumes, logs and state. A container that never started (no run state:
/// its setup was killed, or the stages made it) is removed from what is on disk and in the
/// kernel, its cgroups looked for under `cgroups`' parent.
pub fn remove(
    paths: &Paths,
    reference: &str,
    force: bool,
    cgroups: &berth_cgroups::HostConfig,
) -> Result<String, RunError> {
    remove_with(paths, reference, force, true, cgroups)
}

/// [`remove`], keeping the anonymous volumes unless `volumes` (`docker rm` without `-v`).
pub fn remove_with(
    paths: &Paths,
    reference: &str,
    force: bool,
    volumes: bool,
    cgroups: &berth_cgroups::HostConfig,
) -> Result<String, RunError> {
    let id = registry::resolve(paths, reference).map_err(state::StateError::from)?;
    let Some(state) = RunState::read(paths, &id)? else {
        return remove_unstarted(paths, reference, &id, force, volumes, cgroups);
    };
    // Made before the container's directory (and the attributes it holds) goes.
    let destroyed = crate::events::of(paths, "destroy", &state);
    if state.is_running() {
        if !force {
            return Err(RunError::Running {
                container: short(&state.id).to_string(),
            });
        }
        stop(paths, &state.id, Duration::ZERO)?;
    }
    // A monitor killed with SIGKILL leaves its socket behind.
    crate::attach::unlisten(paths, &state.id);
    // The same teardown as the end of a run: cgroups, network, rootfs and writable layer;
    // after the run's own teardown finished, only what a removal deletes.
    let teardown =
        crate::Teardown::for_record(paths, &state.record, true).removing_volumes(volumes);
    let teardown = if state.torn_down && !state.is_running() {
        teardown.removal_only()
    } else {
        teardown
    };
    teardown.run().finish(|errors| RunError::Teardown {
        container: short(&state.id).to_string(),
        errors,
    })?;
    let dir = state::dir(paths, &state.id);
    if dir.exists() {
        std::fs::remove_dir_all(&dir)
            .map_err(|source| RunError::RemoveState { path: dir, source })?;
    }
    berth_common::events::emit(paths, &destroyed);
    Ok(state.id.to_string())
}

/// The teardown of a container without a run state, part by part as each stage's own
/// teardown does it by id (`berth-cgroup down`, `berth-net down`, `berth-mount rm`): every
/// part runs, what is already gone is done. A container of which nothing is left is not
/// found, as docker says for one never made.
fn remove_unstarted(
    paths: &Paths,
    reference: &str,
    id: &ContainerId,
    force: bool,
    volumes: bool,
    cgroups: &berth_cgroups::HostConfig,
) -> Result<String, RunError> {
    let cgroup = berth_cgroups::part_for(&made_under(paths, id, cgroups), id)?;
    let cgroup_exists = cgroup.paths.values().any(|p| p.is_dir());
    let traces = [
        state::dir(paths, id),
        paths.container_run_dir(id),
        berth_net::attach::netns_path(paths, id),
    ];
    if !cgroup_exists && !traces.iter().any(|p| p.exists()) {
        return Err(state::StateError::NotFound(reference.to_string()).into());
    }
    // The stages' containers have no run state either, and berth-enter may run one now:
    // its processes are in the cgroup. An unreadable cgroup counts as busy.
    if cgroup_exists && !force && berth_cgroups::procs(&cgroup).map_or(true, |p| !p.is_empty()) {
        return Err(RunError::Running {
            container: id.short().to_string(),
        });
    }
    let _finish_first = berth_common::TerminationBlocked::new();
    let mut errors = berth_common::ErrorList::new();
    errors.check(
        berth_cgroups::down(&cgroup, berth_cgroups::DEFAULT_TIMEOUT).map_err(RunError::from),
    );
    errors.check(berth_net::down(paths, id).map_err(RunError::from));
    errors.check(
        berth_rootfs::down_with(paths, id, None, true, volumes)
            .map(drop)
            .map_err(RunError::from),
    );
    errors.finish(|errors| RunError::Teardown {
        container: id.short().to_string(),
        errors,
    })?;
    Ok(id.to_string())
}

/// `cgroups` with the parent container `id` was set up under, as its rootfs state or its
/// registered identity recorded it (the parent given now when neither did).
fn made_under(
    paths: &Paths,
    id: &ContainerId,
    cgroups: &berth_cgroups::HostConfig,
) -> berth_cgroups::HostConfig {
    let from_state = berth_rootfs::state::read_state(paths, id)
        .ok()
        .flatten()
        .and_then(|s| s.container.cgroup_parent);
    let recorded = from_state.or_else(|| {
        registry::identity(paths, id)
            .ok()
            .flatten()
            .and_then(|c| c.cgroup_parent)
    });
    let recorded = recorded
        .filter(|parent| *parent != cgroups.parent)
        .map(|parent| berth_cgroups::HostConfig {
            parent,
            ..cgroups.clone()
        });
    // A record naming no valid parent (`..`) is not followed out of the hierarchy.
    match recorded.filter(|config| config.parent_components().is_ok()) {
        Some(config) => config,
        None => cgroups.clone(),
    }
}

/// Copies the container's logs to `stdout` and `stderr` (what the container wrote to each);
/// with `request.follow`, until it exits, the request is cancelled or a writer fails.
pub fn logs(
    paths: &Paths,
    reference: &str,
    request: &logs::LogsRequest,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> Result<(), RunError> {
    let state = state::find(paths, reference)?;
    let mut running = || {
        RunState::read(paths, &state.id)
            .ok()
            .flatten()
            .is_some_and(|s| s.is_running())
    };
    logs::copy(
        &state::log_path(paths, &state.id),
        request,
        &mut running,
        out,
        err,
    )
}

pub use crate::ps_view::print_ps;

/// One `ps` row.
#[derive(Debug, Clone, serde::Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct PsRow {
    pub id: String,
    pub image: String,
    pub command: String,
    pub created: String,
    pub status: String,
    /// Published ports as docker shows them: `0.0.0.0:8080->80/tcp`.
    pub ports: String,
    pub names: String,
}

pub fn ps(paths: &Paths, all: bool) -> Vec<PsRow> {
    state::all(paths)
        .into_iter()
        .filter(|s| all || s.is_running())
        .map(|s| PsRow {
            id: s.id.to_string(),
            image: s.image.clone(),
            command: s.command.join(" "),
            created: s.created.clone(),
            status: crate::ps_view::status(&s),
            ports: ports_column(&s),
            names: s.name.as_deref().unwrap_or_default().to_string(),
        })
        .collect()
}

fn ports_column(state: &RunState) -> String {
    if !state.is_running() {
        return String::new();
    }
    state
        .record
        .network
        .iter()
        .flat_map(|n| n.ports.iter())
        .map(|p| {
            format!(
                "{}:{}->{}/{}",
                p.host_ip, p.host_port, p.container_port, p.proto
            )
        })
        .collect::<Vec<_>>()
        .join(", ")
}

pub fn short(id: &str) -> &str {
    &id[..id.len().min(12)]
}

/// The second half of a detached container's monitor (`berth-run __teardown ID`, exec'd by
/// berth-monitor once the container exited and its exit status is recorded): OOM check,
/// cgroup and rootfs teardown, removal with `--rm`.
pub fn teardown_exited(paths: &Paths, id: &str) -> Result<(), RunError> {
    let id = &berth_common::ContainerId::parse(id).map_err(state::StateError::from)?;
    let Some(mut state) = state::RunState::read(paths, id)? else {
        return Err(RunError::State(state::StateError::NotFound(id.to_string())));
    };
    state.oom_killed = crate::oom_killed(&state.record);
    state.refresh_identity(paths);
    // berth-monitor removed it already; an older or interrupted one may not have.
    crate::attach::unlisten(paths, id);
    if !state.auto_remove {
        state.write(paths)?;
        let _ = std::fs::remove_file(state::dir(paths, id).join(state::EXIT_FILE));
    }
    // The first reader of the code berth-monitor wrote records the exit.
    crate::events::exited(paths, &state);
    let destroyed = crate::events::of(paths, "destroy", &state);
    crate::Teardown::for_record(paths, &state.record, state.auto_remove)
        .run()
        .finish(|errors| RunError::Teardown {
            container: short(id).to_string(),
            errors,
        })?;
    if state.auto_remove {
        berth_common::events::emit(paths, &destroyed);
    } else {
        // A later removal (berthd's AutoRemove, `rm`) deletes the files only.
        state.torn_down = true;
        if let Err(e) = state.write(paths) {
            tracing::debug!(id = %id, "marking the teardown done: {e}");
        }
    }
    Ok(())
}
