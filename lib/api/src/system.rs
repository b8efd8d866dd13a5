//! `/_ping`, `/version`, `/info`: what every docker command asks first.

use axum::extract::State;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use bollard_stubs::models::{SystemInfo, SystemVersion};

use crate::{blocking, ApiError, Backend, BackendError, API_VERSION, MIN_API_VERSION};

/// What the system endpoints ask of the engine. Blocking calls: they read the store.
pub trait SystemBackend: Send + Sync + 'static {
    /// The engine's own facts (version, kernel, components); the API versions are the API's.
    fn version(&self) -> Result<SystemVersion, BackendError>;
    /// `docker info`: counts of what the store holds and facts of the host.
    fn info(&self) -> Result<SystemInfo, BackendError>;
}

pub fn routes() -> Router<Backend> {
    Router::new()
        .route("/_ping", get(ping).head(ping))
        .route("/version", get(version))
        .route("/info", get(info))
}

/// `OK`, never cached: the docker CLI reads the headers (`Api-Version`) before anything else.
async fn ping() -> Response {
    let mut response = (StatusCode::OK, "OK").into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    headers.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("no-cache, no-store, must-revalidate"),
    );
    headers.insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
    response
}

async fn version(State(backend): State<Backend>) -> Result<Json<SystemVersion>, ApiError> {
    let system = backend.system.clone();
    let mut version = blocking(move || system.version()).await?;
    version.api_version = Some(API_VERSION.to_string());
    version.min_api_version = Some(MIN_API_VERSION.to_string());
    Ok(Json(version))
}

async fn info(State(backend): State<Backend>) -> Result<Json<SystemInfo>, ApiError> {
    let system = backend.system.clone();
    Ok(Json(blocking(move || system.info()).await?))
}
