//! `GET /containers/{id}/attach/ws`: attach over a websocket, as dockerd serves it. The
//! output is never multiplexed (a binary message per piece, stdout and stderr alike, as
//! dockerd's websocket attach sends them since API 1.42), and every message the client
//! sends goes to the container's stdin. `logs=1` sends what the container wrote before,
//! `stream=1` what it writes from now on.

use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::extract::{Path, State};
use axum::response::Response;
use bytes::Bytes;
use futures_util::{SinkExt, StreamExt};
use tokio::sync::mpsc;

use super::{containers, flag, AttachStreams, LogsQuery, Params};
use crate::stream::OutputSink;
use crate::{blocking, ApiError, Backend};

pub(super) async fn attach_ws(
    State(backend): State<Backend>,
    Path(id): Path<String>,
    axum::extract::Query(params): Params,
    upgrade: Result<WebSocketUpgrade, axum::extract::ws::rejection::WebSocketUpgradeRejection>,
) -> Result<Response, ApiError> {
    let upgrade = upgrade.map_err(|e| {
        ApiError::bad_request(format!("attach/ws needs a websocket handshake: {e}"))
    })?;
    let streams = AttachStreams::of(&params);
    let (logs, stream) = (flag(&params, "logs"), flag(&params, "stream"));
    let c = containers(&backend);
    let target = {
        let c = c.clone();
        blocking(move || c.target(&id)).await?
    };
    let (sink, output) = OutputSink::channel(true);
    let (input_tx, input_rx) = streams.input_channel();
    tokio::task::spawn_blocking(move || {
        if logs {
            let past = LogsQuery {
                stdout: streams.stdout,
                stderr: streams.stderr,
                follow: false,
                tail: None,
                since: None,
                until: None,
                timestamps: false,
            };
            if let Err(e) = c.logs(&target.id, &past, &sink) {
                tracing::debug!("attach/ws logs of {}: {e}", target.id);
            }
        }
        if stream {
            if let Err(e) = c.attach(&target.id, streams, &sink, input_rx) {
                tracing::debug!("attach/ws to {}: {e}", target.id);
            }
        }
    });
    Ok(upgrade.on_upgrade(move |socket| pump(socket, output, input_tx)))
}

/// Sends what `output` yields as binary messages and, with `input`, forwards what the
/// client sends; closes the socket when the output ends.
async fn pump(
    socket: WebSocket,
    mut output: mpsc::Receiver<Bytes>,
    input: Option<std::sync::mpsc::Sender<Vec<u8>>>,
) {
    let (mut to_client, mut from_client) = socket.split();
    let reading = tokio::spawn(async move {
        while let Some(Ok(message)) = from_client.next().await {
            let data = match message {
                Message::Binary(data) => data.to_vec(),
                Message::Text(text) => text.as_str().as_bytes().to_vec(),
                Message::Close(_) => return,
                Message::Ping(_) | Message::Pong(_) => continue,
            };
            if let Some(input) = &input {
                if input.send(data).is_err() {
                    return;
                }
            }
        }
    });
    while let Some(bytes) = output.recv().await {
        if to_client.send(Message::Binary(bytes)).await.is_err() {
            break;
        }
    }
    let _ = to_client.send(Message::Close(None)).await;
    reading.abort();
}
