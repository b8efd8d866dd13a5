//! `berth-run [docker run flags] IMAGE [CMD…]`: a whole container run with no daemon.

use std::path::PathBuf;
use std::process::ExitCode;

use berth_common::{Paths, DEFAULT_ROOT, DEFAULT_RUN_DIR};
use berth_runtime::{RunFlags, Trace};
use clap::Parser;

#[derive(Parser)]
#[command(
    name = "berth-run",
    version,
    about = "Run a command in a new container",
    disable_help_flag = true
)]
struct Cli {
    /// Print help (-h is --hostname, as in docker)
    #[arg(long, action = clap::ArgAction::Help)]
    help: Option<bool>,
    #[arg(long, env = "BERTH_ROOT", default_value = DEFAULT_ROOT)]
    root: PathBuf,
    #[arg(long, env = "BERTH_RUN_DIR", default_value = DEFAULT_RUN_DIR)]
    run_dir: PathBuf,
    /// Print how long each stage took (stderr)
    #[arg(long)]
    trace: bool,
    #[command(flatten)]
    flags: RunFlags,
    /// An image in the store, or an image archive to load first
    image: String,
    /// The command (default: the image's ENTRYPOINT and CMD)
    #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
    command: Vec<String>,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("BERTH_LOG")
                .unwrap_or_else(|_| "warn".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    let paths = Paths::new(&cli.root, &cli.run_dir);
    let mut trace = Trace::default();
    let result = berth_runtime::run(&paths, &cli.image, &cli.command, &cli.flags, &mut trace);
    if cli.trace {
        eprint!("{}", trace.render());
    }
    match result {
        Ok(outcome) => {
            if outcome.oom_killed {
                eprintln!("berth-run: the container ran out of memory and the kernel killed it (OOMKilled)");
            }
            ExitCode::from(outcome.code as u8)
        }
        Err(e) => {
            eprintln!("berth-run: {e}");
            ExitCode::from(e.exit_code() as u8)
        }
    }
}
