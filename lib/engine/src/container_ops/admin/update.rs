//! `docker update`: the new limits are checked with docker's words, written into the
//! running container's cgroup (v1, v2, hybrid), and stored in `create.json` (the body
//! inspect shows and the request every start applies), so a restart keeps them.

use berth_api::container_ops::UpdateBody;
use berth_api::containers::model::RestartPolicyBody;
use berth_api::BackendError;
use berth_common::{CgroupPart, Limits};
use berth_runtime::state::RunState;

use crate::container_ops::archive::resolve;
use crate::containers::config::{request_of, Created};
use crate::Engine;

/// Docker's floor for a memory limit.
const MIN_MEMORY: i64 = 6 * 1024 * 1024;

fn invalid(message: impl Into<String>) -> BackendError {
    BackendError::invalid(message)
}

/// The checks dockerd makes (`verifyPlatformContainerResources`), with its messages.
fn check(body: &UpdateBody) -> Result<(), BackendError> {
    if body.memory != 0 && body.memory < MIN_MEMORY {
        return Err(invalid("Minimum memory limit allowed is 6MB"));
    }
    if body.memory > 0 && body.memory_swap > 0 && body.memory_swap < body.memory {
        return Err(invalid(
            "Minimum memoryswap limit should be larger than memory limit, see usage",
        ));
    }
    if body.nano_cpus > 0 && body.cpu_period > 0 {
        return Err(invalid(
            "Conflicting options: Nano CPUs and CPU Period cannot both be set",
        ));
    }
    if body.nano_cpus > 0 && body.cpu_quota > 0 {
        return Err(invalid(
            "Conflicting options: Nano CPUs and CPU Quota cannot both be set",
        ));
    }
    let cpus = std::thread::available_parallelism().map_or(1, |n| n.get()) as i64;
    if body.nano_cpus < 0 || body.nano_cpus > cpus * 1_000_000_000 {
        return Err(invalid(format!(
            "Range of CPUs is from 0.01 to {cpus}.00, as there are only {cpus} CPUs available"
        )));
    }
    if body.cpu_period != 0 && !(1000..=1_000_000).contains(&body.cpu_period) {
        return Err(invalid(
            "CPU cfs period can not be less than 1ms (i.e. 1000) or larger than 1s (i.e. 1000000)",
        ));
    }
    if body.cpu_quota > 0 && body.cpu_quota < 1000 {
        return Err(invalid(
            "CPU cfs quota can not be less than 1ms (i.e. 1000)",
        ));
    }
    if body.blkio_weight > 0 && !(10..=1000).contains(&body.blkio_weight) {
        return Err(invalid("Range of blkio weight is from 10 to 1000"));
    }
    let cpuset = &body.cpuset_cpus;
    if !cpuset.is_empty()
        && !cpuset
            .chars()
            .all(|c| c.is_ascii_digit() || c == ',' || c == '-')
    {
        return Err(invalid(format!("Invalid value {cpuset} for cpuset cpus")));
    }
    Ok(())
}

fn check_policy(policy: &RestartPolicyBody, auto_remove: bool) -> Result<(), BackendError> {
    let name = policy.name.as_deref().unwrap_or_default();
    if !matches!(name, "no" | "always" | "on-failure" | "unless-stopped") {
        return Err(invalid(format!(
            "invalid restart policy: unknown policy '{name}'; use one of 'no', 'always', 'on-failure', or 'unless-stopped'"
        )));
    }
    if auto_remove && name != "no" {
        return Err(invalid(
            "Restart policy cannot be updated because AutoRemove is enabled for the container",
        ));
    }
    if name != "on-failure" && policy.maximum_retry_count.unwrap_or(0) > 0 {
        return Err(invalid(
            "invalid restart policy: maximum retry count can only be used with 'on-failure'",
        ));
    }
    Ok(())
}

/// The body's limits with the update's non-zero values in.
fn merge(created: &mut Created, body: &UpdateBody) -> Result<(), BackendError> {
    let host = &mut created.body.host_config;
    let set = |value: i64| (value != 0).then_some(value);
    if let Some(memory) = set(body.memory) {
        host.memory = Some(memory);
    }
    if let Some(swap) = set(body.memory_swap) {
        host.memory_swap = Some(swap);
    }
    // More memory than the swap limit already set: docker wants both at once.
    if let (Some(memory), Some(swap)) = (host.memory, host.memory_swap) {
        if body.memory_swap == 0 && swap > 0 && memory > swap {
            return Err(invalid(
                "Memory limit should be smaller than already set memoryswap limit, update the memoryswap at the same time",
            ));
        }
    }
    if body.nano_cpus > 0 {
        host.nano_cpus = Some(body.nano_cpus);
    } else if body.cpu_quota > 0 {
        // berth keeps CPU limits as a CPU count over docker's 100 ms period.
        let period = if body.cpu_period > 0 {
            body.cpu_period
        } else {
            100_000
        };
        host.nano_cpus = Some(body.cpu_quota * 1_000_000_000 / period);
    }
    if let Some(shares) = set(body.cpu_shares) {
        host.cpu_shares = Some(shares);
    }
    if !body.cpuset_cpus.is_empty() {
        host.cpuset_cpus = Some(body.cpuset_cpus.clone());
    }
    if let Some(pids) = body.pids_limit {
        host.pids_limit = Some(pids);
    }
    if body.blkio_weight > 0 {
        host.blkio_weight = Some(body.blkio_weight);
    }
    if let Some(policy) = body
        .restart_policy
        .as_ref()
        .filter(|p| p.name.as_deref().is_some_and(|n| !n.is_empty()))
    {
        check_policy(policy, host.auto_remove)?;
        host.restart_policy = Some(policy.clone());
    }
    Ok(())
}

fn cgroup_error(e: berth_cgroups::CgroupError) -> BackendError {
    BackendError::new(e.kind(), format!("Cannot update container: {e}"))
}

/// Writes `limits` (already effective) into the running container's cgroup.
fn apply_live(part: &CgroupPart, limits: &Limits, reservation: i64) -> Result<(), BackendError> {
    let write = |path: std::path::PathBuf, value: &str| {
        berth_cgroups::fs::write(&path, value).map_err(cgroup_error)
    };
    if let Some(dir) = part.paths.get("unified").filter(|_| part.mode == "v2") {
        berth_cgroups::limits::apply_v2(dir, limits).map_err(cgroup_error)?;
        if reservation > 0 {
            write(dir.join("memory.low"), &reservation.to_string())?;
        }
        return Ok(());
    }
    let root = std::path::Path::new("/sys/fs/cgroup");
    // Raising memory above the current memory+swap limit is refused by v1 unless the
    // memory+swap limit moves first.
    let first = berth_cgroups::limits::apply_v1(&part.paths, limits, root);
    if first.is_err() {
        if let (Some(dir), Some(swap)) = (part.paths.get("memory"), limits.memory_swap) {
            write(dir.join("memory.memsw.limit_in_bytes"), &swap.to_string())?;
        }
        berth_cgroups::limits::apply_v1(&part.paths, limits, root).map_err(cgroup_error)?;
    }
    if let (Some(dir), Some(cpus)) = (part.paths.get("cpuset"), &limits.cpuset_cpus) {
        write(dir.join("cpuset.cpus"), cpus)?;
    }
    if let (Some(dir), true) = (part.paths.get("memory"), reservation > 0) {
        write(
            dir.join("memory.soft_limit_in_bytes"),
            &reservation.to_string(),
        )?;
    }
    Ok(())
}

pub fn update(
    engine: &Engine,
    reference: &str,
    body: UpdateBody,
) -> Result<Vec<String>, BackendError> {
    check(&body)?;
    let paths = engine.paths();
    let id = resolve(paths, reference)?;
    let mut created = Created::read(paths, &id)
        .map_err(|e| BackendError::new(e.kind(), e.to_string()))?
        .ok_or_else(|| {
            BackendError::invalid(format!(
                "Cannot update container {}: berth-run made it; only containers made through the API keep their limits",
                id.as_str()
            ))
        })?;
    merge(&mut created, &body)?;
    let name = berth_common::registry::identity(paths, &id)
        .ok()
        .flatten()
        .and_then(|p| p.name.map(|n| n.as_str().to_string()));
    let request = request_of(&created.body, name, engine.settings());
    let limits = request
        .limits()
        .map_err(|e| BackendError::invalid(e.to_string()))?;
    let limits = berth_cgroups::limits::effective(&limits)
        .map_err(|e| BackendError::invalid(e.to_string()))?;
    created.request = request;
    if let Some(state) = RunState::read(paths, &id)
        .ok()
        .flatten()
        .filter(RunState::is_running)
    {
        if let Some(part) = &state.record.cgroup {
            apply_live(part, &limits, body.memory_reservation)?;
        }
    }
    created
        .write(paths, &id)
        .map_err(|e| BackendError::new(e.kind(), e.to_string()))?;
    tracing::info!(id = %id, "updated");
    crate::events::record_id(paths, "update", &id, &[]);
    Ok(Vec::new())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dockers_checks_and_words() {
        let bad = |body: UpdateBody| check(&body).unwrap_err().message;
        assert_eq!(
            bad(UpdateBody {
                memory: 1024,
                ..Default::default()
            }),
            "Minimum memory limit allowed is 6MB"
        );
        assert!(bad(UpdateBody {
            blkio_weight: 5,
            ..Default::default()
        })
        .contains("10 to 1000"));
        assert!(bad(UpdateBody {
            nano_cpus: 1_000_000_000,
            cpu_period: 50_000,
            ..Default::default()
        })
        .contains("Conflicting options"));
        assert!(check(&UpdateBody {
            memory: 64 << 20,
            ..Default::default()
        })
        .is_ok());
        let policy = RestartPolicyBody {
            name: Some("sometimes".into()),
            maximum_retry_count: None,
        };
        assert!(check_policy(&policy, false)
            .unwrap_err()
            .message
            .contains("unknown policy"));
    }
}
