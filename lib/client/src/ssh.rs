//! `ssh://[user@]host[:port]` as docker does it: each connection is an `ssh` process whose
//! stdin and stdout are the byte stream, running a `dial-stdio` on the far side (docker's
//! `docker system dial-stdio` by default; `berth system dial-stdio` serves a daemon or the
//! API in-process there). `BERTH_SSH` names the ssh program, `BERTH_SSH_REMOTE` the command.

use std::pin::Pin;
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::process::{Child, ChildStdin, ChildStdout};

use crate::error::{ClientError, Result};

pub const DEFAULT_REMOTE: &str = "docker system dial-stdio";

/// The ssh destination of an `ssh://` host.
#[derive(Debug, Clone)]
pub struct SshTarget {
    pub user: Option<String>,
    pub host: String,
    pub port: Option<u16>,
}

/// The stdio of one `ssh` process as a connection; the process is killed with it.
pub struct SshStream {
    _child: Child,
    stdin: ChildStdin,
    stdout: ChildStdout,
}

impl SshTarget {
    pub fn connect(&self, name: &str) -> Result<SshStream> {
        let program = std::env::var("BERTH_SSH").unwrap_or_else(|_| "ssh".into());
        let remote = std::env::var("BERTH_SSH_REMOTE").unwrap_or_else(|_| DEFAULT_REMOTE.into());
        let mut cmd = tokio::process::Command::new(&program);
        if let Some(user) = &self.user {
            cmd.arg("-l").arg(user);
        }
        if let Some(port) = self.port {
            cmd.arg("-p").arg(port.to_string());
        }
        // `--` first: a host name can never be taken for an option.
        cmd.arg("-T")
            .arg("--")
            .arg(&self.host)
            .args(remote.split_whitespace())
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::inherit())
            .kill_on_drop(true);
        let mut child = cmd.spawn().map_err(|source| ClientError::Connect {
            host: name.to_string(),
            source,
        })?;
        let (Some(stdin), Some(stdout)) = (child.stdin.take(), child.stdout.take()) else {
            return Err(ClientError::Connect {
                host: name.to_string(),
                source: std::io::Error::other(format!("{program}: no stdio")),
            });
        };
        Ok(SshStream {
            _child: child,
            stdin,
            stdout,
        })
    }
}

impl AsyncRead for SshStream {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.stdout).poll_read(cx, buf)
    }
}

impl AsyncWrite for SshStream {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.stdin).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.stdin).poll_flush(cx)
    }

    /// The half-close: the far side reads the end of its stdin.
    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.stdin).poll_shutdown(cx)
    }
}
