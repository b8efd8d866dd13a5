//! `berth-oci`: a runc-compatible OCI runtime CLI over berth's isolation library
//! (`berth-oci-runtime`). Flags as runc's; errors on stderr and, with `--log`, as a log
//! line in the file (`--log-format json`: `{"level":"error","msg":…}`, which containerd's
//! shim reads); exit status 1 on an error, a foreground `run`'s container's own status.

mod cli;
mod log;
mod table;

use std::process::ExitCode;

use clap::Parser;

use cli::{Cli, Command};

fn main() -> ExitCode {
    let cli = Cli::parse();
    let logger = log::Logger::new(&cli);
    match run(&cli) {
        Ok(code) => ExitCode::from(code),
        Err(e) => {
            logger.error(&format!("{e:#}"));
            ExitCode::from(1)
        }
    }
}

fn run(cli: &Cli) -> anyhow::Result<u8> {
    use berth_oci_runtime as oci;
    let root = &cli.root;
    match &cli.command {
        Command::Create(args) => {
            let created = oci::create::create(&args.request(root, cli.systemd_cgroup))?;
            // The init is not ours to wait for: its reaper is the caller's subreaper.
            drop(created);
            Ok(0)
        }
        Command::Run(args) => cli::run(root, cli.systemd_cgroup, args),
        Command::Exec(args) => cli::exec(root, args),
        Command::Start { id } => {
            oci::start::start(root, id)?;
            Ok(0)
        }
        Command::State { id } => {
            let container = oci::state::Container::load(root, id)?;
            println!("{}", serde_json::to_string_pretty(&container.oci_state())?);
            Ok(0)
        }
        Command::Kill { all, id, signal } => {
            oci::kill::kill(root, id, oci::signal::parse(signal)?, *all)?;
            Ok(0)
        }
        Command::Delete { force, id } => {
            oci::delete::delete(root, id, *force)?;
            Ok(0)
        }
        Command::Update { resources, id } => {
            oci::update::update(root, id, resources)?;
            Ok(0)
        }
        Command::Events {
            stats: true, id, ..
        } => {
            println!("{}", oci::events::stats(root, id)?);
            Ok(0)
        }
        Command::Events { interval, id, .. } => {
            oci::events::watch(root, id, *interval, |event| println!("{event}"))?;
            Ok(0)
        }
        Command::Pause { id } => {
            oci::kill::freeze(root, id, true)?;
            Ok(0)
        }
        Command::Resume { id } => {
            oci::kill::freeze(root, id, false)?;
            Ok(0)
        }
        Command::List { format, quiet } => {
            table::list(root, format, *quiet)?;
            Ok(0)
        }
        Command::Ps {
            format,
            id,
            ps_args,
        } => {
            table::ps(root, id, format, ps_args)?;
            Ok(0)
        }
        Command::Spec { bundle, rootless } => {
            cli::write_spec(bundle.as_deref(), *rootless)?;
            Ok(0)
        }
        Command::Features => {
            println!(
                "{}",
                serde_json::to_string_pretty(&oci::features::features())?
            );
            Ok(0)
        }
        Command::Checkpoint { .. } => Err(oci::OciError::NotSupported("checkpoint").into()),
        Command::Restore { .. } => Err(oci::OciError::NotSupported("restore").into()),
    }
}
