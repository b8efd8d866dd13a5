//! `docker run`'s process flags (`berth-enter`, `berth-run`).

use std::path::PathBuf;

use berth_process::options::{ProcessOptions, DEFAULT_SHM_SIZE};

#[derive(Debug, Clone, Default, clap::Args)]
pub struct ProcessArgs {
    /// Set an environment variable (KEY=VALUE, or KEY to take it from berth's environment)
    #[arg(short = 'e', long = "env")]
    pub env: Vec<String>,
    /// Read environment variables from a file (KEY=VALUE lines)
    #[arg(long = "env-file")]
    pub env_file: Vec<PathBuf>,
    /// Working directory inside the container
    #[arg(short = 'w', long = "workdir")]
    pub workdir: Option<String>,
    /// User: name|uid[:group|gid]
    #[arg(short = 'u', long = "user")]
    pub user: Option<String>,
    /// Overwrite the image's ENTRYPOINT
    #[arg(long)]
    pub entrypoint: Option<String>,
    /// Container host name
    #[arg(short = 'h', long)]
    pub hostname: Option<String>,
    /// Add Linux capabilities
    #[arg(long = "cap-add")]
    pub cap_add: Vec<String>,
    /// Drop Linux capabilities
    #[arg(long = "cap-drop")]
    pub cap_drop: Vec<String>,
    /// Give extended privileges: all capabilities, no seccomp, no masked paths
    #[arg(long)]
    pub privileged: bool,
    /// Security options: seccomp=unconfined|PROFILE.json, no-new-privileges[=true]
    #[arg(long = "security-opt")]
    pub security_opt: Vec<String>,
    /// Resource limits: NAME=SOFT[:HARD], e.g. nofile=1024:2048
    #[arg(long = "ulimit")]
    pub ulimit: Vec<String>,
    /// Run an init as pid 1 that forwards signals and reaps zombies
    #[arg(long)]
    pub init: bool,
    /// Allocate a pseudo-terminal
    #[arg(short = 't', long)]
    pub tty: bool,
    /// Keep stdin open (otherwise the container reads /dev/null)
    #[arg(short = 'i', long)]
    pub interactive: bool,
    /// Size of /dev/shm (k, m, g suffixes)
    #[arg(long = "shm-size", default_value = DEFAULT_SHM_SIZE)]
    pub shm_size: String,
}

impl ProcessArgs {
    /// The request; `network` is the fallback when the record has no network part (none,
    /// host or a namespace path), for the binary that offers it.
    pub fn into_options(self, network: String) -> ProcessOptions {
        ProcessOptions {
            env: self.env,
            env_file: self.env_file,
            workdir: self.workdir,
            user: self.user,
            entrypoint: self.entrypoint,
            hostname: self.hostname,
            cap_add: self.cap_add,
            cap_drop: self.cap_drop,
            privileged: self.privileged,
            security_opt: self.security_opt,
            network,
            ulimit: self.ulimit,
            init: self.init,
            tty: self.tty,
            interactive: self.interactive,
            shm_size: self.shm_size,
        }
    }
}
