//! One connection to a daemon, whichever way it is reached: a Unix socket, TCP, TLS over
//! TCP, or the API served in this process over an in-memory pipe. Every request gets a
//! connection of its own, so a hijacked attach never blocks the next call.

use std::pin::Pin;
use std::sync::Arc;

use rustls::pki_types::ServerName;
use tokio::io::{AsyncRead, AsyncWrite};

use crate::error::{ClientError, Result};
use crate::host::Address;

/// A byte stream to a daemon.
pub trait Io: AsyncRead + AsyncWrite + Send + Unpin + 'static {}
impl<T: AsyncRead + AsyncWrite + Send + Unpin + 'static> Io for T {}

pub type BoxIo = Pin<Box<dyn Io>>;

#[derive(Clone)]
pub enum Transport {
    Unix(std::path::PathBuf),
    Tcp(String, u16),
    Tls {
        host: String,
        port: u16,
        config: Arc<rustls::ClientConfig>,
    },
    InProcess(crate::inprocess::Local),
    Ssh(crate::ssh::SshTarget),
}

impl Transport {
    pub fn new(address: Address, tls: Option<Arc<rustls::ClientConfig>>) -> Transport {
        match (address, tls) {
            (Address::Unix(path), _) => Transport::Unix(path),
            (Address::Ssh { user, host, port }, _) => {
                Transport::Ssh(crate::ssh::SshTarget { user, host, port })
            }
            (Address::Tcp { host, port }, None) => Transport::Tcp(host, port),
            (Address::Tcp { host, port }, Some(config)) => Transport::Tls { host, port, config },
        }
    }

    /// Opens a new connection; `name` is how the user wrote the host, for the error.
    pub async fn connect(&self, name: &str) -> Result<BoxIo> {
        let failed = |source| ClientError::Connect {
            host: name.to_string(),
            source,
        };
        match self {
            Transport::Unix(path) => {
                let stream = tokio::net::UnixStream::connect(path)
                    .await
                    .map_err(failed)?;
                Ok(Box::pin(stream))
            }
            Transport::Tcp(host, port) => {
                let stream = tokio::net::TcpStream::connect((host.as_str(), *port))
                    .await
                    .map_err(failed)?;
                let _ = stream.set_nodelay(true);
                Ok(Box::pin(stream))
            }
            Transport::Tls { host, port, config } => {
                let stream = tokio::net::TcpStream::connect((host.as_str(), *port))
                    .await
                    .map_err(failed)?;
                let _ = stream.set_nodelay(true);
                let server = ServerName::try_from(host.clone()).map_err(|e| ClientError::Host {
                    host: name.to_string(),
                    reason: e.to_string(),
                })?;
                let connector = tokio_rustls::TlsConnector::from(config.clone());
                let tls = connector.connect(server, stream).await.map_err(failed)?;
                Ok(Box::pin(tls))
            }
            Transport::InProcess(local) => Ok(Box::pin(local.connect())),
            Transport::Ssh(target) => Ok(Box::pin(target.connect(name)?)),
        }
    }
}
