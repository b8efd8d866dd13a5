//! The API in this process, for a client with no host configured: berth-engine over the
//! local store behind berth-api's router, served by hyper on one end of an in-memory pipe
//! per connection. Requests, streams and hijacked attach/exec take the very path they take
//! against berthd.

use std::path::PathBuf;
use std::sync::Arc;

use hyper_util::rt::TokioIo;
use tower::ServiceExt;

/// The buffer of each in-memory connection, each way.
const PIPE: usize = 256 * 1024;

/// The local store the in-process API serves.
#[derive(Debug, Clone)]
pub struct LocalStore {
    pub root: PathBuf,
    pub run_dir: PathBuf,
    pub engine: berth_engine::EngineSettings,
}

/// The API of one root, served in-process.
#[derive(Clone)]
pub struct Local {
    app: berth_api::Versioned,
}

impl Local {
    pub fn new(store: LocalStore) -> Local {
        let paths = berth_common::Paths::new(&store.root, &store.run_dir);
        let engine = Arc::new(berth_engine::Engine::new(paths, store.engine));
        Local {
            app: berth_api::router(engine.backend()),
        }
    }

    /// A new connection to the API; its server runs as a task until the client end closes.
    pub fn connect(&self) -> tokio::io::DuplexStream {
        let (client, server) = tokio::io::duplex(PIPE);
        tokio::spawn(self.clone().serve(server));
        client
    }

    /// Serves one HTTP connection on `io` (an in-memory pipe, or the stdio of
    /// `berth system dial-stdio`) until it closes.
    pub async fn serve<I>(self, io: I)
    where
        I: tokio::io::AsyncRead + tokio::io::AsyncWrite + Send + Unpin + 'static,
    {
        let app = self.app;
        let service = hyper::service::service_fn(move |request| app.clone().oneshot(request));
        let served = hyper::server::conn::http1::Builder::new()
            .serve_connection(TokioIo::new(io), service)
            .with_upgrades()
            .await;
        if let Err(e) = served {
            tracing::debug!("in-process connection: {e}");
        }
    }
}
