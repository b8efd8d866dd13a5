//! Copies a layer blob into the store in the kernel (copy_file_range) on a second thread,
//! while the first thread reads the same bytes to hash and unpack them: the blob costs
//! no extra pass in the unpacking thread.

use std::fs::File;
use std::os::fd::AsFd;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;

/// Copied per call, so a cancelled copy stops soon.
const CHUNK: u64 = 16 << 20;

use super::TempPath;
use crate::error::{ImageError, Result};
use crate::formats::FileRange;

/// Joins its thread when dropped too, so a failed import never leaves the copy (or the
/// temp file it is writing) behind.
pub(crate) struct BlobCopy {
    handle: Option<JoinHandle<Result<(TempPath, u64)>>>,
    before: Stamp,
    path: std::path::PathBuf,
    cancel: Arc<AtomicBool>,
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
        let cancel = Arc::new(AtomicBool::new(false));
        let cancelled = cancel.clone();
        let handle = std::thread::spawn(move || {
            let out = File::create(temp.path()).map_err(|e| ImageError::io(temp.path(), e))?;
            let mut offset = range.offset;
            let mut left = range.len;
            while left > 0 && !cancelled.load(Ordering::Relaxed) {
                let chunk = left.min(CHUNK) as usize;
                let n = rustix::fs::copy_file_range(
                    range.file.as_fd(),
                    Some(&mut offset),
                    out.as_fd(),
                    None,
                    chunk,
                )
                .map_err(|e| ImageError::io(&range.path, e.into()))?;
                if n == 0 {
                    break;
                }
                left -= n as u64;
            }
            Ok((temp, range.len - left))
        });
        Ok(BlobCopy {
            handle: Some(handle),
            before,
            path,
            cancel,
        })
    }

    /// Waits for the copy; `hashed` is what the reading thread counted.
    pub fn finish(mut self, hashed: u64) -> Result<TempPath> {
        let handle = self.handle.take().expect("finished once");
        let (temp, copied) = handle.join().map_err(|_| {
            ImageError::io(
                &self.path,
                std::io::Error::other("blob copy thread panicked"),
            )
        })??;
        let file = File::open(&self.path).map_err(|e| ImageError::io(&self.path, e))?;
        if copied != hashed || stamp(&file, &self.path)? != self.before {
            return Err(ImageError::io(
                &self.path,
                std::io::Error::other("the file changed while it was being imported"),
            ));
        }
        Ok(temp)
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
