//! Errors of a build, each naming what failed: the Dockerfile line, the step, the path in
//! the context, the image.

use berth_common::ErrorKind;

use crate::dockerfile::ParseError;

#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    #[error("{0}")]
    Parse(#[from] ParseError),
    #[error("{path}: {source}")]
    Io {
        path: std::path::PathBuf,
        source: std::io::Error,
    },
    #[error("{0}")]
    Image(#[from] berth_image::ImageError),
    /// A step failed: which, and where in the Dockerfile.
    #[error("failed to solve: step {step} ({instruction}) at Dockerfile line {line}: {reason}")]
    Step {
        step: String,
        instruction: String,
        line: usize,
        reason: String,
        kind: ErrorKind,
    },
    #[error("target stage \"{0}\" could not be found")]
    NoTarget(String),
    #[error("the build context: {0}")]
    Context(String),
    #[error("the build helper {exe}: {reason}")]
    Helper {
        exe: std::path::PathBuf,
        reason: String,
    },
    #[error("invalid {flag}: {reason}")]
    Usage { flag: &'static str, reason: String },
}

impl BuildError {
    pub fn io(path: impl Into<std::path::PathBuf>, source: std::io::Error) -> Self {
        BuildError::Io {
            path: path.into(),
            source,
        }
    }

    pub fn kind(&self) -> ErrorKind {
        match self {
            BuildError::Parse(_)
            | BuildError::NoTarget(_)
            | BuildError::Context(_)
            | BuildError::Usage { .. } => ErrorKind::InvalidInput,
            BuildError::Io { source, .. } => ErrorKind::of_io(source),
            BuildError::Image(e) => e.kind(),
            BuildError::Step { kind, .. } => *kind,
            BuildError::Helper { .. } => ErrorKind::Internal,
        }
    }
}

pub type Result<T, E = BuildError> = std::result::Result<T, E>;
