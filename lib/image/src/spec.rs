//! The OCI and Docker documents berth reads and writes: `oci-spec`'s types, and what they
//! leave out. Stored manifests and configs are always the original bytes, never these types
//! re-serialised, so digests stay those of the source.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;

pub use oci_spec::image::{
    Config as RunConfig, Descriptor, ImageConfiguration, ImageIndex, ImageManifest as Manifest,
    MediaType, RootFs,
};

pub const MEDIA_OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
pub const MEDIA_OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
pub const MEDIA_OCI_CONFIG: &str = "application/vnd.oci.image.config.v1+json";
// oci-spec has no variants for Docker's schema2 types: they parse as `MediaType::Other`.
pub const MEDIA_DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";
pub const MEDIA_DOCKER_LIST: &str = "application/vnd.docker.distribution.manifest.list.v2+json";
pub const ANNOTATION_REF_NAME: &str = "org.opencontainers.image.ref.name";
pub const ANNOTATION_CONTAINERD_NAME: &str = "io.containerd.image.name";

/// An index that keeps the top-level fields oci-spec does not model, for the one index
/// berth reads, changes and writes back: the store's `index.json`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Index {
    #[serde(flatten)]
    pub index: ImageIndex,
    #[serde(flatten)]
    pub extra: BTreeMap<String, Value>,
}

impl Default for Index {
    fn default() -> Self {
        let mut index = ImageIndex::default();
        index.set_media_type(Some(MediaType::ImageIndex));
        Index {
            index,
            extra: BTreeMap::new(),
        }
    }
}

impl Index {
    pub fn manifests(&self) -> &[Descriptor] {
        self.index.manifests()
    }

    /// oci-spec's index has no `&mut` access to its manifests: they are copied, edited and set.
    pub fn edit_manifests<T>(&mut self, edit: impl FnOnce(&mut Vec<Descriptor>) -> T) -> T {
        let mut manifests = self.index.manifests().clone();
        let out = edit(&mut manifests);
        self.index.set_manifests(manifests);
        out
    }
}

/// A descriptor's annotation, if it has one.
pub fn annotation<'a>(descriptor: &'a Descriptor, key: &str) -> Option<&'a String> {
    descriptor.annotations().as_ref().and_then(|a| a.get(key))
}

/// A descriptor of `media_type` for a blob berth holds (digests are berth's, validated).
pub fn descriptor(media_type: &str, digest: &crate::digest::Digest, size: u64) -> Descriptor {
    let digest: oci_spec::image::Digest = digest
        .as_str()
        .parse()
        .expect("a berth digest is a valid OCI digest");
    Descriptor::new(MediaType::from(media_type), size, digest)
}

/// An image config (OCI, and Docker's which is a superset): oci-spec's typed view, and the
/// document as parsed, which holds what oci-spec leaves out (Docker's `comment`,
/// `docker_version`, `container_config`, and in `config` `Healthcheck`, `Shell`, `OnBuild`…),
/// shown by `inspect`.
#[derive(Debug, Clone)]
pub struct ImageConfigFile {
    pub typed: ImageConfiguration,
    pub document: Value,
}

impl ImageConfigFile {
    pub fn parse(data: &[u8]) -> serde_json::Result<Self> {
        let document: Value = serde_json::from_slice(data)?;
        let typed = ImageConfiguration::deserialize(&with_docker_omissions_filled(&document))?;
        Ok(ImageConfigFile { typed, document })
    }

    pub fn diff_ids(&self) -> &[String] {
        self.typed.rootfs().diff_ids()
    }

    pub fn created(&self) -> String {
        self.typed.created().clone().unwrap_or_default()
    }

    /// A top-level field of the document, as it is.
    pub fn field(&self, key: &str) -> Option<&Value> {
        self.document.get(key)
    }
}

/// Docker writes `architecture`, `os` and `rootfs.diff_ids` with `omitempty` (moby's
/// `V1Image`, `RootFS`), so real configs can lack them (a zero-layer image has no
/// `diff_ids`), while oci-spec requires them: the typed view gets them empty.
fn with_docker_omissions_filled(document: &Value) -> Value {
    let mut document = document.clone();
    if let Some(top) = document.as_object_mut() {
        for key in ["architecture", "os"] {
            top.entry(key)
                .or_insert_with(|| Value::String(String::new()));
        }
        if let Some(rootfs) = top.get_mut("rootfs").and_then(Value::as_object_mut) {
            let diff_ids = rootfs.entry("diff_ids").or_insert(Value::Null);
            if diff_ids.is_null() {
                *diff_ids = Value::Array(Vec::new());
            }
        }
    }
    document
}

/// The record's view of a run config. oci-spec keeps ports and labels in hash maps: sorted
/// here so the record is the same for the same image.
pub fn to_record(config: &RunConfig) -> berth_common::ImageConfig {
    let sorted = |list: &Option<Vec<String>>| {
        let mut list = list.clone().unwrap_or_default();
        list.sort();
        list.dedup();
        list
    };
    berth_common::ImageConfig {
        env: config.env().clone().unwrap_or_default(),
        cmd: config.cmd().clone(),
        entrypoint: config.entrypoint().clone(),
        working_dir: config.working_dir().clone().unwrap_or_default(),
        user: config.user().clone().unwrap_or_default(),
        exposed_ports: sorted(config.exposed_ports()),
        volumes: sorted(config.volumes()),
        labels: config
            .labels()
            .iter()
            .flatten()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect(),
        stop_signal: config.stop_signal().clone(),
    }
}

/// A document as JSON with its object keys sorted: oci-spec's hash maps would otherwise
/// give the same config different bytes, so a different digest, each time.
pub fn to_sorted_json(document: &impl Serialize) -> Vec<u8> {
    let value = serde_json::to_value(document).expect("an OCI document serialises");
    serde_json::to_vec(&value).expect("a JSON value serialises")
}

/// One entry of a docker-archive's `manifest.json`: Docker's own format, which no OCI
/// specification (so no oci-spec type) describes.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct DockerArchiveEntry {
    pub config: String,
    #[serde(default)]
    pub repo_tags: Option<Vec<String>>,
    pub layers: Vec<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn docker_config_with_nulls_and_omissions_parses_and_keeps_what_oci_lacks() {
        let data = br#"{"rootfs":{"type":"layers"},"comment":"hi","docker_version":"24.0.7",
            "config":{"Cmd":null,"Env":["A=1"],"ExposedPorts":{"80/tcp":{},"53/udp":{}},
            "Labels":null,"Volumes":null,"Healthcheck":{"Test":["CMD","true"]},
            "OnBuild":null,"Shell":["/bin/ash","-c"]}}"#;
        let config = ImageConfigFile::parse(data).unwrap();
        assert!(config.diff_ids().is_empty());
        assert_eq!(config.typed.architecture().to_string(), "");
        assert_eq!(config.field("comment").unwrap(), "hi");
        assert_eq!(config.field("config").unwrap()["Shell"][0], "/bin/ash");
        let record = to_record(config.typed.config().as_ref().unwrap());
        assert_eq!(record.exposed_ports, ["53/udp", "80/tcp"]);
        assert_eq!(record.env, ["A=1"]);
        assert_eq!(record.cmd, None);
    }

    #[test]
    fn config_that_is_not_an_image_config_is_refused() {
        assert!(ImageConfigFile::parse(br#"{"rootfs":{"type":"layers","diff_ids":7}}"#).is_err());
        assert!(ImageConfigFile::parse(br#"{"architecture":"amd64","os":"linux"}"#).is_err());
        assert!(ImageConfigFile::parse(b"[]").is_err());
    }

    #[test]
    fn store_index_keeps_fields_oci_spec_does_not_model() {
        let data = br#"{"schemaVersion":2,"manifests":[{"mediaType":
            "application/vnd.oci.image.manifest.v1+json","digest":
            "sha256:0000000000000000000000000000000000000000000000000000000000000000",
            "size":7,"annotations":{"org.opencontainers.image.ref.name":"a:b"}}],
            "io.example.tool":{"kept":true}}"#;
        let mut index: Index = serde_json::from_slice(data).unwrap();
        index.edit_manifests(|m| m.push(m[0].clone()));
        let written = serde_json::to_value(&index).unwrap();
        assert_eq!(written["io.example.tool"]["kept"], true);
        assert_eq!(written["manifests"].as_array().unwrap().len(), 2);
        assert_eq!(
            annotation(&index.manifests()[1], ANNOTATION_REF_NAME).unwrap(),
            "a:b"
        );
    }

    #[test]
    fn docker_media_types_are_kept_as_written() {
        let d: Descriptor = serde_json::from_str(&format!(
            r#"{{"mediaType":"{MEDIA_DOCKER_MANIFEST}","size":1,"digest":
            "sha256:0000000000000000000000000000000000000000000000000000000000000000"}}"#
        ))
        .unwrap();
        assert_eq!(d.media_type().as_ref(), MEDIA_DOCKER_MANIFEST);
        assert!(serde_json::to_string(&d)
            .unwrap()
            .contains(MEDIA_DOCKER_MANIFEST));
    }
}
