//! The engine a daemon serves: the Docker objects of one root (its store, its run dir),
//! implemented over the berth library, as the backend traits of `berth-api`. It keeps
//! nothing of its own in memory that the store does not have: the stages, `berth-run` and
//! an in-process `berth` may use the same root at the same time, under the same locks.

mod build;
mod commit;
mod container_ops;
pub mod containers;
mod daemon_lock;
mod distribution;
mod events;
pub mod exec;
mod exec_pid;
mod health;
pub mod helpers;
mod host;
mod images;
pub mod networks;
mod restart;
mod system;
mod system_df;
mod volumes;

use std::sync::Arc;

use berth_common::Paths;

pub use daemon_lock::{DaemonLock, DaemonLockError};
pub use helpers::helper_main;

/// What the engine is configured with beyond its root: host-wide settings that
/// `berth-run` takes as flags.
#[derive(Debug, Clone)]
pub struct EngineSettings {
    /// Where containers' cgroups go (the parent at the root of each hierarchy).
    pub cgroup_parent: String,
    /// The default network's bridge and subnet, the nft table.
    pub net: berth_net::HostSettings,
    /// Registries reached over plain HTTP (`HOST[:PORT]`), for pull and push.
    pub insecure_registries: Vec<String>,
}

impl Default for EngineSettings {
    fn default() -> Self {
        EngineSettings {
            cgroup_parent: berth_cgroups::DEFAULT_PARENT.to_string(),
            net: berth_net::HostSettings::default(),
            insecure_registries: Vec::new(),
        }
    }
}

/// One root's engine.
pub struct Engine {
    paths: Paths,
    settings: EngineSettings,
    cgroups: berth_cgroups::HostConfig,
    memory: containers::Memory,
    execs: exec::Execs,
    restarts: restart::Watchers,
    health: health::Watchers,
    /// Whether this process watches the containers it starts (restart policies,
    /// healthchecks): berthd does; a daemonless client, which exits before they do, hands
    /// each one to a helper process that calls [`Engine::supervise`].
    watches: bool,
}

impl Engine {
    pub fn new(paths: Paths, settings: EngineSettings) -> Engine {
        let engine = Engine::unwatched(paths, settings);
        // Containers that run with a healthcheck are probed again from now on.
        health::resume(&engine.paths, &engine.health);
        Engine {
            watches: true,
            ..engine
        }
    }

    /// An engine that starts no watcher of its own: for a client with no daemon, whose
    /// process is gone before its containers are (see [`Engine::supervise`]).
    pub fn unwatched(paths: Paths, settings: EngineSettings) -> Engine {
        let cgroups = berth_cgroups::HostConfig {
            parent: settings.cgroup_parent.clone(),
            ..berth_cgroups::HostConfig::default()
        };
        Engine {
            paths,
            settings,
            cgroups,
            memory: containers::Memory::default(),
            execs: exec::Execs::default(),
            restarts: restart::Watchers::default(),
            health: health::Watchers::default(),
            watches: false,
        }
    }

    pub fn settings(&self) -> &EngineSettings {
        &self.settings
    }

    pub fn paths(&self) -> &Paths {
        &self.paths
    }

    /// The engine as the API's backend, one trait object per resource.
    pub fn backend(self: &Arc<Self>) -> berth_api::Backend {
        berth_api::Backend {
            system: self.clone(),
            images: self.clone(),
            container_ops: self.clone(),
            containers: Arc::new(containers::Containers(self.clone())),
            exec: Arc::new(exec::ExecEngine(self.clone())),
            events: self.clone(),
            volumes: self.clone(),
            system_df: Arc::new(system_df::SystemDf(self.clone())),
            networks: self.clone(),
            archive: self.clone(),
            admin: Arc::new(container_ops::admin::Admin(self.clone())),
            commit: self.clone(),
            build: self.clone(),
            distribution: Arc::new(distribution::Distribution(self.clone())),
        }
    }
}
