//! berthd's events: `GET /events` over the root's journal (`berth_common::events`, which
//! every berth process on the root writes), filtered as dockerd filters them.

mod filter;
mod follow;

use berth_api::events::{EventSink, EventsBackend, EventsQuery};
use berth_api::BackendError;
use berth_common::events::{emit, Event};
use berth_common::{ContainerId, Paths};
use berth_runtime::state::RunState;

impl EventsBackend for crate::Engine {
    fn events(&self, query: &EventsQuery, out: &EventSink) -> Result<(), BackendError> {
        follow::follow(
            &self.paths,
            query.since,
            query.until,
            &mut |event| !filter::matches(&query.filters, event) || out.send(event),
            &|| out.is_closed(),
        );
        Ok(())
    }
}

/// Records a container event for the container `state` describes.
pub(crate) fn record_state(paths: &Paths, action: &str, state: &RunState) {
    let name = state.name.as_ref().map_or("", |n| n.as_str());
    emit(
        paths,
        &Event::container(paths, action, &state.id, name, &state.image),
    );
}

/// Records a container event: `id` named `name`, made from `image`.
pub(crate) fn record(paths: &Paths, action: &str, id: &ContainerId, name: &str, image: &str) {
    emit(paths, &Event::container(paths, action, id, name, image));
}

/// Records a container event for container `id` by what the store has of it (its name from
/// the registry, its image from the run state or the create request), with `extra`
/// attributes (rename's `oldName`).
pub(crate) fn record_id(paths: &Paths, action: &str, id: &ContainerId, extra: &[(&str, &str)]) {
    let name = berth_common::registry::identity(paths, id)
        .ok()
        .flatten()
        .and_then(|p| p.name)
        .map(|n| n.as_str().to_string())
        .unwrap_or_default();
    let image = match RunState::read(paths, id).ok().flatten() {
        Some(state) => state.image,
        None => crate::containers::config::Created::read(paths, id)
            .ok()
            .flatten()
            .map(|c| c.body.image)
            .unwrap_or_default(),
    };
    let mut event = Event::container(paths, action, id, &name, &image);
    for (key, value) in extra {
        event = event.with(key, *value);
    }
    emit(paths, &event);
}
