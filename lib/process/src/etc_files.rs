//! /etc/hostname, /etc/hosts and /etc/resolv.conf for a container, written into its
//! directory on the host and bound over the image's files.

use std::path::{Path, PathBuf};

/// Writes the three files into `dir`; returns (host file, container path) pairs.
pub fn write(
    dir: &Path,
    hostname: &str,
    host_network: bool,
) -> std::io::Result<Vec<(PathBuf, &'static str)>> {
    std::fs::create_dir_all(dir)?;
    let hostname_file = dir.join("hostname");
    std::fs::write(&hostname_file, format!("{hostname}\n"))?;
    let hosts_file = dir.join("hosts");
    let hosts = if host_network {
        std::fs::read_to_string("/etc/hosts").unwrap_or_default()
    } else {
        format!(
            "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\nfe00::0\tip6-localnet\nff00::0\tip6-mcastprefix\nff02::1\tip6-allnodes\nff02::2\tip6-allrouters\n127.0.1.1\t{hostname}\n"
        )
    };
    std::fs::write(&hosts_file, hosts)?;
    let resolv_file = dir.join("resolv.conf");
    let host_resolv = std::fs::read_to_string("/etc/resolv.conf").unwrap_or_default();
    std::fs::write(
        &resolv_file,
        if host_network {
            host_resolv
        } else {
            without_loopback(&host_resolv)
        },
    )?;
    Ok(vec![
        (hostname_file, "/etc/hostname"),
        (hosts_file, "/etc/hosts"),
        (resolv_file, "/etc/resolv.conf"),
    ])
}

/// A loopback resolver of the host is unreachable from the container's own network
/// namespace: drop those lines, as docker does.
fn without_loopback(resolv: &str) -> String {
    resolv
        .lines()
        .filter(|line| {
            let mut words = line.split_whitespace();
            !(words.next() == Some("nameserver")
                && words
                    .next()
                    .is_some_and(|a| a.starts_with("127.") || a == "::1"))
        })
        .map(|l| format!("{l}\n"))
        .collect()
}

#[cfg(test)]
mod tests {
    #[test]
    fn loopback_nameservers_are_dropped() {
        let out = super::without_loopback("nameserver 127.0.0.53\nnameserver 10.0.0.2\nsearch x\n");
        assert_eq!(out, "nameserver 10.0.0.2\nsearch x\n");
    }
}
