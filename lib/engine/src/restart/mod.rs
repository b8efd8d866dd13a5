//! Restart policies applied: berthd watches each container it knows of that has a policy
//! (one blocking thread each, asleep on a pidfd of the container's monitor), and when the
//! monitor has recorded the exit and torn down, restarts it as the policy says, after
//! docker's back-off. At daemon start it watches the running ones again (adopted from the
//! last daemon) and starts the stopped `always` and `unless-stopped` ones. What must
//! survive the daemon (the count, the manual stop) is in the container's `restart.json`.

mod policy;
mod record;

use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use berth_common::ContainerId;

pub use policy::Policy;
pub use record::RestartRecord;

use crate::containers::entry::{Entry, Status};
use crate::containers::waker::Waker;
use crate::Engine;

/// The containers being watched (one watcher each).
#[derive(Default)]
pub struct Watchers {
    watching: Mutex<HashSet<String>>,
}

/// Removes its container from the watched set when the watcher ends.
struct Claim<'a> {
    watchers: &'a Watchers,
    id: String,
}

impl Drop for Claim<'_> {
    fn drop(&mut self) {
        self.watchers
            .watching
            .lock()
            .expect("watchers")
            .remove(&self.id);
    }
}

impl Watchers {
    fn claim(&self, id: &str) -> Option<Claim<'_>> {
        let fresh = self
            .watching
            .lock()
            .expect("watchers")
            .insert(id.to_string());
        fresh.then(|| Claim {
            watchers: self,
            id: id.to_string(),
        })
    }
}

/// The policy container `entry` was created with (none for berth-run's containers).
pub fn policy_of(entry: &Entry) -> Policy {
    entry.created.as_ref().map_or(Policy::No, |c| {
        Policy::of(c.body.host_config.restart_policy.as_ref())
    })
}

impl Engine {
    /// A start through the API: the count and the manual stop are reset (as dockerd
    /// does), and the container is watched if its policy may restart it.
    pub(crate) fn started_by_hand(self: &Arc<Self>, entry: &Entry) {
        // Only a container with a policy has a record (or had one, before an update):
        // the others' starts write nothing (two fsyncs fewer on the run path).
        let file = self
            .paths
            .container_dir(&entry.id)
            .join(record::RESTART_FILE);
        if policy_of(entry) != Policy::No || file.exists() {
            RestartRecord::update(&self.paths, &entry.id, |r| *r = RestartRecord::default());
        }
        self.watch(entry);
    }

    /// A stop or kill through the API: the policy restarts it no more.
    pub(crate) fn stopping_by_hand(&self, entry: &Entry) {
        if policy_of(entry) != Policy::No {
            RestartRecord::update(&self.paths, &entry.id, |r| r.manually_stopped = true);
        }
    }

    fn watch(self: &Arc<Self>, entry: &Entry) {
        if !self.watches || policy_of(entry) == Policy::No {
            return;
        }
        let engine = self.clone();
        let id = entry.id.clone();
        std::thread::spawn(move || engine.watch_here(&id));
    }

    /// At daemon start: watch what runs, start what the policies start with the daemon.
    /// On a thread of its own: berthd serves meanwhile.
    pub fn resume_restarts(self: &Arc<Self>) {
        let engine = self.clone();
        std::thread::spawn(move || {
            for entry in Entry::all(&engine.paths) {
                let policy = policy_of(&entry);
                if policy == Policy::No {
                    continue;
                }
                let record = RestartRecord::read(&engine.paths, &entry.id);
                let start = entry.state.is_some()
                    && entry.status() != Status::Running
                    && (record.restarting || policy.starts_with_daemon(record.manually_stopped));
                if start && record.restarting {
                    // The last daemon's back-off is waited out, not started over.
                    let engine = engine.clone();
                    std::thread::spawn(move || {
                        std::thread::sleep(record.until_due());
                        if engine.start_with_daemon(&entry) {
                            engine.watch(&entry);
                        }
                    });
                    continue;
                }
                if start && !engine.start_with_daemon(&entry) {
                    continue;
                }
                engine.watch(&entry);
            }
        });
    }

    /// Starts `entry` as its policy asks at daemon start; false if that failed.
    fn start_with_daemon(&self, entry: &Entry) -> bool {
        tracing::info!(id = %entry.id, "starting with the daemon (restart policy)");
        match crate::containers::start_registered(&self.paths, &entry.id) {
            Ok(_) => {
                self.networks_at_start(&entry.id, entry.network_mode());
                RestartRecord::update(&self.paths, &entry.id, |r| {
                    r.restarting = false;
                    r.manually_stopped = false;
                });
                true
            }
            Err(e) => {
                tracing::warn!(id = %entry.id, "start with the daemon: {e}");
                false
            }
        }
    }

    /// What berthd does for a container, done for one container by the process that calls
    /// it (the helper a daemonless `berth` leaves behind): probes its healthcheck and
    /// applies its restart policy, until a run ends that the policy does not restart or the
    /// container is removed.
    pub fn supervise(
        self: &Arc<Self>,
        reference: &str,
    ) -> Result<(), crate::containers::ContainerError> {
        let id = Entry::find(&self.paths, reference)?.id;
        crate::health::watch_one(&self.paths, &self.health, &id);
        self.watch_here(&id);
        Ok(())
    }

    /// Whether container `reference` has what a watcher applies: a restart policy, or a
    /// healthcheck that its start began probing. Read from its files (no API call), so a
    /// daemonless client's start asks it cheaply.
    pub fn needs_watching(&self, reference: &str) -> bool {
        Entry::find(&self.paths, reference).is_ok_and(|entry| {
            policy_of(&entry) != Policy::No || crate::health::Health::kept(&self.paths, &entry.id)
        })
    }

    /// The watcher's life: each time the run ends, restart or stop watching.
    fn watch_here(self: &Arc<Self>, id: &ContainerId) {
        let Some(_claim) = self.restarts.claim(id.as_str()) else {
            return;
        };
        let mut backoff = policy::Backoff::resume(RestartRecord::read(&self.paths, id).backoff());
        loop {
            let began = Instant::now();
            let Some(code) = wait_run_over(&self.paths, id) else {
                return;
            };
            let Ok(Some(entry)) = Entry::read(&self.paths, id) else {
                return;
            };
            let policy = policy_of(&entry);
            let record = RestartRecord::read(&self.paths, id);
            let delay = backoff.next(began.elapsed());
            if !policy.restarts_after_exit(code, record.count, record.manually_stopped) {
                return;
            }
            RestartRecord::update(&self.paths, id, |r| {
                r.count += 1;
                r.restarting = true;
                r.backoff_ms = delay.as_millis() as u64;
                r.due_ms = record::now_ms() + r.backoff_ms;
            });
            std::thread::sleep(delay);
            let record = RestartRecord::read(&self.paths, id);
            let still_wanted = !record.manually_stopped
                && Entry::read(&self.paths, id)
                    .ok()
                    .flatten()
                    .is_some_and(|e| e.status() != Status::Running);
            let result = if still_wanted {
                let started = crate::containers::start_registered(&self.paths, id).map(drop);
                if started.is_ok() {
                    // Its `network connect`s are joined again, as a start by hand joins them.
                    self.networks_at_start(id, entry.network_mode());
                }
                started
            } else {
                Ok(())
            };
            RestartRecord::update(&self.paths, id, |r| r.restarting = false);
            if let Err(e) = result {
                tracing::warn!(%id, "restart: {e}");
                return;
            }
            if record.manually_stopped {
                return;
            }
        }
    }
}

/// Waits until the container's run is over: its exit recorded and its monitor gone (the
/// teardown done, so it can start again). Its exit code; None when it is gone or never ran.
fn wait_run_over(paths: &berth_common::Paths, id: &ContainerId) -> Option<i64> {
    loop {
        let entry = Entry::read(paths, id).ok().flatten()?;
        let state = entry.state.as_ref()?;
        if entry.status() != Status::Running {
            if let Some(code) = entry.recorded_exit() {
                if !berth_runtime::control::alive(state.monitor_pid) {
                    return Some(code);
                }
            } else if !berth_runtime::control::alive(state.monitor_pid) {
                // A monitor that died without a word (SIGKILL): nothing will record more.
                return Some(entry.exit_code());
            }
        }
        Waker::on_pid(state.monitor_pid).wait(Duration::from_secs(1));
    }
}
