//! `POST /build` (`docker build` with the classic builder: a tar context in the body,
//! docker's JSON stream back) and `POST /build/prune` (`docker builder prune`).

use std::path::{Path, PathBuf};

use axum::body::Body;
use axum::extract::{RawQuery, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Json, Router};
use bytes::Bytes;
use serde_json::{json, Value};

use crate::{blocking, ApiError, Backend, BackendError};

/// A build as the query asks for it.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct BuildRequest {
    pub tags: Vec<String>,
    /// The Dockerfile's path inside the context.
    pub dockerfile: String,
    pub build_args: Vec<(String, String)>,
    pub target: Option<String>,
    pub no_cache: bool,
    pub labels: Vec<(String, String)>,
    /// RUN steps get a network (`networkmode` other than `none`).
    pub network: bool,
    pub quiet: bool,
    /// `pull`: FROM images pulled even when the store has them.
    pub pull: bool,
    /// `platform`: what the FROM images must be for.
    pub platform: Option<String>,
}

/// What `docker builder prune` removed.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct BuildPruneReport {
    pub caches: Vec<String>,
    pub space: u64,
}

/// What the build endpoints ask of the engine. Blocking calls.
pub trait BuildBackend: Send + Sync + 'static {
    /// A directory for the uploaded context, removed by the caller.
    fn scratch_dir(&self) -> Result<PathBuf, BackendError>;
    /// Builds from the context tar at `context`; `out` gets docker's JSON stream, line by
    /// line, as the build goes (a failure of the build itself is a line of it too).
    fn build(
        &self,
        request: &BuildRequest,
        context: &Path,
        out: &mut dyn FnMut(&[u8]) -> bool,
    ) -> Result<(), BackendError>;
    fn prune(&self) -> Result<BuildPruneReport, BackendError>;
}

pub fn routes() -> Router<Backend> {
    Router::new()
        .route("/build", post(build))
        .route("/build/prune", post(prune))
}

fn truthy(value: &str) -> bool {
    matches!(value, "1" | "true" | "True")
}

/// `buildargs` and `labels`: JSON objects; a null build arg takes the daemon's
/// environment in docker, none here.
fn json_pairs(text: &str, what: &str) -> Result<Vec<(String, String)>, ApiError> {
    if text.is_empty() {
        return Ok(Vec::new());
    }
    let map: serde_json::Map<String, Value> = serde_json::from_str(text)
        .map_err(|e| ApiError::bad_request(format!("invalid {what}: {e}")))?;
    Ok(map
        .into_iter()
        .filter_map(|(k, v)| match v {
            Value::String(s) => Some((k, s)),
            Value::Null => None,
            other => Some((k, other.to_string())),
        })
        .collect())
}

pub fn parse_query(query: &str) -> Result<BuildRequest, ApiError> {
    let mut request = BuildRequest {
        dockerfile: "Dockerfile".into(),
        ..BuildRequest::default()
    };
    for (key, value) in form_urlencoded::parse(query.as_bytes()) {
        let value = value.into_owned();
        match key.as_ref() {
            "t" => request.tags.push(value),
            "dockerfile" if !value.is_empty() => request.dockerfile = value,
            "buildargs" => request.build_args = json_pairs(&value, "buildargs")?,
            "labels" => request.labels = json_pairs(&value, "labels")?,
            "target" if !value.is_empty() => request.target = Some(value),
            "nocache" => request.no_cache = truthy(&value),
            "q" => request.quiet = truthy(&value),
            "pull" => request.pull = truthy(&value),
            "platform" if !value.is_empty() => request.platform = Some(value),
            "networkmode" => request.network = !matches!(value.as_str(), "none"),
            "remote" if !value.is_empty() => {
                return Err(ApiError::bad_request(
                    "a remote build context is not supported: send the context as the body",
                ))
            }
            _ => {}
        }
    }
    Ok(request)
}

async fn build(
    State(backend): State<Backend>,
    RawQuery(query): RawQuery,
    body: Body,
) -> Result<Response, ApiError> {
    let request = parse_query(query.as_deref().unwrap_or(""))?;
    let engine = backend.build.clone();
    let dir = {
        let engine = engine.clone();
        blocking(move || engine.scratch_dir()).await?
    };
    let context = dir.join("context.tar");
    if let Err(e) = crate::stream::receive_to_file(body, &context, "the context").await {
        let _ = tokio::fs::remove_dir_all(&dir).await;
        return Err(e);
    }
    let (tx, rx) = tokio::sync::mpsc::channel::<Bytes>(64);
    tokio::task::spawn_blocking(move || {
        let mut out = |line: &[u8]| tx.blocking_send(Bytes::copy_from_slice(line)).is_ok();
        if let Err(e) = engine.build(&request, &context, &mut out) {
            let message = e.message;
            let line = json!({"errorDetail": {"message": message}, "error": message});
            out(format!("{line}\n").as_bytes());
        }
        let _ = std::fs::remove_dir_all(&dir);
    });
    Ok((
        [(header::CONTENT_TYPE, "application/json")],
        crate::stream::body_of(rx),
    )
        .into_response())
}

async fn prune(State(backend): State<Backend>) -> Result<Json<Value>, ApiError> {
    let engine = backend.build.clone();
    let report = blocking(move || engine.prune()).await?;
    Ok(Json(json!({
        "CachesDeleted": report.caches,
        "SpaceReclaimed": report.space,
    })))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_as_the_classic_builder_sends_it() {
        let q = "buildargs=%7B%22A%22%3A%221%22%2C%22B%22%3Anull%7D&dockerfile=sub%2FDockerfile&labels=%7B%22l%22%3A%22v%22%7D&networkmode=default&nocache=1&q=1&t=a%3A1&t=b&target=build&version=1";
        let r = parse_query(q).unwrap();
        assert_eq!(r.tags, ["a:1", "b"]);
        assert_eq!(r.dockerfile, "sub/Dockerfile");
        assert_eq!(r.build_args, [("A".to_string(), "1".to_string())]);
        assert_eq!(r.labels, [("l".to_string(), "v".to_string())]);
        assert_eq!(r.target.as_deref(), Some("build"));
        assert!(r.no_cache && r.quiet && r.network);
        let r = parse_query("networkmode=none").unwrap();
        assert!(!r.network);
        assert_eq!(r.dockerfile, "Dockerfile");
        let r = parse_query("pull=1&platform=linux%2Famd64").unwrap();
        assert!(r.pull);
        assert_eq!(r.platform.as_deref(), Some("linux/amd64"));
        assert!(parse_query("buildargs=notjson").is_err());
        assert!(parse_query("remote=https://example.invalid/x.git").is_err());
    }
}
