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
//!
//! The handle is split by job: `socket` holds the [`Netlink`] socket and its request, ack and
//! dump plumbing (with the decoding of kernel errors and extended acks), `link` the links
//! (get, list, create bridge or veth, set up, delete), `addr` the addresses, `route` the
//! routes, and `error` the [`NetlinkError`] type.

mod addr;
mod error;
mod link;
mod route;
mod socket;
#[cfg(test)]
mod tests;

pub use error::NetlinkError;
pub use link::Link;
pub use socket::Netlink;
