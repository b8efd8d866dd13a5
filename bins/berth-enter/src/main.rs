//! `berth-enter`: the last stage. Reads the container record, starts the command in new
//! namespaces on the record's root filesystem, and exits with the command's status.
//! Its stdout and stderr are the container's, so its own errors go to stderr only.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use berth_cli::ProcessArgs;
use berth_common::stage::read_record;
use berth_process::container_exec::ExecRequest;
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
    process: ProcessArgs,
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

impl Cli {
    /// `--join`: the flags an exec takes, applied to the running container.
    fn exec_request(&self) -> ExecRequest {
        ExecRequest {
            command: self.command.clone(),
            interactive: self.process.interactive,
            tty: self.process.tty,
            env: self.process.env.clone(),
            workdir: self.process.workdir.clone(),
            user: self.process.user.clone(),
            privileged: self.process.privileged,
        }
    }

    fn process_options(&self) -> ProcessOptions {
        self.process.clone().into_options(self.network.clone())
    }
}

fn run(cli: Cli) -> std::result::Result<u8, (u8, anyhow::Error)> {
    let berth_err = |e: anyhow::Error| (125u8, e);
    if let Some(container) = &cli.join {
        let paths = berth_common::Paths::new(&cli.root, &cli.run_dir);
        return berth_process::container_exec::exec(&paths, container, &cli.exec_request())
            .map(|code| code as u8)
            .map_err(|e| (e.exit_code() as u8, e.into()));
    }
    let process = cli.process_options();
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
    let mut spec = process
        .spec(&mut record, &cli.command)
        .map_err(|e| berth_err(e.into()))?;
    spec.seccomp =
        berth_process::seccomp::filter_for(&process, &spec, Some(&record.run_dir.join("seccomp")))
            .map_err(|e| berth_err(e.into()))?;
    let started = berth_process::start(&spec).map_err(|e| (e.exit_code() as u8, e.into()))?;
    Ok(started.wait() as u8)
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    fn parse(args: &[&str]) -> Cli {
        Cli::try_parse_from(std::iter::once("berth-enter").chain(args.iter().copied()))
            .unwrap_or_else(|e| panic!("{args:?}: {e}"))
    }

    #[test]
    fn the_cli_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn a_typical_command_line_makes_the_process_options() {
        let cli = parse(&[
            "--network",
            "host",
            "-e",
            "A=1",
            "--env-file",
            "/tmp/env",
            "-u",
            "nobody",
            "-w",
            "/srv",
            "--entrypoint",
            "",
            "-h",
            "box",
            "--cap-add",
            "ALL",
            "--cap-drop",
            "NET_RAW",
            "--security-opt",
            "seccomp=unconfined",
            "--ulimit",
            "nofile=10",
            "--init",
            "-t",
            "--shm-size",
            "1m",
            "--",
            "sh",
            "-c",
            "true",
        ]);
        assert_eq!(cli.command, ["sh", "-c", "true"]);
        assert_eq!(
            cli.process_options(),
            ProcessOptions {
                env: vec!["A=1".into()],
                env_file: vec!["/tmp/env".into()],
                workdir: Some("/srv".into()),
                user: Some("nobody".into()),
                entrypoint: Some(String::new()),
                hostname: Some("box".into()),
                cap_add: vec!["ALL".into()],
                cap_drop: vec!["NET_RAW".into()],
                privileged: false,
                security_opt: vec!["seccomp=unconfined".into()],
                network: "host".into(),
                ulimit: vec!["nofile=10".into()],
                init: true,
                tty: true,
                interactive: false,
                shm_size: "1m".into(),
            }
        );
    }

    #[test]
    fn defaults_are_the_libraries() {
        let cli = parse(&[]);
        let want = ProcessOptions {
            network: "none".into(),
            ..Default::default()
        };
        assert_eq!(cli.process_options(), want);
    }

    #[test]
    fn join_makes_an_exec_request() {
        let cli = parse(&["--join", "web", "-i", "-u", "1000", "--privileged", "id"]);
        assert_eq!(cli.join.as_deref(), Some("web"));
        assert_eq!(
            cli.exec_request(),
            ExecRequest {
                command: vec!["id".into()],
                interactive: true,
                user: Some("1000".into()),
                privileged: true,
                ..Default::default()
            }
        );
    }
}
