//! `start`: opens `exec.fifo` for reading, which lets the waiting init go on to its exec,
//! reads the byte it writes, and removes the fifo (the container is `running` from then).

use std::io::Read;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;
use std::time::{Duration, Instant};

use crate::state::{Container, Status};
use crate::OciError;

/// How long the init may take to answer once the fifo is open (it is blocked in its open,
/// so this is only its write).
const ANSWER: Duration = Duration::from_secs(10);

pub fn start(root: &Path, id: &str) -> Result<(), OciError> {
    let container = Container::load(root, id)?;
    let status_err = |reason: &str| OciError::Status {
        id: id.to_string(),
        reason: reason.to_string(),
    };
    match container.status() {
        Status::Created => {}
        Status::Stopped => return Err(status_err("cannot start a container that has stopped")),
        Status::Running => return Err(status_err("cannot start an already running container")),
        Status::Paused => return Err(status_err("cannot start a paused container")),
    }
    let path = container.fifo();
    // Non-blocking: an init that died meanwhile must not leave `start` waiting forever.
    let mut fifo = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK)
        .open(&path)
        .map_err(OciError::io("open", &path))?;
    let deadline = Instant::now() + ANSWER;
    let mut byte = [0u8; 1];
    loop {
        match fifo.read(&mut byte) {
            Ok(1) => break,
            Ok(_) | Err(_) if !container.alive() => {
                return Err(status_err("the init exited before it was started"))
            }
            Ok(_) => {}
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
            Err(e) => return Err(OciError::io("read", &path)(e)),
        }
        if Instant::now() > deadline {
            return Err(status_err("the init did not answer on exec.fifo"));
        }
        std::thread::sleep(Duration::from_millis(1));
    }
    std::fs::remove_file(&path).map_err(OciError::io("remove", &path))?;
    if let Some(hooks) = &container.saved.hooks {
        // runc passes the state as it was before start (`created`).
        let mut state = container.oci_state();
        state.status = "created";
        if let Err(e) = crate::hooks::run_all("poststart", hooks.poststart().as_ref(), &state) {
            // As runc: a failed poststart hook stops the container it was for.
            berth_process::signals::forward(container.saved.pid, libc::SIGKILL);
            return Err(e.into());
        }
    }
    Ok(())
}
