//! `docker run`'s resource flags, shared by `berth-cgroup` and `berth-run`, and the
//! `Limits` they make.

use berth_common::units::parse_size;
use berth_common::Limits;

#[derive(Debug, Clone, Default, clap::Args)]
pub struct LimitFlags {
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

impl LimitFlags {
    /// The limits, sizes parsed with Docker's units; the error names the flag.
    pub fn limits(&self) -> Result<Limits, String> {
        let bytes = |flag: &str, text: &Option<String>| -> Result<Option<i64>, String> {
            match text.as_deref() {
                None => Ok(None),
                Some("-1") if flag == "--memory-swap" => Ok(Some(-1)),
                Some(t) => parse_size(t)
                    .and_then(|n| i64::try_from(n).map_err(|_| format!("{t:?} is out of range")))
                    .map(Some)
                    .map_err(|e| format!("{flag}: {e}")),
            }
        };
        Ok(Limits {
            memory: bytes("--memory", &self.memory)?,
            memory_swap: bytes("--memory-swap", &self.memory_swap)?,
            cpus: self.cpus,
            cpu_shares: self.cpu_shares,
            cpuset_cpus: self.cpuset_cpus.clone(),
            pids_limit: self.pids_limit,
            blkio_weight: self.blkio_weight,
        })
    }
}
