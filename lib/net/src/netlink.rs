//! A small synchronous rtnetlink handle (the approach netavark found fastest): one blocking
//! `NETLINK_ROUTE` socket, one request at a time, replies read into one reused buffer until
//! the kernel's ACK (or `NLMSG_DONE` for a dump). Container network setup is a handful of
//! round trips of a few microseconds each, so there is no async runtime, no sleep and no dump
//! where a get-by-name suffices.
//!
//! Every request carries `NLM_F_ACK`; an `NLMSG_ERROR` reply becomes
//! [`NetlinkError::Kernel`], which names the operation and the object (interface name or
//! index, address) and keeps the errno (see [`NetlinkError::errno`]) and the kernel's extended
//! ack message when it gave one.

use std::fmt;
use std::io;
use std::net::{IpAddr, Ipv4Addr};
use std::os::fd::{AsRawFd, BorrowedFd};
use std::path::Path;

use netlink_packet_core::{
    NetlinkBuffer, NetlinkHeader, NetlinkMessage, NetlinkPayload, NLM_F_ACK, NLM_F_ACK_TLVS,
    NLM_F_CAPPED, NLM_F_CREATE, NLM_F_DUMP, NLM_F_DUMP_INTR, NLM_F_ECHO, NLM_F_EXCL, NLM_F_REQUEST,
};
use netlink_packet_route::address::{AddressAttribute, AddressMessage, AddressScope};
use netlink_packet_route::link::{
    InfoData, InfoKind, InfoVeth, LinkAttribute, LinkExtentMask, LinkFlags, LinkInfo, LinkMessage,
};
use netlink_packet_route::route::{
    RouteAddress, RouteAttribute, RouteHeader, RouteMessage, RouteProtocol, RouteScope, RouteType,
};
use netlink_packet_route::{AddressFamily, RouteNetlinkMessage};
use netlink_sys::{protocols::NETLINK_ROUTE, Socket, SocketAddr};

/// Size of the reused receive buffer. The kernel caps a dump datagram at 32 KiB; twice that
/// leaves room for a large single reply (a link with many attributes).
const RECV_BUF: usize = 64 * 1024;
/// `IFNAMSIZ - 1`: the longest interface name.
const IFNAME_MAX: usize = 15;
/// `NLMSGERR_ATTR_MSG`: the extended ack's message string.
const NLMSGERR_ATTR_MSG: u16 = 1;
/// How many times a dump interrupted by a concurrent change (`NLM_F_DUMP_INTR`) is retried.
const DUMP_TRIES: usize = 3;

/// Errors of the rtnetlink handle.
#[derive(Debug, thiserror::Error)]
pub enum NetlinkError {
    /// The kernel refused a request.
    #[error("{op} {object}: {source}{}", in_parens(detail))]
    Kernel {
        op: &'static str,
        object: String,
        source: io::Error,
        /// The kernel's extended ack message (e.g. "Attribute failed policy validation").
        detail: Option<String>,
    },
    /// The socket itself failed (open, bind, send, receive).
    #[error("netlink socket: {op}: {source}")]
    Socket { op: &'static str, source: io::Error },
    /// A reply could not be decoded, or lacked what the request must return.
    #[error("{op} {object}: bad reply from the kernel: {reason}")]
    Decode {
        op: &'static str,
        object: String,
        reason: String,
    },
    /// An interface name the kernel cannot take (empty, longer than 15 bytes, '/', ':' or
    /// whitespace).
    #[error("invalid interface name {name:?}: {reason}")]
    InvalidName { name: String, reason: &'static str },
    /// Joining the namespace to open a socket there failed.
    #[error(transparent)]
    Netns(#[from] crate::netns::NetnsError),
}

/// " (detail)", or nothing.
fn in_parens(detail: &Option<String>) -> String {
    detail
        .as_deref()
        .map(|d| format!(" ({d})"))
        .unwrap_or_default()
}

impl NetlinkError {
    /// The errno the kernel answered, for [`NetlinkError::Kernel`] (so callers can treat
    /// `EEXIST`, `ENODEV`… specially); `None` for the other variants.
    pub fn errno(&self) -> Option<i32> {
        match self {
            NetlinkError::Kernel { source, .. } => source.raw_os_error(),
            _ => None,
        }
    }
}

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

/// A blocking rtnetlink socket bound to the network namespace it was opened in.
pub struct Netlink {
    socket: Socket,
    seq: u32,
    send_buf: Vec<u8>,
    recv_buf: Vec<u8>,
}

impl fmt::Debug for Netlink {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Netlink")
            .field("fd", &self.socket.as_raw_fd())
            .field("seq", &self.seq)
            .finish()
    }
}

/// How a request ended.
struct Outcome {
    /// A dump reply carried `NLM_F_DUMP_INTR`: the set changed while it was read.
    interrupted: bool,
}

impl Netlink {
    /// A socket in the calling thread's current network namespace.
    pub fn open() -> Result<Netlink, NetlinkError> {
        let sock = |op| move |source| NetlinkError::Socket { op, source };
        let mut socket = Socket::new(NETLINK_ROUTE).map_err(sock("open"))?;
        socket.bind_auto().map_err(sock("bind"))?;
        socket
            .connect(&SocketAddr::new(0, 0))
            .map_err(sock("connect"))?;
        // Best effort, all of them: errors without the echoed request, the kernel's
        // explanation in them, and dumps filtered by the kernel (ifindex, table).
        let _ = socket.set_cap_ack(true);
        let _ = socket.set_ext_ack(true);
        let _ = socket.set_netlink_get_strict_chk(true);
        Ok(Netlink {
            socket,
            seq: 0,
            send_buf: Vec::with_capacity(1024),
            recv_buf: Vec::with_capacity(RECV_BUF),
        })
    }

    /// A socket in the network namespace at `netns_path`: opened on a thread that joined it
    /// (see [`crate::netns::run_in`]); the socket stays bound to that namespace.
    pub fn open_in(netns_path: &Path) -> Result<Netlink, NetlinkError> {
        crate::netns::run_in(netns_path, Netlink::open)?
    }

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

    /// A dump, retried when the kernel flags it interrupted by a concurrent change.
    fn dump(
        &mut self,
        msg: RouteNetlinkMessage,
        op: &'static str,
        object: &dyn fmt::Display,
    ) -> Result<Vec<RouteNetlinkMessage>, NetlinkError> {
        let mut tries = 0;
        loop {
            tries += 1;
            let mut replies = Vec::new();
            let outcome = self.request(msg.clone(), NLM_F_DUMP, op, object, |m| replies.push(m))?;
            if !outcome.interrupted || tries == DUMP_TRIES {
                return Ok(replies);
            }
            tracing::debug!(
                op,
                "netlink dump interrupted by a concurrent change, retrying"
            );
        }
    }

    /// Sends `msg` with `NLM_F_REQUEST|NLM_F_ACK|flags` and hands every reply message of the
    /// same sequence number to `each`, until the ACK (or `NLMSG_DONE` for a dump). A kernel
    /// error becomes [`NetlinkError::Kernel`] for `op` on `object`.
    fn request(
        &mut self,
        msg: RouteNetlinkMessage,
        flags: u16,
        op: &'static str,
        object: &dyn fmt::Display,
        mut each: impl FnMut(RouteNetlinkMessage),
    ) -> Result<Outcome, NetlinkError> {
        self.seq = self.seq.wrapping_add(1);
        let seq = self.seq;
        let mut header = NetlinkHeader::default();
        header.flags = NLM_F_REQUEST | NLM_F_ACK | flags;
        header.sequence_number = seq;
        let mut packet = NetlinkMessage::new(header, NetlinkPayload::from(msg));
        packet.finalize();
        let len = packet.buffer_len();
        self.send_buf.clear();
        self.send_buf.resize(len, 0);
        packet.serialize(&mut self.send_buf);
        loop {
            match self.socket.send(&self.send_buf, 0) {
                Ok(_) => break,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(source) => return Err(NetlinkError::Socket { op: "send", source }),
            }
        }

        let mut outcome = Outcome { interrupted: false };
        loop {
            self.recv_buf.clear();
            let received = loop {
                match self.socket.recv(&mut self.recv_buf, libc::MSG_TRUNC) {
                    Ok(n) => break n,
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                    Err(source) => {
                        return Err(NetlinkError::Socket {
                            op: "receive",
                            source,
                        })
                    }
                }
            };
            if received > self.recv_buf.len() {
                let reason =
                    format!("a reply of {received} bytes exceeds the {RECV_BUF}-byte buffer");
                return Err(decode(op, object, &reason));
            }
            let mut offset = 0;
            while offset < received {
                let bytes = &self.recv_buf[offset..received];
                let (msg_len, msg_seq, msg_flags) = match NetlinkBuffer::new_checked(bytes) {
                    Ok(b) => (b.length() as usize, b.sequence_number(), b.flags()),
                    Err(e) => return Err(decode(op, object, &e.to_string())),
                };
                offset += (msg_len + 3) & !3;
                if msg_seq != seq {
                    // A late reply to an earlier request that was abandoned on error.
                    continue;
                }
                let message = match NetlinkMessage::<RouteNetlinkMessage>::deserialize(bytes) {
                    Ok(m) => m,
                    Err(e) => {
                        let kind = NetlinkBuffer::new(bytes).message_type();
                        if kind == netlink_packet_core::NLMSG_ERROR
                            || kind == netlink_packet_core::NLMSG_DONE
                        {
                            return Err(decode(op, object, &e.to_string()));
                        }
                        // An attribute this crate cannot parse in one entry must not break
                        // a whole dump: skip the entry.
                        tracing::warn!(op, %object, error = %e, "skipping an undecodable netlink message");
                        continue;
                    }
                };
                if msg_flags & NLM_F_DUMP_INTR != 0 {
                    outcome.interrupted = true;
                }
                match message.payload {
                    NetlinkPayload::Error(err) => {
                        return match err.code {
                            None => Ok(outcome),
                            Some(code) => Err(NetlinkError::Kernel {
                                op,
                                object: object.to_string(),
                                source: io::Error::from_raw_os_error(code.get().abs()),
                                detail: ext_ack_message(msg_flags, &err.header),
                            }),
                        };
                    }
                    NetlinkPayload::Done(done) => {
                        return if done.code == 0 {
                            Ok(outcome)
                        } else {
                            Err(NetlinkError::Kernel {
                                op,
                                object: object.to_string(),
                                source: io::Error::from_raw_os_error(done.code.abs()),
                                detail: tlv_message(&done.extended_ack),
                            })
                        };
                    }
                    NetlinkPayload::InnerMessage(inner) => each(inner),
                    NetlinkPayload::Overrun(_) => {
                        return Err(decode(op, object, "the kernel reported an overrun"));
                    }
                    _ => {}
                }
            }
        }
    }
}

/// An interface index, displayed as "ifindex N".
struct IfIndex(u32);

impl fmt::Display for IfIndex {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ifindex {}", self.0)
    }
}

fn decode(op: &'static str, object: &dyn fmt::Display, reason: &str) -> NetlinkError {
    NetlinkError::Decode {
        op,
        object: object.to_string(),
        reason: reason.to_string(),
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

/// The extended ack message of an `NLMSG_ERROR` whose payload (after the error code) is
/// `payload`: the echoed request (only its header when `NLM_F_CAPPED`), then TLVs when
/// `NLM_F_ACK_TLVS`.
fn ext_ack_message(flags: u16, payload: &[u8]) -> Option<String> {
    if flags & NLM_F_ACK_TLVS == 0 || payload.len() < 16 {
        return None;
    }
    let echoed = if flags & NLM_F_CAPPED != 0 {
        16
    } else {
        u32::from_ne_bytes(payload[0..4].try_into().ok()?) as usize
    };
    tlv_message(payload.get((echoed + 3) & !3..)?)
}

/// `NLMSGERR_ATTR_MSG` among netlink TLVs.
fn tlv_message(mut tlvs: &[u8]) -> Option<String> {
    while tlvs.len() >= 4 {
        let len = usize::from(u16::from_ne_bytes([tlvs[0], tlvs[1]]));
        let kind = u16::from_ne_bytes([tlvs[2], tlvs[3]]) & 0x3fff;
        if len < 4 || len > tlvs.len() {
            return None;
        }
        if kind == NLMSGERR_ATTR_MSG {
            let value = &tlvs[4..len];
            let text = value.split(|&b| b == 0).next().unwrap_or_default();
            return Some(String::from_utf8_lossy(text).into_owned()).filter(|s| !s.is_empty());
        }
        tlvs = tlvs.get((len + 3) & !3..).unwrap_or_default();
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::netns;
    use std::net::UdpSocket;
    use std::os::fd::AsFd;
    use std::path::PathBuf;
    use std::sync::atomic::{AtomicU32, Ordering};
    use std::time::{Duration, Instant};

    static COUNTER: AtomicU32 = AtomicU32::new(0);

    /// A unique `bt` + 6 hex prefix for this test's objects (interface names stay ≤ 15 bytes
    /// with a suffix of up to 7).
    fn prefix() -> (String, u32) {
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        let id = (std::process::id().wrapping_mul(16) + n) & 0xff_ffff;
        (format!("bt{id:06x}"), id)
    }

    /// Deletes the host links and removes the namespaces a test made, even when it panics.
    struct Guard {
        dir: tempfile::TempDir,
        links: Vec<String>,
        netns: Vec<PathBuf>,
    }

    impl Guard {
        fn new() -> Guard {
            Guard {
                dir: tempfile::tempdir().expect("tempdir"),
                links: Vec::new(),
                netns: Vec::new(),
            }
        }

        /// Registers host link `name` for deletion and returns it.
        fn link(&mut self, name: String) -> String {
            assert!(name.starts_with("bt") && name.len() <= IFNAME_MAX, "{name}");
            self.links.push(name.clone());
            name
        }

        /// Creates a namespace under the temporary directory, removed on drop.
        fn netns(&mut self, name: &str) -> PathBuf {
            let path = self.dir.path().join(name);
            self.netns.push(path.clone());
            netns::create(&path).expect("create netns");
            path
        }
    }

    impl Drop for Guard {
        fn drop(&mut self) {
            if let Ok(mut nl) = Netlink::open() {
                for name in &self.links {
                    let _ = nl.delete_link_by_name(name);
                }
            }
            for path in &self.netns {
                let _ = netns::remove(path);
            }
        }
    }

    /// A /24 of 198.18.0.0/15 (benchmarking, RFC 2544) unique to `id` that overlaps no
    /// route of the host, as its first three octets.
    fn free_subnet(nl: &mut Netlink, id: u32) -> [u8; 3] {
        let routes = nl.routes().expect("routes");
        for step in 0..512u32 {
            let n = (id.wrapping_mul(7) + step * 61) % 512;
            let base = u32::from(Ipv4Addr::new(198, 18, 0, 0)) + (n << 8);
            let clash = routes.iter().any(|&(dst, len)| {
                let len = u32::from(len.min(24));
                len > 0 && (u32::from(dst) ^ base) >> (32 - len) == 0
            });
            if !clash {
                let [a, b, c, _] = Ipv4Addr::from(base).octets();
                return [a, b, c];
            }
        }
        panic!("no free /24 in 198.18.0.0/15");
    }

    #[test]
    fn netlink_bridge_address_and_errors() {
        let mut g = Guard::new();
        let (p, id) = prefix();
        let mut nl = Netlink::open().expect("open");
        let name = g.link(format!("{p}br"));
        let index = nl.create_bridge(&name, 1400).expect("bridge");
        let link = nl.link(&name).expect("get").expect("exists");
        assert_eq!(link.index, index);
        assert_eq!(link.kind.as_deref(), Some("bridge"));
        assert_eq!(link.mtu, 1400);
        assert!(!link.up);
        assert_eq!(
            nl.link_by_index(index).expect("by index"),
            Some(link.clone())
        );
        assert!(nl.links().expect("dump").iter().any(|l| l == &link));

        let [a, b, c] = free_subnet(&mut nl, id);
        let ip = Ipv4Addr::new(a, b, c, 1);
        nl.add_address(index, ip, 24).expect("address");
        assert_eq!(nl.addresses(index).expect("addresses"), vec![(ip, 24)]);
        let again = nl.add_address(index, ip, 24).expect_err("twice");
        assert_eq!(again.errno(), Some(libc::EEXIST));
        assert!(
            again
                .to_string()
                .contains(&format!("{ip}/24 on ifindex {index}")),
            "{again}"
        );
        nl.set_up(index).expect("up");
        assert!(nl.link_by_index(index).expect("get").expect("exists").up);
        assert!(nl
            .routes()
            .expect("routes")
            .contains(&(Ipv4Addr::new(a, b, c, 0), 24)));

        let twice = nl.create_bridge(&name, 1400).expect_err("twice");
        assert_eq!(twice.errno(), Some(libc::EEXIST));
        assert!(
            twice
                .to_string()
                .starts_with(&format!("create bridge {name}: ")),
            "{twice}"
        );
        let bad = nl
            .create_bridge("bt-much-too-long-name", 0)
            .expect_err("long");
        assert!(matches!(bad, NetlinkError::InvalidName { .. }), "{bad}");

        let missing = format!("{p}none");
        assert_eq!(nl.link(&missing).expect("get"), None);
        assert_eq!(nl.link("nonexistent").expect("get"), None);
        assert_eq!(nl.link_by_index(0x7fff_fff0).expect("get"), None);
        assert!(!nl.delete_link_by_name(&missing).expect("delete missing"));
        let gone = nl
            .delete_link(0x7fff_fff0)
            .expect_err("delete missing index");
        assert_eq!(gone.errno(), Some(libc::ENODEV));
        assert!(gone.to_string().contains("ifindex 2147483632"), "{gone}");

        assert!(nl.delete_link_by_name(&name).expect("delete"));
        assert_eq!(nl.link(&name).expect("get"), None);
        assert!(!nl
            .routes()
            .expect("routes")
            .contains(&(Ipv4Addr::new(a, b, c, 0), 24)));
    }

    #[test]
    fn netlink_veth_into_netns() {
        let mut g = Guard::new();
        let (p, id) = prefix();
        let mut host = Netlink::open().expect("open");
        let bridge_name = g.link(format!("{p}br"));
        let bridge = host.create_bridge(&bridge_name, 0).expect("bridge");
        let [a, b, c] = free_subnet(&mut host, id);
        let gateway = Ipv4Addr::new(a, b, c, 1);
        let ip = Ipv4Addr::new(a, b, c, 2);
        host.add_address(bridge, gateway, 24)
            .expect("bridge address");
        host.set_up(bridge).expect("bridge up");
        let ns = g.netns(&p);
        let host_name = g.link(format!("{p}h"));
        let mac = [0x02, 0x42, a, b, c, 2];

        let started = Instant::now();
        let fd = netns::open(&ns).expect("open netns");
        let host_index = host
            .create_veth(&host_name, "eth0", fd.as_fd(), 1450, mac, bridge)
            .expect("veth");
        let mut inside = Netlink::open_in(&ns).expect("open inside");
        let eth0 = inside.link("eth0").expect("get").expect("eth0 inside");
        inside
            .add_address(eth0.index, ip, 24)
            .expect("address inside");
        inside.set_up(eth0.index).expect("up inside");
        inside.add_default_route(gateway).expect("default route");
        let elapsed = started.elapsed();
        println!(
            "veth + open_in + address + up + default route: {} µs",
            elapsed.as_micros()
        );

        let host_end = host
            .link_by_index(host_index)
            .expect("get")
            .expect("host end");
        assert_eq!(host_end.name, host_name);
        assert_eq!(host_end.kind.as_deref(), Some("veth"));
        assert_eq!(host_end.master, Some(bridge));
        assert_eq!(host_end.mtu, 1450);
        assert!(host_end.up);
        let on_host = host.link("eth0").expect("get");
        assert!(
            on_host.is_none_or(|l| l.mac != Some(mac)),
            "the peer is not on the host"
        );

        let eth0 = inside.link("eth0").expect("get").expect("eth0");
        assert_eq!(eth0.mac, Some(mac));
        assert_eq!(eth0.mtu, 1450);
        assert_eq!(eth0.kind.as_deref(), Some("veth"));
        assert!(eth0.up);
        assert_eq!(
            inside.addresses(eth0.index).expect("addresses"),
            vec![(ip, 24)]
        );
        let routes = inside.routes().expect("routes inside");
        assert!(routes.contains(&(Ipv4Addr::UNSPECIFIED, 0)), "{routes:?}");
        assert!(
            routes.contains(&(Ipv4Addr::new(a, b, c, 0), 24)),
            "{routes:?}"
        );
        let twice = inside.add_default_route(gateway).expect_err("twice");
        assert_eq!(twice.errno(), Some(libc::EEXIST));
        let names: Vec<String> = inside
            .links()
            .expect("links")
            .into_iter()
            .map(|l| l.name)
            .collect();
        assert_eq!(names, ["lo", "eth0"]);

        // A datagram from inside the namespace reaches a socket bound to the bridge address.
        let listener = UdpSocket::bind((gateway, 0)).expect("bind on the bridge address");
        listener
            .set_read_timeout(Some(Duration::from_secs(5)))
            .expect("timeout");
        let target = listener.local_addr().expect("addr");
        netns::run_in(&ns, move || {
            let s = UdpSocket::bind((ip, 0)).expect("bind inside");
            s.send_to(b"berth", target).expect("send");
        })
        .expect("run_in");
        let mut buf = [0u8; 16];
        let (n, from) = listener
            .recv_from(&mut buf)
            .expect("datagram from the namespace");
        assert_eq!(&buf[..n], b"berth");
        assert_eq!(from.ip(), IpAddr::V4(ip));

        // Deleting the host end takes the peer with it.
        host.delete_link(host_index).expect("delete veth");
        assert_eq!(inside.link("eth0").expect("get"), None);
        assert_eq!(host.link(&host_name).expect("get"), None);
    }

    #[test]
    fn netlink_setup_timing() {
        const CONTAINERS: u32 = 8;
        let mut g = Guard::new();
        let (p, id) = prefix();
        let mut host = Netlink::open().expect("open");
        let bridge_name = g.link(format!("{p}br"));
        let bridge = host.create_bridge(&bridge_name, 0).expect("bridge");
        let [a, b, c] = free_subnet(&mut host, id);
        host.add_address(bridge, Ipv4Addr::new(a, b, c, 1), 24)
            .expect("bridge address");
        host.set_up(bridge).expect("bridge up");
        let (mut t_netns, mut t_veth, mut t_inside) =
            (Duration::ZERO, Duration::ZERO, Duration::ZERO);
        for i in 0..CONTAINERS {
            let i8 = u8::try_from(i).expect("small");
            let t0 = Instant::now();
            let ns = g.netns(&format!("{p}-{i}"));
            let t1 = Instant::now();
            let fd = netns::open(&ns).expect("open netns");
            let host_name = g.link(format!("{p}h{i}"));
            let mac = [0x02, 0x42, a, b, c, 10 + i8];
            host.create_veth(&host_name, "eth0", fd.as_fd(), 0, mac, bridge)
                .expect("veth");
            let t2 = Instant::now();
            let mut inside = Netlink::open_in(&ns).expect("open inside");
            let eth0 = inside.link("eth0").expect("get").expect("eth0");
            inside
                .add_address(eth0.index, Ipv4Addr::new(a, b, c, 10 + i8), 24)
                .expect("address");
            inside.set_up(eth0.index).expect("up");
            inside
                .add_default_route(Ipv4Addr::new(a, b, c, 1))
                .expect("route");
            let t3 = Instant::now();
            t_netns += t1 - t0;
            t_veth += t2 - t1;
            t_inside += t3 - t2;
        }
        let avg = |d: Duration| d.as_micros() / u128::from(CONTAINERS);
        println!(
            "per container over {CONTAINERS}: netns::create {} µs, create_veth {} µs, \
             open_in+link+address+up+route {} µs, total {} µs",
            avg(t_netns),
            avg(t_veth),
            avg(t_inside),
            avg(t_netns + t_veth + t_inside)
        );
        let links = host.links().expect("links");
        let ours = links.iter().filter(|l| l.master == Some(bridge)).count();
        assert_eq!(ours, CONTAINERS as usize);
    }

    #[test]
    fn netlink_guard_cleans_up_on_panic() {
        let (p, _) = prefix();
        let name = format!("{p}br");
        let made = std::sync::Mutex::new(None);
        let outcome = std::panic::catch_unwind(|| {
            let mut g = Guard::new();
            let ns = g.netns(&p);
            let bridge = g.link(name.clone());
            Netlink::open()
                .expect("open")
                .create_bridge(&bridge, 0)
                .expect("bridge");
            *made.lock().expect("lock") = Some(ns);
            panic!("test panic");
        });
        assert!(outcome.is_err());
        let ns = made.lock().expect("lock").take().expect("made");
        let mountinfo = std::fs::read_to_string("/proc/self/mountinfo").expect("mountinfo");
        assert!(
            !mountinfo.contains(ns.to_str().expect("utf-8")),
            "no mount left"
        );
        assert!(!ns.exists());
        assert_eq!(
            Netlink::open().expect("open").link(&name).expect("get"),
            None
        );
    }

    #[test]
    fn netlink_ext_ack_parsing() {
        // NLMSGERR_ATTR_MSG "bad thing\0" after a capped 16-byte header.
        let mut payload = vec![0u8; 16];
        let text = b"bad thing\0";
        payload.extend_from_slice(&u16::try_from(4 + text.len()).expect("len").to_ne_bytes());
        payload.extend_from_slice(&NLMSGERR_ATTR_MSG.to_ne_bytes());
        payload.extend_from_slice(text);
        payload.extend_from_slice(&[0, 0]);
        let flags = NLM_F_CAPPED | NLM_F_ACK_TLVS;
        assert_eq!(
            ext_ack_message(flags, &payload).as_deref(),
            Some("bad thing")
        );
        assert_eq!(ext_ack_message(NLM_F_CAPPED, &payload), None);
        assert_eq!(tlv_message(&[1, 0]), None);
    }
}
