//! The socket: one blocking `NETLINK_ROUTE` socket, one request at a time, replies read
//! into one reused buffer until the kernel's ACK (or `NLMSG_DONE` for a dump), kernel errors
//! decoded with their extended ack message.

use std::fmt;
use std::io;
use std::os::fd::AsRawFd;
use std::path::Path;

use netlink_packet_core::{
    NetlinkBuffer, NetlinkHeader, NetlinkMessage, NetlinkPayload, NLM_F_ACK, NLM_F_ACK_TLVS,
    NLM_F_CAPPED, NLM_F_DUMP, NLM_F_DUMP_INTR, NLM_F_REQUEST,
};
use netlink_packet_route::RouteNetlinkMessage;
use netlink_sys::{protocols::NETLINK_ROUTE, Socket, SocketAddr};

use super::error::{decode, NetlinkError};

/// Size of the reused receive buffer. The kernel caps a dump datagram at 32 KiB; twice that
/// leaves room for a large single reply (a link with many attributes).
const RECV_BUF: usize = 64 * 1024;
/// `NLMSGERR_ATTR_MSG`: the extended ack's message string.
pub(super) const NLMSGERR_ATTR_MSG: u16 = 1;
/// How many times a dump interrupted by a concurrent change (`NLM_F_DUMP_INTR`) is retried.
const DUMP_TRIES: usize = 3;

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
pub(super) struct Outcome {
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

    /// A dump, retried when the kernel flags it interrupted by a concurrent change.
    pub(super) fn dump(
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
    pub(super) fn request(
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

/// The extended ack message of an `NLMSG_ERROR` whose payload (after the error code) is
/// `payload`: the echoed request (only its header when `NLM_F_CAPPED`), then TLVs when
/// `NLM_F_ACK_TLVS`.
pub(super) fn ext_ack_message(flags: u16, payload: &[u8]) -> Option<String> {
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
pub(super) fn tlv_message(mut tlvs: &[u8]) -> Option<String> {
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
