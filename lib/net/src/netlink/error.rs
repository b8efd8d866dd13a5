//! [`NetlinkError`], and the helpers that name a failed request's object.

use std::fmt;
use std::io;

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

/// An interface index, displayed as "ifindex N".
pub(super) struct IfIndex(pub(super) u32);

impl fmt::Display for IfIndex {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ifindex {}", self.0)
    }
}

/// A [`NetlinkError::Decode`] for `op` on `object`.
pub(super) fn decode(op: &'static str, object: &dyn fmt::Display, reason: &str) -> NetlinkError {
    NetlinkError::Decode {
        op,
        object: object.to_string(),
        reason: reason.to_string(),
    }
}
