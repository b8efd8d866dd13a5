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
    pub mount: berth_cli::MountArgs,
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
        /// With --remove: keep the anonymous volumes (as `docker rm` without -v does)
        #[arg(long, requires = "remove")]
        keep_volumes: bool,
        /// Print the record on a terminal too
        #[arg(long)]
        json: bool,
    },
    /// Same as `down --remove`
    Rm {
        /// Container ID or name (otherwise the record is read from stdin)
        #[arg(long)]
        id: Option<String>,
        /// Keep the anonymous volumes (as `docker rm` without -v does)
        #[arg(long)]
        keep_volumes: bool,
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

#[cfg(test)]
mod tests {
    use super::*;
    use berth_rootfs::{MountRequest, OverlayMethod};
    use clap::CommandFactory;

    #[test]
    fn the_cli_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn the_stages_flags_make_the_mount_request() {
        let cli = Cli::try_parse_from([
            "berth-mount",
            "-v",
            "/host:/ctr:ro",
            "--volume",
            "data:/data",
            "--tmpfs",
            "/tmp:size=1m",
            "--read-only",
            "--overlay-method",
            "links",
            "--uidmap",
            "0:100000:65536",
            "--gidmap",
            "0:200000:65536",
            "--volatile",
            "--name",
            "web",
        ])
        .unwrap();
        assert!(cli.command.is_none());
        assert!(cli.stage.volatile);
        assert_eq!(cli.stage.name.as_deref(), Some("web"));
        let request: MountRequest = cli.stage.mount.into();
        assert_eq!(
            request,
            MountRequest {
                volumes: vec!["/host:/ctr:ro".into(), "data:/data".into()],
                tmpfs: vec!["/tmp:size=1m".into()],
                read_only: true,
                overlay_method: OverlayMethod::ShortLinks,
                userns: None,
                userns_remap: None,
                uidmap: vec!["0:100000:65536".into()],
                gidmap: vec!["0:200000:65536".into()],
            }
        );
    }

    #[test]
    fn a_subcommand_alone_makes_an_empty_request() {
        let cli = Cli::try_parse_from(["berth-mount", "down", "--id", "web"]).unwrap();
        assert!(matches!(cli.command, Some(Command::Down { .. })));
        let request: MountRequest = cli.stage.mount.into();
        assert!(request.is_empty());
    }
}
