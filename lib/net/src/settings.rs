//! Host-wide choices for a berth root: the default bridge's name and subnet and the
//! nftables table berth owns. Fixed into each network's definition when the network is
//! made, so teardown never depends on the environment of a later process.

use berth_common::paths::DEFAULT_ROOT;
use berth_common::Paths;
use ipnet::Ipv4Net;
use serde::{Deserialize, Serialize};

/// The default bridge network's name, as in Docker.
pub const DEFAULT_NETWORK: &str = "bridge";
pub const DEFAULT_BRIDGE: &str = "berth0";
pub const DEFAULT_TABLE: &str = "berth";

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct HostSettings {
    /// The default network's bridge; `None`: `berth0` for the default root, `berth` and
    /// 10 hex of the root's id for any other ([`default_bridge_for`]).
    pub default_bridge: Option<String>,
    /// The default network's subnet; `None`: the first of 172.18-31.0.0/16,
    /// 10.88-99.0.0/16 that no route of the host overlaps.
    pub default_subnet: Option<Ipv4Net>,
    /// The nftables table (family ip) that holds all of berth's rules.
    pub nft_table: String,
}

impl Default for HostSettings {
    fn default() -> Self {
        HostSettings {
            default_bridge: None,
            default_subnet: None,
            nft_table: DEFAULT_TABLE.into(),
        }
    }
}

impl HostSettings {
    /// The default network's bridge for the root at `paths`: the one asked for, else
    /// [`default_bridge_for`].
    pub fn default_bridge(&self, paths: &Paths) -> String {
        self.default_bridge
            .clone()
            .unwrap_or_else(|| default_bridge_for(paths))
    }
}

/// Each root's default network has a bridge of its own, so two roots never put two
/// subnets (and two IPAMs) on one link: the default root keeps Docker's-style `berth0`,
/// any other gets `berth` and 10 hex digits of its root id (15 bytes, the kernel's limit).
pub fn default_bridge_for(paths: &Paths) -> String {
    let default_root = berth_common::paths::normalise(std::path::Path::new(DEFAULT_ROOT));
    if berth_common::paths::normalise(paths.root()) == default_root {
        DEFAULT_BRIDGE.to_string()
    } else {
        format!("berth{}", &paths.root_id()[..10])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_root_gets_its_own_default_bridge() {
        let default = Paths::new("/var/lib/berth/", "/run/berth");
        assert_eq!(default_bridge_for(&default), "berth0");
        let a = Paths::new("/tmp/a", "/run/berth");
        let b = Paths::new("/tmp/b", "/run/berth");
        let (bridge_a, bridge_b) = (default_bridge_for(&a), default_bridge_for(&b));
        assert_ne!(bridge_a, bridge_b);
        assert_eq!(bridge_a, format!("berth{}", &a.root_id()[..10]));
        for bridge in [&bridge_a, &bridge_b] {
            crate::bridge::check_name(bridge).unwrap();
        }
        let asked = HostSettings {
            default_bridge: Some("br-test".into()),
            ..Default::default()
        };
        assert_eq!(asked.default_bridge(&a), "br-test");
        assert_eq!(HostSettings::default().default_bridge(&b), bridge_b);
    }
}
