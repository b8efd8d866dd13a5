//! `berth-cgroup`: the cgroup stage. Thin: parses flags, calls berth-cgroups, prints.

mod cli;

use std::collections::BTreeMap;
use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{bail, Context, Result};
use berth_cgroups::{HostConfig, Mode};
use berth_common::stage::{pass_on, read_record, write_record};
use berth_common::{CgroupPart, ContainerPart, ContainerRecord, Limits};
use clap::Parser;
use serde_json::json;

use berth_cgroups::request::LimitRequest;
use cli::{Cli, Command, Target};

fn main() -> ExitCode {
    berth_common::edge::install_panic_hook("berth-cgroup", berth_common::edge::Report::Stage);
    let cli = Cli::parse();
    berth_common::edge::init_logging(cli.verbose);
    let prints_json = cli.prints_json();
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) if prints_json => berth_common::edge::fail_stage("berth-cgroup", err.as_ref()),
        Err(err) => berth_common::edge::fail_command("berth-cgroup", err.as_ref()),
    }
}

fn run(cli: Cli) -> Result<()> {
    if !(cli.timeout.is_finite() && cli.timeout > 0.0) {
        bail!("--timeout must be a positive number of seconds");
    }
    let timeout = Duration::from_secs_f64(cli.timeout);
    let config = HostConfig {
        root: cli.cgroup_root.clone(),
        parent: cli.cgroup_parent.clone(),
        parent_pids_max: cli.parent_pids_max,
        ..HostConfig::default()
    };
    let Some(command) = cli.command else {
        return create(&cli.root, &config, &cli.limits.into());
    };
    match command {
        Command::Place { pid, target } => {
            let (part, record) = target_part(&config, &target)?;
            berth_cgroups::place(&part, pid)?;
            match record {
                Some(record) => write_record(std::io::stdout().lock(), &record)?,
                None => println!("{}", json!({ "placed": pid })),
            }
        }
        Command::Stats { target } => {
            let (part, _) = target_part(&config, &target)?;
            println!("{}", serde_json::to_string(&berth_cgroups::stats(&part)?)?);
        }
        Command::Oom { target } => {
            let (part, _) = target_part(&config, &target)?;
            println!(
                "{}",
                serde_json::to_string(&berth_cgroups::oom_killed(&part)?)?
            );
        }
        Command::Freeze { target } => {
            let (part, _) = target_part(&config, &target)?;
            berth_cgroups::freeze(&part, timeout)?;
            print_state(&part)?;
        }
        Command::Thaw { target } => {
            let (part, _) = target_part(&config, &target)?;
            berth_cgroups::thaw(&part, timeout)?;
            print_state(&part)?;
        }
        Command::Kill { signal, target } => {
            let (part, _) = target_part(&config, &target)?;
            let number = berth_common::signal::parse(&signal)
                .ok_or_else(|| anyhow::anyhow!("unknown signal {signal:?}"))?;
            if Some(number) == berth_common::signal::parse("KILL") {
                let pids = berth_cgroups::procs(&part)?;
                berth_cgroups::kill_all(&part, timeout)?;
                println!("{}", json!({ "signal": number, "killed": pids }));
            } else {
                let sent = berth_cgroups::signal_all(&part, number)?;
                println!("{}", json!({ "signal": number, "signalled": sent }));
            }
        }
        Command::Procs { target } => {
            let (part, _) = target_part(&config, &target)?;
            println!("{}", json!({ "pids": berth_cgroups::procs(&part)? }));
        }
        Command::Down { id, json, target } => {
            let (part, record) = match id {
                Some(id) => (berth_cgroups::part_for(&config, &id)?, None),
                None => target_part(&config, &target)?,
            };
            berth_cgroups::down(&part, timeout)?;
            match record {
                Some(mut record) => {
                    record.cgroup = None;
                    pass_on(&record, json)?;
                }
                None if json || !std::io::stdout().is_terminal() => println!(
                    "{}",
                    json!({ "removed": part.paths.values().collect::<Vec<_>>() })
                ),
                None => {}
            }
        }
        Command::Reset { json } => {
            let report = berth_cgroups::reset(&config)?;
            if json {
                println!("{}", serde_json::to_string(&report)?);
            } else {
                for dir in &report.removed {
                    println!("removed cgroup {}", dir.display());
                }
            }
        }
    }
    Ok(())
}

fn print_state(part: &CgroupPart) -> Result<()> {
    let state = berth_cgroups::manager(part)?.freezer_state()?;
    println!("{}", json!({ "state": state }));
    Ok(())
}

/// The default action: the record on stdin, the cgroups made, the record extended.
fn create(root: &std::path::Path, config: &HostConfig, request: &LimitRequest) -> Result<()> {
    let mut record: ContainerRecord = read_record(std::io::stdin().lock())?;
    if record.root != root {
        tracing::debug!(
            "the record's root {} differs from --root {}",
            record.root.display(),
            root.display()
        );
    }
    if let Some(existing) = &record.cgroup {
        bail!(
            "the record already has cgroups ({}); run `berth-cgroup down` on it first",
            existing
                .paths
                .values()
                .next()
                .map(|p| p.display().to_string())
                .unwrap_or_default()
        );
    }
    let limits = request.limits()?;
    let id = match &record.container {
        Some(container) => container.id.clone(),
        None => {
            let container = ContainerPart::new(None);
            let id = container.id.clone();
            record.container = Some(container);
            id
        }
    };
    // A signal after the setup waits until the record is out (see Teardown in
    // docs/architecture.md); one during it undoes the setup.
    let _until_emitted = berth_common::TerminationBlocked::new();
    let part = berth_cgroups::create(config, &id, &limits)
        .with_context(|| format!("cannot create the cgroups of container {id}"))?;
    record.cgroup = Some(part);
    write_record(std::io::stdout().lock(), &record)?;
    Ok(())
}

/// The cgroup part to work on: from `--path` flags, or from the record on stdin (which is
/// returned too, to pass it on).
fn target_part(
    config: &HostConfig,
    target: &Target,
) -> Result<(CgroupPart, Option<ContainerRecord>)> {
    if target.paths.is_empty() {
        let record = read_record(std::io::stdin().lock())?;
        let part = record
            .cgroup
            .clone()
            .context("the record has no cgroup part (run berth-cgroup on it first)")?;
        return Ok((part, Some(record)));
    }
    let mode = match &target.mode {
        Some(mode) => Mode::parse(mode)?,
        None => config.mode()?,
    };
    let mut paths = BTreeMap::new();
    for item in &target.paths {
        let (key, dir) = item
            .split_once('=')
            .with_context(|| format!("--path {item:?} is not KEY=DIR"))?;
        paths.insert(key.to_string(), PathBuf::from(dir));
    }
    Ok((
        CgroupPart {
            mode: mode.as_str().to_string(),
            paths,
            limits: Limits::default(),
        },
        None,
    ))
}
