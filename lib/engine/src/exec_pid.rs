//! The host pid of an exec'd process, as dockerd's exec inspect shows it. berthd starts
//! an exec through `berth-run exec`, which joins the container and forks there: the
//! process is the launcher's shallowest descendant inside the container's pid namespace
//! (a fork of berth-run for a moment, until it execs the command in place, same pid).

use std::time::{Duration, Instant};

/// How long an inspect waits for a just-started exec's process to appear.
const APPEAR: Duration = Duration::from_secs(1);

/// The namespace a process's pid belongs to (the link's text names its inode).
fn pid_ns(pid: i32) -> Option<std::path::PathBuf> {
    std::fs::read_link(format!("/proc/{pid}/ns/pid")).ok()
}

/// The children of `pid`, over all its threads.
fn children(pid: i32) -> Vec<i32> {
    let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
        return Vec::new();
    };
    tasks
        .flatten()
        .filter_map(|t| std::fs::read_to_string(t.path().join("children")).ok())
        .flat_map(|text| {
            text.split_whitespace()
                .filter_map(|p| p.parse().ok())
                .collect::<Vec<i32>>()
        })
        .collect()
}

/// The shallowest descendant of `launcher` in the pid namespace of `container_pid`.
fn find(launcher: i32, container_pid: i32) -> Option<i32> {
    let ns = pid_ns(container_pid)?;
    let mut level = vec![launcher];
    // A few levels: the launcher forks once or twice to enter the namespace.
    for _ in 0..4 {
        let next: Vec<i32> = level.iter().flat_map(|p| children(*p)).collect();
        let found = next.iter().find(|p| pid_ns(**p).as_ref() == Some(&ns));
        if let Some(found) = found {
            return Some(*found);
        }
        if next.is_empty() {
            return None;
        }
        level = next;
    }
    None
}

/// [`find`], waiting a little for a process that is still being started.
pub fn in_container(launcher: i32, container_pid: i32) -> Option<i32> {
    let begin = Instant::now();
    loop {
        if let Some(pid) = find(launcher, container_pid) {
            return Some(pid);
        }
        if begin.elapsed() > APPEAR || !berth_runtime::control::alive(launcher) {
            return None;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}
