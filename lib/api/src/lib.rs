//! The Docker Engine API over HTTP, as a library. Each resource has its router
//! (`system`, and the others as they come) over a narrow backend trait; the daemon serves
//! [`router`] on its sockets and the `berth` client can call the same router in-process.
//! Handlers parse and shape; what they ask of the engine runs on tokio's blocking pool
//! ([`blocking`]), never on the async threads.

pub mod archive;
pub mod build;
pub mod commit;
pub mod container_ops;
pub mod containers;
pub mod distribution;
mod error;
pub mod events;
pub mod exec;
pub mod filters;
pub mod images;
pub mod networks;
pub mod serve;
pub mod stream;
pub mod system;
pub mod system_df;
pub mod tls;
mod version;
pub mod volumes;

use std::sync::Arc;

use axum::response::IntoResponse;
use axum::Router;

pub use archive::ArchiveBackend;
pub use build::BuildBackend;
pub use commit::CommitBackend;
pub use container_ops::{ContainerAdminBackend, ContainerOpsBackend, StatsSample};
pub use containers::ContainersBackend;
pub use distribution::DistributionBackend;
pub use error::{status_of, ApiError, BackendError};
pub use events::EventsBackend;
pub use exec::ExecBackend;
pub use images::ImagesBackend;
pub use networks::NetworksBackend;
pub use system::SystemBackend;
pub use system_df::SystemDfBackend;
pub use version::{ApiVersion, Versioned, API_VERSION, MIN_API_VERSION};
pub use volumes::VolumesBackend;

/// The most a buffered request body (the JSON of create, exec, …) may hold: past it the
/// answer is 413 and nothing more is read. Streamed bodies (`/images/load`) take
/// `axum::body::Body` and are not held to it.
pub const JSON_BODY_LIMIT: usize = 2 << 20;

/// Everything the API asks of an engine, one trait object per resource.
#[derive(Clone)]
pub struct Backend {
    pub system: Arc<dyn SystemBackend>,
    pub images: Arc<dyn ImagesBackend>,
    pub container_ops: Arc<dyn ContainerOpsBackend>,
    pub containers: Arc<dyn ContainersBackend>,
    pub exec: Arc<dyn ExecBackend>,
    pub events: Arc<dyn EventsBackend>,
    pub volumes: Arc<dyn VolumesBackend>,
    pub system_df: Arc<dyn SystemDfBackend>,
    pub networks: Arc<dyn NetworksBackend>,
    pub archive: Arc<dyn ArchiveBackend>,
    pub admin: Arc<dyn ContainerAdminBackend>,
    pub commit: Arc<dyn CommitBackend>,
    pub build: Arc<dyn BuildBackend>,
    pub distribution: Arc<dyn DistributionBackend>,
}

/// The whole API: every resource's routes, behind version negotiation and the headers
/// every answer carries. The result is a service for `axum::serve` or for in-process calls.
pub fn router(backend: Backend) -> Versioned {
    let routes = Router::new()
        .merge(system::routes())
        .merge(images::routes())
        .merge(container_ops::routes())
        .merge(containers::routes())
        .merge(exec::routes())
        .merge(events::routes())
        .merge(volumes::routes())
        .merge(system_df::routes())
        .merge(networks::routes())
        .merge(archive::routes())
        .merge(commit::routes())
        .merge(build::routes())
        .merge(distribution::routes())
        .fallback(|| async { ApiError::not_found("page not found") })
        .layer(axum::middleware::map_response(too_large_as_json))
        .layer(axum::extract::DefaultBodyLimit::max(JSON_BODY_LIMIT))
        .with_state(backend);
    Versioned::new(routes)
}

/// axum's refusal of a body past [`JSON_BODY_LIMIT`] is plain text; docker's clients read
/// `{"message"}` for every error.
async fn too_large_as_json(response: axum::response::Response) -> axum::response::Response {
    if response.status() != axum::http::StatusCode::PAYLOAD_TOO_LARGE {
        return response;
    }
    let is_json = response
        .headers()
        .get(axum::http::header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().starts_with(b"application/json"));
    if is_json {
        return response;
    }
    ApiError::new(
        axum::http::StatusCode::PAYLOAD_TOO_LARGE,
        format!("request body too large: the limit is {JSON_BODY_LIMIT} bytes"),
    )
    .into_response()
}

/// Runs blocking engine work on tokio's blocking pool; a panic there is a 500, not a dead
/// connection.
pub async fn blocking<T, F>(work: F) -> Result<T, ApiError>
where
    F: FnOnce() -> Result<T, BackendError> + Send + 'static,
    T: Send + 'static,
{
    match tokio::task::spawn_blocking(work).await {
        Ok(result) => result.map_err(ApiError::from),
        Err(join) => Err(ApiError::internal(format!("the engine failed: {join}"))),
    }
}
