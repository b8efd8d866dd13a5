//! `docker top`: the host's `ps` with the caller's arguments, cut to the rows of the
//! container's processes, as dockerd does it. The processes are those whose cgroup is the
//! container's (any hierarchy, v1 or v2), so a process that left the first one's tree by
//! double-forking is still listed, and a host process with a reused pid never is.

use std::collections::HashSet;
use std::process::Command;

use berth_common::ErrorKind;
use berth_runtime::state::RunState;
use bollard_stubs::models::ContainerTopResponse;

#[derive(Debug, thiserror::Error)]
pub enum TopError {
    #[error("Error running ps: {0}")]
    Spawn(std::io::Error),
    #[error("ps {args}: {stderr}")]
    Failed { args: String, stderr: String },
    #[error("Couldn't find PID field in ps output")]
    NoPidColumn,
}

impl TopError {
    pub fn kind(&self) -> ErrorKind {
        match self {
            // Bad ps_args are the caller's; a missing `ps` is the host's.
            TopError::Failed { .. } | TopError::NoPidColumn => ErrorKind::InvalidInput,
            TopError::Spawn(_) => ErrorKind::Internal,
        }
    }
}

pub fn top(state: &RunState, ps_args: &str) -> Result<ContainerTopResponse, TopError> {
    let pids = container_pids(state.id.as_str());
    let output = Command::new("ps")
        .args(ps_args.split_whitespace())
        .output()
        .map_err(TopError::Spawn)?;
    if !output.status.success() {
        return Err(TopError::Failed {
            args: ps_args.to_string(),
            stderr: String::from_utf8_lossy(&output.stderr).trim().to_string(),
        });
    }
    parse_ps(&String::from_utf8_lossy(&output.stdout), &pids)
}

/// Every pid in /proc whose cgroup (in any hierarchy) ends with the container's id.
fn container_pids(id: &str) -> HashSet<u32> {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return HashSet::new();
    };
    entries
        .filter_map(|entry| entry.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| {
            // A process gone since read_dir simply is not listed.
            std::fs::read_to_string(format!("/proc/{pid}/cgroup"))
                .map(|cgroups| cgroups.lines().any(|line| line.ends_with(id)))
                .unwrap_or(false)
        })
        .collect()
}

/// dockerd's parsing: titles from the first line, the last column takes the rest of the
/// line (the command has spaces), rows kept when their PID is the container's.
fn parse_ps(output: &str, pids: &HashSet<u32>) -> Result<ContainerTopResponse, TopError> {
    let mut lines = output.lines();
    let titles: Vec<String> = lines
        .next()
        .unwrap_or_default()
        .split_whitespace()
        .map(str::to_string)
        .collect();
    let pid_column = titles
        .iter()
        .position(|t| t == "PID")
        .ok_or(TopError::NoPidColumn)?;
    let mut processes = Vec::new();
    for line in lines {
        let fields: Vec<&str> = line.split_whitespace().collect();
        if fields.len() < titles.len() {
            continue;
        }
        let Ok(pid) = fields[pid_column].parse::<u32>() else {
            continue;
        };
        if !pids.contains(&pid) {
            continue;
        }
        let last = titles.len() - 1;
        let mut row: Vec<String> = fields[..last].iter().map(|f| f.to_string()).collect();
        row.push(fields[last..].join(" "));
        processes.push(row);
    }
    Ok(ContainerTopResponse {
        titles: Some(titles),
        processes: Some(processes),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const PS: &str = "UID          PID    PPID  C STIME TTY          TIME CMD\n\
root           1       0  0 10:00 ?        00:00:01 /sbin/init splash\n\
root        4242       7  0 10:01 ?        00:00:00 sleep 1000 --long arg\n";

    #[test]
    fn keeps_the_containers_rows_and_the_whole_command() {
        let top = parse_ps(PS, &HashSet::from([4242])).unwrap();
        assert_eq!(top.titles.unwrap().len(), 8);
        let processes = top.processes.unwrap();
        assert_eq!(processes.len(), 1);
        assert_eq!(processes[0][1], "4242");
        assert_eq!(processes[0][7], "sleep 1000 --long arg");
    }

    #[test]
    fn output_without_a_pid_column_is_refused() {
        let err = parse_ps("USER COMMAND\nroot init\n", &HashSet::new()).unwrap_err();
        assert!(matches!(err, TopError::NoPidColumn));
    }
}
