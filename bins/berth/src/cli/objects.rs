//! The subcommands of volume, network and context.

use clap::Subcommand;

#[derive(Debug, Subcommand)]
pub enum ObjectCommand {
    /// Create a volume or network
    Create {
        /// Driver to manage the object
        #[arg(short = 'd', long)]
        driver: Option<String>,
        /// Set metadata
        #[arg(long = "label", value_name = "LABEL")]
        labels: Vec<String>,
        /// Subnet in CIDR format (networks)
        #[arg(long)]
        subnet: Option<String>,
        name: Option<String>,
    },
    /// List volumes or networks
    #[command(alias = "list")]
    Ls {
        /// Only display names / IDs
        #[arg(short = 'q', long)]
        quiet: bool,
        /// Provide filter values
        #[arg(short = 'f', long = "filter", value_name = "FILTER")]
        filters: Vec<String>,
        /// Format output using a custom template
        #[arg(long)]
        format: Option<String>,
    },
    /// Display detailed information
    Inspect {
        /// Format output using a custom template
        #[arg(short = 'f', long)]
        format: Option<String>,
        #[arg(required = true)]
        names: Vec<String>,
    },
    /// Remove one or more
    #[command(alias = "remove")]
    Rm {
        /// Force the removal (volumes)
        #[arg(short = 'f', long)]
        force: bool,
        #[arg(required = true)]
        names: Vec<String>,
    },
    /// Connect a container to a network (networks)
    Connect {
        /// Add network-scoped alias for the container
        #[arg(long = "alias")]
        aliases: Vec<String>,
        /// IPv4 address
        #[arg(long)]
        ip: Option<String>,
        network: String,
        container: String,
    },
    /// Disconnect a container from a network (networks)
    Disconnect {
        /// Force the container to disconnect from a network
        #[arg(short = 'f', long)]
        force: bool,
        network: String,
        container: String,
    },
    /// Remove all unused
    Prune {
        /// Do not prompt for confirmation
        #[arg(short = 'f', long)]
        force: bool,
    },
}

#[derive(Debug, Subcommand)]
pub enum ContextCommand {
    /// Create a context
    Create {
        /// Description of the context
        #[arg(long, default_value = "")]
        description: String,
        /// The docker endpoint: host=ADDR
        #[arg(long)]
        docker: String,
        name: String,
    },
    /// Set the current context
    Use { name: String },
    /// List contexts
    #[command(alias = "list")]
    Ls {
        /// Only show context names
        #[arg(short = 'q', long)]
        quiet: bool,
        /// Format output using a custom template
        #[arg(long)]
        format: Option<String>,
    },
    /// Remove one or more contexts
    #[command(alias = "remove")]
    Rm {
        /// Force the removal of a context in use
        #[arg(short = 'f', long)]
        force: bool,
        #[arg(required = true)]
        names: Vec<String>,
    },
    /// Display detailed information on one or more contexts
    Inspect {
        /// Format output using a custom template
        #[arg(short = 'f', long)]
        format: Option<String>,
        names: Vec<String>,
    },
    /// Print the name of the current context
    Show,
}

#[derive(Debug, Subcommand)]
pub enum SystemCommand {
    /// Show docker disk usage
    Df {
        /// Show detailed information on space usage
        #[arg(short = 'v', long)]
        verbose: bool,
        /// Format output using a custom template
        #[arg(long)]
        format: Option<String>,
    },
    /// Display system-wide information
    Info(crate::cli::FormatArg),
    /// Get real time events from the server
    Events(crate::cli::EventsArgs),
    /// Proxy the stdio stream to the daemon (or serve the API in-process on it), for ssh://
    #[command(name = "dial-stdio")]
    DialStdio,
    /// Remove unused data
    Prune {
        /// Remove all unused images not just dangling ones
        #[arg(short = 'a', long)]
        all: bool,
        /// Do not prompt for confirmation
        #[arg(short = 'f', long)]
        force: bool,
        /// Prune anonymous volumes
        #[arg(long)]
        volumes: bool,
    },
}

#[derive(Debug, Subcommand)]
pub enum ContainerCommand {
    /// Remove all stopped containers
    Prune {
        /// Do not prompt for confirmation
        #[arg(short = 'f', long)]
        force: bool,
        /// Provide filter values
        #[arg(long = "filter")]
        filters: Vec<String>,
    },
    /// List containers
    #[command(alias = "list", alias = "ps")]
    Ls(crate::cli::PsArgs),
}

#[derive(Debug, Subcommand)]
pub enum ImageCommand {
    /// Remove unused images
    Prune {
        /// Remove all unused images, not just dangling ones
        #[arg(short = 'a', long)]
        all: bool,
        /// Do not prompt for confirmation
        #[arg(short = 'f', long)]
        force: bool,
        /// Provide filter values
        #[arg(long = "filter")]
        filters: Vec<String>,
    },
    /// List images
    #[command(alias = "list")]
    Ls(crate::cli::ImagesArgs),
}
