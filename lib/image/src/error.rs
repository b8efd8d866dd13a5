//! Errors of the image crate. Each names the object at fault: the image, the layer, the
//! entry, the path. The binary turns them into one message at its edge.

use std::path::PathBuf;

use crate::unpack::UnpackError;

#[derive(Debug, thiserror::Error)]
pub enum ImageError {
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{0}")]
    Lock(#[from] berth_common::LockError),
    #[error("invalid digest {digest:?}: {reason}")]
    BadDigest {
        digest: String,
        reason: &'static str,
    },
    #[error("invalid image reference {reference:?}: {reason}")]
    BadReference {
        reference: String,
        reason: &'static str,
    },
    #[error("no such image: {0}")]
    NotFound(String),
    #[error("image reference {reference:?} is ambiguous: it matches {count} images")]
    Ambiguous { reference: String, count: usize },
    #[error("{source_path}: not an image archive: {reason}")]
    UnknownFormat {
        source_path: PathBuf,
        reason: String,
    },
    #[error("{source_path}: {member}: {reason}")]
    BadArchive {
        source_path: PathBuf,
        member: String,
        reason: String,
    },
    #[error("image {image}: {what} {digest}: content has digest {actual} (size {actual_size}), the manifest says {digest} (size {expected_size})")]
    DigestMismatch {
        image: String,
        what: &'static str,
        digest: String,
        actual: String,
        expected_size: u64,
        actual_size: u64,
    },
    #[error("image {image}: layer {layer}: uncompressed content has diff ID {actual}, the image config says {expected}")]
    DiffIdMismatch {
        image: String,
        layer: String,
        expected: String,
        actual: String,
    },
    #[error("image {image}: {reason}")]
    BadImage { image: String, reason: String },
    #[error("image {image}: layer {layer}: {source}")]
    Layer {
        image: String,
        layer: String,
        source: UnpackError,
    },
    #[error(
        "image {image} is used by {count} names ({names}); remove them by name or use --force"
    )]
    InUse {
        image: String,
        count: usize,
        names: String,
    },
    #[error(
        "conflict: image {image} is used by container {container}; remove the container first"
    )]
    UsedByContainer { image: String, container: String },
    #[error("invalid --change {instruction:?}: {reason}")]
    BadChange { instruction: String, reason: String },
}

impl ImageError {
    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        ImageError::Io {
            path: path.into(),
            source,
        }
    }
}

pub type Result<T, E = ImageError> = std::result::Result<T, E>;

impl ImageError {
    /// What kind of failure this is, for a caller that answers requests. Content that does
    /// not verify (a bad archive, a digest mismatch) is the caller's input at fault.
    pub fn kind(&self) -> berth_common::ErrorKind {
        use berth_common::ErrorKind;
        match self {
            ImageError::NotFound(_) => ErrorKind::NotFound,
            ImageError::InUse { .. } | ImageError::UsedByContainer { .. } => ErrorKind::Conflict,
            ImageError::BadDigest { .. }
            | ImageError::BadReference { .. }
            | ImageError::Ambiguous { .. }
            | ImageError::UnknownFormat { .. }
            | ImageError::BadArchive { .. }
            | ImageError::DigestMismatch { .. }
            | ImageError::DiffIdMismatch { .. }
            | ImageError::BadImage { .. }
            | ImageError::Layer { .. }
            | ImageError::BadChange { .. } => ErrorKind::InvalidInput,
            ImageError::Lock(e) => e.kind(),
            ImageError::Io { source, .. } => ErrorKind::of_io(source),
        }
    }
}
