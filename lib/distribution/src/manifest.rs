//! Manifests as registries serve them (Docker schema2 and OCI manifests, Docker manifest
//! lists and OCI indexes), checked before anything is fetched: every digest well-formed,
//! every media type a known one and shaped as RFC 6838 says, sizes bounded.

use berth_image::Digest;
use serde::Deserialize;

use crate::error::{DistributionError, Result};
use crate::platform::Platform;

pub const DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";
pub const DOCKER_LIST: &str = "application/vnd.docker.distribution.manifest.list.v2+json";
pub const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
pub const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
const DOCKER_SCHEMA1: &[&str] = &[
    "application/vnd.docker.distribution.manifest.v1+json",
    "application/vnd.docker.distribution.manifest.v1+prettyjws",
];
const CONFIG_TYPES: &[&str] = &[
    "application/vnd.docker.container.image.v1+json",
    "application/vnd.oci.image.config.v1+json",
];
const LAYER_TYPES: &[&str] = &[
    "application/vnd.docker.image.rootfs.diff.tar.gzip",
    "application/vnd.docker.image.rootfs.diff.tar.zstd",
    "application/vnd.oci.image.layer.v1.tar",
    "application/vnd.oci.image.layer.v1.tar+gzip",
    "application/vnd.oci.image.layer.v1.tar+zstd",
];

/// What every Accept header of a manifest request lists.
pub const ACCEPT: &str = "application/vnd.oci.image.index.v1+json, \
    application/vnd.docker.distribution.manifest.list.v2+json, \
    application/vnd.oci.image.manifest.v1+json, \
    application/vnd.docker.distribution.manifest.v2+json";

/// Bounds on what a manifest may promise.
pub const MAX_CONFIG: u64 = 8 << 20;
pub const MAX_LAYERS: usize = 1000;

#[derive(Debug, Clone)]
pub struct BlobRef {
    pub media_type: String,
    pub digest: Digest,
    pub size: u64,
}

#[derive(Debug)]
pub struct ImageManifest {
    pub config: BlobRef,
    pub layers: Vec<BlobRef>,
}

#[derive(Debug)]
pub struct IndexEntry {
    pub manifest: BlobRef,
    pub os: String,
    pub architecture: String,
    pub variant: Option<String>,
}

#[derive(Debug)]
pub enum Parsed {
    Image(ImageManifest),
    Index(Vec<IndexEntry>),
}

#[derive(Deserialize)]
struct RawDescriptor {
    #[serde(rename = "mediaType", default)]
    media_type: String,
    digest: String,
    size: i64,
    #[serde(default)]
    platform: Option<RawPlatform>,
    #[serde(default)]
    urls: Option<Vec<String>>,
}

#[derive(Deserialize)]
struct RawPlatform {
    os: String,
    architecture: String,
    #[serde(default)]
    variant: Option<String>,
}

#[derive(Deserialize)]
struct RawManifest {
    #[serde(rename = "schemaVersion")]
    schema_version: u32,
    #[serde(rename = "mediaType", default)]
    media_type: Option<String>,
    #[serde(default)]
    config: Option<RawDescriptor>,
    #[serde(default)]
    layers: Option<Vec<RawDescriptor>>,
    #[serde(default)]
    manifests: Option<Vec<RawDescriptor>>,
}

/// Parses and checks a manifest; `content_type` is the response's header, which decides
/// over the body's `mediaType` as in docker.
pub fn parse(
    shown: &str,
    digest: &Digest,
    data: &[u8],
    content_type: Option<&str>,
) -> Result<Parsed> {
    let bad = |reason: String| DistributionError::BadManifest {
        reference: shown.to_string(),
        digest: digest.to_string(),
        reason,
    };
    let raw: RawManifest =
        serde_json::from_slice(data).map_err(|e| bad(format!("not a manifest: {e}")))?;
    let declared = content_type
        .map(|c| c.split(';').next().unwrap_or(c).trim())
        .filter(|c| !c.is_empty() && *c != "application/json" && *c != "text/plain");
    let kind = declared
        .or(raw.media_type.as_deref())
        .map(String::from)
        .unwrap_or_else(|| {
            if raw.manifests.is_some() {
                OCI_INDEX
            } else {
                OCI_MANIFEST
            }
            .into()
        });
    if DOCKER_SCHEMA1.contains(&kind.as_str()) || raw.schema_version == 1 {
        return Err(bad(
            "Docker schema 1 manifests are not supported (the registry should convert it; push it again with a newer client)"
                .into(),
        ));
    }
    if raw.schema_version != 2 {
        return Err(bad(format!(
            "schemaVersion {} is not 2",
            raw.schema_version
        )));
    }
    match kind.as_str() {
        DOCKER_MANIFEST | OCI_MANIFEST => {
            let config = raw.config.ok_or_else(|| bad("it has no config".into()))?;
            let config = blob_ref(&config, "config", MAX_CONFIG).map_err(&bad)?;
            if !CONFIG_TYPES.contains(&config.media_type.as_str()) {
                return Err(bad(format!(
                    "config media type {:?} is not an image config: not a container image",
                    config.media_type
                )));
            }
            let raw_layers = raw.layers.unwrap_or_default();
            if raw_layers.len() > MAX_LAYERS {
                return Err(bad(format!(
                    "{} layers, more than {MAX_LAYERS}",
                    raw_layers.len()
                )));
            }
            let layers = raw_layers
                .iter()
                .map(|l| layer_ref(l).map_err(&bad))
                .collect::<Result<Vec<_>>>()?;
            Ok(Parsed::Image(ImageManifest { config, layers }))
        }
        DOCKER_LIST | OCI_INDEX => {
            let entries = raw
                .manifests
                .ok_or_else(|| bad("the index has no manifests".into()))?;
            entries
                .iter()
                .map(|e| index_entry(e).map_err(&bad))
                .collect::<Result<Vec<_>>>()
                .map(Parsed::Index)
        }
        other => Err(bad(format!("unsupported manifest media type {other:?}"))),
    }
}

fn blob_ref(raw: &RawDescriptor, what: &str, max: u64) -> std::result::Result<BlobRef, String> {
    check_media_type(&raw.media_type).map_err(|e| format!("{what}: {e}"))?;
    let digest = Digest::parse(&raw.digest).map_err(|e| format!("{what}: {e}"))?;
    let size = u64::try_from(raw.size)
        .map_err(|_| format!("{what} {digest}: negative size {}", raw.size))?;
    if size > max {
        return Err(format!(
            "{what} {digest}: size {size} exceeds the limit of {max} bytes"
        ));
    }
    Ok(BlobRef {
        media_type: raw.media_type.clone(),
        digest,
        size,
    })
}

fn layer_ref(raw: &RawDescriptor) -> std::result::Result<BlobRef, String> {
    let layer = blob_ref(raw, "layer", berth_image::import::DEFAULT_MAX_LAYER_SIZE)?;
    if raw.urls.as_ref().is_some_and(|u| !u.is_empty())
        || layer.media_type.contains("foreign")
        || layer.media_type.contains("nondistributable")
    {
        return Err(format!(
            "layer {}: foreign (non-distributable) layers are not supported",
            layer.digest
        ));
    }
    if !LAYER_TYPES.contains(&layer.media_type.as_str()) {
        return Err(format!(
            "layer {}: unsupported media type {:?}",
            layer.digest, layer.media_type
        ));
    }
    Ok(layer)
}

fn index_entry(raw: &RawDescriptor) -> std::result::Result<IndexEntry, String> {
    let manifest = blob_ref(raw, "manifest", crate::client::MAX_MANIFEST)?;
    let platform = raw.platform.as_ref();
    Ok(IndexEntry {
        os: platform.map(|p| p.os.clone()).unwrap_or_default(),
        architecture: platform.map(|p| p.architecture.clone()).unwrap_or_default(),
        variant: platform.and_then(|p| p.variant.clone()),
        manifest,
    })
}

/// `type/subtype` of RFC 6838 restricted-name characters: no path can hide in one.
fn check_media_type(media_type: &str) -> std::result::Result<(), String> {
    let name_ok = |part: &str| {
        let bytes = part.as_bytes();
        !bytes.is_empty()
            && bytes.len() <= 127
            && bytes[0].is_ascii_alphanumeric()
            && bytes
                .iter()
                .all(|b| b.is_ascii_alphanumeric() || b"!#$&^_.+-".contains(b))
            && !part.contains("..")
    };
    match media_type.split_once('/') {
        Some((kind, sub)) if name_ok(kind) && name_ok(sub) => Ok(()),
        _ => Err(format!("malformed media type {media_type:?}")),
    }
}

/// The entry of a manifest list for `platform`; attestation entries
/// (`unknown/unknown`) never match.
pub fn select<'a>(entries: &'a [IndexEntry], platform: &Platform) -> Option<&'a IndexEntry> {
    entries.iter().find(|e| {
        matches!(
            e.manifest.media_type.as_str(),
            DOCKER_MANIFEST | OCI_MANIFEST
        ) && platform.matches(&e.os, &e.architecture, e.variant.as_deref())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn digest() -> Digest {
        Digest::of_bytes(b"m")
    }

    fn hex(c: char) -> String {
        format!("sha256:{}", c.to_string().repeat(64))
    }

    fn manifest(config_type: &str, layer_type: &str, layer_digest: &str, size: i64) -> Vec<u8> {
        serde_json::to_vec(&serde_json::json!({
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "config": {"mediaType": config_type, "digest": hex('a'), "size": 10},
            "layers": [{"mediaType": layer_type, "digest": layer_digest, "size": size}],
        }))
        .unwrap()
    }

    #[test]
    fn a_plain_manifest_parses() {
        let data = manifest(CONFIG_TYPES[1], LAYER_TYPES[3], &hex('b'), 5);
        let Parsed::Image(m) = parse("x", &digest(), &data, None).unwrap() else {
            panic!("not an image manifest");
        };
        assert_eq!(m.layers[0].size, 5);
        assert_eq!(m.config.digest.to_string(), hex('a'));
    }

    #[test]
    fn hostile_manifests_are_refused() {
        let cases = [
            manifest(CONFIG_TYPES[1], "application/../../etc", &hex('b'), 5),
            manifest(CONFIG_TYPES[1], "../evil", &hex('b'), 5),
            manifest(
                CONFIG_TYPES[1],
                LAYER_TYPES[3],
                "sha256:../../etc/passwd",
                5,
            ),
            manifest(CONFIG_TYPES[1], LAYER_TYPES[3], &hex('b'), -1),
            manifest(CONFIG_TYPES[1], LAYER_TYPES[3], &hex('b'), i64::MAX),
            manifest(
                "application/vnd.cncf.helm.config.v1+json",
                LAYER_TYPES[3],
                &hex('b'),
                5,
            ),
            b"not json".to_vec(),
        ];
        for data in cases {
            let err = parse("x", &digest(), &data, None).unwrap_err();
            assert!(err.to_string().contains("bad manifest"), "{err}");
        }
    }

    #[test]
    fn the_host_platform_is_picked_from_a_list() {
        let data = serde_json::to_vec(&serde_json::json!({
            "schemaVersion": 2,
            "mediaType": OCI_INDEX,
            "manifests": [
                {"mediaType": OCI_MANIFEST, "digest": hex('1'), "size": 1,
                 "platform": {"os": "unknown", "architecture": "unknown"}},
                {"mediaType": OCI_MANIFEST, "digest": hex('2'), "size": 1,
                 "platform": {"os": "linux", "architecture": "arm", "variant": "v7"}},
                {"mediaType": OCI_MANIFEST, "digest": hex('3'), "size": 1,
                 "platform": {"os": "linux", "architecture": "amd64"}},
                {"mediaType": OCI_MANIFEST, "digest": hex('4'), "size": 1,
                 "platform": {"os": "linux", "architecture": "arm64", "variant": "v8"}},
            ],
        }))
        .unwrap();
        let Parsed::Index(entries) = parse("x", &digest(), &data, Some(OCI_INDEX)).unwrap() else {
            panic!("not an index");
        };
        let pick = |p: &str| {
            select(&entries, &Platform::parse(p).unwrap()).map(|e| e.manifest.digest.to_string())
        };
        assert_eq!(pick("linux/amd64"), Some(hex('3')));
        assert_eq!(pick("linux/arm64"), Some(hex('4')));
        assert_eq!(pick("linux/arm/v7"), Some(hex('2')));
        assert_eq!(pick("linux/arm/v6"), None);
        assert_eq!(pick("windows/amd64"), None);
    }
}
