//! Links: get by name or index, list, create a bridge or a veth pair, set up, delete.

use std::fmt;
use std::os::fd::{AsRawFd, BorrowedFd};

use netlink_packet_core::{NLM_F_CREATE, NLM_F_ECHO, NLM_F_EXCL};
use netlink_packet_route::link::{
    InfoData, InfoKind, InfoVeth, LinkAttribute, LinkExtentMask, LinkFlags, LinkInfo, LinkMessage,
};
use netlink_packet_route::RouteNetlinkMessage;

use super::error::{decode, IfIndex, NetlinkError};
use super::Netlink;

/// `IFNAMSIZ - 1`: the longest interface name.
pub(super) const IFNAME_MAX: usize = 15;

/// A network interface as the kernel reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Link {
    pub index: u32,
    pub name: String,
    /// `IFLA_INFO_KIND`: "bridge", "veth", "dummy"… (`None` for physical devices and lo).
    pub kind: Option<String>,
    /// `IFLA_MASTER`: the index of the bridge (or bond) the link is attached to.
    pub master: Option<u32>,
    pub mtu: u32,
    /// Administratively up (`IFF_UP`).
    pub up: bool,
    /// The hardware address, when it is 6 bytes long.
    pub mac: Option<[u8; 6]>,
}

impl Link {
    fn from_message(msg: LinkMessage) -> Link {
        let mut link = Link {
            index: msg.header.index,
            name: String::new(),
            kind: None,
            master: None,
            mtu: 0,
            up: msg.header.flags.contains(LinkFlags::Up),
            mac: None,
        };
        for attr in msg.attributes {
            match attr {
                LinkAttribute::IfName(name) => link.name = name,
                LinkAttribute::Mtu(mtu) => link.mtu = mtu,
                LinkAttribute::Controller(master) if master != 0 => link.master = Some(master),
                LinkAttribute::Address(mac) => link.mac = <[u8; 6]>::try_from(mac.as_slice()).ok(),
                LinkAttribute::LinkInfo(infos) => {
                    for info in infos {
                        if let LinkInfo::Kind(kind) = info {
                            link.kind = Some(kind.to_string());
                        }
                    }
                }
                _ => {}
            }
        }
        link
    }
}

impl Netlink {
    /// The link named `name`, or `None` when there is none (ENODEV, or a name no link can
    /// have: empty or longer than 15 bytes). One get request, no dump.
    pub fn link(&mut self, name: &str) -> Result<Option<Link>, NetlinkError> {
        if name.is_empty() || name.len() > IFNAME_MAX {
            return Ok(None);
        }
        let mut msg = LinkMessage::default();
        msg.attributes.push(LinkAttribute::IfName(name.to_string()));
        msg.attributes
            .push(LinkAttribute::ExtMask(vec![LinkExtentMask::SkipStats]));
        self.get_link(msg, &name)
    }

    /// The link with index `index`, or `None` when there is none (ENODEV).
    pub fn link_by_index(&mut self, index: u32) -> Result<Option<Link>, NetlinkError> {
        let mut msg = LinkMessage::default();
        msg.header.index = index;
        msg.attributes
            .push(LinkAttribute::ExtMask(vec![LinkExtentMask::SkipStats]));
        self.get_link(msg, &IfIndex(index))
    }

    fn get_link(
        &mut self,
        msg: LinkMessage,
        object: &dyn fmt::Display,
    ) -> Result<Option<Link>, NetlinkError> {
        let mut found = None;
        let asked = self.request(
            RouteNetlinkMessage::GetLink(msg),
            0,
            "get link",
            object,
            |m| {
                if let RouteNetlinkMessage::NewLink(link) = m {
                    found = Some(Link::from_message(link));
                }
            },
        );
        match asked {
            Ok(_) => match found {
                Some(link) => Ok(Some(link)),
                None => Err(decode("get link", object, "no link in the reply")),
            },
            Err(e) if e.errno() == Some(libc::ENODEV) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Every link of the namespace (a dump).
    pub fn links(&mut self) -> Result<Vec<Link>, NetlinkError> {
        let mut msg = LinkMessage::default();
        msg.attributes
            .push(LinkAttribute::ExtMask(vec![LinkExtentMask::SkipStats]));
        let replies = self.dump(RouteNetlinkMessage::GetLink(msg), "dump links", &"")?;
        Ok(replies
            .into_iter()
            .filter_map(|m| match m {
                RouteNetlinkMessage::NewLink(link) => Some(Link::from_message(link)),
                _ => None,
            })
            .collect())
    }

    /// Creates bridge `name` (down, no address) with `mtu` (0: the kernel's default) and
    /// returns its index. An existing link of that name is an error (EEXIST).
    pub fn create_bridge(&mut self, name: &str, mtu: u32) -> Result<u32, NetlinkError> {
        check_name(name)?;
        let mut msg = LinkMessage::default();
        msg.attributes.push(LinkAttribute::IfName(name.to_string()));
        if mtu > 0 {
            msg.attributes.push(LinkAttribute::Mtu(mtu));
        }
        msg.attributes
            .push(LinkAttribute::LinkInfo(vec![LinkInfo::Kind(
                InfoKind::Bridge,
            )]));
        self.new_link(msg, name, "create bridge", &name)
    }

    /// Creates a veth pair. The host end `host_name` stays in this socket's namespace,
    /// attached to bridge `master` and up; the peer is created directly inside the namespace
    /// `peer_netns` (`IFLA_NET_NS_FD`) as `peer_name` (e.g. "eth0"), down, with MAC
    /// `peer_mac`. Both ends get `mtu` (0: the kernel's default). Returns the host end's index.
    pub fn create_veth(
        &mut self,
        host_name: &str,
        peer_name: &str,
        peer_netns: BorrowedFd,
        mtu: u32,
        peer_mac: [u8; 6],
        master: u32,
    ) -> Result<u32, NetlinkError> {
        check_name(host_name)?;
        check_name(peer_name)?;
        let mut peer = LinkMessage::default();
        peer.attributes
            .push(LinkAttribute::IfName(peer_name.to_string()));
        peer.attributes
            .push(LinkAttribute::Address(peer_mac.to_vec()));
        peer.attributes
            .push(LinkAttribute::NetNsFd(peer_netns.as_raw_fd()));
        let mut msg = LinkMessage::default();
        msg.header.flags = LinkFlags::Up;
        msg.header.change_mask = LinkFlags::Up;
        msg.attributes
            .push(LinkAttribute::IfName(host_name.to_string()));
        if mtu > 0 {
            msg.attributes.push(LinkAttribute::Mtu(mtu));
            peer.attributes.push(LinkAttribute::Mtu(mtu));
        }
        msg.attributes.push(LinkAttribute::Controller(master));
        msg.attributes.push(LinkAttribute::LinkInfo(vec![
            LinkInfo::Kind(InfoKind::Veth),
            LinkInfo::Data(InfoData::Veth(InfoVeth::Peer(peer))),
        ]));
        let object = format!("{host_name} (peer {peer_name}, master ifindex {master})");
        self.new_link(msg, host_name, "create veth", &object)
    }

    /// Sends an `RTM_NEWLINK` with CREATE|EXCL|ECHO and returns the new link's index, read
    /// from the echoed message (Linux ≥ 6.1) or, failing that, looked up by name.
    fn new_link(
        &mut self,
        msg: LinkMessage,
        name: &str,
        op: &'static str,
        object: &dyn fmt::Display,
    ) -> Result<u32, NetlinkError> {
        let mut index = None;
        let flags = NLM_F_CREATE | NLM_F_EXCL | NLM_F_ECHO;
        self.request(RouteNetlinkMessage::NewLink(msg), flags, op, object, |m| {
            if let RouteNetlinkMessage::NewLink(link) = m {
                let named = link
                    .attributes
                    .iter()
                    .any(|a| matches!(a, LinkAttribute::IfName(n) if n == name));
                if named && link.header.index != 0 {
                    index = Some(link.header.index);
                }
            }
        })?;
        match index {
            Some(index) => Ok(index),
            None => self
                .link(name)?
                .map(|l| l.index)
                .ok_or_else(|| decode(op, object, "the new link vanished")),
        }
    }

    /// Sets link `index` administratively up.
    pub fn set_up(&mut self, index: u32) -> Result<(), NetlinkError> {
        let mut msg = LinkMessage::default();
        msg.header.index = index;
        msg.header.flags = LinkFlags::Up;
        msg.header.change_mask = LinkFlags::Up;
        self.request(
            RouteNetlinkMessage::SetLink(msg),
            0,
            "set up link",
            &IfIndex(index),
            |_| {},
        )?;
        Ok(())
    }
    /// Deletes link `index` (for a veth, both ends go).
    pub fn delete_link(&mut self, index: u32) -> Result<(), NetlinkError> {
        let mut msg = LinkMessage::default();
        msg.header.index = index;
        self.request(
            RouteNetlinkMessage::DelLink(msg),
            0,
            "delete link",
            &IfIndex(index),
            |_| {},
        )?;
        Ok(())
    }

    /// Deletes link `name` (one request, by name); `Ok(false)` when there is no such link.
    pub fn delete_link_by_name(&mut self, name: &str) -> Result<bool, NetlinkError> {
        if name.is_empty() || name.len() > IFNAME_MAX {
            return Ok(false);
        }
        let mut msg = LinkMessage::default();
        msg.attributes.push(LinkAttribute::IfName(name.to_string()));
        match self.request(
            RouteNetlinkMessage::DelLink(msg),
            0,
            "delete link",
            &name,
            |_| {},
        ) {
            Ok(_) => Ok(true),
            Err(e) if e.errno() == Some(libc::ENODEV) => Ok(false),
            Err(e) => Err(e),
        }
    }
}

/// Checks `name` the way the kernel's `dev_valid_name` does, for a clear error before asking.
fn check_name(name: &str) -> Result<(), NetlinkError> {
    let reason = if name.is_empty() {
        "empty"
    } else if name.len() > IFNAME_MAX {
        "longer than 15 bytes"
    } else if name == "." || name == ".." {
        "reserved"
    } else if name
        .bytes()
        .any(|b| b == b'/' || b == b':' || b.is_ascii_whitespace())
    {
        "contains '/', ':' or whitespace"
    } else {
        return Ok(());
    };
    Err(NetlinkError::InvalidName {
        name: name.to_string(),
        reason,
    })
}
