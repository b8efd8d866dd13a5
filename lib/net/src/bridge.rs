//! A network's bridge on the host: made on first use (and again after a reboot), with the
//! gateway address, the network's nftables elements and the sysctls it needs.

use crate::error::{flag_err, io_err, Result};
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

/// The bridge's ifindex, making the bridge if it is not there. The caller holds the
/// networks lock.
pub fn ensure(nl: &mut Netlink, def: &NetworkDef) -> Result<u32> {
    if let Some(link) = nl.link(&def.bridge)? {
        return Ok(link.index);
    }
    let index = nl.create_bridge(&def.bridge, def.mtu)?;
    let made = (|| -> Result<()> {
        nl.add_address(index, def.gateway, def.subnet.prefix_len())?;
        // The host reaches published ports over 127.0.0.1: DNAT'd packets keep that source
        // until masquerade, and the kernel drops them on a non-loopback device otherwise.
        set_sysctl(&format!("net/ipv4/conf/{}/route_localnet", def.bridge), "1")?;
        nl.set_up(index)?;
        if !def.internal {
            enable_forwarding()?;
        }
        crate::nft::add_network(def)
    })();
    if let Err(e) = made {
        let _ = nl.delete_link(index);
        return Err(e);
    }
    tracing::info!(bridge = %def.bridge, subnet = %def.subnet, "bridge up");
    Ok(index)
}

/// Takes the bridge and the network's rules down.
pub fn remove(nl: &mut Netlink, def: &NetworkDef) -> Result<()> {
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

fn set_sysctl(key: &str, value: &str) -> Result<()> {
    let path = format!("/proc/sys/{key}");
    std::fs::write(&path, value).map_err(io_err("writing", path))
}
