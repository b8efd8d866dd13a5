//! The container's /etc/hosts and /etc/resolv.conf after `network connect` and
//! `disconnect`. Both are files in the container dir bound over the image's, so they are
//! rewritten in place (a bind-mounted file keeps its inode; a rename would not show).
//!
//! hosts gets a line for each network address, as dockerd adds. resolv.conf: a container
//! that had no network DNS server (the default bridge has none) is pointed at the joined
//! network's, which resolves the names of every network it is on and forwards the rest to
//! the host's resolvers; the file it had is kept beside it and comes back when the last
//! network with a DNS server is left.

use std::io;
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};

use berth_common::{ContainerId, Endpoint, Paths};

/// The resolv.conf a container had before a connect pointed it at a network's server.
const SAVED_RESOLV: &str = "resolv.conf.before-connect";

pub fn connected(
    paths: &Paths,
    id: &ContainerId,
    before: &[Endpoint],
    joined: &Endpoint,
) -> io::Result<()> {
    let dir = paths.container_dir(id);
    let hostname = std::fs::read_to_string(dir.join("hostname"))?;
    let hosts = dir.join("hosts");
    let mut text = std::fs::read_to_string(&hosts)?;
    if !text.is_empty() && !text.ends_with('\n') {
        text.push('\n');
    }
    text += &format!("{}\t{}\n", joined.ip, hostname.trim());
    std::fs::write(hosts, text)?;
    let had_server = before.iter().any(|e| e.dns_server.is_some());
    if let (false, Some(server)) = (had_server, joined.dns_server) {
        let resolv = dir.join("resolv.conf");
        let current = std::fs::read_to_string(&resolv)?;
        let saved = dir.join(SAVED_RESOLV);
        if !saved.exists() {
            std::fs::write(&saved, &current)?;
        }
        write_in_place(&resolv, &with_nameserver(&current, server))?;
    }
    Ok(())
}

pub fn disconnected(
    paths: &Paths,
    id: &ContainerId,
    gone: &Endpoint,
    left: &[Endpoint],
) -> io::Result<()> {
    let dir = paths.container_dir(id);
    let hosts = dir.join("hosts");
    let text = std::fs::read_to_string(&hosts)?;
    let prefix = format!("{}\t", gone.ip);
    let kept: String = text
        .lines()
        .filter(|l| !l.starts_with(&prefix))
        .map(|l| format!("{l}\n"))
        .collect();
    std::fs::write(hosts, kept)?;
    let Some(server) = gone.dns_server else {
        return Ok(());
    };
    let resolv = dir.join("resolv.conf");
    let current = std::fs::read_to_string(&resolv)?;
    if !nameservers(&current).contains(&server.to_string()) {
        return Ok(());
    }
    match left.iter().find_map(|e| e.dns_server) {
        Some(other) => write_in_place(&resolv, &with_nameserver(&current, other)),
        None => {
            let saved: PathBuf = dir.join(SAVED_RESOLV);
            match std::fs::read_to_string(&saved) {
                Ok(before) => {
                    write_in_place(&resolv, &before)?;
                    std::fs::remove_file(saved)
                }
                // Its own network's server went (a container of a user network left it):
                // there is nothing to go back to, and the file stays as it was.
                Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
                Err(e) => Err(e),
            }
        }
    }
}

fn nameservers(text: &str) -> Vec<String> {
    text.lines()
        .filter_map(|l| {
            let mut words = l.split_whitespace();
            (words.next() == Some("nameserver")).then(|| words.next().unwrap_or("").to_string())
        })
        .collect()
}

/// `text` with its nameserver lines replaced by one for `server`; search and options stay.
fn with_nameserver(text: &str, server: Ipv4Addr) -> String {
    let mut out = format!("nameserver {server}\n");
    for line in text.lines() {
        if line.split_whitespace().next() != Some("nameserver") {
            out += line;
            out.push('\n');
        }
    }
    out
}

/// Truncates and writes: the bind mount over the container's /etc/resolv.conf follows the
/// inode, which a write keeps and a rename would not.
fn write_in_place(path: &Path, text: &str) -> io::Result<()> {
    std::fs::write(path, text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_nameserver_is_replaced_and_the_rest_kept() {
        let text =
            "search example.org\nnameserver 192.0.2.53\nnameserver 192.0.2.54\noptions ndots:2\n";
        let out = with_nameserver(text, "10.9.0.1".parse().unwrap());
        assert_eq!(
            out,
            "nameserver 10.9.0.1\nsearch example.org\noptions ndots:2\n"
        );
        assert_eq!(nameservers(&out), ["10.9.0.1"]);
    }
}
