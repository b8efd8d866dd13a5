//! `docker run`'s network flags and berth's host-wide network settings (`berth-net`,
//! `berth-run`).

use std::net::Ipv4Addr;

use berth_net::settings::DEFAULT_TABLE;
use berth_net::{HostSettings, NetRequest};
use ipnet::Ipv4Net;

#[derive(Debug, Clone, Default, clap::Args)]
pub struct NetArgs {
    /// Network: bridge (default), none, host, a network's name, or container:NAME
    #[arg(long, visible_alias = "net", default_value = "bridge")]
    pub network: String,
    /// Publish a container's port: `[ip:][hostPort:]containerPort[/proto]`, ranges allowed
    #[arg(short = 'p', long = "publish", value_name = "PORTS")]
    pub publish: Vec<String>,
    /// Publish every port the image exposes on a random host port
    #[arg(short = 'P', long = "publish-all")]
    pub publish_all: bool,
    /// Another name the container is known by on its network
    #[arg(
        long = "network-alias",
        visible_alias = "net-alias",
        value_name = "NAME"
    )]
    pub aliases: Vec<String>,
    /// The container's IPv4 address on its network
    #[arg(long)]
    pub ip: Option<Ipv4Addr>,
    /// DNS server for the container
    #[arg(long = "dns", value_name = "IP")]
    pub dns: Vec<String>,
    /// DNS search domain
    #[arg(long = "dns-search", value_name = "DOMAIN")]
    pub dns_search: Vec<String>,
    /// DNS resolver option
    #[arg(long = "dns-option", visible_alias = "dns-opt", value_name = "OPTION")]
    pub dns_options: Vec<String>,
    /// An /etc/hosts entry: name:ip (ip may be host-gateway)
    #[arg(long = "add-host", value_name = "HOST:IP")]
    pub extra_hosts: Vec<String>,
}

impl From<NetArgs> for NetRequest {
    fn from(args: NetArgs) -> Self {
        NetRequest {
            network: args.network,
            publish: args.publish,
            publish_all: args.publish_all,
            aliases: args.aliases,
            ip: args.ip,
            dns: args.dns,
            dns_search: args.dns_search,
            dns_options: args.dns_options,
            extra_hosts: args.extra_hosts,
        }
    }
}

#[derive(Debug, Clone, clap::Args)]
pub struct HostArgs {
    /// Name of the default network's bridge (default: berth0 for the default root, berth<10 hex of the root's id> for any other)
    #[arg(long = "bridge-name", env = "BERTH_BRIDGE")]
    pub default_bridge: Option<String>,
    /// Subnet of the default network (default: the first of 172.18-31.0.0/16, 10.88-99.0.0/16 that no route of the host overlaps)
    #[arg(long = "default-subnet", env = "BERTH_DEFAULT_SUBNET")]
    pub default_subnet: Option<Ipv4Net>,
    /// The nftables table (family ip) that holds all of berth's rules
    #[arg(long = "nft-table", env = "BERTH_NFT_TABLE", default_value = DEFAULT_TABLE)]
    pub nft_table: String,
}

impl From<HostArgs> for HostSettings {
    fn from(args: HostArgs) -> Self {
        HostSettings {
            default_bridge: args.default_bridge,
            default_subnet: args.default_subnet,
            nft_table: args.nft_table,
        }
    }
}
