//! `berth-run [docker run flags] IMAGE [CMD…]`: a whole container run with no daemon;
//! `berth-run ps|stop|kill|logs|attach|rm` for detached (`-d`) containers.

mod cli;

use std::process::ExitCode;
use std::time::Duration;

use berth_common::Paths;
use berth_runtime::{control, RunError, RunRequest, Trace};
use clap::Parser;

use cli::{Cli, Manage};

fn main() -> ExitCode {
    berth_common::edge::install_panic_hook("berth-run", berth_common::edge::Report::StderrOnly);
    let cli = Cli::parse();
    berth_common::edge::init_logging(0);
    let paths = Paths::new(&cli.root, &cli.run_dir);
    let result = match cli.manage {
        Some(Manage::Exec {
            flags,
            container,
            command,
        }) => berth_runtime::exec::exec(&paths, &container, &flags.into_request(command))
            .map(|o| o.code),
        Some(Manage::Attach { flags, container }) => {
            berth_runtime::attach::attach(&paths, &container, &flags.into()).map_err(RunError::from)
        }
        Some(manage) => self::manage(&paths, manage, &cli.flags.cgroup_parent).map(|()| 0),
        None => cli
            .run_request()
            .and_then(|request| run(&paths, &request, cli.detach, cli.trace)),
    };
    match result {
        Ok(code) => ExitCode::from(code as u8),
        Err(e) => {
            match e.missing_image() {
                Some(image) => eprintln!("berth-run: {}", berth_common::edge::missing_image(image)),
                None => eprintln!("berth-run: {e}"),
            }
            ExitCode::from(e.exit_code() as u8)
        }
    }
}

fn run(
    paths: &Paths,
    request: &RunRequest,
    detach: bool,
    show_trace: bool,
) -> Result<i32, RunError> {
    let mut trace = Trace::default();
    let result = if detach {
        berth_runtime::prepare(paths, request, &mut trace)
            .and_then(|prepared| berth_runtime::start_detached(paths, prepared, request))
            .map(|state| {
                println!("{}", state.id);
                0
            })
    } else {
        berth_runtime::run(paths, request, &mut trace).map(|outcome| {
            if outcome.oom_killed {
                eprintln!("berth-run: the container ran out of memory and the kernel killed it (OOMKilled)");
            }
            outcome.code
        })
    };
    if show_trace {
        eprint!("{}", trace.render());
    }
    result
}

fn manage(paths: &Paths, manage: Manage, cgroup_parent: &str) -> Result<(), RunError> {
    match manage {
        Manage::Ps { all, quiet, json } => {
            let rows = control::ps(paths, all);
            if json {
                println!(
                    "{}",
                    serde_json::to_string_pretty(&rows).expect("rows serialise")
                );
            } else {
                control::print_ps(&rows, quiet, &mut std::io::stdout().lock())
                    .map_err(RunError::Output)?;
            }
        }
        Manage::Stop { time, containers } => {
            for c in containers {
                control::stop(paths, &c, Duration::from_secs(time))?;
                println!("{c}");
            }
        }
        Manage::Kill { signal, containers } => {
            let number = berth_common::signal::parse(&signal).ok_or(RunError::InvalidInput {
                flag: "--signal",
                reason: format!("{signal:?} is not a signal"),
            })?;
            for c in containers {
                control::kill(paths, &c, number)?;
                println!("{c}");
            }
        }
        Manage::Logs { follow, container } => control::logs(
            paths,
            &container,
            &berth_runtime::logs::LogsRequest {
                follow,
                ..Default::default()
            },
            &mut std::io::stdout().lock(),
            &mut std::io::stderr().lock(),
        )?,
        Manage::Exec { .. } | Manage::Attach { .. } => {
            unreachable!("exec and attach are handled before")
        }
        Manage::Teardown { id } => control::teardown_exited(paths, &id)?,
        Manage::DnsServe { config } => {
            berth_net::dns::serve_main(&config).map_err(berth_net::NetError::from)?
        }
        Manage::Rm {
            force,
            volumes,
            containers,
        } => {
            let cgroups = berth_cgroups::HostConfig {
                parent: cgroup_parent.to_string(),
                ..Default::default()
            };
            for c in containers {
                match control::remove_with(paths, &c, force, volumes, &cgroups) {
                    Ok(_) => println!("{c}"),
                    // As docker: with --force, a container already gone is no failure.
                    Err(e) if force && e.kind() == berth_runtime::ErrorKind::NotFound => {
                        eprintln!("berth-run: {e}")
                    }
                    Err(e) => return Err(e),
                }
            }
        }
    }
    Ok(())
}
