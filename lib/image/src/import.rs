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
    descriptor, to_sorted_json, ImageConfiguration, MediaType, RootFs, RunConfig, MEDIA_OCI_CONFIG,
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
    let layers = layers
        .iter()
        .map(|l| {
            Ok(descriptor(
                &l.media_type,
                &Digest::parse(&l.blob)?,
                l.blob_size,
            ))
        })
        .collect::<Result<Vec<_>>>()?;
    let manifest = oci_spec::image::ImageManifestBuilder::default()
        .schema_version(2u32)
        .media_type(MediaType::ImageManifest)
        .config(descriptor(MEDIA_OCI_CONFIG, config, config_size))
        .layers(layers)
        .build()
        .expect("a manifest with config and layers builds");
    let data = to_sorted_json(&manifest);
    Ok((store.put_blob(&data)?, data.len() as u64))
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
        let config_bytes = rootfs_config(&diff_id, run_config, message);
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

/// The config of an imported rootfs, as JSON (with Docker's `comment`, which OCI lacks).
fn rootfs_config(diff_id: &Digest, run_config: RunConfig, message: Option<&str>) -> Vec<u8> {
    let created = humantime::format_rfc3339_nanos(std::time::SystemTime::now()).to_string();
    let mut history = oci_spec::image::History::default();
    history.set_created(Some(created.clone()));
    history.set_created_by(Some("berth import".into()));
    history.set_comment(message.map(String::from));
    let mut rootfs = RootFs::default();
    rootfs.set_diff_ids(vec![diff_id.to_string()]);
    let mut config = ImageConfiguration::default();
    config.set_architecture(crate::host_architecture().into());
    config.set_os("linux".into());
    config.set_created(Some(created));
    config.set_config(Some(run_config));
    config.set_rootfs(rootfs);
    config.set_history(Some(vec![history]));
    let mut document = serde_json::to_value(&config).expect("a config serialises");
    if let Some(message) = message {
        document["comment"] = message.into();
    }
    serde_json::to_vec(&document).expect("a JSON value serialises")
}
