//! `berth-enter`: the last stage. Reads the container record, starts the command in new
//! namespaces on the record's root filesystem, and exits with the command's status.
//! Its stdout and stderr are the container's, so its own errors go to stderr only.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use berth_common::stage::read_record;
use berth_process::options::ProcessOptions;
use clap::Parser;

#[derive(Parser)]
#[command(
    name = "berth-enter",
    version,
    about = "Start a container's process from its record (stdin)",
    disable_help_flag = true
)]
struct Cli {
    /// Print help (-h is --hostname, as in docker)
    #[arg(long, action = clap::ArgAction::Help)]
    help: Option<bool>,
    /// Read the container record from this file instead of standard input
    #[arg(long)]
    record: Option<PathBuf>,
    /// Run the command inside this running container (name or ID) instead of a new one
    #[arg(long, value_name = "CONTAINER")]
    join: Option<String>,
    #[arg(long, env = "BERTH_ROOT", default_value = berth_common::DEFAULT_ROOT)]
    root: PathBuf,
    #[arg(long, env = "BERTH_RUN_DIR", default_value = berth_common::DEFAULT_RUN_DIR)]
    run_dir: PathBuf,
    /// Network when the record has none (berth-net not in the pipeline): none, host, or a
    /// network namespace path
    #[arg(long, default_value = "none")]
    network: String,
    #[command(flatten)]
    process: ProcessOptions,
    /// The command (default: the image's ENTRYPOINT and CMD)
    #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
    command: Vec<String>,
}

fn main() -> ExitCode {
    berth_common::edge::install_panic_hook("berth-enter", berth_common::edge::Report::StderrOnly);
    let cli = Cli::parse();
    berth_common::edge::init_logging(0);
    match run(cli) {
        Ok(code) => ExitCode::from(code),
        Err((code, err)) => {
            eprintln!("berth-enter: {err:#}");
            ExitCode::from(code)
        }
    }
}

fn run(mut cli: Cli) -> std::result::Result<u8, (u8, anyhow::Error)> {
    let berth_err = |e: anyhow::Error| (125u8, e);
    cli.process.network = cli.network.clone();
    if let Some(container) = &cli.join {
        let flags = berth_runtime::exec::ExecFlags {
            interactive: cli.process.interactive,
            tty: cli.process.tty,
            env: cli.process.env.clone(),
            workdir: cli.process.workdir.clone(),
            user: cli.process.user.clone(),
            privileged: cli.process.privileged,
        };
        let paths = berth_common::Paths::new(&cli.root, &cli.run_dir);
        return berth_runtime::exec::exec(&paths, container, &flags, &cli.command)
            .map(|o| o.code as u8)
            .map_err(|e| (e.exit_code() as u8, e.into()));
    }
    let mut record = match &cli.record {
        Some(path) => read_record(
            std::fs::File::open(path)
                .with_context(|| format!("cannot open {}", path.display()))
                .map_err(berth_err)?,
        ),
        None => read_record(std::io::stdin().lock()),
    }
    .context("berth-enter")
    .map_err(berth_err)?;
    let mut spec = cli
        .process
        .spec(&mut record, &cli.command)
        .map_err(|e| berth_err(e.into()))?;
    spec.seccomp = berth_process::seccomp::filter_for(
        &cli.process,
        &spec,
        Some(&record.run_dir.join("seccomp")),
    )
    .map_err(|e| berth_err(e.into()))?;
    let started = berth_process::start(&spec).map_err(|e| (e.exit_code() as u8, e.into()))?;
    Ok(started.wait() as u8)
}
