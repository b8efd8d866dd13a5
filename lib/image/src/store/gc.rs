//! Garbage collection: removes blobs, layers and leftovers no image in the index uses.
//! Runs with the store lock held exclusively, so no import is half-way through.

use std::collections::HashSet;

use berth_common::LockMode;

use super::Store;
use crate::digest::Digest;
use crate::error::{ImageError, Result};

#[derive(Debug, Default)]
pub struct GcReport {
    pub blobs: Vec<String>,
    pub layers: Vec<String>,
    pub bytes: u64,
}

impl Store {
    /// Removes what no image uses. The caller must hold the store lock exclusively.
    pub(crate) fn collect_garbage(&self) -> Result<GcReport> {
        let mut blobs_in_use: HashSet<String> = HashSet::new();
        let mut chains_in_use: HashSet<String> = HashSet::new();
        for image in self.images()? {
            blobs_in_use.insert(image.manifest_digest.hex().to_string());
            blobs_in_use.insert(image.id.hex().to_string());
            blobs_in_use.extend(
                image
                    .manifest
                    .layers()
                    .iter()
                    .filter_map(|l| Digest::parse(l.digest().as_ref()).ok())
                    .map(|d| d.hex().to_string()),
            );
            let (_, config) = self.config_of(&image)?;
            let mut parent: Option<Digest> = None;
            for diff_id in config.diff_ids() {
                let chain = Digest::chain(parent.as_ref(), &Digest::parse(diff_id)?);
                chains_in_use.insert(chain.hex().to_string());
                parent = Some(chain);
            }
        }
        // A build's cached steps are images in no index: the cache names them.
        for manifest in self.build_cache_roots() {
            self.keep_unindexed(&manifest, &mut blobs_in_use, &mut chains_in_use);
        }
        // Containers keep their image's layers even after the image is untagged and removed.
        for container in self.containers_using_layers() {
            chains_in_use.extend(
                container
                    .layers
                    .iter()
                    .filter_map(|l| chain_of_layer_dir(l)),
            );
        }
        let mut report = GcReport::default();
        for (name, path) in list(&self.paths.blobs())? {
            if !blobs_in_use.contains(&name) {
                report.bytes += std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0);
                std::fs::remove_file(&path).map_err(|e| ImageError::io(&path, e))?;
                report.blobs.push(format!("sha256:{name}"));
            }
        }
        for (name, path) in list(&self.paths.layers())? {
            // Only chain-ID directories are ours; berth-rootfs keeps short links in `l/`.
            let is_chain = name.len() == 64 && name.bytes().all(|b| b.is_ascii_hexdigit());
            if is_chain && !chains_in_use.contains(&name) {
                std::fs::remove_dir_all(&path).map_err(|e| ImageError::io(&path, e))?;
                report.layers.push(format!("sha256:{name}"));
            }
        }
        self.remove_stale_locks(&chains_in_use)?;
        for (_, path) in list(&self.tmp())? {
            let result = if path.is_dir() {
                std::fs::remove_dir_all(&path)
            } else {
                std::fs::remove_file(&path)
            };
            result.map_err(|e| ImageError::io(&path, e))?;
        }
        Ok(report)
    }

    fn remove_stale_locks(&self, chains_in_use: &HashSet<String>) -> Result<()> {
        for (name, path) in list(&self.paths.locks())? {
            let chain = name
                .strip_prefix("layer-")
                .and_then(|n| n.strip_suffix(".lock"));
            if chain.is_some_and(|c| !chains_in_use.contains(c)) {
                std::fs::remove_file(&path).map_err(|e| ImageError::io(&path, e))?;
            }
        }
        Ok(())
    }

    /// After a failed import: if no other process is using the store right now, remove
    /// what the import left (layers of the failed image that no image uses, lock files,
    /// temp data), so a failure leaves nothing behind. Otherwise the next `rm` or `prune`
    /// collects it.
    pub(crate) fn tidy_after_failure(&self) {
        let path = self.paths.locks().join("store.lock");
        let Ok(file) = std::fs::OpenOptions::new().write(true).open(&path) else {
            return;
        };
        if rustix::fs::flock(&file, rustix::fs::FlockOperation::NonBlockingLockExclusive).is_err() {
            return;
        }
        if let Err(e) = self.collect_garbage() {
            tracing::warn!(error = %e, "cannot clean up after a failed import");
        }
        drop(file);
    }

    /// Untags and removes images; with `names`, only those names of the image go, and the
    /// image itself only when no name is left.
    pub fn remove_image(
        &self,
        image: &crate::store::ImageInfo,
        names: Option<&[String]>,
    ) -> Result<(Vec<String>, GcReport)> {
        let _store = self.lock_store(LockMode::Exclusive)?;
        let last_name = names.is_none_or(|n| n.len() >= image.names.len());
        if last_name {
            if let Some(user) = self
                .containers_using_layers()
                .into_iter()
                .find(|c| c.image == image.id.as_str())
            {
                return Err(ImageError::UsedByContainer {
                    image: image.id.to_string(),
                    container: user.id(),
                });
            }
        }
        let untagged = self.untag(image, names)?;
        let report = self.collect_garbage()?;
        Ok((untagged, report))
    }

    /// Removes images that have no name, and everything only they used.
    pub fn prune(&self) -> Result<(Vec<Digest>, GcReport)> {
        let _store = self.lock_store(LockMode::Exclusive)?;
        let dangling: Vec<_> = self
            .images()?
            .into_iter()
            .filter(|i| i.names.is_empty())
            .collect();
        for image in &dangling {
            self.untag(image, None)?;
        }
        let report = self.collect_garbage()?;
        self.discard_downloads();
        Ok((dangling.into_iter().map(|i| i.id).collect(), report))
    }
}

/// What image GC needs of a container's state file (`containers/<id>/rootfs.json`,
/// written by berth-rootfs): its image and the layer directories its overlay uses.
#[derive(Debug, serde::Deserialize)]
pub struct ContainerUse {
    #[serde(default)]
    pub container: serde_json::Value,
    #[serde(default)]
    pub image: String,
    #[serde(default)]
    pub layers: Vec<std::path::PathBuf>,
}

impl ContainerUse {
    pub fn id(&self) -> String {
        self.container
            .get("id")
            .and_then(|v| v.as_str())
            .unwrap_or_default()
            .to_string()
    }
}

/// `layers/<chain>/diff` → `<chain>`.
fn chain_of_layer_dir(dir: &std::path::Path) -> Option<String> {
    dir.parent()?
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
}

impl Store {
    /// Every container that exists in this root, as far as image GC is concerned.
    pub fn containers_using_layers(&self) -> Vec<ContainerUse> {
        let Ok(entries) = std::fs::read_dir(self.paths.containers()) else {
            return Vec::new();
        };
        entries
            .flatten()
            .filter_map(|e| std::fs::read(e.path().join("rootfs.json")).ok())
            .filter_map(|data| serde_json::from_slice(&data).ok())
            .collect()
    }
}

fn list(dir: &std::path::Path) -> Result<Vec<(String, std::path::PathBuf)>> {
    let entries = std::fs::read_dir(dir).map_err(|e| ImageError::io(dir, e))?;
    let mut out = Vec::new();
    for entry in entries {
        let entry = entry.map_err(|e| ImageError::io(dir, e))?;
        out.push((
            entry.file_name().to_string_lossy().into_owned(),
            entry.path(),
        ));
    }
    Ok(out)
}

impl Store {
    /// What a build cache keeps (`<root>/build-cache/roots/<manifest hex>`): the manifests
    /// of its steps' images.
    pub fn build_cache_roots(&self) -> Vec<Digest> {
        let dir = self.build_cache_dir().join("roots");
        let Ok(entries) = std::fs::read_dir(dir) else {
            return Vec::new();
        };
        entries
            .flatten()
            .filter_map(|e| {
                Digest::parse(&format!("sha256:{}", e.file_name().to_string_lossy())).ok()
            })
            .collect()
    }

    /// Marks an unindexed image's manifest, config, layer blobs and chains as in use;
    /// one whose manifest is gone or broken keeps nothing.
    fn keep_unindexed(
        &self,
        manifest: &Digest,
        blobs: &mut HashSet<String>,
        chains: &mut HashSet<String>,
    ) {
        let Ok(data) = self.read_blob(manifest) else {
            return;
        };
        let Ok(parsed) = serde_json::from_slice::<crate::spec::Manifest>(&data) else {
            return;
        };
        let Ok(config_digest) = Digest::parse(parsed.config().digest().as_ref()) else {
            return;
        };
        let Ok(config) = self
            .read_blob(&config_digest)
            .map_err(|_| ())
            .and_then(|c| crate::spec::ImageConfigFile::parse(&c).map_err(|_| ()))
        else {
            return;
        };
        blobs.insert(manifest.hex().to_string());
        blobs.insert(config_digest.hex().to_string());
        for layer in parsed.layers() {
            if let Ok(d) = Digest::parse(layer.digest().as_ref()) {
                blobs.insert(d.hex().to_string());
            }
        }
        let mut parent: Option<Digest> = None;
        for diff_id in config.diff_ids() {
            let Ok(diff) = Digest::parse(diff_id) else {
                return;
            };
            let chain = Digest::chain(parent.as_ref(), &diff);
            chains.insert(chain.hex().to_string());
            parent = Some(chain);
        }
    }
}

impl Store {
    /// Removes what no image, container or build cache uses (after the build cache
    /// forgot its steps: `docker builder prune`).
    pub fn collect_unused(&self) -> Result<GcReport> {
        let _store = self.lock_store(LockMode::Exclusive)?;
        self.collect_garbage()
    }
}

impl Store {
    /// `<root>/build-cache/`: the builder's steps, the roots they keep here, cache mounts.
    pub fn build_cache_dir(&self) -> std::path::PathBuf {
        self.paths.root().join("build-cache")
    }

    /// Forgets the build cache (its steps and cache mounts; how many entries went): what
    /// only it kept goes with the next garbage collection.
    pub fn forget_build_cache(&self) -> Result<(u64, u64)> {
        let dir = self.build_cache_dir();
        let steps = clear_dir(&dir.join("steps"))?;
        clear_dir(&dir.join("roots"))?;
        let mounts = clear_dir(&dir.join("mounts"))?;
        Ok((steps, mounts))
    }
}

fn clear_dir(dir: &std::path::Path) -> Result<u64> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Ok(0);
    };
    let mut count = 0;
    for entry in entries.flatten() {
        let path = entry.path();
        let result = match std::fs::symlink_metadata(&path) {
            Ok(m) if m.is_dir() => std::fs::remove_dir_all(&path),
            _ => std::fs::remove_file(&path),
        };
        result.map_err(|e| ImageError::io(&path, e))?;
        count += 1;
    }
    Ok(count)
}
