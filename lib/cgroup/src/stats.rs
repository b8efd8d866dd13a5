//! Usage numbers and OOM kills, read from v1 controller files or one v2 directory.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::error::Result;
use crate::fs;

/// What `stats` reports; a field is absent when its controller or file is.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct Stats {
    /// Bytes in use now.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub memory_usage: Option<u64>,
    /// Highest usage seen (v1 max_usage_in_bytes, v2 memory.peak).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub memory_max_usage: Option<u64>,
    /// The limit; absent when unlimited.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub memory_limit: Option<u64>,
    /// CPU time used, nanoseconds.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cpu_usage_ns: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pids_current: Option<u64>,
}

/// Whether the kernel's OOM killer struck inside the cgroup.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct OomReport {
    pub oom_killed: bool,
    /// Processes killed by the OOM killer (`oom_kill` counter).
    pub oom_kills: u64,
    /// Times the memory limit was hit (v1 memory.failcnt, v2 memory.events `max`).
    pub limit_hits: u64,
}

fn opt_num(path: &Path) -> Result<Option<u64>> {
    if !path.exists() {
        return Ok(None);
    }
    fs::read_u64_or_max(path)
}

/// v1 reports "unlimited" as a page-rounded huge number.
fn v1_limit(value: Option<u64>) -> Option<u64> {
    value.filter(|&v| v < (i64::MAX as u64) & !0xfff)
}

pub fn v1(paths: &BTreeMap<String, PathBuf>) -> Result<Stats> {
    let mut stats = Stats::default();
    if let Some(dir) = paths.get("memory") {
        stats.memory_usage = opt_num(&dir.join("memory.usage_in_bytes"))?;
        stats.memory_max_usage = opt_num(&dir.join("memory.max_usage_in_bytes"))?;
        stats.memory_limit = v1_limit(opt_num(&dir.join("memory.limit_in_bytes"))?);
    }
    if let Some(dir) = paths.get("cpuacct") {
        stats.cpu_usage_ns = opt_num(&dir.join("cpuacct.usage"))?;
    }
    if let Some(dir) = paths.get("pids") {
        stats.pids_current = opt_num(&dir.join("pids.current"))?;
    }
    Ok(stats)
}

pub fn v2(dir: &Path) -> Result<Stats> {
    Ok(Stats {
        memory_usage: opt_num(&dir.join("memory.current"))?,
        memory_max_usage: opt_num(&dir.join("memory.peak"))?,
        memory_limit: opt_num(&dir.join("memory.max"))?,
        cpu_usage_ns: fs::read_keyed(&dir.join("cpu.stat"), "usage_usec")?.map(|us| us * 1000),
        pids_current: opt_num(&dir.join("pids.current"))?,
    })
}

/// v1: memory.oom_control `oom_kill N` (kernel 4.13+); without that counter a non-zero
/// memory.failcnt with `under_oom`… cannot tell a kill from reclaim, so only failcnt is
/// reported and `oom_killed` stays false.
pub fn v1_oom(dir: &Path) -> Result<OomReport> {
    let control = dir.join("memory.oom_control");
    let oom_kills = fs::read_keyed(&control, "oom_kill")?.unwrap_or(0);
    let limit_hits = opt_num(&dir.join("memory.failcnt"))?.unwrap_or(0);
    Ok(OomReport {
        oom_killed: oom_kills > 0,
        oom_kills,
        limit_hits,
    })
}

pub fn v2_oom(dir: &Path) -> Result<OomReport> {
    let events = dir.join("memory.events");
    let oom_kills = fs::read_keyed(&events, "oom_kill")?.unwrap_or(0);
    let limit_hits = fs::read_keyed(&events, "max")?.unwrap_or(0);
    Ok(OomReport {
        oom_killed: oom_kills > 0,
        oom_kills,
        limit_hits,
    })
}
