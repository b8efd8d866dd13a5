//! Content-addressed blobs under `images/blobs/sha256/`.

use std::fs::File;
use std::io::{self, Read, Write};
use std::path::PathBuf;

use sha2::{Digest as _, Sha256};

use super::{Store, TempPath};
use crate::digest::Digest;
use crate::error::{ImageError, Result};

impl Store {
    pub fn blob_path(&self, digest: &Digest) -> PathBuf {
        self.paths.blobs().join(digest.hex())
    }

    pub fn has_blob(&self, digest: &Digest) -> bool {
        self.blob_path(digest).is_file()
    }

    /// Reads a small blob (manifest, config) and checks it still has its digest.
    pub fn read_blob(&self, digest: &Digest) -> Result<Vec<u8>> {
        let path = self.blob_path(digest);
        let data = std::fs::read(&path).map_err(|e| ImageError::io(&path, e))?;
        if Digest::of_bytes(&data) != *digest {
            return Err(ImageError::BadImage {
                image: digest.to_string(),
                reason: format!(
                    "blob {} is corrupt: its content no longer has its digest",
                    path.display()
                ),
            });
        }
        Ok(data)
    }

    pub(crate) fn put_blob(&self, data: &[u8]) -> Result<Digest> {
        let digest = Digest::of_bytes(data);
        if !self.has_blob(&digest) {
            self.write_atomic(&self.blob_path(&digest), data)?;
        }
        Ok(digest)
    }

    pub(crate) fn blob_writer(&self) -> Result<BlobWriter> {
        let temp = TempPath::new_file(&self.tmp(), "blob")?;
        let file = File::create(temp.path()).map_err(|e| ImageError::io(temp.path(), e))?;
        Ok(BlobWriter {
            temp,
            file,
            hasher: Sha256::new(),
            size: 0,
            skip: 0,
        })
    }
}

impl BlobWriter {
    /// A writer onto `file` (open for appending at `temp`) whose first `skip` bytes are
    /// there already.
    pub(crate) fn resuming(temp: TempPath, file: File, skip: u64) -> BlobWriter {
        BlobWriter {
            temp,
            file,
            hasher: Sha256::new(),
            size: 0,
            skip,
        }
    }
}

/// A blob being written: hashed as it goes, put in place by `commit` only when complete.
pub struct BlobWriter {
    temp: TempPath,
    file: File,
    hasher: Sha256,
    size: u64,
    /// Bytes at the start already in the file (a resumed download): hashed, not written.
    skip: u64,
}

impl BlobWriter {
    pub fn digest_so_far(&self) -> (Digest, u64) {
        (
            Digest::parse(&format!(
                "sha256:{}",
                hex::encode(self.hasher.clone().finalize())
            ))
            .expect("valid"),
            self.size,
        )
    }

    /// Moves the blob into the store under its digest; a blob already there is kept.
    pub fn commit(self, store: &Store) -> Result<(Digest, u64)> {
        let (digest, size) = self.digest_so_far();
        let dest = store.blob_path(&digest);
        if dest.is_file() {
            return Ok((digest, size));
        }
        self.temp.persist(&dest)?;
        Ok((digest, size))
    }
}

impl Write for BlobWriter {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if self.skip > 0 {
            let n = buf
                .len()
                .min(usize::try_from(self.skip).unwrap_or(usize::MAX));
            self.hasher.update(&buf[..n]);
            self.size += n as u64;
            self.skip -= n as u64;
            return Ok(n);
        }
        let n = self.file.write(buf)?;
        self.hasher.update(&buf[..n]);
        self.size += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.file.flush()
    }
}

/// Copies everything read through it into a blob.
pub(crate) struct TeeReader<R> {
    pub inner: R,
    pub blob: BlobWriter,
}

impl<R: Read> Read for TeeReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.blob.write_all(&buf[..n])?;
        Ok(n)
    }
}
