//! The pipes between berth (the parent) and the container's first process (the child).
//!
//! ```text
//! parent                                  child (pid 1 in the new pid namespace)
//!   fork ------------------------------->   wait on `go` (`g`)
//!   [user namespace: write its maps]
//!   `g` -------------------------------->   write itself into its v1 cgroups (`tasks`)
//!   put child into its other cgroups        unshare mount/uts/ipc/net, set up rootfs
//!                                           wait on `go` (`p`)
//!   `p` -------------------------------->   user, caps, seccomp
//!   read `result` until EOF <------------   execve (result closes on exec: EOF = started)
//!                                  or  <-   {"code":127,"message":…} then exit
//! ```
//! (On cgroup v1 `g` goes before the parent's placement, on v2 after it; see `placement`.) A child in a new user
//! namespace is born in it and has no ids there until its maps are written; it does
//! nothing before `g`, so the maps need no step of their own.

use std::fs::File;
use std::io::{Read, Write};

use serde::{Deserialize, Serialize};

/// Why the child could not start the command. `code` is the exit status docker would give:
/// 125 berth's own failure, 126 not executable, 127 not found.
#[derive(Debug, Clone, Serialize, Deserialize, thiserror::Error)]
#[error("{message}")]
pub struct ChildFailure {
    pub code: i32,
    pub message: String,
}

pub struct Pipe {
    pub read: File,
    pub write: File,
}

pub fn pipe() -> std::io::Result<Pipe> {
    let (read, write) = rustix::pipe::pipe_with(rustix::pipe::PipeFlags::CLOEXEC)?;
    Ok(Pipe {
        read: File::from(read),
        write: File::from(write),
    })
}

/// Child side: report a failure (best effort: the parent also sees the exit status).
pub fn report(mut to_parent: &File, failure: &ChildFailure) {
    let _ = to_parent.write_all(
        serde_json::to_string(failure)
            .unwrap_or_default()
            .as_bytes(),
    );
}

/// Parent side: EOF with nothing means the child reached execve.
pub fn outcome(mut from_child: File) -> Result<(), ChildFailure> {
    let mut text = String::new();
    let _ = from_child.read_to_string(&mut text);
    if text.is_empty() {
        return Ok(());
    }
    Err(serde_json::from_str(&text).unwrap_or(ChildFailure {
        code: 125,
        message: text,
    }))
}
