//! The build cache under `<root>/build-cache/`: `steps/<key>` holds the manifest digest of
//! the image a step made, `roots/<manifest>` tells the store's garbage collection to keep
//! that image (it is in no index), `mounts/<id>` are the `RUN --mount=type=cache` dirs.
//! A step's key is the hash of its parent, its instruction as expanded, the build args
//! and environment it sees and the content hash of what it copies.

use std::path::PathBuf;

use berth_image::commit::image_by_manifest;
use berth_image::store::ImageInfo;
use berth_image::{Digest, Store};
use sha2::{Digest as _, Sha256};

use crate::error::{BuildError, Result};

pub struct Cache {
    dir: PathBuf,
}

/// What `prune` removed.
#[derive(Debug, Default, Clone, Copy)]
pub struct PruneReport {
    pub steps: u64,
    pub mounts: u64,
}

impl Cache {
    pub fn open(store: &Store) -> Result<Cache> {
        let dir = store.build_cache_dir();
        for sub in ["steps", "roots", "mounts"] {
            let path = dir.join(sub);
            std::fs::create_dir_all(&path).map_err(|e| BuildError::io(&path, e))?;
        }
        Ok(Cache { dir })
    }

    /// The key of a step from its parts, in order.
    pub fn key(parts: &[&str]) -> String {
        let mut hasher = Sha256::new();
        for part in parts {
            hasher.update(part.len().to_le_bytes());
            hasher.update(part.as_bytes());
        }
        hex::encode(hasher.finalize())
    }

    /// The image a step with this key made, if it is still whole in the store.
    pub fn get(&self, store: &Store, key: &str) -> Option<ImageInfo> {
        let text = std::fs::read_to_string(self.dir.join("steps").join(key)).ok()?;
        let manifest = Digest::parse(text.trim()).ok()?;
        let image = image_by_manifest(store, &manifest).ok()?;
        let (_, config) = store.config_of(&image).ok()?;
        // Its layers may have been collected while the cache entry stayed.
        store.layer_dirs(&image, &config).ok()?;
        Some(image)
    }

    pub fn put(&self, key: &str, image: &ImageInfo) -> Result<()> {
        let root = self.dir.join("roots").join(image.manifest_digest.hex());
        std::fs::write(&root, b"").map_err(|e| BuildError::io(&root, e))?;
        let step = self.dir.join("steps").join(key);
        let temp = self.dir.join("steps").join(format!(".{key}.tmp"));
        std::fs::write(&temp, image.manifest_digest.as_str())
            .map_err(|e| BuildError::io(&temp, e))?;
        std::fs::rename(&temp, &step).map_err(|e| BuildError::io(&step, e))
    }

    /// The directory of a `--mount=type=cache` with this id, made on first use.
    pub fn mount_dir(&self, id: &str) -> Result<PathBuf> {
        let path = self.dir.join("mounts").join(Cache::key(&[id]));
        std::fs::create_dir_all(&path).map_err(|e| BuildError::io(&path, e))?;
        Ok(path)
    }

    /// Forgets every step and cache mount; the store's next garbage collection removes
    /// the images only the cache kept.
    pub fn prune(&self, store: &Store) -> Result<PruneReport> {
        let (steps, mounts) = store.forget_build_cache()?;
        Ok(PruneReport { steps, mounts })
    }
}
