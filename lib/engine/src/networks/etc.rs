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

/// A container file that could not be read, written or removed, naming the file.
#[derive(Debug, thiserror::Error)]
#[error("cannot {op} {}: {source}", path.display())]
pub struct EtcError {
    op: &'static str,
    path: PathBuf,
    #[source]
    source: io::Error,
}

fn read(path: &Path) -> Result<String, EtcError> {
    std::fs::read_to_string(path).map_err(|source| EtcError {
        op: "read",
        path: path.to_path_buf(),
        source,
    })
}

/// Truncates and writes: the bind mount over the container's /etc file follows the inode,
/// which a write keeps and a rename would not.
fn write_in_place(path: &Path, text: &str) -> Result<(), EtcError> {
    std::fs::write(path, text).map_err(|source| EtcError {
        op: "write",
        path: path.to_path_buf(),
        source,
    })
}

/// The resolv.conf a container had before a connect pointed it at a network's server.
const SAVED_RESOLV: &str = "resolv.conf.before-connect";

pub fn connected(
    paths: &Paths,
    id: &ContainerId,
    before: &[Endpoint],
    joined: &Endpoint,
) -> Result<(), EtcError> {
    let dir = paths.container_dir(id);
    let hostname = read(&dir.join("hostname"))?;
    let hosts = dir.join("hosts");
    let mut text = read(&hosts)?;
    if !text.is_empty() && !text.ends_with('\n') {
        text.push('\n');
    }
    text += &format!("{}\t{}\n", joined.ip, hostname.trim());
    write_in_place(&hosts, &text)?;
    let had_server = before.iter().any(|e| e.dns_server.is_some());
    if let (false, Some(server)) = (had_server, joined.dns_server) {
        let resolv = dir.join("resolv.conf");
        let current = read(&resolv)?;
        let saved = dir.join(SAVED_RESOLV);
        if !saved.exists() {
            write_in_place(&saved, &current)?;
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
) -> Result<(), EtcError> {
    let dir = paths.container_dir(id);
    let hosts = dir.join("hosts");
    let text = read(&hosts)?;
    let prefix = format!("{}\t", gone.ip);
    let kept: String = text
        .lines()
        .filter(|l| !l.starts_with(&prefix))
        .map(|l| format!("{l}\n"))
        .collect();
    write_in_place(&hosts, &kept)?;
    let Some(server) = gone.dns_server else {
        return Ok(());
    };
    let resolv = dir.join("resolv.conf");
    let current = read(&resolv)?;
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
                    std::fs::remove_file(&saved).map_err(|source| EtcError {
                        op: "remove",
                        path: saved,
                        source,
                    })
                }
                // Its own network's server went (a container of a user network left it):
                // there is nothing to go back to, and the file stays as it was.
                Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
                Err(source) => Err(EtcError {
                    op: "read",
                    path: saved,
                    source,
                }),
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

    #[test]
    fn a_missing_file_is_named_in_the_error() {
        let dir = tempfile::tempdir().unwrap();
        let paths = Paths::new(dir.path().join("root"), dir.path().join("run"));
        let id = ContainerId::parse(&"cd".repeat(32)).unwrap();
        let cdir = paths.container_dir(&id);
        std::fs::create_dir_all(&cdir).unwrap();
        std::fs::write(cdir.join("hostname"), "box\n").unwrap();
        let endpoint = Endpoint {
            network: "n".into(),
            network_id: "i".into(),
            bridge: "b".into(),
            host_veth: "v".into(),
            ifname: "eth1".into(),
            ip: "10.9.0.2".parse().unwrap(),
            prefix: 24,
            gateway: None,
            mac: "02:42:0a:09:00:02".into(),
            aliases: vec![],
            dns_server: None,
        };
        let e = connected(&paths, &id, &[], &endpoint).unwrap_err();
        let hosts = cdir.join("hosts");
        assert_eq!(
            e.to_string(),
            format!(
                "cannot read {}: No such file or directory (os error 2)",
                hosts.display()
            )
        );
    }
}
