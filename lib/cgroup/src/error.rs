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
    #[error(
        "{} is still in use ({}); remove the containers first (berth-run rm -f, or \
         berth-cgroup down on their records)",
        path.display(),
        in_use(children, pids)
    )]
    ParentInUse {
        path: PathBuf,
        /// Child cgroups: containers, by id.
        children: Vec<String>,
        /// Processes in the parent itself.
        pids: Vec<i32>,
    },
}

/// "cgroups of 2 containers: 1234…, 5678…; pids 7, 8".
fn in_use(children: &[String], pids: &[i32]) -> String {
    let mut parts = Vec::new();
    if !children.is_empty() {
        let shown: Vec<&str> = children
            .iter()
            .take(5)
            .map(|c| c.get(..12).unwrap_or(c))
            .collect();
        let more = if children.len() > shown.len() {
            ", …"
        } else {
            ""
        };
        parts.push(format!(
            "{} container cgroup(s): {}{more}",
            children.len(),
            shown.join(", ")
        ));
    }
    if !pids.is_empty() {
        let pids: Vec<String> = pids.iter().map(i32::to_string).collect();
        parts.push(format!("pids {}", pids.join(", ")));
    }
    parts.join("; ")
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
            CgroupError::ParentInUse { .. } => ErrorKind::Conflict,
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
