//! `/networks/…`: create, list, inspect, remove, prune, connect and disconnect.

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use bollard_stubs::models::{
    NetworkConnectRequest, NetworkCreateRequest, NetworkCreateResponse, NetworkDisconnectRequest,
    NetworkPruneResponse,
};
use serde::Deserialize;

use crate::filters::Filters;
use crate::{blocking, ApiError, Backend, BackendError};

/// The networks docker has on every host; none of them can be removed.
pub const BUILTIN: [&str; 3] = ["bridge", "host", "none"];

/// What the network endpoints ask of the engine. Blocking: they read and write the store
/// and the kernel's links. Networks are shown as docker's JSON objects (`Name`, `Id`,
/// `IPAM`, `Containers`…).
pub trait NetworksBackend: Send + Sync + 'static {
    fn create(&self, request: &NetworkCreateRequest)
        -> Result<NetworkCreateResponse, BackendError>;
    fn list(&self, filters: &Filters) -> Result<Vec<serde_json::Value>, BackendError>;
    /// By name, full ID or unique ID prefix.
    fn inspect(&self, reference: &str) -> Result<serde_json::Value, BackendError>;
    fn remove(&self, reference: &str) -> Result<(), BackendError>;
    fn prune(&self, filters: &Filters) -> Result<NetworkPruneResponse, BackendError>;
    fn connect(&self, reference: &str, request: &NetworkConnectRequest)
        -> Result<(), BackendError>;
    fn disconnect(
        &self,
        reference: &str,
        request: &NetworkDisconnectRequest,
    ) -> Result<(), BackendError>;
}

pub fn routes() -> Router<Backend> {
    Router::new()
        .route("/networks", get(list))
        .route("/networks/create", post(create))
        .route("/networks/prune", post(prune))
        .route("/networks/{id}", get(inspect).delete(remove))
        .route("/networks/{id}/connect", post(connect))
        .route("/networks/{id}/disconnect", post(disconnect))
}

/// A JSON body, with serde's message on a 400 when it does not parse.
fn parse<T: serde::de::DeserializeOwned>(body: &Bytes) -> Result<T, ApiError> {
    serde_json::from_slice(body).map_err(|e| ApiError::bad_request(e.to_string()))
}

async fn create(State(backend): State<Backend>, body: Bytes) -> Result<Response, ApiError> {
    let request: NetworkCreateRequest = parse(&body)?;
    let networks = backend.networks.clone();
    let created = blocking(move || networks.create(&request)).await?;
    Ok((StatusCode::CREATED, Json(created)).into_response())
}

#[derive(Deserialize)]
struct FiltersQuery {
    filters: Option<String>,
}

async fn list(
    State(backend): State<Backend>,
    Query(q): Query<FiltersQuery>,
) -> Result<Json<Vec<serde_json::Value>>, ApiError> {
    let filters = Filters::parse(q.filters.as_deref())?;
    let networks = backend.networks.clone();
    Ok(Json(blocking(move || networks.list(&filters)).await?))
}

async fn inspect(
    State(backend): State<Backend>,
    Path(id): Path<String>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let networks = backend.networks.clone();
    Ok(Json(blocking(move || networks.inspect(&id)).await?))
}

/// The builtin networks are refused with dockerd's 403 (which no error kind maps to)
/// before the engine is asked to remove anything.
async fn remove(
    State(backend): State<Backend>,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    let networks = backend.networks.clone();
    let shown = {
        let (networks, id) = (networks.clone(), id.clone());
        blocking(move || networks.inspect(&id)).await?
    };
    let name = shown["Name"].as_str().unwrap_or_default();
    if BUILTIN.contains(&name) {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            format!("{name} is a pre-defined network and cannot be removed"),
        ));
    }
    blocking(move || networks.remove(&id)).await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn prune(
    State(backend): State<Backend>,
    Query(q): Query<FiltersQuery>,
) -> Result<Json<NetworkPruneResponse>, ApiError> {
    let filters = Filters::parse(q.filters.as_deref())?;
    let networks = backend.networks.clone();
    Ok(Json(blocking(move || networks.prune(&filters)).await?))
}

async fn connect(
    State(backend): State<Backend>,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<StatusCode, ApiError> {
    let request: NetworkConnectRequest = parse(&body)?;
    let networks = backend.networks.clone();
    blocking(move || networks.connect(&id, &request)).await?;
    Ok(StatusCode::OK)
}

async fn disconnect(
    State(backend): State<Backend>,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<StatusCode, ApiError> {
    let request: NetworkDisconnectRequest = parse(&body)?;
    let networks = backend.networks.clone();
    blocking(move || networks.disconnect(&id, &request)).await?;
    Ok(StatusCode::OK)
}
