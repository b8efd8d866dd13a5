//! `--console-socket`: the container's pty master goes to the caller over a Unix socket
//! (SCM_RIGHTS), with the pty's name as the message, as runc sends it.

use std::io::IoSlice;
use std::os::fd::{AsFd, BorrowedFd};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};

use rustix::net::{sendmsg, SendAncillaryBuffer, SendAncillaryMessage, SendFlags};

use crate::OciError;

/// A connected console socket, opened before the container is made so that a wrong path
/// fails `create` before anything exists.
pub struct ConsoleSocket {
    stream: UnixStream,
    path: PathBuf,
}

impl ConsoleSocket {
    pub fn connect(path: &Path) -> Result<ConsoleSocket, OciError> {
        let stream = UnixStream::connect(path)
            .map_err(OciError::io("connect to the console socket", path))?;
        Ok(ConsoleSocket {
            stream,
            path: path.to_path_buf(),
        })
    }

    pub fn send(&self, master: BorrowedFd<'_>, name: &Path) -> Result<(), OciError> {
        let fds = [master];
        let mut space = [std::mem::MaybeUninit::uninit(); rustix::cmsg_space!(ScmRights(1))];
        let mut control = SendAncillaryBuffer::new(&mut space);
        control.push(SendAncillaryMessage::ScmRights(&fds));
        let payload = name.as_os_str().as_encoded_bytes();
        sendmsg(
            self.stream.as_fd(),
            &[IoSlice::new(payload)],
            &mut control,
            SendFlags::empty(),
        )
        .map_err(|e| OciError::io("send the pty master over", &self.path)(e.into()))?;
        Ok(())
    }
}
