//! The container record: one JSON document that flows through the stages on stdin and
//! stdout. Each stage fills in its own part and passes the rest through untouched, including
//! parts it does not know (`extra`), so older and newer stages can share a pipeline.

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::identity::{ContainerId, ContainerName};

/// Bumped when a field changes meaning; additions do not bump it.
pub const RECORD_VERSION: u32 = 1;

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ContainerRecord {
    /// Checked when read: a record newer than this berth, or version 0, is refused.
    #[serde(deserialize_with = "checked_version")]
    pub version: u32,
    /// The berth root the record's paths belong to.
    pub root: PathBuf,
    /// The run dir (mounts, sockets) the record's runtime paths belong to.
    #[serde(default = "default_run_dir")]
    pub run_dir: PathBuf,
    pub image: ImagePart,
    /// Identity of the container; given by the first stage that makes container state.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub container: Option<ContainerPart>,
    /// `berth-mount`'s part: the mounted root filesystem and the mounts to make inside.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rootfs: Option<RootfsPart>,
    /// `berth-cgroup`'s part: where the container's cgroups are and their limits.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cgroup: Option<CgroupPart>,
    /// `berth-net`'s part: the network namespace, its interfaces and published ports.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub network: Option<NetworkPart>,
    /// Parts written by later stages (mount, net, cgroup, enter), kept verbatim.
    #[serde(flatten)]
    pub extra: BTreeMap<String, serde_json::Value>,
}

/// Why a record's `version` cannot be read by this berth.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VersionError {
    #[error("record version {0} is newer than this berth ({RECORD_VERSION})")]
    Newer(u64),
    #[error("record version 0 is invalid: versions start at 1")]
    Zero,
}

/// Whether this berth reads records of `version`.
pub fn check_version(version: u64) -> Result<u32, VersionError> {
    match version {
        0 => Err(VersionError::Zero),
        v if v > u64::from(RECORD_VERSION) => Err(VersionError::Newer(v)),
        v => Ok(v as u32),
    }
}

fn checked_version<'de, D: serde::Deserializer<'de>>(deserializer: D) -> Result<u32, D::Error> {
    let version = u64::deserialize(deserializer)?;
    check_version(version).map_err(serde::de::Error::custom)
}

fn default_run_dir() -> PathBuf {
    PathBuf::from(crate::DEFAULT_RUN_DIR)
}

impl ContainerRecord {
    pub fn new(root: PathBuf, run_dir: PathBuf, image: ImagePart) -> Self {
        ContainerRecord {
            version: RECORD_VERSION,
            root,
            run_dir,
            image,
            container: None,
            rootfs: None,
            cgroup: None,
            network: None,
            extra: BTreeMap::new(),
        }
    }
}

impl ContainerPart {
    /// A new container identity: a random ID, created now.
    pub fn new(name: Option<ContainerName>) -> ContainerPart {
        let created = humantime::format_rfc3339_nanos(std::time::SystemTime::now()).to_string();
        ContainerPart {
            id: ContainerId::random(),
            name,
            created,
            cgroup_parent: None,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ContainerPart {
    /// 64 lowercase hex digits, like Docker's container IDs.
    pub id: ContainerId,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<ContainerName>,
    /// RFC 3339.
    pub created: String,
    /// The cgroup parent its cgroups are made under (`--cgroup-parent` when it was set
    /// up), so that removing a container killed before it ran finds them whatever parent
    /// the removal is given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cgroup_parent: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct RootfsPart {
    /// The merged overlay, mounted on the host (under the run dir).
    pub path: PathBuf,
    pub upper: PathBuf,
    pub work: PathBuf,
    #[serde(default)]
    pub readonly: bool,
    /// Binds, volumes and tmpfs mounts, made by `berth-enter` inside the container's mount
    /// namespace, in this order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub mounts: Vec<MountEntry>,
    /// The container's user namespace (`--userns-remap`, `--uidmap`): the overlay is
    /// mounted over idmapped layers for it, and berth-enter creates the namespace with
    /// these maps. Absent: the host's user namespace.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub userns: Option<crate::userns::UserNamespace>,
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum MountKind {
    Bind,
    Volume,
    Tmpfs,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct MountEntry {
    pub kind: MountKind,
    /// Host path for binds and volumes (the volume's data directory).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<PathBuf>,
    /// Absolute path inside the container.
    pub target: String,
    #[serde(default)]
    pub readonly: bool,
    /// Named volume (or generated name of an anonymous one).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub volume: Option<String>,
    /// Anonymous volumes are removed with the container.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub anonymous: bool,
    /// Extra mount options, e.g. `size=64m`, `mode=1777` for tmpfs.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub options: Vec<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct CgroupPart {
    /// `v1`, `v2` or `hybrid`.
    pub mode: String,
    /// Absolute cgroup directory per controller (`memory`, `cpu`, `pids`… on v1; `unified` on v2).
    pub paths: BTreeMap<String, PathBuf>,
    #[serde(default)]
    pub limits: Limits,
}

/// Resource limits, in Docker's units.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct Limits {
    /// Bytes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub memory: Option<i64>,
    /// Memory plus swap in bytes; -1 unlimited.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub memory_swap: Option<i64>,
    /// CPUs, e.g. 0.5.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cpus: Option<f64>,
    /// Relative weight, 2..262144 (v1 shares; mapped to v2 weight).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cpu_shares: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cpuset_cpus: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pids_limit: Option<i64>,
    /// 10..1000.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub blkio_weight: Option<u16>,
}

/// How the container is networked, as `berth-net` set it up.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct NetworkPart {
    /// `none`, `host`, `bridge` (one or more networks: see `endpoints`) or `container:ID`.
    pub mode: String,
    /// The persistent network namespace to join (a bind mount under the run dir); absent
    /// for `host`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub netns: Option<PathBuf>,
    /// The namespace was made for this container, so its teardown removes it (not so for
    /// `container:` mode, where it belongs to the other container).
    #[serde(default)]
    pub owned: bool,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub endpoints: Vec<Endpoint>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ports: Vec<PortMapping>,
    /// `--dns` servers; when empty, the network's DNS server or the host's resolvers.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub dns: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub dns_search: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub dns_options: Vec<String>,
    /// `--add-host` entries as `name:ip`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub extra_hosts: Vec<String>,
}

/// One interface of the container on one network.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Endpoint {
    /// Network name (`bridge` for the default one).
    pub network: String,
    pub network_id: String,
    /// The network's bridge on the host.
    pub bridge: String,
    /// The host end of the veth pair.
    pub host_veth: String,
    /// The interface name inside the container (`eth0`, `eth1`…).
    pub ifname: String,
    pub ip: std::net::Ipv4Addr,
    pub prefix: u8,
    /// Absent on `--internal` networks: no route out.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gateway: Option<std::net::Ipv4Addr>,
    pub mac: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub aliases: Vec<String>,
    /// The network's own DNS server (user-defined networks), which resolves container
    /// names and aliases.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dns_server: Option<std::net::Ipv4Addr>,
}

/// One published port: `host_ip:host_port -> container_port/proto`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct PortMapping {
    /// `0.0.0.0` for every address of the host.
    pub host_ip: std::net::Ipv4Addr,
    pub host_port: u16,
    pub container_port: u16,
    /// `tcp` or `udp`.
    pub proto: String,
}

impl std::fmt::Display for PortMapping {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{}:{} -> {}/{}",
            self.host_ip, self.host_port, self.container_port, self.proto
        )
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

    fn with(version: &str, container: &str) -> String {
        format!(
            r#"{{"version":{version},"root":"/r","image":{{"id":"sha256:a","manifest":"sha256:b",
            "config":{{}},"layers":[]}}{container}}}"#
        )
    }

    #[test]
    fn versions_are_checked() {
        assert!(serde_json::from_str::<ContainerRecord>(&with("1", "")).is_ok());
        let err = serde_json::from_str::<ContainerRecord>(&with("99", "")).unwrap_err();
        assert!(
            err.to_string()
                .contains("record version 99 is newer than this berth (1)"),
            "{err}"
        );
        let err = serde_json::from_str::<ContainerRecord>(&with("0", "")).unwrap_err();
        assert!(err.to_string().contains("record version 0"), "{err}");
        assert_eq!(check_version(2), Err(VersionError::Newer(2)));
    }

    #[test]
    fn container_ids_are_checked() {
        let id = "a".repeat(64);
        let good = with(
            "1",
            &format!(r#","container":{{"id":"{id}","name":"/web","created":"t"}}"#),
        );
        let record: ContainerRecord = serde_json::from_str(&good).unwrap();
        let container = record.container.unwrap();
        assert_eq!(container.id.short(), "aaaaaaaaaaaa");
        assert_eq!(container.name.unwrap(), "web");
        for bad in ["abc", "../x", "../../x"] {
            let text = with(
                "1",
                &format!(r#","container":{{"id":"{bad}","created":"t"}}"#),
            );
            let err = serde_json::from_str::<ContainerRecord>(&text).unwrap_err();
            assert!(
                err.to_string()
                    .contains(&format!("invalid container id {bad:?}")),
                "{err}"
            );
        }
    }
}
