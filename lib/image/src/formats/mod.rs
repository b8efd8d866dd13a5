//! Reading an image archive's metadata into a list of images to load, with every digest,
//! size and media type checked before any layer is touched.

mod docker_archive;
pub(crate) mod oci_layout;
pub mod source;

use crate::digest::Digest;
use crate::error::{ImageError, Result};
use crate::spec::ImageConfigFile;

pub use source::{ArchiveSource, FileRange, LayerSource};

/// An image found in an archive, its metadata verified.
#[derive(Debug)]
pub struct LoadableImage {
    /// How messages name the image: its first name, else its config digest.
    pub shown: String,
    pub names: Vec<String>,
    pub config: Vec<u8>,
    pub config_digest: Digest,
    pub config_doc: ImageConfigFile,
    /// The original manifest, when the archive has one (OCI); stored byte for byte.
    pub manifest: Option<Vec<u8>>,
    pub layers: Vec<LoadableLayer>,
}

#[derive(Debug)]
pub struct LoadableLayer {
    pub member: String,
    /// Digest and size the manifest promises (OCI, Docker 25+ archives).
    pub expected_blob: Option<(Digest, u64)>,
    pub diff_id: Digest,
}

/// Lists the images in `source`: a docker-archive (`manifest.json`, which Docker 25+
/// writes beside an OCI layout) or an OCI image layout (`index.json`).
pub fn read_images(source: &ArchiveSource) -> Result<Vec<LoadableImage>> {
    let images = if source.has("manifest.json") {
        docker_archive::read(source)?
    } else if source.has("index.json") {
        oci_layout::read(source)?
    } else {
        return Err(ImageError::UnknownFormat {
            source_path: source.shown().to_owned(),
            reason: "neither a docker-archive (no manifest.json) nor an OCI layout (no index.json)"
                .into(),
        });
    };
    if images.is_empty() {
        return Err(ImageError::UnknownFormat {
            source_path: source.shown().to_owned(),
            reason: "the archive lists no image".into(),
        });
    }
    Ok(images)
}

/// Parses a config and checks it lists one diff ID per layer.
fn parse_config(
    source: &ArchiveSource,
    member: &str,
    data: &[u8],
    layer_count: usize,
    shown: &str,
) -> Result<(ImageConfigFile, Vec<Digest>)> {
    let config = ImageConfigFile::parse(data).map_err(|e| ImageError::BadArchive {
        source_path: source.shown().to_owned(),
        member: member.to_string(),
        reason: format!("not a valid image config: {e}"),
    })?;
    let kind = config.typed.rootfs().typ();
    if kind != "layers" {
        return Err(ImageError::BadImage {
            image: shown.to_string(),
            reason: format!("rootfs type {kind:?} is not \"layers\""),
        });
    }
    if config.diff_ids().len() != layer_count {
        return Err(ImageError::BadImage {
            image: shown.to_string(),
            reason: format!(
                "the manifest lists {layer_count} layers but the config {} diff IDs",
                config.diff_ids().len()
            ),
        });
    }
    let diff_ids = config
        .diff_ids()
        .iter()
        .map(|d| Digest::parse(d))
        .collect::<Result<Vec<_>>>()?;
    Ok((config, diff_ids))
}

/// A member named `blobs/sha256/<hex>` promises that digest.
fn digest_from_member(member: &str) -> Option<Digest> {
    let hex = member
        .trim_start_matches("./")
        .strip_prefix("blobs/sha256/")?;
    Digest::parse(&format!("sha256:{hex}")).ok()
}

fn check_digest(
    shown: &str,
    what: &'static str,
    expected: &Digest,
    expected_size: Option<u64>,
    data: &[u8],
) -> Result<()> {
    let actual = Digest::of_bytes(data);
    let size = data.len() as u64;
    if actual != *expected || expected_size.is_some_and(|s| s != size) {
        return Err(ImageError::DigestMismatch {
            image: shown.to_string(),
            what,
            digest: expected.to_string(),
            actual: actual.to_string(),
            expected_size: expected_size.unwrap_or(size),
            actual_size: size,
        });
    }
    Ok(())
}
