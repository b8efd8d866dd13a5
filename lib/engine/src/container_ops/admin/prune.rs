//! `docker container prune`: every container that does not run, selected by `until`
//! (created before) and `label` / `label!`, removed as `DELETE /containers/{id}` removes
//! one; the space is what their writable layers held.

use std::sync::Arc;

use berth_api::container_ops::PruneReport;
use berth_api::filters::Filters;
use berth_api::{BackendError, ContainersBackend};
use berth_common::registry;
use berth_runtime::state::RunState;

use crate::containers::config::Created;
use crate::Engine;

pub fn prune(engine: &Arc<Engine>, filters: &Filters) -> Result<PruneReport, BackendError> {
    filters.only(&["until", "label", "label!"])?;
    let until = filters.until()?;
    let paths = engine.paths();
    let removal = crate::containers::Containers(engine.clone());
    let mut report = PruneReport::default();
    for part in registry::all(paths).map_err(|e| BackendError::new(e.kind(), e.to_string()))? {
        if RunState::read(paths, &part.id)
            .ok()
            .flatten()
            .is_some_and(|s| s.is_running())
        {
            continue;
        }
        if let Some(until) = until {
            let created = humantime::parse_rfc3339_weak(&part.created).ok();
            if created.is_none_or(|c| c >= until) {
                continue;
            }
        }
        let labels = Created::read(paths, &part.id)
            .ok()
            .flatten()
            .and_then(|c| c.body.labels)
            .unwrap_or_default();
        if !filters.labels_pass(|key| labels.get(key).map(String::as_str)) {
            continue;
        }
        let space = crate::volumes::tree_size(&paths.container_dir(&part.id).join("upper"));
        match removal.remove(part.id.as_str(), false, false) {
            Ok(()) => {
                report.containers_deleted.push(part.id.to_string());
                report.space_reclaimed += space;
            }
            // Started meanwhile, or removed by someone else: not this prune's.
            Err(e) => tracing::info!(id = %part.id, "prune skips it: {}", e.message),
        }
    }
    berth_common::events::emit(
        paths,
        &berth_common::events::Event::new(berth_common::events::Kind::Container, "prune", "")
            .with("reclaimed", report.space_reclaimed.to_string()),
    );
    Ok(report)
}
