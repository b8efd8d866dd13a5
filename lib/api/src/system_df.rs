//! `GET /system/df`: what `docker system df [-v]` shows, in the API 1.41–1.50 shape
//! (`LayersSize`, `Images`, `Containers`, `Volumes`, `BuildCache`).

use axum::extract::{RawQuery, State};
use axum::routing::get;
use axum::{Json, Router};

use crate::{blocking, ApiError, Backend, BackendError};

/// The parts a client may ask for with `type=` (all when none is given).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DfParts {
    pub images: bool,
    pub containers: bool,
    pub volumes: bool,
    pub build_cache: bool,
}

impl DfParts {
    pub const ALL: DfParts = DfParts {
        images: true,
        containers: true,
        volumes: true,
        build_cache: true,
    };
}

/// What `/system/df` asks of the engine. Blocking: it walks the store's directories.
pub trait SystemDfBackend: Send + Sync + 'static {
    /// The usage object, with only the asked-for parts filled.
    fn disk_usage(&self, parts: DfParts) -> Result<serde_json::Value, BackendError>;
}

pub fn routes() -> Router<Backend> {
    Router::new().route("/system/df", get(disk_usage))
}

/// `type=` repeats (`?type=image&type=volume`), which axum's `Query` map cannot hold.
fn parts_of(query: Option<&str>) -> Result<DfParts, ApiError> {
    let types: Vec<&str> = query
        .unwrap_or("")
        .split('&')
        .filter_map(|pair| pair.strip_prefix("type="))
        .collect();
    if types.is_empty() {
        return Ok(DfParts::ALL);
    }
    let mut parts = DfParts {
        images: false,
        containers: false,
        volumes: false,
        build_cache: false,
    };
    for t in types {
        match t {
            "image" => parts.images = true,
            "container" => parts.containers = true,
            "volume" => parts.volumes = true,
            "build-cache" => parts.build_cache = true,
            other => {
                return Err(ApiError::bad_request(format!(
                    "unknown object type: {other}"
                )))
            }
        }
    }
    Ok(parts)
}

async fn disk_usage(
    State(backend): State<Backend>,
    RawQuery(query): RawQuery,
) -> Result<Json<serde_json::Value>, ApiError> {
    let parts = parts_of(query.as_deref())?;
    let df = backend.system_df.clone();
    Ok(Json(blocking(move || df.disk_usage(parts)).await?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn types_select_parts() {
        assert_eq!(parts_of(None).unwrap(), DfParts::ALL);
        let p = parts_of(Some("type=image&type=volume&verbose=1")).unwrap();
        assert!(p.images && p.volumes && !p.containers && !p.build_cache);
        assert!(parts_of(Some("type=bogus")).is_err());
    }
}
