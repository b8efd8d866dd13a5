//! Network definitions: `<root>/networks/<name>/network.json`, made by `create` (or on
//! first use, for the default `bridge` network) and removed by `remove`. One lock
//! (`<root>/locks/networks.lock`) serialises every change to networks, their address
//! allocations and their endpoints, so concurrent containers never race.

use std::collections::BTreeMap;
use std::net::Ipv4Addr;
use std::path::PathBuf;

use berth_common::{FileLock, LockMode, Paths};
use ipnet::Ipv4Net;
use serde::{Deserialize, Serialize};

use crate::error::{io_err, NetError, Result};
use crate::settings::{HostSettings, DEFAULT_NETWORK};

pub const DEFAULT_MTU: u32 = 1500;
/// Option naming the bridge, as Docker's `-o com.docker.network.bridge.name=`.
pub const BRIDGE_NAME_OPTION: &str = "com.docker.network.bridge.name";

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct NetworkDef {
    pub name: String,
    /// 64 hex digits.
    pub id: String,
    pub driver: String,
    pub bridge: String,
    pub subnet: Ipv4Net,
    pub gateway: Ipv4Addr,
    /// Where automatic addresses come from (Docker's `--ip-range`); the whole subnet when
    /// absent. `--ip` may still ask for any address of the subnet.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ip_range: Option<Ipv4Net>,
    /// No route out, no NAT, no traffic to or from other networks.
    #[serde(default)]
    pub internal: bool,
    pub mtu: u32,
    /// The nftables table holding this network's rules.
    pub nft_table: String,
    /// Containers resolve each other's names through the network's DNS server
    /// (user-defined networks, as in Docker; not the default bridge).
    #[serde(default)]
    pub dns: bool,
    pub created: String,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub options: BTreeMap<String, String>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub labels: BTreeMap<String, String>,
}

/// What `create` is asked for.
#[derive(Debug, Clone, Default)]
pub struct CreateRequest {
    pub name: String,
    pub subnet: Option<Ipv4Net>,
    pub gateway: Option<Ipv4Addr>,
    pub ip_range: Option<Ipv4Net>,
    pub internal: bool,
    pub options: BTreeMap<String, String>,
    pub labels: BTreeMap<String, String>,
}

/// The lock every network change is made under.
pub fn lock(paths: &Paths) -> Result<FileLock> {
    Ok(FileLock::acquire(&lock_path(paths), LockMode::Exclusive)?)
}

pub fn lock_path(paths: &Paths) -> PathBuf {
    paths.locks().join("networks.lock")
}

pub fn dir(paths: &Paths, name: &str) -> PathBuf {
    paths.networks().join(name)
}

fn def_path(paths: &Paths, name: &str) -> PathBuf {
    dir(paths, name).join("network.json")
}

/// Every network of the root, by name.
pub fn list(paths: &Paths) -> Result<Vec<NetworkDef>> {
    let root = paths.networks();
    let entries = match std::fs::read_dir(&root) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(io_err("reading", root)(e)),
    };
    let mut defs = Vec::new();
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        if let Some(def) = read(paths, &name)? {
            defs.push(def);
        }
    }
    defs.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(defs)
}

fn read(paths: &Paths, name: &str) -> Result<Option<NetworkDef>> {
    berth_common::json_file::read_if_exists(&def_path(paths, name))
        .map_err(|e| io_err(e.op, e.path)(e.source))
}

/// A network by name, full ID or unique ID prefix (as docker resolves them).
pub fn find(paths: &Paths, reference: &str) -> Result<NetworkDef> {
    if valid_name(reference) {
        if let Some(def) = read(paths, reference)? {
            return Ok(def);
        }
    }
    let matches: Vec<NetworkDef> = list(paths)?
        .into_iter()
        .filter(|d| !reference.is_empty() && d.id.starts_with(reference))
        .collect();
    match matches.len() {
        1 => Ok(matches.into_iter().next().expect("one match")),
        _ => Err(NetError::NoSuchNetwork(reference.to_string())),
    }
}

fn write(paths: &Paths, def: &NetworkDef) -> Result<()> {
    let dir = dir(paths, &def.name);
    std::fs::create_dir_all(&dir).map_err(io_err("creating", &dir))?;
    Ok(berth_common::json_file::write_atomic(
        &def_path(paths, &def.name),
        def,
    )?)
}

/// Docker's rule for names: `[a-zA-Z0-9][a-zA-Z0-9_.-]*`.
pub fn valid_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphanumeric())
        && chars.all(|c| c.is_ascii_alphanumeric() || "_.-".contains(c))
        && name.len() <= 128
}

/// Names that are modes, not networks.
pub fn is_predefined(name: &str) -> bool {
    matches!(name, "bridge" | "host" | "none" | "default")
}

/// Makes a network; the caller holds the lock. The bridge itself is made by
/// [`crate::bridge::ensure`].
pub fn define(
    paths: &Paths,
    settings: &HostSettings,
    request: &CreateRequest,
) -> Result<NetworkDef> {
    if !valid_name(&request.name) {
        return Err(NetError::BadNetworkName(request.name.clone()));
    }
    if read(paths, &request.name)?.is_some() {
        return Err(NetError::NetworkExists(request.name.clone()));
    }
    let others = list(paths)?;
    let subnet = match request.subnet {
        Some(subnet) => {
            let subnet = subnet.trunc();
            if let Some(other) = others
                .iter()
                .find(|o| crate::subnet::overlaps(&o.subnet, &subnet))
            {
                return Err(NetError::SubnetOverlap {
                    subnet: subnet.to_string(),
                    with: format!("network {} ({})", other.name, other.subnet),
                });
            }
            subnet
        }
        None => {
            let taken: Vec<Ipv4Net> = others.iter().map(|o| o.subnet).collect();
            crate::subnet::choose(&taken)?
        }
    };
    if subnet.prefix_len() > 30 {
        return Err(crate::error::flag_err(
            "--subnet",
            &subnet.to_string(),
            "too small: a /30 or larger is needed",
        ));
    }
    let gateway = match request.gateway {
        Some(gw) if !subnet.contains(&gw) || gw == subnet.network() || gw == subnet.broadcast() => {
            return Err(crate::error::flag_err(
                "--gateway",
                &gw.to_string(),
                format!("not a host address of {subnet}"),
            ));
        }
        Some(gw) => gw,
        None => crate::ipam::first_host(&subnet),
    };
    if let Some(range) = request.ip_range {
        if range.prefix_len() < subnet.prefix_len() || !subnet.contains(&range.network()) {
            return Err(crate::error::flag_err(
                "--ip-range",
                &range.to_string(),
                format!("not within the subnet {subnet}"),
            ));
        }
    }
    let id = berth_common::units::random_id();
    let bridge = match request.options.get(BRIDGE_NAME_OPTION) {
        Some(name) => {
            crate::bridge::check_name(name)?;
            name.clone()
        }
        None if request.name == DEFAULT_NETWORK => {
            let bridge = settings.default_bridge(paths);
            crate::bridge::check_name(&bridge)?;
            bridge
        }
        None => format!("berth-{}", &id[..9]),
    };
    if let Some(other) = others.iter().find(|o| o.bridge == bridge) {
        return Err(crate::error::flag_err(
            "bridge name",
            &bridge,
            format!("used by network {}", other.name),
        ));
    }
    let def = NetworkDef {
        name: request.name.clone(),
        id,
        driver: "bridge".into(),
        bridge,
        subnet,
        gateway,
        ip_range: request.ip_range.map(|r| r.trunc()),
        internal: request.internal,
        mtu: DEFAULT_MTU,
        nft_table: settings.nft_table.clone(),
        dns: request.name != DEFAULT_NETWORK,
        created: humantime::format_rfc3339_nanos(std::time::SystemTime::now()).to_string(),
        options: request.options.clone(),
        labels: request.labels.clone(),
    };
    write(paths, &def)?;
    Ok(def)
}

/// The default `bridge` network, defined on first use from the host settings.
pub fn default_network(paths: &Paths, settings: &HostSettings) -> Result<NetworkDef> {
    if let Some(def) = read(paths, DEFAULT_NETWORK)? {
        return Ok(def);
    }
    define(
        paths,
        settings,
        &CreateRequest {
            name: DEFAULT_NETWORK.into(),
            subnet: settings.default_subnet,
            ..Default::default()
        },
    )
}

/// Forgets a network's definition and allocations; the caller has taken its bridge and
/// rules down and holds the lock.
pub fn forget(paths: &Paths, def: &NetworkDef) -> Result<()> {
    let dir = dir(paths, &def.name);
    std::fs::remove_dir_all(&dir).map_err(io_err("removing", dir))
}

pub fn network_dir(paths: &Paths, def: &NetworkDef) -> PathBuf {
    dir(paths, &def.name)
}
