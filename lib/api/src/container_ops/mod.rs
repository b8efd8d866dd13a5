//! Container operations beyond the run path: `top` (`docker top`), `stats`, `pause`/`unpause`.

pub mod admin;
mod stats;

pub use admin::{ContainerAdminBackend, PruneReport, UpdateBody};
pub use stats::StatsSample;

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Json, Router};
use bollard_stubs::models::ContainerTopResponse;
use serde::Deserialize;

use crate::{blocking, ApiError, Backend, BackendError};

/// What the container operations ask of the engine. Blocking calls: they read the store
/// and /proc and may run `ps`.
pub trait ContainerOpsBackend: Send + Sync + 'static {
    /// The container's processes as `ps ps_args` prints them (docker's default `-ef`).
    fn top(&self, reference: &str, ps_args: &str) -> Result<ContainerTopResponse, BackendError>;
    /// One reading of the container's cgroup and the host's CPU time; zeros for a
    /// container that does not run.
    fn stats_sample(&self, reference: &str) -> Result<StatsSample, BackendError>;
    /// Freezes the running container's cgroup; a paused one is a conflict.
    fn pause(&self, reference: &str) -> Result<(), BackendError>;
    /// Thaws a paused container; one not paused is a conflict.
    fn unpause(&self, reference: &str) -> Result<(), BackendError>;
}

pub fn routes() -> Router<Backend> {
    Router::new()
        .route("/containers/{id}/top", get(top))
        .route("/containers/{id}/stats", get(stats::stats))
        .route("/containers/{id}/pause", post(pause))
        .route("/containers/{id}/unpause", post(unpause))
        .merge(admin::routes())
}

#[derive(Debug, Deserialize)]
struct TopQuery {
    ps_args: Option<String>,
}

async fn top(
    State(backend): State<Backend>,
    Path(id): Path<String>,
    Query(query): Query<TopQuery>,
) -> Result<Json<ContainerTopResponse>, ApiError> {
    let ops = backend.container_ops.clone();
    let ps_args = query
        .ps_args
        .filter(|args| !args.trim().is_empty())
        .unwrap_or_else(|| "-ef".to_string());
    Ok(Json(blocking(move || ops.top(&id, &ps_args)).await?))
}

async fn pause(
    State(backend): State<Backend>,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    let ops = backend.container_ops.clone();
    blocking(move || ops.pause(&id)).await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn unpause(
    State(backend): State<Backend>,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    let ops = backend.container_ops.clone();
    blocking(move || ops.unpause(&id)).await?;
    Ok(StatusCode::NO_CONTENT)
}
