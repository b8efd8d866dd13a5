//! `berth-run [docker run flags] IMAGE [CMD…]`: a whole container run with no daemon;
//! `berth-run ps|stop|kill|logs|attach|rm` for detached (`-d`) containers.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use berth_common::{Paths, DEFAULT_ROOT, DEFAULT_RUN_DIR};
use berth_runtime::{control, RunError, RunFlags, Trace};
use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(
    name = "berth-run",
    version,
    about = "Run a command in a new container",
    disable_help_flag = true
)]
struct Cli {
    /// Print help (-h is --hostname, as in docker)
    #[arg(long, action = clap::ArgAction::Help, global = true)]
    help: Option<bool>,
    #[arg(long, env = "BERTH_ROOT", default_value = DEFAULT_ROOT, global = true)]
    root: PathBuf,
    #[arg(long, env = "BERTH_RUN_DIR", default_value = DEFAULT_RUN_DIR, global = true)]
    run_dir: PathBuf,
    #[command(subcommand)]
    manage: Option<Manage>,
    /// Print how long each stage took (stderr)
    #[arg(long)]
    trace: bool,
    /// Run in the background under a monitor and print the container ID
    #[arg(short = 'd', long)]
    detach: bool,
    #[command(flatten)]
    flags: RunFlags,
    /// An image in the store, or an image archive to load first
    image: Option<String>,
    /// The command (default: the image's ENTRYPOINT and CMD)
    #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
    command: Vec<String>,
}

#[derive(Subcommand)]
enum Manage {
    /// List containers (running; -a all)
    Ps {
        #[arg(short, long)]
        all: bool,
        #[arg(short, long)]
        quiet: bool,
        #[arg(long)]
        json: bool,
    },
    /// Stop containers: their stop signal, then SIGKILL after the timeout
    Stop {
        #[arg(short = 't', long = "time", default_value = "10")]
        time: u64,
        #[arg(required = true)]
        containers: Vec<String>,
    },
    /// Send a signal (default SIGKILL)
    Kill {
        #[arg(short = 's', long = "signal", default_value = "KILL")]
        signal: String,
        #[arg(required = true)]
        containers: Vec<String>,
    },
    /// Print a container's logs
    Logs {
        #[arg(short, long)]
        follow: bool,
        container: String,
    },
    /// Attach this terminal (or stdin/stdout/stderr) to a detached container's stdio
    Attach {
        #[command(flatten)]
        flags: berth_runtime::attach::AttachFlags,
        container: String,
    },
    /// Run a command in a running container
    Exec {
        #[command(flatten)]
        flags: berth_runtime::exec::ExecFlags,
        container: String,
        #[arg(trailing_var_arg = true, allow_hyphen_values = true, required = true)]
        command: Vec<String>,
    },
    /// Internal: a network's DNS server, started by the first container attached to it
    #[command(name = "__dns-serve", hide = true)]
    DnsServe { config: String },
    /// Internal: run by berth-monitor after a detached container exited
    #[command(name = "__teardown", hide = true)]
    Teardown { id: String },
    /// Remove containers
    Rm {
        #[arg(short, long)]
        force: bool,
        #[arg(required = true)]
        containers: Vec<String>,
    },
}

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
        }) => berth_runtime::exec::exec(&paths, &container, &flags, &command).map(|o| o.code),
        Some(Manage::Attach { flags, container }) => {
            berth_runtime::attach::attach(&paths, &container, &flags).map_err(RunError::from)
        }
        Some(manage) => self::manage(&paths, manage).map(|()| 0),
        None => run(
            &paths,
            &cli.image,
            &cli.command,
            &cli.flags,
            cli.detach,
            cli.trace,
        ),
    };
    match result {
        Ok(code) => ExitCode::from(code as u8),
        Err(e) => {
            eprintln!("berth-run: {e}");
            ExitCode::from(e.exit_code() as u8)
        }
    }
}

fn run(
    paths: &Paths,
    image: &Option<String>,
    command: &[String],
    flags: &RunFlags,
    detach: bool,
    show_trace: bool,
) -> Result<i32, RunError> {
    let image = image.as_deref().ok_or(RunError::Flag {
        flag: "IMAGE",
        reason: "give an image to run; see --help".into(),
    })?;
    let mut trace = Trace::default();
    let result = if detach {
        berth_runtime::prepare(paths, image, command, flags, &mut trace)
            .and_then(|prepared| berth_runtime::start_detached(paths, prepared, image, flags))
            .map(|state| {
                println!("{}", state.id);
                0
            })
    } else {
        berth_runtime::run(paths, image, command, flags, &mut trace).map(|outcome| {
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

fn manage(paths: &Paths, manage: Manage) -> Result<(), RunError> {
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
                    .map_err(|e| RunError::Control(e.to_string()))?;
            }
        }
        Manage::Stop { time, containers } => {
            for c in containers {
                control::stop(paths, &c, Duration::from_secs(time))?;
                println!("{c}");
            }
        }
        Manage::Kill { signal, containers } => {
            let number = berth_common::signal::parse(&signal).ok_or(RunError::Flag {
                flag: "--signal",
                reason: format!("{signal:?} is not a signal"),
            })?;
            for c in containers {
                control::kill(paths, &c, number)?;
                println!("{c}");
            }
        }
        Manage::Logs { follow, container } => control::logs(paths, &container, follow)?,
        Manage::Exec { .. } | Manage::Attach { .. } => {
            unreachable!("exec and attach are handled before")
        }
        Manage::Teardown { id } => control::teardown_exited(paths, &id)?,
        Manage::DnsServe { config } => {
            berth_net::dns::serve_main(&config).map_err(berth_net::NetError::from)?
        }
        Manage::Rm { force, containers } => {
            for c in containers {
                control::remove(paths, &c, force)?;
                println!("{c}");
            }
        }
    }
    Ok(())
}
