//! cgroup v2: one directory, `<root>/<parent>/<id>`; controllers enabled through
//! cgroup.subtree_control of the root and of every parent component.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use berth_common::{CgroupPart, Limits};

use crate::detect::{Mode, UNIFIED, V2_CONTROLLERS};
use crate::error::{CgroupError, Result};
use crate::freeze::FreezerState;
use crate::stats::{OomReport, Stats};
use crate::v1::FreezeWith;
use crate::{devices, freeze, fs, kill, limits, stats, HostConfig};

#[derive(Debug, Clone)]
pub struct V2Manager {
    pub dir: PathBuf,
}

fn words(path: &Path) -> Result<Vec<String>> {
    Ok(fs::read_opt(path)?
        .unwrap_or_default()
        .split_whitespace()
        .map(str::to_string)
        .collect())
}

/// Enables `wanted` controllers (those the directory has) in its subtree_control.
pub fn enable_controllers(dir: &Path, wanted: &[&str]) -> Result<()> {
    let available = words(&dir.join("cgroup.controllers"))?;
    let enabled = words(&dir.join("cgroup.subtree_control"))?;
    for ctrl in wanted {
        if available.iter().any(|a| a == ctrl) && !enabled.iter().any(|e| e == ctrl) {
            fs::write(&dir.join("cgroup.subtree_control"), &format!("+{ctrl}"))?;
        }
    }
    Ok(())
}

/// The controllers the limits need.
fn needed(limits: &Limits) -> Vec<&'static str> {
    let mut out = Vec::new();
    if limits.memory.is_some() {
        out.push("memory");
    }
    if limits.cpus.is_some() || limits.cpu_shares.is_some() {
        out.push("cpu");
    }
    if limits.cpuset_cpus.is_some() {
        out.push("cpuset");
    }
    if limits.pids_limit.is_some() {
        out.push("pids");
    }
    out
}

pub fn create(config: &HostConfig, id: &str, limits: &Limits) -> Result<CgroupPart> {
    let parent = config.parent_components()?;
    let root = &config.root;
    let available = words(&root.join("cgroup.controllers"))?;
    for ctrl in needed(limits) {
        if !available.iter().any(|a| a == ctrl) {
            return Err(CgroupError::NoController {
                controller: ctrl.to_string(),
                root: root.clone(),
            });
        }
    }
    enable_controllers(root, V2_CONTROLLERS)?;
    let mut dir = root.clone();
    for part in &parent {
        dir.push(part);
        fs::mkdir(&dir)?;
        enable_controllers(&dir, V2_CONTROLLERS)?;
    }
    berth_common::fault::point("cgroup:parent");
    if config.parent_pids_max > 0 {
        let file = dir.join("pids.max");
        if file.exists() {
            fs::write(&file, &config.parent_pids_max.to_string())?;
        } else {
            tracing::warn!(
                "no pids controller under {}: the parent is not capped",
                root.display()
            );
        }
    }
    let dir = dir.join(id);
    let created = fs::mkdir(&dir)?;
    berth_common::fault::point("cgroup:created");
    if !created {
        let pids = fs::read_pids(&dir.join("cgroup.procs"))?;
        if !pids.is_empty() {
            return Err(CgroupError::Create {
                path: dir,
                source: std::io::Error::new(
                    std::io::ErrorKind::AlreadyExists,
                    format!("it exists and holds processes {pids:?}"),
                ),
            });
        }
    }
    let result = limits::apply_v2(&dir, limits).and_then(|()| {
        if config.device_filter {
            devices::apply_v2(&dir)
        } else {
            Ok(())
        }
    });
    berth_common::fault::point("cgroup:limits");
    let result = result.and_then(|()| crate::not_interrupted());
    if let Err(e) = result {
        if created {
            if let Err(undo) = fs::rmdir(&dir, Duration::from_millis(200)) {
                tracing::warn!("rolling back: {undo}");
            }
        }
        return Err(e);
    }
    Ok(CgroupPart {
        mode: Mode::V2.as_str().to_string(),
        paths: BTreeMap::from([(UNIFIED.to_string(), dir)]),
        limits: limits.clone(),
    })
}

impl crate::CgroupManager for V2Manager {
    fn mode(&self) -> Mode {
        Mode::V2
    }

    fn dirs(&self) -> Vec<PathBuf> {
        vec![self.dir.clone()]
    }

    fn place(&self, pid: u32) -> Result<()> {
        let path = self.dir.join("cgroup.procs");
        fs::write(&path, &pid.to_string()).map_err(|e| match e {
            CgroupError::Write { source, .. } => CgroupError::Place { pid, path, source },
            other => other,
        })
    }

    fn stats(&self) -> Result<Stats> {
        stats::v2(&self.dir)
    }

    fn oom(&self) -> Result<OomReport> {
        stats::v2_oom(&self.dir)
    }

    fn freeze(&self, timeout: Duration) -> Result<()> {
        freeze::v2_set(&self.dir, true, timeout)
    }

    fn thaw(&self, timeout: Duration) -> Result<()> {
        freeze::v2_set(&self.dir, false, timeout)
    }

    fn freezer_state(&self) -> Result<FreezerState> {
        freeze::v2_state(&self.dir)
    }

    fn kill_all(&self, timeout: Duration) -> Result<()> {
        let kill_file = self.dir.join("cgroup.kill");
        if kill_file.exists() {
            fs::write(&kill_file, "1")?;
            let procs = self.dir.join("cgroup.procs");
            return fs::wait_until(
                timeout,
                "the cgroup to empty after cgroup.kill",
                &procs,
                || Ok(!self.dir.exists() || fs::read_pids(&procs)?.is_empty()),
            );
        }
        kill::kill_loop(self, Some(FreezeWith::V2(&self.dir)), timeout)
    }
}
