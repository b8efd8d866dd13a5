//! `berth-net`'s command line.

use std::net::Ipv4Addr;
use std::path::PathBuf;

use berth_net::{HostSettings, NetRequest};
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
    pub settings: HostSettings,
    #[command(subcommand)]
    pub command: Option<Command>,
    #[command(flatten)]
    pub request: NetRequest,
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
