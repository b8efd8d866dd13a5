//! The container endpoints over the berth library: create registers the container and
//! stores its config, start goes through a helper process (`start.rs`), the rest reads
//! the store and the monitors' state files, as `berth-run ps|stop|rm` do.

mod cache;
pub(crate) mod config;
pub(crate) mod entry;
mod error;
mod follow;
mod start;
mod view;
pub(crate) mod waker;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use berth_api::containers::{
    AttachStreams, AttachTarget, CreateBody, ListQuery, LogsQuery, WaitCondition,
};
use berth_api::stream::{InputReceiver, OutputSink};
use berth_api::{BackendError, ContainersBackend};
use berth_common::{registry, ContainerName, ContainerPart};
use berth_runtime::control;
use serde_json::Value;

pub use start::{helper_main, START_HELPER};

use config::Created;
pub(crate) use entry::Entry;
use entry::Status;
pub use error::ContainerError;

/// What berthd remembers in memory only: the exit codes of the AutoRemove containers it
/// removed, for the clients that wait for the removal.
#[derive(Default)]
pub struct Memory {
    exits: Mutex<HashMap<String, i64>>,
}

const POLL: Duration = Duration::from_millis(20);
/// The longest sleep of a waiter between its looks (it wakes at once on a change): how
/// soon it sees a client gone.
const NAP: Duration = Duration::from_millis(100);
const DEFAULT_STOP: i64 = 10;

impl crate::Engine {
    fn entry(&self, reference: &str) -> Result<Entry, ContainerError> {
        Entry::find(&self.paths, reference)
    }

    fn do_create(&self, name: Option<String>, body: CreateBody) -> Result<String, ContainerError> {
        let policy = crate::restart::Policy::of(body.host_config.restart_policy.as_ref());
        if body.host_config.auto_remove && policy != crate::restart::Policy::No {
            return Err(ContainerError::AutoRemoveWithRestart);
        }
        let store = berth_image::Store::open(self.paths.clone())?;
        let image = store
            .resolve(&body.image)
            .map_err(|_| ContainerError::NoImage(body.image.clone()))?;
        let name = match name {
            Some(n) => Some(
                ContainerName::parse(n.trim_start_matches('/'))
                    .map_err(|_| ContainerError::InvalidName(n.clone()))?,
            ),
            None => None,
        };
        let request = config::request_of(
            &body,
            name.as_ref().map(|n| n.as_str().to_string()),
            &self.settings,
        );
        request.check()?;
        let mut part = ContainerPart::new(name);
        part.cgroup_parent = Some(self.settings.cgroup_parent.clone());
        let created = Created {
            body,
            request,
            image_id: image.id.to_string(),
        };
        // An AutoRemove container is gone with its run: nothing of it needs an fsync.
        let durability = if created.body.host_config.auto_remove {
            berth_common::json_file::Durability::Volatile
        } else {
            berth_common::json_file::Durability::Durable
        };
        {
            let lock = registry::lock(&self.paths)?;
            registry::create(&self.paths, &lock, &part, durability)?;
            if let Err(e) = created.write_as(&self.paths, &part.id, durability) {
                let _ = std::fs::remove_dir_all(self.paths.container_dir(&part.id));
                return Err(e.into());
            }
            // Its named volumes are in use from now on, for the stages too.
            let volumes = crate::volumes::named_in(&created.request.mount.volumes);
            let claimed = match volumes.is_empty() {
                true => Ok(()),
                false => berth_rootfs::claims::claim(&self.paths, &part.id, &volumes),
            };
            if let Err(e) = claimed {
                let _ = std::fs::remove_dir_all(self.paths.container_dir(&part.id));
                return Err(ContainerError::Run(e.into()));
            }
        }
        // Every event of the container carries its labels, as docker's do.
        let labels = created.body.labels.clone().unwrap_or_default();
        let labels = labels.into_iter().collect();
        if let Err(e) =
            berth_common::events::set_container_attributes(&self.paths, &part.id, &labels)
        {
            tracing::warn!(id = %part.id, "event attributes: {e}");
        }
        let name = part.name.as_ref().map_or("", |n| n.as_str());
        crate::events::record(&self.paths, "create", &part.id, name, &created.body.image);
        // The log exists from the start, so an attach made before the start follows the
        // file the monitor appends to.
        let log = berth_runtime::state::log_path(&self.paths, &part.id);
        std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log)
            .map_err(|source| ContainerError::Io { path: log, source })?;
        tracing::info!(id = %part.id, "created");
        Ok(part.id.to_string())
    }

    fn do_start(self: &Arc<Self>, reference: &str) -> Result<bool, ContainerError> {
        let entry = self.entry(reference)?;
        if entry.status() == Status::Running {
            return Ok(false);
        }
        if entry.created.is_none() {
            return Err(ContainerError::NoConfig(entry.id.to_string()));
        }
        match start::start(&self.paths, &entry.id) {
            Ok(pid) => {
                tracing::info!(id = %entry.id, pid, "started");
                let primary = entry
                    .created
                    .as_ref()
                    .map(|c| c.request.net.network.as_str());
                self.networks_at_start(&entry.id, primary);
                self.started_by_hand(&entry);
                crate::health::started(
                    &self.paths,
                    self.watches.then_some(&self.health),
                    &entry.id,
                );
                if entry.auto_remove() {
                    let engine = self.clone();
                    let id = entry.id.to_string();
                    std::thread::spawn(move || engine.remove_when_exited(&id));
                }
                Ok(true)
            }
            Err(e) => {
                if entry.auto_remove() {
                    self.memory
                        .exits
                        .lock()
                        .expect("exits")
                        .insert(entry.id.to_string(), 125);
                    if let Err(e) = self.do_remove(entry.id.as_str(), true, true) {
                        tracing::warn!(id = %entry.id, "removing after a failed start: {e}");
                    }
                }
                Err(e)
            }
        }
    }

    /// AutoRemove: once the container has exited, keep its code for the waiters, remove it.
    fn remove_when_exited(&self, id: &str) {
        let mut waker = berth_common::ContainerId::parse(id)
            .ok()
            .map(|id| waker::Waker::on_container(&self.paths, &id));
        loop {
            match Entry::find(&self.paths, id) {
                Ok(entry) if entry.status() == Status::Running => {}
                Ok(entry) if entry.state.is_some() && entry.recorded_exit().is_none() => {}
                Ok(entry) => {
                    self.memory
                        .exits
                        .lock()
                        .expect("exits")
                        .insert(id.to_string(), entry.exit_code());
                    // The monitor tears down after recording the exit; wait for it.
                    if let Some(state) = &entry.state {
                        wait_gone(state.monitor_pid, Duration::from_secs(10));
                    }
                    if let Err(e) = self.do_remove(id, true, true) {
                        tracing::warn!(id, "auto-remove: {e}");
                    }
                    return;
                }
                Err(_) => return,
            }
            match &mut waker {
                Some(waker) => waker.wait(NAP),
                None => std::thread::sleep(POLL),
            }
        }
    }

    fn do_stop(&self, reference: &str, timeout: Option<i64>) -> Result<bool, ContainerError> {
        let entry = self.entry(reference)?;
        if entry.status() != Status::Running {
            return Ok(false);
        }
        let seconds = timeout
            .or_else(|| entry.created.as_ref().and_then(|c| c.body.stop_timeout))
            .unwrap_or(DEFAULT_STOP);
        let timeout = if seconds < 0 {
            Duration::from_secs(24 * 3600)
        } else {
            Duration::from_secs(seconds as u64)
        };
        self.stopping_by_hand(&entry);
        control::stop(&self.paths, entry.id.as_str(), timeout)?;
        Ok(true)
    }

    /// `volumes`: the anonymous volumes go too (`rm -v`, and AutoRemove as dockerd does).
    fn do_remove(&self, reference: &str, force: bool, volumes: bool) -> Result<(), ContainerError> {
        let entry = self.entry(reference)?;
        if entry.status() == Status::Running && !force {
            return Err(ContainerError::RemoveRunning(entry.id.to_string()));
        }
        if entry.state.is_some() {
            control::remove_with(
                &self.paths,
                entry.id.as_str(),
                force,
                volumes,
                &self.cgroups,
            )?;
            return Ok(());
        }
        // Never started (or every start failed): what a failed setup left, and the
        // registry's directory (which the rootfs removal may have taken already).
        let mut removed = false;
        if berth_rootfs::state::read_state(&self.paths, &entry.id)
            .ok()
            .flatten()
            .is_some()
        {
            removed = berth_rootfs::down_with(&self.paths, entry.id.as_str(), None, true, volumes)
                .map_err(|e| ContainerError::Run(e.into()))?
                .removed;
        }
        let _lock = registry::lock(&self.paths)?;
        let dir = self.paths.container_dir(&entry.id);
        let destroyed = berth_common::events::Event::container(
            &self.paths,
            "destroy",
            &entry.id,
            &entry.name(),
            &entry.image(),
        );
        match std::fs::remove_dir_all(&dir) {
            Ok(()) => removed = true,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(source) => return Err(ContainerError::Io { path: dir, source }),
        }
        if removed {
            berth_common::events::emit(&self.paths, &destroyed);
        }
        Ok(())
    }

    fn do_wait(
        &self,
        id: &str,
        condition: WaitCondition,
        gone: &(dyn Fn() -> bool + Sync),
    ) -> Result<i64, ContainerError> {
        let first = Entry::find(&self.paths, id)?;
        // Watching before the first look: nothing that happens after it is missed.
        let mut waker = waker::Waker::on_container(&self.paths, &first.id);
        let initial_finished = first.finished();
        let mut last_code = first.exit_code();
        loop {
            if gone() {
                return Err(ContainerError::NotFound("context canceled".into()));
            }
            match Entry::find(&self.paths, id) {
                Ok(entry) => {
                    let recorded = entry.recorded_exit();
                    if let Some(code) = recorded {
                        last_code = code;
                    }
                    // Exited means exited with its code written down, never in between.
                    let status = match entry.status() {
                        Status::Exited if recorded.is_none() && entry.state.is_some() => {
                            Status::Running
                        }
                        other => other,
                    };
                    let done = match condition {
                        WaitCondition::NotRunning => status != Status::Running,
                        WaitCondition::NextExit => {
                            status == Status::Exited && entry.finished() != initial_finished
                        }
                        WaitCondition::Removed => false,
                    };
                    if done {
                        return Ok(entry.exit_code());
                    }
                }
                Err(ContainerError::NotFound(_)) => {
                    // A removal takes the record before the rest of the directory; an
                    // in-process client exits on this answer, so "removed" waits for all.
                    let dir = self.paths.container_dir(&first.id);
                    if matches!(condition, WaitCondition::Removed) && dir.exists() {
                        std::thread::sleep(POLL);
                        continue;
                    }
                    let remembered = self.memory.exits.lock().expect("exits").get(id).copied();
                    return Ok(remembered.unwrap_or(last_code));
                }
                Err(e) => return Err(e),
            }
            waker.wait(NAP);
        }
    }
}

/// Starts registered container `id` as the API's start does, without its bookkeeping
/// (a restart by its policy).
pub(crate) fn start_registered(
    paths: &berth_common::Paths,
    id: &berth_common::ContainerId,
) -> Result<i32, ContainerError> {
    start::start(paths, id)
}

/// The id of running container `reference`; exec needs one.
pub fn running_container(
    paths: &berth_common::Paths,
    reference: &str,
) -> Result<berth_common::ContainerId, ContainerError> {
    let entry = Entry::find(paths, reference)?;
    if entry.status() != Status::Running {
        return Err(ContainerError::NotRunning(entry.id.to_string()));
    }
    Ok(entry.id)
}

/// Waits until process `pid` is gone (or a zombie), at most `timeout`.
fn wait_gone(pid: i32, timeout: Duration) {
    let begin = std::time::Instant::now();
    let mut waker = waker::Waker::on_pid(pid);
    while begin.elapsed() < timeout {
        if !berth_runtime::control::alive(pid) {
            return;
        }
        waker.wait(NAP);
    }
}

fn signal_number(signal: Option<String>, default: i32) -> Result<i32, ContainerError> {
    match signal {
        None => Ok(default),
        Some(s) => berth_common::signal::parse(&s).ok_or(ContainerError::BadSignal(s)),
    }
}

/// The engine behind the API's trait; `Arc` because a start leaves a watcher behind.
pub struct Containers(pub Arc<crate::Engine>);

impl ContainersBackend for Containers {
    fn create(&self, name: Option<String>, mut body: CreateBody) -> Result<String, BackendError> {
        let paths = &self.0.paths;
        let anonymous = body
            .host_config
            .mounts
            .as_deref_mut()
            .map(crate::volumes::name_anonymous_with_options)
            .unwrap_or_default();
        // Named volumes are made at create, as dockerd does (and seeded at the first start).
        let request = config::request_of(&body, None, &self.0.settings);
        if request.check().is_ok() {
            // Those with options first: ensure_named would make them plain.
            let mounts = body.host_config.mounts.as_deref().unwrap_or_default();
            let made = crate::volumes::ensure_for_mounts(paths, mounts, &anonymous)
                .and_then(|()| crate::volumes::ensure_named(paths, &request.mount.volumes));
            if let Err(e) = made {
                crate::volumes::settle_anonymous(paths, &anonymous, None);
                return Err(e);
            }
        }
        let created = self.0.do_create(name, body);
        let id = created.as_ref().ok().map(String::as_str);
        crate::volumes::settle_anonymous(paths, &anonymous, id);
        Ok(created?)
    }

    fn start(&self, reference: &str) -> Result<bool, BackendError> {
        Ok(self.0.do_start(reference)?)
    }

    fn stop(
        &self,
        reference: &str,
        timeout: Option<i64>,
        signal: Option<String>,
    ) -> Result<bool, BackendError> {
        if let Some(signal) = signal.filter(|s| !s.is_empty()) {
            let number = signal_number(Some(signal), libc::SIGTERM)?;
            let entry = self.0.entry(reference)?;
            if entry.status() == Status::Running {
                self.0.stopping_by_hand(&entry);
                control::kill(&self.0.paths, entry.id.as_str(), number)
                    .map_err(ContainerError::from)?;
            }
        }
        Ok(self.0.do_stop(reference, timeout)?)
    }

    fn kill(&self, reference: &str, signal: Option<String>) -> Result<(), BackendError> {
        let number = signal_number(signal, libc::SIGKILL)?;
        let entry = self.0.entry(reference)?;
        if entry.status() != Status::Running {
            return Err(ContainerError::NotRunning(entry.id.to_string()).into());
        }
        self.0.stopping_by_hand(&entry);
        control::kill(&self.0.paths, entry.id.as_str(), number).map_err(ContainerError::from)?;
        Ok(())
    }

    fn restart(&self, reference: &str, timeout: Option<i64>) -> Result<(), BackendError> {
        self.0.do_stop(reference, timeout)?;
        self.0.do_start(reference)?;
        self.0.entry(reference)?.event(&self.0.paths, "restart");
        Ok(())
    }

    fn remove(&self, reference: &str, force: bool, volumes: bool) -> Result<(), BackendError> {
        Ok(self.0.do_remove(reference, force, volumes)?)
    }

    fn inspect(&self, reference: &str) -> Result<Value, BackendError> {
        let entry = self.0.entry(reference)?;
        Ok(view::inspect(&self.0.paths, &entry))
    }

    fn list(&self, query: &ListQuery) -> Result<Vec<Value>, BackendError> {
        Ok(view::list(&self.0.paths, query))
    }

    fn target(&self, reference: &str) -> Result<AttachTarget, BackendError> {
        let entry = self.0.entry(reference)?;
        Ok(AttachTarget {
            id: entry.id.to_string(),
            tty: entry.tty(),
        })
    }

    fn wait(
        &self,
        id: &str,
        condition: WaitCondition,
        gone: &(dyn Fn() -> bool + Sync),
    ) -> Result<i64, BackendError> {
        Ok(self.0.do_wait(id, condition, gone)?)
    }

    fn logs(&self, id: &str, query: &LogsQuery, out: &OutputSink) -> Result<(), BackendError> {
        let entry = self.0.entry(id)?;
        Ok(follow::logs(&self.0.paths, &entry, query, out)?)
    }

    fn attach(
        &self,
        id: &str,
        streams: AttachStreams,
        out: &OutputSink,
        input: Option<InputReceiver>,
    ) -> Result<(), BackendError> {
        let entry = self.0.entry(id)?;
        entry.event(&self.0.paths, "attach");
        Ok(follow::attach(&self.0.paths, &entry, streams, out, input)?)
    }

    fn resize(&self, reference: &str, height: u16, width: u16) -> Result<(), BackendError> {
        let entry = self.0.entry(reference)?;
        if entry.status() != Status::Running {
            return Err(ContainerError::NotRunning(entry.id.to_string()).into());
        }
        follow::resize(&self.0.paths, &entry, height, width);
        Ok(())
    }
}
