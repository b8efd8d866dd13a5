//! The container record: one JSON document that flows through the stages on stdin and
//! stdout. Each stage fills in its own part and passes the rest through untouched, including
//! parts it does not know (`extra`), so older and newer stages can share a pipeline.

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

/// Bumped when a field changes meaning; additions do not bump it.
pub const RECORD_VERSION: u32 = 1;

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ContainerRecord {
    pub version: u32,
    /// The berth root the record's paths belong to.
    pub root: PathBuf,
    pub image: ImagePart,
    /// Parts written by later stages (mount, net, cgroup, enter), kept verbatim.
    #[serde(flatten)]
    pub extra: BTreeMap<String, serde_json::Value>,
}

impl ContainerRecord {
    pub fn new(root: PathBuf, image: ImagePart) -> Self {
        ContainerRecord {
            version: RECORD_VERSION,
            root,
            image,
            extra: BTreeMap::new(),
        }
    }
}

/// What `berth-unpack` contributes: the image and where its layers lie.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ImagePart {
    /// Image ID: the digest of the image config, as Docker reports it (`sha256:…`).
    pub id: String,
    /// The reference the image was asked for by, if any (`busybox:latest`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Digest of the image manifest in the store.
    pub manifest: String,
    pub config: ImageConfig,
    /// Unpacked layer directories, lowest first, in the form overlayfs reads directly.
    pub layers: Vec<PathBuf>,
}

/// The parts of the image config that running a container needs, named as Docker names them.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "PascalCase")]
pub struct ImageConfig {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub env: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cmd: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub entrypoint: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub working_dir: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub user: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub exposed_ports: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub volumes: Vec<String>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub labels: BTreeMap<String, String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stop_signal: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_parts_pass_through() {
        let text = r#"{"version":1,"root":"/r","image":{"id":"sha256:a","manifest":"sha256:b",
            "config":{"Cmd":["sh"]},"layers":["/r/layers/x/diff"]},"mount":{"rootfs":"/m"}}"#;
        let record: ContainerRecord = serde_json::from_str(text).unwrap();
        assert_eq!(record.image.config.cmd, Some(vec!["sh".to_string()]));
        let again = serde_json::to_value(&record).unwrap();
        assert_eq!(again["mount"]["rootfs"], "/m");
    }
}
