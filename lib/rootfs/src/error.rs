//! The crate's error type: every variant names the path, target, layer or volume at fault.

use std::io;
use std::path::PathBuf;

/// Errors of the rootfs stage and of the in-root helpers.
#[derive(Debug, thiserror::Error)]
pub enum RootfsError {
    /// Resolving or creating `path` inside a root failed.
    #[error("cannot resolve {path} inside the container root: {source}")]
    InRoot { path: String, source: io::Error },
    /// `path` inside the root exists but is not the kind of object the mount needs.
    #[error("mount target {path} exists inside the container root but is {found}, not {wanted}")]
    WrongKind {
        path: String,
        found: &'static str,
        wanted: &'static str,
    },
    /// A path given to an in-root helper is not usable (empty, not valid UTF-8…).
    #[error("invalid path {path:?}: {reason}")]
    BadPath { path: String, reason: &'static str },
    /// A `-v`, `--tmpfs` or name argument is malformed.
    #[error("invalid {what} {spec:?}: {reason}")]
    Spec {
        what: &'static str,
        spec: String,
        reason: String,
    },
    /// A mount target at or under /proc that may not be mounted over (`proc_target`).
    #[error("invalid mount target {target}: {reason}")]
    ProcTarget { target: String, reason: String },
    #[error("bind source path does not exist: {path}")]
    BindSourceMissing { path: PathBuf },
    #[error("duplicate mount point: {target}")]
    DuplicateTarget { target: String },
    /// Mounting the overlay at `target` failed.
    #[error("cannot mount the overlay at {target}: {reason}")]
    Overlay { target: PathBuf, reason: String },
    /// A layer directory of the image is missing or unusable.
    #[error("layer {layer}: {reason}")]
    Layer { layer: PathBuf, reason: String },
    /// A mount call (bind, tmpfs) failed.
    #[error("cannot mount {what} on {target}: {source}")]
    Mount {
        what: String,
        target: String,
        source: io::Error,
    },
    #[error("cannot unmount {path}: {source}")]
    Unmount { path: PathBuf, source: io::Error },
    /// A filesystem operation on `path` failed.
    #[error("{op} {path}: {source}")]
    Io {
        op: &'static str,
        path: PathBuf,
        source: io::Error,
    },
    /// Copying the image's content at `target` into volume `volume` failed.
    #[error("cannot seed volume {volume} from the image's {target}: {reason}")]
    Seed {
        volume: String,
        target: String,
        reason: String,
    },
    /// A subordinate id file (/etc/subuid, /etc/subgid) has no usable range.
    #[error("user namespace: {file}: {reason}")]
    Subid { file: PathBuf, reason: String },
    /// Setting up a user namespace's idmapped mounts failed.
    #[error("user namespace: {what}: {source}")]
    Idmap { what: String, source: io::Error },
    #[error("no such volume: {name}")]
    NoSuchVolume { name: String },
    #[error("volume {name} is in use by container {container}")]
    VolumeInUse { name: String, container: String },
    /// A container id or name that is not one.
    #[error(transparent)]
    Identity(#[from] berth_common::IdentityError),
    /// Finding or registering the container (no such container, name in use…).
    #[error(transparent)]
    Registry(#[from] berth_common::registry::RegistryError),
    /// The record cannot be used (e.g. it already has a mounted rootfs).
    #[error("{0}")]
    Record(String),
    #[error(transparent)]
    Lock(#[from] berth_common::LockError),
    /// SIGINT, SIGTERM or SIGHUP came during the setup, which was undone.
    #[error("interrupted by signal {signal}: the root filesystem was not set up")]
    Interrupted { signal: i32 },
    /// Every failure of a teardown that went on after the first.
    #[error("{0}")]
    Many(berth_common::ErrorList<RootfsError>),
}

/// Shorthand for the crate's results.
pub type Result<T, E = RootfsError> = std::result::Result<T, E>;

/// Builds a closure mapping an `io::Error`-like error to `RootfsError::Io` for `path`.
pub(crate) fn io_err<E: Into<io::Error>>(
    op: &'static str,
    path: impl Into<PathBuf>,
) -> impl FnOnce(E) -> RootfsError {
    let path = path.into();
    move |e| RootfsError::Io {
        op,
        path,
        source: e.into(),
    }
}

impl RootfsError {
    /// What kind of failure this is, for a caller that answers requests.
    pub fn kind(&self) -> berth_common::ErrorKind {
        use berth_common::ErrorKind;
        match self {
            RootfsError::NoSuchVolume { .. } => ErrorKind::NotFound,
            RootfsError::Registry(e) => e.kind(),
            RootfsError::VolumeInUse { .. } => ErrorKind::Conflict,
            RootfsError::WrongKind { .. }
            | RootfsError::BadPath { .. }
            | RootfsError::Spec { .. }
            | RootfsError::BindSourceMissing { .. }
            | RootfsError::DuplicateTarget { .. }
            | RootfsError::Subid { .. }
            | RootfsError::ProcTarget { .. }
            | RootfsError::Identity(_)
            | RootfsError::Record(_) => ErrorKind::InvalidInput,
            RootfsError::InRoot { source, .. }
            | RootfsError::Mount { source, .. }
            | RootfsError::Unmount { source, .. }
            | RootfsError::Io { source, .. }
            | RootfsError::Idmap { source, .. } => ErrorKind::of_io(source),
            RootfsError::Lock(e) => e.kind(),
            RootfsError::Overlay { .. }
            | RootfsError::Layer { .. }
            | RootfsError::Seed { .. }
            | RootfsError::Interrupted { .. }
            | RootfsError::Many(_) => ErrorKind::Internal,
        }
    }
}
