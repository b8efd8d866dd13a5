//! `berth-mount`: the rootfs stage. Thin: parses flags, calls berth-rootfs, prints.

mod cli;

use std::process::ExitCode;

use anyhow::{Context, Result};
use berth_common::{stage, Paths};
use berth_rootfs::volumes;
use clap::Parser;

use cli::{Cli, Command, VolumeCommand};

fn main() -> ExitCode {
    berth_common::edge::install_panic_hook("berth-mount", berth_common::edge::Report::Stage);
    let cli = Cli::parse();
    berth_common::edge::init_logging(0);
    let is_stage = cli.is_stage();
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) if is_stage => berth_common::edge::fail_stage("berth-mount", err.as_ref()),
        Err(err) => berth_common::edge::fail_command("berth-mount", err.as_ref()),
    }
}

fn run(cli: Cli) -> Result<()> {
    // Mount options, state files and mountinfo hold these paths: make them absolute, and
    // canonical where they exist (mountinfo shows resolved paths, so `down` must compare
    // against those). The stage creates the run dir first.
    if cli.command.is_none() {
        std::fs::create_dir_all(&cli.run_dir)
            .with_context(|| format!("creating the run dir {}", cli.run_dir.display()))?;
    }
    let root = canonical(&cli.root).context("--root")?;
    let run_dir = canonical(&cli.run_dir).context("--run-dir")?;
    let paths = Paths::new(&root, &run_dir);
    let mount: berth_rootfs::MountRequest = cli.stage.mount.into();
    if cli.command.is_some() && (!mount.is_empty() || cli.stage.name.is_some()) {
        anyhow::bail!(
            "-v, --tmpfs, --read-only, --name and the user namespace flags belong to the \
             stage, not to its subcommands"
        );
    }
    match cli.command {
        None => {
            let mut record = stage::read_record(std::io::stdin().lock())?;
            // The record names the store its layers live in; the flags name where the
            // container's state goes. They must agree, or the layers' short links and the
            // containers land in different stores.
            if canonical(&record.root)? != root {
                anyhow::bail!(
                    "the record belongs to the store at {}, not to --root {}",
                    record.root.display(),
                    root.display()
                );
            }
            record.run_dir = run_dir.clone();
            // A signal after the setup waits until the record is out (see Teardown in
            // docs/architecture.md); one during it undoes the setup.
            let _until_emitted = berth_common::TerminationBlocked::new();
            let opts = mount.setup_options(cli.stage.name, cli.stage.volatile)?;
            berth_rootfs::setup(&paths, &mut record, &opts)?;
            stage::write_record(std::io::stdout().lock(), &record)?;
            Ok(())
        }
        Some(Command::Down {
            id,
            remove,
            keep_volumes,
            json,
        }) => down(&paths, id, remove, !keep_volumes, json),
        Some(Command::Rm {
            id,
            keep_volumes,
            json,
        }) => down(&paths, id, true, !keep_volumes, json),
        Some(Command::Volume(cmd)) => volume(&paths, cmd),
    }
}

/// `path` made absolute, with symlinks resolved if it exists.
fn canonical(path: &std::path::Path) -> std::io::Result<std::path::PathBuf> {
    match std::fs::canonicalize(path) {
        Ok(p) => Ok(p),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => std::path::absolute(path),
        Err(e) => Err(e),
    }
}

/// `down`: with `--id` prints nothing; with a record on stdin passes it on without its
/// rootfs part (and without its container part once removed). `volumes`: a removal takes
/// the anonymous volumes too.
fn down(paths: &Paths, id: Option<String>, remove: bool, volumes: bool, json: bool) -> Result<()> {
    if let Some(id) = id {
        let id = berth_common::registry::resolve(paths, &id)?;
        berth_rootfs::down_with(paths, &id, None, remove, remove && volumes)?;
        return Ok(());
    }
    let mut record = stage::read_record(std::io::stdin().lock())?;
    let container = record
        .container
        .clone()
        .context("the record has no container (nothing was mounted for it)")?;
    berth_rootfs::down_with(
        paths,
        &container.id,
        record.rootfs.as_ref(),
        remove,
        remove && volumes,
    )?;
    record.rootfs = None;
    if remove {
        record.container = None;
    }
    stage::pass_on(&record, json)?;
    Ok(())
}

fn volume(paths: &Paths, cmd: VolumeCommand) -> Result<()> {
    match cmd {
        VolumeCommand::Ls { quiet, json } => {
            let list = volumes::list_volumes(paths)?;
            if json {
                println!("{}", serde_json::to_string(&list)?);
            } else if quiet {
                for v in list {
                    println!("{}", v.name);
                }
            } else {
                let rows: Vec<Vec<&str>> = list
                    .iter()
                    .map(|v| vec![v.driver.as_str(), v.name.as_str()])
                    .collect();
                print!(
                    "{}",
                    berth_common::table::render(&["DRIVER", "VOLUME NAME"], &rows)
                );
            }
        }
        VolumeCommand::Create { name } => {
            let info = volumes::create_volume(paths, name.as_deref())?;
            println!("{}", info.name);
        }
        VolumeCommand::Inspect { names } => {
            let infos = names
                .iter()
                .map(|n| volumes::inspect_volume(paths, n))
                .collect::<Result<Vec<_>, _>>()?;
            println!("{}", serde_json::to_string_pretty(&infos)?);
        }
        VolumeCommand::Rm { names } => {
            for name in names {
                volumes::remove_volume(paths, &name, false)?;
                println!("{name}");
            }
        }
    }
    Ok(())
}
