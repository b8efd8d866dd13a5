//! `/containers/{id}/exec` and `/exec/{id}/…`: processes run in a running container;
//! `start` hijacks the connection like attach does, unless detached.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Path, Query, Request, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use crate::containers::AttachTarget;
use crate::stream::{self, InputReceiver, OutputSink};
use crate::{blocking, ApiError, Backend, BackendError};

/// `POST /containers/{id}/exec`'s body.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct ExecCreateBody {
    pub attach_stdin: bool,
    pub attach_stdout: bool,
    pub attach_stderr: bool,
    pub tty: bool,
    pub env: Option<Vec<String>>,
    pub cmd: Option<Vec<String>>,
    pub working_dir: Option<String>,
    pub user: Option<String>,
    pub privileged: bool,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
struct ExecStartBody {
    detach: bool,
}

pub trait ExecBackend: Send + Sync + 'static {
    /// A new exec instance in running container `container`; its id.
    fn create(&self, container: &str, body: ExecCreateBody) -> Result<String, BackendError>;
    /// The instance and whether it has a terminal.
    fn target(&self, id: &str) -> Result<AttachTarget, BackendError>;
    /// Runs it. Attached (`out`): returns when it has exited; detached: once it runs.
    fn start(
        &self,
        id: &str,
        out: Option<&OutputSink>,
        input: Option<InputReceiver>,
    ) -> Result<(), BackendError>;
    fn inspect(&self, id: &str) -> Result<Value, BackendError>;
    fn resize(&self, id: &str, height: u16, width: u16) -> Result<(), BackendError>;
}

pub fn routes() -> Router<Backend> {
    Router::new()
        .route("/containers/{id}/exec", post(create))
        .route("/exec/{id}/start", post(start))
        .route("/exec/{id}/json", get(inspect))
        .route("/exec/{id}/resize", post(resize))
}

fn execs(backend: &Backend) -> Arc<dyn ExecBackend> {
    backend.exec.clone()
}

async fn create(
    State(backend): State<Backend>,
    Path(container): Path<String>,
    body: Bytes,
) -> Result<Response, ApiError> {
    let body: ExecCreateBody =
        serde_json::from_slice(&body).map_err(|e| ApiError::bad_request(e.to_string()))?;
    if body.cmd.as_ref().is_none_or(Vec::is_empty) {
        return Err(ApiError::bad_request("No exec command specified"));
    }
    let e = execs(&backend);
    let id = blocking(move || e.create(&container, body)).await?;
    Ok((StatusCode::CREATED, Json(json!({ "Id": id }))).into_response())
}

async fn start(
    State(backend): State<Backend>,
    Path(id): Path<String>,
    mut request: Request,
) -> Result<Response, ApiError> {
    let on_upgrade = stream::on_upgrade(&mut request);
    let bytes = axum::body::to_bytes(request.into_body(), 1 << 20)
        .await
        .map_err(|e| ApiError::bad_request(e.to_string()))?;
    let body: ExecStartBody = if bytes.is_empty() {
        ExecStartBody::default()
    } else {
        serde_json::from_slice(&bytes).map_err(|e| ApiError::bad_request(e.to_string()))?
    };
    let e = execs(&backend);
    let target = {
        let (e, id) = (e.clone(), id.clone());
        blocking(move || e.target(&id)).await?
    };
    if body.detach {
        blocking(move || e.start(&id, None, None)).await?;
        return Ok(StatusCode::OK.into_response());
    }
    let Some(on_upgrade) = on_upgrade else {
        return Err(ApiError::bad_request(
            "exec start needs a hijacked connection (Upgrade: tcp) or Detach",
        ));
    };
    let (sink, rx) = OutputSink::channel(target.tty);
    let (input_tx, input_rx) = std::sync::mpsc::channel();
    tokio::task::spawn_blocking(move || {
        if let Err(error) = e.start(&target.id, Some(&sink), Some(input_rx)) {
            // The connection is hijacked already: the error goes to the client as output.
            let text = format!("{}\n", error.message);
            sink.send(stream::StreamKind::Stderr, text.as_bytes());
        }
    });
    tokio::spawn(stream::pump(on_upgrade, rx, Some(input_tx)));
    Ok(stream::upgraded())
}

async fn inspect(
    State(backend): State<Backend>,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let e = execs(&backend);
    Ok(Json(blocking(move || e.inspect(&id)).await?))
}

async fn resize(
    State(backend): State<Backend>,
    Path(id): Path<String>,
    Query(params): Query<std::collections::HashMap<String, String>>,
) -> Result<StatusCode, ApiError> {
    let get = |k: &str| {
        params
            .get(k)
            .and_then(|v| v.parse::<u16>().ok())
            .unwrap_or(0)
    };
    let (height, width) = (get("h"), get("w"));
    let e = execs(&backend);
    blocking(move || e.resize(&id, height, width)).await?;
    Ok(StatusCode::OK)
}
