//! What changes in the table: the set elements of a network and the map elements of a
//! published port, as typed objects, and the elements read back from `nft -j list table`.

use std::borrow::Cow;
use std::net::Ipv4Addr;

use berth_common::PortMapping;
use nftables::expr::{Expression, NamedExpression, Prefix};
use nftables::schema::{Element, NfListObject};
use nftables::types::NfFamily;
use serde::Deserialize;

use crate::network::NetworkDef;

use super::skeleton::PROTOS;

/// The network's elements, one object per set so each can be removed on its own.
pub fn network(def: &NetworkDef) -> Vec<NfListObject<'static>> {
    let br = || Expression::String(Cow::Owned(def.bridge.clone()));
    let table = &def.nft_table;
    let mut out = vec![
        element(table, "bridges", br()),
        element(
            table,
            "same",
            Expression::Named(NamedExpression::Concat(vec![br(), br()])),
        ),
    ];
    out.extend(subnet(def));
    if def.internal {
        out.push(element(table, "internal", br()));
    }
    out
}

/// The subnet's elements: `nets`, and `masq` unless the network is internal.
pub fn subnet(def: &NetworkDef) -> Vec<NfListObject<'static>> {
    let net = || {
        Expression::Named(NamedExpression::Prefix(Prefix {
            addr: Box::new(Expression::String(def.subnet.network().to_string().into())),
            len: u32::from(def.subnet.prefix_len()),
        }))
    };
    let table = &def.nft_table;
    let mut out = vec![element(table, "nets", net())];
    if !def.internal {
        out.push(element(table, "masq", net()));
    }
    out
}

/// A published port's map element: its key, and with `target` the container's address
/// and port it forwards to (for a `create`; a `delete` names the key only).
pub fn port(table: &str, m: &PortMapping, target: Option<Ipv4Addr>) -> NfListObject<'static> {
    let port = Expression::Number(u32::from(m.host_port));
    let (map, key) = if m.host_ip.is_unspecified() {
        ("any", port)
    } else {
        let ip = Expression::String(m.host_ip.to_string().into());
        (
            "ip",
            Expression::Named(NamedExpression::Concat(vec![ip, port])),
        )
    };
    let elem = match target {
        Some(ip) => Expression::List(vec![key, concat_target(ip, m.container_port)]),
        None => key,
    };
    element(table, &format!("{}_{map}", m.proto), elem)
}

fn concat_target(ip: Ipv4Addr, port: u16) -> Expression<'static> {
    Expression::Named(NamedExpression::Concat(vec![
        Expression::String(ip.to_string().into()),
        Expression::Number(u32::from(port)),
    ]))
}

fn element(table: &str, set: &str, elem: Expression<'static>) -> NfListObject<'static> {
    NfListObject::Element(Element {
        family: NfFamily::IP,
        table: Cow::Owned(table.to_string()),
        name: Cow::Owned(set.to_string()),
        elem: vec![elem].into(),
    })
}

/// The sets and maps of `nft -j list table`, with their elements in the crate's
/// `Expression`. Not the crate's `schema::Set`/`schema::Map`: nft 1.0.6 (and every nft
/// before the upstream fix of March 2024 named in `skeleton::port_maps`) prints the data
/// type of a map like `tcp_any` as one string, "ipv4_addr . inet_service", which the
/// crate's `SetTypeValue` (a type name or an array of them) refuses, and with it the whole
/// listing. berth needs only names and elements, so it reads only those.
#[derive(Debug, Deserialize)]
pub struct Listing {
    nftables: Vec<Item>,
}

#[derive(Debug, Deserialize)]
struct Item {
    set: Option<Elements>,
    map: Option<Elements>,
}

#[derive(Debug, Deserialize)]
struct Elements {
    name: String,
    #[serde(default)]
    elem: Vec<Expression<'static>>,
}

impl Listing {
    fn set(&self, name: &str) -> &[Expression<'static>] {
        let found = self
            .nftables
            .iter()
            .find_map(|i| i.set.as_ref().filter(|s| s.name == name));
        found.map_or(&[], |s| &s.elem)
    }

    /// The names in the set `bridges`.
    pub fn bridges(&self) -> Vec<String> {
        self.set("bridges")
            .iter()
            .filter_map(|e| match e {
                Expression::String(name) => Some(name.to_string()),
                _ => None,
            })
            .collect()
    }

    /// The keys of the port maps, as mappings without a container port.
    pub fn published(&self) -> Vec<PortMapping> {
        let mut out = Vec::new();
        for map in self.nftables.iter().filter_map(|i| i.map.as_ref()) {
            let Some((proto, kind)) = map.name.split_once('_') else {
                continue;
            };
            if !PROTOS.contains(&proto) {
                continue;
            }
            for elem in &map.elem {
                let Expression::List(pair) = elem else {
                    continue;
                };
                let key = match (kind, pair.first()) {
                    ("any", Some(port)) => port_of(port).map(|p| (Ipv4Addr::UNSPECIFIED, p)),
                    ("ip", Some(Expression::Named(NamedExpression::Concat(parts)))) => {
                        ip_port(parts)
                    }
                    _ => None,
                };
                if let Some((host_ip, host_port)) = key {
                    out.push(PortMapping {
                        host_ip,
                        host_port,
                        container_port: 0,
                        proto: proto.to_string(),
                    });
                }
            }
        }
        out
    }
}

fn port_of(e: &Expression) -> Option<u16> {
    match e {
        Expression::Number(n) => u16::try_from(*n).ok(),
        _ => None,
    }
}

fn ip_port(parts: &[Expression]) -> Option<(Ipv4Addr, u16)> {
    match parts {
        [Expression::String(ip), port] => Some((ip.parse().ok()?, port_of(port)?)),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mapping(host_ip: Ipv4Addr, proto: &str) -> PortMapping {
        PortMapping {
            host_ip,
            host_port: 8080,
            container_port: 80,
            proto: proto.into(),
        }
    }

    /// As nft 1.0.6 prints it, map data types as one string included.
    const LISTING: &str = r#"{"nftables":[{"metainfo":{"version":"1.0.6","json_schema_version":1}},
        {"table":{"family":"ip","name":"t","handle":8}},
        {"set":{"family":"ip","name":"bridges","table":"t","type":"ifname","handle":1,"elem":["br0","br1"]}},
        {"set":{"family":"ip","name":"same","table":"t","type":["ifname","ifname"],"handle":2,"elem":[{"concat":["br0","br0"]}]}},
        {"set":{"family":"ip","name":"internal","table":"t","type":"ifname","handle":3}},
        {"map":{"family":"ip","name":"tcp_any","table":"t","type":"inet_service","handle":6,"map":"ipv4_addr . inet_service","elem":[[8080,{"concat":["10.1.0.2",80]}]]}},
        {"map":{"family":"ip","name":"udp_ip","table":"t","type":["ipv4_addr","inet_service"],"handle":9,"map":["ipv4_addr","inet_service"],"elem":[[{"concat":["127.0.0.1",9090]},{"concat":["10.1.0.2",90]}]]}},
        {"chain":{"family":"ip","table":"t","name":"ports","handle":14}}]}"#;

    #[test]
    fn listing_gives_bridges_and_port_keys() {
        let listing: Listing = serde_json::from_str(LISTING).unwrap();
        assert_eq!(listing.bridges(), ["br0", "br1"]);
        let got: Vec<_> = listing
            .published()
            .into_iter()
            .map(|m| (m.proto, m.host_ip, m.host_port))
            .collect();
        assert_eq!(
            got,
            [
                ("tcp".to_string(), Ipv4Addr::UNSPECIFIED, 8080),
                ("udp".to_string(), Ipv4Addr::LOCALHOST, 9090)
            ]
        );
    }

    #[test]
    fn port_elements_name_the_right_map_and_key() {
        let json = |o: NfListObject| serde_json::to_value(o).unwrap();
        let m = mapping(Ipv4Addr::LOCALHOST, "udp");
        let created = json(port("t", &m, Some(Ipv4Addr::new(10, 0, 0, 2))));
        assert_eq!(
            created,
            serde_json::json!({"element": {"family": "ip", "table": "t", "name": "udp_ip",
                "elem": [[{"concat": ["127.0.0.1", 8080]}, {"concat": ["10.0.0.2", 80]}]]}})
        );
        let m = mapping(Ipv4Addr::UNSPECIFIED, "tcp");
        let deleted = json(port("t", &m, None));
        assert_eq!(deleted["element"]["name"], "tcp_any");
        assert_eq!(deleted["element"]["elem"], serde_json::json!([8080]));
    }
}
