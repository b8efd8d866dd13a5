//! The flags, runc's, and the commands that are more than one library call.

use std::path::{Path, PathBuf};

use anyhow::Context;
use berth_oci_runtime as oci;
use clap::{Args, Parser, Subcommand, ValueEnum};

#[derive(Parser)]
#[command(
    name = "berth-oci",
    version,
    about = "An OCI runtime (runc-compatible) over berth's isolation"
)]
pub struct Cli {
    /// Where container state lives
    #[arg(long, global = true, default_value = oci::DEFAULT_ROOT)]
    pub root: PathBuf,
    /// Write log lines (and errors) to this file instead of stderr
    #[arg(long, global = true)]
    pub log: Option<PathBuf>,
    /// The log lines' format
    #[arg(long, global = true, value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,
    /// cgroupsPath is slice:prefix:name (mapped onto cgroupfs: berth-oci does not ask systemd)
    #[arg(long, global = true)]
    pub systemd_cgroup: bool,
    /// Debug logging
    #[arg(long, global = true)]
    pub debug: bool,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    Text,
    Json,
}

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    Table,
    Json,
}

#[derive(Args)]
pub struct CreateArgs {
    /// The bundle: the directory holding config.json
    #[arg(long, short = 'b', default_value = ".")]
    pub bundle: PathBuf,
    /// Write the init's pid here before returning
    #[arg(long)]
    pub pid_file: Option<PathBuf>,
    /// A Unix socket to send the pty master to (process.terminal)
    #[arg(long)]
    pub console_socket: Option<PathBuf>,
    /// Accepted for runc's callers: berth always pivots (a move-mount root is not offered)
    #[arg(long)]
    pub no_pivot: bool,
    /// Accepted for runc's callers: berth makes no session keyring
    #[arg(long)]
    pub no_new_keyring: bool,
    /// Pass fds 3 to 3+N-1 to the container
    #[arg(long, default_value_t = 0)]
    pub preserve_fds: u32,
    pub id: String,
}

impl CreateArgs {
    pub fn request(&self, root: &Path, systemd_cgroup: bool) -> oci::create::CreateRequest {
        oci::create::CreateRequest {
            root: root.to_path_buf(),
            id: self.id.clone(),
            bundle: self.bundle.clone(),
            pid_file: self.pid_file.clone(),
            console_socket: self.console_socket.clone(),
            preserve_fds: self.preserve_fds,
            systemd_cgroup,
        }
    }
}

#[derive(Args)]
pub struct RunArgs {
    /// Return once the container runs (its exit status goes to its reaper)
    #[arg(long, short = 'd')]
    pub detach: bool,
    #[command(flatten)]
    pub create: CreateArgs,
}

#[derive(Args)]
pub struct ExecArgs {
    /// The process as a runtime spec `process` (JSON)
    #[arg(long, short = 'p')]
    pub process: Option<PathBuf>,
    /// A pseudo-terminal (its master goes to --console-socket)
    #[arg(long, short = 't')]
    pub tty: bool,
    #[arg(long)]
    pub console_socket: Option<PathBuf>,
    /// Return once the process runs
    #[arg(long, short = 'd')]
    pub detach: bool,
    #[arg(long)]
    pub pid_file: Option<PathBuf>,
    /// Working directory in the container
    #[arg(long)]
    pub cwd: Option<String>,
    /// KEY=VALUE, added to the container's environment
    #[arg(long, short = 'e')]
    pub env: Vec<String>,
    /// uid[:gid]
    #[arg(long, short = 'u')]
    pub user: Option<String>,
    pub id: String,
    #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
    pub args: Vec<String>,
}

/// `exec`: in the foreground, the process's exit status is ours.
pub fn exec(root: &Path, args: &ExecArgs) -> anyhow::Result<u8> {
    let started = oci::exec::exec(&oci::exec::ExecRequest {
        root: root.to_path_buf(),
        id: args.id.clone(),
        process: args.process.clone(),
        args: args.args.clone(),
        env: args.env.clone(),
        cwd: args.cwd.clone(),
        user: args.user.clone(),
        tty: args.tty,
        console_socket: args.console_socket.clone(),
        pid_file: args.pid_file.clone(),
    })?;
    if args.detach {
        return Ok(0);
    }
    Ok(u8::try_from(started.wait()).unwrap_or(255))
}

#[derive(Subcommand)]
pub enum Command {
    /// Create a container: everything set up, the command waiting for start
    Create(CreateArgs),
    /// Create and start a container (in the foreground: wait, exit with its status, delete it)
    Run(RunArgs),
    /// Run a created container's command
    Start { id: String },
    /// The container's OCI state as JSON
    State { id: String },
    /// Run a new process in a running container
    Exec(ExecArgs),
    /// Send a signal (default SIGTERM) to the init, or to every process with --all
    Kill {
        #[arg(long, short = 'a')]
        all: bool,
        id: String,
        #[arg(default_value = "SIGTERM")]
        signal: String,
    },
    /// Delete a stopped (or created) container; --force kills a running one first
    Delete {
        #[arg(long, short = 'f')]
        force: bool,
        id: String,
    },
    /// New resource limits (a runtime spec linux.resources, from FILE or - for stdin)
    Update {
        #[arg(long, short = 'r')]
        resources: String,
        id: String,
    },
    /// The container's statistics (--stats: once), and OOM events, as JSON lines
    Events {
        #[arg(long)]
        stats: bool,
        /// Between two stats events
        #[arg(long, default_value = "5s", value_parser = humantime::parse_duration)]
        interval: std::time::Duration,
        id: String,
    },
    /// Freeze every process of the container
    Pause { id: String },
    /// Thaw a paused container
    Resume { id: String },
    /// List the containers under --root
    List {
        #[arg(long, short = 'f', value_enum, default_value_t = Format::Table)]
        format: Format,
        /// Ids only
        #[arg(long, short = 'q')]
        quiet: bool,
    },
    /// The container's processes (ps -ef, or the pids as JSON)
    Ps {
        #[arg(long, short = 'f', value_enum, default_value_t = Format::Table)]
        format: Format,
        id: String,
        /// Options for ps (default -ef)
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        ps_args: Vec<String>,
    },
    /// Write a default config.json
    Spec {
        /// The bundle directory to write it in (default: the current directory)
        #[arg(long, short = 'b')]
        bundle: Option<PathBuf>,
        /// For a container run by a non-root user
        #[arg(long)]
        rootless: bool,
    },
    /// The runtime's features as JSON
    Features,
    /// Not supported by berth-oci
    Checkpoint {
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        args: Vec<String>,
    },
    /// Not supported by berth-oci
    Restore {
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        args: Vec<String>,
    },
}

/// `run`: create, start, and in the foreground wait for the command and delete the
/// container (its status is ours).
pub fn run(root: &Path, systemd_cgroup: bool, args: &RunArgs) -> anyhow::Result<u8> {
    let created = oci::create::create(&args.create.request(root, systemd_cgroup))?;
    if let Err(e) = oci::start::start(root, &args.create.id) {
        let _ = oci::delete::delete(root, &args.create.id, true);
        return Err(e.into());
    }
    if args.detach {
        return Ok(0);
    }
    let code = created.started.wait();
    oci::delete::remove(&created.container)?;
    Ok(u8::try_from(code).unwrap_or(255))
}

/// `spec`: config.json in the bundle, refusing to overwrite one (as runc).
pub fn write_spec(bundle: Option<&Path>, rootless: bool) -> anyhow::Result<()> {
    let path = bundle.unwrap_or(Path::new(".")).join("config.json");
    if path.exists() {
        anyhow::bail!("File {} exists. Remove it first", path.display());
    }
    let text = serde_json::to_string_pretty(&oci::default_spec::default_spec(rootless))?;
    std::fs::write(&path, text).with_context(|| format!("write {}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn the_cli_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn containerds_command_lines_parse() {
        let cli = Cli::try_parse_from([
            "berth-oci",
            "--root",
            "/run/x",
            "--log",
            "/l.json",
            "--log-format",
            "json",
            "create",
            "--bundle",
            "/b",
            "--pid-file",
            "/p",
            "--no-pivot",
            "id1",
        ])
        .unwrap();
        assert_eq!(cli.root, PathBuf::from("/run/x"));
        assert!(cli.log_format == LogFormat::Json);
        let Command::Create(args) = cli.command else {
            panic!("not create")
        };
        assert_eq!(args.id, "id1");
        assert_eq!(args.pid_file.as_deref(), Some(Path::new("/p")));
        let cli = Cli::try_parse_from(["berth-oci", "kill", "--all", "id1", "9"]).unwrap();
        assert!(
            matches!(cli.command, Command::Kill { all: true, ref signal, .. } if signal == "9")
        );
    }
}
