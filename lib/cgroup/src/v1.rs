//! cgroup v1 (and the v1 side of hybrid hosts): one directory per controller hierarchy,
//! `<root>/<ctrl>/<parent>/<id>`; on hybrid also `<root>/unified/<parent>/<id>` so the
//! process is tracked in the cgroup2 hierarchy too (no controllers are used there).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use berth_common::{CgroupPart, Limits};

use crate::detect::{Mode, UNIFIED, V1_CONTROLLERS};
use crate::error::{CgroupError, Result};
use crate::freeze::FreezerState;
use crate::stats::{OomReport, Stats};
use crate::{devices, freeze, fs, kill, limits, stats, HostConfig};

/// A container's v1 cgroups: controller → directory, and the unified directory on hybrid.
#[derive(Debug, Clone)]
pub struct V1Manager {
    pub mode: Mode,
    pub paths: BTreeMap<String, PathBuf>,
    pub unified: Option<PathBuf>,
}

/// Makes `parent` (component by component) under `hierarchy`, initialising cpuset
/// directories from their parents; returns the parent directory.
fn make_parent(hierarchy: &Path, parent: &[String], cpuset: bool) -> Result<PathBuf> {
    let mut dir = hierarchy.to_path_buf();
    for part in parent {
        dir.push(part);
        fs::mkdir(&dir)?;
        if cpuset {
            init_cpuset(&dir)?;
        }
    }
    Ok(dir)
}

/// A new v1 cpuset cgroup has empty cpuset.cpus and cpuset.mems (unless clone_children):
/// no task can join it until they are copied from its parent.
pub fn init_cpuset(dir: &Path) -> Result<()> {
    let parent = dir.parent().ok_or_else(|| CgroupError::Invalid {
        what: "cpuset cgroup".into(),
        reason: format!("{} has no parent", dir.display()),
    })?;
    for file in ["cpuset.cpus", "cpuset.mems"] {
        let path = dir.join(file);
        if fs::read(&path)?.is_empty() {
            let value = fs::read(&parent.join(file))?;
            if value.is_empty() {
                return Err(CgroupError::Parse {
                    path: parent.join(file),
                    content: "(empty: its own parent was never initialised)".into(),
                });
            }
            fs::write(&path, &value)?;
        }
    }
    Ok(())
}

/// Makes the container's directory; an existing one is reused only if it holds no
/// process (a leftover of a crash: ids are random, so it cannot be another container's).
fn make_container(dir: &Path) -> Result<bool> {
    let created = fs::mkdir(dir)?;
    if !created {
        let pids = fs::read_pids(&dir.join("cgroup.procs"))?;
        if !pids.is_empty() {
            return Err(CgroupError::Create {
                path: dir.to_path_buf(),
                source: std::io::Error::new(
                    std::io::ErrorKind::AlreadyExists,
                    format!("it exists and holds processes {pids:?}"),
                ),
            });
        }
        tracing::warn!("reusing the empty leftover cgroup {}", dir.display());
    }
    Ok(created)
}

pub fn create(config: &HostConfig, mode: Mode, id: &str, limits: &Limits) -> Result<CgroupPart> {
    let parent = config.parent_components()?;
    let mut paths = BTreeMap::new();
    let mut created = Vec::new();
    let result = (|| -> Result<()> {
        for &ctrl in V1_CONTROLLERS {
            let hierarchy = config.root.join(ctrl);
            if !hierarchy.is_dir() {
                tracing::warn!("no {ctrl} hierarchy at {}", hierarchy.display());
                continue;
            }
            let parent_dir = make_parent(&hierarchy, &parent, ctrl == "cpuset")?;
            berth_common::fault::point("cgroup:parent");
            if ctrl == "pids" && config.parent_pids_max > 0 {
                fs::write(
                    &parent_dir.join("pids.max"),
                    &config.parent_pids_max.to_string(),
                )?;
            }
            let dir = parent_dir.join(id);
            if make_container(&dir)? {
                created.push(dir.clone());
            }
            berth_common::fault::point("cgroup:created");
            if ctrl == "cpuset" {
                fs::write(
                    &dir.join("cpuset.mems"),
                    &fs::read(&parent_dir.join("cpuset.mems"))?,
                )?;
                let cpus = match &limits.cpuset_cpus {
                    Some(cpus) => cpus.clone(),
                    None => fs::read(&parent_dir.join("cpuset.cpus"))?,
                };
                fs::write(&dir.join("cpuset.cpus"), &cpus)?;
            }
            if ctrl == "devices" && config.device_filter {
                devices::apply_v1(&dir)?;
            }
            paths.insert(ctrl.to_string(), dir);
        }
        if limits.cpuset_cpus.is_some() && !paths.contains_key("cpuset") {
            return Err(CgroupError::NoController {
                controller: "cpuset".into(),
                root: config.root.clone(),
            });
        }
        if mode == Mode::Hybrid {
            let hierarchy = config.root.join(UNIFIED);
            let parent_dir = make_parent(&hierarchy, &parent, false)?;
            let dir = parent_dir.join(id);
            if make_container(&dir)? {
                created.push(dir.clone());
            }
            paths.insert(UNIFIED.to_string(), dir);
        }
        limits::apply_v1(&paths, limits, &config.root)?;
        berth_common::fault::point("cgroup:limits");
        crate::not_interrupted()
    })();
    if let Err(e) = result {
        for dir in created.iter().rev() {
            if let Err(undo) = fs::rmdir(dir, Duration::from_millis(200)) {
                tracing::warn!("rolling back: {undo}");
            }
        }
        return Err(e);
    }
    Ok(CgroupPart {
        mode: mode.as_str().to_string(),
        paths,
        limits: limits.clone(),
    })
}

impl V1Manager {
    fn ctrl(&self, name: &str) -> Result<&PathBuf> {
        self.paths
            .get(name)
            .ok_or_else(|| CgroupError::MissingPath {
                key: name.to_string(),
                mode: self.mode.as_str().to_string(),
            })
    }
}

impl crate::CgroupManager for V1Manager {
    fn mode(&self) -> Mode {
        self.mode
    }

    fn dirs(&self) -> Vec<PathBuf> {
        self.paths
            .values()
            .cloned()
            .chain(self.unified.clone())
            .collect()
    }

    fn place(&self, pid: u32) -> Result<()> {
        // Every hierarchy, the unified one last; cpuset first fails early if its
        // cpus/mems were never set.
        for dir in self.dirs() {
            let path = dir.join("cgroup.procs");
            fs::write(&path, &pid.to_string()).map_err(|e| match e {
                CgroupError::Write { source, .. } => CgroupError::Place { pid, path, source },
                other => other,
            })?;
        }
        Ok(())
    }

    fn stats(&self) -> Result<Stats> {
        stats::v1(&self.paths)
    }

    fn oom(&self) -> Result<OomReport> {
        stats::v1_oom(self.ctrl("memory")?)
    }

    fn freeze(&self, timeout: Duration) -> Result<()> {
        freeze::v1_freeze(self.ctrl("freezer")?, timeout)
    }

    fn thaw(&self, timeout: Duration) -> Result<()> {
        freeze::v1_thaw(self.ctrl("freezer")?, timeout)
    }

    fn freezer_state(&self) -> Result<FreezerState> {
        freeze::v1_state(self.ctrl("freezer")?)
    }

    fn kill_all(&self, timeout: Duration) -> Result<()> {
        let freezer = self.paths.get("freezer").cloned();
        kill::kill_loop(self, freezer.as_deref().map(FreezeWith::V1), timeout)
    }
}

/// How the kill loop freezes the cgroup between listing and signalling.
#[derive(Debug, Clone, Copy)]
pub enum FreezeWith<'a> {
    V1(&'a Path),
    V2(&'a Path),
}
