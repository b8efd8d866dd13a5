//! A container's files: `HEAD/GET/PUT /containers/{id}/archive` (`docker cp` both ways),
//! `GET /containers/{id}/export` and `GET /containers/{id}/changes` (`docker diff`), over
//! [`ArchiveBackend`]. Tars stream both ways through bounded channels between the async
//! side and the blocking backend call: neither an upload nor a download is held whole.

mod pipe;

use axum::body::Body;
use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde::{Deserialize, Serialize};

pub use pipe::{PipeReader, PipeWriter};

use crate::{blocking, ApiError, Backend, BackendError};

/// What `HEAD archive` answers in `X-Docker-Container-Path-Stat` (base64 JSON). `mode` is
/// Go's `os.FileMode` (permission bits, and type bits from 1<<31 down), as the CLI reads it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PathStat {
    pub name: String,
    pub size: i64,
    pub mode: u32,
    /// RFC 3339.
    pub mtime: String,
    /// The link's target resolved inside the container (absolute), for a symlink.
    #[serde(rename = "linkTarget")]
    pub link_target: String,
}

/// How an upload is extracted.
#[derive(Debug, Clone, Copy, Default)]
pub struct PutOptions {
    /// Refuse to replace a directory with a non-directory and the other way round.
    pub no_overwrite_dir_non_dir: bool,
    /// Files belong to the container's user (`docker cp -a`), else to its root.
    pub copy_uid_gid: bool,
}

/// One `docker diff` line: 0 modified, 1 added, 2 deleted.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Change {
    #[serde(rename = "Path")]
    pub path: String,
    #[serde(rename = "Kind")]
    pub kind: u8,
}

/// What the file endpoints ask of the engine. Blocking calls; every path is resolved
/// inside the container's root, never the host's.
pub trait ArchiveBackend: Send + Sync + 'static {
    /// The object at `path` (its last component not followed).
    fn stat_path(&self, reference: &str, path: &str) -> Result<PathStat, BackendError>;
    /// A tar of `path`, its entries named from the path's last component.
    fn get_archive(
        &self,
        reference: &str,
        path: &str,
        out: &mut PipeWriter,
    ) -> Result<(), BackendError>;
    /// Extracts the tar read from `input` into directory `path`.
    fn put_archive(
        &self,
        reference: &str,
        path: &str,
        options: PutOptions,
        input: &mut PipeReader,
    ) -> Result<(), BackendError>;
    /// A tar of the container's whole filesystem (its rootfs, without mounts).
    fn export(&self, reference: &str, out: &mut PipeWriter) -> Result<(), BackendError>;
    /// What changed in the container's writable layer.
    fn changes(&self, reference: &str) -> Result<Vec<Change>, BackendError>;
}

pub fn routes() -> Router<Backend> {
    Router::new()
        .route(
            "/containers/{id}/archive",
            get(get_archive).head(head_archive).put(put_archive),
        )
        .route("/containers/{id}/export", get(export))
        .route("/containers/{id}/changes", get(changes))
}

#[derive(Debug, Deserialize)]
struct ArchiveQuery {
    path: Option<String>,
    #[serde(rename = "noOverwriteDirNonDir")]
    no_overwrite_dir_non_dir: Option<String>,
    #[serde(rename = "copyUIDGID")]
    copy_uid_gid: Option<String>,
}

impl ArchiveQuery {
    fn path(&self) -> Result<String, ApiError> {
        match &self.path {
            Some(p) if !p.is_empty() => Ok(p.clone()),
            _ => Err(ApiError::bad_request("path cannot be empty")),
        }
    }
}

fn flag(value: &Option<String>) -> bool {
    matches!(value.as_deref(), Some("1" | "true" | "True" | "TRUE"))
}

const STAT_HEADER: &str = "X-Docker-Container-Path-Stat";

async fn stat(backend: &Backend, id: &str, path: &str) -> Result<HeaderValue, ApiError> {
    let (archive, id, path) = (backend.archive.clone(), id.to_string(), path.to_string());
    let stat = blocking(move || archive.stat_path(&id, &path)).await?;
    let json = serde_json::to_vec(&stat).map_err(|e| ApiError::internal(e.to_string()))?;
    HeaderValue::from_str(&base64(&json)).map_err(|e| ApiError::internal(e.to_string()))
}

async fn head_archive(
    State(backend): State<Backend>,
    Path(id): Path<String>,
    Query(query): Query<ArchiveQuery>,
) -> Result<Response, ApiError> {
    let value = stat(&backend, &id, &query.path()?).await?;
    let mut response = StatusCode::OK.into_response();
    response.headers_mut().insert(STAT_HEADER, value);
    Ok(response)
}

async fn get_archive(
    State(backend): State<Backend>,
    Path(id): Path<String>,
    Query(query): Query<ArchiveQuery>,
) -> Result<Response, ApiError> {
    let path = query.path()?;
    // The stat first: a missing path is a 404, not a broken stream.
    let value = stat(&backend, &id, &path).await?;
    let archive = backend.archive.clone();
    let body = stream_from(move |out| archive.get_archive(&id, &path, out));
    let mut response = ([(header::CONTENT_TYPE, "application/x-tar")], body).into_response();
    response.headers_mut().insert(STAT_HEADER, value);
    Ok(response)
}

async fn put_archive(
    State(backend): State<Backend>,
    Path(id): Path<String>,
    Query(query): Query<ArchiveQuery>,
    body: Body,
) -> Result<StatusCode, ApiError> {
    let path = query.path()?;
    let options = PutOptions {
        no_overwrite_dir_non_dir: flag(&query.no_overwrite_dir_non_dir),
        copy_uid_gid: flag(&query.copy_uid_gid),
    };
    let (mut reader, feed) = pipe::upload(body);
    let archive = backend.archive.clone();
    let result = blocking(move || archive.put_archive(&id, &path, options, &mut reader)).await;
    // The reader is dropped: what the client still sends is read and dropped.
    let _ = feed.await;
    result.map(|()| StatusCode::OK)
}

async fn export(
    State(backend): State<Backend>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let archive = backend.archive.clone();
    // An unknown container is a 404 before the stream starts.
    {
        let (archive, id) = (archive.clone(), id.clone());
        blocking(move || archive.stat_path(&id, "/")).await?;
    }
    let body = stream_from(move |out| archive.export(&id, out));
    Ok(([(header::CONTENT_TYPE, "application/x-tar")], body).into_response())
}

async fn changes(
    State(backend): State<Backend>,
    Path(id): Path<String>,
) -> Result<Json<Vec<Change>>, ApiError> {
    let archive = backend.archive.clone();
    Ok(Json(blocking(move || archive.changes(&id)).await?))
}

/// A streamed body filled by `work` on the blocking pool; a failure midway ends the stream
/// early (the status is sent already), so the client sees a truncated tar.
fn stream_from<F>(work: F) -> Body
where
    F: FnOnce(&mut PipeWriter) -> Result<(), BackendError> + Send + 'static,
{
    let (mut writer, rx) = pipe::download();
    tokio::task::spawn_blocking(move || {
        if let Err(e) = work(&mut writer).and_then(|()| writer.finish()) {
            tracing::warn!("streaming a tar: {e}");
        }
    });
    crate::stream::body_of(rx)
}

/// Standard base64 with padding (the header's encoding).
fn base64(data: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(data.len().div_ceil(3) * 4);
    for chunk in data.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(ALPHABET[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_matches_the_standard_alphabet() {
        assert_eq!(base64(b""), "");
        assert_eq!(base64(b"f"), "Zg==");
        assert_eq!(base64(b"fo"), "Zm8=");
        assert_eq!(base64(b"foo"), "Zm9v");
        assert_eq!(base64(b"{\"name\":\"x\"}?>"), "eyJuYW1lIjoieCJ9Pz4=");
    }

    #[test]
    fn the_stat_is_the_json_the_cli_reads() {
        let stat = PathStat {
            name: "hostname".into(),
            size: 5,
            mode: 0o644,
            mtime: "2026-01-01T00:00:00Z".into(),
            link_target: String::new(),
        };
        let json: serde_json::Value = serde_json::to_value(&stat).unwrap();
        assert_eq!(json["linkTarget"], "");
        assert_eq!(json["mode"], 420);
    }
}
