//! `linux.cgroupsPath` and `linux.resources` onto berth-cgroups. A path `/a/b/c` is the
//! cgroup `c` under the parent `a/b` at the root of every hierarchy (berth never nests
//! containers under the caller's own cgroup, so a relative path is taken from the root
//! too); with `--systemd-cgroup`, `slice:prefix:name` is `<slice path>/prefix-name.scope`,
//! the cgroupfs path systemd would use (berth-oci does not ask systemd for the unit). No
//! path: `berth-oci/<id>`.

use berth_cgroups::devices::DeviceRule;
use berth_cgroups::io::{DeviceRate, IoLimits};
use berth_cgroups::HostConfig;
use berth_common::{CgroupPart, Limits};
use oci_spec::runtime::{LinuxResources, Spec};

use crate::OciError;

/// Where the container's cgroup goes: (parent, name).
pub fn location(spec: &Spec, id: &str, systemd: bool) -> Result<(String, String), OciError> {
    let given = spec
        .linux()
        .as_ref()
        .and_then(|l| l.cgroups_path().as_ref())
        .map(|p| p.display().to_string())
        .filter(|p| !p.is_empty());
    let Some(path) = given else {
        return Ok(("berth-oci".into(), id.to_string()));
    };
    if systemd {
        return systemd_location(&path);
    }
    let parts: Vec<&str> = path.split('/').filter(|p| !p.is_empty()).collect();
    if parts.iter().any(|p| *p == "." || *p == "..") {
        return Err(OciError::unsupported(
            "linux.cgroupsPath",
            format!("{path:?} climbs out"),
        ));
    }
    match parts.split_last() {
        Some((name, parent)) if !parent.is_empty() => Ok((parent.join("/"), name.to_string())),
        _ => Err(OciError::unsupported(
            "linux.cgroupsPath",
            format!("{path:?}: a cgroup right at the root of the hierarchy is not supported yet"),
        )),
    }
}

/// `system.slice:docker:abc` → (`system.slice`, `docker-abc.scope`); a slice `a-b.slice`
/// lives in `a.slice/a-b.slice`, as systemd lays them out.
fn systemd_location(path: &str) -> Result<(String, String), OciError> {
    let bad =
        |reason: &str| OciError::unsupported("linux.cgroupsPath", format!("{path:?}: {reason}"));
    let fields: Vec<&str> = path.split(':').collect();
    let [slice, prefix, name] = fields.as_slice() else {
        return Err(bad("expected slice:prefix:name with --systemd-cgroup"));
    };
    if [slice, prefix, name].iter().any(|f| f.contains('/')) || name.is_empty() {
        return Err(bad("slice, prefix and name cannot hold '/'"));
    }
    let slice = if slice.is_empty() {
        "system.slice"
    } else {
        slice
    };
    let base = slice
        .strip_suffix(".slice")
        .ok_or_else(|| bad("the slice must end in .slice"))?;
    let mut parts = Vec::new();
    let mut acc = String::new();
    for piece in base.split('-') {
        if !acc.is_empty() {
            acc.push('-');
        }
        acc.push_str(piece);
        parts.push(format!("{acc}.slice"));
    }
    let unit = if prefix.is_empty() {
        format!("{name}.scope")
    } else {
        format!("{prefix}-{name}.scope")
    };
    Ok((parts.join("/"), unit))
}

/// The limits berth-cgroups applies; what it cannot apply yet is refused by field.
pub fn limits(resources: Option<&LinuxResources>) -> Result<Limits, OciError> {
    let mut limits = Limits::default();
    let Some(res) = resources else {
        return Ok(limits);
    };
    let refuse = |field: &str| {
        OciError::unsupported(format!("linux.resources.{field}"), "not supported yet")
    };
    if let Some(memory) = res.memory() {
        limits.memory = memory.limit().filter(|l| *l > 0);
        limits.memory_swap = memory.swap().filter(|s| *s != 0);
        if memory.reservation().is_some_and(|r| r > 0) {
            return Err(refuse("memory.reservation"));
        }
    }
    if let Some(cpu) = res.cpu() {
        limits.cpu_shares = cpu.shares().filter(|s| *s > 0);
        if let (Some(quota), period) = (cpu.quota().filter(|q| *q > 0), cpu.period()) {
            let period = period.filter(|p| *p > 0).unwrap_or(100_000);
            limits.cpus = Some(quota as f64 / period as f64);
        }
        limits.cpuset_cpus = cpu.cpus().clone().filter(|c| !c.is_empty());
        if cpu.mems().as_ref().is_some_and(|m| !m.is_empty()) {
            return Err(refuse("cpu.mems"));
        }
    }
    if let Some(pids) = res.pids() {
        limits.pids_limit = Some(pids.limit()).filter(|l| *l > 0);
    }
    if let Some(blkio) = res.block_io() {
        limits.blkio_weight = blkio.weight().filter(|w| *w > 0);
    }
    if res
        .hugepage_limits()
        .as_ref()
        .is_some_and(|h| !h.is_empty())
    {
        return Err(refuse("hugepageLimits"));
    }
    if res.unified().as_ref().is_some_and(|u| !u.is_empty()) {
        return Err(refuse("unified"));
    }
    if res.rdma().as_ref().is_some_and(|r| !r.is_empty()) {
        return Err(refuse("rdma"));
    }
    Ok(limits)
}

pub fn host_config(parent: &str) -> HostConfig {
    HostConfig {
        parent: parent.to_string(),
        // The parent is the caller's (containerd's /default, a kubepods slice): berth
        // puts no cap of its own on it.
        parent_pids_max: 0,
        ..HostConfig::default()
    }
}

/// `linux.resources.blockIO`'s per-device throttles and weights.
pub fn io_limits(resources: Option<&LinuxResources>) -> IoLimits {
    let Some(blkio) = resources.and_then(|r| r.block_io().as_ref()) else {
        return IoLimits::default();
    };
    let rates = |list: &Option<Vec<oci_spec::runtime::LinuxThrottleDevice>>| {
        list.iter()
            .flatten()
            .map(|d| DeviceRate {
                major: d.major() as u64,
                minor: d.minor() as u64,
                rate: d.rate(),
            })
            .collect()
    };
    IoLimits {
        read_bps: rates(blkio.throttle_read_bps_device()),
        write_bps: rates(blkio.throttle_write_bps_device()),
        read_iops: rates(blkio.throttle_read_iops_device()),
        write_iops: rates(blkio.throttle_write_iops_device()),
        weight: blkio
            .weight_device()
            .iter()
            .flatten()
            .filter_map(|d| {
                Some(DeviceRate {
                    major: d.major() as u64,
                    minor: d.minor() as u64,
                    rate: u64::from(d.weight()?),
                })
            })
            .collect(),
    }
}

/// The container's cgroups, made with its limits, device rules (`device_rules`) and
/// block I/O limits (`io_limits`); undone if any of them cannot be written.
pub fn create(
    parent: &str,
    name: &str,
    limits: &Limits,
    devices: Option<&[DeviceRule]>,
    io: &IoLimits,
) -> Result<CgroupPart, OciError> {
    let config = HostConfig {
        device_filter: devices.is_none(),
        ..host_config(parent)
    };
    let part = berth_cgroups::create(&config, name, limits)?;
    let extra = devices
        .map_or(Ok(()), |rules| {
            berth_cgroups::devices::apply_rules(&part, rules)
        })
        .and_then(|()| berth_cgroups::io::apply(&part, io));
    if let Err(e) = extra {
        if let Err(undo) = remove(&part, Some(parent)) {
            tracing::warn!("undo the cgroups: {undo}");
        }
        return Err(e.into());
    }
    Ok(part)
}

/// Kills what is left, removes the container's cgroups, then every parent directory it
/// leaves empty (up to the hierarchy's root).
pub fn remove(part: &CgroupPart, parent: Option<&str>) -> Result<(), OciError> {
    berth_cgroups::down(part, berth_cgroups::DEFAULT_TIMEOUT)?;
    if let Some(parent) = parent {
        let config = host_config(parent);
        let mut components: Vec<&str> = parent.split('/').filter(|p| !p.is_empty()).collect();
        while !components.is_empty() {
            let _ = berth_cgroups::remove_parent_if_empty(&HostConfig {
                parent: components.join("/"),
                ..config.clone()
            });
            components.pop();
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec_with(path: &str) -> Spec {
        serde_json::from_value(serde_json::json!({
            "ociVersion": "1.0.2",
            "linux": {"cgroupsPath": path}
        }))
        .unwrap()
    }

    #[test]
    fn cgroups_path_splits_into_parent_and_name() {
        assert_eq!(
            location(&spec_with("/default/web"), "x", false).unwrap(),
            ("default".into(), "web".into())
        );
        assert_eq!(
            location(&spec_with("a/b/c"), "x", false).unwrap(),
            ("a/b".into(), "c".into())
        );
        assert_eq!(
            location(&spec_with(""), "x", false).unwrap(),
            ("berth-oci".into(), "x".into())
        );
        assert!(location(&spec_with("/only"), "x", false).is_err());
        assert!(location(&spec_with("/a/../b"), "x", false).is_err());
    }

    #[test]
    fn systemd_paths_map_onto_cgroupfs() {
        assert_eq!(
            location(&spec_with("system.slice:docker:abc"), "x", true).unwrap(),
            ("system.slice".into(), "docker-abc.scope".into())
        );
        assert_eq!(
            location(&spec_with("kubepods-besteffort.slice:cri:1"), "x", true).unwrap(),
            (
                "kubepods.slice/kubepods-besteffort.slice".into(),
                "cri-1.scope".into()
            )
        );
        assert!(location(&spec_with("/a/b"), "x", true).is_err());
    }

    #[test]
    fn resources_become_limits_and_the_rest_is_refused() {
        let res: LinuxResources = serde_json::from_value(serde_json::json!({
            "memory": {"limit": 67108864},
            "cpu": {"quota": 50000, "period": 100000, "shares": 512},
            "pids": {"limit": 10}
        }))
        .unwrap();
        let limits = limits(Some(&res)).unwrap();
        assert_eq!(limits.memory, Some(64 << 20));
        assert_eq!(limits.cpus, Some(0.5));
        assert_eq!(limits.cpu_shares, Some(512));
        assert_eq!(limits.pids_limit, Some(10));
        let res: LinuxResources =
            serde_json::from_value(serde_json::json!({"unified": {"memory.high": "1"}})).unwrap();
        assert!(limits_err(&res).contains("linux.resources.unified"));
    }

    fn limits_err(res: &LinuxResources) -> String {
        limits(Some(res)).unwrap_err().to_string()
    }
}
