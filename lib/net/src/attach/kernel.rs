//! The kernel side of an attachment, behind one narrow trait: what attach and detach ask
//! of netlink and nftables. The host's implementation is the real one; the unit tests give
//! a recording fake, so the undo of a half-made attachment is tested without root.

use std::net::Ipv4Addr;
use std::path::Path;

use berth_common::PortMapping;

use crate::error::{NetError, Result};
use crate::netlink::Netlink;
use crate::network::NetworkDef;

/// Each step of an attachment that the kernel does; every method is one step, so a
/// failure between two of them leaves a state the undo knows.
pub(crate) trait Kernel {
    /// The network's bridge, made or repaired (host-wide); its ifindex.
    fn ensure_bridge(&mut self, def: &NetworkDef) -> Result<u32>;
    /// Every host port the nftables `table` publishes, for any root sharing it.
    fn published(&mut self, table: &str) -> Result<Vec<PortMapping>>;
    /// The veth pair: `host` on `bridge`, its peer `ifname` in the namespace at `netns`.
    fn create_veth(
        &mut self,
        host: &str,
        ifname: &str,
        netns: &Path,
        mtu: u32,
        mac: [u8; 6],
        bridge: u32,
    ) -> Result<()>;
    /// Inside the namespace: the address on `ifname`, the link up, and the default route
    /// through `gateway` if given (one already there is kept).
    fn configure(
        &mut self,
        netns: &Path,
        ifname: &str,
        ip: Ipv4Addr,
        prefix: u8,
        gateway: Option<Ipv4Addr>,
    ) -> Result<()>;
    /// The DNAT elements publishing `ports` to `ip`.
    fn add_ports(&mut self, table: &str, ip: Ipv4Addr, ports: &[PortMapping]) -> Result<()>;
    /// Removes those elements; ones already gone are no error.
    fn remove_ports(&mut self, table: &str, ports: &[PortMapping]) -> Result<()>;
    /// Deletes the host end of a veth (its peer goes with it); a link already gone is no
    /// error.
    fn delete_link(&mut self, name: &str) -> Result<()>;
}

/// The host's kernel: rtnetlink sockets (the host's, opened once when first needed, and
/// one in the container's namespace) and berth's nftables table.
#[derive(Default)]
pub(crate) struct HostKernel {
    host: Option<Netlink>,
}

impl HostKernel {
    fn host(&mut self) -> Result<&mut Netlink> {
        if self.host.is_none() {
            self.host = Some(Netlink::open()?);
        }
        Ok(self.host.as_mut().expect("opened above"))
    }
}

impl Kernel for HostKernel {
    fn ensure_bridge(&mut self, def: &NetworkDef) -> Result<u32> {
        crate::bridge::ensure(self.host()?, def)
    }

    fn published(&mut self, table: &str) -> Result<Vec<PortMapping>> {
        crate::nft::published(table)
    }

    fn create_veth(
        &mut self,
        host: &str,
        ifname: &str,
        netns: &Path,
        mtu: u32,
        mac: [u8; 6],
        bridge: u32,
    ) -> Result<()> {
        let netns = crate::netns::open(netns)?;
        let nl = self.host()?;
        nl.create_veth(
            host,
            ifname,
            std::os::fd::AsFd::as_fd(&netns),
            mtu,
            mac,
            bridge,
        )?;
        Ok(())
    }

    fn configure(
        &mut self,
        netns: &Path,
        ifname: &str,
        ip: Ipv4Addr,
        prefix: u8,
        gateway: Option<Ipv4Addr>,
    ) -> Result<()> {
        let mut inside = Netlink::open_in(netns)?;
        let link = inside.link(ifname)?.ok_or_else(|| NetError::LinkVanished {
            ifname: ifname.to_string(),
            netns: netns.to_path_buf(),
        })?;
        inside.add_address(link.index, ip, prefix)?;
        inside.set_up(link.index)?;
        berth_common::fault::point("net:address");
        if let Some(gw) = gateway {
            match inside.add_default_route(gw) {
                Err(e) if e.errno() == Some(libc::EEXIST) => {}
                other => other?,
            }
        }
        Ok(())
    }

    fn add_ports(&mut self, table: &str, ip: Ipv4Addr, ports: &[PortMapping]) -> Result<()> {
        crate::nft::add_ports(table, ip, ports)
    }

    fn remove_ports(&mut self, table: &str, ports: &[PortMapping]) -> Result<()> {
        crate::nft::remove_ports(table, ports)
    }

    fn delete_link(&mut self, name: &str) -> Result<()> {
        self.host()?.delete_link_by_name(name)?;
        Ok(())
    }
}
