//! `--join`: a new process inside a running container (the base of `exec`). It enters the
//! container's pid, ipc, uts, net, cgroup and mount namespaces, its cgroups, and gets the
//! container's capabilities, seccomp filter, user and environment, as a new container's
//! first process does.

use std::fs::File;
use std::os::fd::AsFd;

use rustix::thread::{move_into_link_name_space, LinkNameSpaceType};

use crate::child::Entry;
use crate::spawn::{launch, ContainerSpec, SpawnError, Started};

/// A running container's namespaces, opened by the parent before it forks.
pub struct Namespaces {
    others: Vec<(File, LinkNameSpaceType, &'static str)>,
    pid: File,
}

impl Namespaces {
    /// Opens `/proc/<pid>/ns/*` of the container's first process.
    pub fn of(pid: i32) -> std::io::Result<Namespaces> {
        let open = |name: &str| File::open(format!("/proc/{pid}/ns/{name}"));
        let mut others = Vec::new();
        for (name, kind) in [
            ("ipc", LinkNameSpaceType::InterProcessCommunication),
            ("uts", LinkNameSpaceType::HostNameAndNISDomainName),
            ("net", LinkNameSpaceType::Network),
            ("cgroup", LinkNameSpaceType::ControlGroup),
            // Last: it also moves the process into the container's root.
            ("mnt", LinkNameSpaceType::Mount),
        ] {
            others.push((open(name)?, kind, name));
        }
        Ok(Namespaces {
            others,
            pid: open("pid")?,
        })
    }

    /// In the child: every namespace but pid (which it was forked into).
    pub(crate) fn enter(&self) -> std::io::Result<()> {
        for (file, kind, name) in &self.others {
            move_into_link_name_space(file.as_fd(), Some(*kind))
                .map_err(|e| std::io::Error::other(format!("setns {name}: {e}")))?;
        }
        rustix::process::chdir("/")?;
        Ok(())
    }
}

/// Starts `spec`'s command inside the container whose first process is `target`.
pub fn join(target: i32, spec: &ContainerSpec) -> Result<Started, SpawnError> {
    let sys = |op| move |e: std::io::Error| SpawnError::Sys { op, source: e };
    let namespaces = Namespaces::of(target).map_err(sys("open the container's namespaces"))?;
    let own_pid_ns = File::open("/proc/self/ns/pid").map_err(sys("open /proc/self/ns/pid"))?;
    launch(spec, Entry::Join(&namespaces), || {
        // Children go into the container's pid namespace; berth returns to its own right
        // after the fork, so it may still start threads (which a foreign pid namespace for
        // children forbids).
        if move_into_link_name_space(namespaces.pid.as_fd(), Some(LinkNameSpaceType::ProcessID))
            .is_err()
        {
            return (-1, None);
        }
        // SAFETY: berth is single-threaded here; glibc's fork keeps malloc usable in the child.
        let pid = unsafe { libc::fork() };
        if pid != 0 {
            let _ =
                move_into_link_name_space(own_pid_ns.as_fd(), Some(LinkNameSpaceType::ProcessID));
        }
        (pid, None)
    })
}
