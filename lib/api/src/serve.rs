//! Serving the API on listeners (Unix sockets, TCP), with a graceful stop: when `shutdown`
//! resolves, no new connection is accepted and requests in flight get `drain` to finish.

use std::future::Future;
use std::time::Duration;

use tokio::net::{TcpListener, UnixListener};

use crate::Versioned;

/// A bound listener of the daemon.
pub enum Listener {
    Unix(UnixListener),
    Tcp(TcpListener),
    Tls(crate::tls::TlsListener),
}

/// Serves `app` on every listener until `shutdown` resolves, then gives in-flight requests
/// up to `drain` before returning. Hijacked streams (attach, exec) are cut at that point.
pub async fn serve(
    listeners: Vec<Listener>,
    app: Versioned,
    shutdown: impl Future<Output = ()> + Send + 'static,
    drain: Duration,
) -> std::io::Result<()> {
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let mut servers = tokio::task::JoinSet::new();
    for listener in listeners {
        let app = app.clone();
        let mut stop = stop_rx.clone();
        let stopped = async move {
            let _ = stop.wait_for(|s| *s).await;
        };
        match listener {
            Listener::Unix(l) => {
                servers.spawn(async move {
                    axum::serve(
                        l,
                        axum::ServiceExt::<axum::extract::Request>::into_make_service(app),
                    )
                    .with_graceful_shutdown(stopped)
                    .await
                });
            }
            Listener::Tls(l) => {
                servers.spawn(async move {
                    axum::serve(
                        l,
                        axum::ServiceExt::<axum::extract::Request>::into_make_service(app),
                    )
                    .with_graceful_shutdown(stopped)
                    .await
                });
            }
            Listener::Tcp(l) => {
                servers.spawn(async move {
                    axum::serve(
                        l,
                        axum::ServiceExt::<axum::extract::Request>::into_make_service(app),
                    )
                    .with_graceful_shutdown(stopped)
                    .await
                });
            }
        }
    }
    tokio::select! {
        () = shutdown => {}
        Some(ended) = servers.join_next() => {
            // A listener failed on its own: stop the others too and report it.
            let _ = stop_tx.send(true);
            servers.abort_all();
            return match ended {
                Ok(result) => result,
                Err(join) => Err(std::io::Error::other(join)),
            };
        }
    }
    tracing::info!("stopping: no new connections; draining requests for up to {drain:?}");
    let _ = stop_tx.send(true);
    let drained = async {
        while let Some(ended) = servers.join_next().await {
            if let Ok(Err(e)) = ended {
                tracing::warn!("listener: {e}");
            }
        }
    };
    if tokio::time::timeout(drain, drained).await.is_err() {
        tracing::warn!("requests still running after {drain:?}: cut");
        servers.abort_all();
    }
    Ok(())
}
