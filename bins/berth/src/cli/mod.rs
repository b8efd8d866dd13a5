//! berth's flags, as docker spells them: the global ones before the command, then one
//! subcommand per docker command.

mod containers;
mod images;
mod objects;
mod run_flags;

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

pub use containers::*;
pub use images::*;
pub use objects::*;
pub use run_flags::MoreRunArgs;

#[derive(Debug, Parser)]
#[command(
    name = "berth",
    version,
    about = "A container engine's client: docker's commands, against no daemon, one, or several",
    subcommand_required = true
)]
pub struct Cli {
    /// Daemon socket to connect to (unix:///path, tcp://host:port); repeatable
    #[arg(short = 'H', long = "host", value_name = "ADDR")]
    pub hosts: Vec<String>,
    /// The context to use (overrides DOCKER_CONTEXT and the current context)
    #[arg(short = 'c', long, value_name = "NAME")]
    pub context: Option<String>,
    /// Location of the client config files (docker's)
    #[arg(long = "config", env = "DOCKER_CONFIG", value_name = "DIR")]
    pub config: Option<PathBuf>,
    /// Use TLS; implied by --tlsverify (without it, the daemon's certificate is not checked)
    #[arg(long, env = "DOCKER_TLS", value_parser = clap::builder::FalseyValueParser::new())]
    pub tls: bool,
    /// Use TLS and verify the daemon's certificate
    #[arg(long, env = "DOCKER_TLS_VERIFY", value_parser = clap::builder::FalseyValueParser::new())]
    pub tlsverify: bool,
    /// Trust certs signed only by this CA
    #[arg(long, value_name = "FILE")]
    pub tlscacert: Option<PathBuf>,
    /// Path to the TLS certificate file
    #[arg(long, value_name = "FILE")]
    pub tlscert: Option<PathBuf>,
    /// Path to the TLS key file
    #[arg(long, value_name = "FILE")]
    pub tlskey: Option<PathBuf>,
    /// In-process mode: the store (when no host is configured)
    #[arg(long, value_name = "DIR")]
    pub root: Option<PathBuf>,
    /// In-process mode: runtime state
    #[arg(long, value_name = "DIR")]
    pub run_dir: Option<PathBuf>,
    /// In-process mode: where containers' cgroups go
    #[arg(long = "cgroup-parent", env = "BERTH_CGROUP_PARENT", default_value = berth_cgroups::DEFAULT_PARENT)]
    pub cgroup_parent: String,
    #[command(flatten)]
    pub net: berth_cli::HostArgs,
    /// Set the logging level (error, warn, info, debug); the in-process engine's too
    #[arg(short = 'l', long, value_name = "LEVEL", default_value = "error")]
    pub log_level: String,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Create and run a new container from an image
    Run(RunArgs),
    /// Create a new container
    Create(RunArgs),
    /// Start one or more stopped containers
    Start(StartArgs),
    /// Stop one or more running containers
    Stop(StopArgs),
    /// Restart one or more containers
    Restart(StopArgs),
    /// Kill one or more running containers
    Kill(KillArgs),
    /// Remove one or more containers
    Rm(RmArgs),
    /// List containers
    Ps(PsArgs),
    /// Fetch the logs of a container
    Logs(LogsArgs),
    /// Execute a command in a running container
    Exec(ExecArgs),
    /// Attach local standard input, output, and error streams to a running container
    Attach(AttachArgs),
    /// Return low-level information on Docker objects
    Inspect(InspectArgs),
    /// List images
    Images(ImagesArgs),
    /// Remove one or more images
    Rmi(RmiArgs),
    /// Create a tag TARGET_IMAGE that refers to SOURCE_IMAGE
    Tag { source: String, target: String },
    /// Load an image from a tar archive or STDIN
    Load(LoadArgs),
    /// Save one or more images to a tar archive (streamed to STDOUT by default)
    Save(SaveArgs),
    /// Show the history of an image
    History(HistoryArgs),
    /// Download an image from a registry
    Pull(PullArgs),
    /// Upload an image to a registry
    Push(PullArgs),
    /// Show the version information
    Version(FormatArg),
    /// Display system-wide information
    Info(FormatArg),
    /// Block until one or more containers stop, then print their exit codes
    Wait(Containers),
    /// Display the running processes of a container
    Top {
        container: String,
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        ps_args: Vec<String>,
    },
    /// List port mappings or a specific mapping for the container
    Port {
        container: String,
        private_port: Option<String>,
    },
    /// Rename a container
    Rename { container: String, new_name: String },
    /// Pause all processes within one or more containers
    Pause(Containers),
    /// Unpause all processes within one or more containers
    Unpause(Containers),
    /// Manage volumes
    #[command(subcommand)]
    Volume(ObjectCommand),
    /// Manage networks
    #[command(subcommand)]
    Network(ObjectCommand),
    /// Copy files/folders between a container and the local filesystem
    Cp {
        /// Archive mode (copy all uid/gid information)
        #[arg(short = 'a', long)]
        archive: bool,
        /// Always follow symbol link in SRC_PATH
        #[arg(short = 'L', long = "follow-link")]
        follow_link: bool,
        source: String,
        destination: String,
    },
    /// Inspect changes to files or directories on a container's filesystem
    Diff { container: String },
    /// Export a container's filesystem as a tar archive
    Export {
        /// Write to a file, instead of STDOUT
        #[arg(short = 'o', long)]
        output: Option<PathBuf>,
        container: String,
    },
    /// Update configuration of one or more containers
    Update(UpdateArgs),
    /// Display a live stream of container(s) resource usage statistics
    Stats(StatsArgs),
    /// Get real time events from the server
    Events(EventsArgs),
    /// Import the contents from a tarball to create a filesystem image
    Import(ImportArgs),
    /// Build an image from a Dockerfile
    Build(BuildArgs),
    /// Log in to a registry
    Login(LoginArgs),
    /// Log out from a registry
    Logout { server: Option<String> },
    /// Manage Docker
    #[command(subcommand)]
    System(SystemCommand),
    /// Manage containers
    #[command(subcommand)]
    Container(ContainerCommand),
    /// Manage images
    #[command(subcommand)]
    Image(ImageCommand),
    /// Manage contexts (docker's context store)
    #[command(subcommand)]
    Context(ContextCommand),
    /// Generate a shell completion script (bash, zsh, fish)
    Completion { shell: clap_complete::Shell },
    /// Removes AutoRemove container ID once it has exited (spawned by an in-process run)
    #[command(name = "__autoremove", hide = true)]
    AutoRemove { id: String },
    /// Applies container ID's restart policy and healthcheck (spawned by an in-process start)
    #[command(name = "__supervise", hide = true)]
    Supervise { id: String },
    /// Writes the man pages (berth.1, berth-run.1, …) into DIR
    #[command(name = "__man", hide = true)]
    Man { dir: PathBuf },
}

#[derive(Debug, Args)]
pub struct FormatArg {
    /// Format output using a custom template ('json' or a Go template)
    #[arg(short = 'f', long)]
    pub format: Option<String>,
}

#[derive(Debug, Args)]
pub struct Containers {
    #[arg(required = true, value_name = "CONTAINER")]
    pub containers: Vec<String>,
}
