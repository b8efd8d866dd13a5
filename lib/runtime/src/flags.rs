//! `docker run` flags of a whole run.

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
    #[command(flatten)]
    pub mount: berth_rootfs::flags::MountFlags,
    #[command(flatten)]
    pub limits: berth_cgroups::flags::LimitFlags,
    /// Parent cgroup of the container's cgroups (at the root of each hierarchy)
    #[arg(long = "cgroup-parent", env = "BERTH_CGROUP_PARENT", default_value = berth_cgroups::DEFAULT_PARENT)]
    pub cgroup_parent: String,
    #[command(flatten)]
    pub net: berth_net::NetRequest,
    #[command(flatten)]
    pub net_host: berth_net::HostSettings,
    #[command(flatten)]
    pub process: ProcessOptions,
}

impl RunFlags {
    /// Fails on bad user namespace flags (before anything is made).
    pub fn rootfs_options(&self) -> Result<berth_rootfs::SetupOptions, RunError> {
        // A container removed when it stops never needs its writable layer synced.
        let opts = self.mount.setup_options(self.name.clone(), self.rm)?;
        // As in Docker: a user namespace cannot share the host's network namespace (its
        // sysfs and sysctls belong to the host's).
        if opts.userns.is_some() && self.net.network == "host" {
            return Err(RunError::Flag {
                flag: "--network host",
                reason: "a container with a user namespace cannot use the host's network; \
                         add --userns host"
                    .into(),
            });
        }
        Ok(opts)
    }

    pub fn cgroup_host(&self) -> berth_cgroups::HostConfig {
        berth_cgroups::HostConfig {
            parent: self.cgroup_parent.clone(),
            ..Default::default()
        }
    }

    pub fn limits(&self) -> Result<Limits, RunError> {
        self.limits.limits().map_err(|reason| RunError::Flag {
            flag: "limits",
            reason,
        })
    }
}
