//! The names of a network: its endpoint files, read afresh for each query (a directory of
//! a few small files), so a container resolves as soon as attach has written its file.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::Path;

use crate::endpoints::{self, EndpointFile};

/// The length of a short container ID, which resolves like a name.
const SHORT_ID_LEN: usize = 12;

#[derive(Debug, Default, Clone)]
pub(crate) struct NameTable {
    endpoints: Vec<EndpointFile>,
}

impl NameTable {
    pub(crate) fn load(network_dir: &Path) -> NameTable {
        NameTable {
            endpoints: endpoints::list(network_dir),
        }
    }

    /// The names `asker` can resolve: its own network's, then those of every other
    /// user-defined network the asking container is attached to, as Docker's embedded DNS
    /// resolves across all of a container's networks. Networks are sibling directories.
    pub(crate) fn load_for(network_dir: &Path, asker: IpAddr) -> NameTable {
        let mut table = NameTable::load(network_dir);
        let asker = asker.to_canonical();
        let Some(container) = table
            .endpoints
            .iter()
            .find(|e| IpAddr::V4(e.ip) == asker)
            .map(|e| e.container_id.clone())
        else {
            return table;
        };
        let Some(networks) = network_dir.parent() else {
            return table;
        };
        let Ok(entries) = std::fs::read_dir(networks) else {
            return table;
        };
        for entry in entries.flatten() {
            let dir = entry.path();
            if dir == network_dir || entry.file_name() == crate::settings::DEFAULT_NETWORK {
                continue;
            }
            let others = endpoints::list(&dir);
            if others.iter().any(|e| e.container_id == container) {
                table.endpoints.extend(others);
            }
        }
        table
    }

    #[cfg(test)]
    pub(crate) fn from_endpoints(endpoints: Vec<EndpointFile>) -> NameTable {
        NameTable { endpoints }
    }

    /// The addresses of the containers called `name` (a name, an alias or a short ID),
    /// ASCII case-insensitive, without a trailing dot. Several containers may share an
    /// alias: all of them, in the order of the files, without duplicates.
    pub(crate) fn lookup(&self, name: &str) -> Vec<Ipv4Addr> {
        let name = name.strip_suffix('.').unwrap_or(name);
        let mut found = Vec::new();
        if name.is_empty() {
            return found;
        }
        for endpoint in &self.endpoints {
            if names_of(endpoint).any(|n| n.eq_ignore_ascii_case(name))
                && !found.contains(&endpoint.ip)
            {
                found.push(endpoint.ip);
            }
        }
        found
    }

    /// The `--dns` servers of the container that asks from `source`, if it has any.
    pub(crate) fn upstreams_of(&self, source: IpAddr, port: u16) -> Option<Vec<SocketAddr>> {
        let endpoint = self
            .endpoints
            .iter()
            .find(|e| IpAddr::V4(e.ip) == source.to_canonical() && !e.dns.is_empty())?;
        Some(
            endpoint
                .dns
                .iter()
                .map(|ip| SocketAddr::new(IpAddr::V4(*ip), port))
                .collect(),
        )
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.endpoints.is_empty()
    }
}

fn names_of(endpoint: &EndpointFile) -> impl Iterator<Item = &str> {
    let short_id = endpoint
        .container_id
        .get(..SHORT_ID_LEN)
        .filter(|_| endpoint.container_id.len() >= SHORT_ID_LEN);
    endpoint
        .name
        .as_deref()
        .into_iter()
        .chain(endpoint.aliases.iter().map(String::as_str))
        .chain(short_id)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    pub(crate) fn endpoint(
        id: &str,
        name: &str,
        aliases: &[&str],
        ip: [u8; 4],
        dns: &[[u8; 4]],
    ) -> EndpointFile {
        EndpointFile {
            container_id: id.to_string(),
            name: (!name.is_empty()).then(|| name.to_string()),
            aliases: aliases.iter().map(|a| a.to_string()).collect(),
            ip: Ipv4Addr::from(ip),
            host_veth: format!("veth{}", &id[..4.min(id.len())]),
            dns: dns.iter().map(|d| Ipv4Addr::from(*d)).collect(),
            ports: Vec::new(),
        }
    }

    fn table() -> NameTable {
        NameTable::from_endpoints(vec![
            endpoint(
                "0123456789abcdef0123",
                "web",
                &["front", "shared"],
                [10, 0, 0, 2],
                &[],
            ),
            endpoint(
                "fedcba9876543210fedc",
                "db",
                &["shared", "db"],
                [10, 0, 0, 3],
                &[[1, 1, 1, 1]],
            ),
            endpoint("short", "", &[], [10, 0, 0, 4], &[]),
        ])
    }

    #[test]
    fn names_aliases_and_short_ids_resolve_case_insensitively() {
        let t = table();
        assert_eq!(t.lookup("web"), [Ipv4Addr::new(10, 0, 0, 2)]);
        assert_eq!(t.lookup("WeB."), [Ipv4Addr::new(10, 0, 0, 2)]);
        assert_eq!(t.lookup("front"), [Ipv4Addr::new(10, 0, 0, 2)]);
        assert_eq!(t.lookup("0123456789AB"), [Ipv4Addr::new(10, 0, 0, 2)]);
        assert_eq!(
            t.lookup("shared"),
            [Ipv4Addr::new(10, 0, 0, 2), Ipv4Addr::new(10, 0, 0, 3)]
        );
        // a name that is also an alias of the same container: once
        assert_eq!(t.lookup("db"), [Ipv4Addr::new(10, 0, 0, 3)]);
        assert!(
            t.lookup("0123456789a").is_empty(),
            "only the 12-character short ID"
        );
        assert!(t.lookup("0123456789abcdef0123").is_empty());
        assert!(
            t.lookup("short").is_empty(),
            "an ID shorter than 12 characters has no short ID"
        );
        assert!(t.lookup("web.example.com").is_empty(), "exact names only");
        assert!(t.lookup(".").is_empty());
        assert!(t.lookup("").is_empty());
    }

    #[test]
    fn upstreams_of_the_asker_by_source_address() {
        let t = table();
        let from_db = t
            .upstreams_of(IpAddr::V4(Ipv4Addr::new(10, 0, 0, 3)), 53)
            .unwrap();
        assert_eq!(from_db, ["1.1.1.1:53".parse::<SocketAddr>().unwrap()]);
        let mapped: IpAddr = "::ffff:10.0.0.3".parse().unwrap();
        assert!(t.upstreams_of(mapped, 53).is_some());
        assert!(t
            .upstreams_of(IpAddr::V4(Ipv4Addr::new(10, 0, 0, 2)), 53)
            .is_none());
        assert!(t
            .upstreams_of(IpAddr::V4(Ipv4Addr::new(10, 0, 0, 9)), 53)
            .is_none());
    }

    fn write_endpoints(dir: &Path, endpoints: &[EndpointFile]) {
        std::fs::create_dir_all(endpoints::dir(dir)).unwrap();
        for e in endpoints {
            std::fs::write(
                endpoints::path(dir, &e.container_id),
                serde_json::to_vec(e).unwrap(),
            )
            .unwrap();
        }
    }

    #[test]
    fn an_asker_resolves_names_of_every_network_it_is_on() {
        let root = tempfile::tempdir().unwrap();
        let (one, two, other) = (
            root.path().join("one"),
            root.path().join("two"),
            root.path().join("other"),
        );
        let boxed = "b0b0b0b0b0b0b0b0";
        write_endpoints(&one, &[endpoint(boxed, "box", &[], [10, 1, 0, 2], &[])]);
        write_endpoints(
            &two,
            &[
                endpoint(boxed, "box", &[], [10, 2, 0, 3], &[]),
                endpoint("p0p0p0p0p0p0p0p0", "peer", &[], [10, 2, 0, 2], &[]),
            ],
        );
        write_endpoints(
            &other,
            &[endpoint(
                "o0o0o0o0o0o0o0o0",
                "stranger",
                &[],
                [10, 3, 0, 2],
                &[],
            )],
        );
        let from_box = NameTable::load_for(&one, IpAddr::V4(Ipv4Addr::new(10, 1, 0, 2)));
        assert_eq!(from_box.lookup("peer"), [Ipv4Addr::new(10, 2, 0, 2)]);
        assert_eq!(
            from_box.lookup("box")[0],
            Ipv4Addr::new(10, 1, 0, 2),
            "its own network's address first"
        );
        assert!(
            from_box.lookup("stranger").is_empty(),
            "a network the asker is not on"
        );
        let from_outside = NameTable::load_for(&one, IpAddr::V4(Ipv4Addr::new(10, 9, 0, 9)));
        assert!(from_outside.lookup("peer").is_empty());
    }
}
