//! What a container asks of the network: docker's `run` flags (`--network`, `-p`, `-P`,
//! `--network-alias`, `--ip`, `--dns…`, `--add-host`) as plain values, checked before
//! anything is made. `berth-net` and `berth-run` build it from their flags, the daemon from
//! a request's JSON.

use std::net::Ipv4Addr;

use berth_common::{ContainerRecord, ContainerRef};
use serde::{Deserialize, Serialize};

use crate::error::{flag_err, Result};
use crate::ports::PortRequest;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct NetRequest {
    /// `bridge` (the default), `none`, `host`, a network's name, or `container:NAME`.
    pub network: String,
    /// Published ports as `-p` takes them: `[ip:][hostPort:]containerPort[/proto]`, ranges
    /// allowed.
    pub publish: Vec<String>,
    /// Publish every port the image exposes on a random host port (`-P`).
    pub publish_all: bool,
    /// Other names the container is known by on its network.
    pub aliases: Vec<String>,
    /// The container's IPv4 address on its network.
    pub ip: Option<Ipv4Addr>,
    /// DNS servers, as given (checked to be IPv4 addresses).
    pub dns: Vec<String>,
    pub dns_search: Vec<String>,
    pub dns_options: Vec<String>,
    /// /etc/hosts entries as `--add-host` takes them: `name:ip` (ip may be `host-gateway`).
    pub extra_hosts: Vec<String>,
}

impl Default for NetRequest {
    fn default() -> Self {
        NetRequest {
            network: crate::settings::DEFAULT_NETWORK.into(),
            publish: Vec::new(),
            publish_all: false,
            aliases: Vec::new(),
            ip: None,
            dns: Vec::new(),
            dns_search: Vec::new(),
            dns_options: Vec::new(),
            extra_hosts: Vec::new(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NetMode {
    None,
    Host,
    /// `bridge` or a user-defined network.
    Network(String),
    /// `container:REF`: the other container's namespace; the reference is checked when the
    /// mode is parsed and resolved when the network is set up.
    Container(ContainerRef),
}

/// The request, checked and expanded.
#[derive(Debug, Clone)]
pub struct Plan {
    pub mode: NetMode,
    pub ports: Vec<PortRequest>,
    pub dns: Vec<Ipv4Addr>,
    pub extra_hosts: Vec<String>,
}

impl NetRequest {
    pub fn mode(&self) -> Result<NetMode> {
        Ok(match self.network.as_str() {
            "none" => NetMode::None,
            "host" => NetMode::Host,
            "" | "bridge" | "default" => NetMode::Network(crate::settings::DEFAULT_NETWORK.into()),
            other => match other.strip_prefix("container:") {
                Some("") => {
                    return Err(flag_err(
                        "--network",
                        other,
                        "container: needs a container name or ID",
                    ))
                }
                Some(reference) => NetMode::Container(
                    ContainerRef::parse(reference)
                        .map_err(|_| flag_err("--network", other, "not a container name or ID"))?,
                ),
                None if crate::network::valid_name(other) => NetMode::Network(other.to_string()),
                None => {
                    return Err(flag_err(
                        "--network",
                        other,
                        "not a network name, none, host or container:NAME",
                    ))
                }
            },
        })
    }

    pub fn mode_name(&self) -> String {
        match self.mode() {
            Ok(NetMode::Network(name)) => name,
            _ => self.network.clone(),
        }
    }

    /// Checks every flag that needs no record, before anything is made.
    pub fn check(&self) -> Result<()> {
        self.plan(&[]).map(drop)
    }

    /// Checks every flag and expands `-P` with the image's exposed ports; nothing is made.
    pub fn validate(&self, record: &ContainerRecord) -> Result<Plan> {
        self.plan(&record.image.config.exposed_ports)
    }

    fn plan(&self, exposed: &[String]) -> Result<Plan> {
        let mode = self.mode()?;
        let mut ports = Vec::new();
        for spec in &self.publish {
            ports.extend(crate::ports::parse_publish(spec)?);
        }
        if self.publish_all {
            ports.extend(crate::ports::publish_all(exposed)?);
        }
        let dns = self
            .dns
            .iter()
            .map(|d| {
                d.parse::<Ipv4Addr>()
                    .map_err(|_| flag_err("--dns", d, "not an IPv4 address"))
            })
            .collect::<Result<Vec<_>>>()?;
        for host in &self.extra_hosts {
            let ok = host.split_once(':').is_some_and(|(name, ip)| {
                !name.is_empty() && (ip == "host-gateway" || ip.parse::<std::net::IpAddr>().is_ok())
            });
            if !ok {
                return Err(flag_err("--add-host", host, "expected name:ip"));
            }
        }
        match &mode {
            NetMode::Network(_) => {}
            other => {
                if self.ip.is_some() {
                    return Err(flag_err(
                        "--ip",
                        &self.network,
                        "an address needs a bridge or user-defined network",
                    ));
                }
                if !self.aliases.is_empty() {
                    return Err(flag_err(
                        "--network-alias",
                        &self.network,
                        "aliases need a user-defined network",
                    ));
                }
                if let NetMode::Container(_) = other {
                    if !ports.is_empty() {
                        return Err(flag_err("--publish", &self.network, "conflicting options: port publishing and the container type network mode"));
                    }
                } else if !ports.is_empty() {
                    tracing::warn!(
                        "published ports are discarded with --network {}",
                        self.network
                    );
                    ports.clear();
                }
            }
        }
        if let NetMode::Network(name) = &mode {
            if !self.aliases.is_empty() && name == crate::settings::DEFAULT_NETWORK {
                return Err(flag_err(
                    "--network-alias",
                    name,
                    "network-scoped aliases are supported only for user-defined networks",
                ));
            }
        }
        Ok(Plan {
            mode,
            ports,
            dns,
            extra_hosts: self.extra_hosts.clone(),
        })
    }
}
