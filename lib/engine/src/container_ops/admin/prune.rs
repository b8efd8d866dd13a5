//! `docker container prune`: every container that does not run, selected by `until`
//! (created before) and `label` / `label!`, removed as `DELETE /containers/{id}` removes
//! one; the space is what their writable layers held.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use berth_api::container_ops::PruneReport;
use berth_api::filters::Filters;
use berth_api::{BackendError, ContainersBackend};
use berth_common::registry;
use berth_runtime::state::RunState;

use crate::containers::config::Created;
use crate::Engine;

/// `until`: an RFC 3339 time, unix seconds, or a duration before now (`24h`, `10m`).
fn parse_until(text: &str) -> Result<SystemTime, BackendError> {
    if let Ok(seconds) = text.parse::<f64>() {
        return Ok(SystemTime::UNIX_EPOCH + Duration::from_secs_f64(seconds.max(0.0)));
    }
    if let Ok(time) = humantime::parse_rfc3339_weak(text) {
        return Ok(time);
    }
    if let Ok(ago) = humantime::parse_duration(text) {
        return Ok(SystemTime::now() - ago);
    }
    Err(BackendError::invalid(format!(
        "failed to parse value {text:?} of filter until"
    )))
}

/// `key` or `key=value` against the labels.
fn has_label(labels: &std::collections::HashMap<String, String>, filter: &str) -> bool {
    berth_api::filters::label_matches(filter, |key| labels.get(key).map(String::as_str))
}

pub fn prune(engine: &Arc<Engine>, filters: &Filters) -> Result<PruneReport, BackendError> {
    filters.only(&["until", "label", "label!"])?;
    let until = match filters.get("until") {
        [] => None,
        [one] => Some(parse_until(one)?),
        _ => {
            return Err(BackendError::invalid(
                "more than one until filter specified",
            ))
        }
    };
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
        if !filters.get("label").iter().all(|f| has_label(&labels, f))
            || filters.get("label!").iter().any(|f| has_label(&labels, f))
        {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn until_and_labels_read_as_docker_reads_them() {
        assert_eq!(
            parse_until("10").unwrap(),
            SystemTime::UNIX_EPOCH + Duration::from_secs(10)
        );
        assert!(parse_until("2026-01-01T00:00:00Z").is_ok());
        assert!(parse_until("1h").unwrap() < SystemTime::now());
        assert!(parse_until("yesterday-ish").is_err());
        let labels = [("keep".to_string(), "yes".to_string())]
            .into_iter()
            .collect();
        assert!(has_label(&labels, "keep"));
        assert!(has_label(&labels, "keep=yes"));
        assert!(!has_label(&labels, "keep=no"));
    }
}
