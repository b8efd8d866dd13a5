//! Copies a layer blob into the store and computes its digest on a second thread, while
//! the first thread reads the same bytes from the same file to unpack them: neither the
//! copy nor the sha256 sits on the unpacking thread's path. The file must not change
//! between the two reads (checked by size, mtime and ctime).

use std::fs::File;
use std::io::Write;
use std::os::unix::fs::FileExt;

use sha2::{Digest as _, Sha256};

use crate::digest::Digest;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;

/// Copied per call, so a cancelled copy stops soon.
const CHUNK: u64 = 1 << 20;

use super::TempPath;
use crate::error::{ImageError, Result};
use crate::formats::FileRange;

/// Joins its thread when dropped too, so a failed import never leaves the copy (or the
/// temp file it is writing) behind.
pub(crate) struct BlobCopy {
    handle: Option<JoinHandle<Result<(TempPath, Digest, u64)>>>,
    before: Stamp,
    path: std::path::PathBuf,
    cancel: Arc<AtomicBool>,
    len: u64,
}

/// What tells us the source file was not changed while we read it twice.
#[derive(PartialEq, Eq, Debug)]
struct Stamp(u64, i64, i64, i64, i64);

fn stamp(file: &File, path: &std::path::Path) -> Result<Stamp> {
    let st = rustix::fs::fstat(file).map_err(|e| ImageError::io(path, e.into()))?;
    Ok(Stamp(
        st.st_size as u64,
        st.st_mtime,
        st.st_mtime_nsec as i64,
        st.st_ctime,
        st.st_ctime_nsec as i64,
    ))
}

impl BlobCopy {
    pub fn start(range: FileRange, temp: TempPath) -> Result<BlobCopy> {
        let before = stamp(&range.file, &range.path)?;
        let path = range.path.clone();
        let len = range.len;
        let cancel = Arc::new(AtomicBool::new(false));
        let cancelled = cancel.clone();
        let handle = std::thread::spawn(move || {
            let mut out = File::create(temp.path()).map_err(|e| ImageError::io(temp.path(), e))?;
            let mut hasher = Sha256::new();
            let mut buf = vec![0u8; CHUNK as usize];
            let mut offset = range.offset;
            let end = range.offset + range.len;
            while offset < end && !cancelled.load(Ordering::Relaxed) {
                let want = (end - offset).min(CHUNK) as usize;
                let n = range
                    .file
                    .read_at(&mut buf[..want], offset)
                    .map_err(|e| ImageError::io(&range.path, e))?;
                if n == 0 {
                    break;
                }
                hasher.update(&buf[..n]);
                out.write_all(&buf[..n])
                    .map_err(|e| ImageError::io(temp.path(), e))?;
                offset += n as u64;
            }
            let digest = Digest::parse(&format!("sha256:{}", hex::encode(hasher.finalize())))
                .expect("valid digest");
            Ok((temp, digest, offset - range.offset))
        });
        Ok(BlobCopy {
            handle: Some(handle),
            before,
            path,
            cancel,
            len,
        })
    }

    /// Waits for the copy: the blob, its digest and size.
    pub fn finish(mut self) -> Result<(TempPath, Digest, u64)> {
        let handle = self.handle.take().expect("finished once");
        let (temp, digest, copied) = handle.join().map_err(|_| {
            ImageError::io(
                &self.path,
                std::io::Error::other("blob copy thread panicked"),
            )
        })??;
        let file = File::open(&self.path).map_err(|e| ImageError::io(&self.path, e))?;
        if copied != self.len || stamp(&file, &self.path)? != self.before {
            return Err(ImageError::io(
                &self.path,
                std::io::Error::other("the file changed while it was being imported"),
            ));
        }
        Ok((temp, digest, copied))
    }
}

impl Drop for BlobCopy {
    fn drop(&mut self) {
        if let Some(handle) = self.handle.take() {
            self.cancel.store(true, Ordering::Relaxed);
            // The temp file, if made, is removed when the returned TempPath drops.
            let _ = handle.join();
        }
    }
}
