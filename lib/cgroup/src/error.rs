//! Typed errors: each names the cgroup file, controller or pid it is about.

use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum CgroupError {
    #[error("cannot read {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot write {value:?} to {path}: {source}")]
    Write {
        path: PathBuf,
        value: String,
        source: std::io::Error,
    },
    #[error("cannot create cgroup {path}: {source}")]
    Create {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot remove cgroup {path}: {source}")]
    Remove {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("unexpected content in {path}: {content:?}")]
    Parse { path: PathBuf, content: String },
    #[error("cannot detect the cgroup layout under {root}: {reason}")]
    Detect { root: PathBuf, reason: String },
    #[error("the {controller} controller is not available under {root}")]
    NoController { controller: String, root: PathBuf },
    #[error("cannot place pid {pid} in {path}: {source}")]
    Place {
        pid: u32,
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot signal pid {pid} (signal {signal}): {source}")]
    Signal {
        pid: i32,
        signal: i32,
        source: std::io::Error,
    },
    #[error("timed out after {waited_ms} ms waiting for {what} in {path}")]
    Timeout {
        what: String,
        path: PathBuf,
        waited_ms: u128,
    },
    #[error("invalid {what}: {reason}")]
    Invalid { what: String, reason: String },
    #[error("the cgroup record has no {key:?} path (mode {mode})")]
    MissingPath { key: String, mode: String },
    #[error("device filter (BPF) for {path}: {reason}")]
    Bpf { path: PathBuf, reason: String },
    /// SIGINT, SIGTERM or SIGHUP came during `create`, which was undone.
    #[error("interrupted by signal {signal}: the cgroups were not created")]
    Interrupted { signal: i32 },
    /// Every failure of a teardown that went on after the first.
    #[error("{0}")]
    Many(berth_common::ErrorList<CgroupError>),
}

pub type Result<T, E = CgroupError> = std::result::Result<T, E>;

impl CgroupError {
    /// What kind of failure this is, for a caller that answers requests.
    pub fn kind(&self) -> berth_common::ErrorKind {
        use berth_common::ErrorKind;
        match self {
            CgroupError::Invalid { .. } => ErrorKind::InvalidInput,
            // Processes still in the cgroup, or a freeze that did not settle.
            CgroupError::Timeout { .. } => ErrorKind::Busy,
            CgroupError::Read { source, .. }
            | CgroupError::Write { source, .. }
            | CgroupError::Create { source, .. }
            | CgroupError::Remove { source, .. }
            | CgroupError::Place { source, .. }
            | CgroupError::Signal { source, .. } => ErrorKind::of_io(source),
            CgroupError::Parse { .. }
            | CgroupError::Detect { .. }
            | CgroupError::NoController { .. }
            | CgroupError::MissingPath { .. }
            | CgroupError::Bpf { .. }
            | CgroupError::Interrupted { .. }
            | CgroupError::Many { .. } => ErrorKind::Internal,
        }
    }
}
