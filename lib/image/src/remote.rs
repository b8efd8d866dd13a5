//! Bringing an image in from somewhere other than an archive (a registry): the caller
//! fetches and verifies the config and the layers through `Ingest`, and `commit` writes
//! the config, the manifest (byte for byte, so its digest stays the registry's) and the
//! names last, so an image is listed only once every part of it is in the store.

use berth_common::{FileLock, LockMode};

use crate::digest::Digest;
use crate::error::{ImageError, Result};
use crate::formats::LayerSource;
use crate::spec::{ImageConfigFile, Manifest};
use crate::store::{ImageInfo, LayerInput, LayerMeta, Store};

/// An import in progress: holds the store lock shared, so `rm` and `prune` cannot collect
/// layers that are unpacked but not yet part of an image. A failure tidies up on drop.
pub struct Ingest<'a> {
    store: &'a Store,
    lock: Option<FileLock>,
    committed: bool,
}

impl<'a> Ingest<'a> {
    pub fn begin(store: &'a Store) -> Result<Ingest<'a>> {
        Ok(Ingest {
            store,
            lock: Some(store.lock_store(LockMode::Shared)?),
            committed: false,
        })
    }

    /// The layer stacked on `input.parent_chain`, unpacked and its blob stored, `open()`
    /// called only when the store lacks either. Safe to call from several threads.
    pub fn layer(
        &self,
        input: &LayerInput<'_>,
        open: &mut dyn FnMut() -> Result<LayerSource>,
    ) -> Result<LayerMeta> {
        self.store.ingest_layer(input, open)
    }

    /// [`Ingest::layer`] for a download that may resume: `open(offset)` gives the blob from
    /// byte `offset` on (`Store::ingest_layer_resumable`).
    pub fn layer_resumable(
        &self,
        input: &LayerInput<'_>,
        open: &mut dyn FnMut(u64) -> Result<LayerSource>,
    ) -> Result<LayerMeta> {
        self.store.ingest_layer_resumable(input, open)
    }

    /// Drops the kept part of a download whose content proved wrong.
    pub fn discard_partial(&self, blob: &Digest) {
        self.store.discard_partial(blob)
    }

    /// True when the layer and its blob are both stored: ingesting it reads nothing.
    pub fn has_layer(&self, chain: &Digest, blob: &Digest) -> bool {
        self.store.layer_dir(chain).join("layer.json").is_file() && self.store.has_blob(blob)
    }

    /// Stores the verified config and manifest and names the image. Every layer the config
    /// lists must be in the store already.
    pub fn commit(mut self, config: &[u8], manifest: &[u8], names: &[String]) -> Result<ImageInfo> {
        let shown = names.first().cloned().unwrap_or_default();
        let parsed = ImageConfigFile::parse(config).map_err(|e| ImageError::BadImage {
            image: shown.clone(),
            reason: format!("the config is not a valid image config: {e}"),
        })?;
        let mut parent: Option<Digest> = None;
        for diff_id in parsed.diff_ids() {
            let chain = Digest::chain(parent.as_ref(), &Digest::parse(diff_id)?);
            if !self.store.layer_dir(&chain).join("layer.json").is_file() {
                return Err(ImageError::BadImage {
                    image: shown,
                    reason: format!("layer {diff_id} is not in the store"),
                });
            }
            parent = Some(chain);
        }
        let _: Manifest = serde_json::from_slice(manifest).map_err(|e| ImageError::BadImage {
            image: shown.clone(),
            reason: format!("the manifest is not valid: {e}"),
        })?;
        self.store.put_blob(config)?;
        let digest = self.store.put_blob(manifest)?;
        self.store
            .add_to_index(&digest, manifest.len() as u64, names)?;
        self.committed = true;
        self.store
            .images()?
            .into_iter()
            .find(|i| i.manifest_digest == digest)
            .ok_or_else(|| ImageError::NotFound(digest.to_string()))
    }
}

impl Drop for Ingest<'_> {
    fn drop(&mut self) {
        // The shared lock goes first, or tidying never gets the store to itself.
        drop(self.lock.take());
        if !self.committed {
            self.store.tidy_after_failure();
        }
    }
}
