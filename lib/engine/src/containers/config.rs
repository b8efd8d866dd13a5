//! What berthd stores about a container at create, beside the registry's identity:
//! `<root>/containers/<id>/create.json`, the create body as the client sent it (for
//! inspect) and the run request made of it (for every start), so a container is whole
//! after a daemon restart.

use berth_api::containers::model::HostConfigBody;
use berth_api::containers::CreateBody;
use berth_common::{ContainerId, Paths};
use berth_runtime::RunRequest;
use serde::{Deserialize, Serialize};

pub const CREATE_FILE: &str = "create.json";

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Created {
    pub body: CreateBody,
    pub request: RunRequest,
    /// The image's id at create (`sha256:…`).
    pub image_id: String,
}

/// Storing or reading `create.json` failed.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("{}: {source}", path.display())]
    Write {
        path: std::path::PathBuf,
        source: std::io::Error,
    },
    #[error("{}: {source}", path.display())]
    Read {
        path: std::path::PathBuf,
        source: std::io::Error,
    },
    #[error("{}: not a container config: {source}", path.display())]
    Parse {
        path: std::path::PathBuf,
        source: serde_json::Error,
    },
}

impl ConfigError {
    pub fn kind(&self) -> berth_common::ErrorKind {
        match self {
            ConfigError::Write { source, .. } | ConfigError::Read { source, .. } => {
                berth_common::ErrorKind::of_io(source)
            }
            ConfigError::Parse { .. } => berth_common::ErrorKind::Internal,
        }
    }
}

impl Created {
    pub fn write(&self, paths: &Paths, id: &ContainerId) -> Result<(), ConfigError> {
        self.write_as(paths, id, berth_common::json_file::Durability::Durable)
    }

    /// [`Created::write`], fsync'd only when `durability` asks (an AutoRemove container's
    /// files do not need to outlive a power cut: its overlay is volatile anyway).
    pub fn write_as(
        &self,
        paths: &Paths,
        id: &ContainerId,
        durability: berth_common::json_file::Durability,
    ) -> Result<(), ConfigError> {
        let path = paths.container_dir(id).join(CREATE_FILE);
        berth_common::json_file::write_atomic_as(&path, self, durability).map_err(|e| {
            ConfigError::Write {
                path: e.path,
                source: e.source,
            }
        })
    }

    pub fn read(paths: &Paths, id: &ContainerId) -> Result<Option<Created>, ConfigError> {
        let path = paths.container_dir(id).join(CREATE_FILE);
        match std::fs::read(&path) {
            Ok(data) => serde_json::from_slice(&data)
                .map(Some)
                .map_err(|source| ConfigError::Parse { path, source }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(source) => Err(ConfigError::Read { path, source }),
        }
    }
}

/// The run request a create body asks for, with the engine's host-wide settings.
pub fn request_of(
    body: &CreateBody,
    name: Option<String>,
    settings: &crate::EngineSettings,
) -> RunRequest {
    let host = &body.host_config;
    let list = |v: &Option<Vec<String>>| v.clone().unwrap_or_default();
    let mut request = RunRequest::new(body.image.clone());
    request.name = name;
    // An Entrypoint of several words: the first is the program, the rest come before Cmd.
    let cmd = list(&body.cmd);
    match &body.entrypoint {
        Some(entry) if entry.is_empty() => {
            request.process.entrypoint = Some(String::new());
            request.command = cmd;
        }
        Some(entry) => {
            request.process.entrypoint = Some(entry[0].clone());
            request.command = entry[1..].iter().cloned().chain(cmd).collect();
        }
        None => request.command = cmd,
    }
    // berthd removes an AutoRemove container itself once it has the exit status for the
    // waiting client; the monitor keeps it.
    request.rm = false;
    request.cgroup_parent = settings.cgroup_parent.clone();
    request.net_host = settings.net.clone();

    request.mount.volumes = list(&host.binds);
    for mount in host.mounts.iter().flatten() {
        let target = mount.target.clone().unwrap_or_default();
        match mount.kind.as_deref().unwrap_or("volume") {
            "tmpfs" => {
                let mut opts = Vec::new();
                if let Some(size) = mount.tmpfs_options.as_ref().and_then(|t| t.size_bytes) {
                    opts.push(format!("size={size}"));
                }
                if let Some(mode) = mount.tmpfs_options.as_ref().and_then(|t| t.mode) {
                    opts.push(format!("mode={mode:o}"));
                }
                request.mount.tmpfs.push(if opts.is_empty() {
                    target
                } else {
                    format!("{target}:{}", opts.join(","))
                });
            }
            _ => {
                let source = mount.source.clone().unwrap_or_default();
                let mut spec = if source.is_empty() {
                    target
                } else {
                    format!("{source}:{target}")
                };
                if mount.read_only {
                    spec.push_str(":ro");
                }
                request.mount.volumes.push(spec);
            }
        }
    }
    // `docker run -v /path` comes as Config.Volumes: an anonymous volume each, unless a
    // bind or a mount already covers the path.
    let covered: Vec<String> = request
        .mount
        .volumes
        .iter()
        .filter_map(|v| berth_rootfs::spec::parse_volume(v).ok())
        .map(|v| v.target().to_string())
        .collect();
    let mut anonymous: Vec<&String> = body.volumes.iter().flatten().map(|(k, _)| k).collect();
    anonymous.sort();
    for target in anonymous {
        if !covered.contains(target) {
            request.mount.volumes.push(target.clone());
        }
    }
    for (target, opts) in host.tmpfs.iter().flatten() {
        request.mount.tmpfs.push(if opts.is_empty() {
            target.clone()
        } else {
            format!("{target}:{opts}")
        });
    }
    request.mount.read_only = host.readonly_rootfs;
    if let Some(mode) = host.userns_mode.as_ref().filter(|m| !m.is_empty()) {
        request.mount.userns = Some(mode.clone());
    }

    let positive = |v: Option<i64>| v.filter(|n| *n > 0);
    request.limits.memory = positive(host.memory).map(|n| n.to_string());
    request.limits.memory_swap = host.memory_swap.filter(|n| *n != 0).map(|n| n.to_string());
    request.limits.cpus = positive(host.nano_cpus).map(|n| n as f64 / 1e9);
    request.limits.cpu_shares = positive(host.cpu_shares).map(|n| n as u64);
    request.limits.cpuset_cpus = host.cpuset_cpus.clone().filter(|c| !c.is_empty());
    request.limits.pids_limit = positive(host.pids_limit);
    request.limits.blkio_weight = host.blkio_weight.filter(|w| *w > 0);

    request.net.network = match host.network_mode.as_deref() {
        None | Some("") | Some("default") => "bridge".into(),
        Some(mode) => mode.to_string(),
    };
    let endpoint = body
        .networking_config
        .as_ref()
        .and_then(|n| n.endpoints_config.as_ref())
        .and_then(|e| {
            e.get(&request.net.network)
                .or_else(|| host.network_mode.as_ref().and_then(|m| e.get(m)))
        });
    if let Some(endpoint) = endpoint {
        request.net.aliases = list(&endpoint.aliases);
        request.net.ip = endpoint.ipam_config.as_ref().and_then(|i| i.ipv4_address);
    }
    request.net.publish = publish_list(host);
    request.net.publish_all = host.publish_all_ports;
    request.net.dns = list(&host.dns);
    request.net.dns_search = list(&host.dns_search);
    request.net.dns_options = list(&host.dns_options);
    request.net.extra_hosts = list(&host.extra_hosts);

    let process = &mut request.process;
    process.env = list(&body.env);
    process.workdir = body.working_dir.clone().filter(|w| !w.is_empty());
    process.user = body.user.clone().filter(|u| !u.is_empty());
    process.hostname = body.hostname.clone().filter(|h| !h.is_empty());
    process.cap_add = list(&host.cap_add);
    process.cap_drop = list(&host.cap_drop);
    process.privileged = host.privileged;
    process.security_opt = list(&host.security_opt);
    process.ulimit = host
        .ulimits
        .iter()
        .flatten()
        .map(|u| format!("{}={}:{}", u.name, u.soft, u.hard))
        .collect();
    process.init = host.init.unwrap_or(false);
    process.tty = body.tty;
    process.interactive = body.open_stdin;
    if let Some(size) = positive(host.shm_size) {
        process.shm_size = size.to_string();
    }
    request
}

/// PortBindings as `docker run -p` would have said them: `[IP:][HOSTPORT:]PORT/PROTO`.
fn publish_list(host: &HostConfigBody) -> Vec<String> {
    let mut out = Vec::new();
    let mut ports: Vec<_> = host.port_bindings.iter().flatten().collect();
    ports.sort_by(|a, b| a.0.cmp(b.0));
    for (port, bindings) in ports {
        for binding in bindings.iter().flatten() {
            let ip = binding.host_ip.as_deref().unwrap_or("");
            let host_port = binding.host_port.as_deref().unwrap_or("");
            out.push(match (ip.is_empty(), host_port.is_empty()) {
                (true, true) => port.clone(),
                (true, false) => format!("{host_port}:{port}"),
                (false, _) => format!("{ip}:{host_port}:{port}"),
            });
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn body(json: &str) -> CreateBody {
        serde_json::from_str(json).unwrap()
    }

    #[test]
    fn docker_run_flags_become_berths() {
        let b = body(
            r#"{"Image":"busybox","Cmd":["-c","echo hi"],"Entrypoint":["sh"],"Env":["A=1"],
                "Tty":true,"OpenStdin":true,"User":"1000","WorkingDir":"/tmp",
                "HostConfig":{"Binds":["/data:/data:ro"],"Memory":67108864,"NanoCpus":1500000000,
                  "PortBindings":{"80/tcp":[{"HostIp":"","HostPort":"8080"}]},
                  "NetworkMode":"default","AutoRemove":true,"CapAdd":["NET_ADMIN"],
                  "Tmpfs":{"/run":"size=1m"},"ReadonlyRootfs":true,"PidsLimit":50,
                  "Mounts":[{"Type":"volume","Source":"vol","Target":"/v"}]}}"#,
        );
        let r = request_of(&b, Some("web".into()), &crate::EngineSettings::default());
        assert_eq!(r.process.entrypoint.as_deref(), Some("sh"));
        assert_eq!(r.command, ["-c", "echo hi"]);
        assert_eq!(r.name.as_deref(), Some("web"));
        assert!(!r.rm, "berthd removes AutoRemove containers itself");
        assert_eq!(r.mount.volumes, ["/data:/data:ro", "vol:/v"]);
        assert_eq!(r.mount.tmpfs, ["/run:size=1m"]);
        assert!(r.mount.read_only);
        assert_eq!(r.limits.memory.as_deref(), Some("67108864"));
        assert_eq!(r.limits.cpus, Some(1.5));
        assert_eq!(r.limits.pids_limit, Some(50));
        assert_eq!(r.net.network, "bridge");
        assert_eq!(r.net.publish, ["8080:80/tcp"]);
        assert!(r.process.tty && r.process.interactive);
        assert_eq!(r.process.user.as_deref(), Some("1000"));
        assert_eq!(r.process.cap_add, ["NET_ADMIN"]);
        r.check().unwrap();
    }

    #[test]
    fn config_volumes_are_anonymous_unless_bound() {
        let r = request_of(
            &body(
                r#"{"Image":"busybox","Volumes":{"/anon":{},"/v":{}},
                    "HostConfig":{"Binds":["vol:/v"]}}"#,
            ),
            None,
            &crate::EngineSettings::default(),
        );
        assert_eq!(r.mount.volumes, ["vol:/v", "/anon"]);
    }

    #[test]
    fn network_aliases_and_the_address_come_from_the_endpoint_of_the_network() {
        let b = body(
            r#"{"Image":"busybox","HostConfig":{"NetworkMode":"appnet"},
                "NetworkingConfig":{"EndpointsConfig":{"appnet":{"Aliases":["www"],
                  "IPAMConfig":{"IPv4Address":"10.9.0.7"}},"other":{"Aliases":["no"]}}}}"#,
        );
        let r = request_of(&b, None, &crate::EngineSettings::default());
        assert_eq!(r.net.aliases, ["www"]);
        assert_eq!(r.net.ip, Some("10.9.0.7".parse().unwrap()));
        let b = body(
            r#"{"Image":"busybox","NetworkingConfig":{"EndpointsConfig":{"default":
                {"IPAMConfig":{"IPv4Address":""}}}}}"#,
        );
        let r = request_of(&b, None, &crate::EngineSettings::default());
        assert!(r.net.aliases.is_empty() && r.net.ip.is_none());
        let bad = serde_json::from_str::<CreateBody>(
            r#"{"Image":"b","NetworkingConfig":{"EndpointsConfig":{"n":{"IPAMConfig":{"IPv4Address":"10.9"}}}}}"#,
        );
        assert!(bad
            .unwrap_err()
            .to_string()
            .contains("invalid IPv4 address"));
    }

    #[test]
    fn an_empty_entrypoint_resets_the_images() {
        let r = request_of(
            &body(r#"{"Image":"busybox","Entrypoint":[],"Cmd":["ls"]}"#),
            None,
            &crate::EngineSettings::default(),
        );
        assert_eq!(r.process.entrypoint.as_deref(), Some(""));
        assert_eq!(r.command, ["ls"]);
    }
}
