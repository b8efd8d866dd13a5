//! Address allocation: `<network dir>/ipam.json` maps each address in use to its
//! container. Read and written under the networks lock, so an address is never given
//! twice, also with many containers starting at once.

use std::collections::BTreeMap;
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};

use ipnet::Ipv4Net;

use crate::error::{io_err, NetError, Result};
use crate::network::NetworkDef;

type Allocations = BTreeMap<Ipv4Addr, String>;

fn path(network_dir: &Path) -> PathBuf {
    network_dir.join("ipam.json")
}

/// The last address given, so the next search starts after it: an address just released
/// is the last to be given again, while its old veth may still be on its way out.
fn last_path(network_dir: &Path) -> PathBuf {
    network_dir.join("ipam-last")
}

/// The first usable address of a subnet (the default gateway).
pub fn first_host(subnet: &Ipv4Net) -> Ipv4Addr {
    Ipv4Addr::from(u32::from(subnet.network()) + 1)
}

pub fn load(network_dir: &Path) -> Result<Allocations> {
    let path = path(network_dir);
    match std::fs::read(&path) {
        Ok(bytes) => serde_json::from_slice(&bytes)
            .map_err(|e| io_err("parsing", &path)(std::io::Error::other(e))),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Allocations::new()),
        Err(e) => Err(io_err("reading", path)(e)),
    }
}

fn save(network_dir: &Path, allocations: &Allocations) -> Result<()> {
    Ok(berth_common::json_file::write_atomic(
        &path(network_dir),
        allocations,
    )?)
}

/// Gives `container` an address: `requested` (`--ip`) if free, else the lowest free one.
pub fn allocate(
    def: &NetworkDef,
    network_dir: &Path,
    container: &str,
    requested: Option<Ipv4Addr>,
) -> Result<Ipv4Addr> {
    let mut allocations = load(network_dir)?;
    let subnet = def.subnet;
    let usable = |ip: Ipv4Addr| {
        subnet.contains(&ip)
            && ip != subnet.network()
            && ip != subnet.broadcast()
            && ip != def.gateway
    };
    let ip = match requested {
        Some(ip) if !usable(ip) => {
            return Err(NetError::AddressOutside {
                ip: ip.to_string(),
                network: def.name.clone(),
                subnet: subnet.to_string(),
            })
        }
        Some(ip) if allocations.contains_key(&ip) => {
            return Err(NetError::AddressInUse {
                ip: ip.to_string(),
                network: def.name.clone(),
            })
        }
        Some(ip) => ip,
        None => {
            let last = std::fs::read_to_string(last_path(network_dir))
                .ok()
                .and_then(|t| t.trim().parse::<Ipv4Addr>().ok())
                .filter(|ip| subnet.contains(ip));
            let pool = def.ip_range.unwrap_or(subnet);
            let (after, before): (Vec<Ipv4Addr>, Vec<Ipv4Addr>) = subnet
                .hosts()
                .filter(|ip| pool.contains(ip))
                .partition(|ip| last.is_some_and(|last| *ip > last));
            after
                .into_iter()
                .chain(before)
                .find(|ip| usable(*ip) && !allocations.contains_key(ip))
                .ok_or_else(|| NetError::AddressesExhausted {
                    network: def.name.clone(),
                    subnet: subnet.to_string(),
                })?
        }
    };
    allocations.insert(ip, container.to_string());
    save(network_dir, &allocations)?;
    let last = last_path(network_dir);
    std::fs::write(&last, ip.to_string()).map_err(io_err("writing", &last))?;
    Ok(ip)
}

/// Releases every address of `container`; the others stay.
pub fn release(network_dir: &Path, container: &str) -> Result<()> {
    let mut allocations = load(network_dir)?;
    let before = allocations.len();
    allocations.retain(|_, owner| owner != container);
    if allocations.len() != before {
        save(network_dir, &allocations)?;
    }
    Ok(())
}

/// Keeps only the allocations of containers `keep` says are still there (gc).
pub fn retain(network_dir: &Path, keep: impl Fn(&str) -> bool) -> Result<Vec<Ipv4Addr>> {
    let mut allocations = load(network_dir)?;
    let released: Vec<Ipv4Addr> = allocations
        .iter()
        .filter(|(_, owner)| !keep(owner))
        .map(|(ip, _)| *ip)
        .collect();
    if !released.is_empty() {
        allocations.retain(|_, owner| keep(owner));
        save(network_dir, &allocations)?;
    }
    Ok(released)
}

#[cfg(test)]
#[path = "ipam_tests.rs"]
mod tests;
