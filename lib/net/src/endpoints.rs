//! The containers attached to a network, one JSON file each under
//! `<root>/networks/<network>/endpoints/<container-id>.json`. Written under the network's
//! lock by attach, removed by detach; read by the network's DNS server and by `gc`.

use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

/// What a network knows of one attached container.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct EndpointFile {
    pub container_id: String,
    /// The container's name, which other containers on the network resolve.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// `--network-alias` names, resolved like the name (several containers may share one).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub aliases: Vec<String>,
    pub ip: Ipv4Addr,
    /// The host end of the veth pair, so `gc` can tell berth's links from leftovers.
    pub host_veth: String,
    /// `--dns` servers of this container: where the network's DNS server forwards the
    /// names it does not know when this container asks. Empty: the host's resolvers.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub dns: Vec<Ipv4Addr>,
    /// Published ports of this container on this network (released by detach and gc).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ports: Vec<berth_common::PortMapping>,
}

pub fn dir(network_dir: &Path) -> PathBuf {
    network_dir.join("endpoints")
}

pub fn path(network_dir: &Path, container_id: &str) -> PathBuf {
    dir(network_dir).join(format!("{container_id}.json"))
}

/// Every endpoint file of a network; unreadable or foreign files are skipped.
pub fn list(network_dir: &Path) -> Vec<EndpointFile> {
    let Ok(entries) = std::fs::read_dir(dir(network_dir)) else {
        return Vec::new();
    };
    entries
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().ends_with(".json"))
        .filter_map(|e| std::fs::read(e.path()).ok())
        .filter_map(|bytes| serde_json::from_slice(&bytes).ok())
        .collect()
}
