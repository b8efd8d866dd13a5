//! Where a client talks: the addresses docker takes (`unix:///path`, `tcp://host:port`,
//! `host:port`), and which one applies: `-H`, then `BERTH_HOST`, then `DOCKER_HOST`, then
//! the current context; none at all means the API in-process over the local store.

use std::path::PathBuf;

use crate::error::{ClientError, Result};

/// Docker's ports for tcp:// without one.
const PLAIN_PORT: u16 = 2375;
const TLS_PORT: u16 = 2376;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Address {
    Unix(PathBuf),
    /// `host:port`.
    Tcp {
        host: String,
        port: u16,
    },
    /// `ssh://[user@]host[:port]`: through `ssh` to a `dial-stdio` on the other side.
    Ssh {
        user: Option<String>,
        host: String,
        port: Option<u16>,
    },
}

impl Address {
    /// Parses `text` as docker does; `tls` picks the default TCP port.
    pub fn parse(text: &str, tls: bool) -> Result<Address> {
        let bad = |reason: &str| ClientError::Host {
            host: text.to_string(),
            reason: reason.to_string(),
        };
        if let Some(path) = text.strip_prefix("unix://") {
            if path.is_empty() {
                return Err(bad("no socket path"));
            }
            return Ok(Address::Unix(PathBuf::from(path)));
        }
        if let Some(rest) = text.strip_prefix("ssh://") {
            let rest = rest.trim_end_matches('/');
            let (user, hostport) = match rest.rsplit_once('@') {
                Some((u, h)) => (Some(u.to_string()), h),
                None => (None, rest),
            };
            let (host, port) = match hostport.rsplit_once(':') {
                Some((h, p)) => (
                    h,
                    Some(
                        p.parse::<u16>()
                            .map_err(|_| bad("the port is not a number"))?,
                    ),
                ),
                None => (hostport, None),
            };
            if host.is_empty() || host.starts_with('-') {
                return Err(bad("no host name"));
            }
            return Ok(Address::Ssh {
                user,
                host: host.to_string(),
                port,
            });
        }
        let rest = text.strip_prefix("tcp://").unwrap_or(text);
        if rest.contains("://") {
            return Err(bad("only unix://, tcp:// and ssh:// are supported"));
        }
        let rest = rest.trim_end_matches('/');
        let (host, port) = match rest.rsplit_once(':') {
            Some((h, p)) if !h.ends_with(':') || h.starts_with('[') => {
                let port = p
                    .parse::<u16>()
                    .map_err(|_| bad("the port is not a number"))?;
                (h.to_string(), port)
            }
            _ => (rest.to_string(), if tls { TLS_PORT } else { PLAIN_PORT }),
        };
        if host.is_empty() {
            return Err(bad("no host name"));
        }
        let host = host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_string();
        Ok(Address::Tcp { host, port })
    }
}

/// The hosts a command goes to, from flags and environment, in docker's order. Empty means
/// in-process.
pub fn configured(flags: &[String], context_host: Option<String>) -> Vec<String> {
    if !flags.is_empty() {
        return flags.to_vec();
    }
    for var in ["BERTH_HOST", "DOCKER_HOST"] {
        if let Ok(value) = std::env::var(var) {
            if !value.is_empty() {
                return vec![value];
            }
        }
    }
    context_host.into_iter().collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn docker_address_forms() {
        assert_eq!(
            Address::parse("unix:///run/x.sock", false).unwrap(),
            Address::Unix("/run/x.sock".into())
        );
        assert_eq!(
            Address::parse("tcp://127.0.0.1:2390", false).unwrap(),
            Address::Tcp {
                host: "127.0.0.1".into(),
                port: 2390
            }
        );
        assert_eq!(
            Address::parse("tcp://localhost", true).unwrap(),
            Address::Tcp {
                host: "localhost".into(),
                port: 2376
            }
        );
        assert_eq!(
            Address::parse("[::1]:99", false).unwrap(),
            Address::Tcp {
                host: "::1".into(),
                port: 99
            }
        );
        assert_eq!(
            Address::parse("ssh://me@there:2222", false).unwrap(),
            Address::Ssh {
                user: Some("me".into()),
                host: "there".into(),
                port: Some(2222)
            }
        );
        assert!(Address::parse("ssh://-oProxyCommand=x", false).is_err());
        assert!(Address::parse("http://there", false).is_err());
        assert!(Address::parse("unix://", false).is_err());
        assert!(Address::parse("tcp://h:port", false).is_err());
    }
}
