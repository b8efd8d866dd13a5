//! `berth-run`'s command line, docker-style, and the library requests it makes.

use std::path::PathBuf;

use berth_cli::{HostArgs, LimitArgs, MountArgs, NetArgs, ProcessArgs};
use berth_common::{DEFAULT_ROOT, DEFAULT_RUN_DIR};
use berth_runtime::attach::{AttachRequest, DEFAULT_DETACH_KEYS};
use berth_runtime::exec::ExecRequest;
use berth_runtime::{RunError, RunRequest};
use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(
    name = "berth-run",
    version,
    about = "Run a command in a new container",
    override_usage = "berth-run [OPTIONS] IMAGE [COMMAND] [ARG...]\n       \
                      berth-run [--root ROOT] [--run-dir RUN_DIR] SUBCOMMAND [OPTIONS] ...",
    subcommand_value_name = "SUBCOMMAND",
    subcommand_help_heading = "Subcommands",
    disable_help_flag = true
)]
pub struct Cli {
    /// Print help (-h is --hostname, as in docker)
    #[arg(long, action = clap::ArgAction::Help, global = true)]
    help: Option<bool>,
    /// State directory of the store
    #[arg(long, env = "BERTH_ROOT", default_value = DEFAULT_ROOT, global = true)]
    pub root: PathBuf,
    /// Runtime state directory
    #[arg(long, env = "BERTH_RUN_DIR", default_value = DEFAULT_RUN_DIR, global = true)]
    pub run_dir: PathBuf,
    #[command(subcommand)]
    pub manage: Option<Manage>,
    /// Print how long each stage took (stderr)
    #[arg(long)]
    pub trace: bool,
    /// Run in the background under a monitor and print the container ID
    #[arg(short = 'd', long)]
    pub detach: bool,
    #[command(flatten)]
    pub flags: RunArgs,
    /// An image in the store, or an image archive to load first
    pub image: Option<String>,
    /// The command and its arguments (default: the image's ENTRYPOINT and CMD)
    #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
    pub command: Vec<String>,
}

/// `docker run`'s flags of a whole run.
#[derive(Debug, Clone, clap::Args)]
pub struct RunArgs {
    /// Remove the container (its writable layer and anonymous volumes) when it exits
    #[arg(long)]
    pub rm: bool,
    /// Container name
    #[arg(long)]
    pub name: Option<String>,
    #[command(flatten)]
    pub mount: MountArgs,
    #[command(flatten)]
    pub limits: LimitArgs,
    /// Parent cgroup of the container's cgroups (at the root of each hierarchy)
    #[arg(long = "cgroup-parent", env = "BERTH_CGROUP_PARENT", default_value = berth_cgroups::DEFAULT_PARENT)]
    pub cgroup_parent: String,
    #[command(flatten)]
    pub net: NetArgs,
    #[command(flatten)]
    pub net_host: HostArgs,
    #[command(flatten)]
    pub process: ProcessArgs,
}

impl Cli {
    /// The run the flags ask for; fails without an image.
    pub fn run_request(&self) -> Result<RunRequest, RunError> {
        let image = self.image.clone().ok_or(RunError::InvalidInput {
            flag: "IMAGE",
            reason: "give an image to run; see --help".into(),
        })?;
        Ok(self.flags.clone().into_request(image, self.command.clone()))
    }
}

impl RunArgs {
    pub fn into_request(self, image: String, command: Vec<String>) -> RunRequest {
        RunRequest {
            image,
            command,
            rm: self.rm,
            name: self.name,
            mount: self.mount.into(),
            limits: self.limits.into(),
            cgroup_parent: self.cgroup_parent,
            net: self.net.into(),
            net_host: self.net_host.into(),
            // berth-run always networks the container: the record's part decides.
            process: self.process.into_options(String::new()),
        }
    }
}

#[derive(Subcommand)]
pub enum Manage {
    /// List containers (running; -a all)
    Ps {
        /// Show all containers (default shows just running)
        #[arg(short, long)]
        all: bool,
        /// Only display container IDs
        #[arg(short, long)]
        quiet: bool,
        /// Print the rows as a JSON array
        #[arg(long)]
        json: bool,
    },
    /// Stop containers: their stop signal, then SIGKILL after the timeout
    Stop {
        /// Seconds to wait before killing the container
        #[arg(short = 't', long = "time", default_value = "10")]
        time: u64,
        /// Container names or IDs
        #[arg(required = true, value_name = "CONTAINER")]
        containers: Vec<String>,
    },
    /// Send a signal (default SIGKILL)
    Kill {
        /// Signal to send to the container (name or number)
        #[arg(short = 's', long = "signal", default_value = "KILL")]
        signal: String,
        /// Container names or IDs
        #[arg(required = true, value_name = "CONTAINER")]
        containers: Vec<String>,
    },
    /// Fetch the logs of a container
    Logs {
        /// Follow log output (until the container exits)
        #[arg(short, long)]
        follow: bool,
        /// Container name or ID
        container: String,
    },
    /// Attach this terminal (or stdin/stdout/stderr) to a detached container's stdio
    Attach {
        #[command(flatten)]
        flags: AttachArgs,
        /// Container name or ID
        container: String,
    },
    /// Run a command in a running container
    #[command(override_usage = "berth-run exec [OPTIONS] CONTAINER COMMAND [ARG...]")]
    Exec {
        #[command(flatten)]
        flags: ExecArgs,
        /// Container name or ID
        container: String,
        /// The command and its arguments
        #[arg(trailing_var_arg = true, allow_hyphen_values = true, required = true)]
        command: Vec<String>,
    },
    /// Internal: a network's DNS server, started by the first container attached to it
    #[command(name = "__dns-serve", hide = true)]
    DnsServe { config: String },
    /// Internal: run by berth-monitor after a detached container exited
    #[command(name = "__teardown", hide = true)]
    Teardown { id: String },
    /// Remove containers
    Rm {
        /// Force the removal of a running container (uses SIGKILL)
        #[arg(short, long)]
        force: bool,
        /// Remove the anonymous volumes of the container
        #[arg(short, long)]
        volumes: bool,
        /// Container names or IDs
        #[arg(required = true, value_name = "CONTAINER")]
        containers: Vec<String>,
    },
}

/// `berth-run exec` flags (docker's).
#[derive(Debug, Clone, Default, clap::Args)]
pub struct ExecArgs {
    /// Keep stdin open
    #[arg(short = 'i', long)]
    pub interactive: bool,
    /// Allocate a pseudo-terminal
    #[arg(short = 't', long)]
    pub tty: bool,
    /// Set environment variables
    #[arg(short = 'e', long = "env")]
    pub env: Vec<String>,
    /// Working directory inside the container
    #[arg(short = 'w', long)]
    pub workdir: Option<String>,
    /// User: name|uid[:group|gid]
    #[arg(short = 'u', long)]
    pub user: Option<String>,
    /// All capabilities and no seccomp filter for this process
    #[arg(long)]
    pub privileged: bool,
}

impl ExecArgs {
    pub fn into_request(self, command: Vec<String>) -> ExecRequest {
        ExecRequest {
            command,
            interactive: self.interactive,
            tty: self.tty,
            env: self.env,
            workdir: self.workdir,
            user: self.user,
            privileged: self.privileged,
        }
    }
}

/// `berth-run attach` flags (docker's).
#[derive(Debug, Clone, clap::Args)]
pub struct AttachArgs {
    /// Do not attach stdin
    #[arg(long)]
    pub no_stdin: bool,
    /// Key sequence that detaches, leaving the container running (docker's format:
    /// `ctrl-p,ctrl-q`, `ctrl-a,d`)
    #[arg(long, default_value = DEFAULT_DETACH_KEYS)]
    pub detach_keys: String,
}

impl From<AttachArgs> for AttachRequest {
    fn from(args: AttachArgs) -> Self {
        AttachRequest {
            no_stdin: args.no_stdin,
            detach_keys: args.detach_keys,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use berth_runtime::ErrorKind;
    use clap::CommandFactory;

    fn parse(args: &[&str]) -> Cli {
        Cli::try_parse_from(std::iter::once("berth-run").chain(args.iter().copied()))
            .unwrap_or_else(|e| panic!("{args:?}: {e}"))
    }

    #[test]
    fn the_cli_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn a_typical_run_makes_the_request_the_runtime_expects() {
        let cli = parse(&[
            "--rm",
            "--name",
            "web",
            "-v",
            "data:/data",
            "--tmpfs",
            "/tmp",
            "--read-only",
            "-m",
            "64m",
            "--pids-limit",
            "-1",
            "--cpus",
            "0.5",
            "--network",
            "front",
            "-p",
            "127.0.0.1:8080:80",
            "--network-alias",
            "www",
            "--dns",
            "10.0.0.2",
            "--add-host",
            "db:10.0.0.3",
            "--bridge-name",
            "tb0",
            "--nft-table",
            "t_berth",
            "-e",
            "A=1",
            "-u",
            "1000:1000",
            "-w",
            "/srv",
            "-h",
            "box",
            "--cap-add",
            "NET_ADMIN",
            "--cap-drop",
            "CHOWN",
            "--security-opt",
            "no-new-privileges",
            "--ulimit",
            "nofile=1024:2048",
            "--init",
            "-it",
            "busybox",
            "sh",
            "-c",
            "echo hi",
        ]);
        let request = cli.run_request().unwrap();
        let mut want = RunRequest::new("busybox");
        want.command = vec!["sh".into(), "-c".into(), "echo hi".into()];
        want.rm = true;
        want.name = Some("web".into());
        want.mount.volumes = vec!["data:/data".into()];
        want.mount.tmpfs = vec!["/tmp".into()];
        want.mount.read_only = true;
        want.limits.memory = Some("64m".into());
        want.limits.pids_limit = Some(-1);
        want.limits.cpus = Some(0.5);
        want.net.network = "front".into();
        want.net.publish = vec!["127.0.0.1:8080:80".into()];
        want.net.aliases = vec!["www".into()];
        want.net.dns = vec!["10.0.0.2".into()];
        want.net.extra_hosts = vec!["db:10.0.0.3".into()];
        want.net_host.default_bridge = Some("tb0".into());
        want.net_host.nft_table = "t_berth".into();
        want.process.env = vec!["A=1".into()];
        want.process.user = Some("1000:1000".into());
        want.process.workdir = Some("/srv".into());
        want.process.hostname = Some("box".into());
        want.process.cap_add = vec!["NET_ADMIN".into()];
        want.process.cap_drop = vec!["CHOWN".into()];
        want.process.security_opt = vec!["no-new-privileges".into()];
        want.process.ulimit = vec!["nofile=1024:2048".into()];
        want.process.init = true;
        want.process.interactive = true;
        want.process.tty = true;
        // What the environment may set for the whole host (tests set these).
        want.cgroup_parent = request.cgroup_parent.clone();
        want.net_host.default_subnet = request.net_host.default_subnet;
        want.mount.overlay_method = request.mount.overlay_method;
        assert_eq!(request, want);
    }

    #[test]
    fn flags_default_as_the_runtime_does() {
        if [
            "BERTH_CGROUP_PARENT",
            "BERTH_BRIDGE",
            "BERTH_NFT_TABLE",
            "BERTH_DEFAULT_SUBNET",
            "BERTH_OVERLAY_METHOD",
        ]
        .iter()
        .any(|var| std::env::var_os(var).is_some())
        {
            return;
        }
        let request = parse(&["busybox"]).run_request().unwrap();
        assert_eq!(request, RunRequest::new("busybox"));
    }

    #[test]
    fn no_image_is_invalid_input_naming_it() {
        let error = parse(&["--rm"]).run_request().unwrap_err();
        assert_eq!(error.kind(), ErrorKind::InvalidInput);
        assert_eq!(
            error.to_string(),
            "invalid IMAGE: give an image to run; see --help"
        );
    }

    #[test]
    fn exec_and_attach_make_their_requests() {
        let cli = parse(&[
            "exec", "-i", "-e", "A=1", "-u", "nobody", "-w", "/", "web", "ls", "-l",
        ]);
        let Some(Manage::Exec {
            flags,
            container,
            command,
        }) = cli.manage
        else {
            panic!("not exec");
        };
        assert_eq!(container, "web");
        assert_eq!(
            flags.into_request(command),
            ExecRequest {
                command: vec!["ls".into(), "-l".into()],
                interactive: true,
                env: vec!["A=1".into()],
                user: Some("nobody".into()),
                workdir: Some("/".into()),
                ..Default::default()
            }
        );
        let cli = parse(&["attach", "--no-stdin", "web"]);
        let Some(Manage::Attach { flags, container }) = cli.manage else {
            panic!("not attach");
        };
        assert_eq!(container, "web");
        assert_eq!(
            AttachRequest::from(flags),
            AttachRequest {
                no_stdin: true,
                ..Default::default()
            }
        );
    }

    #[test]
    fn usage_names_each_positional_once_and_logs_describes_its_arguments() {
        let mut command = Cli::command();
        let usage = command.render_usage().to_string();
        assert_eq!(usage.matches("[COMMAND]").count(), 1, "{usage}");
        let logs = command
            .find_subcommand_mut("logs")
            .expect("logs")
            .render_help()
            .to_string();
        assert!(logs.contains("Follow log output"), "{logs}");
        assert!(logs.contains("Container name or ID"), "{logs}");
    }
}
