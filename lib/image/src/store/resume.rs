//! Layer downloads that survive an interrupted pull, under `<root>/downloads/<blob hex>`
//! (outside `tmp/`, which a failed import's tidying empties). The blob file being written
//! is a hard link of the kept part, so the bytes go to disk once: a failure unlinks the temp
//! name and the download keeps what arrived; the next attempt links the kept part back as
//! its blob file, reads it back through the hash, decompressor and unpacker, and appends
//! only what the registry sends from that offset on.

use std::fs::{File, OpenOptions};
use std::io::Read;
use std::path::PathBuf;

use super::{BlobWriter, LayerInput, LayerMeta, Store, TempPath};
use crate::digest::Digest;
use crate::error::{ImageError, Result};
use crate::formats::LayerSource;

impl Store {
    fn downloads(&self) -> PathBuf {
        self.paths.root().join("downloads")
    }

    fn partial_path(&self, blob: &Digest) -> PathBuf {
        self.downloads().join(blob.hex())
    }

    /// Bytes of `blob` kept from an interrupted download.
    pub fn partial_len(&self, blob: &Digest) -> u64 {
        std::fs::metadata(self.partial_path(blob)).map_or(0, |m| m.len())
    }

    /// Drops what was kept of `blob` (its content proved wrong, or it is stored now).
    pub fn discard_partial(&self, blob: &Digest) {
        let path = self.partial_path(blob);
        if let Err(e) = std::fs::remove_file(&path) {
            if e.kind() != std::io::ErrorKind::NotFound {
                tracing::warn!(path = %path.display(), error = %e, "cannot remove a kept download");
            }
        }
    }

    /// Every kept download (`prune`).
    pub(crate) fn discard_downloads(&self) {
        let dir = self.downloads();
        if let Err(e) = std::fs::remove_dir_all(&dir) {
            if e.kind() != std::io::ErrorKind::NotFound {
                tracing::warn!(path = %dir.display(), error = %e, "cannot remove kept downloads");
            }
        }
    }

    /// [`Store::ingest_layer`] for a download: `open(offset)` gives the blob from byte
    /// `offset` on, where the bytes before it are those an earlier attempt kept. What
    /// arrives is kept on failure; the caller discards it when the content was at fault.
    pub fn ingest_layer_resumable(
        &self,
        input: &LayerInput<'_>,
        open: &mut dyn FnMut(u64) -> Result<LayerSource>,
    ) -> Result<LayerMeta> {
        let blob = input
            .expected_blob
            .clone()
            .ok_or_else(|| ImageError::BadImage {
                image: input.image.to_string(),
                reason: "a resumable download needs the blob's digest and size".into(),
            })?;
        // One download of a blob at a time: two layers (different chains) may share a blob,
        // and so its kept part. `prune` removes these locks with the parts (it holds the
        // store lock exclusively, so no download is running then).
        let dir = self.downloads();
        std::fs::create_dir_all(&dir).map_err(|e| ImageError::io(&dir, e))?;
        let lock_path = dir.join(format!("{}.lock", blob.0.hex()));
        let _download =
            berth_common::FileLock::acquire(&lock_path, berth_common::LockMode::Exclusive)?;
        let meta = self.ingest_layer_via(input, &mut || {
            let (writer, kept) = self.resumable_writer(&blob)?;
            let partial = self.partial_path(&blob.0);
            let prefix = File::open(&partial).map_err(|e| ImageError::io(&partial, e))?;
            let rest = open(kept)?;
            let reader: Box<dyn Read> = Box::new(prefix.take(kept).chain(rest.reader));
            Ok((LayerSource::stream(reader), Some(writer)))
        })?;
        self.discard_partial(&blob.0);
        Ok(meta)
    }

    /// The blob file of a download, linked to its kept part, and how many bytes that holds.
    fn resumable_writer(&self, (blob, size): &(Digest, u64)) -> Result<(BlobWriter, u64)> {
        let dir = self.downloads();
        std::fs::create_dir_all(&dir).map_err(|e| ImageError::io(&dir, e))?;
        let partial = self.partial_path(blob);
        // More than the blob's size cannot be a prefix of it: start again.
        if self.partial_len(blob) >= *size {
            self.discard_partial(blob);
        }
        let temp = TempPath::new_file(&self.tmp(), "blob")?;
        let kept = match std::fs::hard_link(&partial, temp.path()) {
            Ok(()) => self.partial_len(blob),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                File::create(temp.path()).map_err(|e| ImageError::io(temp.path(), e))?;
                std::fs::hard_link(temp.path(), &partial)
                    .map_err(|e| ImageError::io(&partial, e))?;
                0
            }
            Err(e) => return Err(ImageError::io(&partial, e)),
        };
        let file = OpenOptions::new()
            .append(true)
            .open(temp.path())
            .map_err(|e| ImageError::io(temp.path(), e))?;
        Ok((BlobWriter::resuming(temp, file, kept), kept))
    }
}
