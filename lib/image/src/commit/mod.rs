//! `docker commit` and a build's steps: a directory (a container's overlay upper dir, or
//! a tree a build step made) becomes a layer in the store, and a child image of a parent
//! gets that layer, its run config and a history entry.
//!
//! The layer is written once, as a gzip blob (`tar`), then brought in through the store's
//! own `ingest_layer`, which unpacks it only when no layer with that chain ID is there
//! yet: the unpacked copy is the one every other layer has, made by the safe unpacker.

mod tar;

use std::io;
use std::path::Path;
use std::time::{Duration, SystemTime};

use berth_common::LockMode;
use serde_json::{json, Value};

pub use self::tar::{write_layer_tar, LayerTarOptions, LayerTarStats};
use crate::digest::{Digest, HashingWriter};
use crate::error::{ImageError, Result};
use crate::formats::LayerSource;
use crate::reference;
use crate::spec::{descriptor, to_sorted_json, Descriptor, MediaType, MEDIA_OCI_CONFIG};
use crate::store::{ImageInfo, LayerInput, LayerMeta, Store};
use crate::unpack::UnpackOptions;

/// What berth makes in every container's root (mount targets for /etc/hosts, /dev, /proc…):
/// never part of a committed layer, as docker's init layer keeps its own out.
pub const CONTAINER_MADE: &[&str] = &[
    "/etc/hosts",
    "/etc/hostname",
    "/etc/resolv.conf",
    "/dev",
    "/proc",
    "/sys",
];

/// A commit: the new layer's tree (none for a step that only changes the config), the
/// parent and what the child's config says.
pub struct CommitRequest<'a> {
    pub layer: Option<&'a Path>,
    pub tar: LayerTarOptions,
    /// None: `FROM scratch`.
    pub parent: Option<&'a ImageInfo>,
    /// The child's run config, as Docker's `config` object (`Healthcheck`, `Shell`,
    /// `OnBuild` included).
    pub config: Value,
    pub created_by: String,
    pub comment: Option<String>,
    pub author: Option<String>,
    /// A fixed creation time (`SOURCE_DATE_EPOCH`); now when None.
    pub created: Option<SystemTime>,
    /// Names to give the new image.
    pub names: Vec<String>,
}

/// The parent a child image is made on: its config document and its layers.
#[derive(Debug, Clone, Default)]
pub struct ParentImage {
    pub config: Option<Value>,
    /// The manifest's layer descriptors, lowest first.
    pub layers: Vec<Descriptor>,
    /// Chain ID of the top layer.
    pub chain: Option<Digest>,
}

impl ParentImage {
    pub fn of(store: &Store, image: Option<&ImageInfo>) -> Result<ParentImage> {
        let Some(image) = image else {
            return Ok(ParentImage::default());
        };
        let (_, config) = store.config_of(image)?;
        let mut chain: Option<Digest> = None;
        for diff_id in config.diff_ids() {
            chain = Some(Digest::chain(chain.as_ref(), &Digest::parse(diff_id)?));
        }
        Ok(ParentImage {
            config: Some(config.document),
            layers: image.manifest.layers().clone(),
            chain,
        })
    }
}

/// A child's new layer and history entry.
pub struct ChildStep<'a> {
    pub layer: Option<&'a LayerMeta>,
    pub config: Value,
    pub created_by: &'a str,
    pub comment: Option<&'a str>,
    pub author: Option<&'a str>,
    pub created: SystemTime,
}

/// Commits `req.layer` onto `req.parent` and adds the child image to the store.
pub fn commit(store: &Store, req: &CommitRequest<'_>) -> Result<ImageInfo> {
    let names = req
        .names
        .iter()
        .map(|n| reference::normalize(n))
        .collect::<Result<Vec<_>>>()?;
    let result = (|| {
        let _store = store.lock_store(LockMode::Shared)?;
        let parent = ParentImage::of(store, req.parent)?;
        let layer = req
            .layer
            .map(|dir| write_layer(store, dir, parent.chain.as_ref(), &req.tar))
            .transpose()?;
        let created = req.created.unwrap_or_else(SystemTime::now);
        let step = ChildStep {
            layer: layer.as_ref(),
            config: req.config.clone(),
            created_by: &req.created_by,
            comment: req.comment.as_deref(),
            author: req.author.as_deref(),
            created,
        };
        let config = child_config(parent.config.as_ref(), &step);
        put_image(
            store,
            &config,
            &child_layers(&parent, layer.as_ref())?,
            &names,
        )
    })();
    if result.is_err() {
        store.tidy_after_failure();
    }
    result
}

/// Writes `dir` as a gzip layer blob and brings it into the store on `parent_chain`.
/// The caller holds the store lock shared.
pub fn write_layer(
    store: &Store,
    dir: &Path,
    parent_chain: Option<&Digest>,
    opts: &LayerTarOptions,
) -> Result<LayerMeta> {
    let blob = store.blob_writer()?;
    let mut gzip = flate2::GzBuilder::new()
        .mtime(0)
        .write(blob, flate2::Compression::fast());
    // The uncompressed tar's digest (the diff ID), taken on its way to the compressor.
    let mut hashing = HashingWriter::new(&mut gzip);
    write_layer_tar(dir, &mut hashing, opts).map_err(|e| ImageError::io(dir, e))?;
    let (diff_id, _) = hashing.finish();
    let blob = gzip.finish().map_err(|e| ImageError::io(dir, e))?;
    let (blob_digest, blob_size) = blob.commit(store)?;
    let blob_path = store.blob_path(&blob_digest);
    let shown = dir.display().to_string();
    let unpack = UnpackOptions::default();
    let input = LayerInput {
        image: &shown,
        diff_id,
        parent_chain: parent_chain.cloned(),
        expected_blob: Some((blob_digest, blob_size)),
        limit: u64::MAX,
        unpack: &unpack,
        progress: &|_| {},
    };
    store.ingest_layer(&input, &mut || {
        let file = std::fs::File::open(&blob_path).map_err(|e| ImageError::io(&blob_path, e))?;
        Ok(LayerSource::stream(Box::new(io::BufReader::new(file))))
    })
}

/// The child's config document: the parent's (what berth does not know of kept), with the
/// step's run config, creation time, author, layer and history entry.
pub fn child_config(parent: Option<&Value>, step: &ChildStep<'_>) -> Value {
    let created = humantime::format_rfc3339_seconds(step.created).to_string();
    let mut config = match parent {
        Some(Value::Object(parent)) => {
            let mut config = parent.clone();
            // What described the parent's own making does not describe the child.
            for key in [
                "container",
                "container_config",
                "docker_version",
                "id",
                "parent",
            ] {
                config.remove(key);
            }
            config
        }
        _ => serde_json::Map::new(),
    };
    config
        .entry("architecture")
        .or_insert_with(|| crate::host_architecture().into());
    config.entry("os").or_insert_with(|| "linux".into());
    config.insert("config".into(), step.config.clone());
    config.insert("created".into(), created.clone().into());
    match step.author {
        Some(author) => config.insert("author".into(), author.into()),
        None => config.remove("author"),
    };
    match step.comment {
        Some(comment) if step.layer.is_some() || !comment.is_empty() => {
            config.insert("comment".into(), comment.into())
        }
        _ => config.remove("comment"),
    };
    let rootfs = config
        .entry("rootfs")
        .or_insert_with(|| json!({"type": "layers", "diff_ids": []}));
    if !rootfs["diff_ids"].is_array() {
        rootfs["diff_ids"] = json!([]);
    }
    if let Some(layer) = step.layer {
        if let Some(ids) = rootfs["diff_ids"].as_array_mut() {
            ids.push(layer.diff_id.clone().into());
        }
    }
    let mut entry = serde_json::Map::new();
    entry.insert("created".into(), created.into());
    entry.insert("created_by".into(), step.created_by.into());
    if let Some(author) = step.author {
        entry.insert("author".into(), author.into());
    }
    if let Some(comment) = step.comment.filter(|c| !c.is_empty()) {
        entry.insert("comment".into(), comment.into());
    }
    if step.layer.is_none() {
        entry.insert("empty_layer".into(), true.into());
    }
    let history = config.entry("history").or_insert_with(|| json!([]));
    if !history.is_array() {
        *history = json!([]);
    }
    if let Some(history) = history.as_array_mut() {
        history.push(Value::Object(entry));
    }
    Value::Object(config)
}

/// The child's layers: the parent's descriptors and the new one.
pub fn child_layers(parent: &ParentImage, layer: Option<&LayerMeta>) -> Result<Vec<Descriptor>> {
    let mut layers = parent.layers.clone();
    if let Some(layer) = layer {
        layers.push(descriptor(
            &layer.media_type,
            &Digest::parse(&layer.blob)?,
            layer.blob_size,
        ));
    }
    Ok(layers)
}

/// Stores an image's config and an OCI manifest over `layers`, named `names` (normalised
/// already): the index entry is written last. The caller holds the store lock shared.
pub fn put_image(
    store: &Store,
    config: &Value,
    layers: &[Descriptor],
    names: &[String],
) -> Result<ImageInfo> {
    let mut image = put_unindexed(store, config, layers)?;
    let size = store.read_blob(&image.manifest_digest)?.len() as u64;
    store.add_to_index(&image.manifest_digest, size, names)?;
    image.names = names.to_vec();
    image.names.sort();
    Ok(image)
}

/// Stores an image's config and manifest without listing it (a build's step, which its
/// cache keeps: [`Store::build_cache_roots`]).
pub fn put_unindexed(store: &Store, config: &Value, layers: &[Descriptor]) -> Result<ImageInfo> {
    let config_bytes = to_sorted_json(config);
    let config_digest = store.put_blob(&config_bytes)?;
    let manifest = oci_spec::image::ImageManifestBuilder::default()
        .schema_version(2u32)
        .media_type(MediaType::ImageManifest)
        .config(descriptor(
            MEDIA_OCI_CONFIG,
            &config_digest,
            config_bytes.len() as u64,
        ))
        .layers(layers.to_vec())
        .build()
        .expect("a manifest with config and layers builds");
    let manifest_bytes = to_sorted_json(&manifest);
    let manifest_digest = store.put_blob(&manifest_bytes)?;
    Ok(ImageInfo {
        id: config_digest,
        manifest_digest,
        manifest,
        names: Vec::new(),
    })
}

/// An image by manifest digest, listed or not.
pub fn image_by_manifest(store: &Store, manifest_digest: &Digest) -> Result<ImageInfo> {
    let data = store.read_blob(manifest_digest)?;
    let manifest: crate::spec::Manifest =
        serde_json::from_slice(&data).map_err(|e| ImageError::BadImage {
            image: manifest_digest.to_string(),
            reason: format!("stored manifest is not valid: {e}"),
        })?;
    Ok(ImageInfo {
        id: Digest::parse(manifest.config().digest().as_ref())?,
        manifest_digest: manifest_digest.clone(),
        manifest,
        names: Vec::new(),
    })
}

/// Lets a caller outside the crate hold the store lock shared while it commits steps.
pub fn lock_shared(store: &Store) -> Result<berth_common::FileLock> {
    store.lock_store(LockMode::Shared)
}

/// `SOURCE_DATE_EPOCH` from the environment, when set to a number.
pub fn source_date_epoch() -> Option<SystemTime> {
    let secs: u64 = std::env::var("SOURCE_DATE_EPOCH")
        .ok()?
        .trim()
        .parse()
        .ok()?;
    Some(SystemTime::UNIX_EPOCH + Duration::from_secs(secs))
}

#[cfg(test)]
mod tests;
