//! A hijacked stream in the terminal: the container's output to stdout/stderr (demuxed
//! unless it has a tty), stdin to it (half-closed at EOF), raw mode and window sizes for a
//! tty, the detach keys, and signals proxied to the container (`--sig-proxy`).

use berth_client::{Client, ClientError};
use hyper::Method;
use hyper_util::rt::TokioIo;
use tokio::io::AsyncWriteExt;

use berth_process::tty::RawMode;
use berth_runtime::detach_keys::{parse_detach_keys, DetachKeys};

/// How the stream is driven.
pub struct Session {
    pub tty: bool,
    pub stdin: bool,
    pub detach_keys: Vec<u8>,
    /// `/containers/ID` or `/exec/ID`: where `…/resize` goes.
    pub resize: Option<String>,
    /// The container signals are forwarded to.
    pub sig_proxy: Option<String>,
}

#[derive(Debug, PartialEq)]
pub enum Ended {
    /// The output ended (the process exited, or the daemon closed the stream).
    Output,
    /// The user typed the detach keys.
    Detached,
}

/// The detach keys of `--detach-keys`, else docker's ctrl-p ctrl-q.
pub fn detach_keys(flag: Option<&str>) -> Result<Vec<u8>, crate::exit::Failure> {
    // An empty spec is docker's default too.
    parse_detach_keys(flag.unwrap_or("")).map_err(|e| crate::exit::Failure::new(125, e.to_string()))
}

/// Sends the terminal's size once and on every SIGWINCH until the stream ends.
fn watch_size(client: &Client, prefix: String) -> tokio::task::JoinHandle<()> {
    let client = client.clone();
    tokio::spawn(async move {
        let resize = |client: Client, prefix: String| async move {
            if let Some((h, w)) = berth_process::tty::size() {
                let _ = client
                    .send(Method::POST, &format!("{prefix}/resize?h={h}&w={w}"))
                    .await;
            }
        };
        resize(client.clone(), prefix.clone()).await;
        let Ok(mut winch) =
            tokio::signal::unix::signal(tokio::signal::unix::SignalKind::window_change())
        else {
            return;
        };
        while winch.recv().await.is_some() {
            resize(client.clone(), prefix.clone()).await;
        }
    })
}

/// Forwards SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGUSR1/2 to the container.
fn proxy_signals(client: &Client, id: String) -> tokio::task::JoinHandle<()> {
    use tokio::signal::unix::{signal, SignalKind};
    let client = client.clone();
    tokio::spawn(async move {
        let kinds = [
            (SignalKind::interrupt(), "SIGINT"),
            (SignalKind::terminate(), "SIGTERM"),
            (SignalKind::hangup(), "SIGHUP"),
            (SignalKind::quit(), "SIGQUIT"),
            (SignalKind::user_defined1(), "SIGUSR1"),
            (SignalKind::user_defined2(), "SIGUSR2"),
        ];
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<&'static str>();
        for (kind, name) in kinds {
            let Ok(mut s) = signal(kind) else { continue };
            let tx = tx.clone();
            tokio::spawn(async move {
                while s.recv().await.is_some() {
                    if tx.send(name).is_err() {
                        return;
                    }
                }
            });
        }
        while let Some(name) = rx.recv().await {
            let _ = client
                .send(
                    Method::POST,
                    &format!("/containers/{id}/kill?signal={name}"),
                )
                .await;
        }
    })
}

/// Reads stdin on a thread of its own (a blocking read would hold an async worker), in
/// chunks, until EOF.
fn stdin_chunks() -> tokio::sync::mpsc::Receiver<Vec<u8>> {
    let (tx, rx) = tokio::sync::mpsc::channel::<Vec<u8>>(16);
    std::thread::spawn(move || {
        use std::io::Read;
        let mut stdin = std::io::stdin();
        let mut buf = vec![0u8; 32 * 1024];
        loop {
            match stdin.read(&mut buf) {
                Ok(0) | Err(_) => return,
                Ok(n) => {
                    if tx.blocking_send(buf[..n].to_vec()).is_err() {
                        return;
                    }
                }
            }
        }
    });
    rx
}

/// Drives `upgraded` until its output ends or the user detaches. Call it once the process
/// runs (the resize needs it started).
pub async fn drive(
    client: &Client,
    upgraded: hyper::upgrade::Upgraded,
    session: Session,
) -> Result<Ended, ClientError> {
    let raw = (session.tty && session.stdin).then(RawMode::enter);
    let (reader, mut writer) = tokio::io::split(TokioIo::new(upgraded));
    let mut helpers = Vec::new();
    if let (true, Some(prefix)) = (session.tty, session.resize.clone()) {
        helpers.push(watch_size(client, prefix));
    }
    if let (false, Some(id)) = (session.tty, session.sig_proxy.clone()) {
        helpers.push(proxy_signals(client, id));
    }
    let tty = session.tty;
    let output = tokio::spawn(async move {
        let mut out = std::io::stdout();
        let mut err = std::io::stderr();
        berth_client::demux::copy_output(reader, tty, &mut out, &mut err).await
    });
    let (detached_tx, detached_rx) = tokio::sync::oneshot::channel::<()>();
    if session.stdin {
        let mut chunks = stdin_chunks();
        let mut watch = session
            .tty
            .then(|| DetachKeys::new(session.detach_keys.clone()));
        helpers.push(tokio::spawn(async move {
            while let Some(chunk) = chunks.recv().await {
                let (send, detach) = match &mut watch {
                    Some(w) => {
                        let mut send = Vec::with_capacity(chunk.len());
                        let detach = w.feed(&chunk, &mut send);
                        (send, detach)
                    }
                    None => (chunk, false),
                };
                if writer.write_all(&send).await.is_err() || writer.flush().await.is_err() {
                    return;
                }
                if detach {
                    let _ = detached_tx.send(());
                    return;
                }
            }
            // A detach sequence cut short by the end of input was typed for the container.
            if let Some(w) = &mut watch {
                let mut rest = Vec::new();
                w.flush(&mut rest);
                let _ = writer.write_all(&rest).await;
            }
            // EOF: the API's half-close, so the container sees its stdin end.
            let _ = writer.shutdown().await;
        }));
    }
    let ended = tokio::select! {
        result = output => {
            if let Ok(Err(e)) = result {
                tracing::debug!("output stream: {e}");
            }
            Ended::Output
        }
        Ok(()) = detached_rx => Ended::Detached,
    };
    for helper in helpers {
        helper.abort();
    }
    drop(raw);
    Ok(ended)
}
