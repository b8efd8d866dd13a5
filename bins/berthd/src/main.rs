//! `berthd`: serves the Docker Engine API for one root on its listeners (`-H`), until
//! SIGTERM or SIGINT; containers keep running when it stops.

mod config;
mod listen;

use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use berth_common::Paths;
use clap::Parser;

/// In-flight requests get this long to finish after SIGTERM.
const DRAIN: Duration = Duration::from_secs(10);

fn main() -> ExitCode {
    berth_common::edge::install_panic_hook("berthd", berth_common::edge::Report::StderrOnly);
    // berthd spawns itself single-threaded to start containers (the runtime forks).
    if std::env::args().nth(1).as_deref() == Some(berth_engine::containers::START_HELPER) {
        return ExitCode::from(berth_engine::containers::helper_main() as u8);
    }
    let cli = config::Cli::parse();
    let settings = match config::Settings::resolve(cli) {
        Ok(s) => s,
        Err(e) => return fail(e),
    };
    berth_common::edge::init_logging_at(&settings.log_level);
    match run(settings) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => fail(e),
    }
}

fn fail(error: anyhow::Error) -> ExitCode {
    eprintln!("berthd: {error:#}");
    ExitCode::from(1)
}

fn run(settings: config::Settings) -> anyhow::Result<()> {
    let paths = Paths::new(&settings.root, &settings.run_dir);
    let _lock = berth_engine::DaemonLock::take(&paths)?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    runtime.block_on(async move {
        let listeners = listen::bind_all(&settings.hosts, settings.group.as_deref())?;
        let engine = Arc::new(berth_engine::Engine::new(paths, settings.engine.clone()));
        let app = berth_api::router(engine.backend());
        tracing::info!(hosts = ?settings.hosts, root = %settings.root.display(), "berthd serving");
        berth_api::serve::serve(listeners, app, termination(), DRAIN)
            .await
            .context("serving the API")?;
        for host in &settings.hosts {
            listen::remove_socket(host);
        }
        Ok(())
    })
}

/// Resolves on SIGTERM or SIGINT.
async fn termination() {
    use tokio::signal::unix::{signal, SignalKind};
    let (Ok(mut term), Ok(mut int)) = (
        signal(SignalKind::terminate()),
        signal(SignalKind::interrupt()),
    ) else {
        tracing::error!("cannot watch for SIGTERM/SIGINT; stop berthd with SIGKILL");
        return std::future::pending().await;
    };
    tokio::select! {
        _ = term.recv() => tracing::info!("SIGTERM"),
        _ = int.recv() => tracing::info!("SIGINT"),
    }
}
