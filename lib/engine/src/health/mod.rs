//! Healthchecks: while a container with a `Healthcheck` (its create config's, else its
//! image's) runs, a thread of berthd's runs the test inside it at the interval, the way
//! `POST /exec` does (`berth-run exec`), and records the outcome in the container's
//! `health.json`: status, failing streak, the last five probes. Inspect, `ps` and the
//! `health=` filter read that file, so a restarted berthd shows it and resumes probing
//! (`resume`).

mod probe;

use std::collections::HashSet;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use berth_api::containers::HealthConfig;
use berth_common::{json_file, ContainerId, Paths};
use serde::{Deserialize, Serialize};

use crate::containers::Entry;

const DEFAULT_INTERVAL: Duration = Duration::from_secs(30);
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);
const DEFAULT_START_INTERVAL: Duration = Duration::from_secs(5);
const DEFAULT_RETRIES: u32 = 3;
/// Probes kept in the log, as docker keeps.
const LOG_LEN: usize = 5;

/// `State.Health` as docker shows it.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Health {
    pub status: String,
    pub failing_streak: u32,
    pub log: Vec<ProbeResult>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ProbeResult {
    pub start: String,
    pub end: String,
    pub exit_code: i64,
    pub output: String,
}

/// The test and its timing, docker's defaults filled in.
#[derive(Debug, Clone, PartialEq)]
pub struct Check {
    /// What `berth-run exec` runs: `CMD`'s argv, or `sh -c` with `CMD-SHELL`'s line.
    pub argv: Vec<String>,
    pub interval: Duration,
    pub timeout: Duration,
    pub start_period: Duration,
    pub start_interval: Duration,
    pub retries: u32,
}

fn nanos(value: Option<i64>, default: Duration) -> Duration {
    match value {
        Some(n) if n > 0 => Duration::from_nanos(n as u64),
        _ => default,
    }
}

impl Check {
    /// The container's check: its own config's fields over its image's (docker merges them
    /// field by field); None without a test, or with `NONE`.
    pub fn of(own: Option<&HealthConfig>, image: Option<&HealthConfig>) -> Option<Check> {
        let pick = |f: fn(&HealthConfig) -> Option<i64>| {
            own.and_then(f)
                .filter(|n| *n > 0)
                .or_else(|| image.and_then(f))
        };
        let test = own
            .and_then(|c| c.test.clone())
            .filter(|t| !t.is_empty())
            .or_else(|| image.and_then(|c| c.test.clone()))?;
        let argv = match test.split_first() {
            Some((kind, rest)) if kind == "CMD" && !rest.is_empty() => rest.to_vec(),
            Some((kind, rest)) if kind == "CMD-SHELL" && !rest.is_empty() => {
                vec!["/bin/sh".into(), "-c".into(), rest.join(" ")]
            }
            _ => return None,
        };
        Some(Check {
            argv,
            interval: nanos(pick(|c| c.interval), DEFAULT_INTERVAL),
            timeout: nanos(pick(|c| c.timeout), DEFAULT_TIMEOUT),
            start_period: nanos(pick(|c| c.start_period), Duration::ZERO),
            start_interval: nanos(pick(|c| c.start_interval), DEFAULT_START_INTERVAL),
            retries: pick(|c| c.retries)
                .filter(|r| *r > 0)
                .map_or(DEFAULT_RETRIES, |r| r as u32),
        })
    }
}

impl Health {
    /// Whether a run of `id` with a check has started (each start of such a container
    /// writes its health).
    pub fn kept(paths: &Paths, id: &ContainerId) -> bool {
        Self::path(paths, id).exists()
    }

    fn path(paths: &Paths, id: &ContainerId) -> PathBuf {
        paths.container_dir(id).join("health.json")
    }

    pub fn read(paths: &Paths, id: &ContainerId) -> Option<Health> {
        let text = std::fs::read(Self::path(paths, id)).ok()?;
        serde_json::from_slice(&text).ok()
    }

    fn write(&self, paths: &Paths, id: &ContainerId) {
        let path = Self::path(paths, id);
        if let Err(e) = json_file::write_atomic_as(&path, self, json_file::Durability::Volatile) {
            tracing::warn!(container = %id, "cannot record its health in {}: {e}", path.display());
        }
    }

    /// One probe's outcome, docker's way: a pass is healthy at once; failures in the start
    /// period do not count; `retries` failures in a row are unhealthy.
    pub fn record(&mut self, result: ProbeResult, check: &Check, in_start_period: bool) {
        if result.exit_code == 0 {
            self.status = "healthy".into();
            self.failing_streak = 0;
        } else if !in_start_period || self.status != "starting" {
            self.failing_streak += 1;
            if self.failing_streak >= check.retries {
                self.status = "unhealthy".into();
            }
        }
        self.log.push(result);
        let extra = self.log.len().saturating_sub(LOG_LEN);
        self.log.drain(..extra);
    }
}

/// Which runs have a thread probing them, so a start and a resume do not both probe one.
#[derive(Default, Clone)]
pub struct Watchers {
    runs: Arc<Mutex<HashSet<(String, i32)>>>,
}

/// The check of `entry`, from its create config and its image's.
fn check_of(paths: &Paths, entry: &Entry) -> Option<Check> {
    let created = entry.created.as_ref()?;
    let image = image_health(paths, &created.image_id);
    Check::of(created.body.healthcheck.as_ref(), image.as_ref())
}

fn image_health(paths: &Paths, image_id: &str) -> Option<HealthConfig> {
    let store = berth_image::Store::open(paths.clone()).ok()?;
    let image = store.resolve(image_id).ok()?;
    let (raw, _) = store.config_of(&image).ok()?;
    let config: serde_json::Value = serde_json::from_slice(&raw).ok()?;
    serde_json::from_value(config.get("config")?.get("Healthcheck")?.clone()).ok()
}

/// A container was started: its health starts over ("starting", its log kept) and, given
/// `watchers`, a thread probes this run.
pub fn started(paths: &Paths, watchers: Option<&Watchers>, id: &ContainerId) {
    let Ok(Some(entry)) = Entry::read(paths, id) else {
        return;
    };
    if check_of(paths, &entry).is_none() {
        return;
    }
    let mut health = Health::read(paths, id).unwrap_or_default();
    health.status = "starting".into();
    health.failing_streak = 0;
    health.write(paths, id);
    if let Some(watchers) = watchers {
        watch(paths, watchers, entry);
    }
}

/// Probes the current run of `id`, if it runs and has a check (a supervisor's start).
pub fn watch_one(paths: &Paths, watchers: &Watchers, id: &ContainerId) {
    if let Ok(Some(entry)) = Entry::read(paths, id) {
        if entry.state.as_ref().is_some_and(|s| s.is_running()) && check_of(paths, &entry).is_some()
        {
            watch(paths, watchers, entry);
        }
    }
}

/// berthd came up: probes again every running container that has a check.
pub fn resume(paths: &Paths, watchers: &Watchers) {
    for entry in Entry::all(paths) {
        if entry.state.as_ref().is_some_and(|s| s.is_running()) && check_of(paths, &entry).is_some()
        {
            watch(paths, watchers, entry);
        }
    }
}

fn watch(paths: &Paths, watchers: &Watchers, entry: Entry) {
    let Some(pid) = entry.state.as_ref().map(|s| s.pid) else {
        return;
    };
    let run = (entry.id.to_string(), pid);
    if !watchers.runs.lock().expect("watchers").insert(run.clone()) {
        return;
    }
    let (paths, watchers) = (paths.clone(), watchers.clone());
    std::thread::spawn(move || {
        probe_while_running(&paths, &entry.id, pid);
        watchers.runs.lock().expect("watchers").remove(&run);
    });
}

/// Probes the run of `id` whose process is `pid` until it ends.
fn probe_while_running(paths: &Paths, id: &ContainerId, pid: i32) {
    let began = Instant::now();
    loop {
        let Some((entry, check)) = still_running(paths, id, pid) else {
            return;
        };
        drop(entry);
        let mut health = Health::read(paths, id).unwrap_or_default();
        let in_start_period = began.elapsed() < check.start_period;
        let wait = if in_start_period && health.status == "starting" {
            check.start_interval
        } else {
            check.interval
        };
        std::thread::sleep(wait);
        if still_running(paths, id, pid).is_none() {
            return;
        }
        let result = probe::run(paths, id, &check);
        // Read again: the container may have been restarted (a new run resets it) while
        // the probe ran.
        let Some(_) = still_running(paths, id, pid) else {
            return;
        };
        if let Some(now) = Health::read(paths, id) {
            health = now;
        }
        let before = health.status.clone();
        health.record(result, &check, in_start_period);
        health.write(paths, id);
        if health.status != before {
            // dockerd's action text for a change of health.
            let action = format!("health_status: {}", health.status);
            crate::events::record_id(paths, &action, id, &[]);
        }
    }
}

fn still_running(paths: &Paths, id: &ContainerId, pid: i32) -> Option<(Entry, Check)> {
    let entry = Entry::read(paths, id).ok().flatten()?;
    let state = entry.state.as_ref()?;
    if !state.is_running() || state.pid != pid {
        return None;
    }
    let check = check_of(paths, &entry)?;
    Some((entry, check))
}

/// `State.Health` for inspect, once a run with a check has started (`health.json` is
/// written at each start of a container that has one, so neither this nor `ps` reads the
/// image's config).
pub fn inspect_value(paths: &Paths, entry: &Entry) -> Option<serde_json::Value> {
    serde_json::to_value(Health::read(paths, &entry.id)?).ok()
}

/// What `ps` adds to a running container's status, and the `health=` filter's word:
/// `starting`, `healthy`, `unhealthy`, or `none` without a check.
pub fn status_word(paths: &Paths, entry: &Entry) -> &'static str {
    match Health::read(paths, &entry.id).map(|h| h.status) {
        None => "none",
        Some(s) if s == "healthy" => "healthy",
        Some(s) if s == "unhealthy" => "unhealthy",
        Some(_) => "starting",
    }
}

#[cfg(test)]
mod tests;
