//! Streams of container output: docker's 8-byte multiplexed framing (no terminal) or raw
//! bytes (a terminal), carried from a blocking backend call to an async answer; and the
//! `101 UPGRADED` hijack that `attach` and `exec start` answer with.

use axum::body::Body;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::Response;
use bytes::Bytes;
use hyper::upgrade::OnUpgrade;
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::mpsc;

/// Which stream a piece of output is from, as the framing numbers them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StreamKind {
    Stdin = 0,
    Stdout = 1,
    Stderr = 2,
}

/// `data` in one frame: `[kind, 0, 0, 0, len (u32 big endian)]` then the bytes.
pub fn frame(kind: StreamKind, data: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(8 + data.len());
    out.extend_from_slice(&[kind as u8, 0, 0, 0]);
    out.extend_from_slice(&(data.len() as u32).to_be_bytes());
    out.extend_from_slice(data);
    out
}

/// Where a blocking backend call writes output. Framing is decided here: a terminal's
/// output is raw bytes, anything else is framed.
pub struct OutputSink {
    tx: mpsc::Sender<Bytes>,
    raw: bool,
}

impl OutputSink {
    /// A sink and the receiving end the answer reads from; `raw`: the container has a
    /// terminal.
    pub fn channel(raw: bool) -> (OutputSink, mpsc::Receiver<Bytes>) {
        let (tx, rx) = mpsc::channel(64);
        (OutputSink { tx, raw }, rx)
    }

    /// Sends `data`; false once the client is gone (the caller stops then).
    pub fn send(&self, kind: StreamKind, data: &[u8]) -> bool {
        if data.is_empty() {
            return !self.tx.is_closed();
        }
        let bytes = if self.raw {
            Bytes::copy_from_slice(data)
        } else {
            Bytes::from(frame(kind, data))
        };
        self.tx.blocking_send(bytes).is_ok()
    }

    /// The client went away.
    pub fn is_closed(&self) -> bool {
        self.tx.is_closed()
    }
}

/// A streamed (chunked) body of what the receiver yields, until its sender is dropped.
pub fn body_of(rx: mpsc::Receiver<Bytes>) -> Body {
    let stream = futures_util::stream::unfold(rx, |mut rx| async move {
        rx.recv()
            .await
            .map(|bytes| (Ok::<_, std::convert::Infallible>(bytes), rx))
    });
    Body::from_stream(stream)
}

/// The `101 UPGRADED` answer of a hijacked endpoint, as dockerd sends it.
pub fn upgraded() -> Response {
    let mut response = Response::new(Body::empty());
    *response.status_mut() = StatusCode::SWITCHING_PROTOCOLS;
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/vnd.docker.raw-stream"),
    );
    headers.insert(header::CONNECTION, HeaderValue::from_static("Upgrade"));
    headers.insert(header::UPGRADE, HeaderValue::from_static("tcp"));
    response
}

/// Input read from a hijacked connection, for a blocking backend call: each read as it
/// comes; the channel closes when the client closes its sending half (or goes).
pub type InputReceiver = std::sync::mpsc::Receiver<Vec<u8>>;

/// Once the connection is upgraded: writes what `output` yields to the client and, with
/// `input`, forwards what the client sends; closes when the output ends.
pub async fn pump(
    on_upgrade: OnUpgrade,
    mut output: mpsc::Receiver<Bytes>,
    input: Option<std::sync::mpsc::Sender<Vec<u8>>>,
) {
    let upgraded = match on_upgrade.await {
        Ok(u) => u,
        Err(e) => {
            tracing::debug!("the connection was not upgraded: {e}");
            return;
        }
    };
    let (mut reader, mut writer) = tokio::io::split(TokioIo::new(upgraded));
    let reading = tokio::spawn(async move {
        let mut buf = vec![0u8; 32 * 1024];
        loop {
            match reader.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(n) => {
                    if let Some(input) = &input {
                        if input.send(buf[..n].to_vec()).is_err() {
                            return;
                        }
                    }
                }
            }
        }
    });
    while let Some(bytes) = output.recv().await {
        if writer.write_all(&bytes).await.is_err() || writer.flush().await.is_err() {
            break;
        }
    }
    let _ = writer.shutdown().await;
    reading.abort();
}

/// The upgrade handle of a request that asked for one.
pub fn on_upgrade(request: &mut axum::extract::Request) -> Option<OnUpgrade> {
    request.extensions_mut().remove::<OnUpgrade>()
}

/// Writes a request `body` (an upload: an image archive, a build context) to the file
/// at `path`; `what` names it in the error when the client's stream breaks.
pub async fn receive_to_file(
    body: Body,
    path: &std::path::Path,
    what: &str,
) -> Result<(), crate::ApiError> {
    use crate::ApiError;
    use futures_util::StreamExt;
    let mut file = tokio::fs::File::create(path)
        .await
        .map_err(|e| ApiError::internal(format!("cannot create {}: {e}", path.display())))?;
    let mut stream = body.into_data_stream();
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(|e| ApiError::bad_request(format!("reading {what}: {e}")))?;
        file.write_all(&chunk)
            .await
            .map_err(|e| ApiError::internal(format!("writing {}: {e}", path.display())))?;
    }
    file.flush()
        .await
        .map_err(|e| ApiError::internal(format!("writing {}: {e}", path.display())))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_frame_has_the_stream_and_the_big_endian_length() {
        assert_eq!(
            frame(StreamKind::Stdout, b"hi\n"),
            b"\x01\x00\x00\x00\x00\x00\x00\x03hi\n"
        );
        let long = vec![b'x'; 300];
        let framed = frame(StreamKind::Stderr, &long);
        assert_eq!(&framed[..8], &[2, 0, 0, 0, 0, 0, 1, 44]);
        assert_eq!(framed.len(), 308);
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn a_sink_frames_unless_raw_and_sees_the_client_go() {
        let (sink, mut rx) = OutputSink::channel(false);
        let sent = tokio::task::spawn_blocking(move || {
            assert!(sink.send(StreamKind::Stderr, b"e"));
            sink
        })
        .await
        .unwrap();
        assert_eq!(
            &rx.recv().await.unwrap()[..],
            b"\x02\x00\x00\x00\x00\x00\x00\x01e"
        );
        drop(rx);
        assert!(sent.is_closed());
        let (raw, mut rx) = OutputSink::channel(true);
        tokio::task::spawn_blocking(move || raw.send(StreamKind::Stdout, b"tty"))
            .await
            .unwrap();
        assert_eq!(&rx.recv().await.unwrap()[..], b"tty");
    }
}
