//! Networks as docker shows them: the user's and berth's default `bridge` from their
//! definitions and endpoint files, and the builtin `host` and `none`, which have no
//! definition (they are modes of a container, not objects of the store).

use berth_common::Paths;
use berth_net::endpoints;
use berth_net::network::{self, NetworkDef};
use serde_json::{json, Map, Value};

/// A network as the API lists it: a definition or one of the two modes.
pub enum Shown {
    Defined(NetworkDef),
    Mode(&'static str),
}

/// The modes docker lists as networks, with their drivers.
pub const MODES: [(&str, &str); 2] = [("host", "host"), ("none", "null")];

impl Shown {
    pub fn name(&self) -> &str {
        match self {
            Shown::Defined(def) => &def.name,
            Shown::Mode(name) => name,
        }
    }

    pub fn id(&self, paths: &Paths) -> String {
        match self {
            Shown::Defined(def) => def.id.clone(),
            Shown::Mode(name) => stable_id(&paths.root_id(), name),
        }
    }

    pub fn driver(&self) -> &str {
        match self {
            Shown::Defined(def) => &def.driver,
            Shown::Mode(name) => MODES
                .iter()
                .find(|(n, _)| n == name)
                .map_or("null", |(_, d)| d),
        }
    }

    pub fn labels(&self) -> Vec<(String, String)> {
        match self {
            Shown::Defined(def) => def
                .labels
                .iter()
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
            Shown::Mode(_) => Vec::new(),
        }
    }

    pub fn created(&self) -> Option<&str> {
        match self {
            Shown::Defined(def) => Some(&def.created),
            Shown::Mode(_) => None,
        }
    }

    /// `bridge`, `host` and `none`: docker's predefined networks.
    pub fn builtin(&self) -> bool {
        berth_api::networks::BUILTIN.contains(&self.name())
    }

    /// Containers attached (endpoint files); the modes have none to show.
    pub fn endpoint_count(&self, paths: &Paths) -> usize {
        match self {
            Shown::Defined(def) => endpoints::list(&network::network_dir(paths, def)).len(),
            Shown::Mode(_) => 0,
        }
    }
}

/// 64 hex digits that stay the same for one root and one name (FNV-1a 64 over four
/// seeds): the builtin modes' IDs, and endpoint IDs, which berth does not store.
pub fn stable_id(a: &str, b: &str) -> String {
    (0u8..4)
        .map(|seed| {
            let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
            for byte in [seed]
                .iter()
                .chain(a.as_bytes())
                .chain(&[0])
                .chain(b.as_bytes())
            {
                hash ^= u64::from(*byte);
                hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
            }
            format!("{hash:016x}")
        })
        .collect()
}

/// Docker's MAC scheme, as berth-net gives it: 02:42 and the IPv4 address.
pub fn mac_of(ip: std::net::Ipv4Addr) -> String {
    let o = ip.octets();
    format!("02:42:{:02x}:{:02x}:{:02x}:{:02x}", o[0], o[1], o[2], o[3])
}

/// Inspect's (and list's) object.
pub fn network_json(paths: &Paths, shown: &Shown) -> Value {
    let id = shown.id(paths);
    let (ipam, internal, options, containers) = match shown {
        Shown::Defined(def) => {
            let mut config = json!({
                "Subnet": def.subnet.to_string(),
                "Gateway": def.gateway.to_string(),
            });
            if let Some(range) = def.ip_range {
                config["IPRange"] = json!(range.to_string());
            }
            let mut options: Map<String, Value> = def
                .options
                .iter()
                .map(|(k, v)| (k.clone(), json!(v)))
                .collect();
            if def.name == berth_net::settings::DEFAULT_NETWORK {
                options.insert(
                    "com.docker.network.bridge.default_bridge".into(),
                    json!("true"),
                );
                options.insert(
                    berth_net::network::BRIDGE_NAME_OPTION.into(),
                    json!(def.bridge),
                );
            }
            (
                json!([config]),
                def.internal,
                Value::Object(options),
                containers(paths, def),
            )
        }
        Shown::Mode(_) => (json!([]), false, json!({}), json!({})),
    };
    let labels: Map<String, Value> = shown
        .labels()
        .into_iter()
        .map(|(k, v)| (k, json!(v)))
        .collect();
    json!({
        "Name": shown.name(),
        "Id": id,
        "Created": shown.created().unwrap_or("0001-01-01T00:00:00Z"),
        "Scope": "local",
        "Driver": shown.driver(),
        "EnableIPv4": true,
        "EnableIPv6": false,
        "IPAM": { "Driver": "default", "Options": null, "Config": ipam },
        "Internal": internal,
        "Attachable": false,
        "Ingress": false,
        "ConfigFrom": { "Network": "" },
        "ConfigOnly": false,
        "Containers": containers,
        "Options": options,
        "Labels": labels,
    })
}

/// `{container id: {Name, EndpointID, MacAddress, IPv4Address, IPv6Address}}` from the
/// network's endpoint files.
fn containers(paths: &Paths, def: &NetworkDef) -> Value {
    let mut out = Map::new();
    for e in endpoints::list(&network::network_dir(paths, def)) {
        let name = e.name.clone().unwrap_or_else(|| {
            berth_common::ContainerId::parse(&e.container_id)
                .ok()
                .and_then(|id| berth_common::registry::identity(paths, &id).ok().flatten())
                .and_then(|part| part.name)
                .map(|n| n.to_string())
                .unwrap_or_default()
        });
        out.insert(
            e.container_id.clone(),
            json!({
                "Name": name,
                "EndpointID": stable_id(&def.id, &e.container_id),
                "MacAddress": mac_of(e.ip),
                "IPv4Address": format!("{}/{}", e.ip, def.subnet.prefix_len()),
                "IPv6Address": "",
            }),
        );
    }
    Value::Object(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stable_ids_are_64_hex_and_differ_by_input() {
        let a = stable_id("root", "host");
        assert_eq!(a.len(), 64);
        assert!(a.bytes().all(|b| b.is_ascii_hexdigit()));
        assert_eq!(a, stable_id("root", "host"));
        assert_ne!(a, stable_id("root", "none"));
        assert_ne!(a, stable_id("other", "host"));
        // The separator keeps ("ab", "c") and ("a", "bc") apart.
        assert_ne!(stable_id("ab", "c"), stable_id("a", "bc"));
    }

    #[test]
    fn macs_follow_dockers_scheme() {
        assert_eq!(mac_of("10.213.4.2".parse().unwrap()), "02:42:0a:d5:04:02");
    }
}
