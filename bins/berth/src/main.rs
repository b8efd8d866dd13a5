//! `berth`: docker's commands and flags over the Engine API, against berthd or dockerd
//! (`-H`, `DOCKER_HOST`, contexts), several daemons at once, or, with no host configured,
//! the same API in this process over the local store.

mod cli;
mod commands;
mod connect;
mod exit;

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    berth_common::edge::install_panic_hook("berth", berth_common::edge::Report::StderrOnly);
    quiet_on_broken_pipe();
    // In-process mode spawns this binary single-threaded for work that forks, as berthd
    // does: container starts, DNS servers, builds and their RUN steps.
    if let Some(code) = berth_engine::helper_main() {
        return ExitCode::from(code as u8);
    }
    let cli = match cli::Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => return exit::usage(e),
    };
    berth_common::edge::init_logging_at(&cli.log_level);
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("berth: cannot start the async runtime: {e}");
            return ExitCode::from(125);
        }
    };
    let code = runtime.block_on(commands::dispatch(cli));
    // A follow or an attach still reading stdin must not keep the process alive.
    runtime.shutdown_timeout(std::time::Duration::from_millis(100));
    ExitCode::from(code)
}

/// `berth ps | head -1`: print! panics once the reader has gone (Rust ignores SIGPIPE, so
/// the write fails with EPIPE). A shell tool ends quietly then, with the status a SIGPIPE
/// death gives (141), instead of a panic report.
fn quiet_on_broken_pipe() {
    let report = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let text = info
            .payload()
            .downcast_ref::<String>()
            .map(String::as_str)
            .or_else(|| info.payload().downcast_ref::<&str>().copied())
            .unwrap_or_default();
        if text.contains("Broken pipe") {
            std::process::exit(141);
        }
        report(info);
    }));
}
