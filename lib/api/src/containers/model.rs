//! The JSON a container create carries, as far as berth uses it. Every collection is an
//! Option: the docker CLI sends `null` for most of them; unknown fields are ignored.

use std::collections::HashMap;

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct CreateBody {
    pub hostname: Option<String>,
    pub domainname: Option<String>,
    pub user: Option<String>,
    pub attach_stdin: bool,
    pub attach_stdout: bool,
    pub attach_stderr: bool,
    pub exposed_ports: Option<HashMap<String, serde_json::Value>>,
    pub tty: bool,
    pub open_stdin: bool,
    pub stdin_once: bool,
    pub env: Option<Vec<String>>,
    pub cmd: Option<Vec<String>>,
    pub image: String,
    pub volumes: Option<HashMap<String, serde_json::Value>>,
    pub working_dir: Option<String>,
    pub entrypoint: Option<Vec<String>>,
    pub labels: Option<HashMap<String, String>>,
    pub stop_signal: Option<String>,
    pub stop_timeout: Option<i64>,
    pub healthcheck: Option<HealthConfig>,
    pub host_config: HostConfigBody,
    pub networking_config: Option<NetworkingConfigBody>,
}

/// `NetworkingConfig`: per network, the container's other names and its address there
/// (`--network-alias`, `--ip`).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct NetworkingConfigBody {
    pub endpoints_config: Option<HashMap<String, EndpointBody>>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct EndpointBody {
    pub aliases: Option<Vec<String>>,
    #[serde(rename = "IPAMConfig")]
    pub ipam_config: Option<EndpointIpamBody>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct EndpointIpamBody {
    /// A bad address fails the create with serde's message; the CLI's `""` is none.
    #[serde(rename = "IPv4Address", deserialize_with = "empty_or_ipv4")]
    pub ipv4_address: Option<std::net::Ipv4Addr>,
}

fn empty_or_ipv4<'de, D: serde::Deserializer<'de>>(
    d: D,
) -> Result<Option<std::net::Ipv4Addr>, D::Error> {
    match Option::<String>::deserialize(d)?.filter(|s| !s.is_empty()) {
        Some(text) => text.parse().map(Some).map_err(|_| {
            serde::de::Error::custom(format!("invalid IPv4 address {text:?} in IPAMConfig"))
        }),
        None => Ok(None),
    }
}

/// `Healthcheck`, in a create body or an image's config: the test (`["CMD", …]`,
/// `["CMD-SHELL", "…"]`, `["NONE"]`) and its timing in nanoseconds (0: the default).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct HealthConfig {
    pub test: Option<Vec<String>>,
    pub interval: Option<i64>,
    pub timeout: Option<i64>,
    pub start_period: Option<i64>,
    pub start_interval: Option<i64>,
    pub retries: Option<i64>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct HostConfigBody {
    pub binds: Option<Vec<String>>,
    pub mounts: Option<Vec<MountBody>>,
    pub tmpfs: Option<HashMap<String, String>>,
    pub port_bindings: Option<HashMap<String, Option<Vec<PortBindingBody>>>>,
    pub publish_all_ports: bool,
    pub network_mode: Option<String>,
    pub auto_remove: bool,
    pub restart_policy: Option<RestartPolicyBody>,
    pub memory: Option<i64>,
    pub memory_swap: Option<i64>,
    /// `--memory-reservation`: kept and shown, as dockerd does on cgroup v2 (memory.low).
    pub memory_reservation: Option<i64>,
    pub nano_cpus: Option<i64>,
    pub cpu_shares: Option<i64>,
    pub cpuset_cpus: Option<String>,
    pub pids_limit: Option<i64>,
    pub blkio_weight: Option<u16>,
    pub cap_add: Option<Vec<String>>,
    pub cap_drop: Option<Vec<String>>,
    pub privileged: bool,
    pub security_opt: Option<Vec<String>>,
    pub readonly_rootfs: bool,
    pub init: Option<bool>,
    pub dns: Option<Vec<String>>,
    pub dns_options: Option<Vec<String>>,
    pub dns_search: Option<Vec<String>>,
    pub extra_hosts: Option<Vec<String>>,
    pub shm_size: Option<i64>,
    pub userns_mode: Option<String>,
    pub ulimits: Option<Vec<UlimitBody>>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct MountBody {
    #[serde(rename = "Type")]
    pub kind: Option<String>,
    pub source: Option<String>,
    pub target: Option<String>,
    pub read_only: bool,
    pub tmpfs_options: Option<TmpfsOptionsBody>,
    pub volume_options: Option<VolumeOptionsBody>,
}

/// A volume mount's `VolumeOptions` (`--mount type=volume,volume-opt=K=V,volume-label=…`):
/// what a volume made for the mount is created with.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct VolumeOptionsBody {
    pub no_copy: bool,
    pub labels: Option<HashMap<String, String>>,
    pub driver_config: Option<DriverConfigBody>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct DriverConfigBody {
    pub name: Option<String>,
    pub options: Option<HashMap<String, String>>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct TmpfsOptionsBody {
    pub size_bytes: Option<i64>,
    pub mode: Option<u32>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct PortBindingBody {
    pub host_ip: Option<String>,
    pub host_port: Option<String>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct RestartPolicyBody {
    pub name: Option<String>,
    pub maximum_retry_count: Option<i64>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct UlimitBody {
    pub name: String,
    pub soft: i64,
    pub hard: i64,
}

/// `GET /containers/json`'s query, filters decoded.
#[derive(Debug, Clone, Default)]
pub struct ListQuery {
    pub all: bool,
    pub limit: Option<usize>,
    /// `filters`: name → accepted values.
    pub filters: HashMap<String, Vec<String>>,
}

/// What `/wait` waits for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WaitCondition {
    NotRunning,
    NextExit,
    Removed,
}

/// `GET /containers/{id}/logs`'s query.
#[derive(Debug, Clone, Default)]
pub struct LogsQuery {
    pub stdout: bool,
    pub stderr: bool,
    pub follow: bool,
    /// Lines from the end; None: all.
    pub tail: Option<usize>,
    /// Unix seconds (fractions allowed).
    pub since: Option<f64>,
    pub until: Option<f64>,
    pub timestamps: bool,
}

/// What an attach (or exec start) will stream, known before the connection is hijacked.
#[derive(Debug, Clone)]
pub struct AttachTarget {
    pub id: String,
    pub tty: bool,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_clis_body_with_nulls_and_unknown_fields_parses() {
        let body: CreateBody = serde_json::from_str(
            r#"{"Env":null,"Cmd":["echo","hi"],"Image":"busybox","Entrypoint":null,
                "Labels":{},"Volumes":{},"Unknown":1,
                "HostConfig":{"AutoRemove":true,"Binds":null,"PortBindings":{"80/tcp":[{"HostIp":"","HostPort":"8080"}]},
                  "RestartPolicy":{"Name":"no"},"LogConfig":{"Type":"","Config":{}},"NanoCpus":500000000,
                  "PidsLimit":null,"ConsoleSize":[0,0]},
                "NetworkingConfig":{"EndpointsConfig":{"default":{}}}}"#,
        )
        .unwrap();
        assert_eq!(body.cmd.unwrap(), ["echo", "hi"]);
        assert!(body.host_config.auto_remove);
        assert_eq!(body.host_config.nano_cpus, Some(500_000_000));
        let ports = body.host_config.port_bindings.unwrap();
        assert_eq!(
            ports["80/tcp"].as_ref().unwrap()[0].host_port.as_deref(),
            Some("8080")
        );
    }
}
