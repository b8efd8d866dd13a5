//! The `-H` listeners: Unix sockets (mode 0660, group `--group`) and loopback TCP.

use std::net::SocketAddr;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context};
use berth_api::serve::Listener;

/// What one `-H` names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Host {
    Unix(PathBuf),
    Tcp(SocketAddr),
    /// The sockets systemd passed (socket activation): all of them, or those of one name.
    Activated(Option<String>),
}

pub fn parse(host: &str) -> anyhow::Result<Host> {
    if let Some(path) = host.strip_prefix("unix://") {
        if !path.starts_with('/') {
            bail!("invalid -H {host:?}: a Unix socket needs an absolute path (unix:///run/berth/berth.sock)");
        }
        return Ok(Host::Unix(PathBuf::from(path)));
    }
    if let Some(name) = host.strip_prefix("fd://") {
        return Ok(Host::Activated(
            (!name.is_empty()).then(|| name.to_string()),
        ));
    }
    if let Some(addr) = host.strip_prefix("tcp://") {
        // Only literal addresses: berthd never asks a resolver where to listen.
        let addr = addr.replace("localhost:", "127.0.0.1:");
        let parsed: SocketAddr = addr.parse().with_context(|| {
            format!("invalid -H {host:?}: use tcp://IP:PORT, such as tcp://127.0.0.1:2375")
        })?;
        return Ok(Host::Tcp(parsed));
    }
    bail!("invalid -H {host:?}: use unix:///PATH, tcp://IP:PORT or fd://")
}

/// TLS of the TCP listeners: `--tls` (the daemon's certificate) or `--tlsverify` (and
/// clients must present one the CA signed).
#[derive(Debug, Clone)]
pub struct Tls {
    pub files: berth_api::tls::TlsFiles,
}

impl Tls {
    fn verifies_clients(&self) -> bool {
        self.files.client_ca.is_some()
    }
}

/// Anyone who reaches the API is root on the host: off loopback, only clients with a
/// certificate the CA signed may.
fn check_exposure(host: &str, addr: SocketAddr, tls: Option<&Tls>) -> anyhow::Result<()> {
    if addr.ip().is_loopback() || tls.is_some_and(Tls::verifies_clients) {
        return Ok(());
    }
    bail!(
        "refusing -H {host}: a TCP listener on a non-loopback address needs TLS with client \
         certificates (--tlsverify --tlscacert CA --tlscert CERT --tlskey KEY); \
         or listen on 127.0.0.1 or a Unix socket"
    )
}

/// Binds every host, or none: a failure closes those already bound.
pub fn bind_all(
    hosts: &[String],
    group: Option<&str>,
    tls: Option<&Tls>,
) -> anyhow::Result<Vec<Listener>> {
    let gid = group.map(group_id).transpose()?;
    let parsed = hosts
        .iter()
        .map(|h| parse(h))
        .collect::<anyhow::Result<Vec<_>>>()?;
    for (text, host) in hosts.iter().zip(&parsed) {
        if let Host::Tcp(addr) = host {
            check_exposure(text, *addr, tls)?;
        }
    }
    let tls_config = tls
        .map(|t| berth_api::tls::server_config(&t.files))
        .transpose()
        .context("TLS")?;
    let mut listeners = Vec::new();
    let mut made = Vec::new();
    let mut activated = crate::activation::take()?;
    for host in parsed {
        let bound = match &host {
            Host::Unix(path) => bind_unix(path, gid).inspect(|_| made.push(path.clone())),
            Host::Tcp(addr) => bind_tcp(*addr, tls_config.clone()),
            Host::Activated(name) => {
                let picked = activated.pick(name.as_deref())?;
                listeners.extend(picked);
                continue;
            }
        };
        match bound {
            Ok(listener) => listeners.push(listener),
            Err(e) => {
                for path in &made {
                    let _ = std::fs::remove_file(path);
                }
                return Err(e);
            }
        }
    }
    Ok(listeners)
}

fn bind_unix(path: &Path, gid: Option<u32>) -> anyhow::Result<Listener> {
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent)
            .with_context(|| format!("cannot create {}", parent.display()))?;
    }
    if path.exists() {
        if std::os::unix::net::UnixStream::connect(path).is_ok() {
            bail!(
                "{} is in use: another daemon listens on it; choose another -H",
                path.display()
            );
        }
        // Left by a daemon that died: nothing answers on it.
        std::fs::remove_file(path)
            .with_context(|| format!("cannot remove the stale socket {}", path.display()))?;
    }
    let listener = std::os::unix::net::UnixListener::bind(path)
        .with_context(|| format!("cannot listen on {}", path.display()))?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o660))
        .with_context(|| format!("cannot set the mode of {}", path.display()))?;
    if let Some(gid) = gid {
        rustix::fs::chown(path, None, Some(rustix::fs::Gid::from_raw(gid)))
            .with_context(|| format!("cannot give {} to group {gid}", path.display()))?;
    }
    listener.set_nonblocking(true)?;
    Ok(Listener::Unix(tokio::net::UnixListener::from_std(
        listener,
    )?))
}

fn bind_tcp(
    addr: SocketAddr,
    tls: Option<std::sync::Arc<rustls::ServerConfig>>,
) -> anyhow::Result<Listener> {
    let listener = std::net::TcpListener::bind(addr)
        .with_context(|| format!("cannot listen on tcp://{addr}"))?;
    listener.set_nonblocking(true)?;
    let listener = tokio::net::TcpListener::from_std(listener)?;
    Ok(match tls {
        Some(config) => Listener::Tls(berth_api::tls::TlsListener::new(listener, config)?),
        None => Listener::Tcp(listener),
    })
}

/// The gid of a group of /etc/group.
fn group_id(name: &str) -> anyhow::Result<u32> {
    let text = std::fs::read_to_string("/etc/group").context("cannot read /etc/group")?;
    text.lines()
        .filter_map(|line| {
            let mut fields = line.split(':');
            let group = fields.next()?;
            let gid = fields.nth(1)?;
            (group == name).then(|| gid.parse().ok()).flatten()
        })
        .next()
        .with_context(|| format!("--group {name}: no such group in /etc/group"))
}

/// Removes the socket file of a Unix host when berthd stops.
pub fn remove_socket(host: &str) {
    if let Ok(Host::Unix(path)) = parse(host) {
        let _ = std::fs::remove_file(path);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hosts_parse_and_exposed_tcp_is_refused() {
        assert_eq!(
            parse("unix:///run/x.sock").unwrap(),
            Host::Unix("/run/x.sock".into())
        );
        assert_eq!(
            parse("tcp://127.0.0.1:2375").unwrap(),
            Host::Tcp("127.0.0.1:2375".parse().unwrap())
        );
        assert!(matches!(
            parse("tcp://localhost:2375").unwrap(),
            Host::Tcp(_)
        ));
        let open: SocketAddr = "0.0.0.0:2375".parse().unwrap();
        let exposed = check_exposure("tcp://0.0.0.0:2375", open, None).unwrap_err();
        assert!(exposed.to_string().contains("needs TLS"), "{exposed}");
        let server_only = Tls {
            files: berth_api::tls::TlsFiles {
                cert: "c".into(),
                key: "k".into(),
                client_ca: None,
            },
        };
        assert!(check_exposure("h", open, Some(&server_only)).is_err());
        let verifying = Tls {
            files: berth_api::tls::TlsFiles {
                client_ca: Some("ca".into()),
                ..server_only.files.clone()
            },
        };
        check_exposure("h", open, Some(&verifying)).unwrap();
        check_exposure("h", "127.0.0.1:1".parse().unwrap(), None).unwrap();
        assert!(parse("unix://relative.sock").is_err());
        assert!(parse("tcp://somehost:2375").is_err());
        assert!(parse("http://127.0.0.1:2375").is_err());
        assert_eq!(parse("fd://").unwrap(), Host::Activated(None));
        assert_eq!(
            parse("fd://api").unwrap(),
            Host::Activated(Some("api".into()))
        );
    }

    #[test]
    fn a_live_socket_is_not_taken_and_a_stale_one_is_replaced() {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let _guard = rt.enter();
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("d.sock");
        let first = bind_unix(&path, None).unwrap();
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o660);
        let busy = bind_unix(&path, None).err().unwrap().to_string();
        assert!(busy.contains("in use"), "{busy}");
        drop(first);
        bind_unix(&path, None).unwrap();
    }
}
