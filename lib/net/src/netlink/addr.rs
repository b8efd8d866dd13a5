//! IPv4 addresses of a link: add, list, delete.

use std::net::{IpAddr, Ipv4Addr};

use netlink_packet_core::{NLM_F_CREATE, NLM_F_EXCL};
use netlink_packet_route::address::{AddressAttribute, AddressMessage, AddressScope};
use netlink_packet_route::{AddressFamily, RouteNetlinkMessage};

use super::error::{IfIndex, NetlinkError};
use super::Netlink;

impl Netlink {
    /// Adds `addr/prefix` to link `index` (`IFA_LOCAL` and `IFA_ADDRESS`, plus the broadcast
    /// address for prefixes up to /30). An address already there is an error (EEXIST).
    pub fn add_address(
        &mut self,
        index: u32,
        addr: Ipv4Addr,
        prefix: u8,
    ) -> Result<(), NetlinkError> {
        let mut msg = AddressMessage::default();
        msg.header.family = AddressFamily::Inet;
        msg.header.prefix_len = prefix;
        msg.header.scope = AddressScope::Universe;
        msg.header.index = index;
        msg.attributes
            .push(AddressAttribute::Local(IpAddr::V4(addr)));
        msg.attributes
            .push(AddressAttribute::Address(IpAddr::V4(addr)));
        if (1..=30).contains(&prefix) {
            let host_bits = u32::MAX >> prefix;
            let broadcast = Ipv4Addr::from(u32::from(addr) | host_bits);
            msg.attributes.push(AddressAttribute::Broadcast(broadcast));
        }
        let flags = NLM_F_CREATE | NLM_F_EXCL;
        let object = format!("{addr}/{prefix} on ifindex {index}");
        self.request(
            RouteNetlinkMessage::NewAddress(msg),
            flags,
            "add address",
            &object,
            |_| {},
        )?;
        Ok(())
    }

    /// Removes `addr/prefix` from link `index`; an address already gone is not an error.
    pub fn delete_address(
        &mut self,
        index: u32,
        addr: Ipv4Addr,
        prefix: u8,
    ) -> Result<(), NetlinkError> {
        let mut msg = AddressMessage::default();
        msg.header.family = AddressFamily::Inet;
        msg.header.prefix_len = prefix;
        msg.header.index = index;
        msg.attributes
            .push(AddressAttribute::Local(IpAddr::V4(addr)));
        let object = format!("{addr}/{prefix} on ifindex {index}");
        match self.request(
            RouteNetlinkMessage::DelAddress(msg),
            0,
            "delete address",
            &object,
            |_| {},
        ) {
            Err(e) if e.errno() == Some(libc::EADDRNOTAVAIL) => Ok(()),
            other => other.map(|_| ()),
        }
    }

    /// The IPv4 addresses of link `index`, as (address, prefix length).
    pub fn addresses(&mut self, index: u32) -> Result<Vec<(Ipv4Addr, u8)>, NetlinkError> {
        let mut msg = AddressMessage::default();
        msg.header.family = AddressFamily::Inet;
        // With strict checking the kernel filters by index; the filter below is for kernels
        // without it.
        msg.header.index = index;
        let replies = self.dump(
            RouteNetlinkMessage::GetAddress(msg),
            "dump addresses of",
            &IfIndex(index),
        )?;
        let mut out = Vec::new();
        for reply in replies {
            let RouteNetlinkMessage::NewAddress(a) = reply else {
                continue;
            };
            if a.header.index != index || a.header.family != AddressFamily::Inet {
                continue;
            }
            let mut local = None;
            let mut address = None;
            for attr in &a.attributes {
                match attr {
                    AddressAttribute::Local(IpAddr::V4(ip)) => local = Some(*ip),
                    AddressAttribute::Address(IpAddr::V4(ip)) => address = Some(*ip),
                    _ => {}
                }
            }
            if let Some(ip) = local.or(address) {
                out.push((ip, a.header.prefix_len));
            }
        }
        Ok(out)
    }
}
