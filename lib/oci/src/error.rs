//! berth-oci's errors: each names the container, the field of config.json or the path.

use std::path::PathBuf;

use berth_common::ErrorKind;

#[derive(Debug, thiserror::Error)]
pub enum OciError {
    #[error("invalid container id {id:?}: {reason}")]
    InvalidId { id: String, reason: &'static str },
    #[error("container with id exists: {0}")]
    Exists(String),
    #[error("container {0:?} does not exist")]
    NotFound(String),
    #[error("{path}: {reason}")]
    Config { path: PathBuf, reason: String },
    #[error("config.json: {field}: {reason}")]
    Unsupported { field: String, reason: String },
    /// `reason` says it as runc does (containerd's shim looks for "container not running" in
    /// a failed kill), then the id, as runc's "container with id exists: ID".
    #[error("{reason}: {id}")]
    Status { id: String, reason: String },
    #[error("{what} {path}: {source}")]
    Io {
        what: &'static str,
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(transparent)]
    Hook(#[from] berth_process::hook::HookError),
    #[error("invalid signal {0:?}")]
    Signal(String),
    #[error(transparent)]
    File(#[from] berth_common::json_file::JsonFileError),
    #[error(transparent)]
    Spawn(#[from] berth_process::SpawnError),
    #[error(transparent)]
    Cgroup(#[from] berth_cgroups::CgroupError),
    #[error(transparent)]
    Seccomp(#[from] berth_seccomp::Error),
    #[error("{0} is not supported by berth-oci")]
    NotSupported(&'static str),
}

impl OciError {
    pub fn kind(&self) -> ErrorKind {
        match self {
            OciError::InvalidId { .. }
            | OciError::Config { .. }
            | OciError::Unsupported { .. }
            | OciError::Signal(_)
            | OciError::Seccomp(_)
            | OciError::NotSupported(_) => ErrorKind::InvalidInput,
            OciError::Exists(_) | OciError::Status { .. } => ErrorKind::Conflict,
            OciError::Hook(_) => ErrorKind::Internal,
            OciError::NotFound(_) => ErrorKind::NotFound,
            OciError::Io { source, .. } => ErrorKind::of_io(source),
            OciError::File(e) => ErrorKind::of_io(&e.source),
            OciError::Spawn(e) => e.kind(),
            OciError::Cgroup(e) => e.kind(),
        }
    }

    pub(crate) fn io(
        what: &'static str,
        path: impl Into<PathBuf>,
    ) -> impl FnOnce(std::io::Error) -> OciError {
        let path = path.into();
        move |source| OciError::Io { what, path, source }
    }

    pub(crate) fn unsupported(field: impl Into<String>, reason: impl Into<String>) -> OciError {
        OciError::Unsupported {
            field: field.into(),
            reason: reason.into(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_status_error_names_the_container_after_runcs_words() {
        let e = OciError::Status {
            id: "c1".into(),
            reason: "container not running".into(),
        };
        assert_eq!(e.to_string(), "container not running: c1");
        assert_eq!(e.kind(), ErrorKind::Conflict);
    }
}
