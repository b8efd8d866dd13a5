//! `docker run` flags of a whole run.

use berth_common::units::parse_size;
use berth_common::Limits;
use berth_process::options::ProcessOptions;

use crate::RunError;

#[derive(Debug, Clone, Default, clap::Args)]
pub struct RunFlags {
    /// Remove the container (its writable layer and anonymous volumes) when it exits
    #[arg(long)]
    pub rm: bool,
    /// Container name
    #[arg(long)]
    pub name: Option<String>,
    /// Bind mount or volume: /host:/ctr[:ro], name:/ctr[:ro]
    #[arg(short = 'v', long = "volume")]
    pub volumes: Vec<String>,
    /// Mount a tmpfs: /path[:options]
    #[arg(long)]
    pub tmpfs: Vec<String>,
    /// Mount the container's root filesystem read-only
    #[arg(long = "read-only")]
    pub read_only: bool,
    /// Memory limit (b, k, m, g)
    #[arg(short = 'm', long)]
    pub memory: Option<String>,
    /// Memory plus swap limit; -1 for unlimited swap
    #[arg(long = "memory-swap")]
    pub memory_swap: Option<String>,
    /// Number of CPUs
    #[arg(long)]
    pub cpus: Option<f64>,
    /// CPU shares (relative weight)
    #[arg(short = 'c', long = "cpu-shares")]
    pub cpu_shares: Option<u64>,
    /// CPUs in which to allow execution (0-3, 0,1)
    #[arg(long = "cpuset-cpus")]
    pub cpuset_cpus: Option<String>,
    /// Tune container pids limit (-1 for unlimited)
    #[arg(long = "pids-limit")]
    pub pids_limit: Option<i64>,
    /// Block IO weight (10-1000)
    #[arg(long = "blkio-weight")]
    pub blkio_weight: Option<u16>,
    /// Parent cgroup of the container's cgroups (at the root of each hierarchy)
    #[arg(long = "cgroup-parent", env = "BERTH_CGROUP_PARENT", default_value = berth_cgroups::DEFAULT_PARENT)]
    pub cgroup_parent: String,
    #[command(flatten)]
    pub process: ProcessOptions,
}

impl RunFlags {
    pub fn rootfs_options(&self) -> berth_rootfs::SetupOptions {
        berth_rootfs::SetupOptions {
            volumes: self.volumes.clone(),
            tmpfs: self.tmpfs.clone(),
            read_only: self.read_only,
            name: self.name.clone(),
            method: Default::default(),
            volatile: self.rm,
        }
    }

    pub fn cgroup_host(&self) -> berth_cgroups::HostConfig {
        berth_cgroups::HostConfig {
            parent: self.cgroup_parent.clone(),
            ..Default::default()
        }
    }

    pub fn limits(&self) -> Result<Limits, RunError> {
        let bytes = |flag: &'static str, text: &Option<String>| -> Result<Option<i64>, RunError> {
            match text.as_deref() {
                None => Ok(None),
                Some("-1") => Ok(Some(-1)),
                Some(t) => parse_size(t)
                    .map(|n| Some(n as i64))
                    .map_err(|reason| RunError::Flag { flag, reason }),
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
