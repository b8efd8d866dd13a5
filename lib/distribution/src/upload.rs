//! Sending one blob to the upload location a `POST …/blobs/uploads/` gave: one monolithic
//! `PUT ?digest=` for a small blob; for a large one, or when the registry asks for chunks
//! (`OCI-Chunk-Min-Length`), `PATCH`es with `Content-Range` (each chunk read from the
//! blob file at its offset, never buffered whole), then an empty `PUT ?digest=`. A chunk
//! that fails (the connection broke, a 5xx, a 416) is resumed: `GET` of the location tells
//! what the registry holds (`Range: 0-N`), and the upload goes on from byte N+1.

use berth_image::Digest;
use ureq::http::{Method, Response};
use ureq::Body;

use crate::client::{Payload, Registry};
use crate::error::{DistributionError, Result};
use crate::progress::{Event, Progress, Step};

/// A blob larger than this goes up in chunks: a broken connection then costs one chunk,
/// not the whole blob.
pub const CHUNKED_ABOVE: u64 = 32 << 20;
/// The chunk size, unless the registry asks for larger ones.
pub const CHUNK: u64 = 16 << 20;
/// Resumptions of one chunked upload before the push fails.
const MAX_RESUMES: u32 = 3;

/// Where an upload goes and what it sends.
pub struct Upload<'a> {
    pub registry: &'a Registry,
    pub scope: &'a str,
    pub blob: &'a Digest,
    pub path: &'a std::path::Path,
    pub progress: &'a dyn Progress,
}

impl Upload<'_> {
    /// Sends the blob to `location`, the answer to the upload's POST.
    pub fn send(&self, started: &Response<Body>, location: &str) -> Result<()> {
        let size = std::fs::metadata(self.path)
            .map_err(|e| self.protocol(format!("{}: {e}", self.path.display())))?
            .len();
        let asked = started
            .headers()
            .get("oci-chunk-min-length")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok())
            .filter(|n| *n > 0);
        if asked.is_none() && size <= CHUNKED_ABOVE {
            let url = with_digest(&self.registry.resolve(location), self.blob);
            let response = self.registry.request_to(
                Method::PUT,
                &url,
                self.scope,
                &[("Content-Type", "application/octet-stream")],
                &Payload::File(self.path),
            )?;
            return self.expect(response, 201, "upload");
        }
        let chunk = asked.unwrap_or(0).max(CHUNK);
        let location = self.chunks(location.to_string(), size, chunk)?;
        let url = with_digest(&self.registry.resolve(&location), self.blob);
        let response =
            self.registry
                .request_to(Method::PUT, &url, self.scope, &[], &Payload::Bytes(&[]))?;
        self.expect(response, 201, "the closing PUT of the chunked upload")
    }

    /// Every chunk from byte 0; the location to close the upload at.
    fn chunks(&self, mut location: String, size: u64, chunk: u64) -> Result<String> {
        let mut offset = 0;
        let mut resumes = 0;
        while offset < size {
            let len = chunk.min(size - offset);
            match self.patch(&location, offset, len) {
                Ok(next) => {
                    location = next;
                    offset += len;
                    let step = Step::Pushing {
                        current: offset,
                        total: size,
                    };
                    self.progress.event(Event::Blob(self.blob, step));
                }
                Err(e) if resumes < MAX_RESUMES && retryable(&e) => {
                    resumes += 1;
                    tracing::info!(blob = %self.blob, at = offset, error = %e, "resuming the upload");
                    (location, offset) = self.status(&location).map_err(|status| {
                        self.protocol(format!(
                            "the upload broke off at byte {offset} of {size} ({e}), \
                             and the registry cannot say what it holds: {status}"
                        ))
                    })?;
                }
                Err(e) => return Err(e),
            }
        }
        Ok(location)
    }

    /// One chunk; the location for the next.
    fn patch(&self, location: &str, offset: u64, len: u64) -> Result<String> {
        let url = self.registry.resolve(location);
        let range = format!("{offset}-{}", offset + len - 1);
        let length = len.to_string();
        let response = self.registry.request_to(
            Method::PATCH,
            &url,
            self.scope,
            &[
                ("Content-Type", "application/octet-stream"),
                ("Content-Range", &range),
                ("Content-Length", &length),
            ],
            &Payload::Part {
                path: self.path,
                offset,
                len,
            },
        )?;
        let status = response.status().as_u16();
        if status != 202 {
            return Err(self.registry.status_error(
                &format!("chunk {range} of blob {}", self.blob),
                status,
                response,
            ));
        }
        Ok(location_of(&response).unwrap_or_else(|| location.to_string()))
    }

    /// What the registry holds of the upload: (location, the next byte it wants).
    fn status(&self, location: &str) -> Result<(String, u64)> {
        let url = self.registry.resolve(location);
        let response =
            self.registry
                .request_to(Method::GET, &url, self.scope, &[], &Payload::Empty)?;
        let status = response.status().as_u16();
        if status != 204 {
            return Err(self.registry.status_error(
                &format!("status of the upload of blob {}", self.blob),
                status,
                response,
            ));
        }
        // `Range: 0-N` holds bytes 0..=N; `0-0` (or none) may also mean nothing yet, and
        // starting over from 0 is right either way for the registries that say it so.
        let next = response
            .headers()
            .get("range")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().strip_prefix("0-"))
            .and_then(|end| end.parse::<u64>().ok())
            .map(|end| end + 1)
            .filter(|next| *next > 1)
            .unwrap_or(0);
        let location = location_of(&response).unwrap_or_else(|| location.to_string());
        Ok((location, next))
    }

    fn expect(&self, response: Response<Body>, want: u16, what: &str) -> Result<()> {
        let status = response.status().as_u16();
        if status == want {
            return Ok(());
        }
        Err(self
            .registry
            .status_error(&format!("{what} of blob {}", self.blob), status, response))
    }

    fn protocol(&self, reason: String) -> DistributionError {
        self.registry
            .protocol(&format!("upload of blob {}", self.blob), reason)
    }
}

pub fn location_of(response: &Response<Body>) -> Option<String> {
    response
        .headers()
        .get("location")
        .and_then(|v| v.to_str().ok())
        .map(String::from)
}

fn with_digest(url: &str, blob: &Digest) -> String {
    let glue = if url.contains('?') { '&' } else { '?' };
    format!("{url}{glue}digest={blob}")
}

/// A failure worth asking the registry where the upload stands: the connection, the
/// server, or a range the registry did not expect.
fn retryable(error: &DistributionError) -> bool {
    match error {
        DistributionError::Unreachable { .. } => true,
        DistributionError::Status { status, .. } => *status >= 500 || *status == 416,
        _ => false,
    }
}
