//! `linux.sysctl`: only the namespaced ones, as runc allows them: `net.*` (in the
//! container's own network namespace) and the IPC ones (`kernel.msg*`, `kernel.sem`,
//! `kernel.shm*`, `fs.mqueue.*`). `create` writes them from the host side once the init
//! waits at its fifo: it enters the init's namespace, writes /proc/sys, and comes back
//! (berth-oci is single-threaded, so setns moves the whole process).

use std::collections::HashMap;
use std::fs::File;
use std::os::fd::AsFd;

use rustix::thread::{move_into_link_name_space, LinkNameSpaceType};

use crate::OciError;

const IPC: &[&str] = &[
    "kernel.msgmax",
    "kernel.msgmnb",
    "kernel.msgmni",
    "kernel.sem",
    "kernel.shmall",
    "kernel.shmmax",
    "kernel.shmmni",
    "kernel.shm_rmid_forced",
];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Space {
    Net,
    Ipc,
}

fn space_of(key: &str, own_netns: bool) -> Result<Space, OciError> {
    let field = || format!("linux.sysctl.{key}");
    if key.split(['.', '/']).any(|p| p.is_empty() || p == "..") {
        return Err(OciError::unsupported(field(), "not a sysctl name"));
    }
    if IPC.contains(&key) || key.starts_with("fs.mqueue.") {
        return Ok(Space::Ipc);
    }
    if key.starts_with("net.") {
        if !own_netns {
            return Err(OciError::unsupported(
                field(),
                "not allowed in the host's network namespace",
            ));
        }
        return Ok(Space::Net);
    }
    Err(OciError::unsupported(
        field(),
        "is not in a separate kernel namespace",
    ))
}

/// Refuses what cannot be set (before anything is made).
pub fn check(sysctl: &HashMap<String, String>, own_netns: bool) -> Result<(), OciError> {
    sysctl
        .keys()
        .try_for_each(|k| space_of(k, own_netns).map(drop))
}

/// Writes them inside the namespaces of `pid`.
pub fn apply(pid: i32, sysctl: &HashMap<String, String>, own_netns: bool) -> Result<(), OciError> {
    for space in [Space::Net, Space::Ipc] {
        let mine: Vec<(&String, &String)> = sysctl
            .iter()
            .filter(|(k, _)| space_of(k, own_netns).ok() == Some(space))
            .collect();
        if mine.is_empty() {
            continue;
        }
        let (name, kind) = match space {
            Space::Net => ("net", LinkNameSpaceType::Network),
            Space::Ipc => ("ipc", LinkNameSpaceType::InterProcessCommunication),
        };
        let ours_path = format!("/proc/self/ns/{name}");
        let ours = File::open(&ours_path).map_err(OciError::io("open", &ours_path))?;
        let theirs_path = format!("/proc/{pid}/ns/{name}");
        let theirs = File::open(&theirs_path).map_err(OciError::io("open", &theirs_path))?;
        move_into_link_name_space(theirs.as_fd(), Some(kind))
            .map_err(|e| OciError::io("enter", &theirs_path)(e.into()))?;
        let written = mine.iter().try_for_each(|(key, value)| {
            let path = format!("/proc/sys/{}", key.replace('.', "/"));
            std::fs::write(&path, value.as_bytes()).map_err(OciError::io("write", path))
        });
        move_into_link_name_space(ours.as_fd(), Some(kind))
            .map_err(|e| OciError::io("return to", &ours_path)(e.into()))?;
        written?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_namespaced_sysctls_are_taken() {
        assert!(space_of("net.ipv4.ip_unprivileged_port_start", true).is_ok());
        assert!(space_of("net.ipv4.ip_forward", false).is_err());
        assert!(space_of("kernel.shmmax", false).is_ok());
        assert!(space_of("fs.mqueue.msg_max", false).is_ok());
        let msg = space_of("kernel.hostname", true).unwrap_err().to_string();
        assert!(msg.contains("linux.sysctl.kernel.hostname"), "{msg}");
        assert!(space_of("net.../x", true).is_err());
    }
}
