//! What kind of failure an error is, for a caller that answers requests (the daemon maps
//! each kind to one HTTP status: 404, 409, 400, 503, 500) without reading messages.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum ErrorKind {
    /// The container, image, network or volume named does not exist.
    NotFound,
    /// The object exists but its state refuses the request (already running, name in use,
    /// running: stop it first).
    Conflict,
    /// The request itself is wrong: a flag, a value, a name; naming the thing at fault.
    InvalidInput,
    /// Someone else holds the object right now (a lock, a mount, a cgroup with processes);
    /// the same request may succeed later.
    Busy,
    /// The host or berth failed: a kernel call, a file, a child process.
    Internal,
    /// The request is understood and valid, but what it asks for is not allowed (a subnet
    /// overlapping another network's: docker's 403).
    Forbidden,
}

impl ErrorKind {
    /// The kind of a failed system call: `EBUSY`/`EAGAIN` are busy, anything else is the
    /// host's failure (a missing file berth needs is not the caller's "not found").
    pub fn of_io(error: &std::io::Error) -> ErrorKind {
        use rustix::io::Errno;
        match error.raw_os_error().map(Errno::from_raw_os_error) {
            Some(Errno::BUSY) | Some(Errno::AGAIN) => ErrorKind::Busy,
            _ => ErrorKind::Internal,
        }
    }
}

impl crate::LockError {
    /// Lock files are berth's own: a lock that cannot be taken is busy, anything else
    /// internal.
    pub fn kind(&self) -> ErrorKind {
        match self {
            crate::LockError::Open { source, .. } | crate::LockError::Lock { source, .. } => {
                ErrorKind::of_io(source)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn busy_errno_is_busy_and_the_rest_internal() {
        use rustix::io::Errno;
        let busy = std::io::Error::from(Errno::BUSY);
        let again = std::io::Error::from(Errno::AGAIN);
        let missing = std::io::Error::from(Errno::NOENT);
        assert_eq!(ErrorKind::of_io(&busy), ErrorKind::Busy);
        assert_eq!(ErrorKind::of_io(&again), ErrorKind::Busy);
        assert_eq!(ErrorKind::of_io(&missing), ErrorKind::Internal);
        assert_eq!(
            ErrorKind::of_io(&std::io::Error::other("no errno")),
            ErrorKind::Internal
        );
    }
}
