//! Command-line flags, docker-style.

use std::path::PathBuf;

use berth_common::{DEFAULT_ROOT, DEFAULT_RUN_DIR};
use clap::{Args, Parser, Subcommand};

#[derive(Parser)]
#[command(
    name = "berth-mount",
    version,
    about = "berth's rootfs stage: reads the container record on stdin, mounts the container's \
             overlay, makes its volumes and prints the record with its rootfs part"
)]
pub struct Cli {
    /// State directory of the store
    #[arg(long, env = "BERTH_ROOT", default_value = DEFAULT_ROOT, global = true)]
    pub root: PathBuf,
    /// Runtime state directory (the rootfs is mounted below it)
    #[arg(long, env = "BERTH_RUN_DIR", default_value = DEFAULT_RUN_DIR, global = true)]
    pub run_dir: PathBuf,
    #[command(flatten)]
    pub stage: StageFlags,
    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Args)]
pub struct StageFlags {
    #[command(flatten)]
    pub mount: berth_rootfs::flags::MountFlags,
    /// Mount the overlay volatile (no sync of the writable layer): for containers removed when
    /// they stop
    #[arg(long)]
    pub volatile: bool,
    /// Name for a new container
    #[arg(long)]
    pub name: Option<String>,
}

#[derive(Subcommand)]
pub enum Command {
    /// Unmount a container's rootfs (record on stdin, or --id); --remove also deletes it.
    /// The record is passed on to the next teardown stage (not printed on a terminal,
    /// unless --json)
    Down {
        /// Container ID or name (otherwise the record is read from stdin)
        #[arg(long)]
        id: Option<String>,
        /// Also delete the container's upper/work dirs, state and anonymous volumes
        #[arg(long)]
        remove: bool,
        /// Print the record on a terminal too
        #[arg(long)]
        json: bool,
    },
    /// Same as `down --remove`
    Rm {
        /// Container ID or name (otherwise the record is read from stdin)
        #[arg(long)]
        id: Option<String>,
        /// Print the record on a terminal too
        #[arg(long)]
        json: bool,
    },
    /// Manage named volumes
    #[command(subcommand)]
    Volume(VolumeCommand),
}

impl Cli {
    /// Whether this run is a stage in a pipe (its stdout a record for the next stage, so a
    /// failure is reported there too), not a management command printing for people.
    pub fn is_stage(&self) -> bool {
        match &self.command {
            None => true,
            Some(Command::Down { id, .. } | Command::Rm { id, .. }) => id.is_none(),
            Some(Command::Volume(_)) => false,
        }
    }
}

#[derive(Subcommand)]
pub enum VolumeCommand {
    /// List volumes
    Ls {
        /// Only names
        #[arg(short, long)]
        quiet: bool,
        /// JSON array
        #[arg(long)]
        json: bool,
    },
    /// Create a volume (a random name if none is given)
    Create { name: Option<String> },
    /// Show volumes as JSON
    Inspect {
        #[arg(required = true)]
        names: Vec<String>,
    },
    /// Remove volumes (not while a container uses them)
    Rm {
        #[arg(required = true)]
        names: Vec<String>,
    },
}
