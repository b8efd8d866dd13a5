//! `docker run`'s resource flags (`berth-cgroup`, `berth-run`).

use berth_cgroups::request::LimitRequest;

#[derive(Debug, Clone, Default, clap::Args)]
pub struct LimitArgs {
    /// Memory limit (e.g. 64m, 1g)
    #[arg(short = 'm', long)]
    pub memory: Option<String>,
    /// Memory plus swap (e.g. 128m); -1 for unlimited swap
    #[arg(long, allow_hyphen_values = true)]
    pub memory_swap: Option<String>,
    /// CPUs (e.g. 0.5)
    #[arg(long)]
    pub cpus: Option<f64>,
    /// CPU shares (relative weight, 2..262144)
    #[arg(short = 'c', long)]
    pub cpu_shares: Option<u64>,
    /// CPUs allowed (e.g. 0-1, 0,2)
    #[arg(long)]
    pub cpuset_cpus: Option<String>,
    /// Maximum number of processes; -1 or 0 for unlimited
    #[arg(long, allow_hyphen_values = true)]
    pub pids_limit: Option<i64>,
    /// Block IO weight (10..1000)
    #[arg(long)]
    pub blkio_weight: Option<u16>,
}

impl From<LimitArgs> for LimitRequest {
    fn from(args: LimitArgs) -> Self {
        LimitRequest {
            memory: args.memory,
            memory_swap: args.memory_swap,
            cpus: args.cpus,
            cpu_shares: args.cpu_shares,
            cpuset_cpus: args.cpuset_cpus,
            pids_limit: args.pids_limit,
            blkio_weight: args.blkio_weight,
        }
    }
}
