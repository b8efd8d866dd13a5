//! `/images/…`: list, inspect, history, tag, remove, prune, `docker load` and `docker save`.

use std::path::PathBuf;

use axum::body::Body;
use axum::extract::{Path, Query, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use bollard_stubs::models::{
    ImageDeleteResponseItem, ImageHistoryResponseItem, ImagePruneResponse, ImageSummary,
};
use serde::Deserialize;

use crate::filters::Filters;
use crate::{blocking, ApiError, Backend, BackendError};

/// What the image endpoints ask of the engine. Blocking: they read and write the store.
pub trait ImagesBackend: Send + Sync + 'static {
    fn list(&self, all: bool, filters: &Filters) -> Result<Vec<ImageSummary>, BackendError>;
    fn inspect(&self, name: &str) -> Result<serde_json::Value, BackendError>;
    fn history(&self, name: &str) -> Result<Vec<ImageHistoryResponseItem>, BackendError>;
    fn tag(&self, name: &str, repo: &str, tag: &str) -> Result<(), BackendError>;
    fn remove(&self, name: &str, force: bool)
        -> Result<Vec<ImageDeleteResponseItem>, BackendError>;
    fn prune(&self, filters: &Filters) -> Result<ImagePruneResponse, BackendError>;
    /// A directory for a load's upload or a save's archive, removed by the caller.
    fn scratch_dir(&self) -> Result<PathBuf, BackendError>;
    /// Loads the archive at `path`; the names (or ids) of what was loaded.
    fn load(&self, path: &std::path::Path) -> Result<Vec<String>, BackendError>;
    /// Writes a docker-archive of `names` to `dest`.
    fn save(&self, names: &[String], dest: &std::path::Path) -> Result<(), BackendError>;
}

pub fn routes() -> Router<Backend> {
    Router::new()
        .route("/images/json", get(list))
        .route("/images/load", post(load))
        .route("/images/get", get(save_many))
        .route("/images/prune", post(prune))
        .route(
            "/images/{*rest}",
            get(by_name_get).post(by_name_post).delete(remove),
        )
}

#[derive(Deserialize)]
struct ListQuery {
    #[serde(default)]
    all: Option<String>,
    #[serde(default)]
    filters: Option<String>,
}

fn flag(value: &Option<String>) -> bool {
    matches!(value.as_deref(), Some("1" | "true" | "True"))
}

async fn list(
    State(backend): State<Backend>,
    Query(q): Query<ListQuery>,
) -> Result<Json<Vec<ImageSummary>>, ApiError> {
    let filters = Filters::parse(q.filters.as_deref())?;
    let images = backend.images.clone();
    let all = flag(&q.all);
    Ok(Json(blocking(move || images.list(all, &filters)).await?))
}

/// Image names hold slashes (`127.0.0.1:5000/a/b:tag`), so `/images/{name}/json` is matched
/// as one tail and split at its last segment.
async fn by_name_get(
    State(backend): State<Backend>,
    Path(rest): Path<String>,
) -> Result<Response, ApiError> {
    let images = backend.images.clone();
    if let Some(name) = rest.strip_suffix("/json") {
        let name = name.to_string();
        return Ok(Json(blocking(move || images.inspect(&name)).await?).into_response());
    }
    if let Some(name) = rest.strip_suffix("/history") {
        let name = name.to_string();
        return Ok(Json(blocking(move || images.history(&name)).await?).into_response());
    }
    if let Some(name) = rest.strip_suffix("/get") {
        return save(backend, vec![name.to_string()]).await;
    }
    Err(ApiError::not_found("page not found"))
}

#[derive(Deserialize)]
struct TagQuery {
    repo: Option<String>,
    tag: Option<String>,
}

async fn by_name_post(
    State(backend): State<Backend>,
    Path(rest): Path<String>,
    Query(q): Query<TagQuery>,
    headers: axum::http::HeaderMap,
) -> Result<Response, ApiError> {
    let Some(name) = rest.strip_suffix("/tag") else {
        if let Some(name) = rest.strip_suffix("/push") {
            return crate::distribution::push(backend, name.to_string(), q.tag, &headers).await;
        }
        return Err(ApiError::not_found("page not found"));
    };
    let repo = q
        .repo
        .filter(|r| !r.is_empty())
        .ok_or_else(|| ApiError::bad_request("repository name must have at least one component"))?;
    let tag = q
        .tag
        .filter(|t| !t.is_empty())
        .unwrap_or_else(|| "latest".into());
    let (images, name) = (backend.images.clone(), name.to_string());
    blocking(move || images.tag(&name, &repo, &tag)).await?;
    Ok(StatusCode::CREATED.into_response())
}

#[derive(Deserialize)]
struct RemoveQuery {
    force: Option<String>,
}

async fn remove(
    State(backend): State<Backend>,
    Path(name): Path<String>,
    Query(q): Query<RemoveQuery>,
) -> Result<Json<Vec<ImageDeleteResponseItem>>, ApiError> {
    let images = backend.images.clone();
    let force = flag(&q.force);
    Ok(Json(blocking(move || images.remove(&name, force)).await?))
}

#[derive(Deserialize)]
struct PruneQuery {
    filters: Option<String>,
}

async fn prune(
    State(backend): State<Backend>,
    Query(q): Query<PruneQuery>,
) -> Result<Json<ImagePruneResponse>, ApiError> {
    let filters = Filters::parse(q.filters.as_deref())?;
    let images = backend.images.clone();
    Ok(Json(blocking(move || images.prune(&filters)).await?))
}

#[derive(Deserialize)]
struct LoadQuery {
    quiet: Option<String>,
}

/// `docker load`: the archive is written to the store's scratch space as it arrives (never
/// held in memory), then loaded; the answer is docker's JSON stream of `Loaded image: …`.
async fn load(
    State(backend): State<Backend>,
    Query(q): Query<LoadQuery>,
    body: Body,
) -> Result<Response, ApiError> {
    let images = backend.images.clone();
    let dir = {
        let images = images.clone();
        blocking(move || images.scratch_dir()).await?
    };
    let path = dir.join("upload.tar");
    let received = crate::stream::receive_to_file(body, &path, "the upload").await;
    let result = match received {
        Ok(()) => {
            let p = path.clone();
            blocking(move || images.load(&p)).await
        }
        Err(e) => Err(e),
    };
    let _ = tokio::fs::remove_dir_all(&dir).await;
    let names = result?;
    // The CLI's `-q` only hides a progress bar, which this answer has none of.
    let _ = q.quiet;
    let mut text = String::new();
    for name in names {
        let line = if name.starts_with("sha256:") {
            format!("Loaded image ID: {name}\n")
        } else {
            format!("Loaded image: {name}\n")
        };
        text += &serde_json::json!({ "stream": line }).to_string();
        text.push('\n');
    }
    Ok(([(header::CONTENT_TYPE, "application/json")], text).into_response())
}

async fn save_many(
    State(backend): State<Backend>,
    query: axum::extract::RawQuery,
) -> Result<Response, ApiError> {
    // `names` repeats (`?names=a&names=b`), and serde_urlencoded keeps only one.
    let query = query.0.unwrap_or_default();
    let names: Vec<String> = form_urlencoded::parse(query.as_bytes())
        .filter(|(key, _)| key == "names")
        .map(|(_, value)| value.into_owned())
        .collect();
    if names.is_empty() {
        return Err(ApiError::bad_request("no image names given"));
    }
    save(backend, names).await
}

/// `docker save`: the archive is made in scratch space, then streamed and removed.
async fn save(backend: Backend, names: Vec<String>) -> Result<Response, ApiError> {
    let images = backend.images.clone();
    let dir = {
        let images = images.clone();
        blocking(move || images.scratch_dir()).await?
    };
    let dest = dir.join("save.tar");
    let d = dest.clone();
    if let Err(e) = blocking(move || images.save(&names, &d)).await {
        let _ = tokio::fs::remove_dir_all(&dir).await;
        return Err(e);
    }
    let file = tokio::fs::File::open(&dest).await;
    // Unlinked at once: the open file streams on, and nothing is left if the client goes.
    let _ = tokio::fs::remove_dir_all(&dir).await;
    let file = file.map_err(|e| ApiError::internal(format!("the saved archive: {e}")))?;
    let stream = tokio_util_reader(file);
    Ok((
        [(header::CONTENT_TYPE, "application/x-tar")],
        Body::from_stream(stream),
    )
        .into_response())
}

/// The file as a stream of chunks.
fn tokio_util_reader(
    file: tokio::fs::File,
) -> impl futures_util::Stream<Item = std::io::Result<bytes::Bytes>> {
    futures_util::stream::unfold(file, |mut file| async move {
        use tokio::io::AsyncReadExt;
        let mut buf = vec![0u8; 64 * 1024];
        match file.read(&mut buf).await {
            Ok(0) => None,
            Ok(n) => {
                buf.truncate(n);
                Some((Ok(bytes::Bytes::from(buf)), file))
            }
            Err(e) => Some((Err(e), file)),
        }
    })
}
