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
