//! `berthd`: serves the Docker Engine API for one root on its listeners (`-H`), until
//! SIGTERM or SIGINT; containers keep running when it stops.

mod activation;
mod config;
mod listen;
mod logging;

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
    // berthd spawns itself single-threaded for work that forks: container starts, a
    // network's DNS server, builds and their RUN steps.
    if let Some(code) = berth_engine::helper_main() {
        return ExitCode::from(code as u8);
    }
    let cli = config::Cli::parse();
    let settings = match config::Settings::resolve(cli.clone()) {
        Ok(s) => s,
        Err(e) => return fail(e),
    };
    let level = logging::init(&settings.log_level);
    match run(cli, settings, level) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => fail(e),
    }
}

fn fail(error: anyhow::Error) -> ExitCode {
    eprintln!("berthd: {error:#}");
    ExitCode::from(1)
}

fn run(
    cli: config::Cli,
    settings: config::Settings,
    level: logging::LevelHandle,
) -> anyhow::Result<()> {
    let paths = Paths::new(&settings.root, &settings.run_dir);
    let _lock = berth_engine::DaemonLock::take(&paths)?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    let served = runtime.block_on(async move {
        let listeners = listen::bind_all(
            &settings.hosts,
            settings.group.as_deref(),
            settings.tls.as_ref(),
        )?;
        let engine = Arc::new(berth_engine::Engine::new(paths, settings.engine.clone()));
        let app = berth_api::router(engine.backend());
        // Containers adopted from the last daemon are watched again; restart policies apply.
        engine.resume_restarts();
        tracing::info!(hosts = ?settings.hosts, root = %settings.root.display(), "berthd serving");
        let running = settings.clone();
        let until_stopped = termination(move || reload(&cli, &running, &level));
        berth_api::serve::serve(listeners, app, until_stopped, DRAIN)
            .await
            .context("serving the API")?;
        for host in &settings.hosts {
            listen::remove_socket(host);
        }
        Ok(())
    });
    // Blocking work still running (a follow, a wait) must not keep a stopped daemon alive.
    runtime.shutdown_timeout(Duration::from_secs(1));
    served
}

/// Resolves on SIGTERM or SIGINT; calls `on_hangup` for each SIGHUP meanwhile.
async fn termination(on_hangup: impl Fn() + Send + 'static) {
    use tokio::signal::unix::{signal, SignalKind};
    let (Ok(mut term), Ok(mut int), Ok(mut hup)) = (
        signal(SignalKind::terminate()),
        signal(SignalKind::interrupt()),
        signal(SignalKind::hangup()),
    ) else {
        tracing::error!("cannot watch for SIGTERM/SIGINT/SIGHUP; stop berthd with SIGKILL");
        return std::future::pending().await;
    };
    loop {
        tokio::select! {
            _ = term.recv() => return tracing::info!("SIGTERM"),
            _ = int.recv() => return tracing::info!("SIGINT"),
            _ = hup.recv() => on_hangup(),
        }
    }
}

/// SIGHUP: reads the config file again and applies what can change while running (the
/// log level); a change of anything else is named and waits for a restart.
fn reload(cli: &config::Cli, running: &config::Settings, level: &logging::LevelHandle) {
    match config::Settings::resolve(cli.clone()) {
        Ok(new) => {
            level.set(&new.log_level);
            for key in config::restart_only_changes(running, &new) {
                tracing::warn!("config: {key} changed; it takes effect when berthd restarts");
            }
            tracing::info!(log_level = %new.log_level, "configuration reloaded");
        }
        Err(e) => tracing::error!("configuration not reloaded: {e:#}"),
    }
}
