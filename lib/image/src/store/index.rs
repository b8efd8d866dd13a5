//! `index.json`: which manifests the store holds and by which names. An image with no name
//! left stays listed without one (dangling) until `rm` or `prune`.

use std::collections::HashMap;

use berth_common::LockMode;

use super::Store;
use crate::digest::Digest;
use crate::error::{ImageError, Result};
use crate::reference;
use crate::spec::{
    annotation, descriptor, Descriptor, ImageConfigFile, Index, Manifest, ANNOTATION_REF_NAME,
    MEDIA_OCI_MANIFEST,
};

/// One image in the store.
#[derive(Debug, Clone)]
pub struct ImageInfo {
    /// The image ID: digest of its config.
    pub id: Digest,
    pub manifest_digest: Digest,
    pub manifest: Manifest,
    /// Normalised `name:tag`s, sorted.
    pub names: Vec<String>,
}

impl Store {
    fn index_path(&self) -> std::path::PathBuf {
        self.paths.image_layout().join("index.json")
    }

    pub fn read_index(&self) -> Result<Index> {
        let path = self.index_path();
        match std::fs::read(&path) {
            Ok(data) => serde_json::from_slice(&data).map_err(|e| ImageError::BadImage {
                image: path.display().to_string(),
                reason: format!("the store index is not valid JSON: {e}"),
            }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Index::default()),
            Err(e) => Err(ImageError::io(path, e)),
        }
    }

    /// Read-modify-write of the index under its lock.
    pub(crate) fn update_index<T>(
        &self,
        change: impl FnOnce(&mut Index) -> Result<T>,
    ) -> Result<T> {
        let _lock = self.lock("index.lock", LockMode::Exclusive)?;
        let mut index = self.read_index()?;
        let out = change(&mut index)?;
        let data = serde_json::to_vec_pretty(&index).expect("index serialises");
        self.write_atomic(&self.index_path(), &data)?;
        Ok(out)
    }

    /// Records a manifest under `names`, moving each name off any other image. An image
    /// left without a name stays as a dangling entry.
    pub(crate) fn add_to_index(
        &self,
        manifest: &Digest,
        size: u64,
        names: &[String],
    ) -> Result<()> {
        self.update_index(|index| {
            let mut dangling_before: Vec<Descriptor> = Vec::new();
            index.edit_manifests(|manifests| {
                manifests.retain(|d| {
                    let name = annotation(d, ANNOTATION_REF_NAME);
                    let moved = name.is_some_and(|n| names.contains(n));
                    let same_unnamed = name.is_none() && is_manifest(d, manifest);
                    if moved && !is_manifest(d, manifest) {
                        dangling_before.push(d.clone());
                    }
                    !moved && !same_unnamed
                })
            });
            for old in dangling_before {
                let still_named = index.manifests().iter().any(|d| d.digest() == old.digest());
                if !still_named {
                    let mut unnamed = old;
                    let mut annotations = unnamed.annotations().clone().unwrap_or_default();
                    annotations.remove(ANNOTATION_REF_NAME);
                    unnamed.set_annotations(Some(annotations).filter(|a| !a.is_empty()));
                    index.edit_manifests(|m| m.push(unnamed));
                }
            }
            let descriptor = |name: Option<&String>| {
                let mut d = descriptor(MEDIA_OCI_MANIFEST, manifest, size);
                d.set_annotations(
                    name.map(|n| HashMap::from([(ANNOTATION_REF_NAME.to_string(), n.clone())])),
                );
                d
            };
            if names.is_empty() {
                if !index.manifests().iter().any(|d| is_manifest(d, manifest)) {
                    index.edit_manifests(|m| m.push(descriptor(None)));
                }
            } else {
                index.edit_manifests(|m| m.extend(names.iter().map(|n| descriptor(Some(n)))));
            }
            Ok(())
        })
    }

    /// Every image, grouped by manifest, in index order.
    pub fn images(&self) -> Result<Vec<ImageInfo>> {
        let index = self.read_index()?;
        let mut images: Vec<ImageInfo> = Vec::new();
        for descriptor in index.manifests() {
            let digest = Digest::parse(descriptor.digest().as_ref())?;
            let name = annotation(descriptor, ANNOTATION_REF_NAME).cloned();
            if let Some(image) = images.iter_mut().find(|i| i.manifest_digest == digest) {
                image.names.extend(name);
                continue;
            }
            let manifest: Manifest =
                serde_json::from_slice(&self.read_blob(&digest)?).map_err(|e| {
                    ImageError::BadImage {
                        image: digest.to_string(),
                        reason: format!("stored manifest is not valid: {e}"),
                    }
                })?;
            images.push(ImageInfo {
                id: Digest::parse(manifest.config().digest().as_ref())?,
                manifest_digest: digest,
                manifest,
                names: Vec::from_iter(name),
            });
        }
        for image in &mut images {
            image.names.sort();
            image.names.dedup();
        }
        Ok(images)
    }

    /// Finds an image by name, full ID or unambiguous ID prefix (as Docker does).
    pub fn resolve(&self, reference: &str) -> Result<ImageInfo> {
        let images = self.images()?;
        if let Ok(name) = reference::normalize(reference) {
            if let Some(image) = images.iter().find(|i| i.names.contains(&name)) {
                return Ok(image.clone());
            }
        }
        let hex = reference.strip_prefix("sha256:").unwrap_or(reference);
        let is_hex = hex.len() >= 4 && hex.bytes().all(|b| b.is_ascii_hexdigit());
        if is_hex {
            let hex = hex.to_ascii_lowercase();
            let matches: Vec<&ImageInfo> = images
                .iter()
                .filter(|i| i.id.hex().starts_with(&hex))
                .collect();
            let mut ids: Vec<&Digest> = matches.iter().map(|i| &i.id).collect();
            ids.dedup();
            match ids.len() {
                0 => {}
                1 => return Ok(matches[0].clone()),
                count => {
                    return Err(ImageError::Ambiguous {
                        reference: reference.to_string(),
                        count,
                    })
                }
            }
        }
        Err(ImageError::NotFound(reference.to_string()))
    }

    pub fn config_of(&self, image: &ImageInfo) -> Result<(Vec<u8>, ImageConfigFile)> {
        let data = self.read_blob(&image.id)?;
        let config = ImageConfigFile::parse(&data).map_err(|e| ImageError::BadImage {
            image: image.id.to_string(),
            reason: format!("stored config is not valid: {e}"),
        })?;
        Ok((data, config))
    }

    /// Adds `name` to an image.
    pub fn tag(&self, image: &ImageInfo, name: &str) -> Result<String> {
        let name = reference::normalize(name)?;
        let _store = self.lock_store(LockMode::Shared)?;
        self.add_to_index(
            &image.manifest_digest,
            image_manifest_size(self, image)?,
            std::slice::from_ref(&name),
        )?;
        Ok(name)
    }

    /// Removes names (all of an image's names when `names` is None); returns those removed.
    pub(crate) fn untag(&self, image: &ImageInfo, names: Option<&[String]>) -> Result<Vec<String>> {
        self.update_index(|index| {
            let mut removed = Vec::new();
            index.edit_manifests(|manifests| {
                manifests.retain(|d| {
                    if !is_manifest(d, &image.manifest_digest) {
                        return true;
                    }
                    let name = annotation(d, ANNOTATION_REF_NAME);
                    let hit = match (names, name) {
                        (None, _) => true,
                        (Some(wanted), Some(n)) => wanted.contains(n),
                        (Some(_), None) => false,
                    };
                    if hit {
                        removed.extend(name.cloned());
                    }
                    !hit
                })
            });
            Ok(removed)
        })
    }
}

fn is_manifest(descriptor: &Descriptor, manifest: &Digest) -> bool {
    descriptor.digest().as_ref() == manifest.as_str()
}

fn image_manifest_size(store: &Store, image: &ImageInfo) -> Result<u64> {
    let path = store.blob_path(&image.manifest_digest);
    Ok(std::fs::metadata(&path)
        .map_err(|e| ImageError::io(&path, e))?
        .len())
}
