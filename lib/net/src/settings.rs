//! Host-wide choices for a berth root: the default bridge's name and subnet and the
//! nftables table berth owns. Fixed into each network's definition when the network is
//! made, so teardown never depends on the environment of a later process.

use ipnet::Ipv4Net;
use serde::{Deserialize, Serialize};

/// The default bridge network's name, as in Docker.
pub const DEFAULT_NETWORK: &str = "bridge";
pub const DEFAULT_BRIDGE: &str = "berth0";
pub const DEFAULT_TABLE: &str = "berth";

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct HostSettings {
    /// The default network's bridge.
    pub default_bridge: String,
    /// The default network's subnet; `None`: the first of 172.18-31.0.0/16,
    /// 10.88-99.0.0/16 that no route of the host overlaps.
    pub default_subnet: Option<Ipv4Net>,
    /// The nftables table (family ip) that holds all of berth's rules.
    pub nft_table: String,
}

impl Default for HostSettings {
    fn default() -> Self {
        HostSettings {
            default_bridge: DEFAULT_BRIDGE.into(),
            default_subnet: None,
            nft_table: DEFAULT_TABLE.into(),
        }
    }
}
