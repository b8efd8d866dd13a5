//! The client's errors: each names the daemon, file or template at fault. A daemon's refusal
//! keeps its status and message, which docker prints as "Error response from daemon: …".

use berth_common::ErrorKind;

#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error("Cannot connect to the Docker daemon at {host}. Is the docker daemon running?")]
    Connect {
        host: String,
        #[source]
        source: std::io::Error,
    },
    #[error("{host}: the connection failed: {source}")]
    Http {
        host: String,
        #[source]
        source: hyper::Error,
    },
    #[error("Error response from daemon: {message}")]
    Daemon { status: u16, message: String },
    #[error("invalid host {host:?}: {reason}")]
    Host { host: String, reason: String },
    #[error("TLS: {path}: {message}")]
    Tls { path: String, message: String },
    /// A `--format` that does not parse or fails on the data: the template as written,
    /// the position of the action at fault, and why.
    #[error("{0}")]
    Template(String),
    #[error("{what}: the daemon's answer is not what docker sends: {source}")]
    Decode {
        what: String,
        #[source]
        source: serde_json::Error,
    },
    #[error("{what}: {source}")]
    Io {
        what: String,
        #[source]
        source: std::io::Error,
    },
    /// A file of the client's own (config.json, a context's meta.json) that cannot be read,
    /// does not parse, or cannot be written.
    #[error(transparent)]
    File(#[from] berth_common::json_file::JsonFileError),
    #[error("{0}")]
    Usage(String),
}

impl ClientError {
    pub fn kind(&self) -> ErrorKind {
        match self {
            ClientError::Daemon { status, .. } => match status {
                404 => ErrorKind::NotFound,
                409 => ErrorKind::Conflict,
                400 => ErrorKind::InvalidInput,
                _ => ErrorKind::Internal,
            },
            ClientError::Host { .. } | ClientError::Template(_) | ClientError::Usage(_) => {
                ErrorKind::InvalidInput
            }
            _ => ErrorKind::Internal,
        }
    }

    /// The daemon's status when it refused, for exit codes docker derives from it.
    pub fn status(&self) -> Option<u16> {
        match self {
            ClientError::Daemon { status, .. } => Some(*status),
            _ => None,
        }
    }

    pub fn io(what: impl Into<String>, source: std::io::Error) -> ClientError {
        ClientError::Io {
            what: what.into(),
            source,
        }
    }
}

pub type Result<T> = std::result::Result<T, ClientError>;
