//! Blob downloads as a `Read`: the response body itself, so the store hashes, decompresses
//! and unpacks it as it arrives. A connection that drops mid-blob is picked up again with
//! a Range request from the last byte received; the stream never yields more than the
//! size the manifest promised.

use std::io::{self, Read};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use berth_image::Digest;
use ureq::http::Method;

use crate::client::Registry;
use crate::error::{DistributionError, Result};

/// Reconnections allowed for one blob before the pull fails.
const MAX_RESUMES: u32 = 3;

pub struct BlobStream {
    registry: Registry,
    repository: String,
    digest: Digest,
    size: u64,
    done: u64,
    body: Option<ureq::BodyReader<'static>>,
    resumes: u32,
    /// Set when the download broke off for good: what arrived is worth keeping.
    broke_off: Arc<AtomicBool>,
}

impl BlobStream {
    pub fn open(
        registry: &Registry,
        repository: &str,
        digest: &Digest,
        size: u64,
    ) -> Result<BlobStream> {
        Self::open_at(registry, repository, (digest, size), 0, Arc::default())
    }

    /// The blob from byte `offset` on (the rest of a kept download); `broke_off` is set if
    /// the download breaks off for good, here or later.
    pub fn open_at(
        registry: &Registry,
        repository: &str,
        (digest, size): (&Digest, u64),
        offset: u64,
        broke_off: Arc<AtomicBool>,
    ) -> Result<BlobStream> {
        let mut stream = BlobStream {
            registry: registry.clone(),
            repository: repository.to_string(),
            digest: digest.clone(),
            size,
            done: offset.min(size),
            body: None,
            resumes: 0,
            broke_off,
        };
        if stream.done == size {
            return Ok(stream);
        }
        match stream.connect() {
            Ok(body) => stream.body = Some(body),
            Err(e) => {
                stream.broke_off.store(true, Ordering::SeqCst);
                return Err(e);
            }
        }
        Ok(stream)
    }

    /// GET the blob from `self.done` on.
    fn connect(&self) -> Result<ureq::BodyReader<'static>> {
        let range = format!("bytes={}-", self.done);
        let mut headers = vec![];
        if self.done > 0 {
            headers.push(("Range", range.as_str()));
        }
        let response = self.registry.request(
            Method::GET,
            &format!("{}/blobs/{}", self.repository, self.digest),
            &format!("repository:{}:pull", self.repository),
            &headers,
        )?;
        let status = response.status().as_u16();
        match status {
            200 | 206 => {}
            404 => {
                return Err(DistributionError::BlobNotFound {
                    registry: self.registry.name().to_string(),
                    repository: self.repository.clone(),
                    digest: self.digest.to_string(),
                })
            }
            _ => {
                return Err(self.registry.status_error(
                    &format!("blob {}", self.digest),
                    status,
                    response,
                ))
            }
        }
        let mut reader = response.into_body().into_reader();
        if self.done > 0 && status == 200 {
            // The server ignored the Range: skip what was already received.
            let what = format!("blob {}", self.digest);
            let skipped = io::copy(&mut (&mut reader).take(self.done), &mut io::sink())
                .map_err(|e| self.registry.protocol(&what, e.to_string()))?;
            if skipped != self.done {
                let reason = format!(
                    "the body ended after {skipped} bytes, before byte {}",
                    self.done
                );
                return Err(self.registry.protocol(&what, reason));
            }
        }
        Ok(reader)
    }

    fn resume(&mut self, cause: io::Error) -> io::Result<()> {
        self.body = None;
        self.resumes += 1;
        if self.resumes > MAX_RESUMES {
            self.broke_off.store(true, Ordering::SeqCst);
            return Err(io::Error::new(
                cause.kind(),
                format!(
                    "blob {} from registry {}: the download broke off after {} of {} bytes: {cause}",
                    self.digest,
                    self.registry.name(),
                    self.done,
                    self.size
                ),
            ));
        }
        tracing::info!(blob = %self.digest, at = self.done, error = %cause, "resuming the download");
        std::thread::sleep(Duration::from_millis(200 * u64::from(self.resumes)));
        match self.connect() {
            Ok(body) => {
                self.body = Some(body);
                Ok(())
            }
            Err(e) => Err({
                self.broke_off.store(true, Ordering::SeqCst);
                io::Error::other(format!(
                "blob {} from registry {}: the download broke off after {} of {} bytes ({cause}), and resuming failed: {e}",
                self.digest,
                self.registry.name(),
                self.done,
                self.size
            ))
            }),
        }
    }
}

impl Read for BlobStream {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        loop {
            let remaining = self.size - self.done;
            if remaining == 0 || buf.is_empty() {
                return Ok(0);
            }
            let Some(body) = self.body.as_mut() else {
                return Err(io::Error::other("blob stream used after a failed resume"));
            };
            let want = buf
                .len()
                .min(usize::try_from(remaining).unwrap_or(usize::MAX));
            match body.read(&mut buf[..want]) {
                Ok(0) => self.resume(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    "connection closed",
                ))?,
                Ok(n) => {
                    self.done += n as u64;
                    return Ok(n);
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => self.resume(e)?,
            }
        }
    }
}
