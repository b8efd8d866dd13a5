//! Docker's limits in cgroup v1 and v2 terms: the conversions, and writing them.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use berth_common::Limits;

use crate::error::{CgroupError, Result};
use crate::fs;

/// CFS period berth uses, as Docker (100 ms).
pub const CFS_PERIOD_US: u64 = 100_000;

fn invalid(what: &str, reason: String) -> CgroupError {
    CgroupError::Invalid {
        what: what.to_string(),
        reason,
    }
}

/// Docker's defaults applied and the values checked: `--memory` without `--memory-swap`
/// allows as much swap as memory (memory_swap = 2 × memory).
pub fn effective(limits: &Limits) -> Result<Limits> {
    let mut out = limits.clone();
    if let Some(memory) = out.memory {
        if memory <= 0 {
            return Err(invalid(
                "memory limit",
                format!("{memory} must be positive"),
            ));
        }
        if out.memory_swap.is_none() || out.memory_swap == Some(0) {
            out.memory_swap = Some(memory.saturating_mul(2));
        }
    }
    match (out.memory, out.memory_swap) {
        (_, Some(-1)) | (_, None) => {}
        (None, Some(swap)) => {
            return Err(invalid(
                "memory-swap",
                format!("{swap} needs --memory too (as in Docker)"),
            ))
        }
        (Some(memory), Some(swap)) if swap < memory => {
            return Err(invalid(
                "memory-swap",
                format!("{swap} is below the memory limit {memory}"),
            ))
        }
        _ => {}
    }
    if let Some(cpus) = out.cpus {
        cpus_to_quota(cpus)?;
    }
    if let Some(shares) = out.cpu_shares {
        if !(2..=262_144).contains(&shares) {
            return Err(invalid(
                "cpu-shares",
                format!("{shares} is not in 2..262144"),
            ));
        }
    }
    if let Some(weight) = out.blkio_weight {
        if !(10..=1000).contains(&weight) {
            return Err(invalid(
                "blkio-weight",
                format!("{weight} is not in 10..1000"),
            ));
        }
    }
    if let Some(cpus) = &out.cpuset_cpus {
        let ok = !cpus.is_empty()
            && cpus
                .chars()
                .all(|c| c.is_ascii_digit() || c == ',' || c == '-');
        if !ok {
            return Err(invalid(
                "cpuset-cpus",
                format!("{cpus:?} is not a CPU list like 0-2,4"),
            ));
        }
    }
    Ok(out)
}

/// CFS quota in µs for a period of [`CFS_PERIOD_US`].
pub fn cpus_to_quota(cpus: f64) -> Result<u64> {
    if !cpus.is_finite() || cpus <= 0.0 || cpus > 4096.0 {
        return Err(invalid(
            "cpus",
            format!("{cpus} is not a positive CPU count"),
        ));
    }
    let quota = (cpus * CFS_PERIOD_US as f64).round() as u64;
    // The kernel refuses quotas under 1 ms.
    Ok(quota.max(1000))
}

/// Docker's (and runc's) v1 shares → v2 weight: 2..262144 → 1..10000.
pub fn shares_to_weight(shares: u64) -> u64 {
    let shares = shares.clamp(2, 262_144);
    1 + ((shares - 2) * 9999) / 262_142
}

/// runc's blkio weight (10..1000) → io.weight (1..10000).
pub fn blkio_to_io_weight(weight: u16) -> u64 {
    let weight = u64::from(weight.clamp(10, 1000));
    1 + ((weight - 10) * 9999) / 990
}

/// v2 memory.swap.max: swap alone (memory_swap − memory), or `max`.
pub fn v2_swap_max(memory: i64, memory_swap: i64) -> String {
    if memory_swap < 0 {
        "max".to_string()
    } else {
        (memory_swap - memory).max(0).to_string()
    }
}

fn pids_value(limit: i64) -> String {
    if limit <= 0 {
        "max".to_string()
    } else {
        limit.to_string()
    }
}

fn controller<'a>(
    paths: &'a BTreeMap<String, PathBuf>,
    name: &str,
    root_hint: &Path,
) -> Result<&'a PathBuf> {
    paths.get(name).ok_or_else(|| CgroupError::NoController {
        controller: name.to_string(),
        root: root_hint.to_path_buf(),
    })
}

/// Writes the limits into v1 per-controller directories (`paths`: controller → cgroup dir).
/// cpuset is written by the creator (it needs cpuset.mems first).
pub fn apply_v1(paths: &BTreeMap<String, PathBuf>, limits: &Limits, root: &Path) -> Result<()> {
    if let Some(memory) = limits.memory {
        let dir = controller(paths, "memory", root)?;
        fs::write(&dir.join("memory.limit_in_bytes"), &memory.to_string())?;
        if let Some(swap) = limits.memory_swap {
            let memsw = dir.join("memory.memsw.limit_in_bytes");
            if memsw.exists() {
                fs::write(&memsw, &swap.to_string())?;
            } else {
                tracing::warn!(
                    "no swap accounting ({} is absent): swap is not limited",
                    memsw.display()
                );
            }
        }
    }
    if let Some(cpus) = limits.cpus {
        let dir = controller(paths, "cpu", root)?;
        fs::write(&dir.join("cpu.cfs_period_us"), &CFS_PERIOD_US.to_string())?;
        fs::write(
            &dir.join("cpu.cfs_quota_us"),
            &cpus_to_quota(cpus)?.to_string(),
        )?;
    }
    if let Some(shares) = limits.cpu_shares {
        let dir = controller(paths, "cpu", root)?;
        fs::write(&dir.join("cpu.shares"), &shares.to_string())?;
    }
    if let Some(pids) = limits.pids_limit {
        let dir = controller(paths, "pids", root)?;
        fs::write(&dir.join("pids.max"), &pids_value(pids))?;
    }
    if let Some(weight) = limits.blkio_weight {
        match paths.get("blkio") {
            None => tracing::warn!("no blkio controller: --blkio-weight is not applied"),
            Some(dir) => {
                let plain = dir.join("blkio.weight");
                let bfq = dir.join("blkio.bfq.weight");
                if plain.exists() {
                    fs::write(&plain, &weight.to_string())?;
                } else if bfq.exists() {
                    fs::write(&bfq, &weight.to_string())?;
                } else {
                    tracing::warn!(
                        "neither blkio.weight nor blkio.bfq.weight in {}: --blkio-weight is not applied",
                        dir.display()
                    );
                }
            }
        }
    }
    Ok(())
}

/// Writes the limits into one v2 cgroup directory.
pub fn apply_v2(dir: &Path, limits: &Limits) -> Result<()> {
    if let Some(memory) = limits.memory {
        fs::write(&dir.join("memory.max"), &memory.to_string())?;
        if let Some(swap) = limits.memory_swap {
            let file = dir.join("memory.swap.max");
            if file.exists() {
                fs::write(&file, &v2_swap_max(memory, swap))?;
            } else {
                tracing::warn!("{} is absent: swap is not limited", file.display());
            }
        }
    }
    if let Some(cpus) = limits.cpus {
        let value = format!("{} {CFS_PERIOD_US}", cpus_to_quota(cpus)?);
        fs::write(&dir.join("cpu.max"), &value)?;
    }
    if let Some(shares) = limits.cpu_shares {
        fs::write(
            &dir.join("cpu.weight"),
            &shares_to_weight(shares).to_string(),
        )?;
    }
    if let Some(cpus) = &limits.cpuset_cpus {
        fs::write(&dir.join("cpuset.cpus"), cpus)?;
    }
    if let Some(pids) = limits.pids_limit {
        fs::write(&dir.join("pids.max"), &pids_value(pids))?;
    }
    if let Some(weight) = limits.blkio_weight {
        let bfq = dir.join("io.bfq.weight");
        let plain = dir.join("io.weight");
        if bfq.exists() {
            fs::write(&bfq, &weight.to_string())?;
        } else if plain.exists() {
            fs::write(&plain, &format!("default {}", blkio_to_io_weight(weight)))?;
        } else {
            tracing::warn!(
                "neither io.bfq.weight nor io.weight in {}: --blkio-weight is not applied",
                dir.display()
            );
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn conversions_match_docker() {
        assert_eq!(shares_to_weight(2), 1);
        assert_eq!(shares_to_weight(1024), 39);
        assert_eq!(shares_to_weight(262_144), 10_000);
        assert_eq!(blkio_to_io_weight(10), 1);
        assert_eq!(blkio_to_io_weight(1000), 10_000);
        assert_eq!(cpus_to_quota(0.5).unwrap(), 50_000);
        assert_eq!(cpus_to_quota(1.5).unwrap(), 150_000);
        assert!(cpus_to_quota(0.0).is_err());
        assert_eq!(v2_swap_max(64, 128), "64");
        assert_eq!(v2_swap_max(64, -1), "max");
    }

    #[test]
    fn docker_defaults_and_checks() {
        let l = effective(&Limits {
            memory: Some(1 << 20),
            ..Limits::default()
        })
        .unwrap();
        assert_eq!(l.memory_swap, Some(2 << 20));
        let bad = Limits {
            memory: Some(100),
            memory_swap: Some(50),
            ..Limits::default()
        };
        assert!(effective(&bad).is_err());
        let swap_only = Limits {
            memory_swap: Some(50),
            ..Limits::default()
        };
        assert!(effective(&swap_only).is_err());
        let shares = Limits {
            cpu_shares: Some(1),
            ..Limits::default()
        };
        assert!(effective(&shares).is_err());
        let cpuset = Limits {
            cpuset_cpus: Some("0;1".into()),
            ..Limits::default()
        };
        assert!(effective(&cpuset).is_err());
    }
}
