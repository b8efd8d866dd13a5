//! Bringing images into the store: `load` of archives and layouts, `import` of a plain
//! rootfs tarball. Layers are verified and unpacked first; the config, the manifest and
//! the names are written last, so an image is listed only once it is whole. A failure
//! removes whatever the attempt left.

use std::path::Path;

use berth_common::LockMode;

use crate::digest::Digest;
use crate::error::{ImageError, Result};
use crate::formats::{read_images, ArchiveSource, LayerSource, LoadableImage};
use crate::reference;
use crate::spec::{
    Descriptor, ImageConfigFile, Manifest, RootFs, RunConfig, MEDIA_OCI_CONFIG, MEDIA_OCI_MANIFEST,
};
use crate::store::{ImageInfo, LayerInput, LayerMeta, Store, TempPath};
use crate::unpack::UnpackOptions;

/// Default cap on one layer's uncompressed size.
pub const DEFAULT_MAX_LAYER_SIZE: u64 = 64 << 30;

/// Told about progress of long imports (the binary draws bars with it).
pub trait ImportProgress: Sync {
    fn layer_started(&self, _image: &str, _layer: &str, _size: Option<u64>) {}
    fn layer_progress(&self, _bytes_read: u64) {}
    fn layer_finished(&self) {}
}

struct NoProgress;
impl ImportProgress for NoProgress {}

pub struct ImportOptions<'a> {
    pub unpack: UnpackOptions,
    pub max_layer_size: u64,
    pub progress: &'a dyn ImportProgress,
}

impl Default for ImportOptions<'_> {
    fn default() -> Self {
        ImportOptions {
            unpack: UnpackOptions::default(),
            max_layer_size: DEFAULT_MAX_LAYER_SIZE,
            progress: &NoProgress,
        }
    }
}

/// Loads every image of a docker-archive or OCI layout (directory or tarball).
pub fn load(store: &Store, path: &Path, opts: &ImportOptions<'_>) -> Result<Vec<ImageInfo>> {
    let result = (|| {
        let source = ArchiveSource::open(path, &store.paths().tmp())?;
        let images = read_images(&source)?;
        let _store = store.lock_store(LockMode::Shared)?;
        images
            .iter()
            .map(|image| load_image(store, &source, image, opts))
            .collect::<Result<Vec<_>>>()
    })();
    if result.is_err() {
        store.tidy_after_failure();
    }
    let manifests = result?;
    manifests
        .iter()
        .map(|digest| find_by_manifest(store, digest))
        .collect()
}

fn load_image(
    store: &Store,
    source: &ArchiveSource,
    image: &LoadableImage,
    opts: &ImportOptions<'_>,
) -> Result<Digest> {
    let mut parent: Option<Digest> = None;
    let mut metas = Vec::with_capacity(image.layers.len());
    for layer in &image.layers {
        let input = LayerInput {
            image: &image.shown,
            diff_id: layer.diff_id.clone(),
            parent_chain: parent.clone(),
            expected_blob: layer.expected_blob.clone(),
            limit: opts.max_layer_size,
            unpack: &opts.unpack,
            progress: &|n| opts.progress.layer_progress(n),
        };
        let shown_layer = layer
            .expected_blob
            .as_ref()
            .map_or(layer.diff_id.to_string(), |b| b.0.to_string());
        opts.progress.layer_started(
            &image.shown,
            &shown_layer,
            layer.expected_blob.as_ref().map(|b| b.1),
        );
        let meta = store.ingest_layer(&input, &mut || source.open_layer(&layer.member))?;
        opts.progress.layer_finished();
        parent = Some(Digest::parse(&meta.chain_id)?);
        metas.push(meta);
    }
    store.put_blob(&image.config)?;
    let (manifest_digest, manifest_size) = match &image.manifest {
        Some(original) => (store.put_blob(original)?, original.len() as u64),
        None => write_manifest(
            store,
            &image.config_digest,
            image.config.len() as u64,
            &metas,
        )?,
    };
    store.add_to_index(&manifest_digest, manifest_size, &image.names)?;
    Ok(manifest_digest)
}

/// An OCI manifest for an image whose source had none (docker-archive, import).
fn write_manifest(
    store: &Store,
    config: &Digest,
    config_size: u64,
    layers: &[LayerMeta],
) -> Result<(Digest, u64)> {
    let manifest = Manifest {
        schema_version: 2,
        media_type: MEDIA_OCI_MANIFEST.to_string(),
        config: descriptor(MEDIA_OCI_CONFIG, config.as_str(), config_size),
        layers: layers
            .iter()
            .map(|l| descriptor(&l.media_type, &l.blob, l.blob_size))
            .collect(),
    };
    let data = serde_json::to_vec(&manifest).expect("manifest serialises");
    Ok((store.put_blob(&data)?, data.len() as u64))
}

fn descriptor(media_type: &str, digest: &str, size: u64) -> Descriptor {
    Descriptor {
        media_type: media_type.to_string(),
        digest: digest.to_string(),
        size,
        annotations: Default::default(),
        platform: None,
    }
}

fn find_by_manifest(store: &Store, manifest: &Digest) -> Result<ImageInfo> {
    store
        .images()?
        .into_iter()
        .find(|i| i.manifest_digest == *manifest)
        .ok_or_else(|| ImageError::NotFound(manifest.to_string()))
}

/// `docker import`: a plain rootfs tarball (plain, gzip or zstd) becomes a one-layer
/// image with the given run config.
pub fn import_rootfs(
    store: &Store,
    source: LayerSource,
    shown: &str,
    name: Option<&str>,
    run_config: RunConfig,
    message: Option<&str>,
    opts: &ImportOptions<'_>,
) -> Result<ImageInfo> {
    let name = name.map(reference::normalize).transpose()?;
    let result = (|| -> Result<Digest> {
        let _store = store.lock_store(LockMode::Shared)?;
        let work = TempPath::new_dir(&store.paths().tmp(), "layer")?;
        let diff = work.path().join("diff");
        std::fs::create_dir(&diff).map_err(|e| ImageError::io(&diff, e))?;
        opts.progress.layer_started(shown, shown, None);
        let progress = |n| opts.progress.layer_progress(n);
        let streamed = store.stream_layer(
            shown,
            shown,
            source,
            (&opts.unpack, opts.max_layer_size, &progress),
            Some(&diff),
        )?;
        opts.progress.layer_finished();
        let diff_id = streamed.diff_id.clone();
        let _layer_lock = store.lock(
            &format!("layer-{}.lock", diff_id.hex()),
            LockMode::Exclusive,
        )?;
        let meta = store.commit_layer(work, streamed, None)?;
        let config = rootfs_config(&diff_id, run_config, message);
        let config_bytes = serde_json::to_vec(&config).expect("config serialises");
        let config_digest = store.put_blob(&config_bytes)?;
        let (manifest, size) =
            write_manifest(store, &config_digest, config_bytes.len() as u64, &[meta])?;
        store.add_to_index(&manifest, size, name.as_slice())?;
        Ok(manifest)
    })();
    if result.is_err() {
        store.tidy_after_failure();
    }
    find_by_manifest(store, &result?)
}

fn rootfs_config(
    diff_id: &Digest,
    run_config: RunConfig,
    message: Option<&str>,
) -> ImageConfigFile {
    let created = humantime::format_rfc3339_nanos(std::time::SystemTime::now()).to_string();
    let mut history = serde_json::json!({ "created": created, "created_by": "berth import" });
    if let Some(message) = message {
        history["comment"] = message.into();
    }
    let mut extra = std::collections::BTreeMap::new();
    extra.insert(
        "history".to_string(),
        serde_json::Value::Array(vec![history]),
    );
    if let Some(message) = message {
        extra.insert("comment".to_string(), message.into());
    }
    ImageConfigFile {
        architecture: crate::host_architecture().to_string(),
        os: "linux".into(),
        created: Some(created),
        config: Some(run_config),
        rootfs: RootFs {
            kind: "layers".into(),
            diff_ids: vec![diff_id.to_string()],
        },
        extra,
    }
}
