//! The runtime's errors: one variant per way a request fails, each naming the container,
//! flag, path or object at fault, and a [`kind`](RunError::kind) a daemon maps to its answer
//! (404, 409, 400, 503, 500) in one table. `berth-run` prints the message and exits with
//! [`exit_code`](RunError::exit_code).

use std::path::PathBuf;

pub use berth_common::ErrorKind;

use crate::attach::AttachError;
use crate::state::StateError;

#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error("image: {0}")]
    Image(#[from] berth_image::ImageError),
    #[error("rootfs: {0}")]
    Rootfs(#[from] berth_rootfs::RootfsError),
    #[error("cgroup: {0}")]
    Cgroup(#[from] berth_cgroups::CgroupError),
    #[error("network: {0}")]
    Net(#[from] berth_net::NetError),
    #[error("{0}")]
    Spec(#[from] berth_process::options::SpecError),
    #[error("{0}")]
    Seccomp(#[from] berth_process::seccomp::SeccompSetupError),
    /// Compiling Docker's default seccomp profile for an `exec`.
    #[error("seccomp: {0}")]
    SeccompFilter(#[from] berth_seccomp::Error),
    #[error("{0}")]
    Caps(#[from] berth_process::caps::CapsError),
    #[error("{0}")]
    Start(#[from] berth_process::SpawnError),
    #[error("monitor: {0}")]
    Monitor(#[from] crate::monitor::MonitorError),
    #[error(transparent)]
    State(#[from] StateError),
    #[error(transparent)]
    Attach(#[from] AttachError),
    /// A flag or value of the request; names it.
    #[error("invalid {flag}: {reason}")]
    InvalidInput { flag: &'static str, reason: String },
    #[error("invalid limits: {0}")]
    Limits(#[from] berth_cgroups::request::InvalidLimit),
    /// The request needs a running container (`kill`, `exec`).
    #[error("container {container} is not running")]
    NotRunning { container: String },
    /// The request needs a stopped container (`rm` without force).
    #[error("container {container} is running: stop it first or use --force")]
    Running { container: String },
    #[error("cannot signal container {container}: {source}")]
    Signal {
        container: String,
        source: std::io::Error,
    },
    /// Some teardown steps failed (every step ran).
    #[error("teardown of {container}: {errors}")]
    Teardown {
        container: String,
        errors: berth_common::ErrorList<RunError>,
    },
    /// SIGINT, SIGTERM or SIGHUP came while the container was set up; it was undone.
    #[error(
        "interrupted by signal {signal} before the container started; what was set up is undone"
    )]
    Interrupted { signal: i32 },
    #[error("cannot remove {path}: {source}")]
    RemoveState {
        path: PathBuf,
        source: std::io::Error,
    },
    /// Reading the container's log.
    #[error("{path}: {source}")]
    Log {
        path: PathBuf,
        source: std::io::Error,
    },
    /// Writing to the writer the caller gave (ps, logs).
    #[error("cannot write the output: {0}")]
    Output(std::io::Error),
    /// The container's pseudo-terminal (open, copy).
    #[error("terminal: {0}")]
    Terminal(std::io::Error),
}

impl RunError {
    /// Docker's convention: 125 for berth's own failures, 126/127 for a command that
    /// cannot be run.
    pub fn exit_code(&self) -> i32 {
        match self {
            RunError::Start(e) => e.exit_code(),
            // As docker attach: 1 for a container that cannot be attached to.
            RunError::Attach(_) => 1,
            _ => 125,
        }
    }

    /// The image reference the store does not have, when that is the failure: a command
    /// line says how to bring one in, a daemon answers 404 with docker's words.
    pub fn missing_image(&self) -> Option<&str> {
        match self {
            RunError::Image(berth_image::ImageError::NotFound(reference)) => Some(reference),
            _ => None,
        }
    }

    /// What kind of failure this is, for a caller that answers requests.
    pub fn kind(&self) -> ErrorKind {
        match self {
            RunError::Image(e) => e.kind(),
            RunError::Rootfs(e) => e.kind(),
            RunError::Cgroup(e) => e.kind(),
            RunError::Net(e) => e.kind(),
            RunError::Spec(e) => e.kind(),
            RunError::Seccomp(e) => e.kind(),
            RunError::Caps(e) => e.kind(),
            RunError::Start(e) => e.kind(),
            RunError::State(e) => e.kind(),
            RunError::Attach(e) => e.kind(),
            RunError::InvalidInput { .. } | RunError::Limits(_) => ErrorKind::InvalidInput,
            RunError::NotRunning { .. } | RunError::Running { .. } => ErrorKind::Conflict,
            RunError::Signal { source, .. }
            | RunError::RemoveState { source, .. }
            | RunError::Log { source, .. } => ErrorKind::of_io(source),
            RunError::SeccompFilter(_)
            | RunError::Monitor(_)
            | RunError::Teardown { .. }
            | RunError::Interrupted { .. }
            | RunError::Output(_)
            | RunError::Terminal(_) => ErrorKind::Internal,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn io(errno: rustix::io::Errno) -> std::io::Error {
        errno.into()
    }

    #[test]
    fn each_kind_has_its_errors() {
        let cases: Vec<(RunError, ErrorKind)> = vec![
            (
                StateError::NotFound("web".into()).into(),
                ErrorKind::NotFound,
            ),
            (
                berth_image::ImageError::NotFound("alpine:3.19".into()).into(),
                ErrorKind::NotFound,
            ),
            (
                berth_net::NetError::NoSuchNetwork("front".into()).into(),
                ErrorKind::NotFound,
            ),
            (
                RunError::Running {
                    container: "0123456789ab".into(),
                },
                ErrorKind::Conflict,
            ),
            (
                RunError::NotRunning {
                    container: "0123456789ab".into(),
                },
                ErrorKind::Conflict,
            ),
            (
                berth_rootfs::RootfsError::Registry(
                    berth_common::registry::RegistryError::NameInUse {
                        name: berth_common::ContainerName::parse("web").unwrap(),
                        id: berth_common::ContainerId::parse(&"0123".repeat(16)).unwrap(),
                    },
                )
                .into(),
                ErrorKind::Conflict,
            ),
            (
                AttachError::Stopped {
                    container: "0123".into(),
                }
                .into(),
                ErrorKind::Conflict,
            ),
            (
                RunError::InvalidInput {
                    flag: "--signal",
                    reason: "\"FOO\" is not a signal".into(),
                },
                ErrorKind::InvalidInput,
            ),
            (
                StateError::Registry(berth_common::registry::RegistryError::Ambiguous {
                    prefix: "0".into(),
                    count: 2,
                })
                .into(),
                ErrorKind::InvalidInput,
            ),
            (
                berth_process::caps::CapsError::Unknown("CAP_NOPE".into()).into(),
                ErrorKind::InvalidInput,
            ),
            (
                berth_process::SpawnError::Child(berth_process::sync::ChildFailure {
                    code: 127,
                    message: "exec: nope: not found".into(),
                })
                .into(),
                ErrorKind::InvalidInput,
            ),
            (
                berth_process::SpawnError::PrepareMount {
                    what: "prepare the mount on /data".into(),
                    source: Box::new(berth_rootfs::RootfsError::BindSourceMissing {
                        path: "/nope".into(),
                    }),
                }
                .into(),
                ErrorKind::InvalidInput,
            ),
            (
                berth_process::SpawnError::Prepare {
                    what: "open network namespace /run/berth/netns/x".into(),
                    source: io(rustix::io::Errno::NOENT),
                }
                .into(),
                ErrorKind::Internal,
            ),
            (
                berth_rootfs::RootfsError::Unmount {
                    path: "/run/berth/rootfs/x".into(),
                    source: io(rustix::io::Errno::BUSY),
                }
                .into(),
                ErrorKind::Busy,
            ),
            (
                berth_cgroups::CgroupError::Timeout {
                    what: "an empty cgroup".into(),
                    path: "/sys/fs/cgroup/berth/x".into(),
                    waited_ms: 10,
                }
                .into(),
                ErrorKind::Busy,
            ),
            (
                RunError::Signal {
                    container: "0123".into(),
                    source: io(rustix::io::Errno::PERM),
                },
                ErrorKind::Internal,
            ),
            (
                RunError::Teardown {
                    container: "0123".into(),
                    errors: {
                        let mut errors = berth_common::ErrorList::new();
                        errors.push(RunError::NotRunning {
                            container: "0123".into(),
                        });
                        errors
                    },
                },
                ErrorKind::Internal,
            ),
        ];
        for (error, kind) in cases {
            assert_eq!(error.kind(), kind, "{error}");
        }
    }

    #[test]
    fn exit_codes_are_dockers() {
        let failure = |code| {
            RunError::from(berth_process::SpawnError::Child(
                berth_process::sync::ChildFailure {
                    code,
                    message: String::new(),
                },
            ))
        };
        assert_eq!(failure(127).exit_code(), 127);
        assert_eq!(failure(126).exit_code(), 126);
        let stopped = RunError::from(AttachError::Stopped {
            container: "0123".into(),
        });
        assert_eq!(stopped.exit_code(), 1);
        let running = RunError::Running {
            container: "0123".into(),
        };
        assert_eq!(running.exit_code(), 125);
    }

    #[test]
    fn a_missing_image_is_told_apart() {
        let missing = RunError::from(berth_image::ImageError::NotFound("alpine:3.19".into()));
        assert_eq!(missing.missing_image(), Some("alpine:3.19"));
        assert_eq!(missing.exit_code(), 125);
        let other = RunError::NotRunning {
            container: "0123".into(),
        };
        assert_eq!(other.missing_image(), None);
    }

    #[test]
    fn messages_name_the_container() {
        let running = RunError::Running {
            container: "0123456789ab".into(),
        };
        assert_eq!(
            running.to_string(),
            "container 0123456789ab is running: stop it first or use --force"
        );
        let not_running = RunError::NotRunning {
            container: "0123456789ab".into(),
        };
        assert_eq!(
            not_running.to_string(),
            "container 0123456789ab is not running"
        );
    }
}
