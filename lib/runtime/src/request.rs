//! What a run asks for: `docker run`'s flags as plain values, the image and the command.
//! `berth-run` builds it from its flags, the daemon from a create request's JSON.

use berth_cgroups::request::LimitRequest;
use berth_common::Limits;
use berth_net::{HostSettings, NetRequest};
use berth_process::options::ProcessOptions;
use berth_rootfs::MountRequest;
use serde::{Deserialize, Serialize};

use crate::RunError;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct RunRequest {
    /// An image in the store, or an image archive to load first.
    pub image: String,
    /// The command; empty: the image's ENTRYPOINT and CMD.
    pub command: Vec<String>,
    /// Remove the container (its writable layer and anonymous volumes) when it exits.
    pub rm: bool,
    pub name: Option<String>,
    pub mount: MountRequest,
    pub limits: LimitRequest,
    /// Parent cgroup of the container's cgroups, at the root of each hierarchy.
    pub cgroup_parent: String,
    pub net: NetRequest,
    /// Host-wide network choices (the default bridge, the nftables table).
    pub net_host: HostSettings,
    pub process: ProcessOptions,
}

impl Default for RunRequest {
    fn default() -> Self {
        RunRequest {
            image: String::new(),
            command: Vec::new(),
            rm: false,
            name: None,
            mount: MountRequest::default(),
            limits: LimitRequest::default(),
            cgroup_parent: berth_cgroups::DEFAULT_PARENT.into(),
            net: NetRequest::default(),
            net_host: HostSettings::default(),
            process: ProcessOptions::default(),
        }
    }
}

impl RunRequest {
    /// A run of `image` with everything else as `docker run` defaults it.
    pub fn new(image: impl Into<String>) -> RunRequest {
        RunRequest {
            image: image.into(),
            ..RunRequest::default()
        }
    }

    /// Fails on bad user namespace flags (before anything is made).
    pub fn rootfs_options(&self) -> Result<berth_rootfs::SetupOptions, RunError> {
        // A container removed when it stops never needs its writable layer synced.
        let opts = self.mount.setup_options(self.name.clone(), self.rm)?;
        // As in Docker: a user namespace cannot share the host's network namespace (its
        // sysfs and sysctls belong to the host's).
        if opts.userns.is_some() && self.net.network == "host" {
            return Err(RunError::InvalidInput {
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
        Ok(self.limits.limits()?)
    }

    /// Checks what needs no image and no kernel: the image is named, the limits, network
    /// and user namespace flags are valid. Nothing is made.
    pub fn check(&self) -> Result<(), RunError> {
        self.checked().map(drop)
    }

    /// [`check`](Self::check), keeping the limits and the rootfs setup it worked out.
    pub(crate) fn checked(&self) -> Result<(Limits, berth_rootfs::SetupOptions), RunError> {
        if self.image.is_empty() {
            return Err(RunError::InvalidInput {
                flag: "IMAGE",
                reason: "give an image to run".into(),
            });
        }
        let limits = self.limits()?;
        self.net.check()?;
        Ok((limits, self.rootfs_options()?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use berth_common::ErrorKind;

    #[test]
    fn defaults_are_dockers() {
        let request = RunRequest::new("busybox");
        assert_eq!(request.cgroup_parent, berth_cgroups::DEFAULT_PARENT);
        assert_eq!(request.net.network, "bridge");
        assert_eq!(request.process.shm_size, "64m");
        assert!(!request.rm && request.name.is_none() && request.command.is_empty());
        request.check().unwrap();
    }

    #[test]
    fn a_daemon_builds_it_from_partial_json() {
        let request: RunRequest = serde_json::from_str(
            r#"{"image":"busybox","command":["true"],"rm":true,
                "limits":{"memory":"64m"},"process":{"env":["A=1"]}}"#,
        )
        .unwrap();
        assert_eq!(request.image, "busybox");
        assert_eq!(request.command, ["true"]);
        assert_eq!(request.limits().unwrap().memory, Some(64 << 20));
        assert_eq!(request.process.env, ["A=1"]);
        assert_eq!(request.process.shm_size, "64m");
        assert_eq!(request.cgroup_parent, berth_cgroups::DEFAULT_PARENT);
    }

    #[test]
    fn bad_input_is_refused_before_anything_is_made() {
        let kind = |request: RunRequest| request.check().unwrap_err().kind();
        assert_eq!(kind(RunRequest::default()), ErrorKind::InvalidInput);
        let mut bad_memory = RunRequest::new("busybox");
        bad_memory.limits.memory = Some("lots".into());
        let error = bad_memory.check().unwrap_err();
        assert_eq!(error.kind(), ErrorKind::InvalidInput);
        assert!(
            error.to_string().starts_with("invalid limits: --memory: "),
            "{error}"
        );
        let mut bad_network = RunRequest::new("busybox");
        bad_network.net.network = "container:".into();
        assert_eq!(kind(bad_network), ErrorKind::InvalidInput);
        let mut host_userns = RunRequest::new("busybox");
        host_userns.net.network = "host".into();
        host_userns.mount.uidmap = vec!["0:100000:65536".into()];
        let error = host_userns.check().unwrap_err();
        assert_eq!(error.kind(), ErrorKind::InvalidInput);
        assert!(error.to_string().contains("--network host"), "{error}");
    }
}
