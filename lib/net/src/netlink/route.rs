//! IPv4 routes of the main table: add the default route, list.

use std::net::Ipv4Addr;

use netlink_packet_core::{NLM_F_CREATE, NLM_F_EXCL};
use netlink_packet_route::route::{
    RouteAddress, RouteAttribute, RouteHeader, RouteMessage, RouteProtocol, RouteScope, RouteType,
};
use netlink_packet_route::{AddressFamily, RouteNetlinkMessage};

use super::error::NetlinkError;
use super::Netlink;

impl Netlink {
    /// Adds the default route of the main table via `gateway`. An existing default route is
    /// an error (EEXIST).
    pub fn add_default_route(&mut self, gateway: Ipv4Addr) -> Result<(), NetlinkError> {
        let mut msg = RouteMessage::default();
        msg.header.address_family = AddressFamily::Inet;
        msg.header.destination_prefix_length = 0;
        msg.header.table = RouteHeader::RT_TABLE_MAIN;
        msg.header.protocol = RouteProtocol::Boot;
        msg.header.scope = RouteScope::Universe;
        msg.header.kind = RouteType::Unicast;
        msg.attributes
            .push(RouteAttribute::Gateway(RouteAddress::Inet(gateway)));
        let flags = NLM_F_CREATE | NLM_F_EXCL;
        let object = format!("via {gateway}");
        self.request(
            RouteNetlinkMessage::NewRoute(msg),
            flags,
            "add default route",
            &object,
            |_| {},
        )?;
        Ok(())
    }

    /// The IPv4 routes of the main table as (destination, prefix length), the default route
    /// (0.0.0.0/0) included — used to choose subnets that do not collide with the host's.
    pub fn routes(&mut self) -> Result<Vec<(Ipv4Addr, u8)>, NetlinkError> {
        let mut msg = RouteMessage::default();
        msg.header.address_family = AddressFamily::Inet;
        // With strict checking the kernel dumps only this table.
        msg.header.table = RouteHeader::RT_TABLE_MAIN;
        let replies = self.dump(RouteNetlinkMessage::GetRoute(msg), "dump routes", &"")?;
        let mut out = Vec::new();
        for reply in replies {
            let RouteNetlinkMessage::NewRoute(r) = reply else {
                continue;
            };
            if r.header.address_family != AddressFamily::Inet {
                continue;
            }
            let mut table = u32::from(r.header.table);
            let mut destination = Ipv4Addr::UNSPECIFIED;
            for attr in &r.attributes {
                match attr {
                    RouteAttribute::Table(t) => table = *t,
                    RouteAttribute::Destination(RouteAddress::Inet(ip)) => destination = *ip,
                    _ => {}
                }
            }
            if table == u32::from(RouteHeader::RT_TABLE_MAIN) {
                out.push((destination, r.header.destination_prefix_length));
            }
        }
        Ok(out)
    }
}
