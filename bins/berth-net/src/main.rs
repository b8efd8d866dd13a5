//! `berth-net`: the network stage and network management. Thin: parses flags, calls
//! berth-net the library, prints.

mod cli;
mod output;

use std::collections::BTreeMap;
use std::process::ExitCode;

use anyhow::{bail, Context, Result};
use berth_common::stage::{read_record, write_record};
use berth_common::Paths;
use berth_net::{HostSettings, NetRequest};
use clap::Parser;

use cli::{Cli, Command};

fn main() -> ExitCode {
    berth_common::edge::install_panic_hook("berth-net", berth_common::edge::Report::Stage);
    let cli = Cli::parse();
    berth_common::edge::init_logging(cli.verbose);
    let is_stage = cli.is_stage();
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) if is_stage => berth_common::edge::fail_stage("berth-net", err.as_ref()),
        Err(err) => berth_common::edge::fail_command("berth-net", err.as_ref()),
    }
}

fn key_values(flag: &str, items: &[String]) -> Result<BTreeMap<String, String>> {
    items
        .iter()
        .map(|kv| match kv.split_once('=') {
            Some((k, v)) if !k.is_empty() => Ok((k.to_string(), v.to_string())),
            _ => bail!("invalid {flag} {kv:?}: expected KEY=VALUE"),
        })
        .collect()
}

fn run(cli: Cli) -> Result<()> {
    let paths = Paths::new(&cli.root, &cli.run_dir);
    let settings: HostSettings = cli.settings.into();
    let Some(command) = cli.command else {
        return stage(&paths, &settings, &cli.request.into());
    };
    let ctx = berth_net::Context {
        paths: &paths,
        settings: &settings,
        dns: berth_net::DnsLauncher::current_exe(),
    };
    match command {
        Command::Create {
            subnet,
            gateway,
            ip_range,
            internal,
            driver,
            options,
            labels,
            name,
        } => {
            if driver != "bridge" {
                bail!("invalid --driver {driver:?}: berth has the bridge driver only");
            }
            let request = berth_net::CreateRequest {
                name,
                subnet,
                gateway,
                ip_range,
                internal,
                options: key_values("--opt", &options)?,
                labels: key_values("--label", &labels)?,
            };
            let def = berth_net::gc::create(&paths, &settings, &request)?;
            println!("{}", def.id);
        }
        Command::Ls { quiet, json } => {
            let defs = berth_net::network::list(&paths)?;
            output::print_ls(&defs, quiet, json)?;
        }
        Command::Inspect { networks } => {
            let mut out = Vec::new();
            for reference in &networks {
                let def = berth_net::network::find(&paths, reference)?;
                out.push(output::inspect(&paths, &def));
            }
            println!("{}", serde_json::to_string_pretty(&out)?);
        }
        Command::Rm { networks } => {
            for reference in &networks {
                berth_net::gc::remove(&paths, reference)?;
                println!("{reference}");
            }
        }
        Command::Prune { force: _ } => {
            let removed = berth_net::gc::prune(&paths)?;
            if !removed.is_empty() {
                println!("Deleted Networks:");
                for name in removed {
                    println!("{name}");
                }
            }
        }
        Command::Connect {
            aliases,
            ip,
            network,
            container,
        } => {
            berth_net::connect(&ctx, &container, &network, &aliases, ip)?;
        }
        Command::Disconnect { network, container } => {
            berth_net::disconnect(&paths, &container, &network)?;
        }
        Command::Down { id, json } => match id {
            Some(reference) => berth_net::down(
                &paths,
                &berth_common::registry::resolve(&paths, &reference)?,
            )?,
            None => {
                let mut record = read_record(std::io::stdin().lock()).context("berth-net down")?;
                let container = record
                    .container
                    .as_ref()
                    .context("the record has no container")?;
                berth_net::down(&paths, &container.id)?;
                record.network = None;
                berth_common::stage::pass_on(&record, json)?;
            }
        },
        Command::Gc { json } => {
            let report = berth_net::gc::gc(&paths)?;
            if json {
                println!("{}", serde_json::to_string_pretty(&report)?);
            } else {
                output::print_gc(&report);
            }
        }
        Command::Reset => berth_net::gc::reset(&paths, &settings)?,
        Command::DnsServe { config } => berth_net::dns::serve_main(&config)?,
    }
    Ok(())
}

/// The stage: the record in, networked, the record out.
fn stage(paths: &Paths, settings: &HostSettings, request: &NetRequest) -> Result<()> {
    let mut record = read_record(std::io::stdin().lock()).context("berth-net")?;
    let ctx = berth_net::Context {
        paths,
        settings,
        dns: berth_net::DnsLauncher::current_exe(),
    };
    // A signal after the setup waits until the record is out (see Teardown in
    // docs/architecture.md); one during it undoes the setup.
    let _until_emitted = berth_common::TerminationBlocked::new();
    let part = berth_net::setup(&ctx, &record, request)?;
    record.network = Some(part);
    if let Err(e) = write_record(std::io::stdout().lock(), &record) {
        // Nobody downstream will take the container over: undo.
        if let Some(c) = &record.container {
            let _ = berth_net::down(paths, &c.id);
        }
        return Err(e.into());
    }
    Ok(())
}
