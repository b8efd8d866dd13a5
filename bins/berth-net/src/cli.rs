//! `berth-net`'s command line.

use std::net::Ipv4Addr;
use std::path::PathBuf;

use berth_cli::{HostArgs, NetArgs};
use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(
    name = "berth-net",
    version,
    about = "Network a container (record on stdin, extended record on stdout), or manage networks"
)]
pub struct Cli {
    #[arg(long, env = "BERTH_ROOT", default_value = berth_common::DEFAULT_ROOT, global = true)]
    pub root: PathBuf,
    #[arg(long, env = "BERTH_RUN_DIR", default_value = berth_common::DEFAULT_RUN_DIR, global = true)]
    pub run_dir: PathBuf,
    /// More logging (-v info, -vv debug)
    #[arg(short, long, action = clap::ArgAction::Count, global = true)]
    pub verbose: u8,
    #[command(flatten)]
    pub settings: HostArgs,
    #[command(subcommand)]
    pub command: Option<Command>,
    #[command(flatten)]
    pub request: NetArgs,
}

#[derive(Subcommand)]
pub enum Command {
    /// Create a network (a bridge of its own)
    Create {
        /// Subnet in CIDR form (default: a free private one)
        #[arg(long)]
        subnet: Option<ipnet::Ipv4Net>,
        /// Gateway address (default: the subnet's first address)
        #[arg(long)]
        gateway: Option<Ipv4Addr>,
        /// Where automatic addresses come from, within the subnet
        #[arg(long)]
        ip_range: Option<ipnet::Ipv4Net>,
        /// No route out and no traffic to other networks
        #[arg(long)]
        internal: bool,
        /// Driver (only bridge)
        #[arg(short = 'd', long, default_value = "bridge")]
        driver: String,
        /// Driver options: com.docker.network.bridge.name=NAME
        #[arg(short = 'o', long = "opt", value_name = "KEY=VALUE")]
        options: Vec<String>,
        /// Labels
        #[arg(long = "label", value_name = "KEY=VALUE")]
        labels: Vec<String>,
        name: String,
    },
    /// List networks
    #[command(visible_alias = "list")]
    Ls {
        #[arg(short, long)]
        quiet: bool,
        #[arg(long)]
        json: bool,
    },
    /// Show networks in detail (JSON, as docker network inspect)
    Inspect {
        #[arg(required = true)]
        networks: Vec<String>,
    },
    /// Remove networks (refused while containers are attached)
    #[command(visible_alias = "remove")]
    Rm {
        #[arg(required = true)]
        networks: Vec<String>,
    },
    /// Remove every user-defined network without containers
    Prune {
        #[arg(short, long)]
        force: bool,
    },
    /// Attach a running container to another network
    Connect {
        #[arg(long = "alias")]
        aliases: Vec<String>,
        #[arg(long)]
        ip: Option<Ipv4Addr>,
        network: String,
        container: String,
    },
    /// Take a container off a network
    Disconnect { network: String, container: String },
    /// Undo a container's networking: links, addresses, ports, namespace (record on stdin,
    /// or --id); the record is passed on without its network part (not printed on a
    /// terminal, unless --json)
    Down {
        #[arg(long)]
        id: Option<String>,
        /// Print the record on a terminal too
        #[arg(long)]
        json: bool,
    },
    /// Reconcile links, rules, allocations and namespaces with the containers that run
    Gc {
        #[arg(long)]
        json: bool,
    },
    /// Remove every network of the root, the default one included, and berth's nftables
    /// table once no network uses it (uninstall, tests)
    Reset,
    /// Internal: a network's DNS server
    #[command(name = "__dns-serve", hide = true)]
    DnsServe { config: String },
}

impl Cli {
    /// Whether this run is a stage in a pipe (its stdout a record for the next stage, so a
    /// failure is reported there too), not a management command printing for people.
    pub fn is_stage(&self) -> bool {
        match &self.command {
            None => true,
            Some(Command::Down { id, .. }) => id.is_none(),
            Some(_) => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use berth_net::{HostSettings, NetRequest};
    use clap::CommandFactory;

    #[test]
    fn the_cli_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn the_stages_flags_make_the_net_request_and_settings() {
        let cli = Cli::try_parse_from([
            "berth-net",
            "--network",
            "front",
            "-p",
            "127.0.0.1:8080:80",
            "-P",
            "--network-alias",
            "www",
            "--ip",
            "10.1.0.5",
            "--dns",
            "10.1.0.1",
            "--dns-search",
            "example.test",
            "--dns-opt",
            "ndots:2",
            "--add-host",
            "db:10.1.0.9",
            "--bridge-name",
            "tb0",
            "--default-subnet",
            "10.99.0.0/24",
            "--nft-table",
            "t_b",
        ])
        .unwrap();
        assert!(cli.command.is_none());
        assert_eq!(
            NetRequest::from(cli.request),
            NetRequest {
                network: "front".into(),
                publish: vec!["127.0.0.1:8080:80".into()],
                publish_all: true,
                aliases: vec!["www".into()],
                ip: Some("10.1.0.5".parse().unwrap()),
                dns: vec!["10.1.0.1".into()],
                dns_search: vec!["example.test".into()],
                dns_options: vec!["ndots:2".into()],
                extra_hosts: vec!["db:10.1.0.9".into()],
            }
        );
        assert_eq!(
            HostSettings::from(cli.settings),
            HostSettings {
                default_bridge: Some("tb0".into()),
                default_subnet: Some("10.99.0.0/24".parse().unwrap()),
                nft_table: "t_b".into(),
            }
        );
    }

    #[test]
    fn no_flags_make_the_libraries_defaults() {
        let cli = Cli::try_parse_from(["berth-net"]).unwrap();
        assert_eq!(NetRequest::from(cli.request), NetRequest::default());
        if ["BERTH_BRIDGE", "BERTH_DEFAULT_SUBNET", "BERTH_NFT_TABLE"]
            .iter()
            .all(|var| std::env::var_os(var).is_none())
        {
            assert_eq!(HostSettings::from(cli.settings), HostSettings::default());
        }
    }
}
