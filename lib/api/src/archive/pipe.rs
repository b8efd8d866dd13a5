//! Byte pipes between an HTTP body and a blocking backend call: [`PipeWriter`] (a
//! `Write` whose bytes become a streamed answer) and [`PipeReader`] (a `Read` over a
//! request's body). Both are bounded, so a slow side holds the other back.

use std::io;

use axum::body::Body;
use bytes::Bytes;
use futures_util::StreamExt;
use tokio::sync::mpsc;

/// How much the writer gathers before it sends a chunk.
const CHUNK: usize = 64 * 1024;
/// Chunks in flight.
const DEPTH: usize = 16;

/// The blocking end of a download.
pub struct PipeWriter {
    tx: mpsc::Sender<Bytes>,
    buf: Vec<u8>,
}

pub(super) fn download() -> (PipeWriter, mpsc::Receiver<Bytes>) {
    let (tx, rx) = mpsc::channel(DEPTH);
    (
        PipeWriter {
            tx,
            buf: Vec::with_capacity(CHUNK),
        },
        rx,
    )
}

fn gone() -> io::Error {
    io::Error::new(io::ErrorKind::BrokenPipe, "the client went away")
}

impl PipeWriter {
    fn send(&mut self) -> io::Result<()> {
        if self.buf.is_empty() {
            return Ok(());
        }
        let chunk = Bytes::from(std::mem::replace(&mut self.buf, Vec::with_capacity(CHUNK)));
        self.tx.blocking_send(chunk).map_err(|_| gone())
    }

    /// Sends what is buffered; the stream ends when the writer is dropped.
    pub fn finish(&mut self) -> Result<(), crate::BackendError> {
        self.send()
            .map_err(|e| crate::BackendError::internal(e.to_string()))
    }
}

impl io::Write for PipeWriter {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        if self.tx.is_closed() {
            return Err(gone());
        }
        self.buf.extend_from_slice(data);
        if self.buf.len() >= CHUNK {
            self.send()?;
        }
        Ok(data.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        self.send()
    }
}

/// The blocking end of an upload.
pub struct PipeReader {
    rx: mpsc::Receiver<Result<Bytes, String>>,
    current: Bytes,
}

/// How much of an upload is still read (and dropped) once the reader has stopped, so a
/// client still sending gets the answer rather than a broken pipe (Go's server does the
/// same with 256 KiB).
const DRAIN_LIMIT: usize = 64 << 20;

/// A reader of `body` and the task that feeds it; await the task once the reader is
/// dropped: it reads the rest of the upload, up to [`DRAIN_LIMIT`].
pub(super) fn upload(body: Body) -> (PipeReader, tokio::task::JoinHandle<()>) {
    let (tx, rx) = mpsc::channel(DEPTH);
    let feed = tokio::spawn(async move {
        let mut stream = body.into_data_stream();
        let mut drained = 0;
        while let Some(chunk) = stream.next().await {
            let item = chunk.map_err(|e| format!("reading the upload: {e}"));
            match item {
                Ok(chunk) if tx.is_closed() => {
                    drained += chunk.len();
                    if drained > DRAIN_LIMIT {
                        return;
                    }
                }
                Ok(chunk) => {
                    // A send fails only when the reader is gone: drain from here.
                    let _ = tx.send(Ok(chunk)).await;
                }
                Err(e) => {
                    let _ = tx.send(Err(e)).await;
                    return;
                }
            }
        }
    });
    (
        PipeReader {
            rx,
            current: Bytes::new(),
        },
        feed,
    )
}

impl io::Read for PipeReader {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        while self.current.is_empty() {
            match self.rx.blocking_recv() {
                Some(Ok(chunk)) => self.current = chunk,
                Some(Err(e)) => return Err(io::Error::new(io::ErrorKind::UnexpectedEof, e)),
                None => return Ok(0),
            }
        }
        let n = out.len().min(self.current.len());
        out[..n].copy_from_slice(&self.current.split_to(n));
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Read, Write};

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn bytes_cross_both_ways_whole() {
        let data: Vec<u8> = (0..300_000u32).map(|i| (i % 251) as u8).collect();
        let (mut reader, feed) = upload(Body::from(data.clone()));
        let read = tokio::task::spawn_blocking(move || {
            let mut got = Vec::new();
            reader.read_to_end(&mut got).unwrap();
            got
        })
        .await
        .unwrap();
        feed.await.unwrap();
        assert_eq!(read, data);

        let (mut writer, mut rx) = download();
        let sent = data.clone();
        let task = tokio::task::spawn_blocking(move || {
            writer.write_all(&sent).unwrap();
            writer.finish().unwrap();
        });
        let mut got = Vec::new();
        while let Some(chunk) = rx.recv().await {
            got.extend_from_slice(&chunk);
        }
        task.await.unwrap();
        assert_eq!(got, data);
    }
}
