//! /etc/hostname, /etc/hosts and /etc/resolv.conf for a container, written into its
//! directory on the host and bound over the image's files: the container's own address
//! and `--add-host` entries in hosts; the network's DNS server, `--dns`, or the host's
//! resolvers in resolv.conf, as Docker writes them.

use std::path::{Path, PathBuf};

use berth_common::NetworkPart;

/// Docker's fallback when the host has no resolver a container can reach.
const FALLBACK_NAMESERVERS: [&str; 2] = ["8.8.8.8", "8.8.4.4"];

/// Writes the three files into `dir`; returns (host file, container path) pairs.
pub fn write(
    dir: &Path,
    hostname: &str,
    host_network: bool,
    network: Option<&NetworkPart>,
) -> std::io::Result<Vec<(PathBuf, &'static str)>> {
    std::fs::create_dir_all(dir)?;
    let hostname_file = dir.join("hostname");
    std::fs::write(&hostname_file, format!("{hostname}\n"))?;
    let hosts_file = dir.join("hosts");
    let host_hosts = if host_network {
        std::fs::read_to_string("/etc/hosts").unwrap_or_default()
    } else {
        String::new()
    };
    std::fs::write(
        &hosts_file,
        hosts(
            hostname,
            host_network.then_some(host_hosts.as_str()),
            network,
        ),
    )?;
    let resolv_file = dir.join("resolv.conf");
    let host_resolv = std::fs::read_to_string("/etc/resolv.conf").unwrap_or_default();
    std::fs::write(
        &resolv_file,
        resolv_conf(&host_resolv, host_network, network),
    )?;
    Ok(vec![
        (hostname_file, "/etc/hostname"),
        (hosts_file, "/etc/hosts"),
        (resolv_file, "/etc/resolv.conf"),
    ])
}

/// The hosts file: the host's own with `--network host`, else Docker's standard lines,
/// then `--add-host` entries, then the container's address (or 127.0.1.1 without one).
fn hosts(hostname: &str, host_file: Option<&str>, network: Option<&NetworkPart>) -> String {
    let mut out = match host_file {
        Some(text) => text.to_string(),
        None => "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\nfe00::0\tip6-localnet\nff00::0\tip6-mcastprefix\nff02::1\tip6-allnodes\nff02::2\tip6-allrouters\n".to_string(),
    };
    if !out.is_empty() && !out.ends_with('\n') {
        out.push('\n');
    }
    let first = network.and_then(|n| n.endpoints.first());
    for entry in network
        .map(|n| n.extra_hosts.as_slice())
        .unwrap_or_default()
    {
        if let Some((name, ip)) = entry.split_once(':') {
            let ip = if ip == "host-gateway" {
                first
                    .and_then(|e| e.gateway)
                    .map(|g| g.to_string())
                    .unwrap_or_else(|| "127.0.0.1".into())
            } else {
                ip.to_string()
            };
            out += &format!("{ip}\t{name}\n");
        }
    }
    if host_file.is_none() {
        match first {
            Some(e) => out += &format!("{}\t{hostname}\n", e.ip),
            None => out += &format!("127.0.1.1\t{hostname}\n"),
        }
    }
    out
}

/// resolv.conf: the network's DNS server on user-defined networks (it forwards the rest
/// to `--dns` or the host's resolvers), else `--dns` or the host's reachable resolvers.
/// `--dns-search` and `--dns-option` replace the host's search and options lines.
fn resolv_conf(host: &str, host_network: bool, network: Option<&NetworkPart>) -> String {
    let lines = |key: &str| -> Vec<String> {
        host.lines()
            .filter_map(|l| {
                let mut words = l.split_whitespace();
                (words.next() == Some(key)).then(|| words.collect::<Vec<_>>().join(" "))
            })
            .collect()
    };
    let empty = NetworkPart::default();
    let part = network.unwrap_or(&empty);
    let dns_server = part.endpoints.first().and_then(|e| e.dns_server);
    let nameservers: Vec<String> = if let Some(server) = dns_server {
        vec![server.to_string()]
    } else if !part.dns.is_empty() {
        part.dns.clone()
    } else if host_network {
        lines("nameserver")
    } else {
        let reachable: Vec<String> = lines("nameserver")
            .into_iter()
            .filter(|a| !(a.starts_with("127.") || a == "::1"))
            .collect();
        if reachable.is_empty() {
            FALLBACK_NAMESERVERS.iter().map(|s| s.to_string()).collect()
        } else {
            reachable
        }
    };
    let search = if part.dns_search.is_empty() {
        lines("search")
    } else {
        vec![part.dns_search.join(" ")]
    };
    let options = if part.dns_options.is_empty() {
        lines("options")
    } else {
        vec![part.dns_options.join(" ")]
    };
    let mut out = String::new();
    for s in search.iter().filter(|s| !s.is_empty()) {
        out += &format!("search {s}\n");
    }
    for n in nameservers {
        out += &format!("nameserver {n}\n");
    }
    for o in options.iter().filter(|s| !s.is_empty()) {
        out += &format!("options {o}\n");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use berth_common::Endpoint;

    fn part(dns_server: bool) -> NetworkPart {
        NetworkPart {
            mode: "mynet".into(),
            endpoints: vec![Endpoint {
                network: "mynet".into(),
                network_id: "0".repeat(64),
                bridge: "b".into(),
                host_veth: "v".into(),
                ifname: "eth0".into(),
                ip: "10.5.0.2".parse().unwrap(),
                prefix: 24,
                gateway: Some("10.5.0.1".parse().unwrap()),
                mac: String::new(),
                aliases: vec![],
                dns_server: dns_server.then(|| "10.5.0.1".parse().unwrap()),
            }],
            extra_hosts: vec!["db:10.9.9.9".into(), "gw:host-gateway".into()],
            ..Default::default()
        }
    }

    #[test]
    fn loopback_nameservers_are_dropped() {
        let out = resolv_conf(
            "nameserver 127.0.0.53\nnameserver 10.0.0.2\nsearch x\n",
            false,
            None,
        );
        assert_eq!(out, "search x\nnameserver 10.0.0.2\n");
        let out = resolv_conf("nameserver 127.0.0.53\n", false, None);
        assert!(out.contains("nameserver 8.8.8.8"), "{out}");
    }

    #[test]
    fn user_networks_use_their_dns_server_and_flags_override() {
        let mut p = part(true);
        p.dns_search = vec!["example.test".into()];
        p.dns_options = vec!["ndots:2".into()];
        let out = resolv_conf("nameserver 10.0.0.2\nsearch host.lan\n", false, Some(&p));
        assert_eq!(
            out,
            "search example.test\nnameserver 10.5.0.1\noptions ndots:2\n"
        );
        let mut p = part(false);
        p.dns = vec!["10.1.1.1".into()];
        assert_eq!(
            resolv_conf("nameserver 10.0.0.2\n", false, Some(&p)),
            "nameserver 10.1.1.1\n"
        );
    }

    #[test]
    fn hosts_name_the_container_and_extra_hosts() {
        let out = hosts("abc", None, Some(&part(true)));
        assert!(out.starts_with("127.0.0.1\tlocalhost\n"));
        assert!(
            out.contains("10.9.9.9\tdb\n") && out.contains("10.5.0.1\tgw\n"),
            "{out}"
        );
        assert!(out.ends_with("10.5.0.2\tabc\n"), "{out}");
        assert!(hosts("abc", None, None).ends_with("127.0.1.1\tabc\n"));
        assert_eq!(hosts("abc", Some("1.2.3.4 h"), None), "1.2.3.4 h\n");
    }
}
