//! `docker rename`, `docker update` and `docker container prune`, over
//! [`ContainerAdminBackend`].

use axum::extract::rejection::JsonRejection;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::routing::post;
use axum::{Json, Router};
use serde::{Deserialize, Serialize};

use crate::filters::Filters;
use crate::{blocking, ApiError, Backend, BackendError};

/// `POST /containers/{id}/update`: docker's `UpdateConfig`. Zero (or absent) leaves a
/// value as it is, as dockerd reads it.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct UpdateBody {
    pub memory: i64,
    pub memory_swap: i64,
    pub memory_reservation: i64,
    #[serde(rename = "NanoCpus", alias = "NanoCPUs")]
    pub nano_cpus: i64,
    pub cpu_shares: i64,
    pub cpu_quota: i64,
    pub cpu_period: i64,
    pub cpuset_cpus: String,
    /// Absent: unchanged; 0 or -1: unlimited.
    pub pids_limit: Option<i64>,
    pub blkio_weight: u16,
    pub restart_policy: Option<crate::containers::model::RestartPolicyBody>,
}

/// What a prune removed.
#[derive(Debug, Clone, Default, Serialize)]
pub struct PruneReport {
    #[serde(rename = "ContainersDeleted")]
    pub containers_deleted: Vec<String>,
    #[serde(rename = "SpaceReclaimed")]
    pub space_reclaimed: u64,
}

/// What rename, update and prune ask of the engine. Blocking calls.
pub trait ContainerAdminBackend: Send + Sync + 'static {
    /// Gives the container `name` (no leading `/`), under the registry's lock.
    fn rename(&self, reference: &str, name: &str) -> Result<(), BackendError>;
    /// Changes the limits (live, when it runs) and stores them; the warnings.
    fn update(&self, reference: &str, body: UpdateBody) -> Result<Vec<String>, BackendError>;
    /// Removes the stopped containers the filters (until, label, label!) select.
    fn prune(&self, filters: &Filters) -> Result<PruneReport, BackendError>;
}

pub fn routes() -> Router<Backend> {
    Router::new()
        .route("/containers/{id}/rename", post(rename))
        .route("/containers/{id}/update", post(update))
        .route("/containers/prune", post(prune))
}

#[derive(Debug, Deserialize)]
struct RenameQuery {
    name: Option<String>,
}

async fn rename(
    State(backend): State<Backend>,
    Path(id): Path<String>,
    Query(query): Query<RenameQuery>,
) -> Result<StatusCode, ApiError> {
    let name = query.name.unwrap_or_default();
    let name = name.trim_start_matches('/').to_string();
    if name.is_empty() {
        return Err(ApiError::bad_request(
            "Neither old nor new names may be empty",
        ));
    }
    let admin = backend.admin.clone();
    blocking(move || admin.rename(&id, &name)).await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn update(
    State(backend): State<Backend>,
    Path(id): Path<String>,
    body: Result<Json<UpdateBody>, JsonRejection>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let Json(body) = body.map_err(|e| ApiError::bad_request(e.body_text()))?;
    let admin = backend.admin.clone();
    let warnings = blocking(move || admin.update(&id, body)).await?;
    Ok(Json(serde_json::json!({ "Warnings": warnings })))
}

#[derive(Debug, Deserialize)]
struct PruneQuery {
    filters: Option<String>,
}

async fn prune(
    State(backend): State<Backend>,
    Query(query): Query<PruneQuery>,
) -> Result<Json<PruneReport>, ApiError> {
    let filters = Filters::parse(query.filters.as_deref())?;
    let admin = backend.admin.clone();
    Ok(Json(blocking(move || admin.prune(&filters)).await?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_clis_update_body_parses() {
        let body: UpdateBody = serde_json::from_str(
            r#"{"Memory":67108864,"NanoCpus":0,"PidsLimit":null,"CpusetCpus":"",
                "RestartPolicy":{"Name":"","MaximumRetryCount":0},"Unknown":1}"#,
        )
        .unwrap();
        assert_eq!(body.memory, 67_108_864);
        assert_eq!(body.pids_limit, None);
        assert!(body.restart_policy.is_some());
    }
}
