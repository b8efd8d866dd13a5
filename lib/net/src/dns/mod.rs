//! The DNS server of a user-defined network: Docker's embedded DNS (127.0.0.11), but one
//! server per network, running in the host's namespace and listening on the network's
//! gateway address, port 53, UDP and TCP. Containers on the network have
//! `nameserver <gateway>` in their resolv.conf.
//!
//! It answers A queries for the names of the containers attached to the network (name,
//! `--network-alias`, 12-character short ID; case-insensitive, exact names only) from the
//! network's endpoint files, read at every query, so a container resolves as soon as its
//! file exists. Every other query is forwarded verbatim to the asking container's `--dns`
//! servers, or to the host's resolvers, and the reply relayed.
//!
//! | module | job |
//! |---|---|
//! | `names` | the name table of the network (endpoint files), upstreams of an asker |
//! | `answer` | pure: query bytes + names → reply bytes, "forward" or "drop" |
//! | `forward` | asking upstream resolvers (UDP, TCP when truncated), the host's resolv.conf |
//! | `pidfile` | the pid file, held with an exclusive flock by the running server |
//! | `server` | `serve`: sockets, the event loop, forwarding threads, idle exit |
//! | `lifecycle` | `ensure_running` (detached spawn, ready pipe), `stop`, `serve_main` |

mod answer;
mod error;
mod forward;
mod lifecycle;
mod names;
mod pidfile;
mod server;
#[cfg(test)]
mod tests;
#[cfg(test)]
mod testutil;

use std::net::{Ipv4Addr, SocketAddr};
use std::path::PathBuf;

pub use error::DnsError;
pub use lifecycle::{ensure_running, serve_main, stop, READY_FD_ENV};
pub use pidfile::is_running;
pub use server::serve;

/// Everything a network's DNS server needs; passed to the serving process as one JSON
/// argument.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct ServerConfig {
    /// The network's name, for logs and errors.
    pub network: String,
    /// The network's gateway (the bridge's address).
    pub listen: Ipv4Addr,
    /// 53 in production.
    pub port: u16,
    /// The network's directory, where `endpoints/` lives.
    pub network_dir: PathBuf,
    /// The network's lock (flock), taken for the idle check.
    pub lock_file: PathBuf,
    /// Held with an exclusive flock by the running server; holds its pid.
    pub pid_file: PathBuf,
    /// Where names the network does not know go when the asking container has no `--dns`.
    /// None: the `nameserver` lines of the host's /etc/resolv.conf, read at start.
    pub upstreams: Option<Vec<SocketAddr>>,
    /// How often the server checks whether its network has no container left, and exits if
    /// so. 0: never.
    pub idle_exit_ms: u64,
}
