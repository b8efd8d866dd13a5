//! `docker save` archives: `manifest.json` lists each image's config, names and layer
//! members. Classic archives keep `<id>/layer.tar` and `<hex>.json`; Docker 25+ keeps
//! `blobs/sha256/<hex>` members whose names are also their digests.

use super::{
    check_digest, digest_from_member, parse_config, ArchiveSource, LoadableImage, LoadableLayer,
};
use crate::digest::Digest;
use crate::error::{ImageError, Result};
use crate::reference;
use crate::spec::{
    DockerArchiveEntry, ImageIndex, Manifest, MEDIA_DOCKER_MANIFEST, MEDIA_OCI_MANIFEST,
};

pub(super) fn read(source: &ArchiveSource) -> Result<Vec<LoadableImage>> {
    let data = source.read_small("manifest.json")?;
    let entries: Vec<DockerArchiveEntry> =
        serde_json::from_slice(&data).map_err(|e| ImageError::BadArchive {
            source_path: source.shown().to_owned(),
            member: "manifest.json".into(),
            reason: format!("not a docker-archive manifest: {e}"),
        })?;
    let manifests = oci_manifests(source);
    entries
        .iter()
        .map(|entry| {
            let mut image = read_entry(source, entry)?;
            image.manifest = manifests
                .iter()
                .find(|(config, _)| *config == image.config_digest)
                .map(|(_, m)| m.clone());
            Ok(image)
        })
        .collect()
}

/// Docker 25+ archives also hold an OCI layout: its manifests, by config digest, so the
/// image keeps the manifest it was saved with. Anything unreadable is just not used.
fn oci_manifests(source: &ArchiveSource) -> Vec<(Digest, Vec<u8>)> {
    let Ok(data) = source.read_small("index.json") else {
        return Vec::new();
    };
    let Ok(index) = serde_json::from_slice::<ImageIndex>(&data) else {
        return Vec::new();
    };
    let mut found = Vec::new();
    for descriptor in index
        .manifests()
        .iter()
        .filter(|d| [MEDIA_OCI_MANIFEST, MEDIA_DOCKER_MANIFEST].contains(&d.media_type().as_ref()))
    {
        let Ok(digest) = Digest::parse(descriptor.digest().as_ref()) else {
            continue;
        };
        let Ok(bytes) = source.read_small(&format!("blobs/sha256/{}", digest.hex())) else {
            continue;
        };
        if Digest::of_bytes(&bytes) != digest || bytes.len() as u64 != descriptor.size() {
            continue;
        }
        if let Ok(manifest) = serde_json::from_slice::<Manifest>(&bytes) {
            if let Ok(config) = Digest::parse(manifest.config().digest().as_ref()) {
                found.push((config, bytes));
            }
        }
    }
    found
}

fn read_entry(source: &ArchiveSource, entry: &DockerArchiveEntry) -> Result<LoadableImage> {
    let names = entry
        .repo_tags
        .iter()
        .flatten()
        .map(|t| reference::normalize(t))
        .collect::<Result<Vec<_>>>()?;
    let config = source.read_small(&entry.config)?;
    let config_digest = Digest::of_bytes(&config);
    let shown = names
        .first()
        .cloned()
        .unwrap_or_else(|| config_digest.to_string());
    let promised = digest_from_member(&entry.config).or_else(|| {
        entry
            .config
            .strip_suffix(".json")
            .and_then(|hex| Digest::parse(&format!("sha256:{hex}")).ok())
    });
    if let Some(promised) = promised {
        check_digest(&shown, "config", &promised, None, &config)?;
    }
    let (config_doc, diff_ids) =
        parse_config(source, &entry.config, &config, entry.layers.len(), &shown)?;
    let mut layers = Vec::with_capacity(entry.layers.len());
    for (member, diff_id) in entry.layers.iter().zip(diff_ids) {
        let expected_blob = match digest_from_member(member) {
            Some(digest) => Some((digest, source.open_member(member)?.1)),
            None => None,
        };
        layers.push(LoadableLayer {
            member: member.clone(),
            expected_blob,
            diff_id,
        });
    }
    Ok(LoadableImage {
        shown,
        names,
        config,
        config_digest,
        config_doc,
        manifest: None,
        layers,
    })
}
