//! What the store shows: the container record, `inspect` documents and `ls` rows.

use std::path::PathBuf;

use berth_common::{ContainerRecord, ImagePart};
use serde_json::{json, Value};

use crate::digest::Digest;
use crate::error::{ImageError, Result};
use crate::reference::repository_and_tag;
use crate::spec::{to_record, ImageConfigFile};
use crate::store::{ImageInfo, Store};

impl Store {
    /// Unpacked layer directories of an image, lowest first; each must be present.
    pub fn layer_dirs(&self, image: &ImageInfo, config: &ImageConfigFile) -> Result<Vec<PathBuf>> {
        let mut parent: Option<Digest> = None;
        let mut dirs = Vec::new();
        for diff_id in config.diff_ids() {
            let chain = Digest::chain(parent.as_ref(), &Digest::parse(diff_id)?);
            let diff = self.layer_diff(&chain);
            if !diff.is_dir() {
                return Err(ImageError::BadImage {
                    image: image.id.to_string(),
                    reason: format!(
                        "layer {chain} is missing from the store ({})",
                        diff.display()
                    ),
                });
            }
            dirs.push(diff);
            parent = Some(chain);
        }
        Ok(dirs)
    }

    /// The container record that starts a pipeline with this image.
    pub fn record(&self, image: &ImageInfo, asked_as: Option<&str>) -> Result<ContainerRecord> {
        let (_, config) = self.config_of(image)?;
        let layers = self.layer_dirs(image, &config)?;
        let name = asked_as
            .and_then(|a| crate::reference::normalize(a).ok())
            .filter(|n| image.names.contains(n))
            .or_else(|| image.names.first().cloned());
        let part = ImagePart {
            id: image.id.to_string(),
            name,
            manifest: image.manifest_digest.to_string(),
            config: config
                .typed
                .config()
                .as_ref()
                .map(to_record)
                .unwrap_or_default(),
            layers,
        };
        Ok(ContainerRecord::new(
            self.paths().root().to_owned(),
            self.paths().run_dir().to_owned(),
            part,
        ))
    }

    /// Unpacked size: the file content of every layer.
    pub fn image_size(&self, image: &ImageInfo, config: &ImageConfigFile) -> Result<u64> {
        let mut parent: Option<Digest> = None;
        let mut size = 0;
        for diff_id in config.diff_ids() {
            let chain = Digest::chain(parent.as_ref(), &Digest::parse(diff_id)?);
            size += self.layer_meta(&chain).map(|m| m.size).unwrap_or(0);
            parent = Some(chain);
        }
        let _ = image;
        Ok(size)
    }

    /// A document shaped like `docker image inspect`'s, plus berth's own fields.
    pub fn inspect(&self, image: &ImageInfo) -> Result<Value> {
        let (_, config) = self.config_of(image)?;
        let field = |key: &str| {
            config
                .field(key)
                .cloned()
                .unwrap_or(Value::String(String::new()))
        };
        Ok(json!({
            "Id": image.id.as_str(),
            "RepoTags": image.names,
            "RepoDigests": [],
            "Parent": "",
            "Comment": field("comment"),
            "Created": config.created(),
            "DockerVersion": field("docker_version"),
            "Author": field("author"),
            // As the image has it: oci-spec's `Config` drops Docker's `Healthcheck`, `Shell`…
            "Config": config.field("config").cloned().unwrap_or(Value::Null),
            "Architecture": config.typed.architecture().to_string(),
            "Os": config.typed.os().to_string(),
            "Size": self.image_size(image, &config)?,
            "RootFS": { "Type": config.typed.rootfs().typ(), "Layers": config.diff_ids() },
            "Metadata": { "LastTagTime": "0001-01-01T00:00:00Z" },
            "BerthManifest": image.manifest_digest.as_str(),
            "BerthLayers": self.layer_dirs(image, &config)?,
        }))
    }
}

/// One row of `ls` per name (or one `<none>` row for an unnamed image).
#[derive(Debug, Clone, serde::Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct ImageRow {
    pub repository: String,
    pub tag: String,
    pub id: String,
    pub created: String,
    pub size: u64,
}

pub fn rows(store: &Store) -> Result<Vec<ImageRow>> {
    let mut rows = Vec::new();
    for image in store.images()? {
        let (_, config) = store.config_of(&image)?;
        let size = store.image_size(&image, &config)?;
        let created = config.created();
        let names: Vec<(String, String)> = if image.names.is_empty() {
            vec![("<none>".into(), "<none>".into())]
        } else {
            image
                .names
                .iter()
                .map(|n| repository_and_tag(n))
                .map(|(r, t)| (r.to_string(), t.to_string()))
                .collect()
        };
        for (repository, tag) in names {
            rows.push(ImageRow {
                repository,
                tag,
                id: image.id.to_string(),
                created: created.clone(),
                size,
            });
        }
    }
    Ok(rows)
}
