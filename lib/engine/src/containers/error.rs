//! What the container endpoints fail with, worded as docker words it where the client
//! reads it (the docker CLI matches some of these texts).

use berth_common::ErrorKind;

use super::config::ConfigError;

#[derive(Debug, thiserror::Error)]
pub enum ContainerError {
    #[error("No such container: {0}")]
    NotFound(String),
    #[error("No such image: {0}")]
    NoImage(String),
    #[error("You cannot remove a running container {0}. Stop the container before attempting removal or force remove")]
    RemoveRunning(String),
    #[error("Container {0} is not running")]
    NotRunning(String),
    #[error("invalid signal: {0}")]
    BadSignal(String),
    /// dockerd's words: berthd removes an AutoRemove container when it exits, so it
    /// cannot restart it.
    #[error("can't create 'AutoRemove' container with restart policy")]
    AutoRemoveWithRestart,
    #[error("Invalid container name ({0}), only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed")]
    InvalidName(String),
    /// The start failed; `message` carries the words the CLI maps to exit codes 126/127.
    #[error("{message}")]
    Start { message: String, kind: ErrorKind },
    #[error(
        "container {0} has no create config (berth-run made it); start it again with berth-run"
    )]
    NoConfig(String),
    #[error("the start helper {}: {source}", exe.display())]
    Helper {
        exe: std::path::PathBuf,
        source: std::io::Error,
    },
    #[error("{}: {source}", path.display())]
    Io {
        path: std::path::PathBuf,
        source: std::io::Error,
    },
    #[error(transparent)]
    Registry(#[from] berth_common::registry::RegistryError),
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error(transparent)]
    Run(#[from] berth_runtime::RunError),
    #[error(transparent)]
    Image(#[from] berth_image::ImageError),
}

impl ContainerError {
    pub fn kind(&self) -> ErrorKind {
        match self {
            ContainerError::NotFound(_) | ContainerError::NoImage(_) => ErrorKind::NotFound,
            ContainerError::RemoveRunning(_) | ContainerError::NotRunning(_) => ErrorKind::Conflict,
            ContainerError::BadSignal(_)
            | ContainerError::AutoRemoveWithRestart
            | ContainerError::InvalidName(_) => ErrorKind::InvalidInput,
            ContainerError::NoConfig(_) => ErrorKind::Conflict,
            ContainerError::Start { kind, .. } => *kind,
            ContainerError::Helper { .. } => ErrorKind::Internal,
            ContainerError::Io { source, .. } => ErrorKind::of_io(source),
            ContainerError::Registry(e) => e.kind(),
            ContainerError::Config(e) => e.kind(),
            ContainerError::Run(e) => e.kind(),
            ContainerError::Image(e) => e.kind(),
        }
    }
}

impl From<ContainerError> for berth_api::BackendError {
    fn from(error: ContainerError) -> Self {
        berth_api::BackendError::new(error.kind(), error.to_string())
    }
}
