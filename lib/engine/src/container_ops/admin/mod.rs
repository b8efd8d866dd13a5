//! `docker rename`, `docker update` and `docker container prune` over the store: the
//! registry for names, `create.json` for what a start applies, the live cgroup.

mod prune;
mod rename;
mod update;

use std::sync::Arc;

use berth_api::container_ops::{ContainerAdminBackend, PruneReport, UpdateBody};
use berth_api::filters::Filters;
use berth_api::BackendError;

/// The engine behind the API's trait; `Arc` because prune removes through the container
/// endpoints' removal.
pub struct Admin(pub Arc<crate::Engine>);

impl ContainerAdminBackend for Admin {
    fn rename(&self, reference: &str, name: &str) -> Result<(), BackendError> {
        rename::rename(self.0.paths(), reference, name)
    }

    fn update(&self, reference: &str, body: UpdateBody) -> Result<Vec<String>, BackendError> {
        update::update(&self.0, reference, body)
    }

    fn prune(&self, filters: &Filters) -> Result<PruneReport, BackendError> {
        prune::prune(&self.0, filters)
    }
}
