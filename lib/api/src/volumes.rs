//! `/volumes/…`: create, list, inspect, remove, prune. `PUT /volumes/{name}` updates
//! cluster volumes only, which need swarm mode: it answers as dockerd without swarm.

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Json, Router};
use bollard_stubs::models::{Volume, VolumeCreateRequest, VolumeListResponse, VolumePruneResponse};
use serde::Deserialize;

use crate::filters::Filters;
use crate::{blocking, ApiError, Backend, BackendError};

/// What the volume endpoints ask of the engine. Blocking: they read and write the store.
pub trait VolumesBackend: Send + Sync + 'static {
    /// Creates the volume (a random name when none is given); an existing one is returned
    /// as it is, as dockerd does.
    fn create(&self, request: VolumeCreateRequest) -> Result<Volume, BackendError>;
    fn list(&self, filters: &Filters) -> Result<VolumeListResponse, BackendError>;
    fn inspect(&self, name: &str) -> Result<Volume, BackendError>;
    /// Refused while a container refers to the volume; `force` only forgives a missing one.
    fn remove(&self, name: &str, force: bool) -> Result<(), BackendError>;
    fn prune(&self, filters: &Filters) -> Result<VolumePruneResponse, BackendError>;
}

pub fn routes() -> Router<Backend> {
    Router::new()
        .route("/volumes", get(list))
        .route("/volumes/create", post(create))
        .route("/volumes/prune", post(prune))
        .route("/volumes/{name}", get(inspect).delete(remove).put(update))
}

#[derive(Deserialize)]
struct FiltersQuery {
    #[serde(default)]
    filters: Option<String>,
}

#[derive(Deserialize)]
struct RemoveQuery {
    #[serde(default)]
    force: Option<String>,
}

async fn create(
    State(backend): State<Backend>,
    body: Bytes,
) -> Result<(StatusCode, Json<Volume>), ApiError> {
    let request: VolumeCreateRequest = if body.iter().all(u8::is_ascii_whitespace) {
        VolumeCreateRequest::default()
    } else {
        serde_json::from_slice(&body).map_err(|e| ApiError::bad_request(e.to_string()))?
    };
    let volumes = backend.volumes.clone();
    let volume = blocking(move || volumes.create(request)).await?;
    Ok((StatusCode::CREATED, Json(volume)))
}

async fn list(
    State(backend): State<Backend>,
    Query(q): Query<FiltersQuery>,
) -> Result<Json<VolumeListResponse>, ApiError> {
    let filters = Filters::parse(q.filters.as_deref())?;
    let volumes = backend.volumes.clone();
    Ok(Json(blocking(move || volumes.list(&filters)).await?))
}

async fn inspect(
    State(backend): State<Backend>,
    Path(name): Path<String>,
) -> Result<Json<Volume>, ApiError> {
    let volumes = backend.volumes.clone();
    Ok(Json(blocking(move || volumes.inspect(&name)).await?))
}

async fn remove(
    State(backend): State<Backend>,
    Path(name): Path<String>,
    Query(q): Query<RemoveQuery>,
) -> Result<StatusCode, ApiError> {
    let force = matches!(q.force.as_deref(), Some("1" | "true" | "True"));
    let volumes = backend.volumes.clone();
    blocking(move || volumes.remove(&name, force)).await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn prune(
    State(backend): State<Backend>,
    Query(q): Query<FiltersQuery>,
) -> Result<Json<VolumePruneResponse>, ApiError> {
    let filters = Filters::parse(q.filters.as_deref())?;
    let volumes = backend.volumes.clone();
    Ok(Json(blocking(move || volumes.prune(&filters)).await?))
}

/// Only cluster volumes can be updated, and they need swarm mode.
async fn update() -> ApiError {
    ApiError::new(
        StatusCode::SERVICE_UNAVAILABLE,
        "This node is not a swarm manager. Use \"docker swarm init\" or \"docker swarm join\" \
         to connect this node to swarm and try again.",
    )
}
