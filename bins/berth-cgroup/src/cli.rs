//! Command-line flags, docker-style.

use std::path::PathBuf;

use berth_common::{DEFAULT_ROOT, DEFAULT_RUN_DIR};
use clap::{Args, Parser, Subcommand};

#[derive(Parser)]
#[command(
    name = "berth-cgroup",
    version,
    about = "berth's cgroup stage: creates the container's cgroups with their limits and extends the record; \
             subcommands place, inspect, freeze, kill and remove them"
)]
pub struct Cli {
    /// State directory of the store
    #[arg(long, env = "BERTH_ROOT", default_value = DEFAULT_ROOT, global = true)]
    pub root: PathBuf,
    /// Runtime state directory
    #[arg(long, env = "BERTH_RUN_DIR", default_value = DEFAULT_RUN_DIR, global = true)]
    pub run_dir: PathBuf,
    /// The cgroupfs root
    #[arg(long, env = "BERTH_CGROUP_ROOT", default_value = berth_cgroups::DEFAULT_ROOT, global = true)]
    pub cgroup_root: PathBuf,
    /// Parent cgroup at the root of each hierarchy, holding all containers
    #[arg(long, env = "BERTH_CGROUP_PARENT", default_value = berth_cgroups::DEFAULT_PARENT, global = true)]
    pub cgroup_parent: String,
    /// pids.max of the parent cgroup (all containers together); 0 leaves it unlimited
    #[arg(long, env = "BERTH_CGROUP_PARENT_PIDS_MAX", default_value_t = berth_cgroups::DEFAULT_PARENT_PIDS_MAX, global = true)]
    pub parent_pids_max: i64,
    /// Seconds to wait for freezing, killing and removal
    #[arg(long, default_value_t = 10.0, global = true)]
    pub timeout: f64,
    /// More log output on stderr (-v info, -vv debug; BERTH_LOG overrides)
    #[arg(short, long, action = clap::ArgAction::Count, global = true)]
    pub verbose: u8,
    #[command(flatten)]
    pub limits: berth_cli::LimitArgs,
    #[command(subcommand)]
    pub command: Option<Command>,
}

/// Which cgroups a subcommand works on: the record on stdin, or given paths.
#[derive(Args, Default, Clone)]
pub struct Target {
    /// A cgroup directory as KEY=DIR (memory=/sys/fs/cgroup/memory/berth/ID, unified=…);
    /// repeatable. Without it the container record is read on stdin.
    #[arg(long = "path", value_name = "KEY=DIR")]
    pub paths: Vec<String>,
    /// The layout of the given --path (v1, v2, hybrid); detected when absent
    #[arg(long)]
    pub mode: Option<String>,
}

#[derive(Subcommand)]
pub enum Command {
    /// Put a process in the container's cgroups (every hierarchy); passes the record on
    Place {
        #[arg(long)]
        pid: u32,
        #[command(flatten)]
        target: Target,
    },
    /// Usage numbers (JSON)
    Stats {
        #[command(flatten)]
        target: Target,
    },
    /// Whether the OOM killer struck in the cgroup (JSON)
    Oom {
        #[command(flatten)]
        target: Target,
    },
    /// Freeze every process
    Freeze {
        #[command(flatten)]
        target: Target,
    },
    /// Thaw
    Thaw {
        #[command(flatten)]
        target: Target,
    },
    /// Signal every process: KILL (the default) until the cgroup is empty, others once
    Kill {
        #[arg(short, long, default_value = "KILL")]
        signal: String,
        #[command(flatten)]
        target: Target,
    },
    /// Pids in the cgroups (JSON)
    Procs {
        #[command(flatten)]
        target: Target,
    },
    /// Kill what is left and remove the cgroups ("already gone" is success); the record is
    /// passed on to the next teardown stage (not printed on a terminal, unless --json)
    Down {
        /// The cgroups of this container ID under --cgroup-parent, without a record (after
        /// a crash before the record was written)
        #[arg(long, conflicts_with = "paths")]
        id: Option<String>,
        /// Print the record (or, with --path, what was removed) on a terminal too
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        target: Target,
    },
    /// Remove berth's parent cgroup (--cgroup-parent) from every hierarchy (uninstall,
    /// tests); refused while any container cgroup remains
    Reset {
        /// What was removed, as JSON
        #[arg(long)]
        json: bool,
    },
}

impl Cli {
    /// Whether stdout carries JSON for a program (the record or a JSON answer), so a
    /// failure is reported there too; the others print for people (errors on stderr only).
    pub fn prints_json(&self) -> bool {
        !matches!(self.command, Some(Command::Reset { .. }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use berth_cgroups::request::LimitRequest;
    use clap::CommandFactory;

    #[test]
    fn the_cli_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn the_stages_flags_make_the_limit_request() {
        let cli = Cli::try_parse_from([
            "berth-cgroup",
            "-m",
            "64m",
            "--memory-swap",
            "-1",
            "--cpus",
            "1.5",
            "-c",
            "512",
            "--cpuset-cpus",
            "0-1",
            "--pids-limit",
            "-1",
            "--blkio-weight",
            "300",
        ])
        .unwrap();
        assert!(cli.command.is_none());
        let request: LimitRequest = cli.limits.into();
        assert_eq!(
            request,
            LimitRequest {
                memory: Some("64m".into()),
                memory_swap: Some("-1".into()),
                cpus: Some(1.5),
                cpu_shares: Some(512),
                cpuset_cpus: Some("0-1".into()),
                pids_limit: Some(-1),
                blkio_weight: Some(300),
            }
        );
        let limits = request.limits().unwrap();
        assert_eq!(
            (limits.memory, limits.memory_swap),
            (Some(64 << 20), Some(-1))
        );
    }

    #[test]
    fn no_flags_make_the_default_request() {
        let cli = Cli::try_parse_from(["berth-cgroup"]).unwrap();
        assert_eq!(LimitRequest::from(cli.limits), LimitRequest::default());
    }
}
