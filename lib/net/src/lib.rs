//! Container networking the Docker way: a persistent network namespace per container, a
//! bridge per network with a veth pair per container, addresses from a persisted IPAM,
//! nftables rules in berth's own table for NAT, isolation and published ports, and a small
//! DNS server per user-defined network that resolves container names.

pub mod attach;
pub mod bridge;
pub mod dns;
pub mod dns_serve;
pub mod endpoints;
mod error;
pub mod gc;
pub mod ipam;
pub mod netlink;
pub mod netns;
pub mod network;
pub mod nft;
pub mod ports;
pub mod request;
pub mod settings;
pub mod subnet;

pub use attach::{connect, disconnect, down, force_delete_endpoint, setup, Context, DnsLauncher};
pub use error::{NetError, Result};
pub use network::{CreateRequest, NetworkDef};
pub use request::NetRequest;
pub use settings::HostSettings;
