//! Errors of the registry client and of pull/push. Each names what it is about: the
//! registry, the repository and tag, the blob; worded as docker words them where a user
//! knows docker's message.

use berth_common::ErrorKind;
use berth_image::ImageError;

#[derive(Debug, thiserror::Error)]
pub enum DistributionError {
    #[error("invalid reference format {reference:?}: {reason}")]
    BadReference { reference: String, reason: String },
    #[error("cannot reach registry {host}: {reason}")]
    Unreachable { host: String, reason: String },
    #[error("unauthorized: authentication required by registry {registry}{}", detail(.message.trim_start_matches("authentication required")))]
    Unauthorized { registry: String, message: String },
    #[error("denied: registry {registry} refuses access to {repository}{}", detail(.message))]
    Denied {
        registry: String,
        repository: String,
        message: String,
    },
    #[error("manifest for {reference} not found: manifest unknown{}", detail(.message))]
    ManifestNotFound { reference: String, message: String },
    #[error("repository {repository} not found on registry {registry}: name unknown{}", detail(.message))]
    RepositoryNotFound {
        registry: String,
        repository: String,
        message: String,
    },
    #[error("blob {digest} not found in {repository} on registry {registry}")]
    BlobNotFound {
        registry: String,
        repository: String,
        digest: String,
    },
    #[error("registry {registry}: {what}: unexpected status {status}{}", detail(.message))]
    Status {
        registry: String,
        what: String,
        status: u16,
        message: String,
    },
    #[error("registry {registry}: {what}: {reason}")]
    Protocol {
        registry: String,
        what: String,
        reason: String,
    },
    #[error("{reference}: bad manifest {digest}: {reason}")]
    BadManifest {
        reference: String,
        digest: String,
        reason: String,
    },
    #[error("no matching manifest for {platform} in the manifest list entries of {reference}")]
    NoPlatform { reference: String, platform: String },
    #[error("image with reference {reference} was found but does not match the specified platform: wanted {wanted}, actual: {actual}")]
    WrongPlatform {
        reference: String,
        wanted: String,
        actual: String,
    },
    #[error("invalid platform {platform:?}: {reason}")]
    BadPlatform {
        platform: String,
        reason: &'static str,
    },
    #[error("{reference}: {what} {digest}: content has digest {actual} (size {actual_size}), the registry promised {digest} (size {expected_size})")]
    DigestMismatch {
        reference: String,
        what: &'static str,
        digest: String,
        actual: String,
        expected_size: u64,
        actual_size: u64,
    },
    #[error(
        "{reference}: the registry's manifest has digest {actual}, not the {pinned} asked for"
    )]
    ManifestMismatch {
        reference: String,
        pinned: String,
        actual: String,
    },
    #[error("cannot import from {url}: {reason}")]
    Fetch { url: String, reason: String },
    #[error("{what} cancelled: the client went away")]
    Cancelled { what: String },
    #[error("credentials for {registry}: {reason}")]
    Credentials { registry: String, reason: String },
    #[error(transparent)]
    Image(#[from] ImageError),
}

fn detail(message: &str) -> String {
    if message.is_empty() {
        String::new()
    } else {
        format!(": {message}")
    }
}

impl DistributionError {
    pub fn kind(&self) -> ErrorKind {
        match self {
            DistributionError::BadReference { .. }
            | DistributionError::BadPlatform { .. }
            | DistributionError::BadManifest { .. }
            | DistributionError::DigestMismatch { .. }
            | DistributionError::ManifestMismatch { .. }
            | DistributionError::NoPlatform { .. }
            | DistributionError::WrongPlatform { .. }
            // The caller's credentials are at fault, not the host.
            | DistributionError::Unauthorized { .. }
            | DistributionError::Denied { .. }
            | DistributionError::Credentials { .. }
            | DistributionError::Fetch { .. } => ErrorKind::InvalidInput,
            DistributionError::ManifestNotFound { .. }
            | DistributionError::RepositoryNotFound { .. }
            | DistributionError::BlobNotFound { .. } => ErrorKind::NotFound,
            DistributionError::Unreachable { .. }
            | DistributionError::Status { .. }
            | DistributionError::Protocol { .. }
            | DistributionError::Cancelled { .. } => ErrorKind::Internal,
            DistributionError::Image(e) => e.kind(),
        }
    }
}

pub type Result<T, E = DistributionError> = std::result::Result<T, E>;
