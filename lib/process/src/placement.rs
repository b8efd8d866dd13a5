//! Putting the container's process into its cgroups.
//!
//! Moving another process into a cgroup takes the kernel's global threadgroup lock for
//! writing, which waits for an RCU grace period: milliseconds on a loaded host, the
//! longest single step of a start on cgroup v1. A single thread moving itself (`0` written
//! to a v1 hierarchy's `tasks` file) needs no such lock, and the child is single-threaded
//! until it execs, so moving the thread moves the process. The parent opens those files
//! (as root, before fork) and the child writes to them first thing; the parent places the
//! child only where no `tasks` file exists (cgroup v2, entered by clone3 when it can be).

use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};

use crate::child::fail;
use crate::spawn::SpawnError;
use crate::sync::ChildFailure;

/// The v1 `tasks` files the child writes itself into, open.
pub(crate) struct SelfPlacement {
    files: Vec<(PathBuf, File)>,
}

/// Splits `procs` (`cgroup.procs` files) into the hierarchies the child enters by itself and
/// the `cgroup.procs` files the parent writes the child's pid into.
pub(crate) fn split(procs: &[PathBuf]) -> (SelfPlacement, Vec<PathBuf>) {
    let mut files = Vec::new();
    let mut rest = Vec::new();
    for procs_file in procs {
        let tasks = procs_file.parent().map(|dir| dir.join("tasks"));
        // A `tasks` file that cannot be opened (v2 has none) leaves the placement to the
        // parent, whose write reports whatever is wrong with the cgroup.
        match tasks.and_then(|t| open_for_write(&t).map(|f| (t, f))) {
            Some(entry) => files.push(entry),
            None => rest.push(procs_file.clone()),
        }
    }
    (SelfPlacement { files }, rest)
}

fn open_for_write(path: &Path) -> Option<File> {
    std::fs::OpenOptions::new().write(true).open(path).ok()
}

impl SelfPlacement {
    /// Child side: moves the calling (only) thread into every hierarchy, then closes the
    /// files. The child must be single-threaded.
    pub(crate) fn enter(self) -> Result<(), ChildFailure> {
        for (path, mut file) in self.files {
            file.write_all(b"0")
                .map_err(|e| fail(&format!("enter cgroup {}", path.display()), e))?;
        }
        Ok(())
    }
}

/// Parent side: writes `pid` into each `cgroup.procs` file.
pub(crate) fn place(pid: i32, procs: &[PathBuf]) -> Result<(), SpawnError> {
    for path in procs {
        std::fs::write(path, pid.to_string()).map_err(|source| SpawnError::Cgroup {
            pid,
            path: path.clone(),
            source,
        })?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_dir_with_a_tasks_file_is_entered_by_the_child() {
        let tmp = tempfile::tempdir().unwrap();
        let v1 = tmp.path().join("cpu/c");
        let v2 = tmp.path().join("unified/c");
        for dir in [&v1, &v2] {
            std::fs::create_dir_all(dir).unwrap();
            std::fs::write(dir.join("cgroup.procs"), "").unwrap();
        }
        std::fs::write(v1.join("tasks"), "").unwrap();
        let (own, rest) = split(&[v1.join("cgroup.procs"), v2.join("cgroup.procs")]);
        assert_eq!(rest, vec![v2.join("cgroup.procs")]);
        own.enter().unwrap();
        assert_eq!(std::fs::read_to_string(v1.join("tasks")).unwrap(), "0");
        place(4242, &rest).unwrap();
        assert_eq!(std::fs::read_to_string(&rest[0]).unwrap(), "4242");
    }
}
