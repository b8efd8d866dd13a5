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

/// The hidden subcommand that removes an AutoRemove container once it exits, for a
/// container this process will not outlive (`run -d --rm`, a detach): the engine's own
/// watcher is a thread of the process that started it.
pub const AUTOREMOVE_HELPER: &str = "__autoremove";

/// The hidden subcommand that does for one container what berthd does for all: applies
/// its restart policy and probes its healthcheck, for as long as that lasts (a daemonless
/// `berth` exits before its containers do; podman's conmon and `container cleanup` play
/// this part there).
pub const SUPERVISE_HELPER: &str = "__supervise";

/// The API of one root, served in-process.
#[derive(Clone)]
pub struct Local {
    app: berth_api::Versioned,
    engine: Arc<berth_engine::Engine>,
    store: LocalStore,
}

impl Local {
    pub fn new(store: LocalStore) -> Local {
        let paths = berth_common::Paths::new(&store.root, &store.run_dir);
        // Its watchers would die with this process: the supervisor helper runs them.
        let engine = Arc::new(berth_engine::Engine::unwatched(paths, store.engine.clone()));
        Local {
            app: berth_api::router(engine.backend()),
            engine,
            store,
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

    /// Whether container `reference` needs a supervisor (a restart policy or a healthcheck).
    pub fn needs_supervisor(&self, reference: &str) -> bool {
        self.engine.needs_watching(reference)
    }

    /// Supervises container `id` in this process until its policy is done with it (the
    /// supervisor helper's work).
    pub async fn supervise(
        &self,
        id: &str,
    ) -> std::result::Result<(), Box<berth_engine::containers::ContainerError>> {
        let engine = self.engine.clone();
        let id = id.to_string();
        tokio::task::spawn_blocking(move || engine.supervise(&id).map_err(Box::new))
            .await
            .expect("the supervisor does not panic")
    }

    /// Starts `<current_exe> … HELPER ID` ([`AUTOREMOVE_HELPER`] or [`SUPERVISE_HELPER`]) on
    /// this store, in a process group of its own (a closing terminal does not stop it), not
    /// waited for: it outlives this process.
    pub fn spawn_helper(&self, helper: &str, id: &str) -> std::io::Result<()> {
        use std::os::unix::process::CommandExt;
        let mut cmd = std::process::Command::new(std::env::current_exe()?);
        cmd.arg("--root")
            .arg(&self.store.root)
            .arg("--run-dir")
            .arg(&self.store.run_dir)
            .arg("--cgroup-parent")
            .arg(&self.store.engine.cgroup_parent)
            .arg("--nft-table")
            .arg(&self.store.engine.net.nft_table);
        if let Some(bridge) = &self.store.engine.net.default_bridge {
            cmd.arg("--bridge-name").arg(bridge);
        }
        if let Some(subnet) = &self.store.engine.net.default_subnet {
            cmd.arg("--default-subnet").arg(subnet.to_string());
        }
        cmd.arg(helper)
            .arg(id)
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .process_group(0)
            .spawn()
            .map(drop)
    }
}
