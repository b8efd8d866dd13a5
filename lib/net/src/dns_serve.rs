//! Running a network's DNS server: where its files are, and the hidden subcommand the
//! berth binaries serve it with.

use berth_common::Paths;

use crate::attach::DnsLauncher;
use crate::dns::ServerConfig;
use crate::error::Result;
use crate::network::{self, NetworkDef};

/// The hidden subcommand of `berth-net` and `berth-run` that runs a DNS server.
pub const SUBCOMMAND: &str = "__dns-serve";
/// A server with no container left on its network exits after this long.
const IDLE_EXIT_MS: u64 = 2000;

pub fn pid_file(paths: &Paths, def: &NetworkDef) -> std::path::PathBuf {
    paths.net_run().join(&def.name).join("dns.pid")
}

pub fn config(paths: &Paths, def: &NetworkDef) -> ServerConfig {
    ServerConfig {
        network: def.name.clone(),
        listen: def.gateway,
        port: 53,
        network_dir: network::network_dir(paths, def),
        lock_file: network::lock_path(paths),
        pid_file: pid_file(paths, def),
        upstreams: None,
        idle_exit_ms: IDLE_EXIT_MS,
    }
}

/// Starts the network's server unless it runs.
pub fn ensure(paths: &Paths, def: &NetworkDef, launcher: &DnsLauncher) -> Result<()> {
    let config = config(paths, def);
    if let Some(dir) = config.pid_file.parent() {
        std::fs::create_dir_all(dir).map_err(crate::error::io_err("creating", dir))?;
    }
    Ok(crate::dns::ensure_running(
        &launcher.program,
        &launcher.args,
        &config,
    )?)
}

pub fn stop(paths: &Paths, def: &NetworkDef) -> Result<()> {
    Ok(crate::dns::stop(&pid_file(paths, def))?)
}
