//! `/containers/…`: create, start, stop, kill, restart, remove, inspect, list, wait, logs,
//! attach (hijacked, or over a websocket: [`ws`]) and resize, over [`ContainersBackend`].

pub mod model;
mod ws;

use std::collections::HashMap;
use std::sync::Arc;

use axum::body::{Body, Bytes};
use axum::extract::{Path, Query, Request, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post};
use axum::{Json, Router};
use serde_json::{json, Value};

pub use model::{AttachTarget, CreateBody, HealthConfig, ListQuery, LogsQuery, WaitCondition};

use crate::stream::{self, InputReceiver, OutputSink};
use crate::{blocking, ApiError, Backend, BackendError};

/// Which of a container's streams an attach wants.
#[derive(Debug, Clone, Default)]
pub struct AttachStreams {
    pub stdin: bool,
    pub stdout: bool,
    pub stderr: bool,
    /// `detachKeys` (docker's format, `ctrl-p,ctrl-q` when absent): typed on stdin, they end
    /// the attach and leave the container running.
    pub detach_keys: Option<String>,
}

/// What the container endpoints ask of the engine. Blocking calls; the streaming ones
/// (`wait`, `logs`, `attach`) return when done or when the client is gone.
impl AttachStreams {
    /// The streams an attach's query asks for (`stdin`, `stdout`, `stderr`, `detachKeys`).
    fn of(params: &HashMap<String, String>) -> AttachStreams {
        AttachStreams {
            stdin: flag(params, "stdin"),
            stdout: flag(params, "stdout"),
            stderr: flag(params, "stderr"),
            detach_keys: params.get("detachKeys").filter(|k| !k.is_empty()).cloned(),
        }
    }

    /// The channel the client's input reaches the backend through, when stdin is wanted.
    fn input_channel(
        &self,
    ) -> (
        Option<std::sync::mpsc::Sender<Vec<u8>>>,
        Option<InputReceiver>,
    ) {
        if !self.stdin {
            return (None, None);
        }
        let (tx, rx) = std::sync::mpsc::channel();
        (Some(tx), Some(rx))
    }
}

pub trait ContainersBackend: Send + Sync + 'static {
    /// Registers the container; its id.
    fn create(&self, name: Option<String>, body: CreateBody) -> Result<String, BackendError>;
    /// Starts it; false when it already runs.
    fn start(&self, reference: &str) -> Result<bool, BackendError>;
    /// The stop signal, SIGKILL after `timeout` seconds; false when it was not running.
    fn stop(
        &self,
        reference: &str,
        timeout: Option<i64>,
        signal: Option<String>,
    ) -> Result<bool, BackendError>;
    fn kill(&self, reference: &str, signal: Option<String>) -> Result<(), BackendError>;
    fn restart(&self, reference: &str, timeout: Option<i64>) -> Result<(), BackendError>;
    fn remove(&self, reference: &str, force: bool, volumes: bool) -> Result<(), BackendError>;
    /// `GET /containers/{id}/json`.
    fn inspect(&self, reference: &str) -> Result<Value, BackendError>;
    /// `GET /containers/json`: summaries, newest first.
    fn list(&self, query: &ListQuery) -> Result<Vec<Value>, BackendError>;
    /// The container's id and whether it has a terminal (how its output is framed).
    fn target(&self, reference: &str) -> Result<AttachTarget, BackendError>;
    /// Waits for `condition`; the exit code. `gone` turns true when the client left.
    fn wait(
        &self,
        id: &str,
        condition: WaitCondition,
        gone: &(dyn Fn() -> bool + Sync),
    ) -> Result<i64, BackendError>;
    fn logs(&self, id: &str, query: &LogsQuery, out: &OutputSink) -> Result<(), BackendError>;
    /// Streams the output from now on (an attach made before start: everything) until the
    /// container exits; passes `input` to its stdin.
    fn attach(
        &self,
        id: &str,
        streams: AttachStreams,
        out: &OutputSink,
        input: Option<InputReceiver>,
    ) -> Result<(), BackendError>;
    fn resize(&self, reference: &str, height: u16, width: u16) -> Result<(), BackendError>;
}

pub fn routes() -> Router<Backend> {
    Router::new()
        .route("/containers/create", post(create))
        .route("/containers/json", get(list))
        .route("/containers/{id}/json", get(inspect))
        .route("/containers/{id}/start", post(start))
        .route("/containers/{id}/stop", post(stop))
        .route("/containers/{id}/kill", post(kill))
        .route("/containers/{id}/restart", post(restart))
        .route("/containers/{id}/wait", post(wait))
        .route("/containers/{id}/logs", get(logs))
        .route("/containers/{id}/attach", post(attach))
        .route("/containers/{id}/attach/ws", get(ws::attach_ws))
        .route("/containers/{id}/resize", post(resize))
        .route("/containers/{id}", delete(remove))
}

type Params = Query<HashMap<String, String>>;

/// Docker's booleans in queries: `1`, `true`, `True`…; absent is false.
pub(crate) fn flag(params: &HashMap<String, String>, name: &str) -> bool {
    params
        .get(name)
        .is_some_and(|v| matches!(v.to_ascii_lowercase().as_str(), "1" | "true" | "yes"))
}

fn number<T: std::str::FromStr>(
    params: &HashMap<String, String>,
    name: &str,
) -> Result<Option<T>, ApiError> {
    match params.get(name).map(|v| v.trim()).filter(|v| !v.is_empty()) {
        None => Ok(None),
        Some(v) => v
            .parse()
            .map(Some)
            .map_err(|_| ApiError::bad_request(format!("invalid value for {name}: {v:?}"))),
    }
}

fn containers(backend: &Backend) -> Arc<dyn ContainersBackend> {
    backend.containers.clone()
}

fn no_content(done: bool) -> StatusCode {
    if done {
        StatusCode::NO_CONTENT
    } else {
        StatusCode::NOT_MODIFIED
    }
}

async fn create(
    State(backend): State<Backend>,
    Query(params): Params,
    body: Bytes,
) -> Result<Response, ApiError> {
    let body: CreateBody =
        serde_json::from_slice(&body).map_err(|e| ApiError::bad_request(e.to_string()))?;
    if body.image.is_empty() {
        return Err(ApiError::bad_request(
            "config cannot be empty in order to create a container",
        ));
    }
    let name = params.get("name").filter(|n| !n.is_empty()).cloned();
    let c = containers(&backend);
    let id = blocking(move || c.create(name, body)).await?;
    Ok((
        StatusCode::CREATED,
        Json(json!({ "Id": id, "Warnings": [] })),
    )
        .into_response())
}

async fn start(
    State(backend): State<Backend>,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    let c = containers(&backend);
    Ok(no_content(blocking(move || c.start(&id)).await?))
}

async fn stop(
    State(backend): State<Backend>,
    Path(id): Path<String>,
    Query(params): Params,
) -> Result<StatusCode, ApiError> {
    let timeout = number(&params, "t")?;
    let signal = params.get("signal").cloned();
    let c = containers(&backend);
    Ok(no_content(
        blocking(move || c.stop(&id, timeout, signal)).await?,
    ))
}

async fn kill(
    State(backend): State<Backend>,
    Path(id): Path<String>,
    Query(params): Params,
) -> Result<StatusCode, ApiError> {
    let signal = params.get("signal").filter(|s| !s.is_empty()).cloned();
    let c = containers(&backend);
    blocking(move || c.kill(&id, signal)).await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn restart(
    State(backend): State<Backend>,
    Path(id): Path<String>,
    Query(params): Params,
) -> Result<StatusCode, ApiError> {
    let timeout = number(&params, "t")?;
    let c = containers(&backend);
    blocking(move || c.restart(&id, timeout)).await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn remove(
    State(backend): State<Backend>,
    Path(id): Path<String>,
    Query(params): Params,
) -> Result<StatusCode, ApiError> {
    let (force, volumes) = (flag(&params, "force"), flag(&params, "v"));
    let c = containers(&backend);
    blocking(move || c.remove(&id, force, volumes)).await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn inspect(
    State(backend): State<Backend>,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let c = containers(&backend);
    Ok(Json(blocking(move || c.inspect(&id)).await?))
}

async fn list(
    State(backend): State<Backend>,
    Query(params): Params,
) -> Result<Json<Vec<Value>>, ApiError> {
    let filters = match params.get("filters").filter(|f| !f.is_empty()) {
        None => HashMap::new(),
        Some(text) => parse_filters(text)?,
    };
    let query = ListQuery {
        all: flag(&params, "all"),
        limit: number::<i64>(&params, "limit")?
            .filter(|l| *l > 0)
            .map(|l| l as usize),
        filters,
    };
    let c = containers(&backend);
    Ok(Json(blocking(move || c.list(&query)).await?))
}

/// `{"name":["a"]}` or the older `{"name":{"a":true}}`.
pub(crate) fn parse_filters(text: &str) -> Result<HashMap<String, Vec<String>>, ApiError> {
    let value: Value = serde_json::from_str(text)
        .map_err(|e| ApiError::bad_request(format!("invalid filter: {e}")))?;
    let Value::Object(map) = value else {
        return Err(ApiError::bad_request("invalid filter: not an object"));
    };
    let mut out = HashMap::new();
    for (key, values) in map {
        let list = match values {
            Value::Array(a) => a
                .into_iter()
                .filter_map(|v| v.as_str().map(str::to_string))
                .collect(),
            Value::Object(o) => o.into_iter().map(|(k, _)| k).collect(),
            _ => return Err(ApiError::bad_request(format!("invalid filter {key:?}"))),
        };
        out.insert(key, list);
    }
    Ok(out)
}

async fn wait(
    State(backend): State<Backend>,
    Path(id): Path<String>,
    Query(params): Params,
) -> Result<Response, ApiError> {
    let condition = match params.get("condition").map(String::as_str) {
        None | Some("") | Some("not-running") => WaitCondition::NotRunning,
        Some("next-exit") => WaitCondition::NextExit,
        Some("removed") => WaitCondition::Removed,
        Some(other) => {
            return Err(ApiError::bad_request(format!(
                "invalid condition: {other:?}"
            )))
        }
    };
    let c = containers(&backend);
    let target = {
        let c = c.clone();
        blocking(move || c.target(&id)).await?
    };
    // The headers go now; the body when the condition holds (or the client is gone, which
    // the dropped body tells the waiting thread).
    let (tx, rx) = tokio::sync::oneshot::channel::<Bytes>();
    tokio::task::spawn_blocking(move || {
        let gone = || tx.is_closed();
        let body = match c.wait(&target.id, condition, &gone) {
            Ok(code) => json!({ "Error": null, "StatusCode": code }),
            Err(e) => json!({ "Error": { "Message": e.message }, "StatusCode": -1 }),
        };
        let mut text = body.to_string();
        text.push('\n');
        let _ = tx.send(Bytes::from(text));
    });
    let stream = futures_util::stream::once(async move {
        Ok::<_, std::convert::Infallible>(rx.await.unwrap_or_default())
    });
    let mut response = Response::new(Body::from_stream(stream));
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    Ok(response)
}

async fn logs(
    State(backend): State<Backend>,
    Path(id): Path<String>,
    Query(params): Params,
) -> Result<Response, ApiError> {
    let seconds = |name: &str| -> Result<Option<f64>, ApiError> {
        number::<f64>(&params, name).map(|v| v.filter(|s| *s > 0.0))
    };
    let query = LogsQuery {
        stdout: flag(&params, "stdout"),
        stderr: flag(&params, "stderr"),
        follow: flag(&params, "follow"),
        tail: match params.get("tail").map(String::as_str) {
            None | Some("") | Some("all") => None,
            Some(n) => Some(
                n.parse()
                    .map_err(|_| ApiError::bad_request(format!("invalid value for tail: {n:?}")))?,
            ),
        },
        since: seconds("since")?,
        until: seconds("until")?,
        timestamps: flag(&params, "timestamps"),
    };
    if !query.stdout && !query.stderr {
        return Err(ApiError::bad_request(
            "Bad parameters: you must choose at least one stream",
        ));
    }
    let c = containers(&backend);
    let target = {
        let c = c.clone();
        blocking(move || c.target(&id)).await?
    };
    let (sink, rx) = OutputSink::channel(target.tty);
    tokio::task::spawn_blocking(move || {
        if let Err(e) = c.logs(&target.id, &query, &sink) {
            tracing::debug!("logs of {}: {e}", target.id);
        }
    });
    Ok(Response::new(stream::body_of(rx)))
}

async fn attach(
    State(backend): State<Backend>,
    Path(id): Path<String>,
    Query(params): Params,
    mut request: Request,
) -> Result<Response, ApiError> {
    let streams = AttachStreams::of(&params);
    let c = containers(&backend);
    let target = {
        let c = c.clone();
        blocking(move || c.target(&id)).await?
    };
    let Some(on_upgrade) = stream::on_upgrade(&mut request) else {
        return Err(ApiError::bad_request(
            "attach needs a hijacked connection (Upgrade: tcp)",
        ));
    };
    let (sink, rx) = OutputSink::channel(target.tty);
    let (input_tx, input_rx) = streams.input_channel();
    tokio::task::spawn_blocking(move || {
        if let Err(e) = c.attach(&target.id, streams, &sink, input_rx) {
            tracing::debug!("attach to {}: {e}", target.id);
        }
    });
    tokio::spawn(stream::pump(on_upgrade, rx, input_tx));
    Ok(stream::upgraded())
}

async fn resize(
    State(backend): State<Backend>,
    Path(id): Path<String>,
    Query(params): Params,
) -> Result<StatusCode, ApiError> {
    let height = number::<u16>(&params, "h")?.unwrap_or(0);
    let width = number::<u16>(&params, "w")?.unwrap_or(0);
    let c = containers(&backend);
    blocking(move || c.resize(&id, height, width)).await?;
    Ok(StatusCode::OK)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filters_come_in_both_shapes() {
        let new = parse_filters(r#"{"name":["web"],"status":["exited","created"]}"#).unwrap();
        assert_eq!(new["name"], ["web"]);
        assert_eq!(new["status"].len(), 2);
        let old = parse_filters(r#"{"label":{"a=b":true}}"#).unwrap();
        assert_eq!(old["label"], ["a=b"]);
        assert_eq!(
            parse_filters("[1]").unwrap_err().status,
            StatusCode::BAD_REQUEST
        );
    }

    #[test]
    fn query_booleans_are_dockers() {
        let params: HashMap<String, String> = [("a", "1"), ("b", "true"), ("c", "0")]
            .into_iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        assert!(flag(&params, "a") && flag(&params, "b"));
        assert!(!flag(&params, "c") && !flag(&params, "missing"));
    }
}
