//! OCI image layouts: `index.json` points at manifests (or nested indexes, of which the
//! host's platform is taken), manifests at a config and layers, all by digest and size.

use super::{check_digest, parse_config, ArchiveSource, LoadableImage, LoadableLayer};
use crate::digest::Digest;
use crate::error::{ImageError, Result};
use crate::reference;
use crate::spec::{
    annotation, Descriptor, ImageIndex, Manifest, ANNOTATION_CONTAINERD_NAME, ANNOTATION_REF_NAME,
    MEDIA_DOCKER_LIST, MEDIA_DOCKER_MANIFEST, MEDIA_OCI_INDEX, MEDIA_OCI_MANIFEST,
};

const CONFIG_TYPES: &[&str] = &[
    "application/vnd.oci.image.config.v1+json",
    "application/vnd.docker.container.image.v1+json",
];
const LAYER_TYPES: &[&str] = &[
    "application/vnd.oci.image.layer.v1.tar",
    "application/vnd.oci.image.layer.v1.tar+gzip",
    "application/vnd.oci.image.layer.v1.tar+zstd",
    "application/vnd.oci.image.layer.nondistributable.v1.tar",
    "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip",
    "application/vnd.oci.image.layer.nondistributable.v1.tar+zstd",
    "application/vnd.docker.image.rootfs.diff.tar",
    "application/vnd.docker.image.rootfs.diff.tar.gzip",
    "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip",
];
const MAX_NESTING: usize = 4;

pub(super) fn read(source: &ArchiveSource) -> Result<Vec<LoadableImage>> {
    let data = source.read_small("index.json")?;
    let index: ImageIndex = serde_json::from_slice(&data)
        .map_err(|e| bad(source, "index.json", format!("not an OCI index: {e}")))?;
    let mut images = Vec::new();
    for descriptor in index.manifests() {
        let name = annotation(descriptor, ANNOTATION_CONTAINERD_NAME)
            .or_else(|| annotation(descriptor, ANNOTATION_REF_NAME));
        let names = match name.map(|n| reference::normalize(n)) {
            Some(Ok(name)) => vec![name],
            Some(Err(e)) => {
                tracing::warn!(error = %e, "ignoring an image name in the OCI index");
                Vec::new()
            }
            None => Vec::new(),
        };
        if let Some(image) = read_descriptor(source, descriptor, names, 0)? {
            images.push(image);
        }
    }
    Ok(images)
}

fn bad(source: &ArchiveSource, member: &str, reason: String) -> ImageError {
    ImageError::BadArchive {
        source_path: source.shown().to_owned(),
        member: member.to_string(),
        reason,
    }
}

/// Reads the blob a descriptor points at and checks its digest and size.
fn read_blob(
    source: &ArchiveSource,
    descriptor: &Descriptor,
    shown: &str,
    what: &'static str,
) -> Result<Vec<u8>> {
    let digest = Digest::parse(descriptor.digest().as_ref())?;
    let data = source.read_small(&format!("blobs/sha256/{}", digest.hex()))?;
    check_digest(shown, what, &digest, Some(descriptor.size()), &data)?;
    Ok(data)
}

fn read_descriptor(
    source: &ArchiveSource,
    descriptor: &Descriptor,
    names: Vec<String>,
    depth: usize,
) -> Result<Option<LoadableImage>> {
    let shown = names
        .first()
        .cloned()
        .unwrap_or_else(|| descriptor.digest().to_string());
    match descriptor.media_type().as_ref() {
        MEDIA_OCI_MANIFEST | MEDIA_DOCKER_MANIFEST => {
            read_manifest(source, descriptor, names, shown).map(Some)
        }
        MEDIA_OCI_INDEX | MEDIA_DOCKER_LIST if depth < MAX_NESTING => {
            let data = read_blob(source, descriptor, &shown, "index")?;
            let nested: ImageIndex =
                serde_json::from_slice(&data).map_err(|e| ImageError::BadImage {
                    image: shown.clone(),
                    reason: format!("nested index: {e}"),
                })?;
            let host = host_architecture();
            let chosen = nested.manifests().iter().find(|d| {
                d.platform().as_ref().is_none_or(|p| {
                    p.os().to_string() == "linux" && p.architecture().to_string() == host
                })
            });
            match chosen {
                Some(d) => read_descriptor(source, d, names, depth + 1),
                None => Err(ImageError::BadImage {
                    image: shown,
                    reason: format!("no manifest for linux/{host}"),
                }),
            }
        }
        other => Err(ImageError::BadImage {
            image: shown,
            reason: format!(
                "index entry {} has media type {other:?}, not a manifest or index",
                descriptor.digest()
            ),
        }),
    }
}

fn read_manifest(
    source: &ArchiveSource,
    descriptor: &Descriptor,
    names: Vec<String>,
    shown: String,
) -> Result<LoadableImage> {
    let data = read_blob(source, descriptor, &shown, "manifest")?;
    let manifest: Manifest = serde_json::from_slice(&data).map_err(|e| ImageError::BadImage {
        image: shown.clone(),
        reason: format!("manifest {}: {e}", descriptor.digest()),
    })?;
    if let Some(media_type) = manifest.media_type() {
        if media_type != descriptor.media_type() {
            return Err(ImageError::BadImage {
                image: shown,
                reason: format!(
                    "manifest {} says it is {:?} but the index says {:?}",
                    descriptor.digest(),
                    media_type.as_ref(),
                    descriptor.media_type().as_ref()
                ),
            });
        }
    }
    let config_type = manifest.config().media_type().as_ref();
    if !CONFIG_TYPES.contains(&config_type) {
        return Err(ImageError::BadImage {
            image: shown,
            reason: format!("config has media type {config_type:?}, not an image config"),
        });
    }
    let config = read_blob(source, manifest.config(), &shown, "config")?;
    let config_member = format!(
        "blobs/sha256/{}",
        Digest::parse(manifest.config().digest().as_ref())?.hex()
    );
    let (config_doc, diff_ids) = parse_config(
        source,
        &config_member,
        &config,
        manifest.layers().len(),
        &shown,
    )?;
    let mut layers = Vec::with_capacity(manifest.layers().len());
    for (layer, diff_id) in manifest.layers().iter().zip(diff_ids) {
        let layer_type = layer.media_type().as_ref();
        if !LAYER_TYPES.contains(&layer_type) {
            return Err(ImageError::BadImage {
                image: shown,
                reason: format!(
                    "layer {} has media type {layer_type:?}, not a layer",
                    layer.digest()
                ),
            });
        }
        let digest = Digest::parse(layer.digest().as_ref())?;
        layers.push(LoadableLayer {
            member: format!("blobs/sha256/{}", digest.hex()),
            expected_blob: Some((digest, layer.size())),
            diff_id,
        });
    }
    Ok(LoadableImage {
        shown,
        names,
        config_digest: Digest::of_bytes(&config),
        config,
        config_doc,
        manifest: Some(data),
        layers,
    })
}

pub fn host_architecture() -> &'static str {
    match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        "x86" => "386",
        other => other,
    }
}
