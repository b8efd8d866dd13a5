//! A network's bridge on the host: made on first use (and again after a reboot), with the
//! gateway address, the network's nftables elements and the sysctls it needs; repaired
//! when it exists, since a bridge is host-wide and another root may have made it.

use crate::error::{flag_err, io_err, NetError, Result};
use crate::netlink::Netlink;
use crate::network::NetworkDef;

/// Interface names: at most 15 bytes, no '/', no whitespace, not `.` or `..`.
pub fn check_name(name: &str) -> Result<()> {
    if name.is_empty()
        || name.len() > 15
        || name == "."
        || name == ".."
        || name
            .chars()
            .any(|c| c == '/' || c == ':' || c.is_whitespace())
    {
        return Err(flag_err(
            "bridge name",
            name,
            "an interface name of 1-15 characters without '/', ':' or spaces",
        ));
    }
    Ok(())
}

/// The bridge's ifindex, making the bridge if it is not there and repairing it if it is:
/// a bridge is host-wide (made by another root, or by this one before a reboot or a hand
/// edit), so its gateway address, its sysctls, its state and its nftables elements are
/// checked each time, never assumed. The caller holds the networks lock.
pub fn ensure(nl: &mut Netlink, def: &NetworkDef) -> Result<u32> {
    match nl.link(&def.bridge)? {
        Some(link) if link.kind.as_deref() == Some("bridge") => {
            repair(nl, def, link.index, link.up)?;
            Ok(link.index)
        }
        Some(link) => Err(NetError::NotABridge {
            network: def.name.clone(),
            link: def.bridge.clone(),
            kind: link.kind.unwrap_or_else(|| "no kind".into()),
        }),
        None => make(nl, def),
    }
}

fn make(nl: &mut Netlink, def: &NetworkDef) -> Result<u32> {
    let index = nl.create_bridge(&def.bridge, def.mtu)?;
    let made = (|| -> Result<()> {
        nl.add_address(index, def.gateway, def.subnet.prefix_len())?;
        configure(nl, def, index, false)?;
        crate::nft::add_network(def)
    })();
    if let Err(e) = made {
        let _ = nl.delete_link(index);
        return Err(e);
    }
    tracing::info!(bridge = %def.bridge, subnet = %def.subnet, "bridge up");
    Ok(index)
}

/// An existing bridge: adds this network's gateway address if it lacks it (and then its
/// nftables elements, which a bridge without the address cannot have been given for this
/// network), and sets its sysctls and state again. The checks are netlink and /proc reads,
/// so a container start pays no `nft` exec unless something was missing.
fn repair(nl: &mut Netlink, def: &NetworkDef, index: u32, up: bool) -> Result<()> {
    let has_gateway = nl
        .addresses(index)?
        .iter()
        .any(|&(ip, prefix)| ip == def.gateway && prefix == def.subnet.prefix_len());
    if !has_gateway {
        tracing::info!(bridge = %def.bridge, gateway = %def.gateway, "bridge lacked the network's gateway: adding it");
        nl.add_address(index, def.gateway, def.subnet.prefix_len())?;
    }
    configure(nl, def, index, up)?;
    if !has_gateway {
        crate::nft::add_network(def)?;
    }
    Ok(())
}

fn configure(nl: &mut Netlink, def: &NetworkDef, index: u32, up: bool) -> Result<()> {
    // The host reaches published ports over 127.0.0.1: DNAT'd packets keep that source
    // until masquerade, and the kernel drops them on a non-loopback device otherwise.
    ensure_sysctl(&format!("net/ipv4/conf/{}/route_localnet", def.bridge), "1")?;
    if !up {
        nl.set_up(index)?;
    }
    if !def.internal {
        enable_forwarding()?;
    }
    Ok(())
}

/// Takes the network off its bridge: its rules, its address, and the bridge itself unless
/// another network (of another root) still has an address on it.
pub fn remove(nl: &mut Netlink, def: &NetworkDef) -> Result<()> {
    let Some(link) = nl.link(&def.bridge)? else {
        return crate::nft::remove_network(def);
    };
    let shared = nl
        .addresses(link.index)?
        .iter()
        .any(|&(ip, _)| ip != def.gateway);
    if shared {
        tracing::info!(bridge = %def.bridge, "bridge kept: another network has an address on it");
        crate::nft::remove_subnet(def)?;
        nl.delete_address(link.index, def.gateway, def.subnet.prefix_len())?;
        return Ok(());
    }
    crate::nft::remove_network(def)?;
    nl.delete_link_by_name(&def.bridge)?;
    Ok(())
}

/// Routing between the bridge and the world needs IPv4 forwarding, which Docker turns on
/// the same way.
fn enable_forwarding() -> Result<()> {
    let path = "/proc/sys/net/ipv4/ip_forward";
    let on = std::fs::read_to_string(path).map_err(io_err("reading", path))?;
    if on.trim() != "1" {
        tracing::info!("turning on net.ipv4.ip_forward");
        std::fs::write(path, "1").map_err(io_err("writing", path))?;
    }
    Ok(())
}

fn ensure_sysctl(key: &str, value: &str) -> Result<()> {
    let path = format!("/proc/sys/{key}");
    let now = std::fs::read_to_string(&path).map_err(io_err("reading", &path))?;
    if now.trim() == value {
        return Ok(());
    }
    std::fs::write(&path, value).map_err(io_err("writing", path))
}
