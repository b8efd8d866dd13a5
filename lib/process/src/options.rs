//! What a container asks of its process: `docker run`'s process flags (`-e`, `-u`, `-w`,
//! `--cap-add`, …) as plain values, and the spec they make together with the container
//! record. `berth-enter` and `berth-run` build it from their flags, the daemon from a
//! request's JSON.

use std::path::PathBuf;

use berth_common::{ContainerPart, ContainerRecord};
use serde::{Deserialize, Serialize};

use crate::spawn::{ContainerSpec, NetworkMode};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct ProcessOptions {
    /// Environment entries: `KEY=VALUE`, or `KEY` to take it from the caller's environment.
    pub env: Vec<String>,
    /// Files of `KEY=VALUE` lines, read before `env`.
    pub env_file: Vec<PathBuf>,
    /// Working directory inside the container (default: the image's).
    pub workdir: Option<String>,
    /// `name|uid[:group|gid]` (default: the image's).
    pub user: Option<String>,
    /// Replaces the image's ENTRYPOINT; empty: none.
    pub entrypoint: Option<String>,
    /// Default: the first 12 characters of the container's id.
    pub hostname: Option<String>,
    pub cap_add: Vec<String>,
    pub cap_drop: Vec<String>,
    /// All capabilities, no seccomp, no masked paths.
    pub privileged: bool,
    /// `seccomp=unconfined|PROFILE.json`, `no-new-privileges[=true]`.
    pub security_opt: Vec<String>,
    /// Network when the record has no network part (berth-net not in the pipeline):
    /// none (also empty), host, or a network namespace path.
    pub network: String,
    /// Resource limits: `NAME=SOFT[:HARD]`, e.g. `nofile=1024:2048`.
    pub ulimit: Vec<String>,
    /// An init as pid 1 that forwards signals and reaps zombies.
    pub init: bool,
    /// A pseudo-terminal for the container.
    pub tty: bool,
    /// Keep stdin open (otherwise the container reads /dev/null).
    pub interactive: bool,
    /// Size of /dev/shm with Docker's units.
    pub shm_size: String,
}

/// Docker's /dev/shm size.
pub const DEFAULT_SHM_SIZE: &str = "64m";

impl Default for ProcessOptions {
    fn default() -> Self {
        ProcessOptions {
            env: Vec::new(),
            env_file: Vec::new(),
            workdir: None,
            user: None,
            entrypoint: None,
            hostname: None,
            cap_add: Vec::new(),
            cap_drop: Vec::new(),
            privileged: false,
            security_opt: Vec::new(),
            network: String::new(),
            ulimit: Vec::new(),
            init: false,
            tty: false,
            interactive: false,
            shm_size: DEFAULT_SHM_SIZE.into(),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum OptionsError {
    #[error("invalid {flag} {value:?}: {reason}")]
    Invalid {
        flag: &'static str,
        value: String,
        reason: String,
    },
    #[error("cannot read env file {path}: {source}")]
    EnvFile {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("no command specified")]
    NoCommand,
    #[error("{0}")]
    Caps(#[from] crate::caps::CapsError),
}

fn invalid(flag: &'static str, value: &str, reason: impl Into<String>) -> OptionsError {
    OptionsError::Invalid {
        flag,
        value: value.to_string(),
        reason: reason.into(),
    }
}

/// What the options decide about seccomp, for the caller to compile (it owns the profile
/// loading, so this crate stays free of it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SeccompChoice {
    Default,
    Unconfined,
    Profile(PathBuf),
}

/// Gives the record a container identity if it has none yet.
pub fn ensure_container(
    record: &mut ContainerRecord,
    name: Option<&berth_common::ContainerName>,
) -> ContainerPart {
    if record.container.is_none() {
        record.container = Some(ContainerPart::new(name.cloned()));
    }
    record.container.clone().expect("set above")
}

impl ProcessOptions {
    pub fn seccomp(&self) -> SeccompChoice {
        if self.privileged {
            return SeccompChoice::Unconfined;
        }
        let mut choice = SeccompChoice::Default;
        for opt in &self.security_opt {
            if let Some(value) = opt
                .strip_prefix("seccomp=")
                .or_else(|| opt.strip_prefix("seccomp:"))
            {
                choice = if value == "unconfined" {
                    SeccompChoice::Unconfined
                } else {
                    SeccompChoice::Profile(PathBuf::from(value))
                };
            }
        }
        choice
    }

    pub fn no_new_privileges(&self) -> bool {
        self.security_opt.iter().any(|o| {
            matches!(
                o.as_str(),
                "no-new-privileges" | "no-new-privileges=true" | "no-new-privileges:true"
            )
        })
    }

    /// The full command: entrypoint then cmd, the way docker combines them.
    pub fn command(
        &self,
        record: &ContainerRecord,
        args: &[String],
    ) -> Result<Vec<String>, OptionsError> {
        let config = &record.image.config;
        let entrypoint: Vec<String> = match &self.entrypoint {
            Some(e) if e.is_empty() => Vec::new(),
            Some(e) => vec![e.clone()],
            None => config.entrypoint.clone().unwrap_or_default(),
        };
        let cmd: Vec<String> = if !args.is_empty() {
            args.to_vec()
        } else if self.entrypoint.is_some() {
            Vec::new()
        } else {
            config.cmd.clone().unwrap_or_default()
        };
        let command: Vec<String> = entrypoint.into_iter().chain(cmd).collect();
        if command.is_empty() {
            return Err(OptionsError::NoCommand);
        }
        Ok(command)
    }

    /// The image's environment, then --env-file, then -e; PATH and HOSTNAME filled in.
    pub fn environment(
        &self,
        record: &ContainerRecord,
        hostname: &str,
    ) -> Result<Vec<String>, OptionsError> {
        let mut env: Vec<String> = Vec::new();
        let mut set = |entry: String| {
            let key = entry
                .split_once('=')
                .map_or(entry.as_str(), |(k, _)| k)
                .to_string();
            env.retain(|e| e.split_once('=').map_or(e.as_str(), |(k, _)| k) != key);
            env.push(entry);
        };
        set(format!("PATH={}", crate::exec::DEFAULT_PATH));
        set(format!("HOSTNAME={hostname}"));
        for entry in &record.image.config.env {
            set(entry.clone());
        }
        let mut given = Vec::new();
        for path in &self.env_file {
            let text = std::fs::read_to_string(path).map_err(|source| OptionsError::EnvFile {
                path: path.clone(),
                source,
            })?;
            given.extend(
                text.lines()
                    .map(str::trim)
                    .filter(|l| !l.is_empty() && !l.starts_with('#'))
                    .map(String::from),
            );
        }
        given.extend(self.env.iter().cloned());
        for entry in given {
            if entry.contains('=') {
                set(entry);
            } else if let Ok(value) = std::env::var(&entry) {
                set(format!("{entry}={value}"));
            }
        }
        Ok(env)
    }

    fn rlimits(&self) -> Result<Vec<(rustix::process::Resource, u64, u64)>, OptionsError> {
        use rustix::process::Resource;
        let mut out = Vec::new();
        for spec in &self.ulimit {
            let (name, values) = spec
                .split_once('=')
                .ok_or_else(|| invalid("--ulimit", spec, "expected NAME=SOFT[:HARD]"))?;
            let resource = match name {
                "nofile" => Resource::Nofile,
                "nproc" => Resource::Nproc,
                "core" => Resource::Core,
                "stack" => Resource::Stack,
                "memlock" => Resource::Memlock,
                "fsize" => Resource::Fsize,
                "cpu" => Resource::Cpu,
                "as" => Resource::As,
                "data" => Resource::Data,
                "locks" => Resource::Locks,
                "msgqueue" => Resource::Msgqueue,
                "nice" => Resource::Nice,
                "rtprio" => Resource::Rtprio,
                "sigpending" => Resource::Sigpending,
                _ => return Err(invalid("--ulimit", spec, "unknown resource")),
            };
            let parse = |v: &str| {
                if v == "-1" || v == "unlimited" {
                    Ok(u64::MAX)
                } else {
                    v.parse::<u64>()
                        .map_err(|_| invalid("--ulimit", spec, "not a number"))
                }
            };
            let (soft, hard) = match values.split_once(':') {
                Some((s, h)) => (parse(s)?, parse(h)?),
                None => (parse(values)?, parse(values)?),
            };
            if soft > hard {
                return Err(invalid(
                    "--ulimit",
                    spec,
                    "the soft limit is above the hard one",
                ));
            }
            out.push((resource, soft, hard));
        }
        Ok(out)
    }

    /// The record's network part decides (berth-net set it up); without one, `--network`.
    fn network_mode(&self, record: &ContainerRecord) -> Result<NetworkMode, OptionsError> {
        if let Some(part) = &record.network {
            return Ok(match (&part.netns, part.mode.as_str()) {
                (_, "host") => NetworkMode::Host,
                (Some(path), _) => NetworkMode::Join(path.clone()),
                (None, _) => NetworkMode::None,
            });
        }
        Ok(match self.network.as_str() {
            "none" | "" => NetworkMode::None,
            "host" => NetworkMode::Host,
            path if path.starts_with('/') => NetworkMode::Join(PathBuf::from(path)),
            other => {
                return Err(invalid(
                    "--network",
                    other,
                    "this stage takes none, host or a network namespace path",
                ))
            }
        })
    }

    /// Everything `spawn::start` needs, from the record (image, rootfs, cgroup parts).
    pub fn spec(
        &self,
        record: &mut ContainerRecord,
        args: &[String],
    ) -> Result<ContainerSpec, SpecError> {
        let container = ensure_container(record, None);
        let rootfs = record.rootfs.clone().ok_or(SpecError::NoRootfs)?;
        let hostname = self
            .hostname
            .clone()
            .unwrap_or_else(|| container.id.short().to_string());
        let network = self.network_mode(record)?;
        let userns = rootfs.userns.clone();
        if userns.is_some() && network == NetworkMode::Host {
            return Err(SpecError::Options(invalid(
                "--network",
                "host",
                "a container with a user namespace cannot use the host's network (as in Docker)",
            )));
        }
        let dir =
            berth_common::Paths::new(&record.root, &record.run_dir).container_dir(&container.id);
        let etc_files = crate::etc_files::write(
            &dir,
            &hostname,
            network == NetworkMode::Host,
            record.network.as_ref(),
        )
        .map_err(|source| SpecError::Io {
            path: dir.clone(),
            source,
        })?;
        if let Some(userns) = &userns {
            // The container's root owns them, as in Docker (it may rewrite /etc/hosts).
            let (uid, gid) = userns.host_root();
            for (file, _) in &etc_files {
                std::os::unix::fs::chown(file, Some(uid), Some(gid)).map_err(|source| {
                    SpecError::Io {
                        path: file.clone(),
                        source,
                    }
                })?;
            }
        }
        let tty = if self.tty {
            let pty = crate::tty::Pty::open().map_err(|source| SpecError::Io {
                path: "/dev/ptmx".into(),
                source,
            })?;
            if let Some(userns) = &userns {
                // Its /dev/console: the container's root's, as berth's own is without a
                // user namespace.
                let (uid, gid) = userns.host_root();
                rustix::fs::fchown(
                    &pty.slave,
                    Some(rustix::fs::Uid::from_raw(uid)),
                    Some(rustix::fs::Gid::from_raw(gid)),
                )
                .map_err(|e| SpecError::Io {
                    path: pty.path.clone(),
                    source: e.into(),
                })?;
            }
            Some(pty)
        } else {
            None
        };
        let cgroup_procs = record
            .cgroup
            .iter()
            .flat_map(|c| c.paths.values())
            .map(|p| p.join("cgroup.procs"))
            .collect();
        Ok(ContainerSpec {
            rootfs: rootfs.path.clone(),
            mounts: rootfs.mounts.clone(),
            readonly: rootfs.readonly,
            privileged: self.privileged,
            network,
            etc_files,
            shm_size: berth_common::units::parse_size(&self.shm_size)
                .map_err(|reason| invalid("--shm-size", &self.shm_size, reason))?,
            args: self.command(record, args)?,
            env: self.environment(record, &hostname)?,
            hostname,
            cwd: self
                .workdir
                .clone()
                .unwrap_or_else(|| record.image.config.working_dir.clone()),
            user: self
                .user
                .clone()
                .unwrap_or_else(|| record.image.config.user.clone()),
            caps: crate::caps::resolve(&self.cap_add, &self.cap_drop, self.privileged)
                .map_err(OptionsError::from)?,
            no_new_privs: self.no_new_privileges(),
            seccomp: None,
            rlimits: self.rlimits()?,
            cgroup_procs,
            cgroup: record.cgroup.clone(),
            tty,
            stdin: self.interactive,
            init: self.init,
            userns,
            gate: None,
            joined: Default::default(),
            devices: Vec::new(),
        })
    }
}

#[derive(Debug, thiserror::Error)]
pub enum SpecError {
    #[error(transparent)]
    Options(#[from] OptionsError),
    #[error("the record has no rootfs part: pipe it through berth-mount first")]
    NoRootfs,
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
}

impl OptionsError {
    /// What kind of failure this is, for a caller that answers requests.
    pub fn kind(&self) -> berth_common::ErrorKind {
        match self {
            OptionsError::Caps(e) => e.kind(),
            OptionsError::Invalid { .. }
            | OptionsError::EnvFile { .. }
            | OptionsError::NoCommand => berth_common::ErrorKind::InvalidInput,
        }
    }
}

impl SpecError {
    pub fn kind(&self) -> berth_common::ErrorKind {
        match self {
            SpecError::Options(e) => e.kind(),
            SpecError::NoRootfs => berth_common::ErrorKind::InvalidInput,
            SpecError::Io { source, .. } => berth_common::ErrorKind::of_io(source),
        }
    }
}

#[cfg(test)]
#[path = "options_tests.rs"]
mod tests;
