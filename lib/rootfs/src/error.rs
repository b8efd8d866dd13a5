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
    /// The record given already has a root filesystem.
    #[error("the record already has a root filesystem (mounted at {}); run `berth-mount down` first", path.display())]
    AlreadySetUp { path: PathBuf },
    /// The container has a directory already (a setup of a new container found it).
    #[error("container {id} already has state at {}; run `berth-mount down --remove --id {id}` first", dir.display())]
    StateExists {
        id: berth_common::ContainerId,
        dir: PathBuf,
    },
    #[error("container {id} is already mounted at {}; run `berth-mount down --id {id}` first", target.display())]
    AlreadyMounted {
        id: berth_common::ContainerId,
        target: PathBuf,
    },
    /// A restart asked for mounts: an existing container keeps the ones it was made with.
    #[error(
        "container {id} exists and keeps the mounts it was created with; \
         remove it (`berth-mount rm --id {id}`) to change them"
    )]
    KeepsMounts { id: berth_common::ContainerId },
    /// A restart over another image's layers than the container's writable layer was made on.
    #[error(
        "container {id} was made from other layers than the record's image {image}; \
         remove it to use another image"
    )]
    OtherLayers {
        id: berth_common::ContainerId,
        image: String,
    },
    /// A directory of the container's writable layer is missing.
    #[error("container {id} is damaged: {} is missing; remove it", missing.display())]
    Damaged {
        id: berth_common::ContainerId,
        missing: PathBuf,
    },
    /// Deleting `dir` recursively would delete through the mount at `mount`.
    #[error("refusing to delete {}: {} is still mounted", dir.display(), mount.display())]
    StillMounted { dir: PathBuf, mount: PathBuf },
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
            | RootfsError::AlreadySetUp { .. } => ErrorKind::InvalidInput,
            RootfsError::StateExists { .. }
            | RootfsError::AlreadyMounted { .. }
            | RootfsError::KeepsMounts { .. }
            | RootfsError::OtherLayers { .. } => ErrorKind::Conflict,
            RootfsError::StillMounted { .. } => ErrorKind::Busy,
            RootfsError::InRoot { source, .. }
            | RootfsError::Mount { source, .. }
            | RootfsError::Unmount { source, .. }
            | RootfsError::Io { source, .. }
            | RootfsError::Idmap { source, .. } => ErrorKind::of_io(source),
            RootfsError::Lock(e) => e.kind(),
            RootfsError::Overlay { .. }
            | RootfsError::Layer { .. }
            | RootfsError::Seed { .. }
            | RootfsError::Damaged { .. }
            | RootfsError::Interrupted { .. }
            | RootfsError::Many(_) => ErrorKind::Internal,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use berth_common::ErrorKind;

    #[test]
    fn record_and_container_errors_have_their_kinds() {
        let id = berth_common::ContainerId::parse(&"ab".repeat(32)).unwrap();
        let cases: Vec<(RootfsError, ErrorKind)> = vec![
            (
                RootfsError::AlreadySetUp {
                    path: "/run/berth/containers/x/rootfs".into(),
                },
                ErrorKind::InvalidInput,
            ),
            (
                berth_common::IdentityError::Id("../x".into()).into(),
                ErrorKind::InvalidInput,
            ),
            (
                RootfsError::StateExists {
                    id: id.clone(),
                    dir: "/var/lib/berth/containers/x".into(),
                },
                ErrorKind::Conflict,
            ),
            (
                RootfsError::AlreadyMounted {
                    id: id.clone(),
                    target: "/run/berth/containers/x/rootfs".into(),
                },
                ErrorKind::Conflict,
            ),
            (
                RootfsError::KeepsMounts { id: id.clone() },
                ErrorKind::Conflict,
            ),
            (
                RootfsError::OtherLayers {
                    id: id.clone(),
                    image: "sha256:0".into(),
                },
                ErrorKind::Conflict,
            ),
            (
                RootfsError::Damaged {
                    id: id.clone(),
                    missing: "/var/lib/berth/containers/x/upper".into(),
                },
                ErrorKind::Internal,
            ),
            (
                RootfsError::StillMounted {
                    dir: "/var/lib/berth/containers/x".into(),
                    mount: "/var/lib/berth/containers/x/m".into(),
                },
                ErrorKind::Busy,
            ),
            (
                berth_common::registry::RegistryError::NotFound("web".into()).into(),
                ErrorKind::NotFound,
            ),
        ];
        for (error, kind) in cases {
            assert_eq!(error.kind(), kind, "{error}");
        }
    }

    #[test]
    fn an_invalid_id_is_an_identity_error() {
        let error = crate::state::check_id("../x").unwrap_err();
        assert!(matches!(error, RootfsError::Identity(_)), "{error}");
    }
}
