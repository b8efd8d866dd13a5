//! One container as the API sees it, read from the store each time: its identity (the
//! registry), what berthd stored at create (absent for berth-run's containers) and its run
//! state (absent until the first start).

use std::sync::Arc;

use berth_common::{registry, ContainerId, ContainerPart, Paths};
use berth_runtime::state::RunState;

use super::cache;
use super::config::Created;
use super::error::ContainerError;

pub struct Entry {
    pub id: ContainerId,
    pub part: ContainerPart,
    /// Shared with the cache (`cache.rs`): a list of many containers copies no records.
    pub created: Option<Arc<Created>>,
    pub state: Option<Arc<RunState>>,
    /// Whether the run state's process was alive when this entry was read: looked up once,
    /// as /proc/PID/cgroup takes the kernel's cgroup lock (the bulk of a `docker ps`).
    running: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    Created,
    Running,
    Exited,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Created => "created",
            Status::Running => "running",
            Status::Exited => "exited",
        }
    }
}

impl Entry {
    pub fn find(paths: &Paths, reference: &str) -> Result<Entry, ContainerError> {
        let not_found = || ContainerError::NotFound(reference.to_string());
        let id = match registry::resolve(paths, reference) {
            Ok(id) => id,
            Err(registry::RegistryError::NotFound(_)) => return Err(not_found()),
            Err(e) => return Err(e.into()),
        };
        Self::read(paths, &id)?.ok_or_else(not_found)
    }

    /// The container `id`, if it is registered. Its files are parsed again only when they
    /// changed (`cache.rs`); whether its process lives is looked at each time.
    pub fn read(paths: &Paths, id: &ContainerId) -> Result<Option<Entry>, ContainerError> {
        let dir = paths.container_dir(id);
        let identity = [dir.join(registry::IDENTITY_FILE)];
        let Some(part) = cache::read(&identity, || registry::identity(paths, id))? else {
            return Ok(None);
        };
        let create = [dir.join(super::config::CREATE_FILE)];
        let created = cache::read(&create, || {
            Ok::<_, ContainerError>(Created::read(paths, id)?.map(Arc::new))
        })?;
        let run = [
            dir.join(berth_runtime::state::RUN_STATE),
            dir.join(berth_runtime::state::EXIT_FILE),
        ];
        let state = cache::read(&run, || {
            Ok::<_, ContainerError>(RunState::read(paths, id).ok().flatten().map(Arc::new))
        })?;
        let running = state.as_deref().is_some_and(RunState::is_running);
        Ok(Some(Entry {
            id: id.clone(),
            part,
            created,
            state,
            running,
        }))
    }

    /// Every container, newest first.
    pub fn all(paths: &Paths) -> Vec<Entry> {
        let ids = registry::ids(paths).unwrap_or_default();
        let dirs = ids.iter().map(|id| paths.container_dir(id)).collect();
        cache::keep_only(&dirs);
        let mut all: Vec<Entry> = ids
            .iter()
            .filter_map(|id| Self::read(paths, id).ok().flatten())
            .collect();
        all.sort_by(|a, b| b.part.created.cmp(&a.part.created));
        all
    }

    pub fn status(&self) -> Status {
        match &self.state {
            None => Status::Created,
            Some(_) if self.running => Status::Running,
            Some(_) => Status::Exited,
        }
    }

    /// The exit code of the last run (a monitor that died without recording one: -1).
    pub fn exit_code(&self) -> i64 {
        match &self.state {
            Some(s) if !self.running => s.exit_code.map_or(-1, i64::from),
            _ => 0,
        }
    }

    /// The exit code once the monitor has recorded it: a container whose process is gone
    /// but whose code is not written yet has not finished exiting.
    pub fn recorded_exit(&self) -> Option<i64> {
        self.state
            .as_ref()
            .filter(|_| !self.running)
            .and_then(|s| s.exit_code)
            .map(i64::from)
    }

    /// When the last run ended (the monitor's record).
    pub fn finished(&self) -> Option<String> {
        self.state
            .as_ref()
            .filter(|_| !self.running)
            .and_then(|s| s.finished.clone().or_else(|| Some(s.created.clone())))
    }

    pub fn tty(&self) -> bool {
        self.created.as_ref().is_some_and(|c| c.body.tty)
    }

    /// The network mode it was created with (`bridge`, a network's name, `none`…).
    pub fn network_mode(&self) -> Option<&str> {
        self.created
            .as_ref()
            .map(|c| c.request.net.network.as_str())
    }

    pub fn auto_remove(&self) -> bool {
        self.created
            .as_ref()
            .is_some_and(|c| c.body.host_config.auto_remove)
            || self.state.as_ref().is_some_and(|s| s.auto_remove)
    }

    /// The image as the user named it.
    pub fn image(&self) -> String {
        match (&self.created, &self.state) {
            (Some(c), _) => c.body.image.clone(),
            (None, Some(s)) => s.image.clone(),
            (None, None) => String::new(),
        }
    }

    /// Records a container event of this container.
    pub fn event(&self, paths: &berth_common::Paths, action: &str) {
        crate::events::record(paths, action, &self.id, &self.name(), &self.image());
    }

    pub fn name(&self) -> String {
        match &self.part.name {
            Some(n) => n.as_str().to_string(),
            None => self.id.short().to_string(),
        }
    }
}
