//! berth-net's errors; each names the network, container, interface or file at fault.

use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum NetError {
    #[error("network {0} not found")]
    NoSuchNetwork(String),
    #[error("network with name {0} already exists")]
    NetworkExists(String),
    #[error("invalid network name {0:?}: letters, digits, '_', '.', '-' only, starting with a letter or digit")]
    BadNetworkName(String),
    #[error("error while removing network: network {name} has active endpoints ({containers})")]
    NetworkInUse { name: String, containers: String },
    #[error("{0} is a predefined network and cannot be removed")]
    Predefined(String),
    #[error("invalid {flag} {value:?}: {reason}")]
    Flag {
        flag: &'static str,
        value: String,
        reason: String,
    },
    #[error("subnet {subnet} overlaps {with}")]
    SubnetOverlap { subnet: String, with: String },
    #[error("no free subnet: every candidate overlaps a route of the host or another network (give one with --subnet)")]
    NoFreeSubnet,
    #[error("no free address left in network {network} ({subnet})")]
    AddressesExhausted { network: String, subnet: String },
    #[error("address {ip} is already in use on network {network}")]
    AddressInUse { ip: String, network: String },
    #[error("address {ip} is not in network {network}'s subnet {subnet}")]
    AddressOutside {
        ip: String,
        network: String,
        subnet: String,
    },
    #[error("Bind for {host_ip}:{port} failed: port is already allocated")]
    PortAllocated { host_ip: String, port: u16 },
    #[error(
        "cannot publish {host_ip}:{port}/{proto}: address already in use by a process of the host"
    )]
    PortInUse {
        host_ip: String,
        port: u16,
        proto: String,
    },
    #[error("no free host port for {0}")]
    NoFreePort(String),
    #[error("container {container} is already connected to network {network}")]
    AlreadyConnected { container: String, network: String },
    #[error("container {container} is not connected to network {network}")]
    NotConnected { container: String, network: String },
    #[error(
        "container {0} has no network namespace of its own (was it started with a bridge network?)"
    )]
    NoNetns(String),
    #[error("{0}")]
    Unsupported(String),
    #[error(transparent)]
    Nft(#[from] crate::nft::NftError),
    #[error(transparent)]
    Netlink(#[from] crate::netlink::NetlinkError),
    #[error(transparent)]
    Netns(#[from] crate::netns::NetnsError),
    #[error(transparent)]
    Dns(#[from] crate::dns::DnsError),
    #[error(transparent)]
    Lock(#[from] berth_common::LockError),
    /// The record has no container part yet (berth-mount makes it).
    #[error("container: the record has no container yet: pipe it through berth-mount first")]
    NoContainer,
    /// A network's bridge name is taken by a link of another kind.
    #[error("network {network}: {link} exists and is not a bridge ({kind})")]
    NotABridge {
        network: String,
        link: String,
        kind: String,
    },
    /// An interface made in a container's namespace was gone right after.
    #[error("container: {ifname} vanished from the container's namespace {}", netns.display())]
    LinkVanished { ifname: String, netns: PathBuf },
    /// Finding a container: no such container, an ambiguous prefix.
    #[error(transparent)]
    Registry(#[from] berth_common::registry::RegistryError),
    /// A container id that is not one.
    #[error(transparent)]
    Identity(#[from] berth_common::IdentityError),
    #[error("{op} {path}: {source}")]
    Io {
        op: &'static str,
        path: PathBuf,
        source: std::io::Error,
    },
    /// SIGINT, SIGTERM or SIGHUP came during the setup, which was undone.
    #[error("interrupted by signal {signal}: the network was not set up")]
    Interrupted { signal: i32 },
    /// Every failure of a teardown that went on after the first.
    #[error("{0}")]
    Many(berth_common::ErrorList<NetError>),
}

pub type Result<T, E = NetError> = std::result::Result<T, E>;

pub(crate) fn io_err(
    op: &'static str,
    path: impl Into<PathBuf>,
) -> impl FnOnce(std::io::Error) -> NetError {
    let path = path.into();
    move |source| NetError::Io { op, path, source }
}

/// A JSON state file that could not be written or read, as the crate's error.
impl From<berth_common::json_file::JsonFileError> for NetError {
    fn from(e: berth_common::json_file::JsonFileError) -> NetError {
        NetError::Io {
            op: e.op,
            path: e.path,
            source: e.source,
        }
    }
}

pub(crate) fn flag_err(flag: &'static str, value: &str, reason: impl Into<String>) -> NetError {
    NetError::Flag {
        flag,
        value: value.to_string(),
        reason: reason.into(),
    }
}

impl NetError {
    /// What kind of failure this is, for a caller that answers requests.
    pub fn kind(&self) -> berth_common::ErrorKind {
        use berth_common::ErrorKind;
        match self {
            NetError::NoSuchNetwork(_) => ErrorKind::NotFound,
            NetError::NetworkExists(_)
            | NetError::NetworkInUse { .. }
            | NetError::Predefined(_)
            | NetError::SubnetOverlap { .. }
            | NetError::AddressInUse { .. }
            | NetError::PortAllocated { .. }
            | NetError::PortInUse { .. }
            | NetError::AlreadyConnected { .. }
            | NetError::NotConnected { .. }
            | NetError::NotABridge { .. }
            | NetError::NoNetns(_) => ErrorKind::Conflict,
            NetError::BadNetworkName(_)
            | NetError::Flag { .. }
            | NetError::AddressOutside { .. }
            | NetError::NoContainer
            | NetError::Unsupported(_) => ErrorKind::InvalidInput,
            NetError::NoFreeSubnet
            | NetError::AddressesExhausted { .. }
            | NetError::NoFreePort(_)
            | NetError::Dns(_)
            | NetError::LinkVanished { .. }
            | NetError::Interrupted { .. }
            | NetError::Many(_) => ErrorKind::Internal,
            NetError::Nft(e) => e.kind(),
            NetError::Netlink(e) => e.kind(),
            NetError::Netns(e) => e.kind(),
            NetError::Registry(e) => e.kind(),
            NetError::Identity(_) => ErrorKind::InvalidInput,
            NetError::Lock(e) => e.kind(),
            NetError::Io { source, .. } => ErrorKind::of_io(source),
        }
    }
}

impl crate::netlink::NetlinkError {
    pub fn kind(&self) -> berth_common::ErrorKind {
        use crate::netlink::NetlinkError;
        use berth_common::ErrorKind;
        match self {
            NetlinkError::InvalidName { .. } => ErrorKind::InvalidInput,
            NetlinkError::Kernel { source, .. } | NetlinkError::Socket { source, .. } => {
                ErrorKind::of_io(source)
            }
            NetlinkError::Decode { .. } => ErrorKind::Internal,
            NetlinkError::Netns(e) => e.kind(),
        }
    }
}

impl crate::netns::NetnsError {
    pub fn kind(&self) -> berth_common::ErrorKind {
        use crate::netns::NetnsError;
        match self {
            NetnsError::Io { source, .. } => berth_common::ErrorKind::of_io(source),
            NetnsError::Loopback { .. } => berth_common::ErrorKind::Internal,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::request::{NetMode, NetRequest};
    use berth_common::registry::RegistryError;
    use berth_common::ErrorKind;

    #[test]
    fn a_caller_can_tell_not_found_from_invalid_from_conflict() {
        let cases: Vec<(NetError, ErrorKind)> = vec![
            (
                RegistryError::NotFound("web".into()).into(),
                ErrorKind::NotFound,
            ),
            (
                RegistryError::Ambiguous {
                    prefix: "a".into(),
                    count: 2,
                }
                .into(),
                ErrorKind::InvalidInput,
            ),
            (NetError::NoContainer, ErrorKind::InvalidInput),
            (
                NetError::NotABridge {
                    network: "front".into(),
                    link: "br-front".into(),
                    kind: "veth".into(),
                },
                ErrorKind::Conflict,
            ),
            (
                NetError::LinkVanished {
                    ifname: "eth0".into(),
                    netns: "/run/berth/netns/x".into(),
                },
                ErrorKind::Internal,
            ),
        ];
        for (error, kind) in cases {
            assert_eq!(error.kind(), kind, "{error}");
        }
        let error = NetError::NotABridge {
            network: "front".into(),
            link: "br-front".into(),
            kind: "veth".into(),
        };
        assert_eq!(
            error.to_string(),
            "network front: br-front exists and is not a bridge (veth)"
        );
    }

    #[test]
    fn a_container_mode_names_a_container_or_is_refused() {
        let mode = |network: &str| {
            NetRequest {
                network: network.into(),
                ..Default::default()
            }
            .mode()
        };
        match mode("container:web").unwrap() {
            NetMode::Container(reference) => assert_eq!(reference, "web"),
            other => panic!("{other:?}"),
        }
        for bad in ["container:../x", "container:a/b", "container:"] {
            let error = mode(bad).unwrap_err();
            assert!(matches!(error, NetError::Flag { .. }), "{bad}: {error}");
            assert_eq!(error.kind(), ErrorKind::InvalidInput);
        }
    }
}
