//! The DNS server's errors; each names the network, the address or the file at fault.

use std::net::SocketAddr;
use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum DnsError {
    #[error("a DNS server for network {network} already runs (pid file {pid_file} is locked{})",
        .pid.map(|p| format!(" by pid {p}")).unwrap_or_default())]
    AlreadyRunning {
        network: String,
        pid_file: PathBuf,
        pid: Option<i32>,
    },
    #[error("DNS server pid file {path}: {source}")]
    PidFile {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("DNS server for network {network}: cannot listen on {addr}/{proto}: {source}")]
    Bind {
        network: String,
        addr: SocketAddr,
        proto: &'static str,
        source: std::io::Error,
    },
    #[error("DNS server for network {network}: {op}: {source}")]
    Io {
        network: String,
        op: &'static str,
        source: std::io::Error,
    },
    #[error(transparent)]
    Lock(#[from] berth_common::LockError),
    #[error("invalid DNS server configuration: {0}")]
    Config(#[source] serde_json::Error),
    #[error("cannot start the DNS server of network {network} ({program}): {source}")]
    Spawn {
        network: String,
        program: PathBuf,
        source: std::io::Error,
    },
    #[error("the DNS server of network {network} did not start: {message} (log: {log})")]
    Start {
        network: String,
        message: String,
        log: PathBuf,
    },
    #[error("cannot stop the DNS server of pid file {pid_file}: {message}")]
    Stop { pid_file: PathBuf, message: String },
}
